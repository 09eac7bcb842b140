"""Observability: exceptions logged outside their handler (OBS004)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    calls_in,
    dotted,
    has_star_kwargs,
    is_true,
    keyword_value,
    log_call,
)

# -- OBS004 ---------------------------------------------------------------------------------------

_ERROR_WORDS = re.compile(
    r"err|exc|fail|crash|handle|traceback|panic|fatal|abort|fault|problem|unexpected", re.I
)
_EXCEPTION_PARAMS = frozenset(
    {"e", "ex", "exc", "err", "error", "exception", "exc_info", "exc_val", "exc_value"}
    | {"exc_type", "etype", "failure", "einfo", "tb", "traceback", "excinfo", "error_info"}
)
_EXIT_METHODS = frozenset({"__exit__", "__aexit__", "__del__"})


def _exception_context_function(ctx: PythonContext) -> bool:
    """A function that is, by its name, parameters or decorators, run while an exception is
    being handled: an error callback, an exception handler, ``__exit__``."""
    scope = ctx.function
    while scope is not None:
        if scope.name in _EXIT_METHODS or _ERROR_WORDS.search(scope.name):
            return True
        for param in scope.params:
            if param.arg.lower() in _EXCEPTION_PARAMS:
                return True
            annotation = dotted(param.annotation) if param.annotation is not None else None
            if annotation and annotation.endswith(("Exception", "Error", "TracebackType")):
                return True
        for decorator in scope.node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if _ERROR_WORDS.search(dotted(target) or ""):
                return True
            # @receiver(got_request_exception), @app.exception_handler(ValueError)...
            if isinstance(decorator, ast.Call) and any(
                _ERROR_WORDS.search(dotted(arg) or "") for arg in decorator.args
            ):
                return True
        if scope.class_info is not None and _ERROR_WORDS.search(scope.class_info.node.name):
            return True
        scope = scope.parent
    return False


@python_rule(
    code="OBS004",
    name="exception-logged-outside-handler",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="logger.exception() / exc_info=True outside an except block logs 'NoneType: None'",
    calls=tuple(
        f"*.{method}"
        for method in ("exception", "error", "critical", "fatal", "warning", "warn", "info")
    ),
    nodes=(ModuleEnd,),
    fix="Log inside the except block, or pass the exception explicitly: exc_info=exc.",
)
def exception_logged_outside_handler(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `logger.exception(...)`, and any logging call with `exc_info=True`, that is not inside
    an `except` block. Functions that run while an exception is being handled -- error
    callbacks and helpers that take the exception (`def _log_error(exc)`), registered
    exception handlers, `__exit__` -- are left alone.

    ## Why it breaks production
    `logger.exception` attaches `sys.exc_info()`; outside an `except` block there is no active
    exception, so the record says `NoneType: None` instead of a traceback. The log line looks
    like an error report but the one piece of information needed to debug the failure is
    missing -- often discovered only during the incident.

    ## Example
    ```python
    result = client.charge(order)
    if not result.ok:
        logger.exception("charge failed for order %s", order.id)
    ```

    ## Use instead
    ```python
    result = client.charge(order)
    if not result.ok:
        logger.error("charge failed for order %s: %s", order.id, result.error_code)
    ```
    Inside an `except` block `logger.exception(...)` is right; elsewhere log the error data you
    have, or pass a caught exception explicitly with `exc_info=exc`.
    """
    if isinstance(node, ast.Module):
        _judge_exception_logs(node, ctx)
        return
    if ctx.handlers or not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return
    if node.func.attr != "exception" and keyword_value(node, "exc_info") is None:
        return
    if ctx.facts.is_test:
        return
    method = log_call(node, ctx)
    if method is None:
        return
    exc_info = keyword_value(node, "exc_info")
    if method == "exception":
        if exc_info is not None and not is_true(exc_info):
            return  # an explicit exception (or exc_info=False)
        what = "logger.exception()"
    else:
        if not is_true(exc_info):
            return
        what = f"logger.{method}(..., exc_info=True)"
    if has_star_kwargs(node) or _exception_context_function(ctx):
        return
    function = ctx.function.name if ctx.function is not None else None
    ctx.memo(_EXCEPTION_LOGS).append((node, what, function))


# The exception logs outside a handler, judged at ModuleEnd: (call, what, enclosing function).
_EXCEPTION_LOGS: ModuleMemo[list[tuple[ast.Call, str, str | None]]] = ModuleMemo(
    "OBS004:logs", lambda _: []
)


def _judge_exception_logs(tree: ast.Module, ctx: PythonContext) -> None:
    found = ctx.memo(_EXCEPTION_LOGS)
    if not found:
        return
    # Helpers called from an except block run while the exception is active.
    called_in_handlers: set[str] = set()
    for handler in ast.walk(tree):
        if isinstance(handler, ast.ExceptHandler):
            for call in calls_in(handler.body):
                name = dotted(call.func)
                if name is not None:
                    called_in_handlers.add(name.rsplit(".", 1)[-1])
    for node, what, function in found:
        if function is not None and function in called_in_handlers:
            continue
        ctx.report(
            node,
            f"{what} outside an except block: there is no active exception, so the log shows "
            "'NoneType: None' instead of a traceback. Log inside the except block or pass "
            "exc_info=<the exception>",
        )
