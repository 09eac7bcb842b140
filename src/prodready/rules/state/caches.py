"""State: caches that leak or grow without bound (STA002, STA003)."""

from __future__ import annotations

import ast
import re
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
from prodready.plugin.analysis import argument, in_service_code, is_script, loaded_names
from prodready.rules.state._shared import _state_root

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


_MEMO_STATE: ModuleMemo[_MemoState] = ModuleMemo("STA003:memo", lambda _: _MemoState())


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
    state = ctx.memo(_MEMO_STATE)
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
