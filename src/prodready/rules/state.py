"""State: data kept in a process that will be restarted, scaled out or replaced."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from prodready.engine.analysis import (
    argument,
    constant_str,
    dotted,
    in_service_code,
    in_task,
    is_script,
    loaded_names,
)
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext
from prodready.engine.registry import python_rule
from prodready.model import Category, Confidence, Severity

# -- STA001 ---------------------------------------------------------------------------------------

_MUTATORS = frozenset(
    {"append", "extend", "insert", "update", "add", "setdefault", "pop", "popitem", "remove"}
    | {"discard", "clear", "appendleft", "extendleft", "popleft", "__setitem__", "__delitem__"}
)
# Module-level containers named as caches are judged by STA003 (a cache may be per process).
_CACHE_HINTS = ("cache", "memo", "lru")


def _worker_context(ctx: PythonContext) -> str | None:
    if ctx.function is None:
        return None
    if ctx.route is not None:
        return "request handler"
    if in_task(ctx):
        return "task"
    return None


def _state_root(expr: ast.expr) -> ast.Name | None:
    """``STATE`` for ``STATE``, ``STATE[k]``, ``STATE[k][j]``."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None


# Registries of live connections are per process by nature (a socket belongs to one worker).
_CONNECTION_HINTS = (
    "conn",
    "client",
    "socket",
    "subscriber",
    "room",
    "peer",
    "channel",
    "listener",
    "active",
    "connected",
    "queue",
    "stream",
)


def _is_shared_state(name: str, ctx: PythonContext) -> bool:
    lowered = name.lower()
    if not ctx.is_module_state(name) or any(hint in lowered for hint in _CACHE_HINTS):
        return False
    return not (any(hint in lowered for hint in _CONNECTION_HINTS) and _streaming_handler(ctx))


def _streaming_handler(ctx: PythonContext) -> bool:
    """A websocket / server-sent-events handler (a parameter that is a socket or a stream)."""
    scope = ctx.function
    while scope is not None:
        for param in scope.params:
            kind = ctx.qualname(param.annotation) if param.annotation is not None else None
            if param.arg in {"websocket", "ws", "socket"} or (kind or "").endswith("WebSocket"):
                return True
        scope = scope.parent
    return False


def _report_state(node: ast.AST, name: str, where: str, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"module-level {name} is mutated in a {where}: it lives in one worker process -- lost "
        "on restart or deploy and different on every worker and replica. Keep shared state in "
        "the database or Redis",
    )


