"""State: module-level objects that keep per-request entries in their attributes (STA009)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    is_script,
)
from prodready.rules.state._shared import (
    key_space,
)
from prodready.rules.state.caches import _memo_key

_GROWERS = frozenset({"append", "add", "setdefault", "appendleft", "extend", "insert"})
_REMOVERS = frozenset({"pop", "popitem", "remove", "discard", "clear", "popleft", "__delitem__"})


@dataclass(slots=True)
class _InstanceState:
    """Per class: container attributes, where they are created, grown and emptied."""

    declared: dict[tuple[str, str], ast.stmt] = field(default_factory=dict)
    growth: dict[tuple[str, str], tuple[ast.AST, str, str]] = field(default_factory=dict)
    emptied: set[tuple[str, str]] = field(default_factory=set)
    removed_anywhere: set[str] = field(default_factory=set)  # attribute names


_CONTAINER_FACTORIES = frozenset(
    {"builtins.dict", "builtins.list", "builtins.set", "collections.defaultdict"}
    | {"collections.OrderedDict", "collections.Counter"}
)


def _new_container(value: ast.expr | None, ctx: PythonContext) -> bool:
    """``{}``, ``[]``, ``set()``, ``defaultdict(list)`` (a ``deque`` may be bounded)."""
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp):
        return True
    return isinstance(value, ast.Call) and ctx.qualname(value.func) in _CONTAINER_FACTORIES


def _self_attribute(expr: ast.expr, ctx: PythonContext) -> str | None:
    """``X`` for ``self.X``, ``self.X[k]``, ``self.X[k][j]`` in a method (or ``Cls.X``)."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    scope = ctx.function
    if not isinstance(expr, ast.Attribute) or not isinstance(expr.value, ast.Name):
        return None
    if scope is None or scope.class_info is None:
        return None
    owner = expr.value.id
    if owner in {scope.self_name, "cls", scope.class_info.node.name}:
        return expr.attr
    return None


def _removed_attribute(node: ast.AST) -> str | None:
    """``X`` for ``anything.X.pop(...)``/``.clear()``..., ``del anything.X[k]``: a removal made
    through the module-level instance's name (a finalizer, another module) counts too."""
    target: ast.AST | None = None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in _REMOVERS:
            target = node.func.value
    elif isinstance(node, ast.Delete) and node.targets:
        target = node.targets[0]
        while isinstance(target, ast.Subscript):
            target = target.value
    return target.attr if isinstance(target, ast.Attribute) else None


def _instance_event(node: ast.AST, ctx: PythonContext, state: _InstanceState) -> None:
    removed = _removed_attribute(node)
    if removed is not None:
        state.removed_anywhere.add(removed)
    scope = ctx.function
    if scope is None or scope.class_info is None:
        return
    owner = scope.class_info.node.name
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            attribute = _self_attribute(target, ctx)
            if attribute is None:
                continue
            slot = (owner, attribute)
            if isinstance(target, ast.Attribute):  # self.X = ...
                if scope.name == "__init__" and _new_container(node.value, ctx):
                    state.declared[slot] = node
                elif scope.name != "__init__":
                    state.emptied.add(slot)  # replaced: reset or swapped for a new one
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute):
                found = key_space(target.slice, ctx)
                named = _memo_key(target.slice, node.value, ctx)
                if found is not None and found[1] != "combination" and named is not None:
                    state.growth.setdefault(slot, (node, named, scope.name))
    elif isinstance(node, ast.Delete):
        for target in node.targets:
            attribute = _self_attribute(target, ctx)
            if attribute is not None:
                state.emptied.add((owner, attribute))
    elif isinstance(node, ast.Call) and ctx.call_name == "builtins.len":
        measured = node.args[0] if node.args else None
        if isinstance(measured, ast.Attribute):  # len(self.X) > limit: a size bound
            attribute = _self_attribute(measured, ctx)
            if attribute is not None:
                state.emptied.add((owner, attribute))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        attribute = _self_attribute(node.func.value, ctx)
        if attribute is None:
            return
        slot = (owner, attribute)
        if node.func.attr in _REMOVERS:
            state.emptied.add(slot)
        elif node.func.attr in _GROWERS and node.args:
            key = key_space(node.args[-1 if node.func.attr == "insert" else 0], ctx)
            if key is not None and key[1] != "combination":
                state.growth.setdefault(slot, (node, key[0], scope.name))


def _module_instances(ctx: PythonContext) -> dict[str, str]:
    """Classes of this module instantiated once at module level: class name -> instance name."""
    found: dict[str, str] = {}
    for statement in ctx.tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name)
        ):
            found.setdefault(statement.value.func.id, statement.targets[0].id)
    return found


@python_rule(
    code="STA009",
    name="singleton-instance-state",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="A module-level object keeps per-user or per-request entries in its own attributes",
    nodes=(ast.Assign, ast.AnnAssign, ast.Delete, ModuleEnd),
    calls=(*(f"*.{name}" for name in sorted(_GROWERS | _REMOVERS)), "builtins.len"),
    fix="Keep the entries in Redis or the database (with an expiry), or bound the container "
    "(cachetools.TTLCache(maxsize=..., ttl=...)).",
)
def singleton_instance_state(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a class of the module that is instantiated once at module level (`limiter =
    RateLimiter()`, `store = SessionStore()`) and whose methods add entries to a container
    attribute created in `__init__` (`self._hits = defaultdict(list)`) under a key built from a
    per-request value, a row id or a generated id -- when no method ever removes keys, clears,
    replaces or bounds it. Reported where the attribute is created.

    ## Why it breaks production
    A module-level instance is a module-level dict in disguise: one per worker process. A
    rate limiter counts each worker's requests apart (the limit multiplies by the number of
    workers and replicas), a session or token store knows only the users that logged in on
    this worker, and everything is lost on each deploy. With one entry per client IP, user or
    token and nothing removing them, the process also grows until it is OOM-killed.

    ## Example
    ```python
    class RateLimiter:
        def __init__(self, per_minute: int):
            self.per_minute = per_minute
            self._hits: dict[str, list[float]] = defaultdict(list)

        def allow(self, client_ip: str) -> bool:
            now = time.monotonic()
            self._hits[client_ip] = [t for t in self._hits[client_ip] if now - t < 60]
            self._hits[client_ip].append(now)
            return len(self._hits[client_ip]) <= self.per_minute

    limiter = RateLimiter(per_minute=30)
    ```

    ## Use instead
    ```python
    def allow(client_ip: str) -> bool:
        key = f"rate:{client_ip}:{int(time.time() // 60)}"
        count = redis_client.incr(key)
        redis_client.expire(key, 60)
        return count <= 30
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    state = ctx.rule_state(_InstanceState, module=True)
    if not isinstance(node, ast.Module):
        _instance_event(node, ctx, state)
        return
    if not state.growth or is_script(ctx):
        return
    instances = _module_instances(ctx)
    for slot, (grown, key, method) in state.growth.items():
        owner, attribute = slot
        declared = state.declared.get(slot)
        if owner not in instances or declared is None or slot in state.emptied:
            continue
        if attribute in state.removed_anywhere:
            continue
        ctx.report(
            declared,
            f"{owner}.{attribute} lives in the module-level instance {instances[owner]} -- one "
            f"per worker process -- and {method}() adds one entry per {key} (line "
            f"{getattr(grown, 'lineno', 0)}) that nothing ever removes: each worker and replica "
            "sees only its own entries, a deploy loses them, and memory grows with every "
            "distinct value. Keep them in Redis or the database with an expiry",
        )
