"""Observability: whether the service can be watched, debugged and probed in production."""

from __future__ import annotations

import ast
import re

from prodready.engine.analysis import (
    calls_in,
    dotted,
    has_star_kwargs,
    in_service_code,
    is_example_code,
    is_none,
    is_true,
    keyword_value,
    log_call,
    runs_consumer,
)
from prodready.engine.facts import is_main_guard
from prodready.engine.python import ModuleEnd, PythonContext, Scope
from prodready.engine.registry import python_rule
from prodready.model import Category, Confidence, Severity

# -- shared by OBS001 / OBS003: output written from service functions -----------------------------


def _outermost(scope: Scope) -> Scope:
    while scope.parent is not None:
        scope = scope.parent
    return scope


def _is_command_function(scope: Scope) -> bool:
    """``main()``, ``cli()`` and functions registered as CLI commands (``@app.cli.command()``,
    ``@click.command()``, ``@manager.command``): their output is the interface."""
    if scope.name in {"main", "cli", "_main"}:
        return True
    for decorator in scope.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = dotted(target) or ""
        if text.endswith(("command", "group")) or ".cli." in text or text.startswith("cli."):
            return True
    return False


def _called_from_main_guard(tree: ast.Module) -> set[str]:
    """Names of functions the ``if __name__ == "__main__":`` block calls (script entry points)."""
    names: set[str] = set()
    for statement in tree.body:
        if not (isinstance(statement, ast.If) and is_main_guard(statement)):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names.add(node.func.id)
    return names


_VERBOSITY_PARAMS = frozenset({"verbosity", "verbose", "quiet", "silent", "stdout"})


class _Output:
    """Console output found in a function, judged at module end (facts are complete then).
    ``entry``: the outermost function around it; ``command``: that function (or the one
    around the output) is a CLI entry point by its name or decorators."""

    __slots__ = ("command", "entry", "in_handler", "node")

    def __init__(
        self, node: ast.Call, entry: Scope, in_handler: bool, *, command: bool = False
    ) -> None:
        self.node = node
        self.entry = entry
        self.in_handler = in_handler
        self.command = command


def _output_key(ctx: PythonContext) -> str:
    assert ctx.rule is not None
    return f"{ctx.rule.code}:output"


def _record_output(node: ast.Call, ctx: PythonContext) -> None:
    scope = ctx.function
    if scope is None or ctx.facts.is_test:
        return
    if any(param.arg in _VERBOSITY_PARAMS for param in scope.params):
        return  # console output gated by a verbosity option: tooling, not request handling
    entry = _outermost(scope)
    command = _is_command_function(scope) or _is_command_function(entry)
    state: list[_Output] = ctx.module_state.setdefault(_output_key(ctx), [])
    state.append(_Output(node, entry, bool(ctx.handlers), command=command))


def _pending_output(ctx: PythonContext, tree: ast.Module) -> list[_Output]:
    """The output of service functions. Entry points -- ``main()``, CLI commands, what the
    ``__main__`` block calls -- are left alone, unless the entry point runs a message-consumer
    loop itself: then it is the worker, and its output is the service's."""
    found: list[_Output] = ctx.module_state.get(_output_key(ctx), [])
    if not found or not in_service_code(ctx) or is_example_code(ctx):
        return []
    entry_points = _called_from_main_guard(tree) if ctx.facts.has_main_guard else set()
    workers: dict[int, bool] = {}
    pending = []
    for item in found:
        if item.command or item.entry.name in entry_points:
            key = id(item.entry.node)
            if key not in workers:
                workers[key] = runs_consumer(item.entry.node.body, ctx) is not None
            if not workers[key]:
                continue
        pending.append(item)
    return pending


# -- OBS001 ---------------------------------------------------------------------------------------


