"""API contract: error responses in inconsistent shapes (API004)."""

from __future__ import annotations

import ast
import re
from collections import Counter

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
    argument,
    constant_str,
    has_star_kwargs,
    in_service_code,
    is_framework_source,
    keyword_value,
)
from prodready.rules.api_contract._shared import _status_code

# -- API004 ---------------------------------------------------------------------------------------

_JSON_RESPONSES = (
    "fastapi.responses.JSONResponse",
    "fastapi.responses.ORJSONResponse",
    "fastapi.responses.UJSONResponse",
    "starlette.responses.JSONResponse",
    "fastapi.JSONResponse",
)
_HTTP_EXCEPTIONS = (
    "fastapi.HTTPException",
    "fastapi.exceptions.HTTPException",
    "starlette.exceptions.HTTPException",
)
_DJANGO_RESPONSES = ("django.http.JsonResponse", "django.http.response.JsonResponse")
_DRF_RESPONSES = ("rest_framework.response.Response",)
_FLASK_RESPONSES = ("flask.make_response", "quart.make_response")
_JSONIFY = ("flask.jsonify", "quart.jsonify", "flask.json.jsonify")
_AIOHTTP_JSON = ("aiohttp.web.json_response", "aiohttp.web_response.json_response")
# Error responses whose body is text, not JSON: (call, argument of the body, default status).
_TEXT_RESPONSES: dict[str, tuple[str, int | None]] = {
    "django.http.HttpResponse": ("content", None),
    "django.http.HttpResponseBadRequest": ("content", 400),
    "django.http.HttpResponseNotFound": ("content", 404),
    "django.http.HttpResponseForbidden": ("content", 403),
    "django.http.HttpResponseGone": ("content", 410),
    "starlette.responses.PlainTextResponse": ("content", None),
    "fastapi.responses.PlainTextResponse": ("content", None),
    "aiohttp.web.Response": ("text", None),
}
# The shape of a plain-text error body, compared with the JSON shapes like a key.
_TEXT_BODY = "<plain text>"
_MESSAGE_KEYS = frozenset(
    {"error", "errors", "message", "msg", "detail", "details", "description", "reason"}
    | {"error_message", "errorMessage", "error_description", "title", "err"}
)


_KEY_FAMILY = {"errors": "error", "err": "error", "details": "detail", "msg": "message"}


def _dict_keys(expr: ast.AST | None) -> frozenset[str] | None:
    if not isinstance(expr, ast.Dict) or not expr.keys:
        return None
    keys = [constant_str(key) for key in expr.keys]
    if any(key is None for key in keys):
        return None  # **spread or computed key
    return frozenset(key for key in keys if key is not None)


def _payload_keys(expr: ast.AST | None, ctx: PythonContext) -> frozenset[str] | None:
    """Top-level keys of a JSON payload: a dict literal or ``jsonify(...)``."""
    if isinstance(expr, ast.Dict):
        return _dict_keys(expr)
    if isinstance(expr, ast.Call) and ctx.qualname(expr.func) in _JSONIFY:
        if has_star_kwargs(expr):
            return None
        if expr.keywords and not expr.args:
            return frozenset(k.arg for k in expr.keywords if k.arg is not None)
        if len(expr.args) == 1 and not expr.keywords:
            return _dict_keys(expr.args[0])
    return None


class _ErrorPayload:
    __slots__ = ("keys", "node")

    def __init__(self, node: ast.AST, keys: frozenset[str]) -> None:
        self.node = node
        self.keys = keys

    @property
    def message_keys(self) -> frozenset[str]:
        """The keys carrying the error message, singular and plural folded together."""
        keys = (self.keys & _MESSAGE_KEYS) or self.keys
        return frozenset(_KEY_FAMILY.get(key, key) for key in keys)


# The error responses of the module's handlers, compared at ModuleEnd.
_ERROR_PAYLOADS: ModuleMemo[list[_ErrorPayload]] = ModuleMemo("API004:payloads", lambda _: [])


