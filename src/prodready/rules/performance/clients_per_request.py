"""Performance: clients created per request (PRF001)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import Category, FunctionEnd, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    calls_in,
    dotted,
    factory_calls,
    in_task,
    is_framework_source,
    is_script,
    module_function,
    module_functions,
    walk_body,
)

# -- PRF001 ---------------------------------------------------------------------------------------

_POOLED_CLIENTS = {
    "requests.Session": "requests.Session",
    "requests.session": "requests.Session",
    "requests.sessions.Session": "requests.Session",
    "httpx.Client": "httpx.Client",
    "httpx.AsyncClient": "httpx.AsyncClient",
    "aiohttp.ClientSession": "aiohttp.ClientSession",
    "boto3.client": "boto3 client",
    "boto3.resource": "boto3 resource",
    "boto3.Session": "boto3 Session",
    "boto3.session.Session": "boto3 Session",
    "redis.Redis": "redis client",
    "redis.StrictRedis": "redis client",
    "redis.from_url": "redis client",
    "redis.Redis.from_url": "redis client",
    "redis.ConnectionPool": "redis connection pool",
    "redis.asyncio.Redis": "redis client",
    "redis.asyncio.from_url": "redis client",
    "redis.asyncio.Redis.from_url": "redis client",
    "sqlalchemy.create_engine": "SQLAlchemy engine",
    "sqlalchemy.ext.asyncio.create_async_engine": "SQLAlchemy engine",
    "sqlmodel.create_engine": "SQLAlchemy engine",
    "pymongo.MongoClient": "MongoClient",
    "motor.motor_asyncio.AsyncIOMotorClient": "Motor client",
    "psycopg2.pool.SimpleConnectionPool": "connection pool",
    "psycopg2.pool.ThreadedConnectionPool": "connection pool",
    "psycopg_pool.ConnectionPool": "connection pool",
    "psycopg_pool.AsyncConnectionPool": "connection pool",
    "asyncpg.create_pool": "connection pool",
    "elasticsearch.Elasticsearch": "Elasticsearch client",
    "openai.OpenAI": "OpenAI client",
    "openai.AsyncOpenAI": "OpenAI client",
    "anthropic.Anthropic": "Anthropic client",
    "anthropic.AsyncAnthropic": "Anthropic client",
}
# Attributes of per-request objects: storing a client there still builds one per request.
_PER_REQUEST_ROOTS = frozenset({"g", "request", "req", "flask.g", "self"})


@dataclass(slots=True)
class _ClientState:
    created: list[ast.Call] = field(default_factory=list)
    in_loop: set[int] = field(default_factory=set)  # created in a loop, same arguments each time
    kept: set[int] = field(default_factory=set)  # stored in module-level state (lazy init)


@dataclass(slots=True)
class _HelperClients:
    """Module-wide: clients built by helper functions, and the helpers each handler calls."""

    created: dict[str, list[ast.Call]] = field(default_factory=dict)  # helper -> its clients
    # Handlers and tasks: (function, "request" / "task run").
    entry_points: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = field(
        default_factory=list
    )


@python_rule(
    code="PRF001",
    name="client-created-per-request",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    summary="Pooled client (HTTP session, boto3, Redis, DB engine) built on every request",
    calls=tuple(_POOLED_CLIENTS),
    nodes=(ast.Assign, FunctionEnd, ModuleEnd),
    fix="Create the client once at module level or in the app's startup/lifespan, and reuse it.",
)
def client_created_per_request(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags clients that own a connection pool -- `requests.Session()`,
    `httpx.Client()/AsyncClient()`, `aiohttp.ClientSession()`, `boto3.client()/resource()/
    Session()`, `redis.Redis(...)/from_url()`, `sqlalchemy.create_engine()`,
    `pymongo.MongoClient()`, psycopg/asyncpg pools and SDK clients such as `openai.OpenAI()` --
    built again and again: inside an HTTP handler or a task, inside a helper function of the
    same module that a handler calls (or that returns a new client to it), or inside a loop
    with the same arguments on every iteration. Lazily initialising a module-level client
    (`global _client; _client = ...`) is fine, and so are clients built per loop item with that
    item's settings (`boto3.client("s3", region_name=region)`).

    ## Why it breaks production
    These objects exist to reuse connections across calls. Built per request, every request
    pays DNS, TCP and TLS handshakes again (tens to hundreds of milliseconds), leaves sockets in
    TIME_WAIT, and under load runs out of file descriptors or ephemeral ports; a per-request
    `create_engine` or Redis client opens a fresh pool each time until the server's connection
    limit is hit. boto3 clients also take tens of milliseconds of CPU to build. Hiding the
    client in a helper (`fetch_quote()` per provider per request) or a retry loop multiplies
    the cost.

    ## Example
    ```python
    @app.get("/weather/{city}")
    async def weather(city: str):
        async with httpx.AsyncClient(timeout=5) as client:
            resp = await client.get(f"{WEATHER_URL}/{city}")
        return resp.json()
    ```

    ## Use instead
    ```python
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.http = httpx.AsyncClient(timeout=5)
        yield
        await app.state.http.aclose()

    @app.get("/weather/{city}")
    async def weather(city: str, request: Request):
        resp = await request.app.state.http.get(f"{WEATHER_URL}/{city}")
        return resp.json()
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Module):  # ModuleEnd
        _report_helper_clients(ctx)
        return
    if ctx.function is None:
        return
    state: _ClientState = ctx.rule_state(_ClientState)
    if isinstance(node, ast.Call):
        state.created.append(node)
        if ctx.loops and not _varies_with_loop(node, ctx):
            state.in_loop.add(id(node))
        return
    if isinstance(node, ast.Assign):
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call) and any(_kept(t, ctx) for t in node.targets):
            state.kept.add(id(value))
        return
    # FunctionEnd
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    created = [call for call in state.created if id(call) not in state.kept]
    where = "request" if ctx.route is not None else "task run" if in_task(ctx) else None
    if where is not None:
        for call in created:
            name = ctx.qualname(call.func) or ""
            ctx.report(
                call,
                f"{name}() builds a new {_POOLED_CLIENTS.get(name, 'client')} on every {where}: "
                "no connection reuse, a new TCP/TLS handshake each time and sockets exhausted "
                "under load. Create it once at startup and reuse it",
            )
        _report_factory_calls(node, where, state, ctx)
        helpers: _HelperClients = ctx.rule_state(_HelperClients, module=True)
        helpers.entry_points.append((node, where))
        return
    if not _runs_in_process(ctx):
        return
    returned = _returned_calls(node, ctx)
    outside_loop: list[ast.Call] = []
    for call in created:
        if id(call) in returned:
            continue  # a factory: judged where it is called
        if id(call) in state.in_loop:
            name = ctx.qualname(call.func) or ""
            ctx.report(
                call,
                f"{name}() builds a new {_POOLED_CLIENTS.get(name, 'client')} on every "
                "iteration of this loop (every retry, every item) with the same settings: no "
                "connection reuse, a new TCP/TLS handshake each time. Create it once, outside "
                "the loop -- ideally once per process",
            )
        else:
            outside_loop.append(call)
    if outside_loop and ctx.function.parent is None and ctx.function.class_info is None:
        helpers = ctx.rule_state(_HelperClients, module=True)
        helpers.created[node.name] = outside_loop


def _runs_in_process(ctx: PythonContext) -> bool:
    """Code a long-running process may call over and over: not a test, documentation
    example, command-line script or a framework's own source."""
    return not (ctx.facts.is_example or is_script(ctx) or is_framework_source(ctx))


