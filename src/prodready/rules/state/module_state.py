"""State: module-level state mutated by request handlers (STA001)."""

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
    constant_str,
    dotted,
    in_service_code,
    in_task,
    is_framework_source,
    is_script,
    path_role,
)
from prodready.rules.state._connection_registries import (
    CONNECTION_KEY,
    connection_registry_message,
    live_connection_added,
    registry_root,
)
from prodready.rules.state._shared import (
    SHARED_STATE_EXEMPT_HINTS,
    _state_root,
    declaration,
    field_of_parameter,
    key_space,
    open_key,
)

# -- STA001 ---------------------------------------------------------------------------------------

_MUTATORS = frozenset(
    {"append", "extend", "insert", "update", "add", "setdefault", "pop", "popitem", "remove"}
    | {"discard", "clear", "appendleft", "extendleft", "popleft", "__setitem__", "__delitem__"}
)
# Module-level containers named as caches are judged by STA003 (a cache may be per process).
_CACHE_HINTS = SHARED_STATE_EXEMPT_HINTS


def _worker_context(ctx: PythonContext) -> str | None:
    if ctx.function is None:
        return None
    if ctx.route is not None:
        return "request handler"
    if in_task(ctx):
        return "task"
    return None


@dataclass(slots=True)
class _Mutation:
    node: ast.AST
    where: str  # "request handler", "task", "" (a function that skips what it has seen)
    function: str
    seen_key: str | None = None  # the key of a processed-items record (dedup), if it is one


@dataclass(slots=True)
class _Ledger:
    """Every judged mutation of each module-level container, reported once at its
    declaration when the module ends."""

    mutations: dict[str, list[_Mutation]] = field(default_factory=dict)
    # Growth in other functions of the module, with the open-ended key that makes it grow.
    growth: dict[str, list[_Mutation]] = field(default_factory=dict)
    shrunk: set[str] = field(default_factory=set)  # containers something removes items from


def _skip_guards(function: ast.AST) -> dict[str, ast.expr]:
    """Containers the function tests a key against to skip work it has already done
    (``if event_id in _seen: return`` / ``continue``), with the key tested."""
    guards: dict[str, ast.expr] = {}
    for node in ast.walk(function):
        if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
            continue
        test = node.test
        if len(test.ops) != 1 or not isinstance(test.ops[0], ast.In):
            continue
        container = test.comparators[0]
        if not isinstance(container, ast.Name) or not node.body:
            continue
        last = node.body[-1]
        if isinstance(last, ast.Continue) or (
            isinstance(last, ast.Return)
            and (last.value is None or isinstance(last.value, ast.Constant))
        ):
            guards[container.id] = test.left
    return guards


