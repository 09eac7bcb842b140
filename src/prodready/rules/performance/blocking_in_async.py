"""Performance: blocking calls inside async functions (PRF016, formerly CON001)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import is_script

# -- PRF016 (formerly CON001) --------------------------------------------------------------------

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_BLOCKING_CALLS = (
    "time.sleep",
    *(f"requests.{verb}" for verb in _VERBS),
    *(f"requests.api.{verb}" for verb in _VERBS),
    "urllib.request.urlopen",
    *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "os.system",
    "psycopg2.connect",
    "pymysql.connect",
    "mysql.connector.connect",
    "MySQLdb.connect",
    "socket.create_connection",
    "socket.gethostbyname",
    "socket.getaddrinfo",
    "smtplib.SMTP",
    "smtplib.SMTP_SSL",
    "builtins.input",
)
# Instances whose methods do network I/O (``redis.Redis(...).get``, ``boto3.client("s3").put``).
_BLOCKING_CLIENTS = (
    "requests.Session",
    "requests.sessions.Session",
    "requests.session",
    "httpx.Client",
    "redis.Redis",
    "redis.StrictRedis",
    "redis.from_url",
    "redis.client.Redis",
    "smtplib.SMTP",
    "smtplib.SMTP_SSL",
    "boto3.client",
    "boto3.resource",
    "boto3.session.Session.client",
    "boto3.Session.client",
)
# Client methods that do no I/O.
_LOCAL_METHODS = frozenset(
    {"pipeline", "from_url", "lock", "pubsub", "register_script", "close", "mount"}
    | {"generate_presigned_url", "generate_presigned_post", "get_paginator", "get_waiter"}
    | {"can_paginate", "meta", "exceptions", "Bucket", "Object", "Table", "Queue", "Topic"}
    | {"get_adapter", "prepare_request", "merge_environment_settings", "build_request"}
    | {
        "headers",
        "cookies",
        "auth",
        "hooks",
        "params",
        "verify",
        "proxies",
        "set_response_callback",
    }
)
_ASYNC_ALTERNATIVE = {
    "time": "await asyncio.sleep(...)",
    "requests": "httpx.AsyncClient or aiohttp",
    "httpx": "httpx.AsyncClient",
    "urllib": "httpx.AsyncClient or aiohttp",
    "subprocess": "asyncio.create_subprocess_exec()",
    "os": "asyncio.create_subprocess_shell()",
    "redis": "redis.asyncio",
    "psycopg2": "asyncpg or psycopg's AsyncConnection",
    "pymysql": "aiomysql",
    "mysql": "aiomysql",
    "MySQLdb": "aiomysql",
    "smtplib": "aiosmtplib",
    "boto3": "aioboto3, or await asyncio.to_thread(...)",
    "socket": "asyncio.open_connection() / loop.getaddrinfo()",
    "builtins": "an async input source",
}


def _blocking_name(name: str) -> bool:
    if name in _BLOCKING_CALLS:
        return True
    for client in _BLOCKING_CLIENTS:
        if name.startswith(client + "."):
            rest = name[len(client) + 1 :].split(".")
            if rest[0] == "pipeline":
                return rest[-1] == "execute"
            return not any(part in _LOCAL_METHODS or part.startswith("_") for part in rest)
    return False


@python_rule(
    code="PRF016",
    name="blocking-call-in-async",
    category=Category.PERFORMANCE,
    severity=Severity.HIGH,
    summary="Blocking I/O or sleep inside async def stalls the whole event loop",
    calls=(
        *_BLOCKING_CALLS,
        *(f"{client}.*" for client in _BLOCKING_CLIENTS),
    ),
    nodes=(ast.Lambda,),
    fix="Use the async equivalent (asyncio.sleep, httpx.AsyncClient, redis.asyncio, "
    "asyncio.create_subprocess_exec) or run it with await asyncio.to_thread(func, ...).",
)
def blocking_call_in_async(node: ast.Call | ast.Lambda, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags blocking calls made directly inside an `async def`: `time.sleep`, `requests` (and
    `requests.Session`) calls, `urllib.request.urlopen`, synchronous `httpx` calls and
    `httpx.Client` methods, `subprocess.run/call/check_output`, `os.system`, synchronous
    database drivers (`psycopg2.connect`, `pymysql.connect`), the synchronous `redis.Redis`
    client, `boto3` clients, `smtplib`, `socket.create_connection` and `input()`. Calls in
    nested synchronous functions and lambdas (handed to `asyncio.to_thread` or
    `run_in_executor`) are not flagged.

    ## Why it breaks production
    An event loop runs every request of the worker on one thread. A blocking call inside a
    coroutine freezes that thread: while one request waits 800 ms for a payment API, *every*
    other request on the worker -- health checks included -- waits too. Under load, latency
    multiplies, health checks time out and the orchestrator restarts pods that were merely
    stuck behind one slow upstream.

    ## Example
    ```python
    @app.get("/quotes/{symbol}")
    async def quote(symbol: str):
        resp = requests.get(f"{PRICES_URL}/{symbol}", timeout=5)
        time.sleep(0.2)  # crude rate limit
        return resp.json()
    ```

    ## Use instead
    ```python
    http = httpx.AsyncClient(timeout=5)

    @app.get("/quotes/{symbol}")
    async def quote(symbol: str):
        resp = await http.get(f"{PRICES_URL}/{symbol}")
        await asyncio.sleep(0.2)
        return resp.json()
    ```
    When no async client exists, `await asyncio.to_thread(blocking_func, *args)`; or declare the
    FastAPI endpoint with plain `def` so it runs in the threadpool.
    """
    if not ctx.in_async or ctx.facts.is_test:
        return
    assert ctx.function is not None
    in_lambdas: set[int] = ctx.rule_state(set)
    if isinstance(node, ast.Lambda):
        in_lambdas.update(id(n) for n in ast.walk(node.body) if isinstance(n, ast.Call))
        return
    if id(node) in in_lambdas:
        return
    name = ctx.call_name or ""
    if not _blocking_name(name):
        return
    if name == "time.sleep" and node.args and _is_zero(node.args[0]):
        return  # time.sleep(0) yields the GIL, it does not wait
    alternative = _ASYNC_ALTERNATIVE.get(name.split(".", 1)[0], "an async client")
    ctx.report(
        node,
        f"{name}() blocks the event loop inside async def {ctx.function.name}(): every other "
        f"request on this worker waits until it returns. Use {alternative}, or "
        "await asyncio.to_thread(...)",
        # A one-shot script's event loop usually has nothing else to run meanwhile.
        confidence=Confidence.MEDIUM if is_script(ctx) else None,
    )


def _is_zero(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value == 0
