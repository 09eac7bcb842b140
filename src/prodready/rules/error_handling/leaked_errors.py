"""Error handling: a catch-all that answers the client with the exception's own text and keeps
no traceback (ERR010)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import catches_broadly, has_keyword, has_star_kwargs, log_call
from prodready.rules.api_contract._shared import _admin_only_route, _status_code

# Where a status is given to a response or an HTTP error.
_STATUS_KEYWORDS = ("status", "status_code", "code")
# HTTP errors raised (or Flask's abort) with a message for the client.
_HTTP_ERRORS = ("HTTPException", "abort", "APIException")
_HTTP_ERROR_PREFIXES = ("HTTP", "aiohttp.web.HTTP")
# Calls that keep the traceback somewhere (besides logger.exception / exc_info=).
_TRACEBACK_KEEPERS = ("traceback.print_", "sentry_sdk.capture_exception")


@python_rule(
    code="ERR010",
    name="exception-text-returned-to-client",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Catch-all answers the client with the exception's text and logs no traceback",
    nodes=(ast.Return, ast.Raise, ast.Expr),
    fix="Log the failure with logger.exception(...) and answer a generic message (with an "
    "error id) -- keep internals out of the response.",
)
def exception_text_returned(node: ast.Return | ast.Raise | ast.Expr, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags an HTTP handler's `except Exception` (or bare `except`) block that answers the
    client with the text of the caught exception -- `str(e)`, `repr(e)`, `f"{e}"`, `e.args`,
    `traceback.format_exc()` -- in a server-error (5xx) response (`jsonify(error=str(e)), 500`,
    `JSONResponse(..., status_code=500)`, `web.json_response(..., status=500)`,
    `raise HTTPException(500, detail=str(e))`, `abort(500, str(e))`) when the block logs no
    traceback (no `logger.exception`, no `exc_info=`, no `sentry_sdk.capture_exception`). A
    narrow handler (`except ValidationError as e`) or a 4xx answer (a catch-all around
    parsing the payload) sends a message meant for the client and is left alone; an error
    text sent with status 200 is ERR005's.

    Evidence tier: on a route only administrators reach (`Depends(check_admin)`,
    `@staff_member_required`, DRF `IsAdminUser`) the text goes to the operator, not to the
    public -- reported low, confidence low, for the stack trace that is still not kept.

    ## Why it breaks production
    A catch-all sees every failure: a database error names tables, columns and hosts, a
    `KeyError` names the field a bug read, a driver error may carry a connection string. The
    client gets internals it cannot act on (and an attacker a map of the backend), while the
    operator gets nothing: no stack trace is recorded, so the 500s in the dashboard cannot be
    traced to a line of code.

    ## Example
    ```python
    @app.post("/transfers")
    def create_transfer():
        try:
            transfer = ledger.transfer(**request.get_json())
        except Exception as exc:
            return jsonify(error=str(exc)), 500
        return jsonify(id=transfer.id), 201
    ```

    ## Use instead
    ```python
    @app.post("/transfers")
    def create_transfer():
        try:
            transfer = ledger.transfer(**request.get_json())
        except Exception:
            logger.exception("transfer failed")
            return jsonify(error="internal error, try again later"), 500
        return jsonify(id=transfer.id), 201
    ```
    """
    if not ctx.handlers or ctx.facts.is_test:
        return
    function = ctx.function
    if function is None or function.route is None:
        return
    handler = ctx.handlers[-1]
    if not catches_broadly(handler, ctx):
        return
    value: ast.expr | None
    if isinstance(node, ast.Return):
        value = node.value
        if value is None or not _error_status(value, ctx):
            return
    elif isinstance(node, ast.Raise):
        value = node.exc
        if not (isinstance(value, ast.Call) and _http_error(value, ctx)):
            return
    else:
        value = node.value
        if not (isinstance(value, ast.Call) and _http_error(value, ctx)):
            return
    if value is None or not _exception_text(value, handler.name):
        return
    if _keeps_traceback(handler, ctx):
        return
    guard = _admin_only_route(ctx)
    if guard is not None:
        ctx.report(
            node,
            f"This catch-all answers with the exception's own text and logs no traceback, "
            f"but the route admits administrators only ({guard}): the text reaches the "
            "service's operator, not the public; reported low for the lost stack trace. Log "
            "it with logger.exception(...)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        node,
        "This catch-all answers the client with the exception's own text and logs no "
        "traceback: internals (SQL, hosts, field names) reach the caller while the operator "
        "gets no stack trace to find the failing line. Log it with logger.exception(...) and "
        "answer a generic message",
    )


def _error_status(value: ast.expr, ctx: PythonContext) -> bool:
    """An answer with an explicit 4xx/5xx: ``(body, 500)``, ``Response(..., status=500)``."""
    if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
        return any(_is_error(_status_code(elt, ctx)) for elt in value.elts[1:])
    if isinstance(value, ast.Call):
        return any(
            keyword.arg in _STATUS_KEYWORDS and _is_error(_status_code(keyword.value, ctx))
            for keyword in value.keywords
        )
    return False


def _is_error(code: int | None) -> bool:
    """A server error: a catch-all answering 4xx says the input was wrong (``except
    Exception`` around parsing a payload), and its message is written for the client."""
    return code is not None and 500 <= code <= 599


def _http_error(call: ast.Call, ctx: PythonContext) -> bool:
    """An HTTP error with a 5xx status: ``HTTPException(500, ...)``, ``abort(502, ...)``,
    aiohttp's ``HTTPInternalServerError(text=...)``."""
    name = ctx.qualname(call.func) or ""
    last = name.rsplit(".", 1)[-1]
    if name.startswith(_HTTP_ERROR_PREFIXES) and last.startswith("HTTP") and "ServerError" in last:
        return True
    if last not in _HTTP_ERRORS:
        return False
    status = call.args[0] if call.args else None
    for keyword in call.keywords:
        if keyword.arg in _STATUS_KEYWORDS:
            status = keyword.value
    return _is_error(_status_code(status, ctx))


def _exception_text(value: ast.expr, caught: str | None) -> bool:
    """``value`` carries the text of the caught exception (or of the traceback)."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            callee = ast.unparse(node.func)
            if callee in {"str", "repr", "format"} and _names(node.args[:1], caught):
                return True
            if callee.startswith("traceback.format_"):
                return True
        elif isinstance(node, ast.FormattedValue | ast.Attribute) and _text_of(node, caught):
            return True
    return False


def _text_of(node: ast.FormattedValue | ast.Attribute, caught: str | None) -> bool:
    """``f"{exc}"``, ``exc.args``, ``exc.message``."""
    if isinstance(node, ast.FormattedValue):
        return _names([node.value], caught)
    return node.attr in {"args", "message"} and _names([node.value], caught)


def _names(exprs: list[ast.expr], caught: str | None) -> bool:
    return caught is not None and any(
        isinstance(expr, ast.Name) and expr.id == caught for expr in exprs
    )


def _keeps_traceback(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    for node in ast.walk(handler):
        if not isinstance(node, ast.Call):
            continue
        method = log_call(node, ctx)
        if method == "exception" or (
            method is not None and (has_keyword(node, "exc_info") or has_star_kwargs(node))
        ):
            return True
        name = ctx.qualname(node.func) or ast.unparse(node.func)
        if name.startswith(_TRACEBACK_KEEPERS) or name.endswith("capture_exception"):
            return True
    return False
