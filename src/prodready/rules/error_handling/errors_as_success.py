"""Error handling: exceptions returned as a success response (ERR005) and failed work reported
as done (ERR006). Retry loops that give up silently (ERR007) are in ``silent_retries``."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    catches_broadly,
    caught_names,
    constant,
    constant_str,
    dependency_call,
    dotted,
    has_star_kwargs,
    keyword_value,
    log_call,
    walk_body,
)
from prodready.rules.error_handling._failed_outcomes import (
    empty_result,
    enclosing_try,
    falls_through,
    following_statements,
    read_from_backend,
    success_status,
)
from prodready.rules.error_handling._shared import _production_path

# -- ERR005 ----------------------------------------------------------------------------------

_ERROR_KEYS = frozenset(
    {"error", "errors", "error_message", "error_code", "err", "exception", "detail"}
)
_MESSAGE_KEYS = frozenset({"message", "msg", "reason", "details"})
_STATUS_KEYS = frozenset({"status", "success", "ok", "code", "status_code"})
_FAILED = frozenset({"error", "fail", "failed", "failure", "err"})
_JSONIFY = frozenset({"flask.jsonify", "quart.jsonify", "flask.json.jsonify"})
# callee -> (keyword of the status, its position)
_RESPONSES = {
    "fastapi.responses.JSONResponse": ("status_code", 1),
    "fastapi.responses.ORJSONResponse": ("status_code", 1),
    "fastapi.responses.UJSONResponse": ("status_code", 1),
    "fastapi.JSONResponse": ("status_code", 1),
    "starlette.responses.JSONResponse": ("status_code", 1),
    "django.http.JsonResponse": ("status", None),
    "django.http.response.JsonResponse": ("status", None),
    "rest_framework.response.Response": ("status", 1),
}
_DICT_FRAMEWORKS = frozenset({"fastapi", "flask", "litestar"})


def _error_payload(expr: ast.AST | None) -> bool:
    """A literal dict that describes a failure (``{"error": ...}``, ``{"status": "error"}``)."""
    if not isinstance(expr, ast.Dict):
        return False
    keys = {constant_str(key) for key in expr.keys if key is not None}
    if "jsonrpc" in keys or ("data" in keys and "errors" in keys):
        return False  # JSON-RPC and GraphQL report errors in a 200 body by specification
    if keys & _ERROR_KEYS:
        return True
    for key, value in zip(expr.keys, expr.values, strict=True):
        name = constant_str(key)
        if name in {"success", "ok"} and constant(value) is False:
            return True
        if name == "status" and str(constant(value)).lower() in _FAILED:
            return True
    # ``{"message": str(exc)}``: a message alone is the error; next to data it is not.
    return bool(keys & _MESSAGE_KEYS) and keys <= _MESSAGE_KEYS | _STATUS_KEYS


def _outcome(expr: ast.AST | None) -> tuple[str, bool] | None:
    """The in-band outcome a literal payload states: ``("status", False)`` for ``{"status":
    "error"}``, ``("success", True)`` for ``{"success": True}``; None when it states none."""
    if not isinstance(expr, ast.Dict):
        return None
    for key, value in zip(expr.keys, expr.values, strict=True):
        name = constant_str(key)
        if name in {"success", "ok"} and isinstance(constant(value), bool):
            return name, bool(constant(value))
        if name == "status" and isinstance(constant(value), str):
            text = str(constant(value)).lower()
            if text in _FAILED or text in _SUCCEEDED:
                return name, text in _SUCCEEDED
    return None


_SUCCEEDED = frozenset({"ok", "success", "succeeded", "done"})


def _in_band_protocol(payload: ast.AST | None, function: ast.AST) -> bool:
    """The error payload states its failure in a key (``"status": "error"``) that another
    answer of the same view states success in (``"status": "ok"``): every response carries
    its outcome in the body, and the view's client must read it."""
    failed = _outcome(payload)
    if failed is None or failed[1]:
        return False
    return any(
        _outcome(node) == (failed[0], True) for node in ast.walk(function) if node is not payload
    )


def _lookup_route(methods: tuple[str, ...] | None) -> bool:
    """A route that serves only reads (GET/HEAD): the request is a lookup."""
    return methods is not None and bool(methods) and {m.upper() for m in methods} <= {"GET", "HEAD"}


