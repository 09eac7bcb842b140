"""State: caches that leak or grow without bound (STA002, STA003). Module-level objects that
keep per-request entries in their attributes (STA009) are in ``instance_state``."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    argument,
    dotted,
    in_service_code,
    in_task,
    is_script,
    loaded_names,
    walk_body,
)
from prodready.rules.state._shared import (
    SHARED_STATE_EXEMPT_HINTS,
    _state_root,
    declaration,
    key_space,
    per_request_name,
    row_key_name,
)

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


def _per_request_param(name: str) -> bool:
    return per_request_name(name)


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
    misses: set[str] = field(default_factory=set)  # containers that store None for a miss
    shared: set[str] = field(default_factory=set)  # STA001's: written by handlers or tasks


_MEMO_STATE: ModuleMemo[_MemoState] = ModuleMemo("STA003:memo", lambda _: _MemoState())


# Calls that return None when the row or key is missing.
_MAYBE_NONE = frozenset(
    {"fetchone", "first", "one_or_none", "scalar", "scalar_one_or_none", "fetchrow", "fetchval"}
    | {"find_one", "get", "hget"}
)


def _caches_misses(write: ast.AST, ctx: PythonContext) -> bool:
    """The value stored may be None (a lookup that found nothing) and nothing tests it first:
    ``row = cur.fetchone(); _cache[key] = row``."""
    value = write.value if isinstance(write, ast.Assign) else None
    if isinstance(value, ast.Name):
        name = value.id
        source = ctx.value_of(name)
    else:
        return False
    if isinstance(source, ast.Await):
        source = source.value
    if not (
        isinstance(source, ast.Call)
        and isinstance(source.func, ast.Attribute)
        and source.func.attr in _MAYBE_NONE
    ):
        return False
    parent = ctx.parent(write)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(parent, ast.If) and name in loaded_names(parent.test):
            return False
        parent = ctx.parent(parent)
    return True


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
    value`, also in a plain helper) whose key comes from such a parameter, from a row id
    (`device_id`, `pk`, `uuid`) or from two or more parameters (`f"{pickup}:{dropoff}"`), with
    nothing in the module that bounds or expires it (`clear`, `popitem`, a `len()` check, a
    reset, or a key removed under a time/size test or in a sweep -- removing the one key a
    delete handler changed only invalidates it; a key the storing call itself removes in its
    `finally` -- the table then holds the calls in flight). A fresh lock stored per row id
    (a keyed-lock table) is bounded by the rows and never stale. Reported once, where the
    dict is declared;
    the message says when the memo also stores None for a missing row. Flags and time stamps
    stored per row id or per combination are tiny and expire by design (not flagged).

    ## Why it breaks production
    Every distinct user, token or query adds an entry that is never removed. Memory grows with
    traffic until the worker is OOM-killed and restarted -- a slow leak that shows up as
    periodic restarts days after a deploy. Entries also never expire, so revoked tokens and
    changed profiles keep being served from the cache, every worker holds its own diverging
    copy, and a memo that stored None for a missing row keeps answering "not found" after the
    row is created.

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
    state = ctx.memo(_MEMO_STATE)
    if isinstance(node, ast.Module):  # ModuleEnd
        _report_memos(state, ctx)
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
            if root is not None and ctx.is_module_state(root.id) and _bounding_removal(node, ctx):
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
            key_param = _memo_key(target.slice, node.value, ctx)
            if key_param is not None:
                state.writes.append((node, container, key_param))
                _note_shared(container, ctx, state)
                if _caches_misses(node, ctx):
                    state.misses.add(container)


_TIME_WORDS = ("time.", "monotonic", "datetime", "now(", "timezone.")


def _memo_key(key: ast.AST, value: ast.expr | None, ctx: PythonContext) -> str | None:
    """The open-ended key of a memo write, or None. A stored flag (``= False``) or time stamp
    (a deadline the reader compares with the clock) is tiny and expires by design: only keys
    with one entry per user or request make it grow with traffic."""
    found = key_space(key, ctx)
    if found is None:
        return None
    name, kind = found
    if kind != "request" and value is not None:
        text = ctx.segment(value)
        if isinstance(value, ast.Constant) or any(word in text for word in _TIME_WORDS):
            return None
    if kind == "row" and _new_lock(value, ctx):
        return None  # one lock per row (``_locks[wallet_id] = asyncio.Lock()``): nothing stale
    return name


_LOCKS = frozenset(
    {"asyncio.Lock", "asyncio.Semaphore", "asyncio.BoundedSemaphore", "asyncio.Condition"}
    | {"threading.Lock", "threading.RLock", "threading.Semaphore", "threading.Condition"}
    | {"anyio.Lock", "anyio.Semaphore", "trio.Lock"}
)


def _new_lock(value: ast.expr | None, ctx: PythonContext) -> bool:
    """A fresh lock stored per key: a keyed-lock table serialises work on one row at a time,
    holds a tiny object per row the service has touched (bounded by its rows, not by its
    traffic), and has no value that could go stale."""
    return isinstance(value, ast.Call) and ctx.qualname(value.func) in _LOCKS


def _note_shared(name: str, ctx: PythonContext, state: _MemoState) -> None:
    """STA001 reports a container not named as a cache that a handler or task writes: one
    finding per defect, so this rule leaves it."""
    lowered = name.lower()
    if any(hint in lowered for hint in SHARED_STATE_EXEMPT_HINTS):
        return
    if ctx.route is not None or in_task(ctx):
        state.shared.add(name)


def _report_memos(state: _MemoState, ctx: PythonContext) -> None:
    reported: set[str] = set()
    for write, name, param in state.writes:
        if name in reported or name not in state.reads or name in state.evicted:
            continue
        if name in state.shared:
            continue
        reported.add(name)
        line = getattr(write, "lineno", 0)
        misses = (
            " It also stores None for a missing row, so a row created later stays 'not found' "
            "in this worker until it restarts."
            if name in state.misses
            else ""
        )
        ctx.report(
            declaration(ctx, name) or write,
            f"module-level {name} keeps one entry per {param} (line {line}) and nothing bounds "
            "or expires it: it grows with every distinct value until the worker runs out of "
            "memory, serves stale values forever, and differs between workers."
            f"{misses} Use cachetools.TTLCache(maxsize=..., ttl=...) or Redis with expiry",
        )


_EXPIRY_WORDS = ("time", "ttl", "expir", "age", "stale", "now", "len(", "size", "max", "limit")


def _bounding_removal(node: ast.AST, ctx: PythonContext) -> bool:
    """A removal of one key bounds the cache when it expires entries (under a test of time, age
    or size) or sweeps them (in a loop); removing the key a delete or update handler changed
    only invalidates it -- every other key still stays forever."""
    parent = ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(parent, ast.For | ast.AsyncFor | ast.comprehension):
            return True
        if isinstance(parent, ast.If | ast.While):
            test = ctx.segment(parent.test).lower()
            if any(word in test for word in _EXPIRY_WORDS):
                return True
        parent = ctx.parent(parent)
    return False


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
        param = _memo_key(node.args[0], node.args[1] if len(node.args) > 1 else None, ctx)
        if param is not None and not (len(node.args) > 1 and _is_parameter(node.args[1], ctx)):
            state.writes.append((node, name, param))
            _note_shared(name, ctx, state)
    elif (
        func.attr in {"clear", "popitem"}
        or not node.args
        or _bounding_removal(node, ctx)
        or (func.attr == "pop" and _released_on_exit(node, name, ctx))
    ):
        state.evicted.add(name)


def _released_on_exit(removal: ast.AST, container: str, ctx: PythonContext) -> bool:
    """The key is removed in the ``finally`` of a ``try`` whose body stores into the same
    container (``waiters[key] = Queue()`` ... ``finally: waiters.pop(key, None)``): each entry
    lives only while the call that made it runs, so the container holds the calls in flight."""
    child, parent = removal, ctx.parent(removal)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(parent, ast.Try) and child in parent.finalbody:
            for node in walk_body(parent.body):
                targets = node.targets if isinstance(node, ast.Assign) else []
                if any(
                    isinstance(t, ast.Subscript) and dotted(t.value) == container for t in targets
                ):
                    return True
        child, parent = parent, ctx.parent(parent)
    return False


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
    per_request = [p for p in params if _per_request_param(p) or row_key_name(p)]
    if not per_request:
        return
    decorator = "@cache" if found[0] == "functools.cache" else "@lru_cache(maxsize=None)"
    ctx.report(
        node,
        f"{decorator} on {node.name}() keeps one entry per distinct {per_request[0]} forever: "
        "memory grows with traffic and entries never expire. Set maxsize= or use a TTL cache",
    )


# -- STA009 ---------------------------------------------------------------------------------------
