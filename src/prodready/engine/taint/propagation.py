"""Propagation: does a value carry external data, following assignments, string building,
containers and calls of the module's helpers, and stopping at sanitisers."""

from __future__ import annotations

import ast
from collections.abc import Callable

from prodready.engine.analysis import module_function
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.semantic.guards import ALL_OF, clean_fact, dependency_fact, kinds_for
from prodready.engine.taint.allowlist import AllowListed, is_allow_listed
from prodready.engine.taint.bindings import (
    ENTRY_VALUE,
    Augmented,
    binding_before,
    node_position,
    own_nodes,
    precedes,
    synthetic_scope,
)
from prodready.engine.taint.call_sites import argument_for, own_method
from prodready.engine.taint.project_facts import (
    VAR_KEYWORDS,
    conditional_guards,
    inherited_methods,
    project_callee,
    project_name,
)
from prodready.engine.taint.sanitizers import (
    HASH_PREFIXES,
    LOOKUP_FUNCTIONS,
    LOOKUP_METHODS,
    NEUTRAL_METHODS,
    PATH_CONTAINMENT_CHECK,
    SEGMENT_PARAMETERS,
    VALUE_SANITIZERS,
    allowed_regions,
    guarded_names,
    segment_parameter,
    store_lookup,
)
from prodready.engine.taint.sources import (
    direct_source,
    handler_parameter,
    request_attribute,
    short_excerpt,
)
from prodready.engine.taint.summaries import returned_parameters

MAX_DEPTH = 10


Source = str  # a one-line description of where the data comes from


Report = Callable[[Source], None]


