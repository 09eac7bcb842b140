"""Performance: work that is fine in a demo and expensive per request at scale."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from prodready.engine.analysis import (
    DJANGO_LAZY_METHODS,
    calls_in,
    constant_str,
    django_query,
    dotted,
    factory_calls,
    has_star_kwargs,
    in_task,
    is_framework_source,
    is_script,
    keyword_value,
    module_function,
    module_functions,
    string_fragments,
    walk_body,
)
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext
from prodready.engine.registry import python_rule
from prodready.model import Category, Confidence, Severity

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
    helpers: _HelperClients | None = ctx.module_state.get("PRF001")
    if helpers is None or not helpers.created or not helpers.entry_points:
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


# -- PRF002 ---------------------------------------------------------------------------------------


@python_rule(
    code="PRF002",
    name="sleep-in-request-handler",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    summary="time.sleep() inside a synchronous request handler ties up a worker",
    calls=("time.sleep",),
    fix="Don't wait inside the request: return 202 and poll, move the work to a background "
    "task, or retry with a bounded backoff in the task queue.",
)
def sleep_in_request_handler(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `time.sleep(...)` inside a synchronous HTTP handler (Flask, Django, sync FastAPI
    endpoints). The same call in an `async def` is CON001.

    ## Why it breaks production
    A sync worker serves one request at a time per thread. A handler that sleeps -- to wait for
    a job, to "rate limit", to back off between retries -- holds that thread doing nothing. With
    4 workers x 2 threads and a 2-second sleep the service tops out at 4 requests per second;
    the queue in front of it grows, requests time out, and health checks on the same workers
    start failing.

    ## Example
    ```python
    @app.post("/exports")
    def export():
        job = start_export(request.json)
        while not job.done():
            time.sleep(1)
        return send_file(job.path)
    ```

    ## Use instead
    ```python
    @app.post("/exports")
    def export():
        job = start_export.delay(request.json)
        return {"job_id": job.id}, 202   # the client polls GET /exports/<job_id>
    ```
    """
    if ctx.route is None or ctx.facts.is_test or ctx.facts.is_example:
        return
    scope = ctx.function
    while scope is not None:
        if scope.is_async:
            return  # CON001
        scope = scope.parent
    if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0:
        return
    ctx.report(
        node,
        "time.sleep() in a request handler holds a worker thread idle for the whole wait: "
        "throughput collapses under load. Return 202 and poll, or move the wait into a "
        "background task",
    )


# -- PRF003 ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LenState:
    pending: list[tuple[ast.Call, str]] = field(default_factory=list)


def _lazy_queryset(expr: ast.AST) -> bool:
    chain = django_query(expr)
    return chain is not None and not chain.sliced and chain.terminal in DJANGO_LAZY_METHODS


def _truthiness_operands(test: ast.expr) -> list[ast.expr]:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _truthiness_operands(test.operand)
    if isinstance(test, ast.BoolOp):
        return [operand for value in test.values for operand in _truthiness_operands(value)]
    return [test]


