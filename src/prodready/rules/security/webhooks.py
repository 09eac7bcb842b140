"""Security: webhooks acted on without verifying who sent them (SEC040)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import dotted, keyword_value
from prodready.rules.security._admin_auth_evidence import (
    _auth_name,
    auth_dependencies,
    authenticating_class,
)

# -- SEC040 ------------------------------------------------------------------------------------

_WEBHOOK_NAME = re.compile(
    r"webhook|web_hook|(^|[/_\-\s])(hooks?|ipn|callbacks?)($|[/_\-\s])"
    r"|(?-i:(?<=[a-z])(Hook|Ipn|Callback)(?=[A-Z]|$|\s))",
    re.IGNORECASE,
)
# Anything that may authenticate the sender: a provider SDK's verification, an HMAC or
# constant-time compare, a signature or token header, an auth decorator or dependency.
_VERIFICATION = re.compile(
    r"construct_event|compare_digest|hmac|signature|\bsig\b|_sig\b|\bsig_|verif|validat|"
    r"signing|secret|token|authenticat|authoriz|login_required|permission|api_key|apikey|"
    r"headers|META\[|META\.get|Security\(",
    re.IGNORECASE,
)
_CSRF_EXEMPT = frozenset({"django.views.decorators.csrf.csrf_exempt", "csrf_exempt"})
_BODY_ATTRIBUTES = frozenset({"body", "data", "json", "POST", "form", "stream"})
_BODY_METHODS = frozenset({"json", "get_json", "body", "read", "text", "post", "get_data"})
_PARSERS = frozenset({"json.loads", "orjson.loads", "ujson.loads", "simplejson.loads"})


def _decorator_name(decorator: ast.expr, ctx: PythonContext) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ctx.qualname(target) or dotted(target) or ""


_GLOBAL_REQUESTS = frozenset({"flask.request", "quart.request"})


def _is_request(expr: ast.expr, request: str, ctx: PythonContext) -> bool:
    return dotted(expr) == request or ctx.qualname(expr) in _GLOBAL_REQUESTS


def _body_read(node: ast.AST, request: str, ctx: PythonContext) -> bool:
    """``request.body``, ``request.get_json()``, ``await request.json()`` of the handler's
    request object (or Flask's global ``request`` under any alias)."""
    if isinstance(node, ast.Attribute) and _is_request(node.value, request, ctx):
        return node.attr in _BODY_ATTRIBUTES
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _is_request(node.func.value, request, ctx) and node.func.attr in _BODY_METHODS
    return False


def _request_name(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    params = [*function.args.posonlyargs, *function.args.args]
    if params and params[0].arg in {"self", "cls"}:
        params = params[1:]
    for param in params:
        if param.arg in {"request", "req"}:
            return param.arg
    return "request"


def _hands_request_on(
    function: ast.FunctionDef | ast.AsyncFunctionDef, request: str, ctx: PythonContext
) -> bool:
    """The raw request (or its raw body) is passed to another function: verification may
    happen there, out of sight."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        callee = ctx.qualname(node.func) or dotted(node.func) or ""
        if callee in _PARSERS or (
            isinstance(node.func, ast.Attribute) and _body_read(node, request, ctx)
        ):
            continue
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
            if _is_request(argument, request, ctx):
                return True
            if (
                isinstance(argument, ast.Attribute)
                and argument.attr != "json"  # parsed JSON is data, the raw body is evidence
                and _body_read(argument, request, ctx)
            ):
                return True
    return False


def _verifying_dependency(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """A FastAPI ``Depends(...)`` that may authenticate the sender: one named for it
    (``Depends(verify_signature)``, ``Depends(get_current_user)``), one whose function in this
    module verifies something, or one whose target cannot be told (``Depends()``). A session or
    settings dependency (``db=Depends(get_db)``) verifies nothing."""
    params = [*function.args.args, *function.args.kwonlyargs]
    if any(_auth_name(arg.arg) for arg in params):
        return True  # ``auth_subject: WebhooksWrite``: an identity injected through an alias
    places: list[ast.AST] = [*function.args.defaults]
    places += [default for default in function.args.kw_defaults if default is not None]
    places += [arg.annotation for arg in function.args.args if arg.annotation is not None]
    places += [d for d in function.decorator_list if isinstance(d, ast.Call)]
    local = {
        statement.name: statement
        for statement in ctx.tree.body
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for place in places:
        for call in ast.walk(place):
            if not isinstance(call, ast.Call):
                continue
            injector = ctx.qualname(call.func) or dotted(call.func) or ""
            if injector != "Depends" and not injector.endswith(".Depends"):
                continue
            if not call.args:
                return True
            target = call.args[0]
            name = ctx.qualname(target) or dotted(target) or ""
            if not name or _auth_name(name):
                return True
            defined = local.get(name)
            if defined is not None and _VERIFICATION.search(ctx.segment(defined)):
                return True
    return False


def authed_class_fact(name: str) -> ProjectFact:
    """The class ``name`` (its bare name: a base is imported under its defining module's or a
    re-exporting package's name) makes every route of its subclasses need a signed-in caller."""
    return ProjectFact(f"authed-class:{name}", "a base controller class authenticates its routes")


def _compute_local_authed_classes(ctx: PythonContext) -> frozenset[str]:
    """Classes of this module that authenticate every route of theirs and their subclasses':
    an identity dependency declared as a class attribute, or such a class of the module as a
    base."""
    authed: set[str] = set()
    for statement in ctx.tree.body:
        if isinstance(statement, ast.ClassDef) and (
            authenticating_class(statement, ctx)
            or any(dotted(base) in authed for base in statement.bases)
        ):
            authed.add(statement.name)
    return frozenset(authed)


_LOCAL_AUTHED_CLASSES: ModuleMemo[frozenset[str]] = ModuleMemo(
    "sec040:authed-classes", _compute_local_authed_classes
)


def _local_authed_classes(ctx: PythonContext) -> frozenset[str]:
    return ctx.memo(_LOCAL_AUTHED_CLASSES)


def _router_authenticates(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """The route is declared on ``router = APIRouter(dependencies=[Depends(current_user)])``."""
    receivers = {
        dotted(decorator.func.value)
        for decorator in function.decorator_list
        if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
    }
    for statement in ctx.tree.body:
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Call)
            and any(dotted(target) in receivers for target in statement.targets)
            and auth_dependencies(keyword_value(statement.value, "dependencies"), ctx)
        ):
            return True
    return False


def _behind_authentication(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> tuple[bool, tuple[ProjectFact, ...]]:
    """Whether the route's class or router requires a signed-in caller here, and the facts of
    base classes defined elsewhere any of which would say so."""
    if _router_authenticates(function, ctx):
        return True, ()
    if not ctx.classes:
        return False, ()
    owner = ctx.classes[-1].node
    local = _local_authed_classes(ctx)
    if owner.name in local or authenticating_class(owner, ctx):
        return True, ()
    bases = [(dotted(base) or "").rsplit(".", 1)[-1] for base in owner.bases]
    return False, tuple(authed_class_fact(base) for base in bases if base and base not in local)


@python_rule(
    code="SEC040",
    name="webhook-without-signature-check",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Webhook endpoint acts on the posted event without verifying its signature",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef),
    cwe=345,
    fix="Verify the provider's signature on the raw body before parsing it: "
    "stripe.Webhook.construct_event(payload, sig_header, secret), or hmac.compare_digest on "
    "an HMAC of the body.",
)
def webhook_without_signature_check(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags webhook handlers -- state-changing routes whose path, function or view class name
    says `webhook`, `hook`, `ipn` or `callback` (a payment provider's POST callback), and
    Django views marked `@csrf_exempt` named so -- that parse
    the posted event without anything that could authenticate its sender: no provider SDK
    verification (`stripe.Webhook.construct_event`, `svix`, `RequestValidator`), no HMAC or
    `hmac.compare_digest`, no signature or token header read, no auth decorator or
    dependency. Handlers that pass the raw request or body to another function (which may
    verify it) are left alone, and so are routes behind a signed-in user: an identity
    dependency on the route, on its router (`APIRouter(dependencies=[Depends(current_user)])`)
    or as a class attribute of its controller class or a base class of it anywhere in the
    project (`user = Depends(get_current_user)` on a class-based-view base). Those manage
    the project's own (outgoing) webhook settings; a receiver is reachable without a user.

    ## Why it breaks production
    A webhook URL is public and easy to guess. Without a signature check anyone can post
    `payment_intent.succeeded` or `envelope.completed` for any order: goods ship unpaid,
    subscriptions activate, documents count as signed. For Django views `@csrf_exempt`
    removes the only other request check there was.

    ## Example
    ```python
    @app.route("/webhooks/stripe", methods=["POST"])
    def stripe_webhook():
        event = json.loads(request.data)
        if event["type"] == "payment_intent.succeeded":
            mark_paid(event["data"]["object"]["id"])
        return "", 200
    ```

    ## Use instead
    ```python
    @app.route("/webhooks/stripe", methods=["POST"])
    def stripe_webhook():
        event = stripe.Webhook.construct_event(
            request.data, request.headers["Stripe-Signature"], settings.STRIPE_WEBHOOK_SECRET
        )
        ...
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.ClassDef):
        if node.name in _local_authed_classes(ctx):
            ctx.establish(authed_class_fact(node.name))
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    scope = ctx.function
    route = scope.route if scope is not None else None
    exempt = next((d for d in node.decorator_list if _decorator_name(d, ctx) in _CSRF_EXEMPT), None)
    owner = ctx.classes[-1].node.name if ctx.classes else ""  # class StripeWebhookView: post()
    if route is not None:
        named = f"{route.path or ''} {node.name} {owner}"
        if not route.writes or not _WEBHOOK_NAME.search(named):
            return
    elif exempt is None or not _WEBHOOK_NAME.search(node.name):
        return
    source = "\n".join([*(ctx.segment(d) for d in node.decorator_list), ctx.segment(node)])
    if _VERIFICATION.search(source) or _verifying_dependency(node, ctx):
        return
    request = _request_name(node)
    if _hands_request_on(node, request, ctx):
        return
    authed, unless = _behind_authentication(node, ctx)
    if authed:
        return
    read = next((n for n in ast.walk(node) if _body_read(n, request, ctx)), None)
    if read is None and route is not None and route.framework != "fastapi":
        return  # the handler reads no posted event
    where: ast.AST = exempt or read or node
    ctx.report(
        where,
        f"webhook handler {node.name}() acts on the posted event without verifying its "
        "signature: anyone who knows the URL can forge events (payments marked paid, "
        "documents signed). Verify the provider's signature on the raw body first"
        + (" -- @csrf_exempt removed the only other request check" if exempt else ""),
        unless=unless,
    )
