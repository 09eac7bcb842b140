"""Security: redirects to request-controlled URLs (SEC015)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    SAFE_REDIRECT_KIND,
    URL_HOST_KIND,
    argument,
    guard_fact,
    is_literal,
    project_callee,
)
from prodready.plugin.taint import SAFE_REDIRECT_CHECK, URL_HOST_CHECK, report_deferred, sink_flow
from prodready.rules.security._shared import _host_deciding

# -- SEC015 ------------------------------------------------------------------------------------

_REDIRECTS = (
    "flask.redirect",
    "flask.helpers.redirect",
    "werkzeug.utils.redirect",
    "quart.redirect",
    "django.shortcuts.redirect",
    "django.http.HttpResponseRedirect",
    "django.http.response.HttpResponseRedirect",
    "django.http.HttpResponsePermanentRedirect",
    "django.http.response.HttpResponsePermanentRedirect",
    "starlette.responses.RedirectResponse",
    "fastapi.responses.RedirectResponse",
)
_REDIRECT_SANITIZERS = frozenset(
    {"flask.url_for", "flask.helpers.url_for", "url_for", "django.urls.reverse", "reverse"}
    | {"django.urls.reverse_lazy", "reverse_lazy", SAFE_REDIRECT_CHECK, URL_HOST_CHECK}
    # the service's own address: not chosen by whoever wrote the link
    | {"request.url", "request.base_url", "request.url_root", "request.host_url"}
    | {"request.path", "request.full_path", "request.path_info", "request.script_root"}
)


@python_rule(
    code="SEC015",
    name="open-redirect",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="Redirect to a URL taken from the request: links to your site bounce to phishing",
    calls=_REDIRECTS,
    nodes=(ModuleEnd,),
    cwe=601,
    fix="Redirect only to relative paths or allowed hosts (url_has_allowed_host_and_scheme), "
    "or to url_for()/reverse() of a view.",
)
def open_redirect(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags Flask `redirect`, Django `redirect`/`HttpResponseRedirect` and Starlette/FastAPI
    `RedirectResponse` whose target URL comes from the request (`?next=`, a form field, a
    handler parameter) in the part that decides the host: `redirect(f"/orders/{order_id}")`
    and `redirect(f"{FRONTEND_URL}/done?ref={ref}")` keep their host and are fine. Not
    reported either: targets built with `url_for()`/`reverse()`, and functions that check
    the URL first (`url_has_allowed_host_and_scheme`, an `is_safe_url` helper,
    `urlparse(url).netloc` tests, or `url.startswith("/") and not url.startswith("//")`) --
    also when the condition checks the same read of the request as the redirect uses
    (`if is_safe_url(request.args.get("next")): return redirect(request.args.get("next"))`).
    Redirects to the `Referer` or to the current request's own URL are not reported.

    Evidence tier: when the target is a field of the object a method or function returned
    (`checkout = service.create_from_link(slug)` or `link = find_short_link(key)`, then
    `checkout.url`: a record the service built or looked up from the client's value),
    whether the client's text decides that URL's host is not visible here; the finding is low
    (confidence low) and says so. An object a class called here builds stays medium.

    ## Why it breaks production
    A link such as `https://your-bank.example/login?next=https://your-bank.example.evil.io`
    looks trustworthy, and after the login the user lands on the attacker's copy of your site,
    which asks for the password again or for a payment. Open redirects also defeat OAuth
    redirect-URI checks and turn up in every security review and bug-bounty report.

    ## Example
    ```python
    @app.post("/login")
    def login():
        ...
        return redirect(request.args.get("next", "/"))
    ```

    ## Use instead
    ```python
    @app.post("/login")
    def login():
        ...
        target = request.args.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        return redirect(target)
    ```
    Django: `url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    target = (
        argument(node, 0, "location")
        or argument(node, None, "url")
        or argument(node, None, "to")
        or argument(node, None, "redirect_to")
    )
    if target is None or is_literal(target):
        return
    deciding = _host_deciding(target, ctx)
    if not deciding:
        return
    checked_by = _checks_of_same_read(target, node, ctx)
    name = (ctx.call_name or "redirect").rsplit(".", 1)[-1]

    def report(source: str) -> None:
        if "referer" in source.lower() or "referrer" in source.lower():
            return  # back to the page the user came from: the attacker gains nothing
        producer = _returned_by(source, ctx)
        if producer is not None:
            ctx.report(
                node,
                f"{name}() sends the browser to a URL taken from {source}, a field of what "
                f"`{producer}()` returned (a record it built or looked up from the client's "
                "value): whether the client's text decides that URL's host is not visible "
                "here, so this could not be told. If it can, redirect only to relative paths "
                "or allowed hosts (url_has_allowed_host_and_scheme, url_for/reverse)",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            return
        ctx.report(
            node,
            f"{name}() sends the browser to a URL taken from {source}: a link to this "
            "endpoint can bounce your users to any site, e.g. a look-alike login page (open "
            "redirect). Redirect only to relative paths or allowed hosts "
            "(url_has_allowed_host_and_scheme, url_for/reverse)",
            unless=[
                ProjectFact(fact, "a project function checks the target") for fact in checked_by
            ],
        )

    sink_flow(deciding, ctx, report, sanitizers=_REDIRECT_SANITIZERS, web_only=True)


def _request_read(expr: ast.expr) -> bool:
    """``request.args.get("next")``, ``request.GET["next"]``: a read of one constant key of
    a mapping reached by attributes -- the same value every time within the request."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        owner: ast.expr = expr.func.value
        keyed = expr.func.attr == "get" and bool(expr.args) and is_literal(expr.args[0])
    elif isinstance(expr, ast.Subscript):
        owner, keyed = expr.value, is_literal(expr.slice)
    else:
        return False
    while isinstance(owner, ast.Attribute):
        owner = owner.value
    return keyed and isinstance(owner, ast.Name)


