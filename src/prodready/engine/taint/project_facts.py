"""Guards and sanitisers through project functions of other modules.

Two sides of the facts :mod:`prodready.engine.semantic.guards` names:

- :func:`establish_function_facts` states, once per module (from the taint rules'
  ``ModuleEnd``), which parameters of each top-level function (and plain method of a
  top-level class: a mixin's) reach its return value only sanitised and which it checks --
  all of them, for a check, when it returns nothing of its parameters or of its own reads
  unchecked -- including through other project functions it calls (as implications the
  project pass resolves) and the names a package ``__init__`` re-exports;
- :func:`project_callee`, :func:`inherited_methods` and :func:`conditional_guards` tell the
  tracer where a flow crosses an imported project function or a method of an imported base
  class (an argument passed through it, a name checked by it), so that a finding can name
  the facts that would clean it (``unless``).
"""

from __future__ import annotations

import ast
import re
import sys

from prodready.engine.analysis import dotted, module_function
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.semantic.guards import (
    EVERY_KIND,
    GUARD_KINDS,
    KIND_SANITIZERS,
    MAX_ROUNDS,
    SAFE_REDIRECT_KIND,
    URL_HOST_KIND,
    VALUE_KIND,
    alias_fact,
    clean_fact,
    dependency_fact,
    guard_fact,
    implication,
)
from prodready.engine.taint.bindings import built_from, function_bindings, own_nodes
from prodready.engine.taint.sanitizers import (
    LOOKUP_FUNCTIONS,
    LOOKUP_METHODS,
    VALUE_SANITIZERS,
    guarded_names,
)
from prodready.engine.taint.summaries import UNSANITIZED, returned_parameters
from prodready.model import ProjectFact

# Packages whose functions are never the project's: their calls cross no project function.
_EXTERNAL_ROOTS = frozenset(sys.stdlib_module_names) | frozenset(
    {"builtins", "django", "rest_framework", "flask", "fastapi", "starlette", "werkzeug"}
    | {"requests", "httpx", "sqlalchemy", "jinja2", "markupsafe", "pydantic", "celery"}
)
_ALL_GUARDS = frozenset().union(*(KIND_SANITIZERS[kind] for kind in GUARD_KINDS))
_CHECKING_STATEMENTS = (ast.If, ast.While, ast.Assert, ast.Return, ast.Expr)


def project_callee(call: ast.Call, ctx: PythonContext) -> str | None:
    """The qualified name of the imported function ``call`` may invoke when it may be the
    project's (``from pkg.util import is_safe; is_safe(x)``, ``from . import util;
    util.is_safe(x)``), None when it is not imported or surely external."""
    base = call.func
    while isinstance(base, ast.Attribute):
        base = base.value
    if not isinstance(base, ast.Name) or not isinstance(ctx.facts.bindings.get(base.id), str):
        return None  # not bound by an import of the module
    scope = ctx.function
    while scope is not None:
        if base.id in scope.bindings:
            return None  # shadowed by a local
        scope = scope.parent
    name = ctx.qualname(call.func)
    if name is None or "." not in name or name.partition(".")[0] in _EXTERNAL_ROOTS:
        return None
    return name


def project_name(expr: ast.Name | ast.Attribute, ctx: PythonContext) -> str | None:
    """The qualified name of an imported name that may be the project's (``CurrentUser`` of
    ``from app.deps import CurrentUser``), None when it is not imported or surely external."""
    base: ast.expr = expr
    while isinstance(base, ast.Attribute):
        base = base.value
    if not isinstance(base, ast.Name) or not isinstance(ctx.facts.bindings.get(base.id), str):
        return None
    name = ctx.qualname(expr)
    if name is None or "." not in name or name.partition(".")[0] in _EXTERNAL_ROOTS:
        return None
    return name


def inherited_methods(call: ast.Call, ctx: PythonContext) -> tuple[str, ...]:
    """``self.name(...)`` in a method whose own class does not define ``name``: the qualified
    names the method may have in the bases the class imports from the project (a mixin's
    method); empty when there are none. Bases of those bases are not followed."""
    func = call.func
    scope = ctx.function
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
        return ()
    if scope is None or scope.class_info is None or scope.self_name != func.value.id:
        return ()
    body = scope.class_info.node.body
    if any(
        isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == func.attr
        for item in body
    ):
        return ()
    found: list[str] = []
    for base in scope.class_info.node.bases:
        root = base
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or not isinstance(ctx.facts.bindings.get(root.id), str):
            continue  # not imported: this module's own class or a name the scan cannot follow
        name = ctx.qualname(base)
        if name is not None and name.partition(".")[0] not in _EXTERNAL_ROOTS:
            found.append(f"{name}.{func.attr}")
    return tuple(found)