@python_rule(
    code="STA001",
    name="module-state-mutated-in-handler",
    category=Category.STATE,
    severity=Severity.HIGH,
    summary="Module-level container used as shared state by request handlers or tasks",
    calls=tuple(f"*.{method}" for method in sorted(_MUTATORS)),
    nodes=(ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete),
    fix="Move the state to the database or Redis (with an atomic operation such as INCR/HSET).",
)
def module_state_mutated_in_handler(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a module-level mutable container (`dict`, `list`, `set`, `defaultdict`, `deque`...)
    that an HTTP handler or a Celery/Dramatiq task mutates: item assignment or deletion,
    augmented assignment, `.append/.extend/.update/.add/.setdefault/.pop/.remove/.clear`...,
    and `global` names reassigned or incremented there. Containers named as caches are left to
    STA003; containers that are only read (constants, lookup tables) are fine.

    ## Why it breaks production
    Production runs several worker processes, usually on several replicas, and restarts them on
    every deploy. A module-level dict is private to one process: a cart added on worker 1 is
    missing on worker 2, a rate-limit counter allows N times the limit, a job status is lost on
    restart. It works perfectly with one `flask run` process -- and fails intermittently,
    depending on which worker the load balancer picks.

    ## Example
    ```python
    carts: dict[int, list[dict]] = {}

    @app.post("/cart/items")
    def add_item(item: Item, user: User = Depends(current_user)):
        carts.setdefault(user.id, []).append(item.model_dump())
        return {"items": len(carts[user.id])}
    ```

    ## Use instead
    ```python
    @app.post("/cart/items")
    def add_item(item: Item, user: User = Depends(current_user)):
        redis_client.rpush(f"cart:{user.id}", item.model_dump_json())
        return {"items": redis_client.llen(f"cart:{user.id}")}
    ```
    """
    scope = ctx.function
    if scope is None or not (ctx.facts.module_state or scope.globals):
        return
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    where = _worker_context(ctx)
    if where is None:
        return
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute):
            return
        root = _state_root(func.value)
        if root is not None and _is_shared_state(root.id, ctx):
            _report_state(node, root.id, where, ctx)
        return
    targets: list[ast.expr]
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    else:
        assert isinstance(node, ast.Delete)
        targets = node.targets
    for target in targets:
        if isinstance(target, ast.Subscript):
            root = _state_root(target)
            if root is not None and _is_shared_state(root.id, ctx):
                _report_state(node, root.id, where, ctx)
                return
        elif (
            isinstance(target, ast.Name)
            and target.id in scope.globals
            and _global_write(node, target.id)
        ):
            _report_state(node, target.id, where, ctx)
            return


def _global_write(node: ast.AST, name: str) -> bool:
    """A ``global`` name incremented or set to a per-call value (lazy initialisation of a client
    -- ``_client = make_client()`` -- is fine)."""
    if isinstance(node, ast.AugAssign):
        return True
    value = getattr(node, "value", None)
    if value is None or isinstance(value, ast.Call | ast.Await | ast.Constant | ast.Lambda):
        return False
    lowered = name.lower()
    return not any(hint in lowered for hint in _CACHE_HINTS)


# -- STA002 ---------------------------------------------------------------------------------------

_CACHE_DECORATORS = frozenset(
    {"functools.lru_cache", "functools.cache", "cachetools.cached", "cachetools.func.lru_cache"}
    | {"cachetools.func.ttl_cache", "cachetools.func.lfu_cache", "cachetools.func.rr_cache"}
    | {"cachetools.func.fifo_cache", "async_lru.alru_cache"}
)


def _cache_decorator(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> tuple[str, ast.expr] | None:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target)
        if name in _CACHE_DECORATORS:
            return name, decorator
    return None


@python_rule(
    code="STA002",
    name="cached-method-leak",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    summary="lru_cache/cache on an instance method keeps every instance alive",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    fix="Cache on the instance (functools.cached_property, or a dict attribute), or move the "
    "function to module level and cache on the values it needs, not on self.",
)
def cached_method_leak(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `functools.lru_cache`, `functools.cache` and `cachetools` cache decorators applied to
    an instance method (a method whose first parameter is `self`). `staticmethod` and
    `classmethod` methods and `functools.cached_property` are fine.

    ## Why it breaks production
    The cache lives on the *function*, shared by every instance of the class, and its keys
    include `self`. Every instance that ever called the method stays referenced by the cache:
    request-scoped services, repositories and clients are never garbage-collected, and the
    worker's memory grows until it is OOM-killed. With `maxsize=128` the leak is capped but the
    instances still outlive their request, and one instance's entries evict another's.

    ## Example
    ```python
    class PricingService:
        def __init__(self, tenant):
            self.tenant = tenant

        @lru_cache(maxsize=1024)
        def price_for(self, sku: str) -> Decimal:
            return self._load_price(sku)
    ```

    ## Use instead
    ```python
    class PricingService:
        def __init__(self, tenant):
            self.tenant = tenant
            self._prices: dict[str, Decimal] = {}

        def price_for(self, sku: str) -> Decimal:
            if sku not in self._prices:
                self._prices[sku] = self._load_price(sku)
            return self._prices[sku]
    ```
    """
    scope = ctx.function
    if scope is None or scope.node is not node or scope.class_info is None:
        return
    if ctx.facts.is_test or scope.self_name != "self" or is_script(ctx):
        return
    if f".{node.name}.cache_clear(" in ctx.source:
        return  # the class manages the cache's lifetime explicitly
    found = _cache_decorator(node, ctx)
    if found is None:
        return
    name, decorator = found
    short = name.rsplit(".", 1)[-1]
    if _unbounded_cache(decorator, name):
        ctx.report(
            node,
            f"@{short} on the method {node.name}() caches on self with no size limit: every "
            "instance that calls it stays alive forever (memory leak) and all instances share "
            "one cache. Use cached_property or a per-instance dict",
        )
    elif in_service_code(ctx):
        # Bounded: at most maxsize instances pinned -- a problem for request-scoped objects in
        # a service, a deliberate trade-off on long-lived library objects (dialects, compilers).
        ctx.report(
            node,
            f"@{short} on the method {node.name}() caches on self: up to maxsize instances stay "
            "alive in a cache shared by all instances (request-scoped objects leak with it). "
            "Use cached_property or a per-instance dict",
            confidence=Confidence.MEDIUM,
        )


# -- STA003 ---------------------------------------------------------------------------------------

_PER_REQUEST_TOKENS = frozenset(
    {"user", "username", "email", "session", "token", "ip", "request", "req", "query", "search"}
    | {"url", "uri", "customer", "account", "visitor", "phone", "prompt", "payload", "body"}
    | {"message", "order", "cart", "tenant", "jwt", "cookie", "headers", "address", "sid"}
    | {"uid", "q", "text", "input", "filename", "upload", "term"}
)


def _per_request_param(name: str) -> bool:
    tokens = [token for token in re.split(r"_+", name.lower()) if token]
    return any(token in _PER_REQUEST_TOKENS for token in tokens)


def _unbounded_cache(decorator: ast.expr, name: str) -> bool:
    if name == "functools.cache":
        return True
    if name != "functools.lru_cache" or not isinstance(decorator, ast.Call):
        return False
    size = argument(decorator, 0, "maxsize")
    return isinstance(size, ast.Constant) and size.value is None


@dataclass(slots=True)
class _MemoState:
    writes: list[tuple[ast.AST, str, str]] = field(default_factory=list)  # node, dict, param
    reads: set[str] = field(default_factory=set)
    evicted: set[str] = field(default_factory=set)


def _per_request_key(key: ast.AST, ctx: PythonContext) -> str | None:
    """The per-request-looking parameter the key is built from (directly or via a local)."""
    scope = ctx.function
    if scope is None:
        return None
    params = {param.arg for param in scope.params} - {"self", "cls"}
    names = loaded_names(key)
    for name in list(names):
        value = ctx.value_of(name)
        if value is not None and name not in params:
            names |= loaded_names(value)
    for name in sorted(names & params):
        if _per_request_param(name):
            return name
    return None


@python_rule(
    code="STA003",
    name="unbounded-cache",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="In-process cache keyed by per-request values with no size bound",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign, ast.Compare, ast.Delete, ModuleEnd),
    calls=("*.get", "*.setdefault", "*.pop", "*.popitem", "*.clear", "builtins.len"),
    fix="Bound it: lru_cache(maxsize=...), cachetools.TTLCache(maxsize=..., ttl=...), or an "
    "external cache (Redis) with expiry.",
)
def unbounded_cache(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags in-process caches that grow without bound on per-request data: `functools.cache` /
    `lru_cache(maxsize=None)` on a function taking users, sessions, tokens, emails, IPs, queries
    or URLs, and a module-level dict used as a memo (`if key in _cache: ...; _cache[key] =
    value`) whose key comes from such a parameter, with no eviction anywhere in the module (no
    `pop`, `del`, `clear`, `popitem` or `len()` bound check).

    ## Why it breaks production
    Every distinct user, token or query adds an entry that is never removed. Memory grows with
    traffic until the worker is OOM-killed and restarted -- a slow leak that shows up as
    periodic restarts days after a deploy. Entries also never expire, so revoked tokens and
    changed profiles keep being served from the cache.

    ## Example
    ```python
    @functools.cache
    def permissions_for(user_id: int) -> set[str]:
        return load_permissions(user_id)
    ```

    ## Use instead
    ```python
    _permissions = cachetools.TTLCache(maxsize=10_000, ttl=300)

    @cachetools.cached(_permissions)
    def permissions_for(user_id: int) -> set[str]:
        return load_permissions(user_id)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        _check_cached_function(node, ctx)
        return
    state: _MemoState | None = ctx.module_state.get("STA003")
    if state is None:
        state = ctx.module_state["STA003"] = _MemoState()
    if isinstance(node, ast.Module):  # ModuleEnd
        for write, name, param in state.writes:
            if name in state.reads and name not in state.evicted:
                ctx.report(
                    write,
                    f"module-level {name} memoizes per-{param} values and nothing ever evicts "
                    "them: it grows with every distinct value until the worker runs out of "
                    "memory. Use cachetools.TTLCache(maxsize=..., ttl=...) or Redis with expiry",
                )
        return
    if ctx.function is None:
        return
    if isinstance(node, ast.Call):
        _memo_call(node, ctx, state)
    elif isinstance(node, ast.Compare):
        if any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            for comparator in node.comparators:
                if isinstance(comparator, ast.Name) and ctx.is_module_state(comparator.id):
                    state.reads.add(comparator.id)
    elif isinstance(node, ast.Delete):
        for target in node.targets:
            root = _state_root(target)
            if root is not None and ctx.is_module_state(root.id):
                state.evicted.add(root.id)
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in ctx.function.globals:
                state.evicted.add(target.id)  # reset: global _cache; _cache = {}
            if not isinstance(target, ast.Subscript) or not isinstance(target.value, ast.Name):
                continue
            container = target.value.id
            if not ctx.is_module_state(container) or _is_parameter(node.value, ctx):
                continue  # registries store the argument itself: _handlers[name] = handler
            key_param = _per_request_key(target.slice, ctx)
            if key_param is not None:
                state.writes.append((node, container, key_param))


def _is_parameter(expr: ast.expr, ctx: PythonContext) -> bool:
    scope = ctx.function
    return (
        isinstance(expr, ast.Name)
        and scope is not None
        and any(param.arg == expr.id for param in scope.params)
    )


def _memo_call(node: ast.Call, ctx: PythonContext, state: _MemoState) -> None:
    func = node.func
    if ctx.call_name == "builtins.len":
        if node.args and isinstance(node.args[0], ast.Name):
            state.evicted.add(node.args[0].id)
        return
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
        return
    name = func.value.id
    if not ctx.is_module_state(name):
        return
    if func.attr == "get":
        state.reads.add(name)
    elif func.attr == "setdefault" and node.args:
        state.reads.add(name)
        param = _per_request_key(node.args[0], ctx)
        if param is not None and not (len(node.args) > 1 and _is_parameter(node.args[1], ctx)):
            state.writes.append((node, name, param))
    else:
        state.evicted.add(name)


def _check_cached_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    scope = ctx.function
    if scope is None or scope.node is not node or scope.self_name is not None:
        return  # methods: see STA002
    found = _cache_decorator(node, ctx)
    if found is None or not _unbounded_cache(found[1], found[0]):
        return
    params = [p.arg for p in scope.params if p.arg not in {"self", "cls"}]
    per_request = [p for p in params if _per_request_param(p)]
    if not per_request:
        return
    decorator = "@cache" if found[0] == "functools.cache" else "@lru_cache(maxsize=None)"
    ctx.report(
        node,
        f"{decorator} on {node.name}() keeps one entry per distinct {per_request[0]} forever: "
        "memory grows with traffic and entries never expire. Set maxsize= or use a TTL cache",
    )


# -- STA004 ---------------------------------------------------------------------------------------

_WRITE_MODE = re.compile(r"[wax+]")
_SCRATCH_HINTS = ("tmp", "temp", "/dev/", "devnull", "buffer", "bytesio")
# Calls that consume a file written earlier in the same handler (scratch, not state).
_CONSUMERS = frozenset(
    {"send_file", "send_from_directory", "FileResponse", "remove", "unlink", "rmtree"}
    | {"upload_file", "upload_fileobj", "read_text", "read_bytes", "run", "call", "check_call"}
    | {"check_output", "Popen", "load_workbook", "read_csv", "StreamingResponse", "serve"}
)
_UPLOAD_TYPES = (
    "werkzeug.datastructures.FileStorage",
    "werkzeug.FileStorage",
    "django.core.files.storage.FileSystemStorage",
)


@dataclass(slots=True)
class _FileState:
    writes: list[tuple[ast.Call, str | None, str]] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)


def _scratch(path: ast.AST | None, ctx: PythonContext) -> bool:
    if path is None:
        return True
    text = ctx.segment(path).lower()
    if isinstance(path, ast.Name):
        value = ctx.value_of(path.id)
        if value is not None:
            text += " " + ctx.segment(value).lower()
    return any(hint in text for hint in _SCRATCH_HINTS)


def _upload_receiver(expr: ast.AST, ctx: PythonContext) -> bool:
    """``request.files["f"]``, ``request.files.get("f")`` or a name bound to one."""
    if isinstance(expr, ast.Name):
        kind = ctx.qualname(expr) or ""
        if kind.startswith(_UPLOAD_TYPES):
            return True
        value = ctx.value_of(expr.id)
        if value is None:
            return False
        expr = value
    if isinstance(expr, ast.Subscript):
        expr = expr.value
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr not in {"get", "getlist"}:
            return ctx.qualname(expr.func) in _UPLOAD_TYPES
        expr = expr.func.value
    else:
        return False
    return (dotted(expr) or "").endswith(("request.files", "request.FILES"))


@python_rule(
    code="STA004",
    name="local-file-state-in-handler",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Request handler keeps data in files on the container's local disk",
    calls=(
        "builtins.open",
        "io.open",
        "pathlib.Path.open",
        "*.write_text",
        "*.write_bytes",
        "shelve.open",
        "sqlite3.connect",
        "*.save",
        *(f"*.{name}" for name in sorted(_CONSUMERS)),
        "flask.send_file",
        "flask.send_from_directory",
        "fastapi.responses.FileResponse",
        "starlette.responses.FileResponse",
        "django.http.FileResponse",
    ),
    nodes=(FunctionEnd,),
    fix="Store uploads and generated files in object storage (S3, GCS, Azure Blob) and state in "
    "the database; use tempfile only for scratch data deleted in the same request.",
)
def local_file_state_in_handler(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers that persist data on the local filesystem: `open(path, "w"/"a"/
    "wb"/...)`, `Path.write_text/write_bytes`, `shelve.open`, `sqlite3.connect("file.db")`,
    saving an upload with `request.files[...].save(path)` or `FileSystemStorage().save()`.
    Paths under `tempfile`/`/tmp`, and files the same handler then sends, uploads or deletes
    (scratch files) are not flagged.

    ## Why it breaks production
    Containers are disposable: a deploy, a reschedule or a crash replaces the filesystem and
    the files are gone. With two replicas behind a load balancer, a file written by one is
    invisible to the other, so the user who uploaded an avatar gets a 404 on the next request
    half the time. Disks also fill up, and read-only root filesystems make the write fail.

    ## Example
    ```python
    @app.post("/avatars")
    def upload_avatar():
        f = request.files["avatar"]
        f.save(os.path.join(UPLOAD_DIR, secure_filename(f.filename)))
        return {"ok": True}
    ```

    ## Use instead
    ```python
    @app.post("/avatars")
    def upload_avatar():
        f = request.files["avatar"]
        key = f"avatars/{current_user.id}/{uuid4()}"
        s3.upload_fileobj(f.stream, AVATAR_BUCKET, key)
        return {"key": key}
    ```
    """
    if ctx.route is None or ctx.function is None or ctx.facts.is_test:
        return
    state: _FileState = ctx.rule_state(_FileState)
    if isinstance(node, ast.Call):
        _file_call(node, ctx, state)
        return
    for call, key, what in state.writes:
        if key is not None and key in state.consumed:
            continue
        ctx.report(
            call,
            f"{what} writes to the container's local disk in a request handler: the file is "
            "lost when the container is replaced and missing on the other replicas. Store it "
            "in object storage (S3/GCS) or the database",
        )


def _file_call(node: ast.Call, ctx: PythonContext, state: _FileState) -> None:
    name = ctx.call_name or ""
    func = node.func
    attr = func.attr if isinstance(func, ast.Attribute) else name.rsplit(".", 1)[-1]
    path: ast.AST | None = None
    what: str | None = None
    if name in {"builtins.open", "io.open", "pathlib.Path.open", "shelve.open"}:
        if name == "shelve.open":
            path, what = argument(node, 0, "filename"), "shelve.open()"
        else:
            index = 0 if name != "pathlib.Path.open" else None
            mode_index = 1 if name != "pathlib.Path.open" else 0
            mode = constant_str(argument(node, mode_index, "mode"))
            if mode is None or not _WRITE_MODE.search(mode):
                _consume(node, state)
                return
            path = argument(node, index, "file") if index is not None else func
            what = f'open(..., "{mode}")'
    elif name == "sqlite3.connect":
        database = argument(node, 0, "database")
        literal = constant_str(database)
        if literal is None or literal == ":memory:" or literal.startswith("file::memory"):
            return
        path, what = database, "sqlite3.connect()"
    elif attr in {"write_text", "write_bytes"} and isinstance(func, ast.Attribute):
        receiver = func.value
        kind = ctx.qualname(receiver) or ""
        if not (kind.startswith("pathlib.") or isinstance(receiver, ast.BinOp)):
            return
        path, what = receiver, f"{attr}()"
    elif attr == "save" and isinstance(func, ast.Attribute) and node.args:
        if not _upload_receiver(func.value, ctx):
            return
        path, what = node.args[-1] if len(node.args) == 1 else node.args[0], "saving the upload"
    else:
        _consume(node, state)
        return
    if _scratch(path, ctx):
        return
    key = path.id if isinstance(path, ast.Name) else None
    if isinstance(path, ast.Attribute) and isinstance(path.value, ast.Name):
        key = path.value.id
    state.writes.append((node, key, what))


def _consume(node: ast.Call, state: _FileState) -> None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in _CONSUMERS and name != "open":
        return
    for value in [*node.args, *(k.value for k in node.keywords)]:
        state.consumed |= loaded_names(value)
    if isinstance(func, ast.Attribute):
        state.consumed |= loaded_names(func.value)
