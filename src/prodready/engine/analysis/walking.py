"""Walking statement bodies without entering nested functions and classes."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from prodready.engine.python import PythonContext
from prodready.engine.python.nodes import OPAQUE, body_nodes, remembering_bodies


def walk_body(statements: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node under a list of statements, not descending into nested functions/classes.

    For rules that judge a small block they were dispatched for (a loop, an ``except``
    handler); the engine's single walk still visits each node once for dispatch.
    """
    if remembering_bodies():
        return iter(body_nodes(statements))
    return _walk_lazily(statements)


def _walk_lazily(statements: list[ast.stmt]) -> Iterator[ast.AST]:
    # Outside a module's walk (nothing to share the nodes with): as far as the caller reads.
    stack: list[ast.AST] = list(reversed(statements))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, OPAQUE):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def calls_in(statements: list[ast.stmt]) -> Iterator[ast.Call]:
    for node in walk_body(statements):
        if isinstance(node, ast.Call):
            yield node


def function_calls_name(statements: list[ast.stmt], ctx: PythonContext, *names: str) -> bool:
    """True when the block calls any of the qualified names (or ``*.method`` patterns)."""
    for call in calls_in(statements):
        qualified = ctx.qualname(call.func)
        if qualified is None:
            continue
        for wanted in names:
            if wanted.startswith("*.") and qualified.endswith(wanted[1:]):
                return True
            if qualified == wanted:
                return True
    return False


def loaded_names(expr: ast.AST | None) -> set[str]:
    """Names read anywhere inside an expression."""
    if expr is None:
        return set()
    return {
        node.id
        for node in ast.walk(expr)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
