"""Strings built at run time: which parts are static, and the fragments of a string expression."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from prodready.engine.python import PythonContext


def concatenated(expr: ast.BinOp) -> list[ast.expr]:
    """The operands of an ``a + b + ... + z`` chain, in order. The chain is one level of
    building however long it is: recursing into it one operand per level of a depth limit cut
    chains of six or more operands short (their head -- the ``SELECT`` -- was lost)."""
    operands: list[ast.expr] = []
    pending: list[ast.expr] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            pending.extend((node.right, node.left))
        else:
            operands.append(node)
    return operands


def _is_constant_name(name: str, ctx: PythonContext, depth: int) -> bool:
    value = ctx.value_of(name)
    if value is None:
        # Names in UPPER_CASE not bound in this function are constants by convention
        # (``from .settings import TABLE``).
        return name.isupper() and name not in _local_names(ctx)
    # A name is constant when what it was assigned is (a call result or an attribute read is
    # not known at analysis time, even though it is not itself a built string).
    return _is_static(value, ctx, depth + 1)


def _local_names(ctx: PythonContext) -> set[str]:
    scope = ctx.function
    names: set[str] = set()
    while scope is not None:
        names.update(scope.bindings)
        scope = scope.parent
    return names


def is_dynamic_string(
    expr: ast.AST | None, ctx: PythonContext, depth: int = 0, *, require_string: bool = True
) -> bool:
    """True when ``expr`` builds a string from values not known at analysis time, with an
    f-string, ``%``, ``.format()`` or ``+`` -- following local names a few assignments back.
    Constants and names bound to constants are not dynamic.
    """
    if expr is None or depth > 6:
        return False
    if isinstance(expr, ast.Constant):
        return False
    if isinstance(expr, ast.JoinedStr):
        return any(
            isinstance(part, ast.FormattedValue) and not _is_static(part.value, ctx, depth)
            for part in expr.values
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        operands = concatenated(expr)
        if not any(_stringish(operand, ctx, depth) for operand in operands):
            return False
        return not all(_is_static(operand, ctx, depth) for operand in operands)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
        if not _stringish(expr.left, ctx, depth):
            return False
        return not (_is_static(expr.left, ctx, depth) and _is_static(expr.right, ctx, depth))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "format" and _stringish(expr.func.value, ctx, depth):
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            return not all(_is_static(a, ctx, depth) for a in arguments)
        if expr.func.attr == "join" and _stringish(expr.func.value, ctx, depth):
            return not all(_is_static(a, ctx, depth) for a in expr.args)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return is_dynamic_string(value, ctx, depth + 1, require_string=require_string)
        return False
    return False


def _is_static(expr: ast.AST, ctx: PythonContext, depth: int) -> bool:
    if depth > 6:
        return True  # self-referencing ``sql = sql + "..."`` chains: give up quietly
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        return _is_constant_name(expr.id, ctx, depth)
    if isinstance(expr, ast.Tuple | ast.List):
        return all(_is_static(element, ctx, depth) for element in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(k is None or _is_static(k, ctx, depth) for k in expr.keys) and all(
            _is_static(v, ctx, depth) for v in expr.values
        )
    if isinstance(expr, ast.Attribute):
        # ``Model._meta.db_table``, ``settings.TABLE``: names of schema objects, not user data.
        return expr.attr.isupper() or expr.attr in {"db_table", "table_name", "__tablename__"}
    if isinstance(expr, ast.JoinedStr | ast.BinOp):
        return not is_dynamic_string(expr, ctx, depth + 1)
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in {"format", "join"}
        and _stringish(expr.func.value, ctx, depth)
    ):
        # A string built from constants; any other call returns a value known only at run time.
        return not is_dynamic_string(expr, ctx, depth + 1)
    return False


def _stringish(expr: ast.AST, ctx: PythonContext, depth: int) -> bool:
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return any(_stringish(operand, ctx, depth) for operand in concatenated(expr))
    if isinstance(expr, ast.BinOp):
        return _stringish(expr.left, ctx, depth) or _stringish(expr.right, ctx, depth)
    if isinstance(expr, ast.Name) and depth < 6:
        value = ctx.value_of(expr.id)
        return value is not None and value is not expr and _stringish(value, ctx, depth + 1)
    return False


def string_fragments(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> Iterator[str]:
    """The literal text pieces of a (possibly built) string expression."""
    if expr is None or depth > 6:
        return
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value
    elif isinstance(expr, ast.JoinedStr):
        for part in expr.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield part.value
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        for operand in concatenated(expr):
            yield from string_fragments(operand, ctx, depth + 1)
    elif isinstance(expr, ast.BinOp):
        yield from string_fragments(expr.left, ctx, depth + 1)
        yield from string_fragments(expr.right, ctx, depth + 1)
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr in {"format", "join"}:
            yield from string_fragments(expr.func.value, ctx, depth + 1)
    elif isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            yield from string_fragments(value, ctx, depth + 1)
