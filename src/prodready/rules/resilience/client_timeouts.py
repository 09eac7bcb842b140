"""Resilience: Redis, database and boto3 clients without timeouts (RES005, RES006, RES007)."""

from __future__ import annotations

import ast

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
    argument,
    constant_str,
    has_keyword,
    has_star_kwargs,
    in_service_code,
    in_task,
    is_framework_source,
    is_none,
    is_script,
    is_true,
    keyword_value,
    module_value,
    string_fragments,
)

# -- client timeouts (RES005, RES006) --------------------------------------------------------

_REDIS_CLIENTS = (
    "redis.Redis",
    "redis.StrictRedis",
    "redis.client.Redis",
    "redis.client.StrictRedis",
    "redis.RedisCluster",
    "redis.cluster.RedisCluster",
    "redis.ConnectionPool",
    "redis.BlockingConnectionPool",
    "redis.connection.ConnectionPool",
    "redis.asyncio.Redis",
    "redis.asyncio.StrictRedis",
    "redis.asyncio.client.Redis",
    "redis.asyncio.RedisCluster",
    "redis.asyncio.ConnectionPool",
    "redis.asyncio.BlockingConnectionPool",
)
_REDIS_FROM_URL = (
    "redis.from_url",
    "redis.asyncio.from_url",
    *(f"{client}.from_url" for client in _REDIS_CLIENTS),
)


