"""Sinks inside helpers: a sink reached only by a helper's parameters is remembered and reported
when a function of the module passes external data to the helper."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from prodready.engine.analysis import module_functions
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.semantic.guards import REACH, UNREACHED
from prodready.engine.taint.bindings import synthetic_scope
from prodready.engine.taint.call_sites import argument_for, module_call_sites, positional_parameters
from prodready.engine.taint.flow_groups import Grouping, group_flows
from prodready.engine.taint.method_reach import method_sink
from prodready.engine.taint.project_facts import establish_function_facts
from prodready.engine.taint.propagation import Report, Source, Tracer, clean_if
from prodready.engine.taint.reach import establish_reaches, unreached_facts
from prodready.engine.taint.sources import client_route


@dataclass(slots=True)
class _PendingSink:
    ctx: PythonContext
    function: ast.FunctionDef | ast.AsyncFunctionDef
    positions: frozenset[int]
    report: Report
    sanitizers: frozenset[str]
    web_only: bool
    # a method of a class (``OrderRepository.search``): its name and parameters without self
    method: str = ""
    method_params: tuple[str, ...] = ()


# rule code -> the sinks of that rule waiting for callers (reported at ModuleEnd)
_PENDING: ModuleMemo[dict[str, list[_PendingSink]]] = ModuleMemo("taint:pending", lambda _: {})


def sink_flow(
    values: Iterable[ast.AST | None],
    ctx: PythonContext,
    report: Report,
    *,
    sanitizers: frozenset[str] = frozenset(),
    web_only: bool = False,
) -> bool:
    """Report a sink reached by external data: ``report(source)`` is called now when one of
    ``values`` is tainted here (returns True). When they only derive from parameters of the
    enclosing module-level helper (``def find_user(name): cur.execute(f"...{name}")``), the
    sink is remembered, and :func:`report_deferred` -- which the rule calls from its
    ``ModuleEnd`` -- reports it if a function of the module passes external data to it (up
    to two helpers deep)."""
    candidates = [value for value in values if value is not None]
    grouped = Grouping(ctx, report)  # one finding per flow: see flow_groups
    report = grouped
    first: Source | None = None
    unless: frozenset[str] | None = None
    for value in candidates:
        tracer = Tracer(ctx, sanitizers, web_only)
        source = tracer.run(value)
        if source is None:
            continue
        if first is None:
            first = source
            grouped.origin = ast.unparse(tracer.origin) if tracer.origin is not None else ""
        # Every tainted value must be cleaned by the facts named: the intersection.
        cleaning = clean_if(value, tracer) if tracer.crossings else frozenset()
        unless = cleaning if unless is None else unless & cleaning
        if not unless:
            break
    if first is not None:
        _report_unless(ctx, report, first, unless or frozenset())
        return True
    helper = _enclosing_helper(ctx)
    if helper is None and ctx.rule is not None:  # a repository or service class's method
        found = method_sink(candidates, ctx, sanitizers, web_only)
        if found is not None:
            method, positions, name, params = found
            pending = _PendingSink(ctx, method, positions, report, sanitizers, web_only)
            pending.method, pending.method_params = name, params
            ctx.memo(_PENDING).setdefault(ctx.rule.code, []).append(pending)
        return False
    if helper is None or ctx.rule is None:
        return False
    tracer = Tracer(ctx, sanitizers, web_only, params=positional_parameters(helper))
    for value in candidates:
        tracer.run(value)
    if tracer.reached:
        ctx.memo(_PENDING).setdefault(ctx.rule.code, []).append(
            _PendingSink(ctx, helper, frozenset(tracer.reached), report, sanitizers, web_only)
        )
    return False


def _report_unless(
    ctx: PythonContext, report: Report, source: Source, unless: frozenset[str]
) -> None:
    """``report(source)``; the findings it makes are moot when one of the project facts
    ``unless`` holds (an imported project function sanitises or checks the value)."""
    # The new findings by identity, not position: a rule may withdraw an audit finding it made
    # for the sink earlier when the flow is proven (``_input_origin.OriginReport``).
    earlier = set(map(id, ctx.findings)) if unless else set()
    report(source)
    if unless:
        for raw in ctx.findings:
            if id(raw) not in earlier:
                raw.unless = tuple(sorted({*raw.unless, *unless}))


def report_deferred(ctx: PythonContext) -> None:
    """Report the running rule's sinks in helpers that a caller in this module feeds with
    external data (see :func:`sink_flow`), and establish what the module's functions sanitise
    and check for the modules that import them (see
    :mod:`prodready.engine.taint.project_facts`). Call it from the rule's ``ModuleEnd``."""
    establish_function_facts(ctx)
    establish_reaches(ctx)
    try:
        _report_pending(ctx)
    finally:
        group_flows(ctx)


