"""Error handling: errors logged without their traceback (ERR004), and errors of worker loops and
retrying tasks that are never logged nor raised (ERR008)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    catches_broadly,
    dotted,
    has_keyword,
    has_star_kwargs,
    log_call,
)
from prodready.rules.error_handling._loop_handlers import (
    acked_after,
    diverts,
    guards_dependency,
    loses_the_error,
    retried_before,
    retrying_task,
    settles_message,
    websocket_loop,
)
from prodready.rules.error_handling._shared import _production_path


def _walk_handler(body: list[ast.stmt]) -> list[ast.AST]:
    """Nodes of an ``except`` block, without the bodies of nested ``except`` blocks (each is
    judged on its own) or nested functions."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(
            node,
            ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda | ast.ExceptHandler,
        ):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return nodes


# -- ERR004 ----------------------------------------------------------------------------------

_LOSSY_LEVELS = frozenset({"error", "warning", "warn", "critical", "fatal"})
_SEVERE_LEVELS = frozenset({"error", "critical", "fatal"})
_TRACEBACK_CALLS = ("traceback.", "sentry_sdk.capture_exception", "sentry_sdk.capture_event")


@python_rule(
    code="ERR004",
    name="error-logged-without-traceback",
    category=Category.ERROR_HANDLING,
    severity=Severity.LOW,
    summary="Exception logged with logger.error/warning but without its traceback",
    nodes=(ast.Try,),
    fix="Use logger.exception(...) or pass exc_info=True.",
)
def error_logged_without_traceback(node: ast.Try, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `logger.error(...)`, `logger.warning(...)` and `logger.critical(...)` calls inside an
    `except` block that neither re-raises nor logs the traceback anywhere else
    (`logger.exception`, `exc_info=`, `traceback.*`, `sentry_sdk.capture_exception`), when
    the block catches broadly (`Exception`, `BaseException`, bare) -- in HTTP handlers, service
    modules and around calls to other services. A narrow `except` already names the failure.

    ## Why it breaks production
    `logger.error(f"failed: {e}")` keeps only `str(e)` -- often just `'id'` for a `KeyError`
    or an empty string -- and throws away the exception type and the stack that says which
    line failed. When the incident comes, the log shows that something failed but not where or
    why, and the error cannot be reproduced from it.

    ## Example
    ```python
    try:
        invoice = build_invoice(order)
    except Exception as e:
        logger.error(f"Failed to build invoice: {e}")
        return None
    ```

    ## Use instead
    ```python
    try:
        invoice = build_invoice(order)
    except Exception:
        logger.exception("failed to build invoice for order %s", order.id)
        return None
    ```
    """
    if ctx.facts.is_test:
        return
    production: bool | None = None
    for handler in node.handlers:
        if not catches_broadly(handler, ctx):
            continue  # a narrow ``except`` names what went wrong; the message is enough there
        calls = _lossy_log_calls(handler, ctx)
        if not calls:
            continue
        if production is None:
            production = _production_path(node, ctx)
        if not production:
            return
        for call, method in calls:
            ctx.report(
                call,
                f"logger.{method}() in a broad except block logs the message but drops the "
                "traceback: the log will not say what failed or where. Use "
                "logger.exception(...) or pass exc_info=True.",
            )


def _lossy_log_calls(handler: ast.ExceptHandler, ctx: PythonContext) -> list[tuple[ast.Call, str]]:
    """Error/warning log calls of a block that neither re-raises nor records the traceback."""
    candidates: list[tuple[ast.Call, str]] = []
    for child in _walk_handler(handler.body):
        if isinstance(child, ast.Raise) and not _http_error(child):
            return []  # the exception travels on; whoever catches it can log it
        if not isinstance(child, ast.Call):
            continue
        method = log_call(child, ctx)
        if method is None:
            name = ctx.qualname(child.func) or ""
            if name.startswith(_TRACEBACK_CALLS):
                return []
            continue
        if method == "exception" or has_keyword(child, "exc_info") or has_star_kwargs(child):
            return []
        if method in _LOSSY_LEVELS:
            candidates.append((child, method))
    return candidates


# Exceptions that frameworks turn into a response without logging a traceback.
_HTTP_ERRORS = frozenset(
    {
        "HTTPException",
        "Http404",
        "NotFound",
        "BadRequest",
        "PermissionDenied",
        "APIException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def _http_error(node: ast.Raise) -> bool:
    """``raise HTTPException(500, ...)``: the client gets a status, the log gets nothing."""
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    text = dotted(exc)
    return text is not None and text.rsplit(".", 1)[-1] in _HTTP_ERRORS


# -- ERR008 ----------------------------------------------------------------------------------


@python_rule(
    code="ERR008",
    name="worker-loop-error-lost",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Broad except in a websocket/consumer loop or a retrying task that loses the error",
    nodes=(ast.Try,),
    fix="Log with logger.exception(...) and re-raise what the loop or task cannot handle; in a "
    "retrying task re-raise (or self.retry(exc=...)) transient errors; never ack a message "
    "whose processing failed without recording why.",
)
def worker_loop_error_lost(node: ast.Try, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags broad `except Exception:` (or bare) blocks that do something -- clean up, acknowledge
    the message, mark a record -- but neither log the error, re-raise it, retry nor report it,
    where the failure matters most and is seen least: around a websocket receive loop
    (FastAPI/Starlette `websocket.receive_*`, aiohttp `async for msg in ws`, `websockets`
    `recv()`), around a broker consumer loop, and in a Celery task that declares retries
    (`max_retries=`, `autoretry_for=`, or calls `self.retry()`), where even a logged error
    ends the task as a success -- unless an earlier clause of the same `try` catches every
    exception the task's `autoretry_for` names and re-raises (or retries) it: the broad clause
    then only sees what retrying would not fix. Handlers that only `pass`/`continue` are
    ERR001's. A broad
    handler of a consumer that acknowledges the failed
    message -- in the handler, or by falling through to the ack after the `try` -- is
    reported even when it logs, unless it nacks, rejects, requeues or dead-letters it.

    ## Why it breaks production
    A websocket that hits a database error just goes silent for that user; a consumer acks a
    message it failed to process and the message is gone; a task that catches its own
    transient failure (a timeout, a 503) finishes "successfully", so the retries it was
    configured with never run and the record stays in whatever state the handler chose. None
    of it leaves a traceback, an error metric or a retry -- the failure is discovered from
    customer reports.

    ## Example
    ```python
    @shared_task(bind=True, max_retries=5)
    def sync_invoice(self, invoice_id):
        try:
            push_to_accounting(invoice_id)
        except Exception:
            Invoice.objects.filter(pk=invoice_id).update(sync_state="failed")
    ```

    ## Use instead
    ```python
    @shared_task(bind=True, max_retries=5)
    def sync_invoice(self, invoice_id):
        try:
            push_to_accounting(invoice_id)
        except AccountingUnavailable as exc:
            raise self.retry(exc=exc, countdown=2 ** self.request.retries * 30)
        except Exception:
            logger.exception("invoice %s sync failed permanently", invoice_id)
            Invoice.objects.filter(pk=invoice_id).update(sync_state="failed")
    ```
    """
    if ctx.facts.is_test or ctx.handlers:
        return
    for handler in node.handlers:
        if not catches_broadly(handler, ctx):
            continue
        retries = retrying_task(ctx)
        if retries is not None and guards_dependency(node, ctx):
            if retried_before(node, handler, ctx):
                return  # the errors the task retries on never reach this clause
            if loses_the_error(handler, ctx, logs_count=False):
                ctx.report(
                    handler,
                    f"This broad except ends the task normally although it declares retries "
                    f"({retries}): a transient failure (a timeout, a 503) is never retried, the "
                    "task counts as succeeded, and the error is not re-raised. Re-raise or "
                    "self.retry(exc=...) what is transient; log the rest with logger.exception",
                )
            return
        settled = settles_message(handler) or acked_after(node, handler, ctx)
        if settled is not None and not diverts(handler):
            ctx.report(
                handler,
                f"This broad except lets the message be acknowledged "
                f"({ast.unparse(settled.func)}, line {settled.lineno}) although its processing "
                "failed: a transient failure (the database down, a timeout) drops every "
                "message it hits, with no retry and no dead-letter copy. Nack it to a "
                "dead-letter queue (or requeue with a limit) and log it with logger.exception",
            )
            return
        if not loses_the_error(handler, ctx, logs_count=True):
            continue
        if websocket_loop(node.body, ctx):
            ctx.report(
                handler,
                "This broad except around a receive loop neither logs nor re-raises the error: "
                "a database or broker failure (or a bug) ends the connection silently and "
                "leaves no trace. Catch the disconnect explicitly and log everything else with "
                "logger.exception(...)",
            )
            return
