"""Security: the caller's identity taken from the request when the session has none (SEC061)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, dotted

# -- SEC061 ------------------------------------------------------------------------------------

# What the client sends: Flask/Quart request.json/form/args/values, get_json(); Django
# request.POST/GET/body; DRF request.data/query_params; Starlette/FastAPI query_params.
_CLIENT_PARTS = frozenset(
    {"json", "form", "args", "values", "data", "POST", "GET", "query_params", "get_json"}
)
# The identity the server established: a session entry or the authenticated user.
_SESSION_OWNERS = frozenset({"session", "request.session", "self.request.session"})
_USER_OWNERS = frozenset(
    {"request.user", "self.request.user", "current_user", "g.user", "request.state.user"}
)
# Keys naming who the caller is (``rider_id``, ``customer_id``, ``user``), not what is acted on.
_WHO = re.compile(
    r"^(?:user|uid|account|customer|client|member|rider|driver|patient|buyer|seller|owner|"
    r"author|sender|employee|tenant|player|subscriber|guest|student|doctor|agent)(?:_?id)?$",
    re.IGNORECASE,
)


def _key(call_or_subscript: ast.AST) -> str | None:
    """``x.get("k")`` / ``x["k"]`` -> ``"k"``."""
    if isinstance(call_or_subscript, ast.Call) and call_or_subscript.args:
        func = call_or_subscript.func
        if isinstance(func, ast.Attribute) and func.attr == "get":
            return constant_str(call_or_subscript.args[0])
        return None
    if isinstance(call_or_subscript, ast.Subscript):
        return constant_str(call_or_subscript.slice)
    return None


def _container(expr: ast.AST) -> ast.AST | None:
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.value
    if isinstance(expr, ast.Subscript):
        return expr.value
    return None


def _server_identity(expr: ast.AST, ctx: PythonContext) -> str | None:
    """``session.get("rider_id")``, ``request.user.id``, ``current_user.id``: the key or
    attribute naming the identity the server holds for this caller."""
    owner = _container(expr)
    if owner is not None and (dotted(owner) or "") in _SESSION_OWNERS:
        return _key(expr)
    if isinstance(expr, ast.Attribute) and (dotted(expr.value) or "") in _USER_OWNERS:
        return expr.attr
    return None


def _from_client(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> bool:
    """The value is (part of) what the client sent: ``request.json``, ``request.get_json()``,
    a local bound to one."""
    if expr is None or depth > 3:
        return False
    if isinstance(expr, ast.Await):  # ``await request.json()`` (Starlette)
        return _from_client(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.Call):
        return _from_client(expr.func, ctx, depth + 1)
    if isinstance(expr, ast.Attribute):
        if expr.attr in _CLIENT_PARTS and (dotted(expr.value) or "").endswith("request"):
            return True
        return _from_client(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.Name):
        return _from_client(ctx.value_of(expr.id), ctx, depth + 1)
    return False


def _client_identity(expr: ast.AST, ctx: PythonContext) -> str | None:
    """``data.get("rider_id")`` with ``data = request.get_json()``: the identity key the
    client chose."""
    key = _key(expr)
    if key is None or not _WHO.match(key):
        return None
    return key if _from_client(_container(expr), ctx) else None


def _same_person(server: str, client: str) -> bool:
    """``rider_id`` in the session and ``rider_id`` in the body; ``id`` of the user and a
    ``user_id``/``customer_id`` in the body."""
    return server == client or server in {"id", "pk"} or client.startswith(server)


@python_rule(
    code="SEC061",
    name="identity-from-request-fallback",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Caller identity falls back to an id the client sends when the session has none",
    nodes=(ast.BoolOp, ast.IfExp),
    cwe=639,
    fix="Take the identity only from the session or the authenticated user; answer 401 when "
    "there is none.",
)
def identity_from_request_fallback(node: ast.BoolOp | ast.IfExp, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags an expression that takes the caller's identity from the session or the
    authenticated user and, when that is missing, from the request instead:
    `session.get("rider_id") or data.get("rider_id")` (Flask, `data = request.get_json()`),
    `request.session.get("customer_id") or request.POST.get("customer_id")` (Django),
    `request.user.id if request.user.is_authenticated else request.data["user_id"]` (DRF),
    `current_user.id or request.json["user_id"]` -- or the request's value first and the
    session's as the fallback, which lets every caller override its identity. Only keys that
    name who the caller is (`user_id`, `rider_id`, `customer_id`, `account`, ...) are
    considered, and only values read from the request body or query.

    ## Why it breaks production
    The fallback runs exactly when the caller is not logged in: an anonymous client then
    states whom it acts as, and the service starts rides, places orders or reads records in
    another person's name and bills them. Nothing in the logs distinguishes it from a real
    session.

    ## Example
    ```python
    @app.post("/orders")
    def place_order():
        body = request.get_json()
        customer_id = session.get("customer_id") or body.get("customer_id")
        ...
    ```

    ## Use instead
    ```python
    @app.post("/orders")
    def place_order():
        customer_id = session.get("customer_id")
        if customer_id is None:
            abort(401)
    ```
    """
    if ctx.facts.is_test or ctx.function is None:
        return
    if isinstance(node, ast.BoolOp):
        if not isinstance(node.op, ast.Or):
            return
        # Either order: the request's value as the fallback, or (worse) as the first choice.
        servers = [k for k in (_server_identity(v, ctx) for v in node.values) if k is not None]
        clients = [k for k in (_client_identity(v, ctx) for v in node.values) if k is not None]
    else:
        servers = [k for k in (_server_identity(node.body, ctx),) if k is not None]
        clients = [k for k in (_client_identity(node.orelse, ctx),) if k is not None]
    for client in clients:
        if any(_same_person(server, client) for server in servers):
            _report(node, client, ctx)
            return


def _report(node: ast.AST, key: str, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"when the session has no identity this takes `{key}` from the request: an "
        "unauthenticated client names whom it acts as and the service acts (and bills) in "
        "that person's name. Use only the session's or the authenticated user's identity and "
        "answer 401 without one",
    )
