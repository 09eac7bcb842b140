"""Sinks inside project functions that another module feeds: both sides of the facts.

A module whose helper builds a sink from its parameters (``def search(q): cur.execute(f"...
{q}")``) and whose own functions never pass it external data reports the sink anyway, naming
``taint:unreached:<kind>:<function>:<i>`` facts (:func:`unreached_facts`); a module whose
handlers pass request data to an imported project function states ``taint:reach:<kind>:
<function>:<i>`` (:func:`establish_reaches`, once per module, cached with its result). The
project pass keeps the finding only when one of the matching ``reach`` facts holds (see
:func:`prodready.engine.semantic.guards.reached`) -- one parse per file, and a warm rescan
after an edit of either module re-analyses that module alone.

A module-level function that hands its parameter on to such a function states it as an
implication (``reach:*:repository.search:0 <= reach:*:services.find:0``), so a handler, a
service layer and a repository may each live in their own module. Under ``--diff`` the
finding is judged with the facts of unchanged modules from the result cache: a caller whose
file has no cache entry is unknown, and the sink is not reported.
"""

from __future__ import annotations

import ast

from prodready.engine.analysis import module_function, module_functions
from prodready.engine.python import ModuleMemo, PythonContext, Scope
from prodready.engine.semantic.guards import (
    EVERY_KIND,
    KIND_SANITIZERS,
    VALUE_KIND,
    implication,
    kinds_for,
    reach_fact,
    unreached_fact,
)
from prodready.engine.taint.bindings import (
    built_from,
    function_bindings,
    names_in,
    own_nodes,
    synthetic_scope,
)
from prodready.engine.taint.call_sites import positional_parameters
from prodready.engine.taint.method_reach import instance_method_callee
from prodready.engine.taint.project_facts import project_callee, states_facts
from prodready.engine.taint.propagation import Tracer
from prodready.engine.taint.sources import client_route
from prodready.model import ProjectFact

_SUMMARY = "a handler passes request data to a project function"

# What a caller's flow passes through that makes its value harmless for sinks of each kind,
# beyond the kind's own sanitisers: the names a path, redirect or HTML sink accepts.
_PATH_NAMES = frozenset(
    {"werkzeug.utils.secure_filename", "werkzeug.secure_filename", "secure_filename"}
    | {"os.path.basename", "posixpath.basename", "os.path.splitext[1]", "slugify"}
    | {"django.utils.text.get_valid_filename", "django.utils.text.slugify"}
    | {f"pathlib.{kind}.{part}" for kind in ("Path", "PurePath") for part in ("name", "stem")}
)
_REACH_SANITIZERS: dict[str, frozenset[str]] = {
    **KIND_SANITIZERS,
    "path-containment": KIND_SANITIZERS["path-containment"] | _PATH_NAMES,
    "safe-redirect": KIND_SANITIZERS["safe-redirect"]
    | {"flask.url_for", "url_for", "django.urls.reverse", "reverse", "reverse_lazy"},
    "html": KIND_SANITIZERS["html"] | {"bleach.clean", "nh3.clean"},
}
_ALL_REACH_SANITIZERS = frozenset().union(*_REACH_SANITIZERS.values())


def sink_kinds(sanitizers: frozenset[str]) -> tuple[str, ...]:
    """The kinds a sink with these sanitisers is stated under: its specific ones, or
    ``value`` (no sanitiser but conversions: code evaluation, argument injection)."""
    specific = tuple(kind for kind in kinds_for(sanitizers) if kind != VALUE_KIND)
    return specific or (VALUE_KIND,)


def unreached_facts(
    ctx: PythonContext,
    function: str,
    positions: frozenset[int],
    params: list[str],
    sanitizers: frozenset[str],
) -> set[str]:
    """The facts a finding at a sink inside the module's function ``function`` names: one of
    its parameters at ``positions`` must be fed request data by another module (by position
    or by keyword). Empty in modules no other module's facts are about (tests, external
    packages)."""
    if not states_facts(ctx):
        return set()
    qualname = f"{ctx.module}.{function}" if ctx.module else function
    facts: set[str] = set()
    for kind in sink_kinds(sanitizers):
        for position in positions:
            facts.add(unreached_fact(kind, qualname, position))
            if position < len(params):
                facts.add(unreached_fact(kind, qualname, params[position]))
    return facts