class Tracer:
    def __init__(
        self,
        ctx: PythonContext,
        sanitizers: frozenset[str],
        web_only: bool,
        params: dict[str, int] | None = None,
    ) -> None:
        self.ctx = ctx
        self.sanitizers = sanitizers
        self.web_only = web_only
        self.guarded: frozenset[str] = frozenset()  # filled for the second pass, see run()
        self.allowed: AllowListed = {}  # likewise: where membership checks prove a name safe
        self.request_filters = frozenset(
            entry.split(".", 1)[1] for entry in sanitizers if entry.startswith("request.")
        )
        self.segments_safe = SEGMENT_PARAMETERS in sanitizers
        self.params = params  # the enclosing helper's parameters: record those that flow
        self.reached: set[int] = set()
        self.limit: tuple[int, int] | None = None  # bindings at or after this are too late
        self.visiting: set[int] = set()
        # Imported project functions the flow crosses (an argument passed through one, a name
        # checked by one): per crossing, the facts any of which would stop it there; and the
        # facts assumed to hold (see :mod:`prodready.engine.semantic.guards`).
        self.kinds = kinds_for(sanitizers)
        self.crossings: list[frozenset[str]] = []
        self.assumed: frozenset[str] = frozenset()
        self.conditional: dict[str, frozenset[str]] = {}  # name -> facts that make it checked
        # The read of external data the last run found (``request.form["name"]``): which
        # value of the request it is, beyond the source's description (see flow_groups).
        self.origin: ast.AST | None = None

    def run(self, expr: ast.AST | None) -> Source | None:
        """Trace ``expr``; the checks of the enclosing function (allow-lists...) only remove
        sources, so they are computed only when a first pass without them finds one."""
        reached = set(self.reached)
        self.limit = node_position(expr)
        self.origin = None
        found = self.trace(expr)
        scope = self.ctx.function
        if (found is None and self.reached == reached) or scope is None:
            return found
        guarded = guarded_names(scope.node, self.ctx, self.sanitizers)
        allowed = allowed_regions(scope.node, self.ctx, self.sanitizers)
        conditional = conditional_guards(scope.node, self.ctx, self.sanitizers)
        if not guarded and not allowed and not conditional:
            return found
        self.guarded, self.allowed, self.reached = guarded, allowed, reached
        self.conditional = conditional
        self.limit = node_position(expr)
        self.origin = None
        try:
            return self.trace(expr)
        finally:
            self.guarded, self.allowed, self.conditional = frozenset(), {}, {}

    def trace(self, expr: ast.AST | None, depth: int = 0) -> Source | None:
        if expr is None or depth > MAX_DEPTH or id(expr) in self.visiting:
            return None
        self.visiting.add(id(expr))
        try:
            return self._trace(expr, depth)
        finally:
            self.visiting.discard(id(expr))

    def _trace(self, expr: ast.AST, depth: int) -> Source | None:
        ctx = self.ctx
        if isinstance(expr, ast.Constant | ast.Compare | ast.Lambda):
            return None
        if isinstance(expr, ast.Name):
            return self._name(expr, depth)
        if self.sanitizers and self._sanitized_read(expr):
            return None
        if isinstance(expr, ast.Call) and self._converted_lookup(expr):
            return None
        direct = direct_source(expr, ctx)
        if direct is not None:
            if self.web_only and not direct.startswith(("request", "route")):
                return None
            if (
                self.request_filters
                and direct.startswith("request")
                and request_attribute(expr, ctx) in self.request_filters
            ):
                return None
            self.origin = expr
            return direct
        if isinstance(expr, ast.Call):
            found = self._call(expr, depth)
            if found is not None and _reads_origin(expr, self.origin):
                self.origin = expr  # ``request.form.get("name")``: which value is read
            return found
        if isinstance(expr, ast.Attribute):
            found = self.trace(expr.value, depth + 1)
            if found is not None and expr.attr == "filename":
                return f"the client-chosen file name `{short_excerpt(ctx, expr)}`"
            if (
                found is not None
                and found.startswith("route parameter")
                and isinstance(expr.value, ast.Name)
            ):
                return (
                    f"route parameter `{short_excerpt(ctx, expr)}`"  # a body model's ``body.url``
                )
            return found
        if isinstance(expr, ast.Subscript):
            found = self.trace(expr.value, depth + 1)
            if found is not None and self.origin is expr.value:
                self.origin = expr  # ``request.form["name"]``: which value is read
            return found
        if isinstance(expr, ast.Await | ast.Starred | ast.NamedExpr):
            return self.trace(expr.value, depth + 1)
        if isinstance(expr, ast.FormattedValue):
            return self.trace(expr.value, depth + 1)
        if isinstance(expr, ast.BinOp):
            return self.trace(expr.left, depth + 1) or self.trace(expr.right, depth + 1)
        if isinstance(expr, ast.IfExp):
            return self.trace(expr.body, depth + 1) or self.trace(expr.orelse, depth + 1)
        if isinstance(expr, ast.JoinedStr | ast.BoolOp | ast.Tuple | ast.List | ast.Set):
            parts = expr.values if isinstance(expr, ast.JoinedStr | ast.BoolOp) else expr.elts
            return self._first(parts, depth)
        if isinstance(expr, ast.Dict):
            return self._first([v for v in expr.values if v is not None], depth)
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self.trace(expr.elt, depth + 1)
        return None

    def _converted_lookup(self, call: ast.Call) -> bool:
        """``request.args.get("page", 1, type=int)``: Werkzeug converts the value."""
        if not isinstance(call.func, ast.Attribute) or call.func.attr not in {"get", "getlist"}:
            return False
        for keyword in call.keywords:
            if keyword.arg == "type" and isinstance(keyword.value, ast.Name | ast.Attribute):
                return self.ctx.qualname(keyword.value) in VALUE_SANITIZERS
        return False

    def _sanitized_read(self, expr: ast.AST) -> bool:
        """``Path(name).name`` (a qualified attribute among the sanitisers) or
        ``os.path.splitext(name)[1]`` (``"os.path.splitext[1]"``)."""
        ctx = self.ctx
        if isinstance(expr, ast.Attribute):
            return ctx.qualname(expr) in self.sanitizers
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Call):
            index = expr.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                callee = ctx.qualname(expr.value.func) or ""
                return f"{callee}[{index.value}]" in self.sanitizers
        return False

    def _name(self, expr: ast.Name, depth: int) -> Source | None:
        name = expr.id
        if name in self.guarded or is_allow_listed(expr, self.allowed):
            return None
        checked_if = self.conditional.get(name)
        if checked_if is None:
            return self._unchecked_name(expr, depth)
        if checked_if & self.assumed:
            return None
        found = self._unchecked_name(expr, depth)
        if found is not None:
            self.crossings.append(checked_if)
        return found

    def _unchecked_name(self, expr: ast.Name, depth: int) -> Source | None:
        name = expr.id
        ctx = self.ctx
        scope = ctx.function
        if scope is not None and (name in scope.bindings or name in scope.values):
            value = scope.values.get(name)
            earlier = binding_before(scope.node, name, self.limit, ctx)
            if value is not None and (self.limit is None or precedes(value, self.limit)):
                at = node_position(earlier) if isinstance(earlier, Augmented) else None
                later = at is not None and precedes(value, at)
                if not later:  # ``cmd += part`` after the binding the walk saw: that one
                    return self._expand(value, depth)
            if earlier is ENTRY_VALUE:
                return self._parameter(name)
            if not isinstance(earlier, ast.expr):
                return None  # bound by ``except ... as``, an import, a def: not data
            return self._expand(earlier, depth)
        return self.trace(ctx.value_of(name), depth + 1)  # enclosing function or module

    def _expand(self, value: ast.expr, depth: int) -> Source | None:
        """Trace the value a local was bound to, looking only at bindings before it."""
        saved = self.limit
        self.limit = node_position(value) or saved
        try:
            return self.trace(value, depth + 1)
        finally:
            self.limit = saved

    def _parameter(self, name: str) -> Source | None:
        """A parameter of the enclosing function, with the value it was called with."""
        ctx = self.ctx
        if handler_parameter(name, ctx):
            if self.segments_safe and segment_parameter(name, ctx):
                return None
            dependency = self._dependency_facts(name)
            if dependency & self.assumed:
                return None
            if dependency:
                self.crossings.append(dependency)
            return f"route parameter `{name}`"
        if self.params is not None and name in self.params:
            self.reached.add(self.params[name])
        return None

    def _dependency_facts(self, name: str) -> frozenset[str]:
        """A parameter annotated with a name imported from the project (``auth:
        CurrentUser``): if that module binds it to ``Annotated[..., Depends(...)]``, the value
        comes from the dependency, not from the client -- the facts that say so."""
        scope = self.ctx.function
        if scope is None:
            return frozenset()
        arg = next((a for a in scope.params if a.arg == name), None)
        annotation = arg.annotation if arg is not None else None
        if not isinstance(annotation, ast.Name | ast.Attribute):
            return frozenset()
        alias = project_name(annotation, self.ctx)
        if alias is None:
            return frozenset()
        return frozenset(dependency_fact(kind, alias) for kind in self.kinds)

    def _first(self, parts: list[ast.expr], depth: int) -> Source | None:
        for part in parts:
            found = self.trace(part, depth + 1)
            if found is not None:
                return found
        return None

    def _call(self, call: ast.Call, depth: int) -> Source | None:
        ctx = self.ctx
        callee = ctx.qualname(call.func) or ""
        if callee in VALUE_SANITIZERS or callee in self.sanitizers or callee in LOOKUP_FUNCTIONS:
            return None
        if callee.startswith(HASH_PREFIXES):
            return None
        method = call.func.attr if isinstance(call.func, ast.Attribute) else None
        if method is not None and (method in NEUTRAL_METHODS or method in self.sanitizers):
            return None
        if method == "replace" and PATH_CONTAINMENT_CHECK in self.sanitizers and _drops_dots(call):
            return None  # ``ext.replace(".", "")``: no ``..`` is left to climb out with
        helper = module_function(call, ctx)
        if helper is not None:
            return self._helper(helper, call, depth)
        method_helper = own_method(call, ctx)
        if method_helper is not None:
            return self._helper(method_helper, call, depth, bound=True)
        inherited = inherited_methods(call, ctx)
        if inherited:
            return self._project_call(call, inherited, depth, offset=1)
        if isinstance(call.func, ast.Attribute) and (
            method in LOOKUP_METHODS or store_lookup(call)
        ):
            # the key selects a stored value; only the receiver (and a default) flow out
            return self._first([call.func.value, *call.args[1:]], depth)
        project = project_callee(call, ctx)
        if project is not None:
            return self._project_call(call, (project,), depth)
        arguments: list[ast.expr] = [*call.args, *(k.value for k in call.keywords)]
        if isinstance(call.func, ast.Attribute):
            arguments.insert(0, call.func.value)  # the receiver: ``tainted.strip()``
        return self._first(arguments, depth)

    def _project_call(
        self, call: ast.Call, callees: tuple[str, ...], depth: int, offset: int = 0
    ) -> Source | None:
        """A call of an imported function that may be the project's (or of a method one of
        the bases of the caller's class may define -- ``offset`` 1: the receiver is the
        first parameter): its arguments flow out unless the facts of that function say it
        cleans them (which the project pass decides: the crossing is recorded)."""
        known = call.args
        for position, argument in enumerate(call.args):
            if isinstance(argument, ast.Starred):
                known = call.args[:position]  # positions unknown from here: the rest flows
                break
        for position, argument in enumerate(known):
            facts = frozenset(
                clean_fact(kind, callee, position + offset)
                for kind in self.kinds
                for callee in callees
            )
            if facts & self.assumed:
                continue
            found = self.trace(argument, depth + 1)
            if found is not None:
                self.crossings.append(facts)
                return found
        for keyword in call.keywords:
            if keyword.arg is None:
                continue  # ``**options``: which parameters it fills is unknown here
            facts = frozenset(
                clean_fact(kind, callee, at)
                for kind in self.kinds
                for callee in callees
                for at in (keyword.arg, VAR_KEYWORDS)
            )
            if facts & self.assumed:
                continue
            found = self.trace(keyword.value, depth + 1)
            if found is not None:
                self.crossings.append(facts)
                return found
        rest = [*call.args[len(known) :], *(k.value for k in call.keywords if k.arg is None)]
        if isinstance(call.func, ast.Attribute):
            rest.insert(0, call.func.value)
        return self._first(rest, depth)

    def _helper(
        self,
        helper: ast.FunctionDef | ast.AsyncFunctionDef,
        call: ast.Call,
        depth: int,
        bound: bool = False,
    ) -> Source | None:
        """A call of a function defined in this module (``bound``: of a method of the
        caller's own class, through ``self``): tainted when an argument flows to its return
        value (per the function's summary)."""
        for position in returned_parameters(helper, self.ctx, self.sanitizers):
            argument = argument_for(helper, call, position, bound)
            found = self.trace(argument, depth + 1)
            if found is not None:
                return found
        return _returned_source(helper, self.ctx, self.sanitizers, self.web_only)


