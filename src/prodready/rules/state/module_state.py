"""State: module-level state mutated by request handlers (STA001)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, PythonContext, Severity, python_rule
from prodready.plugin.analysis import in_task
from prodready.rules.state._shared import _state_root

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
    if scope is None or not (ctx.facts.mutable_globals or scope.globals):
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