def _state_report(payload: ast.AST | None) -> bool:
    """A dict whose only failure mark is a ``status``/``state`` word next to the resource's
    own fields (``{"paid": False, "status": "failed", "details": payment}``), with no error
    or message key: it describes what the looked-up thing is, not a request that failed."""
    if not isinstance(payload, ast.Dict):
        return False
    keys = {constant_str(key) for key in payload.keys}
    if None in keys or keys & (_ERROR_KEYS | {"success", "ok"}):
        return False
    for key, value in zip(payload.keys, payload.values, strict=True):
        if constant_str(key) in _MESSAGE_KEYS and _text(value):
            return False  # ``"message": "no log kept"``: it explains a failure
    return any(
        constant_str(key) in {"status", "state"} and str(constant(value)).lower() in _FAILED
        for key, value in zip(payload.keys, payload.values, strict=True)
    )


def _text(value: ast.expr) -> bool:
    """A message: a string, an f-string, ``str(...)``."""
    if isinstance(value, ast.JoinedStr) or isinstance(constant(value), str):
        return True
    return isinstance(value, ast.Call) and dotted(value.func) in {"str", "repr"}


def _failure_branch(node: ast.Return, ctx: PythonContext) -> ast.If | None:
    """The ``if`` whose body the return ends, when it is the branch a check sends failures
    to (``if not charge.ok: return {"error": ...}``) -- the error payload says which."""
    parent = ctx.parents().get(id(node))
    return parent if isinstance(parent, ast.If) and node in parent.body else None


def _sets_status(handler: ast.ExceptHandler | ast.If) -> bool:
    """``response.status_code = 500`` in the block: the status is set out of band."""
    for child in walk_body(handler.body):
        if isinstance(child, ast.Assign):
            for target in child.targets:
                if isinstance(target, ast.Attribute) and target.attr in {"status_code", "status"}:
                    return True
    return False


