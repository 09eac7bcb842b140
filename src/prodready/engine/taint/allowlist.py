"""Allow-list checks for taint tracking: where does ``x in C`` restrict ``x`` to known constants?

A membership check sanitises a name only where the check is known to hold -- inside
``if x in C:``, in the ``else`` of ``if x not in C:``, after ``if x not in C: return/raise/
abort(...)`` or ``assert x in C``, in ``a if x in C else b`` and after ``x in C and ...`` -- and
only until the name is bound again. ``C`` must be a constant allow-list: a literal tuple, list,
set or dict (its keys) of constants, ``frozenset({...})`` and the like, an Enum (its members,
``E.__members__``, ``{e.value for e in E}``), or a name bound exactly once (module-level, or
local to the function) to one of those and never modified (``C[k] = v``, ``C.add(...)``,
``C |= ...``, ``global C``). A container filled at run time (a cache, a set of seen ids), a
parameter or an attribute of unknown origin can hold any value, so checking against it proves
nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence

from prodready.engine.analysis import dotted
from prodready.engine.python import ModuleMemo, PythonContext

Position = tuple[int, int]
Region = tuple[Position, Position]  # [start, end) in (line, column) order
AllowListed = dict[str, list[Region]]
Subjects = Callable[[ast.expr], frozenset[str]]

# Methods that change a set, list or dict in place.
_MUTATING_METHODS = frozenset(
    {"add", "update", "append", "extend", "insert", "setdefault", "pop", "popitem", "clear"}
    | {"remove", "discard", "sort", "reverse", "intersection_update", "difference_update"}
    | {"symmetric_difference_update", "__setitem__", "__delitem__", "__ior__", "__iadd__"}
)
_COLLECTION_CALLS = frozenset({"frozenset", "set", "tuple", "list", "sorted", "dict.fromkeys"})
_IMMUTABLE_CALLS = frozenset({"frozenset", "tuple"})
_ENUM_BASE_SUFFIXES = ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "Choices")
_ENUM_ATTRIBUTES = frozenset({"__members__", "_value2member_map_", "_member_map_"})
# Calls that end the request or the function when a check fails (``abort(400)``).
_EXITING_CALLS = frozenset({"abort", "exit", "_exit", "fail", "quit", "error_404", "http_error"})


# Computed once per function (or scope), keyed by id(node): (id(function), kind) -> regions;
# the names bound in a function and their values; where each name is rebound; the names
# modified in place.
_ALLOW_LISTED: ModuleMemo[dict[tuple[int, str], AllowListed]] = ModuleMemo(
    "allowlist:regions", lambda _: {}
)
_BINDINGS: ModuleMemo[dict[int, dict[str, list[ast.AST]]]] = ModuleMemo(
    "allowlist:bindings", lambda _: {}
)
_REBINDINGS: ModuleMemo[dict[int, dict[str, list[Position]]]] = ModuleMemo(
    "allowlist:rebindings", lambda _: {}
)
_MUTATED: ModuleMemo[dict[int, frozenset[str]]] = ModuleMemo("allowlist:mutated", lambda _: {})


def allow_listed(
    function: ast.AST,
    ctx: PythonContext,
    subjects: Subjects | None = None,
    kind: str = "plain",
) -> AllowListed:
    """For each name, the regions of ``function`` where a membership check proved it is one of
    the constants of an allow-list (computed once per function and ``kind``).

    ``subjects`` names what a check of an expression proves safe (by default, ``x`` for
    ``x in C`` and nothing for ``f(x) in C``); a sink can pass its own -- for a URL sink, a
    check of ``urlparse(url).hostname`` proves ``url`` safe."""
    cache = ctx.memo(_ALLOW_LISTED)
    cached = cache.get((id(function), kind))
    if cached is not None:
        return cached
    finder = _RegionFinder(function, ctx, subjects or _checked_name)
    body = getattr(function, "body", None)
    if isinstance(body, list):
        finder.block(body)
    result = {name: finder.cut(name, regions) for name, regions in finder.found.items()}
    cache[(id(function), kind)] = result
    return result


def _checked_name(subject: ast.expr) -> frozenset[str]:
    return frozenset({subject.id}) if isinstance(subject, ast.Name) else frozenset()


def is_allow_listed(name: ast.Name, regions: AllowListed) -> bool:
    """The use ``name`` lies where a membership check proved its value is a known constant."""
    spans = regions.get(name.id)
    if not spans:
        return False
    at = (name.lineno, name.col_offset)
    return any(start <= at < end for start, end in spans)


class _RegionFinder:
    def __init__(self, function: ast.AST, ctx: PythonContext, subjects: Subjects) -> None:
        self.function = function
        self.ctx = ctx
        self.subjects = subjects
        self.found: dict[str, list[Region]] = {}

    def add(self, names: set[str], region: Region | None) -> None:
        if region is None:
            return
        for name in names:
            self.found.setdefault(name, []).append(region)

    def block(self, statements: Sequence[ast.stmt]) -> None:
        for index, statement in enumerate(statements):
            rest = _span(statements[index + 1 :])
            if isinstance(statement, ast.If):
                holds, fails = self.implied(statement.test)
                self.add(holds, _span(statement.body))
                self.add(fails, _span(statement.orelse))
                if _exits(statement.body):
                    self.add(fails, rest)
                if statement.orelse and _exits(statement.orelse):
                    self.add(holds, rest)
            elif isinstance(statement, ast.Assert):
                self.add(self.implied(statement.test)[0], rest)
            elif isinstance(statement, ast.While):
                self.add(self.implied(statement.test)[0], _span(statement.body))
            self.expressions(statement)
            for inner in _nested_blocks(statement):
                self.block(inner)

    def expressions(self, statement: ast.stmt) -> None:
        """``a if x in C else b``, ``x in C and f(x)``, ``[f(x) for x in xs if x in C]`` in the
        statement's own expressions (nested blocks are visited as blocks)."""
        for node in _own_expressions(statement):
            if isinstance(node, ast.IfExp):
                holds, fails = self.implied(node.test)
                self.add(holds, _expression_span(node.body))
                self.add(fails, _expression_span(node.orelse))
            elif isinstance(node, ast.BoolOp):
                for index, value in enumerate(node.values[:-1]):
                    holds, fails = self.implied(value)
                    later = _expression_span(node.values[-1])
                    start = _expression_span(node.values[index + 1])
                    if later is None or start is None:
                        continue
                    region = (start[0], later[1])
                    self.add(holds if isinstance(node.op, ast.And) else fails, region)
            elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                for generator in node.generators:
                    for condition in generator.ifs:
                        for element in elements:
                            self.add(self.implied(condition)[0], _expression_span(element))

    def implied(self, test: ast.expr) -> tuple[set[str], set[str]]:
        """Names proved allow-listed when ``test`` is true, and when it is false."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            holds, fails = self.implied(test.operand)
            return fails, holds
        if isinstance(test, ast.BoolOp):
            parts = [self.implied(value) for value in test.values]
            trues = [holds for holds, _ in parts]
            falses = [fails for _, fails in parts]
            if isinstance(test.op, ast.And):  # all hold when true; any may fail when false
                return set().union(*trues), set.intersection(*falses)
            return set.intersection(*trues), set().union(*falses)
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.In | ast.NotIn)
            and self.constant_allow_list(test.comparators[0])
        ):
            names = set(self.subjects(test.left))
            return (names, set()) if isinstance(test.ops[0], ast.In) else (set(), names)
        return set(), set()

    def constant_allow_list(self, expr: ast.expr) -> bool:
        if _literal_allow_list(expr):
            return True
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "keys"
            and not expr.args
        ):  # ``COLUMNS.keys()``
            return self.constant_allow_list(expr.func.value)
        if isinstance(expr, ast.Attribute) and expr.attr in _ENUM_ATTRIBUTES:
            return True  # only Enum classes have these: their members are fixed
        if isinstance(expr, ast.SetComp | ast.ListComp | ast.GeneratorExp):
            return self.enum_values(expr)
        if isinstance(expr, ast.Name):
            return self.constant_name(expr.id)
        return False

    def enum_values(self, expr: ast.SetComp | ast.ListComp | ast.GeneratorExp) -> bool:
        """``{member.value for member in Color}``: values of an Enum's members."""
        if len(expr.generators) != 1:
            return False
        generator = expr.generators[0]
        members = {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
        read = {n.id for n in ast.walk(expr.elt) if isinstance(n, ast.Name)}
        if not read <= members:
            return False
        source = generator.iter
        if isinstance(source, ast.Name) and self.local_bindings(source.id) is None:
            return source.id in _module(self.ctx).enums
        return isinstance(source, ast.Attribute) and source.attr in _ENUM_ATTRIBUTES

    def local_bindings(self, name: str) -> list[ast.AST] | None:
        """What ``name`` is bound to in the function itself or an enclosing one (None: it is
        not local -- a module-level name or a builtin)."""
        node: ast.AST | None = self.function
        while node is not None:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                bound = _function_bindings(node, self.ctx)
                if name in bound:
                    # A closure's value: the enclosing function may change it between calls.
                    return bound[name] if node is self.function else [node, node]
            node = self.ctx.parent(node)
        return None

    def constant_name(self, name: str) -> bool:
        local = self.local_bindings(name)
        if local is not None:
            return (
                len(local) == 1
                and _literal_allow_list(local[0])
                and name not in _mutated_names(self.function, self.ctx)
            )
        module = _module(self.ctx)
        if name in module.enums:
            return True
        values = module.bindings.get(name, [])
        return len(values) == 1 and _literal_allow_list(values[0]) and name not in module.mutated

    def cut(self, name: str, regions: list[Region]) -> list[Region]:
        """End each region where ``name`` is bound again: the new value was not checked."""
        rebinds = _rebindings(self.function, self.ctx).get(name, [])
        result: list[Region] = []
        for start, end in regions:
            later = [at for at in rebinds if start <= at < end]
            result.append((start, min(later)) if later else (start, end))
        return result


def _literal_allow_list(expr: ast.AST) -> bool:
    """A literal collection of constants, or ``frozenset(...)``/``tuple(...)`` of one. An empty
    list, set or dict (``CACHE = {}``) is a container waiting to be filled, maybe by another
    module, not an allow-list."""
    if isinstance(expr, ast.Tuple):
        return all(_constant(element) for element in expr.elts)
    if isinstance(expr, ast.List | ast.Set):
        return bool(expr.elts) and all(_constant(element) for element in expr.elts)
    if isinstance(expr, ast.Dict):
        return bool(expr.keys) and all(key is not None and _constant(key) for key in expr.keys)
    if isinstance(expr, ast.Call) and not expr.keywords:
        callee = dotted(expr.func)
        if callee in _COLLECTION_CALLS and (expr.args or callee in _IMMUTABLE_CALLS):
            return all(_literal_allow_list(argument) for argument in expr.args)
    return False


def _constant(expr: ast.AST) -> bool:
    """A constant or a dotted name (``Status.OPEN``): not a value a client chooses."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub | ast.UAdd):
        return isinstance(expr.operand, ast.Constant)
    if isinstance(expr, ast.Tuple):
        return all(_constant(element) for element in expr.elts)
    return isinstance(expr, ast.Attribute) and dotted(expr) is not None


def _exits(statements: Sequence[ast.stmt]) -> bool:
    """The block never falls through to the statement after it."""
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, ast.Return | ast.Raise | ast.Continue | ast.Break):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        callee = dotted(last.value.func) or ""
        return callee.rsplit(".", 1)[-1] in _EXITING_CALLS
    if isinstance(last, ast.If):
        return _exits(last.body) and _exits(last.orelse)
    return False


def _span(statements: Sequence[ast.stmt]) -> Region | None:
    if not statements:
        return None
    first, last = statements[0], statements[-1]
    end = (last.end_lineno or last.lineno, last.end_col_offset or 0)
    return (first.lineno, first.col_offset), end


def _expression_span(expr: ast.expr | None) -> Region | None:
    if expr is None:
        return None
    end = (expr.end_lineno or expr.lineno, expr.end_col_offset or 0)
    return (expr.lineno, expr.col_offset), end


def _nested_blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists inside a compound statement (not those of nested defs/classes)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return
    for field in ("body", "orelse", "finalbody"):
        inner = getattr(statement, field, None)
        if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
            yield inner
    for handler in getattr(statement, "handlers", ()):
        yield handler.body
    for case in getattr(statement, "cases", ()):
        yield case.body


def _own_expressions(statement: ast.stmt) -> Iterator[ast.AST]:
    """The expression nodes of a statement, not of its nested statements or lambdas."""
    stack: list[ast.AST] = [
        child for child in ast.iter_child_nodes(statement) if not isinstance(child, ast.stmt)
    ]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.excepthandler | ast.match_case):
            continue
        yield node
        if not isinstance(node, ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _function_bindings(function: ast.AST, ctx: PythonContext) -> dict[str, list[ast.AST]]:
    """Names bound in a function (parameters included) and the values bound (the binding
    statement when the value is not a plain expression)."""
    cache = ctx.memo(_BINDINGS)
    cached = cache.get(id(function))
    if cached is not None:
        return cached
    found: dict[str, list[ast.AST]] = {}
    arguments = getattr(function, "args", None)
    if isinstance(arguments, ast.arguments):
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        every += [extra for extra in (arguments.vararg, arguments.kwarg) if extra is not None]
        for argument in every:
            found.setdefault(argument.arg, []).append(argument)
    with_values: set[int] = set()  # ``name = value`` targets, recorded with their value
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(node.value)
                with_values.add(id(target))
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            if id(node) in with_values:
                continue
            found.setdefault(node.id, []).append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                found.setdefault(alias.asname or alias.name.split(".")[0], []).append(node)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            for name in node.names:  # not a local: mark it as bound twice (never constant)
                found.setdefault(name, []).extend([node, node])
    cache[id(function)] = found
    return found


def _rebindings(function: ast.AST, ctx: PythonContext) -> dict[str, list[Position]]:
    """Where each name gets a new value in the function: after the assigned value is
    evaluated (``x = x.lower()`` still reads the checked ``x``)."""
    cache = ctx.memo(_REBINDINGS)
    cached = cache.get(id(function))
    if cached is not None:
        return cached
    found: dict[str, list[Position]] = {}
    for node in _own_nodes(function):
        targets: Sequence[ast.AST] = []
        after: ast.AST = node
        if isinstance(node, ast.Assign):
            targets, after = node.targets, node.value
        elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.NamedExpr):
            targets, after = [node.target], node.value or node
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            targets, after = [node.target], node.iter
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets, after = [node.optional_vars], node.context_expr
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.setdefault(node.name, []).append((node.lineno, node.col_offset))
        elif isinstance(node, ast.Delete):
            targets = node.targets
        at = (getattr(after, "end_lineno", None) or 0, getattr(after, "end_col_offset", None) or 0)
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store | ast.Del):
                    found.setdefault(name.id, []).append(at)
    cache[id(function)] = found
    return found


def _mutated_names(scope: ast.AST, ctx: PythonContext) -> frozenset[str]:
    """Names modified in place within ``scope`` (``C[k] = v``, ``del C[k]``, ``C.add(x)``,
    ``C |= {...}``) or aliased (``alias = C``: the alias may be modified)."""
    cache = ctx.memo(_MUTATED)
    cached = cache.get(id(scope))
    if cached is not None:
        return cached
    found: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            if isinstance(node.value, ast.Name):
                found.add(node.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _MUTATING_METHODS and isinstance(node.func.value, ast.Name):
                found.add(node.func.value.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            found.add(node.value.id)
        elif isinstance(node, ast.Global):
            found.update(node.names)  # a function may rebind it
    result = frozenset(found)
    cache[id(scope)] = result
    return result


class _ModuleFacts:
    """Module-level bindings (name -> values bound), Enum classes and modified names."""

    def __init__(self, tree: ast.Module, ctx: PythonContext) -> None:
        self.bindings: dict[str, list[ast.AST]] = {}
        self.enums: set[str] = set()
        self.mutated = _mutated_names(tree, ctx)
        self.block(tree.body, ctx)

    def block(self, statements: Sequence[ast.stmt], ctx: PythonContext) -> None:
        for statement in statements:
            if isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                value: ast.AST = statement.value if statement.value is not None else statement
                for target in targets:
                    bound = value if isinstance(target, ast.Name) else statement
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                            self.bindings.setdefault(name.id, []).append(bound)
                continue
            if isinstance(statement, ast.ClassDef):
                self.bindings.setdefault(statement.name, []).append(statement)
                if any(_enum_base(base, ctx) for base in statement.bases):
                    self.enums.add(statement.name)
                continue
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                self.bindings.setdefault(statement.name, []).append(statement)
                continue
            for node in ast.walk(statement):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                    self.bindings.setdefault(node.id, []).append(statement)
                elif isinstance(node, ast.alias):
                    imported = node.asname or node.name.split(".")[0]
                    self.bindings.setdefault(imported, []).append(statement)
                elif isinstance(node, ast.ExceptHandler) and node.name:
                    self.bindings.setdefault(node.name, []).append(statement)
        self.enums = {name for name in self.enums if len(self.bindings.get(name, [])) == 1}


def _enum_base(base: ast.expr, ctx: PythonContext) -> bool:
    name = ctx.qualname(base) or dotted(base) or ""
    return name.rsplit(".", 1)[-1].endswith(_ENUM_BASE_SUFFIXES)


_MODULE: ModuleMemo[_ModuleFacts] = ModuleMemo(
    "allowlist:module", lambda ctx: _ModuleFacts(ctx.tree, ctx)
)


def _module(ctx: PythonContext) -> _ModuleFacts:
    return ctx.memo(_MODULE)