def _checks_of_same_read(target: ast.expr, node: ast.Call, ctx: PythonContext) -> tuple[str, ...]:
    """The facts under which a condition the redirect sits under checks the same request read
    as the redirect target (``if is_safe_url(request.args.get("next")): return
    redirect(request.args.get("next"))``): a project function of another module that checks
    its argument the way a redirect needs holds the value to its own host."""
    if not _request_read(target):
        return ()
    read = ast.dump(target)
    facts: list[str] = []
    parents = ctx.parents()
    child: ast.AST = node
    parent = parents.get(id(node))
    while parent is not None:
        if isinstance(parent, ast.If) and any(child is item for item in parent.body):
            for call in ast.walk(parent.test):
                if not isinstance(call, ast.Call):
                    continue
                callee = project_callee(call, ctx)
                for position, argument in enumerate(call.args):
                    if callee is not None and ast.dump(argument) == read:
                        kinds = (SAFE_REDIRECT_KIND, URL_HOST_KIND)
                        facts.extend(guard_fact(kind, callee, position) for kind in kinds)
        child, parent = parent, parents.get(id(parent))
    return tuple(facts)


_FIELD = re.compile(r"`([A-Za-z_]\w*)\.\w")


def _returned_by(source: str, ctx: PythonContext) -> str | None:
    """The method whose returned object the tainted field belongs to (``checkout =
    service.create_from_link(slug)``; the source is ``checkout.url``), None when the field is
    read from a parameter (a request body) or anything else."""
    match = _FIELD.search(source)
    scope = ctx.function
    if match is None or scope is None:
        return None
    root = match.group(1)
    if any(param.arg == root for param in scope.params):
        return None
    value = ctx.value_of(root)
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return None
    if isinstance(value.func, ast.Name) and not value.func.id[:1].isupper():
        # ``link = await find_short_link(key)``: a function's row looked up by the key; a
        # class called here (``Target(to)``) builds its object from the request instead
        return value.func.id
    if not isinstance(value.func, ast.Attribute):
        return None
    return value.func.attr