def _recorded_key(node: ast.AST) -> ast.expr | None:
    """The key a mutation records: ``S.add(k)``, ``S[k] = ...``, ``S.setdefault(k, ...)``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.args
        and node.func.attr in {"add", "append", "setdefault", "__setitem__"}
    ):
        return node.args[0]
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                return target.slice
    return None


def _dedup_key(node: ast.AST, name: str, ctx: PythonContext) -> str | None:
    """The open-ended key when this mutation records an item the same function skips once it
    is recorded (a processed-messages record kept in memory)."""
    scope = ctx.function
    if scope is None:
        return None
    guards = scope.state.get("STA001:guards")
    if guards is None:
        guards = scope.state["STA001:guards"] = _skip_guards(scope.node)
    tested = guards.get(name)
    recorded = _recorded_key(node)
    if tested is None or recorded is None or ast.dump(tested) != ast.dump(recorded):
        return None
    return open_key(recorded, ctx)


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


def _record(node: ast.AST, name: str, where: str, ctx: PythonContext) -> None:
    ledger = ctx.rule_state(_Ledger, module=True)
    scope = ctx.function
    function = scope.name if scope is not None else ""
    ledger.mutations.setdefault(name, []).append(_Mutation(node, where, function))


def _report_growth(ledger: _Ledger, ctx: PythonContext) -> None:
    if not ledger.growth:
        return
    lookups = _memo_reads(ctx)
    for name, growth in ledger.growth.items():
        if name in ledger.mutations or name in ledger.shrunk or name in lookups:
            continue
        statement = declaration(ctx, name)
        if _bounded_at_declaration(statement):
            continue
        first = growth[0]
        line = getattr(first.node, "lineno", 0)
        if first.seen_key == CONNECTION_KEY:
            ctx.report(
                statement or first.node, connection_registry_message(name, first.function, line)
            )
            continue
        ctx.report(
            statement or first.node,
            f"module-level {name} grows by one entry per {first.seen_key} in "
            f"{first.function}() (line {line}) and nothing ever removes them: it grows until "
            "the worker runs out of memory, is lost on restart and differs between workers "
            "and replicas. Keep it in the database or Redis (with an expiry), or bound it",
            severity=Severity.MEDIUM,
            confidence=Confidence.MEDIUM,
        )


def _what(name: str) -> str:
    if name.isidentifier():
        return f"module-level {name}"
    return f"the application state {name} (one per worker process)"


def _report(ctx: PythonContext) -> None:
    ledger = ctx.rule_state(_Ledger, module=True)
    _report_growth(ledger, ctx)
    for name, mutations in ledger.mutations.items():
        first = mutations[0]
        line = getattr(first.node, "lineno", 0)
        more = len({getattr(m.node, "lineno", 0) for m in mutations}) - 1
        places = f"line {line}" + (f" and {more} more place{'s' * (more > 1)}" if more else "")
        dedup = next((m for m in mutations if m.seen_key is not None), None)
        if dedup is not None:
            message = (
                f"module-level {name} records which {dedup.seen_key} values {dedup.function}() "
                f"already processed ({places}) in one process only: after a restart, on another "
                "worker or replica a redelivered item is processed again, and the record grows "
                "forever. Keep it in the database (a unique constraint) or Redis (SET NX with "
                "an expiry)"
            )
        else:
            message = (
                f"{_what(name)} is mutated in the {first.where} {first.function}() "
                f"({places}): it lives in one worker process -- lost on restart or deploy and "
                "different on every worker and replica. Keep shared state in the database or "
                "Redis"
            )
        ctx.report(declaration(ctx, name) or _app_declaration(ctx, name) or first.node, message)


@python_rule(
    code="STA001",
    name="module-state-mutated-in-handler",
    category=Category.STATE,
    severity=Severity.HIGH,
    summary="Module-level container used as shared state by request handlers or tasks",
    calls=tuple(f"*.{method}" for method in sorted(_MUTATORS)),
    nodes=(ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete, ModuleEnd),
    fix="Move the state to the database or Redis (with an atomic operation such as INCR/HSET).",
)
def module_state_mutated_in_handler(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a module-level mutable container (`dict`, `list`, `set`, `defaultdict`, `deque`...)
    that an HTTP handler or a Celery/Dramatiq task mutates: item assignment or deletion,
    augmented assignment, `.append/.extend/.update/.add/.setdefault/.pop/.remove/.clear`...,
    and `global` names reassigned or incremented there. Also, in any function of a service or
    worker module (a message consumer's helper), a container used as a record of processed
    items: `if event_id in _seen: return` ... `_seen.add(event_id)` with a key built from a
    per-request value or a row id. Reported once per container, where it is declared, with
    the first mutation's line. Containers named as caches are left to STA003; containers that
    are only read (constants, lookup tables) are fine.

    ## Why it breaks production
    Production runs several worker processes, usually on several replicas, and restarts them on
    every deploy. A module-level dict is private to one process: a cart added on worker 1 is
    missing on worker 2, a rate-limit counter allows N times the limit, a job status is lost on
    restart. It works perfectly with one `flask run` process -- and fails intermittently,
    depending on which worker the load balancer picks. A processed-messages record kept in
    memory forgets everything on restart and is not shared with the other consumers, so
    redelivered messages are applied twice (customers notified twice), and it grows forever.

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
    if isinstance(node, ast.Module):  # ModuleEnd
        _report(ctx)
        return
    scope = ctx.function
    if scope is None or ctx.facts.is_test or ctx.facts.is_example:
        return
    if ctx.route is not None:
        slot = _app_state_mutated(node)
        # app["websockets"]: the live connections of this process, by nature per process
        exempt = (*_CONNECTION_HINTS, *_CACHE_HINTS, "websocket", "sockets")
        if slot is not None and not any(hint in slot.lower() for hint in exempt):
            # A method call on a slot is a container's mutation only when the module makes it
            # one (app.state.locations.update(...) may be a Redis-backed object's method).
            if not isinstance(node, ast.Call) or _app_declaration(ctx, slot) is not None:
                _record(node, slot, "request handler", ctx)
            return
    if not (ctx.facts.mutable_globals or scope.globals):
        return
    registry = registry_root(node, ctx)  # exempt from shared state below, judged for leaks
    if registry is not None:
        ledger = ctx.rule_state(_Ledger, module=True)
        if _shrinks(node, scope.globals):
            ledger.shrunk.add(registry)
        elif live_connection_added(node, ctx) and ctx.route is None:
            growth = _Mutation(node, "", scope.name, seen_key=CONNECTION_KEY)
            ledger.growth.setdefault(registry, []).append(growth)
    name = _mutated_container(node, scope.globals, ctx)
    if name is None:
        return
    ledger = ctx.rule_state(_Ledger, module=True)
    if _shrinks(node, scope.globals):
        ledger.shrunk.add(name)
    where = _worker_context(ctx)
    seen = _dedup_key(node, name, ctx) if name in ctx.facts.mutable_globals else None
    if where is None and seen is not None and not _received_item(node, ctx):
        seen = None  # outside a handler: only items of received data (not a warn-once record)
    if where is None:
        if not _runtime_module(ctx):
            return
        if seen is None:
            grows_by = _growth_key(node, ctx) if name in ctx.facts.mutable_globals else None
            if grows_by is not None:
                ledger.growth.setdefault(name, []).append(
                    _Mutation(node, "", scope.name, seen_key=grows_by)
                )
            return
    _record(node, name, where or "", ctx)
    if seen is not None:
        ledger.mutations[name][-1].seen_key = seen


def _received_item(node: ast.AST, ctx: PythonContext) -> bool:
    recorded = _recorded_key(node)
    return recorded is not None and field_of_parameter(recorded, ctx)


def _runtime_module(ctx: PythonContext) -> bool:
    """Code a service or worker runs (a helper module too), not a script, test or framework."""
    return in_service_code(ctx) or (
        path_role(ctx.path) is None and not is_script(ctx) and not is_framework_source(ctx)
    )


_SHRINKERS = frozenset({"pop", "popitem", "remove", "discard", "clear", "popleft", "__delitem__"})


def _shrinks(node: ast.AST, declared_global: set[str]) -> bool:
    """The statement removes items (or resets the container: ``global X; X = {}``)."""
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Attribute) and node.func.attr in _SHRINKERS
    if isinstance(node, ast.Delete):
        return True
    return isinstance(node, ast.Assign) and any(
        isinstance(target, ast.Name) and target.id in declared_global for target in node.targets
    )


def _growth_key(node: ast.AST, ctx: PythonContext) -> str | None:
    """The open-ended key or item a helper adds to a module container (see ``key_space``): one
    entry per request, row, combination of parameters or generated id. A value that is a
    parameter itself, stored under a name, is a registry (``_handlers[event] = handler``)."""
    item: ast.AST | None = None
    stored: ast.AST | None = None
    if live_connection_added(node, ctx):
        return CONNECTION_KEY
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        attr = node.func.attr
        if attr in {"add", "append", "appendleft", "setdefault", "extend"}:
            item = node.args[0]
        elif attr == "insert" and len(node.args) > 1:
            item = node.args[1]
    elif isinstance(node, ast.Assign):
        target = node.targets[0]
        while isinstance(target, ast.Subscript) and isinstance(target.value, ast.Subscript):
            target = target.value
        if isinstance(target, ast.Subscript):
            item, stored = target.slice, node.value
    if item is None:
        return None
    found = key_space(item, ctx)
    if found is None:
        return None
    name, kind = found
    scope = ctx.function
    params = {param.arg for param in scope.params} if scope is not None else set()
    if (
        isinstance(stored, ast.Name)
        and stored.id in params
        and kind not in {"request", "generated"}
    ):
        return None
    return name


def _memo_reads(ctx: PythonContext) -> set[str]:
    """Containers the module reads as a lookup (``key in X``, ``X.get(key)``) or bounds with a
    ``len(X)`` check: a lookup table or cache is STA003's, a bounded one is fine."""
    found: set[str] = set()
    for node in ast.walk(ctx.tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            found.update(c.id for c in node.comparators if isinstance(c, ast.Name))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get":
                if isinstance(func.value, ast.Name):
                    found.add(func.value.id)
            elif (
                isinstance(func, ast.Name)
                and func.id == "len"
                and node.args
                and isinstance(node.args[0], ast.Name)
            ):
                found.add(node.args[0].id)
    return found


def _bounded_at_declaration(statement: ast.stmt | None) -> bool:
    """``deque(maxlen=...)`` drops old items itself."""
    value = getattr(statement, "value", None)
    return isinstance(value, ast.Call) and any(k.arg == "maxlen" for k in value.keywords)


def _mutated_container(node: ast.AST, declared_global: set[str], ctx: PythonContext) -> str | None:
    """The module-level name a statement or mutator call changes, if it is shared state."""
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute):
            return None
        root = _state_root(func.value)
        return root.id if root is not None and _is_shared_state(root.id, ctx) else None
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
                return root.id
        elif (
            isinstance(target, ast.Name)
            and target.id in declared_global
            and _global_write(node, target.id)
        ):
            return target.id
    return None


