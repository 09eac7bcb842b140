"""Error handling: exceptions returned as a success response (ERR005)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant,
    constant_str,
    has_star_kwargs,
    keyword_value,
    walk_body,
)

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


def _sets_status(handler: ast.ExceptHandler) -> bool:
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
    `status_code`, Django `JsonResponse(...)` or DRF `Response(...)` without `status`. A view
    that states the outcome in the body of every answer (`{"status": "error"}` here, `{"status":
    "ok"}` on success; `"success": False`/`True`) speaks an in-band protocol its client reads,
    and is left alone.

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
    if value is None or not ctx.handlers or ctx.facts.is_test:
        return
    function = ctx.function
    if function is None or function.route is None:
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
    if _sets_status(ctx.handlers[-1]):
        return
    body = value if isinstance(value, ast.Dict) else payload
    if _in_band_protocol(body, function.node):
        return
    ctx.report(
        node,
        f"This except block returns {shape} with the default 200 status: clients, retries, "
        "load balancers and error-rate alerts all count the failure as a success. Return an "
        "error status (4xx for the caller's mistakes, 5xx for ours) or raise an HTTP error.",
    )
