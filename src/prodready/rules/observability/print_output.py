"""Observability: print() and printed tracebacks instead of logging (OBS001, OBS003)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Scope,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    dotted,
    has_star_kwargs,
    in_service_code,
    is_example_code,
    is_main_guard,
    is_none,
    keyword_value,
    runs_consumer,
)
from prodready.rules.error_handling._announced_failures import announces_continue

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


# rule code (OBS001, OBS003) -> the console output that rule found in the module
_OUTPUTS: ModuleMemo[dict[str, list[_Output]]] = ModuleMemo("OBS:output", lambda _: {})


def _outputs(ctx: PythonContext) -> list[_Output]:
    assert ctx.rule is not None
    return ctx.memo(_OUTPUTS).setdefault(ctx.rule.code, [])


def _in_logging_handler(scope: Scope) -> bool:
    """A method of a ``logging.Handler`` subclass: logging its own failure would hand the
    record back to the same handler (recursion), so stdout is the only way out."""
    current: Scope | None = scope
    while current is not None:
        info = current.class_info
        if info is not None and any(
            base.startswith("logging.") and base.endswith("Handler") for base in info.bases
        ):
            return True
        current = current.parent
    return False


def _record_output(node: ast.Call, ctx: PythonContext) -> None:
    scope = ctx.function
    if scope is None or ctx.facts.is_test or _in_logging_handler(scope):
        return
    if any(param.arg in _VERBOSITY_PARAMS for param in scope.params):
        return  # console output gated by a verbosity option: tooling, not request handling
    entry = _outermost(scope)
    command = _is_command_function(scope) or _is_command_function(entry)
    # A notice that a tolerated step failed ("... Continuing.") is no error report that lost
    # its traceback: judged as any other print.
    in_handler = bool(ctx.handlers) and not announces_continue(ctx.handlers[-1], ctx)
    _outputs(ctx).append(_Output(node, entry, in_handler, command=command))


def _pending_output(ctx: PythonContext, tree: ast.Module) -> list[_Output]:
    """The output of service functions. Entry points -- ``main()``, CLI commands, what the
    ``__main__`` block calls -- are left alone, unless the entry point runs a message-consumer
    loop itself: then it is the worker, and its output is the service's."""
    found = _outputs(ctx)
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
    message in consumer: ...`): that function is the long-running worker. So are the methods of
    a `logging.Handler` subclass: a handler that logged its own failure would receive that
    record again and recurse. A print in an except block is reported at medium (an error report
    without level or traceback) unless its message says the failure is tolerated ("...
    Continuing.", "ignoring"): then it is a notice like any other print (low).

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