def _app_state(expr: ast.expr) -> str | None:
    """``app.state.sessions`` / ``request.app.state.sessions`` (Starlette, FastAPI) or
    ``request.app["sessions"]`` / ``app["sessions"]`` (aiohttp): the application object's
    attributes, one per worker process like a module-level dict."""
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Attribute)
        and expr.value.attr == "state"
    ):
        owner = dotted(expr.value.value) or ""
        if owner == "app" or owner.endswith(".app"):
            return f"{owner}.state.{expr.attr}"
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name | ast.Attribute):
        owner = dotted(expr.value) or ""
        key = constant_str(expr.slice)
        if key is not None and (owner == "app" or owner.endswith("request.app")):
            return f'{owner}["{key}"]'
    return None


_CONTAINER_CALLS = frozenset({"dict", "list", "set", "defaultdict", "deque", "OrderedDict"})
_CONTAINER_CALLS |= {"Counter"}


def _slot_suffix(slot: str) -> str:
    """``.state.sessions`` / ``["sessions"]``: the slot whatever the app is called there."""
    return slot[slot.index(".state.") :] if ".state." in slot else slot[slot.find("[") :]


def _app_containers(ctx: PythonContext) -> dict[str, ast.Assign]:
    """Application-state slots the module creates as containers (``app.state.sessions = {}``
    in a lifespan, ``app["visits"] = defaultdict(int)`` in on_startup): suffix -> statement."""
    found: dict[str, ast.Assign] = {}
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        container = isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp)
        if isinstance(value, ast.Call):
            callee = dotted(value.func) or ""
            container = callee.rsplit(".", 1)[-1] in _CONTAINER_CALLS
        if not container:
            continue
        for target in node.targets:
            slot = _app_state(target)
            if slot is not None:
                found.setdefault(_slot_suffix(slot), node)
    return found


_APP_CONTAINERS: ModuleMemo[dict[str, ast.Assign]] = ModuleMemo(
    "STA001:app-containers", _app_containers
)


def _app_declaration(ctx: PythonContext, slot: str) -> ast.stmt | None:
    if slot.isidentifier():
        return None
    return ctx.memo(_APP_CONTAINERS).get(_slot_suffix(slot))


def _app_state_mutated(node: ast.AST) -> str | None:
    """The application-state slot a handler's statement or mutator call changes."""
    targets: list[ast.expr] = []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in _MUTATORS:
            targets = [node.func.value]
    elif isinstance(node, ast.Assign):
        targets = [t for t in node.targets if isinstance(t, ast.Subscript)]
    elif isinstance(node, ast.AugAssign):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    for target in targets:
        candidates = [target]
        while isinstance(target, ast.Subscript):
            target = target.value
            candidates.append(target)
        for candidate in candidates:
            slot = _app_state(candidate)
            if slot is not None:
                return slot
    return None


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
