"""Resilience: retry loops driven by a response status instead of an exception (RES003).

``while True: resp = requests.get(url); if resp.status_code < 500: return resp.json();
time.sleep(1)`` retries a failing dependency exactly like a ``try``/``except`` loop does, but the
failure is a status code: the loop leaves only when the dependency answers well, so a dependency
that keeps failing keeps the caller here forever.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import dependency_call, message_loop, walk_body

_STATUS_ATTRIBUTES = frozenset(
    {"status_code", "status", "ok", "is_success", "is_error", "is_server_error", "code"}
)
_CLOCKS = ("time.time", "time.monotonic", "time.perf_counter", "datetime.")


def _response_names(body: list[ast.stmt], ctx: PythonContext) -> set[str]:
    """Names bound to the answer of a call to another service in the loop body."""
    names: set[str] = set()
    for statement in body:
        if isinstance(statement, ast.With | ast.AsyncWith):
            names |= _response_names(statement.body, ctx)
            for item in statement.items:
                if isinstance(item.optional_vars, ast.Name) and dependency_call(
                    [ast.Expr(item.context_expr)], ctx
                ):
                    names.add(item.optional_vars.id)
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and dependency_call([statement], ctx) is not None
        ):
            names.add(statement.targets[0].id)
    return names


def _tests_status(test: ast.expr, responses: set[str]) -> bool:
    return any(
        isinstance(part, ast.Attribute)
        and part.attr in _STATUS_ATTRIBUTES
        and isinstance(part.value, ast.Name)
        and part.value.id in responses
        for part in ast.walk(test)
    )


def status_retry_forever(node: ast.While, ctx: PythonContext) -> bool:
    """``node`` is a ``while True:`` loop that calls another service and leaves only when the
    answer's status is good: no raise, no counter, no deadline."""
    if not (isinstance(node.test, ast.Constant) and node.test.value is True):
        return False
    if message_loop(node, ctx) is not None:
        return False  # a consumer loop runs forever on purpose
    responses = _response_names(node.body, ctx)
    if not responses:
        return False
    status_tests = [
        inner
        for inner in walk_body(node.body)
        if isinstance(inner, ast.If) and _tests_status(inner.test, responses)
    ]
    if not status_tests:
        return False
    inside_status_tests = {
        id(part) for test in status_tests for part in ast.walk(test) if part is not test.test
    }
    for inner in walk_body(node.body):
        if isinstance(inner, ast.Raise | ast.AugAssign):
            return False  # a failure raised, or attempts counted
        if isinstance(inner, ast.Call) and (ctx.qualname(inner.func) or "").startswith(_CLOCKS):
            return False  # a deadline
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Attribute)
            and inner.func.attr == "raise_for_status"
        ):
            return False  # some statuses end the loop with an error
        if isinstance(inner, ast.Return | ast.Break) and id(inner) not in inside_status_tests:
            return False  # a way out that does not wait for a good status
    return True