@python_rule(
    code="OBS001",
    name="print-in-service-code",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    summary="print() in service code: unleveled, unstructured output that bypasses logging",
    calls=("builtins.print",),
    nodes=(ModuleEnd,),
    fix="Use a module logger: logger = logging.getLogger(__name__); logger.info(...)",
)
def print_in_service_code(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `print()` calls inside the functions of service modules (modules that use a web or
    worker framework, or declare routes). Scripts, CLI commands, `__main__` blocks and the
    functions they call, tests, and `print(..., file=...)` aimed at a specific stream are left
    alone -- except an entry point that runs a message-consumer loop itself (`def main(): for
    message in consumer: ...`): that function is the long-running worker.

    ## Why it breaks production
    `print` writes unleveled, unstructured text to stdout: it cannot be filtered by severity,
    carries no timestamp, logger name or request id, is invisible to the log pipeline's
    parsers, and is block-buffered when stdout is not a TTY -- in a container the last lines
    before a crash are often never written. A `print(e)` in an `except` block turns an error
    into an anonymous line without a traceback that no alert will ever match.

    ## Example
    ```python
    @app.post("/orders")
    def create_order(order: OrderIn):
        print(f"creating order for {order.customer_id}")
        try:
            return service.create(order)
        except PaymentError as e:
            print("payment failed", e)
            raise HTTPException(status_code=402)
    ```

    ## Use instead
    ```python
    logger = logging.getLogger(__name__)

    @app.post("/orders")
    def create_order(order: OrderIn):
        logger.info("creating order", extra={"customer_id": order.customer_id})
        try:
            return service.create(order)
        except PaymentError:
            logger.exception("payment failed")
            raise HTTPException(status_code=402)
    ```
    """
    if isinstance(node, ast.Call):
        stream = keyword_value(node, "file")
        if (stream is not None and not is_none(stream)) or has_star_kwargs(node):
            return
        if any(_is_traceback_text(arg) for arg in node.args):
            # print(traceback.format_exc()): a traceback dump, OBS003's concern.
            return
        _record_output(node, ctx)
        return
    if not isinstance(node, ast.Module):
        return
    for item in _pending_output(ctx, node):
        if item.in_handler:
            ctx.report(
                item.node,
                "print() in an except block reports the error to stdout without level or "
                "traceback: log it with logger.exception(...) instead",
                severity=Severity.MEDIUM,
            )
        else:
            ctx.report(
                item.node,
                "print() in service code writes unleveled, unstructured stdout that log "
                "pipelines cannot filter or correlate: use a module logger",
            )


# -- OBS003 ---------------------------------------------------------------------------------------

_TRACEBACK_PRINTERS = (
    "sys.excepthook",
    "sys.__excepthook__",
    "traceback.print_exc",
    "traceback.print_exception",
    "traceback.print_tb",
    "traceback.print_last",
)
_TRACEBACK_TEXT = frozenset(
    {"traceback.format_exc", "traceback.format_exception", "traceback.format_tb"}
)


def _is_traceback_text(expr: ast.expr) -> bool:
    """``traceback.format_exc()`` (by its text: used before name resolution matters)."""
    return isinstance(expr, ast.Call) and (dotted(expr.func) or "") in _TRACEBACK_TEXT


@python_rule(
    code="OBS003",
    name="traceback-printed-not-logged",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    summary="Traceback printed to stderr instead of logged: no level, no context, not shipped",
    calls=(*_TRACEBACK_PRINTERS, "sys.stderr.write", "builtins.print"),
    nodes=(ModuleEnd,),
    fix='Log it: logger.exception("what failed") inside the except block.',
)
def traceback_printed_not_logged(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `traceback.print_exc()`, `traceback.print_exception(...)` and writing
    `traceback.format_exc()` to stderr (`sys.stderr.write`, `print(..., file=sys.stderr)`)
    in service code. A traceback written into a buffer (`file=io.StringIO()`) is fine.

    ## Why it breaks production
    The traceback goes straight to the process's stderr, bypassing logging: it has no level,
    no logger name, no request id or other context, it is split into one "log line" per
    traceback line by most collectors, and error-rate alerts built on log levels never see
    it. The failure is technically "logged" but nobody will find it.

    ## Example
    ```python
    try:
        publish(event)
    except Exception:
        traceback.print_exc()
    ```

    ## Use instead
    ```python
    try:
        publish(event)
    except Exception:
        logger.exception("publishing %s failed", event.type)
    ```
    """
    if isinstance(node, ast.Module):
        for item in _pending_output(ctx, node):
            ctx.report(
                item.node,
                f"{_describe(item.node)} writes the traceback to stderr, bypassing logging "
                "(no level, no request context): use logger.exception(...) instead",
            )
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name in _TRACEBACK_PRINTERS:
        stream = keyword_value(node, "file")
        if stream is not None and not _is_std_stream(stream):
            return  # printed into a buffer, e.g. to log it afterwards
        _record_output(node, ctx)
        return
    if name == "builtins.print":
        stream = keyword_value(node, "file")
        if stream is None or not _is_std_stream(stream):
            return  # plain print(): OBS001's concern
    if node.args and _is_traceback_text(node.args[0]):
        _record_output(node, ctx)


def _is_std_stream(expr: ast.expr) -> bool:
    return (dotted(expr) or "") in {"sys.stderr", "sys.stdout", "sys.__stderr__"}


def _describe(node: ast.Call) -> str:
    text = dotted(node.func) or "this call"
    if text.startswith(("traceback.", "sys.excepthook", "sys.__excepthook__")):
        return f"{text}()"
    return f"{text}(traceback.format_exc())"


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
    found: list[tuple[ast.Call, str, str | None]] = ctx.module_state.setdefault("OBS004", [])
    found.append((node, what, function))


def _judge_exception_logs(tree: ast.Module, ctx: PythonContext) -> None:
    found: list[tuple[ast.Call, str, str | None]] = ctx.module_state.get("OBS004", [])
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