# (id(helper), sanitizers, web_only) -> the external data the helper reads and returns
_RETURNED_READS: ModuleMemo[dict[object, Source | None]] = ModuleMemo("taint:reads", lambda _: {})


def _returned_source(
    helper: ast.FunctionDef | ast.AsyncFunctionDef,
    ctx: PythonContext,
    sanitizers: frozenset[str],
    web_only: bool,
) -> Source | None:
    """External data a helper reads itself and returns (``def next_url(): return
    request.args.get("next")``), computed once per helper and sink kind."""
    key = (id(helper), sanitizers, web_only)
    summaries = ctx.memo(_RETURNED_READS)
    if key in summaries:
        return summaries[key]
    summaries[key] = None  # recursion guard
    returns = [
        node.value
        for node in own_nodes(helper, ctx)
        if isinstance(node, ast.Return) and node.value is not None
    ]
    found: Source | None = None
    if returns:
        saved = ctx.function
        try:
            ctx.function = synthetic_scope((helper,), None, ctx)
            tracer = Tracer(ctx, sanitizers, web_only)
            for value in returns:
                found = tracer.run(value)
                if found is not None:
                    found = f"{found} (read by `{helper.name}()`)"
                    break
        finally:
            ctx.function = saved
    summaries[key] = found
    return found