@python_rule(
    code="API004",
    name="inconsistent-error-shape",
    category=Category.API_CONTRACT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Error responses in one module use different shapes (error vs message, JSON vs text)",
    calls=(
        *_JSON_RESPONSES,
        *_HTTP_EXCEPTIONS,
        *_DJANGO_RESPONSES,
        *_DRF_RESPONSES,
        *_FLASK_RESPONSES,
        *_AIOHTTP_JSON,
        *_TEXT_RESPONSES,
    ),
    nodes=(ast.Return, ModuleEnd),
    fix="Use one error shape everywhere (e.g. {'error': {'code': ..., 'message': ...}}), "
    "ideally produced by a single exception handler.",
)
def inconsistent_error_shape(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Collects the error responses of a module's handlers -- `HTTPException(detail=...)`,
    `JSONResponse(content, status_code>=400)`, `jsonify(...), 4xx` tuples, Django
    `JsonResponse(..., status=4xx)`, DRF `Response(..., status=4xx)`, aiohttp
    `web.json_response(..., status=4xx)` -- and flags those whose message key differs from
    the module's most common error shape (`{"error": ...}` here, `{"message": ...}` there,
    FastAPI's `{"detail": ...}` elsewhere), and a handler's error answered as plain text
    (`return "not found", 404`, `HttpResponseBadRequest("...")`,
    `PlainTextResponse(..., status_code=409)`, aiohttp `web.Response(text=..., status=409)`)
    where the module's errors are JSON. Health, readiness and liveness endpoints (`readyz`,
    `/healthz`...) and webhook receivers are left out: their failure payload answers the
    orchestrator's probe or the sender's retry logic, not an API client.

    ## Why it breaks production
    Clients parse errors by shape. When one endpoint answers `{"error": "..."}` and the next
    `{"message": "..."}`, client code that shows or logs the error reads `undefined` for half
    the endpoints: users see "Something went wrong" with no reason, retries and error-code
    handling key off the wrong field, and support tickets carry no detail.

    ## Example
    ```python
    @app.get("/users/{user_id}")
    def get_user(user_id: int):
        raise HTTPException(status_code=404, detail="user not found")   # {"detail": ...}

    @app.post("/users")
    def create_user(user: UserIn):
        return JSONResponse({"error": "email taken"}, status_code=409)  # {"error": ...}
    ```

    ## Use instead
    ```python
    @app.post("/users")
    def create_user(user: UserIn):
        raise HTTPException(status_code=409, detail="email taken")  # one shape everywhere
    ```
    """
    if isinstance(node, ast.Module):
        _judge_error_shapes(ctx)
        return
    if ctx.function is None or ctx.facts.is_test or is_framework_source(ctx) or _probe(ctx):
        return
    payload = _returned_error(node, ctx) if isinstance(node, ast.Return) else _error_call(node, ctx)
    if payload is not None:
        ctx.memo(_ERROR_PAYLOADS).append(payload)


_PROBE = re.compile(
    r"^_*(health|healthz|readyz|livez|ready|readiness|liveness|live|ping)(_|$)|webhook"
)
_PROBE_PATH = re.compile(
    r"(^|/)_*(health\w*|readyz|livez|ready|readiness|liveness|live|ping)/?$|webhook|/hooks?/"
)


def _probe(ctx: PythonContext) -> bool:
    """A health, readiness or liveness endpoint: its failure payload (``{"status":
    "unavailable"}, 503``) answers the orchestrator's probe, not an API client; a webhook
    receiver's errors answer the sender's retry logic, which reads only the status."""
    scope = ctx.function
    while scope is not None and scope.parent is not None:
        scope = scope.parent  # the handler, for a helper nested in it
    if scope is None:
        return False
    route = scope.route
    return bool(_PROBE.search(scope.name.lower())) or (
        route is not None and bool(_PROBE_PATH.search(route.path or ""))
    )


def _error_call(node: ast.AST, ctx: PythonContext) -> _ErrorPayload | None:
    if not isinstance(node, ast.Call) or has_star_kwargs(node):
        return None
    name = ctx.call_name or ""
    if name in _HTTP_EXCEPTIONS:
        detail = argument(node, 1, "detail")
        status = _status_code(argument(node, 0, "status_code"), ctx)
        if detail is None or status is None or status < 400:
            return None
        return _ErrorPayload(node, frozenset({"detail"}))
    if name in _JSON_RESPONSES:
        content, status_expr = argument(node, 0, "content"), argument(node, 1, "status_code")
    elif name in _DJANGO_RESPONSES or name in _DRF_RESPONSES:
        content, status_expr = argument(node, 0, "data"), keyword_value(node, "status")
        if status_expr is None and name in _DRF_RESPONSES:
            status_expr = argument(node, 1, "status")
    elif name in _FLASK_RESPONSES:
        content, status_expr = argument(node, 0), argument(node, 1)
    elif name in _AIOHTTP_JSON:
        content, status_expr = argument(node, 0, "data"), keyword_value(node, "status")
    elif name in _TEXT_RESPONSES:
        return _text_error(node, name, ctx)
    else:
        return None
    status = _status_code(status_expr, ctx)
    keys = _payload_keys(content, ctx)
    if status is None or status < 400 or keys is None:
        return None
    return _ErrorPayload(node, keys)


def _returned_error(node: ast.Return, ctx: PythonContext) -> _ErrorPayload | None:
    """Flask's ``return {"error": ...}, 400`` / ``return jsonify(...), 404``."""
    value = node.value
    if not isinstance(value, ast.Tuple) or len(value.elts) < 2:
        return None
    route = ctx.route
    if (route.framework if route is not None else ctx.facts.framework) not in {"flask", None}:
        return None  # FastAPI/Django do not read (body, status) tuples
    status = _status_code(value.elts[1], ctx)
    if status is None or status < 400:
        return None
    if _text(value.elts[0]) and ctx.route is not None:
        return _ErrorPayload(value.elts[0], frozenset({_TEXT_BODY}))  # return "not found", 404
    keys = _payload_keys(value.elts[0], ctx)
    if keys is None:
        return None
    return _ErrorPayload(value.elts[0], keys)