@python_rule(
    code="PRF003",
    name="queryset-len-instead-of-count",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
    summary="len(queryset) or `if queryset:` loads every row just to count or test them",
    calls=("builtins.len",),
    nodes=(ast.If, ast.While, ast.IfExp, FunctionEnd),
    fix="Use qs.count() for a number and qs.exists() for a yes/no.",
)
def queryset_len_instead_of_count(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `len(Model.objects.filter(...))`, `len(qs)` where `qs` is a queryset the function
    uses for nothing else, and `if Model.objects.filter(...):` -- each evaluates the whole
    queryset to answer a count or a yes/no.

    ## Why it breaks production
    `len()` and truthiness fetch every matching row and build a model instance for each, then
    throw them away. At 50 rows nobody notices; at 500,000 the request allocates hundreds of
    megabytes and takes seconds, where `SELECT COUNT(*)` or `SELECT 1 ... LIMIT 1` answers
    from an index in a millisecond.

    ## Example
    ```python
    if len(Order.objects.filter(customer=user, status="open")) > 5:
        raise TooManyOpenOrders()
    if Coupon.objects.filter(code=code):
        ...
    ```

    ## Use instead
    ```python
    if Order.objects.filter(customer=user, status="open").count() > 5:
        raise TooManyOpenOrders()
    if Coupon.objects.filter(code=code).exists():
        ...
    ```
    If you are going to iterate the rows anyway, evaluating them once (and using `len()` on
    the cached result) is fine.
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    state: _LenState = ctx.rule_state(_LenState)
    if isinstance(node, ast.Call):
        if len(node.args) != 1:
            return
        argument = node.args[0]
        if _lazy_queryset(argument):
            _report_len(node, ctx)
        elif isinstance(argument, ast.Name):
            value = ctx.value_of(argument.id)
            if value is not None and _lazy_queryset(value):
                state.pending.append((node, argument.id))
        return
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        for operand in _truthiness_operands(node.test):
            if _lazy_queryset(operand):
                ctx.report(
                    operand,
                    f"`if {_short(ctx, operand)}` fetches every matching row to test for "
                    "one: use .exists()",
                )
        return
    # FunctionEnd: len(qs) is fine when qs is evaluated anyway (iterated, serialized...).
    if not state.pending:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    wanted = {name for _, name in state.pending}
    loads: dict[str, int] = dict.fromkeys(wanted, 0)
    for child in walk_body(node.body):
        if isinstance(child, ast.Name) and child.id in wanted and isinstance(child.ctx, ast.Load):
            loads[child.id] += 1
    for call, name in state.pending:
        if loads[name] == 1:
            _report_len(call, ctx)


def _report_len(node: ast.Call, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"{_short(ctx, node)} loads every row of the queryset just to count it: use .count() "
        "(or .exists() for a yes/no)",
    )


def _short(ctx: PythonContext, node: ast.AST, limit: int = 60) -> str:
    text = " ".join(ctx.segment(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- PRF004 ---------------------------------------------------------------------------------------

_UPLOAD_TYPES = (
    "fastapi.UploadFile",
    "fastapi.datastructures.UploadFile",
    "starlette.datastructures.UploadFile",
    "werkzeug.datastructures.FileStorage",
    "werkzeug.FileStorage",
    "django.core.files.uploadedfile.UploadedFile",
    "django.core.files.uploadedfile.InMemoryUploadedFile",
)
_SIZE_GUARDS = (
    "content_length",
    "content-length",
    ".size",
    "max_upload",
    "max_size",
    "max_bytes",
    "max_file",
    "size_limit",
    "max_content",
)


def _upload_source(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> str | None:
    """What kind of upload ``expr`` is: ``request.files[...]``, ``request.FILES.get(...)``,
    an ``UploadFile`` parameter (or its ``.file``)."""
    if isinstance(expr, ast.Attribute) and expr.attr in {"file", "stream"}:
        inner = _upload_source(expr.value, ctx, depth + 1)
        return inner
    if isinstance(expr, ast.Name):
        kind = ctx.qualname(expr) or ""
        if kind.startswith(_UPLOAD_TYPES):
            return kind.rsplit(".", 1)[-1]
        value = ctx.value_of(expr.id)
        if value is None or depth > 2:
            return None
        return _upload_source(value, ctx, depth + 1)
    if isinstance(expr, ast.Subscript):
        container = expr.value
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr != "get":
            return None
        container = expr.func.value
    else:
        return None
    text = dotted(container) or ""
    if text.endswith(("request.files", "request.FILES")):
        return text.rsplit(".", 1)[-1]
    return None


@python_rule(
    code="PRF004",
    name="upload-read-into-memory",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Whole uploaded file read into memory with no size limit",
    calls=("*.read",),
    fix="Stream the upload in chunks (read(1 << 20) in a loop, shutil.copyfileobj) and enforce "
    "a maximum size (MAX_CONTENT_LENGTH, DATA_UPLOAD_MAX_MEMORY_SIZE, a check on file.size).",
)
def upload_read_into_memory(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers that read an entire uploaded file into memory with `read()` and no
    size argument: Flask `request.files[...].read()`, Django `request.FILES[...].read()`,
    FastAPI `await file.read()` on an `UploadFile` parameter (or `file.file.read()`), when the
    handler checks no size (`content_length`, `file.size`, a `MAX_*` limit).

    ## Why it breaks production
    `read()` allocates the whole upload at once. One client sending a 2 GB file -- by mistake
    or on purpose -- makes the worker allocate 2 GB; a few at once and the container is
    OOM-killed, taking every in-flight request with it. It is also the easiest denial of
    service against the endpoint.

    ## Example
    ```python
    @app.post("/documents")
    async def upload(file: UploadFile):
        data = await file.read()
        store(file.filename, data)
    ```

    ## Use instead
    ```python
    MAX_BYTES = 20 * 1024 * 1024

    @app.post("/documents")
    async def upload(file: UploadFile):
        if file.size is not None and file.size > MAX_BYTES:
            raise HTTPException(413, "file too large")
        with open_storage_stream(file.filename) as out:
            while chunk := await file.read(1024 * 1024):
                out.write(chunk)
    ```
    """
    if ctx.route is None or ctx.facts.is_test:
        return
    if node.args or node.keywords:
        size = node.args[0] if node.args else node.keywords[0].value
        if not (
            isinstance(size, ast.UnaryOp)
            or (isinstance(size, ast.Constant) and size.value in (None, -1))
        ):
            return
    func = node.func
    assert isinstance(func, ast.Attribute)
    source = _upload_source(func.value, ctx)
    if source is None:
        return
    cache: dict[str, bool] = ctx.rule_state(dict)
    if "guarded" not in cache:
        assert ctx.function is not None
        text = ctx.segment(ctx.function.node).lower()
        cache["guarded"] = any(guard in text for guard in _SIZE_GUARDS)
    if cache["guarded"]:
        return
    ctx.report(
        node,
        f"{_short(ctx, node)} reads the whole upload into memory with no size limit: a large "
        "file exhausts the worker's memory. Stream it in chunks and enforce a maximum size",
    )


# -- PRF005 ---------------------------------------------------------------------------------------

_FILE_OPENERS = frozenset({"builtins.open", "io.open", "codecs.open", "pathlib.Path.open"})
_WHOLE_READS = frozenset({"read", "readlines", "read_bytes", "read_text"})
# pandas readers -> whether they take chunksize= (the others always load everything).
_PANDAS_READERS = {
    "pandas.read_csv": True,
    "pandas.read_table": True,
    "pandas.read_json": True,
    "pandas.read_sql": True,
    "pandas.read_sql_query": True,
    "pandas.read_sql_table": True,
    "pandas.read_excel": False,
    "pandas.read_parquet": False,
}
_PATH_BUILDERS = frozenset(
    {"os.path.join", "pathlib.Path", "pathlib.PurePath", "os.path.abspath", "os.path.dirname"}
    | {"os.path.realpath", "os.path.normpath", "os.fspath", "builtins.str"}
)
_LIMIT_SQL = re.compile(r"\b(limit|top|fetch\s+first|fetch\s+next|count\s*\()", re.IGNORECASE)


def _static_path(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> bool:
    """A path fixed in the code: a literal, a constant, ``__file__``-relative, ``BASE_DIR / x``
    -- a file shipped with the service, not one chosen by the request or grown by data."""
    if expr is None or depth > 4:
        return False
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        if expr.id == "__file__" or expr.id.isupper():
            return True
        value = ctx.value_of(expr.id)
        return value is not None and value is not expr and _static_path(value, ctx, depth + 1)
    if isinstance(expr, ast.Attribute):
        if expr.attr.isupper():
            return True
        return expr.attr in {"parent", "parents", "root_path"} and _static_path(
            expr.value, ctx, depth + 1
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div | ast.Add):
        return _static_path(expr.left, ctx, depth + 1) and _static_path(expr.right, ctx, depth + 1)
    if isinstance(expr, ast.JoinedStr):
        return all(
            _static_path(part.value, ctx, depth + 1)
            for part in expr.values
            if isinstance(part, ast.FormattedValue)
        )
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name in _PATH_BUILDERS or name.endswith(("resolve", "absolute", "joinpath")):
            parts: list[ast.AST] = [*expr.args]
            if isinstance(expr.func, ast.Attribute) and name not in _PATH_BUILDERS:
                parts.append(expr.func.value)
            return all(_static_path(part, ctx, depth + 1) for part in parts)
    if isinstance(expr, ast.Subscript):
        return _static_path(expr.value, ctx, depth + 1)  # Path(__file__).parents[1]
    return False


def _opened_path(receiver: ast.AST, ctx: PythonContext) -> tuple[bool, ast.AST | None]:
    """Whether ``receiver`` is a file opened with ``open()`` (or a Path), and its path."""
    if isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver.id)
        kind = ctx.qualname(receiver) or ""
        if value is None:
            # ``with open(path) as f``: bound to the opener's type, the path is not kept.
            return kind in _FILE_OPENERS, None
        receiver = value
    if isinstance(receiver, ast.Call):
        name = ctx.qualname(receiver.func) or ""
        if name in _FILE_OPENERS:
            path = receiver.args[0] if receiver.args else keyword_value(receiver, "file")
            if name == "pathlib.Path.open" and isinstance(receiver.func, ast.Attribute):
                path = receiver.func.value
            return True, path
    return False, None


@python_rule(
    code="PRF005",
    name="whole-file-read-in-request",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Request handler reads a whole file, S3 object or table into memory",
    calls=(
        "*.read",
        "*.readlines",
        "*.read_bytes",
        "*.read_text",
        *sorted(_PANDAS_READERS),
    ),
    fix="Stream it: iterate the file in chunks (StreamingResponse / send_file), read the "
    "S3 body with iter_chunks(), use chunksize= with pandas, and paginate queries.",
)
def whole_file_read_in_request(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers that load a whole file or dataset into memory: `open(path).read()`
    / `readlines()` without a size and `Path(path).read_bytes()/read_text()` for paths that are
    not fixed in the code, an S3 object's `["Body"].read()`, and `pandas.read_csv/read_json/
    read_sql...` without `chunksize=`/`nrows=` (`read_sql` of a query with a `LIMIT` is fine).
    Files shipped with the service (templates, a constant path next to `__file__`) are not
    flagged; unbounded querysets and `fetchall()` are DAT002.

    ## Why it breaks production
    Files and tables grow; the handler does not change. The export that read a 2 MB CSV at
    launch reads 2 GB a year later: the worker allocates it all (several times over, for
    pandas), latency climbs with the file, and a few concurrent requests get the container
    OOM-killed -- taking every other in-flight request with it.

    ## Example
    ```python
    @app.get("/exports/{export_id}")
    def download(export_id: str):
        obj = s3.get_object(Bucket=EXPORTS_BUCKET, Key=f"{export_id}.csv")
        return Response(obj["Body"].read(), media_type="text/csv")
    ```

    ## Use instead
    ```python
    @app.get("/exports/{export_id}")
    def download(export_id: str):
        obj = s3.get_object(Bucket=EXPORTS_BUCKET, Key=f"{export_id}.csv")
        return StreamingResponse(obj["Body"].iter_chunks(1 << 20), media_type="text/csv")
    ```
    """
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    if name in _PANDAS_READERS:
        if has_star_kwargs(node) or any(k.arg in {"chunksize", "nrows"} for k in node.keywords):
            return
        source = node.args[0] if node.args else None
        if name.startswith("pandas.read_sql"):
            sql = " ".join(string_fragments(source, ctx)) if source is not None else ""
            if not sql or _LIMIT_SQL.search(sql) or "where" in sql.lower():
                return
            what = "the whole result of the query"
        else:
            if source is None or _static_path(source, ctx):
                return
            what = "the whole file"
        advice = (
            "pass chunksize= and stream the result"
            if _PANDAS_READERS[name]
            else "bound or stream the input"
        )
        ctx.report(node, f"{name}() loads {what} into memory in a request handler: {advice}")
        return
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in _WHOLE_READS:
        return
    if node.args or node.keywords:
        size = node.args[0] if node.args else node.keywords[0].value
        if not (isinstance(size, ast.Constant) and size.value in (None, -1)):
            return
    receiver = func.value
    if func.attr == "read" and isinstance(receiver, ast.Subscript):
        if constant_str(receiver.slice) == "Body":
            ctx.report(
                node,
                "the whole S3 object is read into memory in a request handler: its size "
                "is whatever was uploaded. Stream it (Body.iter_chunks(), a presigned URL or "
                "a StreamingResponse)",
            )
        return
    if func.attr in {"read_bytes", "read_text"}:
        base = receiver
        while isinstance(base, ast.BinOp) and isinstance(base.op, ast.Div):
            base = base.left  # Path / "dir" / name
        kind = ctx.qualname(base) or ""
        if not kind.startswith("pathlib.") or _static_path(receiver, ctx):
            return
        path: ast.AST | None = receiver
    else:
        opened, path = _opened_path(receiver, ctx)
        if not opened or path is None or _static_path(path, ctx):
            return
    ctx.report(
        node,
        f"{_short(ctx, node)} reads a whole file into memory in a request handler: the file "
        "grows, the handler does not. Stream it in chunks (or send_file/FileResponse)",
    )


# -- PRF006 ---------------------------------------------------------------------------------------

_READ_VERBS = ("get", "head")
_REMOTE_READS = frozenset(
    {
        *(f"requests.{verb}" for verb in _READ_VERBS),
        *(f"requests.Session.{verb}" for verb in _READ_VERBS),
        *(f"requests.sessions.Session.{verb}" for verb in _READ_VERBS),
        *(f"httpx.{verb}" for verb in _READ_VERBS),
        *(f"httpx.Client.{verb}" for verb in _READ_VERBS),
        *(f"httpx.AsyncClient.{verb}" for verb in _READ_VERBS),
        "aiohttp.ClientSession.get",
        "urllib.request.urlopen",
        "django.core.cache.cache.get",
        "django.core.cache.cache.get_many",
    }
)
_REDIS_CLIENT_TYPES = (
    "redis.Redis.",
    "redis.StrictRedis.",
    "redis.from_url.",
    "redis.Redis.from_url.",
    "redis.asyncio.Redis.",
    "redis.asyncio.from_url.",
    "redis.asyncio.Redis.from_url.",
)
_REDIS_READS = frozenset(
    {"get", "mget", "hget", "hgetall", "hmget", "exists", "smembers", "lrange", "zrange", "ttl"}
)
_BOTO_READS = frozenset(
    {"get_object", "head_object", "get_parameter", "get_parameters", "get_secret_value"}
    | {"get_item", "list_objects_v2", "get_queue_url", "get_caller_identity"}
)
_MUTATORS = frozenset(
    {"append", "extend", "update", "add", "pop", "insert", "setdefault", "clear", "remove"}
)


def _remote_read(node: ast.Call, ctx: PythonContext) -> str | None:
    name = ctx.call_name or ""
    if name in _REMOTE_READS:
        return name
    method = name.rsplit(".", 1)[-1]
    if method in _REDIS_READS and name.startswith(_REDIS_CLIENT_TYPES):
        return name
    if method in _BOTO_READS and name.startswith(("boto3.client.", "boto3.Session.client.")):
        return name
    return None


def _varying_names(loop: ast.AST, ctx: PythonContext) -> set[str] | None:
    """Names that change from one iteration of ``loop`` to the next (its targets, what its body
    assigns or mutates); None for loops that repeat on purpose (polling, retries, ranges)."""
    cache: dict[int, set[str] | None] = ctx.rule_state(dict)
    key = id(loop)
    if key in cache:
        return cache[key]
    names: set[str] | None = set()
    body: list[ast.AST] = []
    if isinstance(loop, ast.For | ast.AsyncFor):
        iterable = loop.iter
        if (
            isinstance(iterable, ast.Call)
            and ctx.qualname(iterable.func) in {"builtins.range", "itertools.count"}
        ) or (isinstance(loop.target, ast.Name) and loop.target.id == "_"):
            names = None  # repetition is the point: retries, polling, load generation
        else:
            names = _target_names(loop.target)
            body = list(loop.body)
    elif isinstance(loop, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        assert names is not None
        for generator in loop.generators:
            names |= _target_names(generator.target)
        body = [loop]
    else:
        names = None  # while loops poll and retry
    if names is not None:
        for node in walk_body(body):  # type: ignore[arg-type]
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, ast.Subscript | ast.Attribute) and not isinstance(
                node.ctx, ast.Load
            ):
                root = dotted(node.value) if isinstance(node, ast.Attribute) else None
                names.add((root or _root(node)).split(".")[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
            ):
                names.add(_root(node.func.value))
            elif isinstance(node, ast.Call) and (ctx.qualname(node.func) or "") in _SLEEPS:
                names = None  # paced repetition: polling
                break
    cache[key] = names
    return names


_SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "gevent.sleep", "trio.sleep", "anyio.sleep"})


def _root(expr: ast.AST) -> str:
    while isinstance(expr, ast.Attribute | ast.Subscript | ast.Call):
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    return expr.id if isinstance(expr, ast.Name) else ""


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


@python_rule(
    code="PRF006",
    name="repeated-remote-call-in-loop",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Identical remote read (HTTP GET, Redis, S3, SSM) repeated on every loop iteration",
    calls=(
        *sorted(_REMOTE_READS),
        *(f"{client}*" for client in _REDIS_CLIENT_TYPES),
        "boto3.client.*",
        "boto3.Session.client.*",
    ),
    fix="Make the call once before the loop and reuse the result (or cache it with a TTL).",
)
def repeated_remote_call_in_loop(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a remote read -- `requests`/`httpx`/`aiohttp` GET or HEAD, `urlopen`, a Redis read
    (`get`, `hgetall`, `smembers`...), Django's `cache.get`, boto3 reads such as
    `get_object`, `get_parameter`, `get_secret_value` -- made inside a loop over data when none
    of its arguments change from one iteration to the next: the same request is sent on every
    iteration. Loops that repeat on purpose (`while` polling, `for _ in range(n)` retries,
    loops that sleep) are not flagged.

    ## Why it breaks production
    The result is the same every time, but every iteration pays a network round trip: a loop
    over 2,000 order lines fetching the same exchange rate makes 2,000 HTTP calls, turning a
    20 ms endpoint into 20 seconds, multiplying load on the dependency by the size of the data
    and making the endpoint fail as soon as the dependency rate-limits you.

    ## Example
    ```python
    for line in order.lines:
        rate = requests.get(f"{FX_URL}/latest?base=EUR", timeout=3).json()["rates"]["USD"]
        line.total_usd = line.total * rate
    ```

    ## Use instead
    ```python
    rate = requests.get(f"{FX_URL}/latest?base=EUR", timeout=3).json()["rates"]["USD"]
    for line in order.lines:
        line.total_usd = line.total * rate
    ```
    """
    if not ctx.loops or ctx.function is None or ctx.facts.is_test:
        return
    name = _remote_read(node, ctx)
    if name is None:
        return
    if any(isinstance(a, ast.Starred) for a in node.args) or has_star_kwargs(node):
        return
    varying = _varying_names(ctx.loops[-1], ctx)
    if varying is None:
        return
    arguments: list[ast.AST] = [*node.args, *(k.value for k in node.keywords), node.func]
    used: set[str] = set()
    for argument in arguments:
        for child in ast.walk(argument):
            if isinstance(child, ast.Name):
                used.add(child.id)
            elif isinstance(child, ast.Call | ast.Await | ast.Lambda):
                return  # computed per call (a token, a timestamp, a cursor)
    if used & varying:
        return
    short = name.rsplit(".", 1)[-1]
    ctx.report(
        node,
        f"{_short(ctx, node)} sends the same {short} on every iteration of the loop (none of "
        "its arguments change): one network round trip per item for the same answer. Make "
        "the call once before the loop and reuse the result",
    )


# -- PRF007 ---------------------------------------------------------------------------------------

_CPU_CALLS = {
    "bcrypt.hashpw": "bcrypt hashing",
    "bcrypt.checkpw": "bcrypt verification",
    "bcrypt.kdf": "bcrypt key derivation",
    "hashlib.pbkdf2_hmac": "PBKDF2 key derivation",
    "hashlib.scrypt": "scrypt key derivation",
    "passlib.hash.bcrypt.hash": "password hashing",
    "passlib.hash.bcrypt.verify": "password verification",
    "passlib.hash.argon2.hash": "password hashing",
    "passlib.hash.argon2.verify": "password verification",
    "passlib.hash.pbkdf2_sha256.hash": "password hashing",
    "passlib.hash.pbkdf2_sha256.verify": "password verification",
    "passlib.context.CryptContext.hash": "password hashing",
    "passlib.context.CryptContext.verify": "password verification",
    "passlib.context.CryptContext.verify_and_update": "password verification",
    "argon2.PasswordHasher.hash": "Argon2 hashing",
    "argon2.PasswordHasher.verify": "Argon2 verification",
    "django.contrib.auth.hashers.make_password": "password hashing",
    "django.contrib.auth.hashers.check_password": "password verification",
    "zlib.compress": "compression",
    "zlib.decompress": "decompression",
    "gzip.compress": "compression",
    "gzip.decompress": "decompression",
    "bz2.compress": "compression",
    "bz2.decompress": "decompression",
    "lzma.compress": "compression",
    "lzma.decompress": "decompression",
    "pandas.read_excel": "spreadsheet parsing",
}
# PIL image operations on an image opened or created with PIL.
_PIL_SOURCES = ("PIL.Image.open.", "PIL.Image.new.", "PIL.Image.frombytes.", "PIL.Image.Image.")
_PIL_OPERATIONS = frozenset(
    {"resize", "thumbnail", "convert", "rotate", "transpose", "filter", "save", "crop", "reduce"}
    | {"quantize", "transform", "paste", "tobytes"}
)
_HASH_METHODS = frozenset({"check_password", "set_password"})


@python_rule(
    code="PRF007",
    name="cpu-bound-work-in-async-handler",
    category=Category.PERFORMANCE,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="CPU-heavy call (password hashing, image processing, compression) in async def",
    calls=(
        *sorted(_CPU_CALLS),
        "PIL.Image.*",
        "*.check_password",
        "*.set_password",
    ),
    nodes=(ast.Lambda,),
    fix="Run it off the event loop: await asyncio.to_thread(bcrypt.checkpw, password, hashed) "
    "or loop.run_in_executor(pool, ...).",
)
def cpu_bound_work_in_async_handler(node: ast.Call | ast.Lambda, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags CPU-heavy synchronous calls made directly inside an `async def`: password hashing and
    verification (`bcrypt.hashpw/checkpw`, `hashlib.pbkdf2_hmac/scrypt`, passlib
    `CryptContext.hash/verify`, argon2 `PasswordHasher().hash/verify`, Django
    `make_password`/`check_password`/`user.check_password`), PIL image operations (`resize`,
    `thumbnail`, `convert`, `save`...), `zlib/gzip/bz2/lzma` compression and
    `pandas.read_excel`. Calls handed to `asyncio.to_thread`/`run_in_executor` (or wrapped in a
    lambda for them) are not flagged; blocking I/O is CON001.

    ## Why it breaks production
    These calls are slow on purpose or by nature: a bcrypt check takes 100-300 ms of pure CPU,
    resizing a photo as long. Inside a coroutine they run on the event loop's only thread, so
    for that time the worker serves nobody: one login burst or a few uploads stall every
    other request on the worker, health checks included, and p99 latency explodes.

    ## Example
    ```python
    @app.post("/login")
    async def login(form: LoginForm):
        user = await users.get_by_email(form.email)
        if not user or not bcrypt.checkpw(form.password.encode(), user.password_hash):
            raise HTTPException(401)
    ```

    ## Use instead
    ```python
    @app.post("/login")
    async def login(form: LoginForm):
        user = await users.get_by_email(form.email)
        ok = user is not None and await asyncio.to_thread(
            bcrypt.checkpw, form.password.encode(), user.password_hash
        )
        if not ok:
            raise HTTPException(401)
    ```
    For sustained CPU work use a process pool or a background worker.
    """
    if not ctx.in_async or ctx.facts.is_test or ctx.facts.is_example:
        return
    assert ctx.function is not None
    in_lambdas: set[int] = ctx.rule_state(set)
    if isinstance(node, ast.Lambda):
        in_lambdas.update(id(n) for n in ast.walk(node.body) if isinstance(n, ast.Call))
        return
    if id(node) in in_lambdas:
        return
    name = ctx.call_name or ""
    what = _CPU_CALLS.get(name)
    confidence: Confidence | None = None
    if what is None:
        method = name.rsplit(".", 1)[-1]
        if name.startswith(_PIL_SOURCES) and method in _PIL_OPERATIONS:
            what = "image processing"
        elif method in _HASH_METHODS and isinstance(node.func, ast.Attribute):
            if not node.args or is_framework_source(ctx):
                return  # Django's own models and hashers
            what = "password hashing"
            confidence = Confidence.LOW
        else:
            return
    ctx.report(
        node,
        f"{_short(ctx, node)} is CPU-bound {what} inside async def {ctx.function.name}(): it "
        "blocks the event loop, so every other request on this worker waits. Run it with "
        "await asyncio.to_thread(...) or in an executor",
        confidence=confidence,
    )
