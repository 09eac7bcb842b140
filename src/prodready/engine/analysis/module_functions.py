"""Helper functions of the module: what their calls return (factories, shared results)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from prodready.engine.analysis.literals import dotted
from prodready.engine.analysis.walking import walk_body
from prodready.engine.python import FunctionNode, ModuleMemo, PythonContext


def module_functions(ctx: PythonContext) -> dict[str, FunctionNode]:
    """The functions defined at the top level of the module, by name (once per module)."""
    return ctx.memo(_FUNCTIONS)


def _top_level_functions(ctx: PythonContext) -> dict[str, FunctionNode]:
    return {
        node.name: node
        for node in ctx.tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


_FUNCTIONS: ModuleMemo[dict[str, FunctionNode]] = ModuleMemo(
    "analysis:functions", _top_level_functions
)
# Once per function, by id(function): what its returned calls build; how values move in it.
_FACTORY_CALLS: ModuleMemo[dict[int, frozenset[str]]] = ModuleMemo(
    "analysis:factory-calls", lambda _: {}
)
_FLOW: ModuleMemo[dict[int, FunctionFlow]] = ModuleMemo("analysis:flow", lambda _: {})


def module_function(call: ast.Call, ctx: PythonContext) -> FunctionNode | None:
    """The top-level function of this module that ``call`` invokes by its plain name
    (``get_db()``), or ``None`` (a method, an imported or a shadowed name)."""
    if not isinstance(call.func, ast.Name):
        return None
    name = call.func.id
    if ctx.resolve_name(name) != name:
        return None  # imported, a builtin, or bound to something else here
    return module_functions(ctx).get(name)


def factory_calls(function: FunctionNode, ctx: PythonContext) -> frozenset[str]:
    """Qualified names of the calls whose *new* result ``function`` hands to its caller: the
    return summary of a helper, computed once per function.

    ``return psycopg2.connect(...)``, ``conn = sqlite3.connect(p); conn.row_factory = ...;
    return conn``, ``return await create()`` and the factory calls of another helper of the
    module it returns the result of (``return _connect()``) count. A result the helper also
    keeps elsewhere -- stored on an object or in a container (``g.db = conn``), or a global --
    is shared, not handed over, and does not count: ``def get_db(): if "db" not in g: g.db =
    connect(); return g.db`` returns the request's shared connection.
    """
    cache = ctx.memo(_FACTORY_CALLS)
    known = cache.get(id(function))
    if known is not None:
        return known
    if any(_shares_result(decorator) for decorator in _decorator_targets(function)):
        cache[id(function)] = frozenset()  # @lru_cache / @contextmanager: not a fresh result
        return cache[id(function)]
    cache[id(function)] = frozenset()  # recursion guard
    saved = ctx.function
    ctx.function = None  # resolve the helper's names at module level, not in the caller
    try:
        result = _factory_calls(function, ctx)
    finally:
        ctx.function = saved
    cache[id(function)] = result
    return result


# Decorators that make a function return something else than a fresh result of its body: a
# cached instance, a context manager, a fixture.
_SHARING_DECORATOR_WORDS = ("cache", "memoize", "singleton", "contextmanager", "fixture")


def _shares_result(decorator: ast.expr) -> bool:
    last = (dotted(decorator) or "").rsplit(".", 1)[-1].lower()
    return last == "once" or any(word in last for word in _SHARING_DECORATOR_WORDS)


def _decorator_targets(function: FunctionNode) -> list[ast.expr]:
    return [d.func if isinstance(d, ast.Call) else d for d in function.decorator_list]


@dataclass(slots=True)
class FunctionFlow:
    """How values move through one function's own body (nested functions excluded): what each
    local name is assigned, what is returned, and what leaves the locals another way."""

    assigned: dict[str, list[ast.expr]]  # plain ``name = value``
    augmented: dict[str, list[ast.expr]]  # ``name += value``
    returns: list[ast.expr]
    stored: list[ast.expr]  # values also assigned to an attribute, item or unpacking target
    outer_names: set[str]  # ``global``/``nonlocal`` names


def function_flow(function: FunctionNode, ctx: PythonContext) -> FunctionFlow:
    """The :class:`FunctionFlow` of a function, computed once per module."""
    cache = ctx.memo(_FLOW)
    flow = cache.get(id(function))
    if flow is not None:
        return flow
    flow = FunctionFlow({}, {}, [], [], set())
    for node in walk_body(function.body):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    flow.assigned.setdefault(target.id, []).append(node.value)
            if any(not isinstance(target, ast.Name) for target in node.targets):
                flow.stored.append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            flow.augmented.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            flow.outer_names.update(node.names)
        elif isinstance(node, ast.Return) and node.value is not None:
            flow.returns.append(node.value)
    cache[id(function)] = flow
    return flow


def _factory_calls(function: FunctionNode, ctx: PythonContext) -> frozenset[str]:
    flow = function_flow(function, ctx)
    assigned = flow.assigned
    shared_names = set(flow.outer_names)
    shared_names.update(value.id for value in flow.stored if isinstance(value, ast.Name))
    shared_calls = {id(value) for value in flow.stored if not isinstance(value, ast.Name)}
    found: set[str] = set()
    pending = list(flow.returns)
    seen: set[int] = set()
    while pending:
        expr = pending.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        if isinstance(expr, ast.Await):
            pending.append(expr.value)
        elif isinstance(expr, ast.IfExp):
            pending.extend((expr.body, expr.orelse))
        elif isinstance(expr, ast.BoolOp):
            pending.extend(expr.values)
        elif isinstance(expr, ast.Name):
            if expr.id not in shared_names:
                pending.extend(assigned.get(expr.id, ()))
        elif isinstance(expr, ast.Call) and id(expr) not in shared_calls:
            helper = module_function(expr, ctx)
            if helper is not None:
                if helper is not function:
                    found |= factory_calls(helper, ctx)
                continue
            name = ctx.qualname(expr.func)
            if name is not None:
                found.add(name)
    return frozenset(found)