def establish_reaches(ctx: PythonContext) -> None:
    """State which parameters of imported project functions the module's functions pass
    request data (once per module, whichever taint rule asks first)."""
    ctx.memo(_ESTABLISHED)


def _establish(ctx: PythonContext) -> bool:
    if not states_facts(ctx):
        return False
    imported = {
        name: target for name, target in ctx.facts.bindings.items() if isinstance(target, str)
    }
    if not imported:
        return False
    local = set(module_functions(ctx))
    calls = _candidate_calls(ctx, imported, local)
    if not calls:
        return False
    requests = _request_globals(imported)
    saved = ctx.function
    try:
        # Calls of imported functions first; then calls of the module's own functions that
        # hand a parameter on to one (a handler -> _lookup(q) -> services.find(q)), until no
        # new such function appears -- the facts of other local calls would serve nobody.
        passing: set[str] = set()
        for call, chain in calls:
            if not _local_call(call, local):
                _call_reaches(call, chain, ctx, passing, requests)
        done: set[str] = set()
        while passing - done:
            fresh = passing - done
            done |= fresh
            for call, chain in calls:
                name = _local_call(call, local)
                if name in fresh:
                    _call_reaches(call, chain, ctx, passing, requests)
    finally:
        ctx.function = saved
    return True


def _local_call(call: ast.Call, local: set[str]) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) and func.id in local else None


def _request_globals(imported: dict[str, str]) -> bool:
    """The module imports a framework's request global (Flask/Quart ``request``)."""
    return any(target.endswith(".request") for target in imported.values())


_ESTABLISHED: ModuleMemo[bool] = ModuleMemo("taint:reaches", _establish)


def _candidate_calls(
    ctx: PythonContext, imported: dict[str, str], local: set[str]
) -> list[tuple[ast.Call, tuple[ast.AST, ...]]]:
    """Calls inside functions that may invoke a module-level function of the project, with
    the defs/classes around each: ``search(q)`` (imported or the module's own),
    ``repository.search(q)`` (of an imported module), ``refresh.send(url)`` -- not a class
    (``Order(...)``), a method of an imported class (``Order.objects.filter(...)``), nor a call
    whose arguments are all constants. Only function bodies are read (not class bodies full
    of field declarations), through the nodes the taint analysis keeps per function."""
    found: list[tuple[ast.Call, tuple[ast.AST, ...]]] = []
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    everywhere = _request_globals(imported)
    pending: list[tuple[ast.AST, tuple[ast.AST, ...], bool]] = [
        (node, (), everywhere) for node in ctx.tree.body if isinstance(node, scopes)
    ]
    while pending:
        node, outer, sees = pending.pop()
        chain = (*outer, node)
        if isinstance(node, ast.ClassDef):
            pending.extend((item, chain, sees) for item in node.body if isinstance(item, scopes))
            continue
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        sees = sees or _may_see_request(node, ctx)
        if not sees and (outer or not positional_parameters(node)):
            continue  # neither sees request data nor hands its parameters on
        for item in own_nodes(node, ctx):
            if isinstance(item, ast.Call) and _function_shaped(item, imported, local):
                arguments = [*item.args, *(keyword.value for keyword in item.keywords)]
                if not all(isinstance(argument, ast.Constant) for argument in arguments):
                    found.append((item, chain))
            elif isinstance(item, scopes):
                pending.append((item, chain, sees))
    return found