def _callee(call: ast.Call, ctx: PythonContext) -> str | None:
    """The project name of a function a module's function calls: one of the module's own
    top-level functions (its facts are this module's) or an imported one."""
    local = module_function(call, ctx)
    if local is not None:
        return f"{ctx.module}.{local.name}" if ctx.module else local.name
    return project_callee(call, ctx)


def conditional_guards(
    function: ast.AST, ctx: PythonContext, sanitizers: frozenset[str]
) -> dict[str, frozenset[str]]:
    """Names a condition (or an assertion, or a call for its effect) hands to an imported
    project function, with the facts under which that function checks them the way the sink
    asks (``if not util.target_ok(url): abort(400)``); with the names they were built from."""
    kinds = [kind for kind in GUARD_KINDS if KIND_SANITIZERS[kind] <= sanitizers]
    if not kinds:
        return {}
    found: dict[str, set[str]] = {}
    bindings = function_bindings(function, ctx)
    for node in own_nodes(function, ctx):
        if not isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert | ast.Expr):
            continue
        test = node.value if isinstance(node, ast.Expr) else node.test
        for call in ast.walk(test):
            if not isinstance(call, ast.Call):
                continue
            callee = project_callee(call, ctx)
            if callee is None:
                continue
            for position, argument in enumerate(call.args):
                if isinstance(argument, ast.Name):
                    facts = {guard_fact(kind, callee, position) for kind in kinds}
                    for name in built_from({argument.id}, bindings):
                        found.setdefault(name, set()).update(facts)
    return {name: frozenset(facts) for name, facts in found.items()}


def establish_function_facts(ctx: PythonContext) -> None:
    """Establish the module's function facts (once per module, whichever rule asks first)."""
    ctx.memo(_ESTABLISHED)


def states_facts(ctx: PythonContext) -> bool:
    """Whether the module states facts about its functions: a test module's helpers do not
    run in production; no caller takes a module of a package it knows as external (Django's
    own tree) for the project's."""
    return not ctx.facts.is_test and ctx.module.partition(".")[0] not in _EXTERNAL_ROOTS


def _establish(ctx: PythonContext) -> bool:
    module = ctx.module
    if not states_facts(ctx):
        return False
    for node in ctx.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            qualname = f"{module}.{node.name}" if module else node.name
            for fact in _function_facts(node, qualname, ctx):
                ctx.establish(ProjectFact(fact, "a project function sanitises or checks it"))
        elif isinstance(node, ast.ClassDef):
            # a mixin's method, called on ``self`` by a subclass in another module
            for method in node.body:
                if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) and not (
                    method.decorator_list
                ):
                    owner = f"{module}.{node.name}" if module else node.name
                    qualname = f"{owner}.{method.name}"
                    for fact in _function_facts(method, qualname, ctx):
                        ctx.establish(ProjectFact(fact, "a project method sanitises or checks it"))
        elif isinstance(node, ast.Assign) and _dependency_alias(node.value, ctx):
            for bound in node.targets:
                if isinstance(bound, ast.Name):
                    alias = f"{module}.{bound.id}" if module else bound.id
                    fact = dependency_fact(VALUE_KIND, alias)
                    ctx.establish(ProjectFact(fact, "a parameter annotated so is a dependency"))
    if ctx.is_package and module:
        for name, target in ctx.facts.bindings.items():
            exported = f"{module}.{name}"
            if (
                isinstance(target, str)
                and "." in target
                and target.partition(".")[0] not in _EXTERNAL_ROOTS
                and target != exported
            ):
                ctx.establish(ProjectFact(alias_fact(exported, target), "a re-export"))
    return True


_ESTABLISHED: ModuleMemo[bool] = ModuleMemo("taint:project-facts", _establish)
_DEPENDENCY_MARKERS = frozenset({"Depends", "Security"})


def _dependency_alias(value: ast.expr, ctx: PythonContext) -> bool:
    """``Annotated[User, Depends(current_user)]``: what FastAPI passes for a parameter
    annotated with it is what the dependency returns."""
    if not isinstance(value, ast.Subscript) or not isinstance(value.slice, ast.Tuple):
        return False
    if (ctx.qualname(value.value) or dotted(value.value) or "").rpartition(".")[2] != "Annotated":
        return False
    return any(
        isinstance(item, ast.Call)
        and (dotted(item.func) or "").rpartition(".")[2] in _DEPENDENCY_MARKERS
        for item in value.slice.elts[1:]
    )


