"""Security: server-side requests to request-controlled hosts (SEC017)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, is_literal
from prodready.plugin.taint import URL_HOST_CHECK, report_deferred, sink_flow
from prodready.rules.security._shared import _host_deciding

# -- SEC017 ------------------------------------------------------------------------------------

_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_HTTP_CLIENT_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib3.")
_SSRF_SANITIZERS = frozenset({URL_HOST_CHECK})


def _outbound_url(node: ast.Call, name: str) -> ast.expr | None:
    """The URL argument of an HTTP client call (None: not a request)."""
    last = name.rsplit(".", 1)[-1]
    if name in {"urllib.request.urlopen", "urllib.request.Request"}:
        return argument(node, 0, "url")
    if not name.startswith(_HTTP_CLIENT_PREFIXES):
        return None
    if last in _HTTP_VERBS or last in {"ws_connect", "urlopen"}:
        return argument(node, 0, "url")
    if last in {"request", "stream"}:
        return argument(node, 1, "url")
    return None


@python_rule(
    code="SEC017",
    name="server-side-request-forgery",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Outbound HTTP request to a URL taken from the request (SSRF)",
    calls=("requests.*", "httpx.*", "aiohttp.*", "urllib3.*", "urllib.request.*"),
    nodes=(ModuleEnd,),
    cwe=918,
    fix="Only fetch hosts from an allow-list: check urlparse(url).hostname in ALLOWED_HOSTS.",
)
def server_side_request_forgery(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `requests`, `httpx` (functions and `Client`/`AsyncClient` methods), `aiohttp`
    session methods, `urllib3` and `urllib.request.urlopen` calls whose URL comes from the
    request in the part that decides the host -- `requests.get(url)` with `url` from a query
    parameter, or `f"https://{host}/api"`. URLs whose host is fixed by the code
    (`f"{API_BASE}/users/{user_id}"`, `f"https://api.example.com/items/{sku}"`) are fine, as
    are functions that check the host first (`urlparse(url).hostname in ALLOWED_HOSTS`,
    `url.startswith("https://api.example.com/")`, an `is_allowed_url(url)` helper). When the
    URL is put together on another line (`target = url or DEFAULT_URL`, an f-string,
    `urljoin(base, ...)`), the finding is there and names the line of the request; a URL
    that reaches a Celery/RQ/Dramatiq task through its message counts as the client's.

    ## Why it breaks production
    The service fetches whatever the client names, from inside your network: the cloud
    metadata endpoint (`http://169.254.169.254/` -- instance credentials), admin ports on
    localhost, internal services without authentication, and file or gopher URLs in some
    clients. Responses or timing leak what is there; webhooks, URL previews and "import from
    URL" features are the usual entry points.

    ## Example
    ```python
    @app.post("/preview")
    def preview(url: str):
        page = requests.get(url, timeout=5)
        return {"title": extract_title(page.text)}
    ```

    ## Use instead
    ```python
    @app.post("/preview")
    def preview(url: str):
        if urlparse(url).hostname not in ALLOWED_PREVIEW_HOSTS:
            raise HTTPException(400, "host not allowed")
        page = requests.get(url, timeout=5, allow_redirects=False)
        return {"title": extract_title(page.text)}
    ```
    When any public URL must be accepted, resolve the host and refuse private, loopback and
    link-local addresses, and do not follow redirects blindly.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    url = _outbound_url(node, name)
    if url is None or is_literal(url):
        return
    deciding = _host_deciding(url, ctx)
    if not deciding:
        return
    parts = name.split(".")
    if len(parts) > 2 and parts[-2][:1].isupper():
        short = f"{parts[-2]}.{parts[-1]}"  # ``Session.get``, ``AsyncClient.post``
    elif parts[0] in {"requests", "httpx", "urllib3"}:
        short = f"{parts[0]}.{parts[-1]}"
    else:
        short = parts[-1]

    chosen = _composed_binding(url, node, ctx)

    def report(source: str) -> None:
        if chosen is not None:
            ctx.report(
                chosen,
                f"the URL that {short}() on line {node.lineno} fetches is chosen here from "
                f"{source}: the client can make the service call internal addresses -- cloud "
                "metadata (169.254.169.254), localhost admin ports, internal APIs (server-side "
                "request forgery). Check urlparse(url).hostname against an allow-list (and "
                "refuse private IPs) before fetching",
            )
            return
        ctx.report(
            node,
            f"{short}() fetches a URL taken from {source}: the client can make the service "
            "call internal addresses -- cloud metadata (169.254.169.254), localhost admin "
            "ports, internal APIs (server-side request forgery). Check urlparse(url).hostname "
            "against an allow-list (and refuse private IPs) before fetching",
        )

    sink_flow(deciding, ctx, report, sanitizers=_SSRF_SANITIZERS, web_only=True)


# How a URL is put together from parts: a fallback (``url or DEFAULT_URL``), a choice, a
# formatted string or a join.
_COMPOSING = (ast.BoolOp, ast.IfExp, ast.JoinedStr, ast.BinOp)
_JOINING_CALLS = frozenset({"format", "urljoin", "join", "replace", "with_path"})


def _composed_binding(url: ast.expr, call: ast.Call, ctx: PythonContext) -> ast.expr | None:
    """Where the URL passed by name is put together from the client's value and other parts,
    on another line than the request (``target = url or CARRIER_URLS[carrier]`` ...
    ``requests.get(target)``): the line a reviewer fixes. A plain alias of the request value
    (``url = request.args["url"]``) is reported at the request."""
    if not isinstance(url, ast.Name):
        return None
    bound = ctx.value_of(url.id)
    if bound is None or bound is url or bound.lineno == call.lineno:
        return None
    if isinstance(bound, _COMPOSING):
        return bound
    func = bound.func if isinstance(bound, ast.Call) else None
    if isinstance(func, ast.Attribute | ast.Name):
        last = func.attr if isinstance(func, ast.Attribute) else func.id
        return bound if last in _JOINING_CALLS else None
    return None
