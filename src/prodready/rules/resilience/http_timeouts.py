"""Resilience: HTTP calls without a timeout (RES001)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    argument,
    constant_str,
    has_keyword,
    has_star_kwargs,
    is_none,
    is_true,
    keyword_value,
)
from prodready.rules.resilience._caller_bounds import (
    bounded_by_callers_fact,
    in_reconnect_loop,
    job_time_limit,
    record_caller_bounds,
)
from prodready.rules.resilience._default_timeouts import (
    DEFAULT_TIMEOUT_PATCHES,
    REQUESTS_DEFAULT_TIMEOUT,
    SOCKET_DEFAULT_TIMEOUT,
    mounted_adapters,
    record_default_timeout,
    record_timeout_adapter,
    timeout_adapter,
)
from prodready.rules.resilience._shared import _REQUESTS_CALLS, _VERBS, PRODUCTION_ROLES

_HTTPX_CALLS = (
    *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
    *(f"httpx.Client.{verb}" for verb in (*_VERBS, "stream")),
    *(f"httpx.AsyncClient.{verb}" for verb in (*_VERBS, "stream")),
    "httpx.Client",
    "httpx.AsyncClient",
)
# Callee -> position of a positional ``timeout`` argument (None: keyword only).
_NO_DEFAULT_TIMEOUT = {
    "urllib.request.urlopen": 2,
    "http.client.HTTPConnection": 2,
    "http.client.HTTPSConnection": 2,
    "urllib3.PoolManager": None,
    "urllib3.request": None,
    "urllib3.HTTPConnectionPool": None,
    "urllib3.HTTPSConnectionPool": None,
    "urllib3.connection_from_url": None,
}
_AIOHTTP_CALLS = ("aiohttp.ClientSession", "aiohttp.request", "aiohttp.ClientTimeout")
_TIMEOUT_FIX = "Pass an explicit timeout, e.g. timeout=(3.05, 10) for (connect, read) seconds."


def _mounts_adapter(ctx: PythonContext) -> bool:
    """A module that mounts an HTTPAdapter usually gives its sessions a default timeout there."""
    return ctx.memo(_MOUNTS_ADAPTER)


_MOUNTS_ADAPTER: ModuleMemo[bool] = ModuleMemo(
    "RES001:adapter", lambda ctx: "HTTPAdapter" in ctx.source and ".mount(" in ctx.source
)


@python_rule(
    code="RES001",
    name="http-call-without-timeout",
    category=Category.RESILIENCE,
    roles=PRODUCTION_ROLES,
    severity=Severity.HIGH,
    summary="Outbound HTTP call that can wait forever (no timeout, or timeout=None)",
    calls=(
        *_REQUESTS_CALLS,
        *_HTTPX_CALLS,
        *_NO_DEFAULT_TIMEOUT,
        *_AIOHTTP_CALLS,
        "socket.setdefaulttimeout",
    ),
    attributes=DEFAULT_TIMEOUT_PATCHES,
    nodes=(ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
    fix=_TIMEOUT_FIX,
)
def http_call_without_timeout(
    node: ast.Call | ast.Attribute | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
) -> None:
    """
    ## What it does
    Flags outbound HTTP requests that have no timeout: `requests` calls without `timeout=`,
    `urllib.request.urlopen`, `http.client` connections and `urllib3` pools without one,
    `aiohttp` sessions left on their 5-minute default (unless every request made on the
    session in the function that opens it passes its own `timeout=`), and any client given
    `timeout=None`. An aiohttp session kept in shared state (`app["http"]`, `self.http`) whose
    requests the module does not make without a timeout is reported at low severity and
    confidence (its requests are elsewhere, unseen, and may each pass `timeout=`); one whose
    requests in the module pass none keeps the normal severity.

    ## Why it breaks production
    `requests`, `urllib` and `urllib3` wait *forever* by default. When the upstream hangs
    (overloaded, half-open TCP connection, a firewall dropping packets) every worker thread that
    calls it blocks, the pool fills, health checks start failing and the outage spreads to every
    endpoint of the service -- not just the one that needed the slow dependency.

    ## Example
    ```python
    resp = requests.get(f"{PAYMENTS_URL}/charges/{charge_id}")
    ```

    ## Use instead
    ```python
    resp = requests.get(f"{PAYMENTS_URL}/charges/{charge_id}", timeout=(3.05, 10))
    ```
    Choose the read timeout from the upstream's latency SLO, and keep it below the timeout of
    whoever calls you.

    A project that installs a default for every call is not flagged: a service module that
    replaces `requests.adapters.HTTPAdapter.send` (or `requests.Session.request`/`send`) with a
    wrapper that sets `timeout` when none is given covers the `requests` calls of its whole
    project, and `socket.setdefaulttimeout(n)` covers `urllib`, `http.client` and `urllib3`
    (not `requests`, which passes `None` down and so disables the socket default). A session
    call in a module that mounts a project adapter class (`session.mount("https://",
    TimeoutAdapter())`) whose `send` sets `timeout` is covered too. A wrapper or adapter that
    only logs, or a default set by a test module, covers nothing.

    A coroutine's call is bounded by its callers when the project awaits that coroutine only
    under a deadline -- `asyncio.wait_for(f(), 30)` (or a task of it waited for so),
    `async with asyncio.timeout(30)`, anyio's or trio's `fail_after`/`move_on_after` -- directly
    or through private coroutines (`_send()`) a couple of levels up: then it is not reported.
    A method called on a value of unknown class is known by its name alone, so the project's
    methods of one name (a base class's coroutine and its implementations) share their
    callers; one caller without a deadline, or none in the project, keeps the finding.

    Evidence tier: a call made in a background job with a hard time limit the worker kills it
    at (RQ `@job(queue, timeout=30)`, Celery `time_limit`/`soft_time_limit`, Dramatiq
    `time_limit`) -- in the job's function, or in one every caller in the project calls from
    such jobs -- holds the worker only until the limit: reported low, confidence low, naming
    it. A command-line tool's call (a module that imports click/typer/argparse and declares no
    routes) does not count among those callers: it waits in the operator's terminal, not in a
    service worker. A stream reopened by a `while` loop (a subscription, server-sent events:
    `client.stream(..., timeout=None)`, `requests.get(url, stream=True)`) waits between events
    by design; it is reported at low severity and confidence, for its missing connect timeout.
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.ClassDef):
        record_timeout_adapter(node, ctx)
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        record_caller_bounds(node, ctx)
        return
    if isinstance(node, ast.Attribute) or ctx.call_name == "socket.setdefaulttimeout":
        record_default_timeout(node, ctx)
        return
    if has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    timeout = keyword_value(node, "timeout")
    callers = bounded_by_callers_fact(node, ctx)
    if name.startswith("httpx."):
        # httpx defaults to a 5 s timeout; only an explicit None disables it.
        if timeout is not None and is_none(timeout):
            if name.endswith(".stream") and in_reconnect_loop(node, ctx):
                _report_subscription(node, name, ctx, callers)
                return
            _report_unbounded(
                node,
                f"{name}() with timeout=None can wait forever on a hung upstream",
                ctx,
                callers,
            )
        return
    if name.startswith("aiohttp."):
        _check_aiohttp(node, name, ctx)
        return
    if name in _NO_DEFAULT_TIMEOUT:
        position = _NO_DEFAULT_TIMEOUT[name]
        value = argument(node, position, "timeout")
        if value is None or is_none(value):
            _report_unbounded(
                node,
                f"{name}() has no timeout and waits forever by default: "
                "a hung upstream blocks this worker indefinitely",
                ctx,
                (*callers, *((SOCKET_DEFAULT_TIMEOUT,) if value is None else ())),
            )
        return
    # requests
    if timeout is not None:
        if is_none(timeout):
            _report_unbounded(
                node, f"{name}() with timeout=None waits forever on a hung upstream", ctx, callers
            )
        return
    unless = [REQUESTS_DEFAULT_TIMEOUT, *callers]
    if ".Session." in name or ".session." in name:
        if _mounts_adapter(ctx):
            return
        # An adapter class of the project mounted here: moot if that class sets a timeout.
        unless.extend(timeout_adapter(adapter) for adapter in mounted_adapters(node, ctx))
    stream = keyword_value(node, "stream")
    if stream is not None and is_true(stream) and in_reconnect_loop(node, ctx):
        _report_subscription(node, name, ctx, tuple(unless))
        return
    _report_unbounded(
        node,
        f"{name}() has no timeout: requests waits forever by default, so a hung upstream "
        "blocks this worker indefinitely",
        ctx,
        tuple(unless),
    )


