"""Error handling: what an ``except`` block hands on after the work failed (ERR006) -- a
fall-through to the function's success answer, or an empty result that looks like "no data".
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import dependency_call, walk_body


def falls_through(handler: ast.ExceptHandler) -> bool:
    """The handler neither returns, raises, breaks nor continues: the code after the ``try``
    runs next, as it does after a success."""
    if not handler.body:
        return False
    return not any(
        isinstance(node, ast.Return | ast.Raise | ast.Break | ast.Continue)
        for node in walk_body(handler.body)
    )


def following_return(node: ast.Try, ctx: PythonContext) -> ast.Return | None:
    """The ``return`` the code after ``node`` reaches unconditionally in its block (no ``if``,
    loop or ``try`` before it), or None."""
    parent = ctx.parents().get(id(node))
    block: list[ast.stmt] | None = None
    for field in ("body", "orelse", "finalbody"):
        candidate = getattr(parent, field, None)
        if isinstance(candidate, list) and node in candidate:
            block = candidate
    if block is None:
        return None
    for statement in block[block.index(node) + 1 :]:
        if isinstance(statement, ast.Return):
            return statement
        if isinstance(
            statement,
            ast.If
            | ast.For
            | ast.AsyncFor
            | ast.While
            | ast.Try
            | ast.With
            | ast.AsyncWith
            | ast.Match
            | ast.Raise,
        ):
            return None
    return None


def empty_result(value: ast.expr | None) -> str | None:
    """``[]``, ``{}``, ``()``, ``set()``, ``0``, ``0.0``: an answer that reads as "nothing"."""
    if isinstance(value, ast.List | ast.Tuple | ast.Set) and not value.elts:
        return ast.unparse(value)
    if isinstance(value, ast.Dict) and not value.keys:
        return "{}"
    if isinstance(value, ast.Constant) and type(value.value) in {int, float} and value.value == 0:
        return ast.unparse(value)
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in {"list", "dict", "set", "tuple"}
        and not value.args
        and not value.keywords
    ):
        return ast.unparse(value)
    return None


def read_from_backend(node: ast.Try, function: ast.AST, ctx: PythonContext) -> bool:
    """The ``try`` calls another service, and the function otherwise returns real data."""
    if dependency_call(node.body, ctx) is None:
        return False
    return any(
        isinstance(inner, ast.Return)
        and inner.value is not None
        and empty_result(inner.value) is None
        and not (isinstance(inner.value, ast.Constant) and inner.value.value is None)
        for inner in walk_body(getattr(function, "body", []))
    )


def enclosing_try(handler: ast.ExceptHandler, ctx: PythonContext) -> ast.Try | None:
    parent = ctx.parents().get(id(handler))
    return parent if isinstance(parent, ast.Try) else None