def _judge_error_shapes(ctx: PythonContext) -> None:
    found = ctx.memo(_ERROR_PAYLOADS)
    if len(found) < 2 or not in_service_code(ctx):
        return
    shapes = Counter(payload.message_keys for payload in found)
    if len(shapes) < 2:
        return
    dominant = shapes.most_common(1)[0][0]  # ties: the shape seen first
    dominant_text = _shape_text(dominant)
    for payload in found:
        if payload.message_keys & dominant:
            continue
        ctx.report(
            payload.node,
            f"error payload {_shape_text(payload.message_keys)} differs from this module's "
            f"usual {dominant_text}: clients reading one field miss the other. Use one error "
            "shape for every endpoint",
        )


def _shape_text(keys: frozenset[str]) -> str:
    if keys == {_TEXT_BODY}:
        return "a plain-text body"
    return "{" + ", ".join(f'"{key}": ...' for key in sorted(keys)) + "}"


def _text(expr: ast.AST | None) -> bool:
    """A message written out as text: a string literal or an f-string."""
    return isinstance(expr, ast.JoinedStr) or (
        isinstance(expr, ast.Constant) and isinstance(expr.value, str) and bool(expr.value)
    )


def _text_error(node: ast.Call, name: str, ctx: PythonContext) -> _ErrorPayload | None:
    """``HttpResponseBadRequest("missing id")``, ``PlainTextResponse("gone", status_code=410)``,
    ``web.Response(text="no seats", status=409)``: an error answered as text."""
    scope = ctx.function
    if scope is None or scope.route is None:
        return None  # a helper's text page may serve a browser flow (an OAuth redirect error)
    keyword, default = _TEXT_RESPONSES[name]
    body = argument(node, 0, keyword) if keyword == "content" else keyword_value(node, keyword)
    if not _text(body):
        return None
    if default is None and "PlainText" in name:
        status = _status_code(argument(node, 1, "status_code"), ctx)
    elif default is None:
        status = _status_code(keyword_value(node, "status"), ctx)  # Django: 2nd is content_type
    else:
        status = default
    if status is None or status < 400:
        return None
    return _ErrorPayload(node, frozenset({_TEXT_BODY}))