def clean_if(expr: ast.AST, tracer: Tracer) -> frozenset[str]:
    """After ``tracer`` found a source in ``expr``: the project facts any one of which would
    make ``expr`` clean -- the flow crosses an imported project function that, by its facts,
    sanitises or checks what it is given; empty when none would."""
    facts: set[str] = set()
    crossings = list(dict.fromkeys(tracer.crossings))
    for crossing in crossings:
        again = Tracer(tracer.ctx, tracer.sanitizers, tracer.web_only)
        again.assumed = crossing
        if again.run(expr) is None:
            facts |= crossing
    crossings = [crossing for crossing in crossings if not crossing <= facts]
    if not crossings:
        return frozenset(facts)
    # Those not enough alone: assume them all, and each further crossing the flow then meets
    # (a second dependency, another project function), until it is clean -- clean when each
    # holds (a fact of each kind the sink accepts, taken together: one conjunction per kind).
    return frozenset(facts | _conjunctions(expr, tracer, crossings))


def _conjunctions(expr: ast.AST, tracer: Tracer, crossings: list[frozenset[str]]) -> set[str]:
    for _ in range(_MAX_CONJUNCTION):
        again = Tracer(tracer.ctx, tracer.sanitizers, tracer.web_only)
        again.assumed = frozenset().union(*crossings)
        if again.run(expr) is None:
            break
        further = [c for c in dict.fromkeys(again.crossings) if not c & again.assumed]
        if not further:
            return set()
        crossings.append(further[0])
    else:
        return set()
    if len(crossings) < 2:
        return set()
    conjunctions = set()
    for kind in tracer.kinds:
        parts = [sorted(f for f in crossing if f":{kind}:" in f) for crossing in crossings]
        if all(parts):
            conjunctions.add(ALL_OF.join(sorted(part[0] for part in parts)))
    return conjunctions