def _function_facts(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    qualname: str,
    ctx: PythonContext,
) -> list[str]:
    params = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    host_kept = _host_kept_facts(function, qualname, params, ctx)
    if not params:
        return host_kept
    facts: list[str] = host_kept
    nodes = own_nodes(function, ctx)
    evidence = _Evidence(nodes, params, ctx)
    guarded: frozenset[str] = frozenset()
    if evidence.guards:
        guarded = guarded_names(function, ctx, _ALL_GUARDS)
    if guarded:
        for kind in GUARD_KINDS:
            checked = guarded_names(function, ctx, KIND_SANITIZERS[kind])
            facts.extend(
                guard_fact(kind, qualname, i) for i, name in enumerate(params) if name in checked
            )
    chained = _chained_calls(nodes, params, qualname, ctx)
    reaching: list[int] = []
    returns = any(isinstance(node, ast.Return) and node.value is not None for node in nodes)
    if returns and (evidence.values or guarded or evidence.escapes or chained):
        reaching = returned_parameters(function, ctx, frozenset())
        if evidence.values:
            used = returned_parameters(function, ctx, frozenset({UNSANITIZED}))
            facts.extend(clean_fact(VALUE_KIND, qualname, i) for i in used if i not in reaching)
        for kind, sanitizers in KIND_SANITIZERS.items():
            if kind == VALUE_KIND or not reaching:
                continue
            if kind in GUARD_KINDS and not guarded:
                continue
            if kind not in GUARD_KINDS and not sanitizers & evidence.called:
                continue
            still = returned_parameters(function, ctx, sanitizers)
            facts.extend(clean_fact(kind, qualname, i) for i in reaching if i not in still)
            if kind in GUARD_KINDS and not _reads_returned(function, ctx, sanitizers):
                # nothing the function reads itself comes back unchecked: the parameters that
                # never reach the return value are clean as well (as for a helper of the
                # caller's module) -- each by itself, whether or not another one (a method's
                # own object: ``return self.model.own_url()``) comes back unchecked
                facts.extend(
                    clean_fact(kind, qualname, i)
                    for i in range(len(params))
                    if i not in reaching
                    and (not still or not _kept_on_object(params[i], params, nodes))
                )
    facts.extend(_through_callees(function, qualname, reaching, chained, ctx))
    return facts


# Calls that put a URL back together from its parts: (scheme, netloc, ...) -- only the first
# two decide where it points.
_URL_REBUILDERS = frozenset({"urllib.parse.urlunparse", "urllib.parse.urlunsplit"})
VAR_KEYWORDS = "**"  # the position of every keyword argument a ``**kwargs`` parameter takes


def _host_kept_facts(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    qualname: str,
    params: list[str],
    ctx: PythonContext,
) -> list[str]:
    """Every return rebuilds a URL (``urlunparse((scheme, netloc, path, params, query,
    fragment))``): the parameters the scheme and host are not built from cannot move the host
    -- a helper adding query parameters (``def with_query(url, **params)``) keeps its first
    argument's host whatever the others say. Keyword-only parameters by name, ``**kwargs`` as
    ``**``."""
    returns = [node for node in own_nodes(function, ctx) if isinstance(node, ast.Return)]
    if not returns:
        return []
    deciding: list[ast.expr] = []
    for node in returns:
        value = node.value
        if not (
            isinstance(value, ast.Call)
            and ctx.qualname(value.func) in _URL_REBUILDERS
            and value.args
            and isinstance(value.args[0], ast.Tuple)
            and len(value.args[0].elts) >= 2
        ):
            return []
        deciding.extend(value.args[0].elts[:2])
    names: set[str] = set()
    for expr in deciding:
        names.update(n.id for n in ast.walk(expr) if isinstance(n, ast.Name))
    # ``scheme, netloc, *_ = urlparse(url)``: each name unpacked is built from the whole value
    unpacked: dict[str, set[str]] = {}
    for statement in own_nodes(function, ctx):
        if isinstance(statement, ast.Assign) and not isinstance(
            statement.value, ast.Tuple | ast.List
        ):
            for target in statement.targets:
                if isinstance(target, ast.Tuple | ast.List):
                    for element in ast.walk(target):
                        if isinstance(element, ast.Name):
                            unpacked.setdefault(element.id, set()).update(
                                n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)
                            )
    bindings = function_bindings(function, ctx)
    sources = built_from(names, bindings)
    for _ in range(MAX_ROUNDS):
        more = set().union(*(unpacked.get(name, set()) for name in sources)) - sources
        if not more:
            break
        sources |= built_from(more, bindings)
    args = function.args
    positions: list[int | str] = [i for i, name in enumerate(params) if name not in sources]
    positions += [a.arg for a in args.kwonlyargs if a.arg not in sources]
    if args.kwarg is not None and args.kwarg.arg not in sources:
        positions.append(VAR_KEYWORDS)
    kinds = (SAFE_REDIRECT_KIND, URL_HOST_KIND)
    return [clean_fact(kind, qualname, at) for kind in kinds for at in positions]