def _report_unbounded(
    node: ast.Call, message: str, ctx: PythonContext, unless: tuple[ProjectFact, ...]
) -> None:
    """Report at the rule's severity; in a job the worker kills at a time limit, low."""
    function = ctx.function.node if ctx.function is not None else None
    limit = job_time_limit(function) if function is not None else None
    if limit is None:
        ctx.report(node, message, unless=unless)
        return
    ctx.report(
        node,
        f"{message}, until the job's hard time limit ({limit}) kills it: reported low",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
        unless=unless,
    )


def _report_subscription(
    node: ast.Call, name: str, ctx: PythonContext, unless: tuple[ProjectFact, ...]
) -> None:
    """A stream reopened by a ``while`` loop (a subscription, server-sent events): waiting
    without a read timeout is its design; only the connect has no bound."""
    ctx.report(
        node,
        f"{name}() reads a long-lived stream in a reconnect loop without a timeout: waiting "
        "between events is the design of a subscription, but with no connect timeout either "
        "an unreachable upstream stalls the loop until the OS gives up. Set a connect timeout "
        "only (httpx.Timeout(None, connect=10), or timeout=(10, None) with requests)",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
        unless=unless,
    )


def _check_aiohttp(node: ast.Call, name: str, ctx: PythonContext) -> None:
    if name == "aiohttp.ClientTimeout":
        if not node.args and not any(
            k.arg in {"total", "sock_read", "sock_connect", "connect"} and not is_none(k.value)
            for k in node.keywords
        ):
            ctx.report(node, "aiohttp.ClientTimeout() without total= or sock_read= never times out")
        return
    if has_keyword(node, "timeout") or _every_request_has_timeout(node, ctx):
        return
    if _kept_for_elsewhere(node, ctx):
        ctx.report(
            node,
            f"{name}() has no session timeout and is kept for requests made elsewhere, which "
            "were not seen: unless each passes its own timeout=, they rely on aiohttp's "
            "default 5-minute total timeout. Give the session a ClientTimeout",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        node,
        f"{name}() relies on aiohttp's default 5-minute total timeout: a slow upstream ties "
        "up this task far longer than any caller waits",
        severity=Severity.MEDIUM,
        confidence=Confidence.MEDIUM,
    )


