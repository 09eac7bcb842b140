"""Calls of the module's functions: where each is called, and the argument a call passes for a
parameter."""

from __future__ import annotations

import ast

from prodready.engine.python import ModuleMemo, PythonContext


def positional_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    return {name: position for position, name in enumerate(names)}


CallSites = dict[str, list[tuple[ast.Call, tuple[ast.AST, ...]]]]


def module_call_sites(ctx: PythonContext) -> CallSites:
    """Calls of plain names in the module, with the defs/classes around each."""
    return ctx.memo(_CALL_SITES)


def _call_sites(ctx: PythonContext) -> CallSites:
    found: CallSites = {}
    stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [
        (node, ()) for node in reversed(ctx.tree.body)
    ]
    while stack:
        node, chain = stack.pop()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found.setdefault(node.func.id, []).append((node, chain))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            chain = (*chain, node)
        stack.extend((child, chain) for child in ast.iter_child_nodes(node))
    return found


_CALL_SITES: ModuleMemo[CallSites] = ModuleMemo("taint:calls", _call_sites)


def own_method(call: ast.Call, ctx: PythonContext) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """``self.name(...)`` in a method: the plain (undecorated) method ``name`` its own class
    defines, which the call runs like a helper of the module -- or None."""
    func = call.func
    scope = ctx.function
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
        return None
    if scope is None or scope.class_info is None or scope.self_name != func.value.id:
        return None
    for statement in scope.class_info.node.body:
        if (
            isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and statement.name == func.attr
        ):
            plain = not statement.decorator_list and statement.args.args
            return statement if plain else None  # a property, a static method...
    return None


def argument_for(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    call: ast.Call,
    position: int,
    bound: bool = False,
) -> ast.expr | None:
    """The argument ``call`` passes for the parameter at ``position``; ``bound``: the call is
    ``self.method(...)``, whose receiver is the first parameter."""
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if bound:
        if position == 0:
            return call.func.value if isinstance(call.func, ast.Attribute) else None
        position -= 1
        params = params[1:]
    if position < len(call.args) and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    for item in call.keywords:
        if item.arg == params[position]:
            return item.value
    return None