def _kept_on_object(name: str, params: list[str], nodes: list[ast.AST]) -> bool:
    """The parameter ``name`` may be kept where another parameter's state would carry it back:
    assigned (or something built from it) to an attribute or item (``self.url = url``), or
    handed to a method of the first parameter (``self.remember(url)``)."""
    owner = params[0] if params else None
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if (
                node.value is not None
                and any(isinstance(target, ast.Attribute | ast.Subscript) for target in targets)
                and _mentions(node.value, name)
            ):
                return True
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == owner
            and any(_mentions(argument, name) for argument in [*node.args, *node.keywords])
        ):
            return True
    return False


def _reads_returned(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext, sanitizers: frozenset[str]
) -> bool:
    """The function returns external data it reads itself (not through a parameter)."""
    from prodready.engine.taint import propagation  # the tracer asks this module: a cycle

    return propagation._returned_source(function, ctx, sanitizers, False) is not None


# Last names of calls that may sanitise for every sink (conversions, lookups, digests): a
# function calling none of them, comparing nothing with ``in``, sanitises nothing for "value".
_VALUE_CALLS = frozenset(
    {name.rpartition(".")[2] for name in VALUE_SANITIZERS | LOOKUP_FUNCTIONS} | LOOKUP_METHODS
) | frozenset({"new", "md5", "sha1", "sha256", "sha512", "blake2b", "compare_digest"})
_ESCAPE_CALLS = frozenset(
    name.rpartition(".")[2]
    for kind, names in KIND_SANITIZERS.items()
    if kind != VALUE_KIND and kind not in GUARD_KINDS
    for name in names
)
_GUARD_CALLS = frozenset(
    {"realpath", "abspath", "normpath", "resolve", "commonpath", "is_relative_to", "relative_to"}
)
_GUARD_ATTRIBUTES = frozenset({"netloc", "hostname", "host", "scheme", "parents"})
_GUARD_WORDS = re.compile(
    r"^(?:is_|check|validat|valid_|has_valid|allowed_|sanitis|sanitiz|ensure)"
    r"|safe|allowed|trusted|permitted|allowlist|whitelist|redirect",
    re.IGNORECASE,
)


class _Evidence:
    """What a function's body holds that a sanitiser or a check of its parameters needs -- a
    cheap look that spares the flow summaries of the many functions that have none: a
    conversion, lookup or digest of a parameter, an ``in`` test of one ("values"); a call of
    an escaping function ("escapes"); a parsed URL's host, a path resolution, a
    ``startswith("//")``, a check-like predicate applied to a parameter ("guards")."""

    def __init__(self, nodes: list[ast.AST], params: list[str], ctx: PythonContext) -> None:
        called: set[str] = set()
        self.values = self.guards = False
        for node in nodes:
            if isinstance(node, ast.Call):
                func = node.func
                last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                called.add(last)
                if not (self.values and self.guards) and _hands_parameter(node, params):
                    self.values = self.values or last in _VALUE_CALLS
                    self.guards = self.guards or bool(_GUARD_WORDS.search(last))
                if last in _GUARD_CALLS or (last == "startswith" and _slashes(node)):
                    self.guards = True
                elif not self.guards and _GUARD_WORDS.search(last):
                    # a check of a value read from a parameter (``url = request.GET["next"];
                    # if url_is_safe(url): return url``)
                    self.guards = any(isinstance(argument, ast.Name) for argument in node.args)
            elif isinstance(node, ast.Compare):
                if isinstance(node.ops[0], ast.In | ast.NotIn):
                    left = node.left
                    self.values = self.values or (isinstance(left, ast.Name) and left.id in params)
                    if isinstance(left, ast.Constant) and left.value in {"..", "/", "\\"}:
                        self.guards = True
            elif isinstance(node, ast.Attribute) and node.attr in _GUARD_ATTRIBUTES:
                self.guards = True
        self.escapes = not called.isdisjoint(_ESCAPE_CALLS)
        if self.escapes:
            called.update(ctx.qualname(n.func) or "" for n in nodes if isinstance(n, ast.Call))
        self.called = frozenset(called)