def _kept_for_elsewhere(session: ast.Call, ctx: PythonContext) -> bool:
    """A session stored in shared state (``app["http"] = ClientSession()``, ``self.http =
    ...``) whose requests this module does not make without a timeout: they happen in other
    modules, out of sight, and may each pass their own ``timeout=``."""
    holder = ctx.parents().get(id(session))
    if not isinstance(holder, ast.Assign) or len(holder.targets) != 1:
        return False
    target = holder.targets[0]
    if isinstance(target, ast.Attribute):
        key: str | None = target.attr
    elif isinstance(target, ast.Subscript):
        key = constant_str(target.slice)
    else:
        return False
    if key is None:
        return False
    for call in ast.walk(ctx.tree):
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _AIOHTTP_REQUESTS
        ):
            continue
        receiver = call.func.value
        same = (isinstance(receiver, ast.Attribute) and receiver.attr == key) or (
            isinstance(receiver, ast.Subscript) and constant_str(receiver.slice) == key
        )
        if same and (not has_keyword(call, "timeout") or is_none(keyword_value(call, "timeout"))):
            return False  # a request here relies on the session's default
    return True


_AIOHTTP_REQUESTS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "ws_connect"}
)


def _every_request_has_timeout(session: ast.Call, ctx: PythonContext) -> bool:
    """``async with aiohttp.ClientSession() as s:`` whose every request passes its own
    ``timeout=`` (``s.post(url, timeout=aiohttp.ClientTimeout(total=30))``): the session's
    default is never used. The session must stay in the function that opens it (used only as
    the receiver of its requests), so that no request elsewhere relies on the default."""
    parents = ctx.parents()
    holder = parents.get(id(session))
    name: str | None = None
    if isinstance(holder, ast.withitem) and isinstance(holder.optional_vars, ast.Name):
        name = holder.optional_vars.id
    elif isinstance(holder, ast.Assign) and len(holder.targets) == 1:
        target = holder.targets[0]
        name = target.id if isinstance(target, ast.Name) else None
    scope = ctx.function
    if name is None or scope is None:
        return False
    requests = 0
    for use in ast.walk(scope.node):
        if not (isinstance(use, ast.Name) and use.id == name and isinstance(use.ctx, ast.Load)):
            continue
        method = parents.get(id(use))
        call = parents.get(id(method))
        if (
            not isinstance(method, ast.Attribute)
            or not isinstance(call, ast.Call)
            or call.func is not method
        ):
            return False  # handed on, returned or stored: its requests are not all here
        if method.attr in _AIOHTTP_REQUESTS:
            if not has_keyword(call, "timeout") or is_none(keyword_value(call, "timeout")):
                return False
            requests += 1
    return requests > 0