@python_rule(
    code="ERR005",
    name="exception-returned-as-success",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    summary="HTTP handler catches an error and returns an error body with status 200",
    nodes=(ast.Return,),
    fix="Return an error status: (jsonify(...), 503), JSONResponse(..., status_code=502), "
    "JsonResponse(..., status=500), or raise HTTPException.",
)
def exception_returned_as_success(node: ast.Return, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `return` statements in the `except` block of an HTTP handler that send an error
    payload with the default 200 status: a bare dict such as `{"error": str(e)}` (Flask,
    FastAPI), `jsonify(...)` outside a `(body, status)` tuple, `JSONResponse(...)` without
    `status_code`, Django `JsonResponse(...)` or DRF `Response(...)` without `status` -- and
    the same answer from the branch of an `if` that a check sends a failure to (`if
    result.declined: return {"error": "card declined"}`). A view
    that states the outcome in the body of every answer (`{"status": "error"}` here, `{"status":
    "ok"}` on success; `"success": False`/`True`) speaks an in-band protocol its client reads,
    and is left alone -- unless the block catches everything (`except Exception`): then an
    outage or a bug is answered 200 too. For a failure branch, the success twin may be in
    another view of the module (an AJAX endpoint family answering `success: True/False`).
    A read-only (GET) route's branch answering `{"status": "failed", ...}` with the resource's
    own fields and no error or message key reports the state of what it looked up (a failed
    payment, a failed job) -- the lookup itself succeeded -- and is left alone.

    ## Why it breaks production
    Status codes are what clients, retries, load balancers, API gateways, dashboards and
    alerts look at. A failure returned as 200 is counted as a success everywhere: the error
    rate stays flat during an outage, clients do not retry or fall back, caches may store the
    error body, and the client code parses an error object as if it were the data.

    ## Example
    ```python
    @app.post("/orders")
    def create_order():
        try:
            order = orders.create(request.get_json())
        except Exception as e:
            return jsonify({"error": str(e)})
        return jsonify(order.to_dict()), 201
    ```

    ## Use instead
    ```python
    @app.post("/orders")
    def create_order():
        try:
            order = orders.create(request.get_json())
        except OrderRejected as e:
            return jsonify({"error": str(e)}), 422
        return jsonify(order.to_dict()), 201
    ```
    """
    value = node.value
    if value is None or ctx.facts.is_test:
        return
    function = ctx.function
    if function is None or function.route is None:
        return  # first: the failure branch needs the module's parent map
    branch = None if ctx.handlers else _failure_branch(node, ctx)
    if not ctx.handlers and branch is None:
        return
    framework = function.route.framework
    if isinstance(value, ast.Dict):
        if framework not in _DICT_FRAMEWORKS or not _error_payload(value):
            return
        shape = "an error dict"
    elif isinstance(value, ast.Call):
        name = ctx.qualname(value.func) or ""
        if name in _JSONIFY:
            payload: ast.expr | None = value.args[0] if len(value.args) == 1 else None
            if value.keywords and not has_star_kwargs(value):
                # ``jsonify(error=..., success=False)`` builds the dict from its keywords
                payload = ast.Dict(
                    keys=[ast.Constant(k.arg) for k in value.keywords],
                    values=[k.value for k in value.keywords],
                )
            if not _error_payload(payload):
                return
            shape = f"{name.rsplit('.', 1)[-1]}(...)"
        elif name in _RESPONSES:
            keyword, position = _RESPONSES[name]
            if has_star_kwargs(value) or argument(value, position, keyword) is not None:
                return
            payload = argument(value, 0, "content") or keyword_value(value, "data")
            if not _error_payload(payload):
                return
            shape = f"{name.rsplit('.', 1)[-1]}(...) without {keyword}="
        else:
            return
    else:
        return
    block = ctx.handlers[-1] if ctx.handlers else branch
    assert block is not None
    if _sets_status(block):
        return
    body = value if isinstance(value, ast.Dict) else payload
    # An in-band envelope answers the caller's own mistakes; a catch-all also wraps the
    # outage (database down, a bug) in a 200 that every status-based monitor counts as served.
    broad = isinstance(block, ast.ExceptHandler) and catches_broadly(block, ctx)
    # A branch's answer belongs to the API's convention: its success twin may sit in another
    # view or method of the module (an AJAX endpoint family answering success True/False).
    scope = function.node if ctx.handlers else ctx.tree
    if _in_band_protocol(body, scope) and not broad:
        return
    if branch is not None and _lookup_route(function.route.methods) and _state_report(body):
        return
    where = "This except block" if ctx.handlers else "This failure branch"
    ctx.report(
        node,
        f"{where} returns {shape} with the default 200 status: clients, retries, "
        "load balancers and error-rate alerts all count the failure as a success. Return an "
        "error status (4xx for the caller's mistakes, 5xx for ours) or raise an HTTP error.",
    )


# -- ERR006 ----------------------------------------------------------------------------------

# Outcomes that tell the caller (or the stored record) the work was done.
_DONE_WORDS = frozenset(
    {"ok", "success", "successful", "succeeded", "done", "paid", "completed", "complete"}
    | {"sent", "delivered", "charged", "captured", "processed", "confirmed", "approved"}
    | {"cancelled", "canceled", "refunded", "booked", "settled", "published", "renewed"}
    | {"dispatched", "shipped", "fulfilled", "synced", "uploaded", "exported", "finished"}
)
_DONE_FLAGS = frozenset(
    {"paid", "is_paid", "success", "succeeded", "ok", "charged", "delivered", "sent"}
    | {"completed", "is_completed", "confirmed", "processed", "is_processed", "settled"}
)
_STATUS_FIELDS = frozenset({"status", "state", "payment_status", "result"})
# ``{"received": True}``: the webhook idiom -- a sender that reads it does not redeliver.
_TRUE_KEYS = frozenset({"success", "ok", "paid", "succeeded", "received", "acknowledged"})
# What a failed dependency raises; a handler catching something else (``DoesNotExist``,
# ``IntegrityError`` on a duplicate) often means "already done", which may be a success.
_DEPENDENCY_FAILURE = re.compile(
    r"RequestException|HTTPError|HTTPStatusError|ConnectionError|Timeout|APIError|StripeError"
    r"|CardError|PaymentError|ClientError|ServiceUnavailable|RuntimeError|OSError|IOError"
    r"|Declined|ChargeError|ProviderError|GatewayError|DatabaseError|OperationalError"
    r"|BotoCoreError|TransportError|RPCError|WebSocketException"
)
_ALREADY_DONE = re.compile(r"Exist|Duplicate|Integrity|NotFound|Conflict|Already", re.IGNORECASE)


def _failure_handler(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    """The handler catches the failure of the work: broadly, or a dependency's error."""
    if any(isinstance(node, ast.Raise) for node in walk_body(handler.body)):
        return False  # a path of the handler still fails loudly
    if catches_broadly(handler, ctx):
        return True
    names = caught_names(handler, ctx)
    if any(_ALREADY_DONE.search(name) for name in names):
        return False
    return any(_DEPENDENCY_FAILURE.search(name) for name in names)


def _done_word(expr: ast.AST | None) -> str | None:
    value = constant(expr) if expr is not None else None
    if isinstance(value, str) and value.lower() in _DONE_WORDS:
        return value
    return None


def _success_payload(expr: ast.AST | None) -> str | None:
    """The success a literal dict states (``"status": "paid"``, ``"success": True``,
    ``"refunded": True``), also built from keywords (``jsonify(ok=True)``)."""
    if isinstance(expr, ast.Call):
        payload = expr.args[0] if expr.args else keyword_value(expr, "content")
        if payload is None and expr.keywords and not has_star_kwargs(expr):
            payload = ast.Dict(
                keys=[ast.Constant(k.arg) for k in expr.keywords],
                values=[k.value for k in expr.keywords],
            )
        expr = payload
    if not isinstance(expr, ast.Dict):
        return None
    keys = {constant_str(key) for key in expr.keys if key is not None}
    if keys & _ERROR_KEYS:
        return None
    if any(str(constant(value)).lower() in _FAILED for value in expr.values):
        # {"ok": True, "live_update": "failed"}: the answer states the part that failed
        return None
    for key, value in zip(expr.keys, expr.values, strict=True):
        name = constant_str(key)
        if name in _STATUS_FIELDS and _done_word(value) is not None:
            return f'"{name}": "{_done_word(value)}"'
        if (name in _TRUE_KEYS or name in _DONE_WORDS or name in _DONE_FLAGS) and constant(
            value
        ) is True:
            return f'"{name}": True'
    return None


def _success_record(node: ast.Assign) -> str | None:
    """``order.paid = True``, ``ride.status = "completed"``: the stored record says done."""
    for target in node.targets:
        if isinstance(target, ast.Attribute):
            field = target.attr
        elif isinstance(target, ast.Subscript):
            field = constant_str(target.slice) or ""
        else:
            continue
        if field in _DONE_FLAGS and constant(node.value) is True:
            return f"{_source_of(target)} = True"
        if field in _STATUS_FIELDS and _done_word(node.value) is not None:
            return f'{_source_of(target)} = "{_done_word(node.value)}"'
    return None


def _source_of(node: ast.AST) -> str:
    return ast.unparse(node)


@python_rule(
    code="ERR006",
    name="failure-reported-as-success",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="except block that reports the failed work as done (status ok/paid, a success flag)",
    nodes=(ast.Return, ast.Assign, ast.Try),
    fix="Report the failure: raise (or re-raise), return an error status, or record a failed "
    "state (status='payment_failed') that something retries or alerts on.",
)
def failure_reported_as_success(
    node: ast.Return | ast.Assign | ast.Try, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags an `except` block that catches the failure of the work -- broadly (`Exception`,
    bare) or a dependency's error (`requests.RequestException`, `httpx.HTTPError`,
    `stripe.error.StripeError`, a timeout, a database error) -- and then reports that work as
    done: it returns a payload stating success (`{"status": "ok"}`, `{"status": "paid"}`,
    `{"success": True}`, also inside `jsonify`/`JSONResponse`/`Response`; from an HTTP handler
    also an explicit 2xx such as `HttpResponse(status=200)` or `("", 204)`) or stores a success
    flag or state (`order.paid = True`, `job.status = "completed"`), or lets the code run on to
    the function's success answer (`except Exception: logger.error(...)` followed by `return
    {"status": "cancelled"}`, `{"refunded": True}`, or `return True` from a function that never
    returns False) or to a success it records right after the `try` (`shipment.status =
    "dispatched"`): the failure is logged and then ignored. Handlers that raise on some path,
    and handlers of "already done" errors (`DoesNotExist`, `IntegrityError`,
    `...AlreadyExists`), are left alone. A failed
    call to another service answered with an empty result (`return []`, `return 0`, `{}`) from
    a function that otherwise returns its data is reported at low severity when the handler
    does not log it (or the function is an HTTP handler): the caller cannot tell an outage from
    "nothing there".

    ## Why it breaks production
    The caller, the client and the database now believe something happened that did not: a
    ride is marked paid although the charge failed, a cancellation is confirmed although it
    was never saved, a webhook is acknowledged although it was not processed. Nothing retries,
    nothing alerts, and the inconsistency surfaces weeks later in reconciliation or as a
    customer complaint.

    ## Example
    ```python
    def capture(order):
        try:
            gateway.capture(order.payment_id, amount=order.total)
        except gateway.GatewayError:
            logger.exception("capture failed")
            return {"status": "captured"}
    ```

    ## Use instead
    ```python
    def capture(order):
        try:
            gateway.capture(order.payment_id, amount=order.total)
        except gateway.GatewayError:
            logger.exception("capture failed")
            order.status = "capture_failed"  # a job retries these; an alert watches the count
            order.save()
            raise
    ```
    """
    if ctx.facts.is_test or ctx.function is None:
        return
    if isinstance(node, ast.Try):
        _falls_through_to_success(node, ctx)
        return
    if not ctx.handlers or not _failure_handler(ctx.handlers[-1], ctx):
        return
    if isinstance(node, ast.Return):
        payload = _success_payload(node.value)
        answer = "{" + payload + "}" if payload is not None else None
        if answer is None and ctx.route is not None:
            answer = success_status(node.value)
        if answer is None and _never_false(node, ctx):
            answer = "True (the function never returns False)"
        if answer is None:
            _empty_answer(node, ctx)
            return
        ctx.report(
            node,
            f"This except block returns {answer} for work that just failed: the caller, the "
            "client and every retry or alert take the failure for a success, so nothing "
            "retries it and nobody notices. Raise, return an error status, or report a failed "
            "outcome",
        )
        return
    what = _success_record(node)
    if what is None:
        return
    ctx.report(
        node,
        f"This except block records {what} for work that just failed: the stored state now "
        "says done, so nothing retries it and reconciliation finds the gap much later. Record "
        "a failed state (or leave it pending) and raise or alert",
    )


def _falls_through_to_success(node: ast.Try, ctx: PythonContext) -> None:
    for handler in node.handlers:
        if not _failure_handler(handler, ctx) or not falls_through(handler):
            continue
        following = following_statements(node, ctx)
        # A success the code records right after the ``try`` (``order.status = "paid"``) is
        # stored whether the work failed or not: the handler only left a log line.
        for statement in following:
            record = _success_record(statement) if isinstance(statement, ast.Assign) else None
            if record is not None:
                ctx.report(
                    handler,
                    f"This except block lets the code run on to record {record} (line "
                    f"{statement.lineno}) although the work failed: the stored state now says "
                    "done, so nothing retries it and reconciliation finds the gap much later. "
                    "Record a failed state (or leave it pending) and raise or alert from the "
                    "except block",
                )
                return
        answer = following[-1] if following and isinstance(following[-1], ast.Return) else None
        what = _success_payload(answer.value) if answer is not None else None
        if what is not None:
            what = "{" + what + "}"
        elif answer is not None and ctx.route is not None:
            what = success_status(answer.value)
        elif answer is not None and _never_false(answer, ctx):
            what = "True (the function never returns False)"
        if answer is None or what is None:
            return
        ctx.report(
            handler,
            f"This except block lets the code run on to return {what} (line "
            f"{answer.lineno}) although the work failed: the caller is told it succeeded, so "
            "nothing retries it and nobody notices. Return an error (or raise) from the "
            "except block",
        )
        return


def _never_false(node: ast.Return, ctx: PythonContext) -> bool:
    """``return True`` from a handler of a function that never returns False: its boolean
    answer cannot say the work failed."""
    if not (isinstance(node.value, ast.Constant) and node.value.value is True):
        return False
    function = ctx.function
    if function is None or dependency_call(function.node.body, ctx) is None:
        return False
    return not any(
        isinstance(inner, ast.Return)
        and isinstance(inner.value, ast.Constant)
        and inner.value.value is False
        for inner in walk_body(function.node.body)
    )


def _records_failure(handler: ast.ExceptHandler, ctx: PythonContext) -> bool:
    return any(
        isinstance(node, ast.Call) and log_call(node, ctx) is not None
        for node in walk_body(handler.body)
    )


def _empty_answer(node: ast.Return, ctx: PythonContext) -> None:
    empty = empty_result(node.value)
    function = ctx.function
    attempt = enclosing_try(ctx.handlers[-1], ctx)
    if empty is None or function is None or attempt is None:
        return
    if not read_from_backend(attempt, function.node, ctx) or not _production_path(attempt, ctx):
        return
    if ctx.route is None and _records_failure(ctx.handlers[-1], ctx):
        return  # logged: a deliberate, visible degradation (best-effort counters, listings)
    ctx.report(
        node,
        f"This except block answers a failed call to another service with {empty}: the "
        "caller cannot tell an outage from an empty result and carries on with no data (a "
        "zero price, an empty list). Raise, or return a result that says it failed",
        severity=Severity.LOW,
    )