def _hands_parameter(call: ast.Call, params: list[str]) -> bool:
    for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
        if isinstance(argument, ast.Name) and argument.id in params:
            return True
    return False


def _slashes(call: ast.Call) -> bool:
    """``url.startswith("//")``, ``url.startswith("https://api.example.com/")``."""
    return any(
        isinstance(argument, ast.Constant)
        and isinstance(argument.value, str)
        and "//" in argument.value
        for argument in call.args
    )


# call, whether it checks the parameter (a plain argument of a deciding call), whether it
# builds the returned value, callee, position, index of the parameter
_Chained = list[tuple[ast.Call, bool, bool, str, int, int]]


def _chained_calls(
    nodes: list[ast.AST], params: list[str], qualname: str, ctx: PythonContext
) -> _Chained:
    """The calls of project functions that decide a statement or build a value, with each
    parameter handed to one (as the root of an argument, ``value`` or ``value.strip()``, and
    in that argument only)."""
    found: _Chained = []
    if not any(isinstance(node, ast.Call) and _rooted_arguments(node, params) for node in nodes):
        return found
    for node in nodes:
        if not isinstance(node, _CHECKING_STATEMENTS):
            continue
        returned = isinstance(node, ast.Return)
        for call, checking in _calls_in(node):
            rooted = _rooted_arguments(call, params)
            if not rooted:
                continue
            callee = _callee(call, ctx)
            if callee is None or callee == qualname:
                continue
            for position, name in rooted:
                if sum(_mentions(argument, name) for argument in call.args) == 1:
                    plain = isinstance(call.args[position], ast.Name)
                    index = params.index(name)
                    checks = checking and plain
                    found.append((call, checks, returned, callee, position, index))
    return found


def _rooted_arguments(call: ast.Call, params: list[str]) -> list[tuple[int, str]]:
    """The positional arguments built on a parameter: ``f(value)``, ``f(value.strip())``."""
    found: list[tuple[int, str]] = []
    for position, argument in enumerate(call.args):
        root: ast.expr = argument
        while isinstance(root, ast.Attribute | ast.Call | ast.Subscript):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Name) and root.id in params:
            found.append((position, root.id))
    return found


def _through_callees(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    qualname: str,
    reaching: list[int],
    chained: _Chained,
    ctx: PythonContext,
) -> list[str]:
    """Implications: a parameter handed to another project function is clean (or checked)
    when that function cleans (or checks) it -- ``def check(url): return util.is_safe(url)``,
    ``def clean(v): return util.to_page(v)``. (Only one argument mentions the parameter: the
    cut below cleans every argument of the call.)"""
    facts: list[str] = []
    for call, checking, returned, callee, position, index in chained:
        if returned and index in reaching:
            cut = frozenset({ctx.qualname(call.func) or dotted(call.func) or ""})
            if index not in returned_parameters(function, ctx, cut):
                every = (
                    clean_fact(EVERY_KIND, qualname, index),
                    clean_fact(EVERY_KIND, callee, position),
                )
                facts.append(implication(*every))
        if not checking:
            continue
        for kind in GUARD_KINDS:
            premise = guard_fact(kind, callee, position)
            facts.append(implication(guard_fact(kind, qualname, index), premise))
            if index in reaching:
                # a checked name flows nowhere (as with the module's own checks: see
                # guarded_names), so what is returned of it is clean when the check holds
                facts.append(implication(clean_fact(kind, qualname, index), premise))
    return facts


def _calls_in(statement: ast.stmt) -> list[tuple[ast.Call, bool]]:
    """The calls of a statement, and whether each decides it (a condition, an assertion, a
    returned verdict, a call for its effect that raises) or only builds a value."""
    tested: ast.expr | None
    if isinstance(statement, ast.If | ast.While | ast.Assert):
        tested = statement.test
    else:
        assert isinstance(statement, ast.Return | ast.Expr)
        tested = statement.value
    if tested is None:
        return []
    decides = not isinstance(statement, ast.Return) or _verdict(tested)
    found: list[tuple[ast.Call, bool]] = []
    for node in ast.walk(tested):
        if isinstance(node, ast.Call):
            found.append((node, decides))
    return found


def _verdict(value: ast.expr | None) -> bool:
    """``return util.is_safe(url)``, ``return not check(url)``, ``return a(x) and b(x)``."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not):
        return _verdict(value.operand)
    if isinstance(value, ast.BoolOp):
        return all(_verdict(item) for item in value.values)
    return isinstance(value, ast.Call)


def _mentions(expr: ast.AST, name: str) -> bool:
    return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(expr))
