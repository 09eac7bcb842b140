"""Resilience: dependency calls without a fallback (RES008)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import has_keyword, in_service_code
from prodready.rules.resilience._shared import _REQUESTS_CALLS, _VERBS

# -- calls to other services from handlers (RES008) ------------------------------------------

_SEND_VERBS = (*_VERBS, "stream", "send")
_HANDLER_HTTP_CALLS = frozenset(
    {
        *_REQUESTS_CALLS,
        *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
        *(f"httpx.Client.{verb}" for verb in _SEND_VERBS),
        *(f"httpx.AsyncClient.{verb}" for verb in _SEND_VERBS),
        *(f"aiohttp.ClientSession.{verb}" for verb in _VERBS),
        "aiohttp.request",
        "urllib.request.urlopen",
    }
)
# App-wide error handling registered in the module: uncaught errors get a designed response.
_APP_ERROR_HANDLERS = re.compile(
    r"\.(exception_handler|add_exception_handler|errorhandler|app_errorhandler"
    r"|register_error_handler)\(|exception_handlers\s*=|def process_exception\("
)
_BREAKER_WORDS = ("breaker", "circuit")


@python_rule(
    code="RES008",
    name="dependency-call-without-fallback",
    category=Category.RESILIENCE,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="HTTP handler calls another service with no error handling or circuit breaker",
    calls=tuple(sorted(_HANDLER_HTTP_CALLS)),
    nodes=(ModuleEnd,),
    fix="Catch the client's errors (timeouts, connection errors, 5xx) and answer with a "
    "fallback or a clear 502/503, or wrap the dependency in a circuit breaker.",
)
def dependency_call_without_fallback(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags HTTP calls to another service (`requests`, `httpx`, `aiohttp`, `urlopen`) made
    directly in a route handler outside any `try`/`except`, when the handler is not behind a
    circuit breaker (`pybreaker`, `circuitbreaker`, `aiobreaker`) and the module registers no
    app-wide exception handler (`@app.exception_handler`, `add_exception_handler`, Flask
    `errorhandler`/`register_error_handler`).

    ## Why it breaks production
    Every dependency times out sooner or later. Uncaught, the client's `ReadTimeout` or
    `ConnectError` becomes a bare 500 with a stack trace for every request of the endpoint --
    even when a cached value, a default or a clear 503 with `Retry-After` would have kept the
    page working -- and the callers' retries add load to the dependency that is already
    struggling.

    ## Example
    ```python
    @app.get("/products/{sku}")
    def product(sku: str):
        stock = requests.get(f"{INVENTORY_URL}/stock/{sku}", timeout=2).json()
        return {"sku": sku, "stock": stock["available"]}
    ```

    ## Use instead
    ```python
    @app.get("/products/{sku}")
    def product(sku: str):
        try:
            resp = requests.get(f"{INVENTORY_URL}/stock/{sku}", timeout=2)
            resp.raise_for_status()
            available = resp.json()["available"]
        except requests.RequestException:
            log.warning("inventory unavailable", extra={"sku": sku})
            available = None  # the page still renders; stock shows as unknown
        return {"sku": sku, "stock": available}
    ```
    """
    pending: list[ast.Call] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if not pending or not in_service_code(ctx) or _APP_ERROR_HANDLERS.search(ctx.source):
            return
        for call in pending:
            ctx.report(
                call,
                f"{ctx.segment(call.func)}() to another service is not inside any try/except: "
                "a timeout or connection error of the dependency becomes a 500 for every "
                "request of this endpoint. Catch the client's errors and answer with a "
                "fallback or a 502/503 (or put the call behind a circuit breaker)",
            )
        return
    assert isinstance(node, ast.Call)
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return
    if any(t.handlers for t in ctx.trys) or ctx.handlers:
        return
    name = ctx.call_name or ""
    if name.startswith(("requests.", "urllib.")) and not has_keyword(node, "timeout"):
        return  # RES001 reports the missing timeout first; that is the fix to make
    cache: dict[str, bool] = ctx.rule_state(dict)
    if "breaker" not in cache:
        function = scope.node
        first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
        lines = ctx.lines[first - 1 : function.end_lineno]
        code = " ".join(line.split("#", 1)[0].lower() for line in lines)  # not comments
        cache["breaker"] = any(word in code for word in _BREAKER_WORDS)
    if cache["breaker"] or cache.get("reported"):
        return  # one finding per handler: its first unprotected call
    cache["reported"] = True
    pending.append(node)