def _function_shaped(call: ast.Call, imported: dict[str, str], local: set[str]) -> bool:
    func = call.func
    if not (call.args or call.keywords):
        return False
    if isinstance(func, ast.Name):
        target = imported.get(func.id)
        return func.id in local or (target is not None and _lower(target.rpartition(".")[2]))
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        # ``Repository(db).search(q)``: a method of an imported project class
        owner = func.value.func
        return isinstance(owner, ast.Name) and owner.id in imported and not _lower(owner.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id not in imported and func.value.id not in local:
            return True  # ``repo.search(q)`` with a local ``repo``: told by the call's scope
        base = imported.get(func.value.id) or (func.value.id if func.value.id in local else None)
        if base is None or not _lower(func.attr):
            return False
        return func.attr in _ENQUEUEING_METHODS or _lower(base.rpartition(".")[2])
    return False


def _lower(name: str) -> bool:
    return name[:1].islower()


def _call_reaches(
    call: ast.Call,
    chain: tuple[ast.AST, ...],
    ctx: PythonContext,
    passing: set[str],
    request_globals: bool,
) -> None:
    """State what ``call`` passes its callee; ``passing`` collects the module's functions
    that hand one of their parameters on to it."""
    functions = [n for n in chain if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not functions:
        return
    sees_request = request_globals or any(_may_see_request(f, ctx) for f in functions)
    hands_on = len(chain) == 1 and bool(positional_parameters(functions[0]))
    if not sees_request and not hands_on:
        return
    scope = synthetic_scope(chain, call, ctx)
    if scope is None:
        return
    ctx.function = scope
    local = module_function(call, ctx)
    if local is not None:
        callee: str | None = f"{ctx.module}.{local.name}" if ctx.module else local.name
    else:
        callee = project_callee(call, ctx) or instance_method_callee(call, ctx)
    if callee is None:
        return
    passed: list[tuple[int | str, ast.expr]] = []
    for position, argument in enumerate(call.args):
        if isinstance(argument, ast.Starred):
            break  # positions unknown from here
        passed.append((position, argument))
    passed.extend((k.arg, k.value) for k in call.keywords if k.arg is not None)
    owner, _, method = callee.rpartition(".")
    # ``actor.send(url)`` (Dramatiq), ``task.delay(url)`` (Celery): the message's arguments
    # are the task function's -- stated for both names, only a matching sink uses either.
    callees = (callee, owner) if method in _ENQUEUEING_METHODS else (callee,)
    helper = _passing_helper(scope, ctx) if hands_on else None
    for parameter, argument in passed:
        if helper is not None and _pass_on(helper, argument, parameter, callees, ctx):
            passing.add(helper.name)
        if not sees_request or Tracer(ctx, frozenset(), True).run(argument) is None:
            continue
        # tainted despite every kind's sanitisers: reached for every kind, one more trace
        every = Tracer(ctx, _ALL_REACH_SANITIZERS, True).run(argument) is not None
        for kind, sanitizers in _REACH_SANITIZERS.items():
            if every or kind == VALUE_KIND or Tracer(ctx, sanitizers, True).run(argument):
                for name in callees:
                    ctx.establish(ProjectFact(reach_fact(kind, name, parameter), _SUMMARY))


def _may_see_request(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """A handler (a route of the module), or a function taking a request object."""
    if any(r.function == function.name and r.line == function.lineno for r in ctx.facts.routes):
        return True
    arguments = function.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if arg.arg in {"request", "req"} or (
            arg.annotation is not None and "Request" in ast.unparse(arg.annotation)
        ):
            return True
    return False


_ENQUEUEING_METHODS = frozenset({"send", "delay"})


def _passing_helper(
    scope: Scope, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The module-level function (not a handler) the call is in: whatever its own callers
    pass it, it may hand on to the imported function (a service layer)."""
    if scope.parent is not None or scope.class_info is not None:
        return None
    if client_route(scope, ctx) is not None or not positional_parameters(scope.node):
        return None
    return scope.node


def _pass_on(
    helper: ast.FunctionDef | ast.AsyncFunctionDef,
    argument: ast.expr,
    parameter: int | str,
    callees: tuple[str, ...],
    ctx: PythonContext,
) -> bool:
    """``def find(q): return db.search(q)``: request data reaches ``db.search``'s ``q`` when
    it reaches ``find``'s -- stated as implications, for every kind (by position and by
    name: a caller may pass it either way)."""
    params = positional_parameters(helper)
    if built_from(names_in(argument), function_bindings(helper, ctx)).isdisjoint(params):
        return False  # built from no parameter: nothing of the caller's is handed on
    tracer = Tracer(ctx, frozenset(), True, params=params)
    tracer.run(argument)
    if not tracer.reached:
        return False
    qualname = f"{ctx.module}.{helper.name}" if ctx.module else helper.name
    names = list(params)
    for position in tracer.reached:
        for premise in (position, names[position]):
            for name in callees:
                fact = implication(
                    reach_fact(EVERY_KIND, name, parameter),
                    reach_fact(EVERY_KIND, qualname, premise),
                )
                ctx.establish(ProjectFact(fact, _SUMMARY))
    return True
