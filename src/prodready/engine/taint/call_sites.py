"""Calls of the module's functions: where each is called, and the argument a call passes for a
parameter."""

from __future__ import annotations

import ast

from prodready.engine.python import PythonContext


def positional_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    names = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    return {name: position for position, name in enumerate(names)}


def module_call_sites(
    ctx: PythonContext,
) -> dict[str, list[tuple[ast.Call, tuple[ast.AST, ...]]]]:
    """Calls of plain names in the module, with the defs/classes around each."""
    cached: dict[str, list[tuple[ast.Call, tuple[ast.AST, ...]]]] | None = ctx.module_state.get(
        "taint:calls"
    )
    if cached is None:
        cached = {}
        stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [
            (node, ()) for node in reversed(ctx.tree.body)
        ]
        while stack:
            node, chain = stack.pop()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                cached.setdefault(node.func.id, []).append((node, chain))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                chain = (*chain, node)
            stack.extend((child, chain) for child in ast.iter_child_nodes(node))
        ctx.module_state["taint:calls"] = cached
    return cached


def argument_for(
    function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, position: int
) -> ast.expr | None:
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if position < len(call.args) and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    for item in call.keywords:
        if item.arg == params[position]:
            return item.value
    return None
