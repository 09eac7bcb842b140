"""Concurrency: a spawned coroutine that catches and logs its own failures (CON007).

A fire-and-forget task loses two things: the task itself (the event loop keeps only a weak
reference) and its exception (nobody awaits it). When the coroutine wraps all its work in a
``try`` whose broad handler logs, the second is not lost.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import catches_broadly, log_call

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
# Calls that cannot fail in a way worth reporting outside the guarded work: sleeping, and
# computing a value in memory (``await asyncio.sleep(random.randint(0, 5))``).
_HARMLESS = frozenset({"asyncio.sleep", "asyncio.tasks.sleep"})
_IN_MEMORY = ("builtins.", "random.", "math.")


def logs_own_failures(spawn: ast.Call, ctx: PythonContext) -> bool:
    """The coroutine ``spawn`` runs (``create_task(report())``, ``ensure_future(poll())``) is
    a function of this module whose every call -- but ``asyncio.sleep`` and logging -- sits
    inside a ``try`` with a broad handler that logs."""
    coroutine = spawn.args[0] if spawn.args else None
    if not isinstance(coroutine, ast.Call) or not isinstance(coroutine.func, ast.Name):
        return False
    name = coroutine.func.id
    found = [n for n in ast.walk(ctx.tree) if isinstance(n, _FUNCTIONS) and n.name == name]
    if len(found) != 1:
        return False
    return _guarded(found[0].body, ctx)


def _guarded(body: list[ast.stmt], ctx: PythonContext) -> bool:
    guarded_any = False
    for statement in body:
        if isinstance(statement, ast.Try) and _logging_handler(statement, ctx):
            guarded_any = True
            continue
        if isinstance(statement, ast.While | ast.For | ast.AsyncFor | ast.If):
            header = statement.iter if isinstance(statement, ast.For | ast.AsyncFor) else None
            if not _plain(header or getattr(statement, "test", None), ctx):
                return False
            inner = [*statement.body, *statement.orelse]
            if not _guarded_or_plain(inner, ctx):
                return False
            guarded_any = guarded_any or _has_guard(inner, ctx)
            continue
        if not _plain(statement, ctx):
            return False
    return guarded_any


def _guarded_or_plain(body: list[ast.stmt], ctx: PythonContext) -> bool:
    return _guarded(body, ctx) or all(_plain(statement, ctx) for statement in body)


def _has_guard(body: list[ast.stmt], ctx: PythonContext) -> bool:
    return any(
        isinstance(statement, ast.Try) and _logging_handler(statement, ctx) for statement in body
    ) or any(
        _has_guard([*statement.body, *statement.orelse], ctx)
        for statement in body
        if isinstance(statement, ast.While | ast.For | ast.AsyncFor | ast.If)
    )


def _logging_handler(node: ast.Try, ctx: PythonContext) -> bool:
    return any(
        catches_broadly(handler, ctx)
        and any(
            isinstance(call, ast.Call) and log_call(call, ctx) is not None
            for statement in handler.body
            for call in ast.walk(statement)
        )
        for handler in node.handlers
    )


def _plain(node: ast.AST | None, ctx: PythonContext) -> bool:
    """No call in ``node`` but sleeping or logging."""
    if node is None:
        return True
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        name = ctx.qualname(call.func) or ""
        if name in _HARMLESS or name.startswith(_IN_MEMORY) or log_call(call, ctx) is not None:
            continue
        return False
    return True
