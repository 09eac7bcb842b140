"""Security: server-side requests to request-controlled hosts (SEC017)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, is_literal
from prodready.plugin.taint import URL_HOST_CHECK, report_deferred, sink_flow
from prodready.rules.security._input_origin import OriginReport
from prodready.rules.security._shared import _host_deciding

# -- SEC017 ------------------------------------------------------------------------------------

_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
_HTTP_CLIENT_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib3.")
_SSRF_SANITIZERS = frozenset({URL_HOST_CHECK})
_URLLIB_OPENERS = frozenset(
    {"urllib.request.urlopen", "urllib.request.Request", "urllib.request.urlretrieve"}
)


def _outbound_url(node: ast.Call, name: str) -> ast.expr | None:
    """The URL argument of an HTTP client call (None: not a request)."""
    last = name.rsplit(".", 1)[-1]
    if name in _URLLIB_OPENERS:
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

    urllib's openers (`urlopen`, `urlretrieve`, `Request`) given a URL that is not provably
    constant, with no request data seen reaching it, are reported at low severity and
    confidence (an audit, like Bandit's B310): they also open `file://` and `ftp://` URLs.

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
    if not deciding or _guarding_transport(node, ctx):
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

    if name not in _URLLIB_OPENERS:
        sink_flow(deciding, ctx, report, sanitizers=_SSRF_SANITIZERS, web_only=True)
        return

    def audit(part: str) -> None:
        ctx.report(
            node,
            f"{short}() opens a URL built from {part}, which is not provably constant; no "
            "request data was seen reaching it. urllib also opens file:// and ftp:// URLs, so "
            "whoever chooses that value can read local files or reach internal hosts. Check "
            "the scheme (http/https) and the host before opening it",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )

    bound = ctx.value_of(url.id) if isinstance(url, ast.Name) else url
    if (
        bound is not node
        and isinstance(bound, ast.Call)
        and ctx.qualname(bound.func) == "urllib.request.Request"
    ):
        return  # ``urlopen(Request(url))``: judged where the Request is made
    # urllib's openers: the audit tier too (Bandit B310), for a URL no request reaches.
    OriginReport(node, ctx, request=report, audit=audit, sanitizers=_SSRF_SANITIZERS).run(
        deciding, [url]
    )


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


def _guarding_transport(call: ast.Call, ctx: PythonContext) -> bool:
    """``async with AsyncClient(transport=SafeTransport()) as client: client.get(url)``: a
    transport of the project's (or a library's other than httpx's own) sits between the
    client and the network and may refuse private addresses -- the usual SSRF guard for
    httpx. httpx's ``HTTPTransport(retries=3)`` guards nothing."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return False
    receiver = func.value.id
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    made: list[ast.expr] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            if node.optional_vars.id == receiver:
                made.append(node.context_expr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == receiver for t in node.targets
        ):
            made.append(node.value)
    for client in made:
        if not isinstance(client, ast.Call):
            continue
        transport = next((k.value for k in client.keywords if k.arg == "transport"), None)
        if isinstance(transport, ast.Call) and not (ctx.qualname(transport.func) or "").startswith(
            "httpx."
        ):
            return True
    return False