def _report_pending(ctx: PythonContext) -> None:
    pending = ctx.memo(_PENDING)
    if ctx.rule is None or not pending.get(ctx.rule.code):
        return
    saved = ctx.function
    try:
        for sink in pending.pop(ctx.rule.code):
            entries: list[_Entry] = [(sink.function, sink.positions)]
            if sink.method:  # called through an instance: only other modules' callers count
                _report_if_reached(ctx, sink, entries)
                continue
            found = _from_callers(sink, sink.function, sink.positions, 0, set(), entries)
            if found is not None:
                _report_unless(ctx, sink.report, *found)
            else:
                _report_if_reached(ctx, sink, entries)
    finally:
        ctx.function = saved


# Where a caller's data comes from, and the project facts any of which would make it clean.
_Found = tuple[Source, frozenset[str]]


# A module-level function of the module and the positions of its parameters that reach a sink.
_Entry = tuple[ast.FunctionDef | ast.AsyncFunctionDef, frozenset[int]]


def _from_callers(
    sink: _PendingSink,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    positions: frozenset[int],
    depth: int,
    seen: set[int],
    entries: list[_Entry],
) -> _Found | None:
    """The first caller that feeds the helper external data; when project facts would clean
    that flow, every other caller's flow too (the finding is moot only when all are)."""
    ctx = sink.ctx
    seen.add(id(function))
    cleanable: _Found | None = None
    for call, chain in module_call_sites(ctx).get(function.name, []):
        if not chain or any(node is function for node in chain):
            continue  # a module-level call, or recursion
        scope = synthetic_scope(chain, call, ctx)
        if scope is None:
            continue
        ctx.function = scope
        caller = _enclosing_helper(ctx) if depth < 2 else None
        params = positional_parameters(caller) if caller is not None else None
        tracer = Tracer(ctx, sink.sanitizers, sink.web_only, params=params)
        passed = f"passed to `{function.name}()` on line {call.lineno}"
        found: list[_Found] = []
        for position in sorted(positions):
            argument = argument_for(function, call, position)
            source = tracer.run(argument)
            if source is not None and argument is not None:
                unless = clean_if(argument, tracer) if tracer.crossings else frozenset()
                found.append((f"{source}, {passed}", unless))
        if caller is not None and tracer.reached and id(caller) not in seen:
            reached = frozenset(tracer.reached)
            entries.append((caller, reached))
            deeper = _from_callers(sink, caller, reached, depth + 1, seen, entries)
            if deeper is not None:
                found.append((f"{deeper[0]}, {passed}", deeper[1]))
        for source, unless in found:
            if cleanable is not None:
                unless &= cleanable[1]
                source = cleanable[0]
            if not unless:
                return source, unless
            cleanable = (source, unless)
    return cleanable


def _enclosing_helper(ctx: PythonContext) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The enclosing function when it is a module-level function that is not an HTTP handler:
    its callers in the module choose its arguments."""
    scope = ctx.function
    if scope is None or scope.parent is not None or scope.class_info is not None:
        return None
    if client_route(scope, ctx) is not None or not positional_parameters(scope.node):
        return None
    if module_functions(ctx).get(scope.node.name) is not scope.node:
        return None
    return scope.node


def _report_if_reached(ctx: PythonContext, sink: _PendingSink, entries: list[_Entry]) -> None:
    """A sink no caller of the module feeds: reported when a module of the project passes
    request data to one of the functions whose parameters reach it (``db.search(q)``
    from a view) -- the finding names, as facts that must hold for it to stand, the
    parameters another module would have to feed (see :func:`unreached_facts`)."""
    facts: set[str] = set()
    names: list[str] = []
    for function, positions in entries:
        params = list(sink.method_params or positional_parameters(function))
        name = sink.method or function.name
        fresh = unreached_facts(ctx, name, positions, params, sink.sanitizers)
        if fresh:
            facts.update(fresh)
            reached = [f"`{params[i]}`" for i in sorted(positions) if i < len(params)]
            plural = "s" if len(reached) > 1 else ""
            names.append(f"parameter{plural} {', '.join(reached)} of `{name}()`")
    if not facts:
        return
    through = f" (or through {', '.join(names[1:])})" if len(names) > 1 else ""
    source = f"{names[0]}{through}, which another module of the project passes request data"
    before = ctx.findings.copy()  # a pointer copy; kept in case the report withdraws one
    count = len(before)
    sink.report(source)
    findings = ctx.findings
    # Usually the report only appended: then the findings it added are the ones after the
    # first ``count`` -- told in constant time by the one that was last before (a withdrawal
    # shifts it), for a module with thousands of findings (one per helper) would otherwise
    # take quadratic time building sets of all of them per sink.
    if len(findings) >= count and (count == 0 or findings[count - 1] is before[-1]):
        for raw in findings[count:]:
            raw.unless = tuple(sorted({*raw.unless, *facts}))
        return
    earlier = set(map(id, before))
    for raw in findings:
        if id(raw) not in earlier:
            raw.unless = tuple(sorted({*raw.unless, *facts}))
    now = set(map(id, findings))
    # A rule may withdraw what it reported while the origin was unknown (an audit finding):
    # it stands unless the flow is proven -- unless another module feeds the parameters.
    feeding = {REACH + fact[len(UNREACHED) :] for fact in facts}
    for raw in before:
        if id(raw) not in now:
            raw.unless = tuple(sorted({*raw.unless, *feeding}))
            ctx.findings.append(raw)
