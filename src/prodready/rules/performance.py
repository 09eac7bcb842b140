"""Performance: work that is fine in a demo and expensive per request at scale."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.engine.analysis import (
    DJANGO_LAZY_METHODS,
    django_query,
    dotted,
    in_task,
    walk_body,
)
from prodready.engine.python import FunctionEnd, PythonContext
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
    kept: set[int] = field(default_factory=set)  # stored in module-level state (lazy init)


@python_rule(
    code="PRF001",
    name="client-created-per-request",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    summary="Pooled client (HTTP session, boto3, Redis, DB engine) built on every request",
    calls=tuple(_POOLED_CLIENTS),
    nodes=(ast.Assign, FunctionEnd),
    fix="Create the client once at module level or in the app's startup/lifespan, and reuse it.",
)
def client_created_per_request(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags clients that own a connection pool created inside an HTTP handler or a task:
    `requests.Session()`, `httpx.Client()/AsyncClient()`, `aiohttp.ClientSession()`,
    `boto3.client()/resource()/Session()`, `redis.Redis(...)/from_url()`,
    `sqlalchemy.create_engine()`, `pymongo.MongoClient()`, psycopg/asyncpg pools and SDK clients
    such as `openai.OpenAI()`. Lazily initialising a module-level client inside the handler
    (`global _client; _client = ...`) is fine.

    ## Why it breaks production
    These objects exist to reuse connections across calls. Built per request, every request
    pays DNS, TCP and TLS handshakes again (tens to hundreds of milliseconds), leaves sockets in
    TIME_WAIT, and under load runs out of file descriptors or ephemeral ports; a per-request
    `create_engine` or Redis client opens a fresh pool each time until the server's connection
    limit is hit. boto3 clients also take tens of milliseconds of CPU to build.

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
    if ctx.function is None or ctx.facts.is_test:
        return
    if ctx.route is None and not in_task(ctx):
        return
    state: _ClientState = ctx.rule_state(_ClientState)
    if isinstance(node, ast.Call):
        state.created.append(node)
        return
    if isinstance(node, ast.Assign):
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call) and any(_kept(t, ctx) for t in node.targets):
            state.kept.add(id(value))
        return
    for call in state.created:
        if id(call) in state.kept:
            continue
        name = ctx.qualname(call.func) or ""
        where = "request" if ctx.route is not None else "task run"
        ctx.report(
            call,
            f"{name}() builds a new {_POOLED_CLIENTS.get(name, 'client')} on every {where}: "
            "no connection reuse, a new TCP/TLS handshake each time and sockets exhausted "
            "under load. Create it once at startup and reuse it",
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