_MAX_CONJUNCTION = 4


def tainted(
    expr: ast.AST | None,
    ctx: PythonContext,
    *,
    sanitizers: frozenset[str] = frozenset(),
    web_only: bool = False,
) -> Source | None:
    """Where the data ``expr`` carries comes from, when it comes from outside the process;
    None when it is constant, derived only from trusted values, or sanitised on the way.

    ``sanitizers``: extra callee names or method names that clean the value for this sink,
    qualified attribute reads (``pathlib.Path.name``), indexed call results
    (``os.path.splitext[1]``), request attributes that are harmless here (``request.url``)
    and the check markers (``PATH_CONTAINMENT_CHECK``...).
    ``web_only``: only request data and handler parameters count (not network/cache/messages).
    """
    return Tracer(ctx, sanitizers, web_only).run(expr)


def external_source(expr: ast.AST | None, ctx: PythonContext) -> Source | None:
    """Any data from outside the process -- requests, network, caches, messages."""
    return tainted(expr, ctx)


def _drops_dots(call: ast.Call) -> bool:
    """``value.replace(".", "")`` (or with another dot-free replacement): every dot removed."""
    if len(call.args) < 2 or call.keywords:
        return False
    old, new = (a.value if isinstance(a, ast.Constant) else None for a in call.args[:2])
    return old == "." and isinstance(new, str) and "." not in new


def _reads_origin(call: ast.Call, origin: ast.AST | None) -> bool:
    """``origin.get("name")``: a call of a method of the external read the trace found."""
    func = call.func
    return origin is not None and isinstance(func, ast.Attribute) and func.value is origin
