"""Data access: a row the open transaction itself created or saved -- its write holds the
row's lock (and a created row is invisible to others) until the commit (DAT010)."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import django_query, dotted


def _locked_by_own_write(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    loaded: int,
    save: ast.Call,
    ctx: PythonContext,
) -> bool:
    """The row loaded on line ``loaded`` (``Model.objects.get(pk=row.pk)``) is one the open
    transaction around both the load and ``save`` created or saved before the load: that write
    holds the row's lock (and a created row is invisible to others) until the commit, so no
    other request changes it in between."""
    block = _atomic_block(function, loaded, save.lineno, ctx)
    if block is None:
        return False
    load = next(
        (
            n
            for n in ast.walk(ast.Module(body=block, type_ignores=[]))
            if isinstance(n, ast.Assign) and n.lineno == loaded
        ),
        None,
    )
    if load is None:
        return False
    keys = [
        keyword.value
        for n in ast.walk(load.value)
        if isinstance(n, ast.Call)
        for keyword in n.keywords
        if keyword.arg in {"pk", "id"}
    ]
    if len(keys) != 1:
        return False
    key = keys[0]
    if not (
        isinstance(key, ast.Attribute)
        and key.attr in {"pk", "id"}
        and isinstance(key.value, ast.Name)
    ):
        return False
    return _written_before(key.value.id, block, loaded, function, ctx, 0)


def _atomic_block(
    function: ast.FunctionDef | ast.AsyncFunctionDef, first: int, last: int, ctx: PythonContext
) -> list[ast.stmt] | None:
    """The statements of the innermost ``with transaction.atomic()`` holding lines ``first``
    to ``last`` (the function's body when it is decorated ``@transaction.atomic``)."""
    found: list[ast.stmt] | None = None
    start = 0
    if any(_is_atomic(d, ctx) for d in function.decorator_list):
        found = function.body
    for node in ast.walk(function):
        if (
            isinstance(node, ast.With | ast.AsyncWith)
            and any(_is_atomic(item.context_expr, ctx) for item in node.items)
            and start < node.lineno < first
            and last <= (node.end_lineno or node.lineno)
        ):
            found, start = node.body, node.lineno
    return found


def _is_atomic(expr: ast.expr, ctx: PythonContext) -> bool:
    target = expr.func if isinstance(expr, ast.Call) else expr
    name = ctx.qualname(target) or dotted(target) or ""
    return name.rsplit(".", 1)[-1] == "atomic"


def _written_before(
    name: str,
    block: list[ast.stmt],
    line: int,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    depth: int,
) -> bool:
    """Every value ``name`` holds in ``block`` before ``line`` is a row written there: created
    (``Model.objects.create``, a method of the class returning a row it creates), saved after
    it was bound, or another name such a row was."""
    if depth > 3:
        return False
    events = sorted(
        (
            n
            for n in ast.walk(ast.Module(body=block, type_ignores=[]))
            if isinstance(n, ast.Assign | ast.Call) and n.lineno < line
        ),
        key=lambda n: (n.lineno, n.col_offset),
    )
    bindings = [
        n
        for n in events
        if isinstance(n, ast.Assign)
        and len(n.targets) == 1
        and isinstance(n.targets[0], ast.Name)
        and n.targets[0].id == name
    ]
    if not bindings:
        return False
    for index, binding in enumerate(bindings):
        until = bindings[index + 1].lineno if index + 1 < len(bindings) else line
        saved = any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in {"save", "asave"}
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == name
            and binding.lineno < n.lineno < until
            for n in events
        )
        if saved or _created(binding.value, block, binding.lineno, function, ctx, depth):
            continue
        return False
    return True


def _created(
    value: ast.expr,
    block: list[ast.stmt],
    line: int,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    depth: int,
) -> bool:
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Name):
        return _written_before(value.id, block, line, function, ctx, depth + 1)
    chain = django_query(value)
    if chain is not None:
        return chain.terminal in {"create", "acreate"}
    method = _own_method(value, function, ctx)
    if method is None:
        return False
    returned = [n.value for n in ast.walk(method) if isinstance(n, ast.Return)]
    return bool(returned) and all(
        isinstance(r, ast.Name)
        and _written_before(
            r.id, method.body, method.end_lineno or r.lineno, method, ctx, depth + 1
        )
        for r in returned
    )


def _own_method(
    value: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """``self.m(...)`` called in a method: the class's own ``m`` in this module."""
    if not (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id == "self"
    ):
        return None
    for node in ast.walk(ctx.tree):
        if isinstance(node, ast.ClassDef) and function in node.body:
            for member in node.body:
                if (
                    isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)
                    and member.name == value.func.attr
                ):
                    return member
    return None