@python_rule(
    code="RES005",
    name="redis-client-without-timeout",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="redis-py client or pool without socket_timeout: a hung Redis blocks callers forever",
    calls=(*_REDIS_CLIENTS, *_REDIS_FROM_URL),
    fix="Pass socket_timeout= and socket_connect_timeout= (seconds), e.g. "
    "redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).",
)
def redis_client_without_timeout(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags redis-py clients and connection pools (`redis.Redis(...)`, `redis.from_url(...)`,
    `redis.ConnectionPool(...)`, their `redis.asyncio` twins, `RedisCluster`) created without
    `socket_timeout`, or with `socket_timeout=None`, and whose URL does not set it either.

    ## Why it breaks production
    redis-py's `socket_timeout` defaults to `None`: every command waits forever for a reply.
    Redis is usually on the hot path (sessions, rate limits, caches), so when it stalls --
    a failover, a long `KEYS`/Lua script, a network partition that drops packets -- every
    request thread blocks on it and the whole service stops answering instead of degrading.

    ## Example
    ```python
    cache = redis.Redis(host=REDIS_HOST, port=6379, db=0)
    ```

    ## Use instead
    ```python
    cache = redis.Redis(
        host=REDIS_HOST, port=6379, db=0, socket_timeout=2, socket_connect_timeout=2
    )
    ```
    """
    if ctx.facts.is_test or has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    if has_keyword(node, "connection_pool"):
        return  # the pool carries the socket options
    from_url = name.endswith(".from_url")
    position = 4 if name.rsplit(".", 1)[-1] in {"Redis", "StrictRedis"} else None
    timeout = argument(node, None if from_url else position, "socket_timeout")
    if timeout is not None:
        if is_none(timeout):
            ctx.report(
                node,
                f"{name}() with socket_timeout=None waits forever for a reply from a stalled "
                "Redis. Set socket_timeout to a few seconds.",
            )
        return
    confidence = None
    if from_url:
        url = argument(node, 0, "url")
        if url is None or "socket_timeout" in "".join(string_fragments(url, ctx)):
            return
        if constant_str(url) is None:
            # The URL comes from configuration and may carry ?socket_timeout=.
            confidence = Confidence.MEDIUM
    partial = has_keyword(node, "socket_connect_timeout")
    ctx.report(
        node,
        f"{name}() has no socket_timeout"
        + (" (socket_connect_timeout only bounds connecting)" if partial else "")
        + ": redis-py waits forever for replies by default, so a stalled Redis blocks every "
        "request that touches it. Pass socket_timeout= (and socket_connect_timeout=).",
        confidence=confidence,
    )


_LIBPQ_CONNECTS = {
    # callee -> position of the DSN argument
    "psycopg2.connect": 0,
    "psycopg2.pool.SimpleConnectionPool": 2,
    "psycopg2.pool.ThreadedConnectionPool": 2,
    "psycopg.connect": 0,
    "psycopg.Connection.connect": 0,
    "psycopg.AsyncConnection.connect": 0,
}
_ASYNCPG = ("asyncpg.connect", "asyncpg.create_pool")
_ENGINES = ("sqlalchemy.create_engine", "sqlalchemy.engine.create_engine")


@python_rule(
    code="RES006",
    name="db-connect-without-timeout",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="PostgreSQL connection opened without connect_timeout: an unreachable host hangs it",
    calls=(*_LIBPQ_CONNECTS, *_ASYNCPG, *_ENGINES),
    fix="Pass connect_timeout=5 (or put connect_timeout=5 in the DSN / connect_args).",
)
def db_connect_without_timeout(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags PostgreSQL connections opened with `psycopg2`/`psycopg` (and `psycopg2` pools) that set
    no `connect_timeout` -- neither as a keyword nor in the DSN (`"... connect_timeout=5"`,
    `?connect_timeout=5`) -- `asyncpg` connections with `timeout=None`, and SQLAlchemy engines
    on a literal `postgresql://` URL without `connect_timeout` in the URL or `connect_args`.
    A nonblocking `psycopg2` connection (`async_=True`) is reported low, confidence low: libpq
    ignores `connect_timeout` while the application polls the connect, so the bound belongs in
    the poll loop, which the rule does not follow. Unix-socket connections are left alone; a
    loopback host (`localhost`, `127.0.0.1`) is
    reported with low confidence in code a service runs (it is a sidecar proxy or a laptop-only
    address) and left alone in scripts, migrations and examples.

    ## Why it breaks production
    libpq's `connect_timeout` defaults to "wait indefinitely". When the database host is
    unreachable (failover in progress, security group change, DNS pointing at a dead IP) a
    connect blocks for the kernel's TCP timeout -- minutes -- and forever if the server accepts
    the TCP connection but never answers. Workers pile up on connects, health checks time out
    and the service goes down with the database instead of failing fast and recovering.

    ## Example
    ```python
    conn = psycopg2.connect(host=DB_HOST, dbname="orders", user=DB_USER, password=DB_PASSWORD)
    ```

    ## Use instead
    ```python
    conn = psycopg2.connect(
        host=DB_HOST, dbname="orders", user=DB_USER, password=DB_PASSWORD, connect_timeout=5
    )
    ```
    The `PGCONNECT_TIMEOUT` environment variable also works, but only where it is set.
    """
    if ctx.facts.is_test or has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    timeout = keyword_value(node, "connect_timeout")
    if name in _ASYNCPG:
        # asyncpg defaults to timeout=60; only an explicit None disables it.
        value = keyword_value(node, "timeout")
        if value is not None and is_none(value):
            ctx.report(
                node,
                f"{name}() with timeout=None waits forever for an unreachable database. "
                "Keep asyncpg's default or pass timeout=10.",
                confidence=Confidence.HIGH,
            )
        return
    if name in _ENGINES:
        _check_engine(node, name, ctx)
        return
    if timeout is not None:
        if is_none(timeout):
            ctx.report(node, f"{name}() with connect_timeout=None waits forever to connect.")
        return
    if name == "psycopg2.connect" and _nonblocking(node):
        ctx.report(
            node,
            f"{name}(async_=True) opens a nonblocking connection: libpq ignores connect_timeout "
            "there, so how long a connect to an unreachable host may take is up to the loop "
            "that polls it -- give that loop's select()/wait a timeout",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    position = _LIBPQ_CONNECTS[name]
    dsn = argument(node, position, "conninfo" if name.startswith("psycopg.") else "dsn")
    if dsn is None and not node.keywords:
        return  # everything comes from PG* environment variables, PGCONNECT_TIMEOUT included
    text = "".join(string_fragments(dsn, ctx))
    if "connect_timeout" in text:
        return
    host = constant_str(keyword_value(node, "host"))
    local = _local_database(host or text, literal=host is not None or constant_str(dsn) is not None)
    if local == "socket" or (local == "loopback" and _local_setup(ctx)):
        return
    # A DSN built elsewhere (settings, environment) may carry connect_timeout.
    opaque = dsn is not None and not text
    psycopg3 = name.startswith("psycopg.")
    ctx.report(
        node,
        f"{name}() sets no connect_timeout: "
        + (
            "psycopg 3 falls back to a long default (about two minutes in recent releases), "
            if psycopg3
            else "libpq waits indefinitely by default, "
        )
        + "so an unreachable database host stalls every worker that connects"
        + (_LOOPBACK_NOTE if local == "loopback" else "")
        + ". Pass connect_timeout=5 (or add it to the DSN).",
        severity=Severity.LOW if psycopg3 else None,
        confidence=Confidence.LOW if opaque or psycopg3 or local else None,
    )


def _nonblocking(node: ast.Call) -> bool:
    """``psycopg2.connect(..., async_=True)`` (``async=`` before Python 3.7): the connect is
    polled by the application (PQconnectPoll), for which libpq documents that connect_timeout
    is ignored."""
    flag = keyword_value(node, "async_") or keyword_value(node, "async")
    return flag is not None and is_true(flag)


# A loopback address in code a service runs is a sidecar (pgbouncer, Cloud SQL Auth Proxy) or
# an address that only works on a laptop: either way a connect there can hang.
_LOOPBACK_NOTE = (
    " (on localhost too: a sidecar proxy such as pgbouncer or the Cloud SQL Auth Proxy "
    "accepts the connection and then waits for a database it cannot reach)"
)


def _local_setup(ctx: PythonContext) -> bool:
    """Code that runs on a developer's machine or next to its own database -- a script, a
    migration, an example, a framework's own source -- where a loopback database is expected."""
    return ctx.facts.is_example or is_script(ctx) or is_framework_source(ctx)


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "/")


def _local_database(text: str, *, literal: bool) -> str | None:
    """Whether a host, DSN or URL names a database on this machine: ``"socket"`` for a unix
    socket (no network in between to hang on), ``"loopback"`` for localhost/127.0.0.1 (what
    examples and dev setups use -- or a sidecar proxy), ``None`` otherwise.
    ``literal``: ``text`` is the whole string, not the fixed pieces of a template."""
    if not text:
        return None
    if text.startswith("/"):
        return "socket"  # the host keyword itself
    if text.startswith(_LOCAL_HOSTS):
        return "loopback"
    if "://" in text:
        netloc = text.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        # An empty host in a literal URL means the local unix socket; in a template it is
        # only the part filled in at run time.
        if literal and netloc == "":
            return "socket"
        return "loopback" if netloc.startswith(_LOCAL_HOSTS[:3]) else None
    if "host=/" in text:
        return "socket"
    return "loopback" if any(f"host={host}" in text for host in _LOCAL_HOSTS[:3]) else None


def _check_engine(node: ast.Call, name: str, ctx: PythonContext) -> None:
    # The scheme is visible when the URL is a literal or a template (``f"postgresql://{...}"``).
    expr = argument(node, 0, "url")
    url = "".join(string_fragments(expr, ctx))
    if not url.startswith(("postgresql", "postgres:")):
        return
    literal = isinstance(expr, ast.Constant)
    if "asyncpg" in url or "connect_timeout" in url:
        return
    local = _local_database(url, literal=literal)
    if local == "socket" or (local == "loopback" and _local_setup(ctx)):
        return
    connect_args = keyword_value(node, "connect_args")
    if connect_args is not None:
        if not isinstance(connect_args, ast.Dict):
            return  # built elsewhere: may hold connect_timeout
        for key in connect_args.keys:
            if key is None or constant_str(key) in {"connect_timeout", "timeout"}:
                return
    ctx.report(
        node,
        f"{name}() on a PostgreSQL URL without connect_timeout: libpq waits indefinitely to "
        "connect, so an unreachable database stalls every pooled checkout"
        + (_LOOPBACK_NOTE if local == "loopback" else "")
        + ". Add ?connect_timeout=5 to the URL or connect_args={'connect_timeout': 5}.",
        confidence=Confidence.LOW,
    )


# -- AWS clients (RES007) --------------------------------------------------------------------

_BOTO_CLIENTS = (
    "boto3.client",
    "boto3.resource",
    "boto3.Session.client",
    "boto3.Session.resource",
    "boto3.session.Session.client",
    "boto3.session.Session.resource",
    "aioboto3.Session.client",
    "aioboto3.Session.resource",
    "aioboto3.session.Session.client",
    "aioboto3.session.Session.resource",
    "botocore.session.get_session.create_client",
    "botocore.session.Session.create_client",
    "aiobotocore.session.get_session.create_client",
    "aiobotocore.session.AioSession.create_client",
)
_BOTO_CONFIGS = frozenset(
    {"botocore.config.Config", "botocore.client.Config", "aiobotocore.config.AioConfig"}
    | {"boto3.session.Config"}
)
_BOTO_TIMEOUTS = frozenset({"connect_timeout", "read_timeout"})


_ASYNC_BOTO = ("aioboto3.", "aiobotocore.")
_GEVENT_PATCH = "gevent.monkey.patch_all"


def _gevent_patched(directory: str) -> ProjectFact:
    """An entry point in ``directory`` monkey-patches the process for gevent: the code of its
    tree that it imports waits on sockets as greenlets, not as the worker."""
    return ProjectFact(
        f"resilience:gevent-patched:{directory}",
        f"a module in {directory or 'the project root'} calls gevent.monkey.patch_all(): "
        "blocking waits of the code under it hold a greenlet, not the worker",
    )


def _patching_directories(path: str) -> list[ProjectFact]:
    """The facts that would put ``path`` under a gevent-patching entry point: one per
    directory that contains it."""
    parts = path.split("/")[:-1]
    return [_gevent_patched("/".join(parts[:depth])) for depth in range(len(parts) + 1)]


_TASK_FRAMEWORKS = frozenset({"celery", "dramatiq", "rq", "huey", "arq"})


def _background_worker_module(ctx: PythonContext) -> bool:
    """A task-queue module (Celery, Dramatiq, RQ, Huey, arq) that serves no HTTP route."""
    frameworks = ctx.facts.frameworks
    return (
        bool(frameworks & _TASK_FRAMEWORKS)
        and not ctx.facts.routes
        and not (frameworks - _TASK_FRAMEWORKS - {"kafka", "faust"})
    )


def _boto_config_timeouts(config: ast.expr, ctx: PythonContext) -> bool | None:
    """Whether a ``config=`` value sets a timeout: True/False when it is a visible ``Config(...)``,
    None when it is built somewhere we cannot see (settings, a merge, a parameter)."""
    if isinstance(config, ast.Name):
        value = module_value(config.id, ctx)
        if value is None or value is config:
            return None
        config = value
    if not isinstance(config, ast.Call) or ctx.qualname(config.func) not in _BOTO_CONFIGS:
        return None
    if has_star_kwargs(config):
        return None
    return any(item.arg in _BOTO_TIMEOUTS for item in config.keywords)


@python_rule(
    code="RES007",
    name="boto3-client-without-timeouts",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    summary="boto3/botocore client on the default 60 s connect + 60 s read timeouts and retries",
    calls=(*_BOTO_CLIENTS, _GEVENT_PATCH),
    nodes=(ModuleEnd,),
    fix="Pass config=botocore.config.Config(connect_timeout=2, read_timeout=5, "
    'retries={"max_attempts": 3, "mode": "standard"}).',
)
def boto3_client_without_timeouts(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags AWS clients and resources created in service code -- `boto3.client(...)`,
    `boto3.resource(...)`, `Session().client(...)`, `aioboto3`, `botocore`/`aiobotocore`
    `create_client(...)` -- without a `config=botocore.config.Config(...)` that sets
    `connect_timeout` or `read_timeout`. A `Config` held in a variable is followed; one built
    elsewhere (settings, a parameter) is trusted. botocore's defaults are finite, so the
    finding is low where no web worker is held while they run: an `aioboto3`/`aiobotocore`
    client (its calls are awaited), a task-queue module (Celery, RQ, Dramatiq, Huey, arq)
    that serves no route, and a client built inside a task function (`@shared_task`...).
    Under an entry point that calls `gevent.monkey.patch_all()` (in the file's directory or
    one above it) the bounded wait holds one greenlet, not the worker: not reported.

    ## Why it breaks production
    botocore waits 60 seconds to connect and 60 seconds for each read, and the legacy retry
    mode retries several times on top of that. When S3, SQS or DynamoDB is slow or a VPC
    endpoint is unreachable, a single call in a request holds the worker for minutes: the
    worker pool fills, health checks time out and the whole service stops answering because
    of one degraded AWS dependency -- long after the caller gave up.

    ## Example
    ```python
    s3 = boto3.client("s3", region_name=AWS_REGION)
    ```

    ## Use instead
    ```python
    from botocore.config import Config

    AWS_CONFIG = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    s3 = boto3.client("s3", region_name=AWS_REGION, config=AWS_CONFIG)
    ```
    """
    pending: list[tuple[ast.Call, str, bool, bool, bool]] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd: the module's kind is known now
        if pending and in_service_code(ctx):
            worker_module = _background_worker_module(ctx)
            for call, short, configured, awaited, task_body in pending:
                if worker_module or task_body or awaited:
                    # botocore's waits are finite (60 s, a few retries): what makes them an
                    # outage is a sync web worker held meanwhile. A coroutine awaiting the
                    # call holds no worker, and a task queue's worker serves no request.
                    where = (
                        _WORKER_MODULE if worker_module else _TASK_BODY if task_body else _AWAITED
                    )
                    ctx.report(call, _bounded_wait(short, where), severity=Severity.LOW)
                else:
                    # gevent-patched: botocore's bounded wait holds a greenlet, not the worker
                    unless = _patching_directories(ctx.path)
                    ctx.report(call, _held_worker(short, configured), unless=unless)
        return
    if ctx.facts.is_test or ctx.facts.is_example or not isinstance(node, ast.Call):
        return
    if ctx.call_name == _GEVENT_PATCH:
        ctx.establish(_gevent_patched(ctx.path.rpartition("/")[0]))
        return
    if has_star_kwargs(node):
        return
    name = ctx.call_name or ""
    short = name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1] if "." in name else name
    config = argument(node, 9 if name.startswith("boto3.") else None, "config")
    awaited = name.startswith(_ASYNC_BOTO)
    # Built in a task's body (``@shared_task``...): it only ever waits in a worker's job slot,
    # even when the module also imports a web framework for its ORM.
    task_body = in_task(ctx)
    if config is None:
        pending.append((node, short, False, awaited, task_body))
    elif _boto_config_timeouts(config, ctx) is False:
        pending.append((node, short, True, awaited, task_body))


def _held_worker(short: str, configured: bool) -> str:
    if configured:
        return (
            f"{short}() gets a Config without connect_timeout/read_timeout: botocore's "
            "60 s defaults still apply, so a slow AWS endpoint holds this worker for "
            "minutes. Set connect_timeout= and read_timeout= in the Config"
        )
    return (
        f"{short}() has no config=: botocore waits up to 60 s to connect and 60 s per "
        "read, with retries on top, so a slow AWS endpoint holds this worker for "
        "minutes. Pass config=Config(connect_timeout=..., read_timeout=..., "
        "retries=...)"
    )


_WORKER_MODULE = (
    "this module is a task-queue worker that serves no request, so it only slows the job"
)
_TASK_BODY = "the client is built inside a background task, so it only slows the job"
_AWAITED = "the call is awaited, so it holds no worker, only the request that waits on it"


def _bounded_wait(short: str, where: str) -> str:
    return (
        f"{short}() runs on botocore's default timeouts (60 s to connect, 60 s per read, "
        f"with retries): {where}. Set connect_timeout/read_timeout in a Config to fail "
        "faster"
    )
