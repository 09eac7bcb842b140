"""Module-level facts read before the walk: top-level bindings, imports, module state and
constants, and the handlers aiohttp registers by call."""

from __future__ import annotations

import ast

from prodready.engine.facts import Route, bind_import, framework_of, is_main_guard, mutable_literal
from prodready.engine.python.module_context import PythonContext, instance_type
from prodready.engine.python.routes import REGISTERS_ROUTES, aiohttp_registrations


def prepass(ctx: PythonContext) -> dict[str, Route]:
    """Module-level bindings, imports and state from the top-level statements only; returns the
    module-level functions aiohttp registers as handlers by a call (``add_get``...)."""
    tree = ctx.tree
    facts = ctx.facts
    # A stack in reverse source order: nested blocks are expanded in place, in order.
    pending: list[ast.stmt] = list(reversed(tree.body))
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.Import | ast.ImportFrom):
            record_import(ctx, statement, facts.bindings)
        elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            facts.bindings[statement.name] = None
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            value = statement.value
            for target in targets:
                if isinstance(target, ast.Name):
                    record_module_assignment(ctx, target.id, value, statement)
        elif isinstance(statement, ast.If):
            if is_main_guard(statement):
                facts.has_main_guard = True
            else:
                pending.extend(reversed(statement.body + statement.orelse))
        elif isinstance(statement, ast.Try | ast.TryStar):
            extra = [s for handler in statement.handlers for s in handler.body]
            block = statement.body + extra + statement.orelse + statement.finalbody
            pending.extend(reversed(block))
        elif isinstance(statement, ast.With):
            pending.extend(reversed(statement.body))
    if "aiohttp" in facts.frameworks and REGISTERS_ROUTES.search(ctx.source):
        return aiohttp_registrations(tree, ctx)
    return {}


def record_module_assignment(
    ctx: PythonContext, name: str, value: ast.expr | None, statement: ast.Assign | ast.AnnAssign
) -> None:
    facts = ctx.facts
    if value is None:
        return
    if mutable_literal(value, ctx.qualname):
        facts.mutable_globals[name] = statement.lineno
        facts.bindings[name] = None
    elif isinstance(value, ast.Call):
        facts.bindings[name] = instance_type(ctx.qualname(value.func))
    elif isinstance(value, ast.Name | ast.Attribute):
        resolved = ctx.qualname(value)
        facts.bindings[name] = resolved if resolved != name else None
    else:
        facts.bindings[name] = None
    if isinstance(value, ast.Constant | ast.JoinedStr | ast.BinOp | ast.Tuple):
        facts.constants[name] = value


def record_import(
    ctx: PythonContext, node: ast.Import | ast.ImportFrom, bindings: dict[str, str | None]
) -> None:
    for module in bind_import(node, bindings, ctx.module, ctx.is_package):
        framework = framework_of(module) if not module.startswith(".") else None
        if framework is not None:
            ctx.facts.frameworks.add(framework)