def _varies_with_loop(call: ast.Call, ctx: PythonContext) -> bool:
    """The client's arguments depend on the loop (``boto3.client("s3", region_name=region)``
    in ``for region in regions``): one client per item is what the code needs."""
    bound: set[str] = set()
    for loop in ctx.loops:
        if isinstance(loop, ast.For | ast.AsyncFor):
            bound.update(_names(loop.target))
            statements: list[ast.stmt] = loop.body
        elif isinstance(loop, ast.While):
            statements = loop.body
        else:
            for generator in getattr(loop, "generators", ()):
                bound.update(_names(generator.target))
            continue
        for item in walk_body(statements):
            if isinstance(item, ast.Assign):
                for target in item.targets:
                    bound.update(_names(target))
            elif isinstance(item, ast.AugAssign | ast.AnnAssign | ast.NamedExpr):
                bound.update(_names(item.target))
            elif isinstance(item, ast.withitem) and item.optional_vars is not None:
                bound.update(_names(item.optional_vars))
    used: set[str] = set()
    for argument in [*call.args, *(k.value for k in call.keywords)]:
        used.update(_names(argument))
    return bool(used & bound)


def _names(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}


def _returned_calls(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> set[int]:
    """Ids of the client calls a function returns (directly or through a local): a factory."""
    assigned: dict[str, ast.expr] = {}
    returned: set[int] = set()
    for item in walk_body(function.body):
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
            if isinstance(target, ast.Name):
                assigned[target.id] = item.value
        elif isinstance(item, ast.Return | ast.Yield) and item.value is not None:
            value = item.value
            if isinstance(value, ast.Name):
                value = assigned.get(value.id, value)
            if isinstance(value, ast.Await):
                value = value.value
            returned.add(id(value))
    return returned


def _report_factory_calls(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    where: str,
    state: _ClientState,
    ctx: PythonContext,
) -> None:
    """``client = make_client()`` in a handler, where ``make_client`` (a helper of this module)
    returns a new pooled client."""
    for call in calls_in(function.body):
        if id(call) in state.kept:
            continue
        helper = module_function(call, ctx)
        if helper is None:
            continue
        clients = sorted(factory_calls(helper, ctx) & _POOLED_CLIENTS.keys())
        if clients:
            ctx.report(
                call,
                f"{helper.name}() returns a new {_POOLED_CLIENTS[clients[0]]} "
                f"({clients[0]}()), and this handler calls it on every {where}: no "
                "connection reuse, a new TCP/TLS handshake each time. Build the client once "
                "at startup (or cache it) and reuse it",
            )


def _report_helper_clients(ctx: PythonContext) -> None:
    """Clients built by module helpers that a handler or task of the module calls, directly
    or through other helpers."""
    helpers = ctx.rule_state(_HelperClients, module=True)
    if not helpers.created or not helpers.entry_points:
        return
    functions = module_functions(ctx)
    reached: dict[str, tuple[str, str]] = {}  # helper -> (entry point, "request"/"task run")
    pending = [(function, function.name, where) for function, where in helpers.entry_points]
    while pending:
        function, entry, where = pending.pop()
        for call in calls_in(function.body):
            if not isinstance(call.func, ast.Name):
                continue
            callee = functions.get(call.func.id)
            if callee is not None and callee.name not in reached:
                reached[callee.name] = (entry, where)
                pending.append((callee, entry, where))
    for name, calls in helpers.created.items():
        if name not in reached:
            continue
        entry, where = reached[name]
        for call in calls:
            client = ctx.qualname(call.func) or ""
            ctx.report(
                call,
                f"{client}() builds a new {_POOLED_CLIENTS.get(client, 'client')} on every call "
                f"of {name}(), which {entry}() runs on every {where}: no connection reuse, a "
                "new TCP/TLS handshake each time. Create it once at startup and pass it in",
            )


def _kept(target: ast.expr, ctx: PythonContext) -> bool:
    """A target that outlives the request: a ``global`` name, module state, a module object's
    attribute (``app.state.http``), a cache dict entry."""
    scope = ctx.function
    assert scope is not None
    if isinstance(target, ast.Name):
        return target.id in scope.globals
    if isinstance(target, ast.Subscript):
        root = dotted(target.value)
        return root is not None and ctx.is_module_state(root.split(".")[0])
    if isinstance(target, ast.Attribute):
        root = dotted(target)
        if root is None:
            return False
        first = root.split(".")[0]
        if first in _PER_REQUEST_ROOTS or (ctx.qualname(target.value) or "") == "flask.g":
            return False
        return _module_level(first, ctx)
    return False


def _module_level(name: str, ctx: PythonContext) -> bool:
    scope = ctx.function
    while scope is not None:
        if name in scope.bindings and name not in scope.globals:
            return False
        scope = scope.parent
    return name in ctx.facts.bindings
