"""The Python engine: one parse and one walk per file, dispatching each node to its rules.

Rules subscribe to node types, to fully qualified callee names (``requests.get``), to callee
prefixes (``subprocess.*``), to method names on any receiver (``*.execute``), to qualified
attribute reads (``flask.request.json``) and to the ``FunctionEnd``/``ModuleEnd`` events. The
walker keeps the context rules need -- the enclosing function, its route, the loops, ``try`` and
``except`` blocks around the node, and what every name is bound to -- so no rule walks the file
again.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from prodready.engine.facts import (
    BUILTIN_NAMES,
    DJANGO_METHOD_DECORATORS,
    DJANGO_VIEW_BASES,
    HTTP_VERBS,
    ROUTE_DECORATOR_METHODS,
    ROUTER_TYPES,
    VIEWSET_ACTIONS,
    ModuleFacts,
    Route,
    bind_import,
    framework_of,
    is_example_path,
    is_main_guard,
    is_test_path,
    module_name_for,
    mutable_literal,
)
from prodready.engine.location import RawFinding, node_location
from prodready.model import Confidence, FileKind, Profile, Rule, Severity

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


class FunctionEnd:
    """Event: a function's body has been walked. Checks get ``(function_node, ctx)``."""


class ModuleEnd:
    """Event: the whole module has been walked. Checks get ``(module_node, ctx)``."""


@dataclass(slots=True)
class ClassInfo:
    node: ast.ClassDef
    bases: tuple[str, ...]
    attributes: dict[str, str | None] = field(default_factory=dict)

    @property
    def is_view(self) -> bool:
        return any(base.startswith(DJANGO_VIEW_BASES) for base in self.bases)


@dataclass(slots=True, eq=False)
class Scope:
    """A function being walked."""

    node: FunctionNode
    parent: Scope | None
    class_info: ClassInfo | None
    route: Route | None
    bindings: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, ast.expr] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def self_name(self) -> str | None:
        """The name of ``self`` when this is a method of a class."""
        if self.class_info is None:
            return None
        args = self.node.args.posonlyargs + self.node.args.args
        if not args:
            return None
        for decorator in self.node.decorator_list:
            if isinstance(decorator, ast.Name) and decorator.id in {"staticmethod", "classmethod"}:
                return None
        return args[0].arg

    @property
    def params(self) -> list[ast.arg]:
        a = self.node.args
        extra = [arg for arg in (a.vararg, a.kwarg) if arg is not None]
        return [*a.posonlyargs, *a.args, *a.kwonlyargs, *extra]


class PythonContext:
    """What a Python rule sees besides the node: facts, walk state, name resolution, reporting."""

    def __init__(self, relpath: str, source: str, tree: ast.Module, profile: Profile) -> None:
        self.path = relpath
        self.source = source
        self.tree = tree
        self.profile = profile
        self.module = module_name_for(relpath)
        self.is_package = relpath.endswith("__init__.py")
        self.facts = ModuleFacts(
            module=self.module,
            is_test=is_test_path(relpath),
            is_example=is_example_path(relpath),
        )
        self.function: Scope | None = None
        self.classes: list[ClassInfo] = []
        self.loops: list[ast.AST] = []
        self.handlers: list[ast.ExceptHandler] = []
        self.trys: list[ast.Try | ast.TryStar] = []
        self.managed: set[int] = set()  # ids of expressions used as ``with`` context managers
        self.in_main_guard = False
        self.call_name: str | None = None  # the qualified name of the call being dispatched
        self.rule: Rule | None = None  # the rule being run (set by the engine)
        self.findings: list[RawFinding] = []
        self.crashes: list[RuleCrash] = []
        self.module_state: dict[str, Any] = {}  # per-rule private state for the module
        self._lines: list[str] | None = None
        self._parents: dict[int, ast.AST] | None = None
        # The qualified name of one expression known in advance: the walker, having named the
        # call ``a.b().c()``, knows the inner call's name (``a.b``) without recursing again; a
        # chain of N calls would otherwise cost N recursions of up to N links each.
        self._known_name: tuple[ast.AST, str | None] | None = None

    # -- source -----------------------------------------------------------------------------
    @property
    def lines(self) -> list[str]:
        """Source lines numbered as the parser numbers them (``\\f`` or ``\\x1c`` inside a
        string do not start a line, unlike ``str.splitlines``)."""
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self.source)
        return self._lines

    def segment(self, node: ast.AST) -> str:
        """The source text of a node (like ``ast.get_source_segment``, without re-splitting the
        whole file on every call)."""
        line = getattr(node, "lineno", None)
        end_line = getattr(node, "end_lineno", None)
        column = getattr(node, "col_offset", None)
        end_column = getattr(node, "end_col_offset", None)
        if line is None or end_line is None or column is None or end_column is None:
            return ""
        lines = self.lines[line - 1 : end_line]
        if not lines:
            return ""
        if len(lines) == 1:
            return lines[0].encode()[column:end_column].decode("utf-8", "replace")
        first = lines[0].encode()[column:].decode("utf-8", "replace")
        last = lines[-1].encode()[:end_column].decode("utf-8", "replace")
        return "\n".join([first, *lines[1:-1], last])

    # -- walk state -------------------------------------------------------------------------
    @property
    def route(self) -> Route | None:
        """The route of the innermost enclosing function that is an HTTP handler."""
        scope = self.function
        while scope is not None:
            if scope.route is not None:
                return scope.route
            scope = scope.parent
        return None

    @property
    def in_async(self) -> bool:
        return self.function is not None and self.function.is_async

    def rule_state(self, default: Callable[[], Any], *, module: bool = False) -> Any:
        """Private state of the running rule for the current function, or for the whole module
        (``module=True``, or outside any function)."""
        assert self.rule is not None
        scope = None if module else self.function
        store = scope.state if scope is not None else self.module_state
        code = self.rule.code
        if code not in store:
            store[code] = default()
        return store[code]

    def parents(self) -> dict[int, ast.AST]:
        """``id(node)`` -> parent node, for the whole module.

        Built on first use, once per module, and shared by every rule that asks: it costs a
        pass over the tree, so rules call it only after cheap checks found a candidate.
        """
        if self._parents is None:
            parents: dict[int, ast.AST] = {}
            for node in ast.walk(self.tree):
                for child in ast.iter_child_nodes(node):
                    parents[id(child)] = node
            self._parents = parents
        return self._parents

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents().get(id(node))

    def is_managed(self, expr: ast.AST) -> bool:
        """True when ``expr`` is the context manager of an enclosing ``with`` statement."""
        return id(expr) in self.managed

    # -- names ------------------------------------------------------------------------------
    def resolve_name(self, name: str) -> str:
        scope = self.function
        while scope is not None:
            if name in scope.globals:
                break
            bound = scope.bindings.get(name, _MISSING)
            if bound is not _MISSING:
                return name if bound is None else bound  # type: ignore[return-value]
            scope = scope.parent
        bound = self.facts.bindings.get(name, _MISSING)
        if bound is not _MISSING:
            return name if bound is None else bound  # type: ignore[return-value]
        if name in BUILTIN_NAMES:
            return "builtins." + name
        return name

    def qualname(self, expr: ast.AST) -> str | None:
        """Fully qualified dotted name of an expression, through import aliases and known types.

        ``import requests as r; r.get`` -> ``requests.get``; ``s = requests.Session(); s.get``
        -> ``requests.Session.get``; unknown local names stay as written.
        """
        if isinstance(expr, ast.Name):
            return self.resolve_name(expr.id)
        hint = self._known_name
        if hint is not None and hint[0] is expr:
            return hint[1]
        if isinstance(expr, ast.Attribute):
            value = expr.value
            if isinstance(value, ast.Name):
                scope = self.function
                if (
                    scope is not None
                    and scope.class_info is not None
                    and value.id == scope.self_name
                ):
                    known = scope.class_info.attributes.get(expr.attr)
                    return known or f"{value.id}.{expr.attr}"
            base = self.qualname(value)
            return None if base is None else f"{base}.{expr.attr}"
        if isinstance(expr, ast.Call):
            return self.qualname(expr.func)
        if isinstance(expr, ast.Await):
            return self.qualname(expr.value)
        return None

    def know_name(self, expr: ast.AST, name: str | None) -> None:
        """Tell :meth:`qualname` the name of ``expr`` until :meth:`forget_known_name`."""
        self._known_name = (expr, name)

    def forget_known_name(self) -> None:
        self._known_name = None

    def type_of(self, value: ast.expr | None) -> str | None:
        """The qualified name of what produced a value (``requests.Session()`` -> its class)."""
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call):
            return instance_type(self.qualname(value))
        if isinstance(value, ast.Name | ast.Attribute):
            return self.qualname(value)
        return None

    def value_of(self, name: str) -> ast.expr | None:
        """The expression last assigned to a name visible here (locals, then module constants)."""
        scope = self.function
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            if name in scope.bindings:
                return None
            scope = scope.parent
        return self.facts.constants.get(name)

    def is_module_state(self, name: str) -> bool:
        """True when ``name`` refers here to a module-level mutable container."""
        if name not in self.facts.module_state:
            return False
        scope = self.function
        while scope is not None:
            if name in scope.globals:
                return True
            if name in scope.bindings:
                return False
            scope = scope.parent
        return True

    # -- reporting --------------------------------------------------------------------------
    def report(
        self,
        node: ast.AST,
        message: str,
        *,
        fix: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        secret: str | None = None,
    ) -> None:
        """Report a finding of the running rule at ``node`` (a def/class: its header line);
        ``secret``: a credential found there, which reports show masked."""
        assert self.rule is not None, "report() called outside a rule"
        location = node_location(node, self.lines)
        self.findings.append(
            RawFinding(self.rule, location, message, fix, severity, confidence, secret)
        )


def instance_type(callee: str | None) -> str | None:
    """The type of what a call returns, as far as its name tells: an alternate constructor
    (``redis.Redis.from_url(...)``, ``pandas.DataFrame.from_dict(...)``) returns an instance of
    its class, so ``cache.get`` on its result is ``redis.Redis.get``, the one name rules know."""
    if callee is not None:
        owner, _, method = callee.rpartition(".")
        if method.startswith("from_") and owner.rpartition(".")[2][:1].isupper():
            return owner
    return callee


_MISSING = object()
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_SKIP_FIELDS = frozenset(
    {"ctx", "id", "attr", "arg", "name", "names", "module", "level", "is_async", "type_comment"}
    | {"kind", "conversion", "simple", "type_ignores"}
)


def _node_classes(base: type = ast.AST) -> set[type]:
    found = {base}
    subclass: type
    for subclass in base.__subclasses__():
        found |= _node_classes(subclass)
    return found


# The fields of each node class that can hold child nodes (names, operators' contexts and
# literal values cannot).
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f for f in getattr(cls, "_fields", ()) if f not in _SKIP_FIELDS)
    for cls in _node_classes()
}
_FIELDS[ast.Constant] = ()


Dispatch = dict[Any, list[Rule]]


class PythonAnalyzer:
    """Dispatch tables for a rule set, and the walk that applies them to one module."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.node_rules: Dispatch = {}
        self.exact_calls: dict[str, list[Rule]] = {}
        self.prefix_calls: dict[str, list[Rule]] = {}
        self.method_calls: dict[str, list[Rule]] = {}
        self.attribute_rules: dict[str, list[tuple[str, Rule]]] = {}
        self.evidence_codes: frozenset[str] = frozenset()
        rules = [_collector(rule) if rule.kind is FileKind.PROJECT else rule for rule in rules]
        for rule in rules:
            for node_type in rule.nodes:
                for concrete in _expand(node_type):
                    self.node_rules.setdefault(concrete, []).append(rule)
            for pattern in rule.calls:
                if pattern.startswith("*."):
                    self.method_calls.setdefault(pattern[2:], []).append(rule)
                elif pattern.endswith(".*"):
                    self.prefix_calls.setdefault(pattern[:-2], []).append(rule)
                else:
                    self.exact_calls.setdefault(pattern, []).append(rule)
            for attribute in rule.attributes:
                last = attribute.rsplit(".", 1)[-1]
                self.attribute_rules.setdefault(last, []).append((attribute, rule))
        self.evidence_codes = frozenset(r.code for r in rules if r.kind is FileKind.PROJECT)
        # How many leading parts of a call's name can match a prefix: a long method chain
        # (``a.b().c()...``) has thousands of parts, no prefix more than a few.
        self.prefix_depth = max((p.count(".") + 1 for p in self.prefix_calls), default=0)
        # Node classes with no children, no handler and no subscriber: the walk skips them.
        special = {*_WALK_HANDLED, *([ast.Attribute] if self.attribute_rules else [])}
        self.leaves = frozenset(
            cls
            for cls, fields in _FIELDS.items()
            if not fields and cls not in special and cls not in self.node_rules
        )

    def analyze(
        self, source: str, tree: ast.Module, relpath: str, profile: Profile
    ) -> PythonContext:
        ctx = PythonContext(relpath, source, tree, profile)
        _Walk(self, ctx).run()
        return ctx


def _collector(rule: Rule) -> Rule:
    """A project rule as the walk sees it: its ``collect`` records evidence for ``nodes``."""
    collect = rule.collect
    if collect is None:
        return rule
    code = rule.code

    def record(node: ast.AST, ctx: PythonContext) -> None:
        found = collect(node, ctx)
        if found:
            evidence = ctx.facts.evidence.setdefault(code, [])
            evidence.extend((str(name), int(line)) for name, line in found)

    return replace(rule, check=record)


def _expand(node_type: type) -> list[type]:
    """A node class and its subclasses: ``ast.stmt`` reaches every statement class.

    The class itself is always kept: a concrete class may have (deprecated) subclasses, as
    ``ast.Constant`` has ``ast.Num`` and ``ast.Str``, and the parser produces the class itself.
    """
    result: list[type] = [node_type]
    subclass: type
    for subclass in node_type.__subclasses__():
        result.extend(_expand(subclass))
    return result


# Node classes the walk handles itself (scopes, bindings, loops...); see ``_Walk.special``.
_WALK_HANDLED = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Call,
    ast.Assign,
    ast.AnnAssign,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.TryStar,
    ast.ExceptHandler,
    ast.With,
    ast.AsyncWith,
    ast.Import,
    ast.ImportFrom,
    ast.Global,
    ast.If,
    ast.ListComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.DictComp,
    ast.Match,
    ast.NamedExpr,
)


class RuleCrash(Exception):
    """A rule raised on some input; reported as a scan error, the scan goes on."""

    def __init__(self, rule: Rule, node: ast.AST, error: BaseException) -> None:
        self.rule = rule
        self.line = getattr(node, "lineno", None)
        super().__init__(f"internal error in rule {rule.code}: {type(error).__name__}: {error}")


class _Walk:
    """One pre-order walk of one module."""

    def __init__(self, analyzer: PythonAnalyzer, ctx: PythonContext) -> None:
        self.a = analyzer
        self.ctx = ctx
        self.special: dict[type, Callable[[Any], None]] = {
            ast.FunctionDef: self.visit_function,
            ast.AsyncFunctionDef: self.visit_function,
            ast.ClassDef: self.visit_class,
            ast.Call: self.visit_call,
            ast.Assign: self.visit_assign,
            ast.AnnAssign: self.visit_annassign,
            ast.For: self.visit_for,
            ast.AsyncFor: self.visit_for,
            ast.While: self.visit_while,
            ast.Try: self.visit_try,
            ast.TryStar: self.visit_try,
            ast.ExceptHandler: self.visit_handler,
            ast.With: self.visit_with,
            ast.AsyncWith: self.visit_with,
            ast.Import: self.visit_import,
            ast.ImportFrom: self.visit_import,
            ast.Global: self.visit_global,
            ast.If: self.visit_if,
            ast.Match: self.visit_match,
            ast.NamedExpr: self.visit_named_expr,
            ast.ListComp: self.visit_comprehension,
            ast.SetComp: self.visit_comprehension,
            ast.GeneratorExp: self.visit_comprehension,
            ast.DictComp: self.visit_comprehension,
        }
        if analyzer.attribute_rules:
            self.special[ast.Attribute] = self.visit_attribute
        self.leaves = analyzer.leaves
        # Module-level functions registered as handlers by a call (aiohttp ``add_get``...).
        self.registered: dict[str, Route] = {}

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> None:
        ctx = self.ctx
        self.prepass(ctx.tree)
        module_rules = self.a.node_rules.get(ast.Module)
        if module_rules:
            self.dispatch(module_rules, ctx.tree)
        self.body(ctx.tree.body)
        end_rules = self.a.node_rules.get(ModuleEnd)
        if end_rules:
            self.dispatch(end_rules, ctx.tree)

    def dispatch(self, rules: list[Rule], node: ast.AST) -> None:
        ctx = self.ctx
        for rule in rules:
            ctx.rule = rule
            try:
                rule.check(node, ctx)
            except RecursionError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken rule must not lose the rest
                ctx.crashes.append(RuleCrash(rule, node, exc))
        ctx.rule = None

    def visit(self, node: ast.AST) -> None:
        special = self.special.get(node.__class__)
        if special is not None:
            special(node)
            return
        rules = self.a.node_rules.get(node.__class__)
        if rules is not None:
            self.dispatch(rules, node)
        self.children(node)

    def children(self, node: ast.AST) -> None:
        # Hot path: about half of all nodes are leaves (names, constants) nobody subscribed to;
        # skipping them here saves a call per node.
        visit = self.visit
        leaves = self.leaves
        for name in _FIELDS[node.__class__]:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if item.__class__ not in leaves and isinstance(item, ast.AST):
                        visit(item)
            elif value.__class__ not in leaves and isinstance(value, ast.AST):
                visit(value)

    def body(self, statements: Iterable[ast.AST]) -> None:
        visit = self.visit
        for statement in statements:
            visit(statement)

    def own_rules(self, node: ast.AST) -> None:
        rules = self.a.node_rules.get(node.__class__)
        if rules is not None:
            self.dispatch(rules, node)

    # -- module facts -----------------------------------------------------------------------
    def prepass(self, tree: ast.Module) -> None:
        """Module-level bindings, imports and state from the top-level statements only."""
        ctx = self.ctx
        facts = ctx.facts
        # A stack in reverse source order: nested blocks are expanded in place, in order.
        pending: list[ast.stmt] = list(reversed(tree.body))
        while pending:
            statement = pending.pop()
            if isinstance(statement, ast.Import | ast.ImportFrom):
                self.record_import(statement, facts.bindings)
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                facts.bindings[statement.name] = None
            elif isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                value = statement.value
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.record_module_assignment(target.id, value, statement)
            elif isinstance(statement, ast.If):
                if is_main_guard(statement):
                    facts.has_main_guard = True
                else:
                    pending.extend(reversed(statement.body + statement.orelse))
            elif isinstance(statement, ast.Try | ast.TryStar):
                extra = [s for handler in statement.handlers for s in handler.body]
                block = statement.body + extra + statement.orelse + statement.finalbody
                pending.extend(reversed(block))
            elif isinstance(statement, ast.With):
                pending.extend(reversed(statement.body))
        if "aiohttp" in facts.frameworks and _REGISTERS_ROUTES.search(ctx.source):
            self.registered = _aiohttp_registrations(tree, ctx)

    def record_module_assignment(
        self, name: str, value: ast.expr | None, statement: ast.Assign | ast.AnnAssign
    ) -> None:
        facts = self.ctx.facts
        if value is None:
            return
        if mutable_literal(value, self.ctx.qualname):
            facts.module_state[name] = statement.lineno
            facts.bindings[name] = None
        elif isinstance(value, ast.Call):
            facts.bindings[name] = instance_type(self.ctx.qualname(value.func))
        elif isinstance(value, ast.Name | ast.Attribute):
            resolved = self.ctx.qualname(value)
            facts.bindings[name] = resolved if resolved != name else None
        else:
            facts.bindings[name] = None
        if isinstance(value, ast.Constant | ast.JoinedStr | ast.BinOp | ast.Tuple):
            facts.constants[name] = value

    def record_import(
        self, node: ast.Import | ast.ImportFrom, bindings: dict[str, str | None]
    ) -> None:
        ctx = self.ctx
        for module in bind_import(node, bindings, ctx.module, ctx.is_package):
            framework = framework_of(module) if not module.startswith(".") else None
            if framework is not None:
                ctx.facts.frameworks.add(framework)

    # -- scopes -----------------------------------------------------------------------------
    def bind(self, name: str, kind: str | None, value: ast.expr | None = None) -> None:
        scope = self.ctx.function
        if scope is None:
            return  # module-level bindings come from the prepass
        if name in scope.globals:
            return
        scope.bindings[name] = kind
        if value is not None:
            scope.values[name] = value
        else:
            scope.values.pop(name, None)

    def bind_target(self, target: ast.expr, value: ast.expr | None) -> None:
        ctx = self.ctx
        if isinstance(target, ast.Name):
            kind = ctx.type_of(value) if value is not None else None
            if kind == target.id:
                kind = None
            self.bind(target.id, kind, value)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.bind_target(element, None)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, None)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            scope = ctx.function
            if (
                scope is not None
                and scope.class_info is not None
                and target.value.id == scope.self_name
                and value is not None
            ):
                scope.class_info.attributes[target.attr] = ctx.type_of(value)

    def visit_function(self, node: FunctionNode) -> None:
        ctx = self.ctx
        if node.args.posonlyargs:
            self.uses("positional-only-parameters", node.lineno)
        self.body(node.decorator_list)
        self.visit(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self.bind(node.name, None)
        parent = ctx.function
        class_info = ctx.classes[-1] if ctx.classes and self.directly_in_class(node) else None
        route = self.detect_route(node, class_info)
        scope = Scope(node=node, parent=parent, class_info=class_info, route=route)
        for param in scope.params:
            annotation = ctx.qualname(param.annotation) if param.annotation is not None else None
            scope.bindings[param.arg] = annotation
        if route is not None:
            ctx.facts.routes.append(route)
        if isinstance(node, ast.AsyncFunctionDef):
            ctx.facts.async_functions.append((node.name, node.lineno))
        saved = (ctx.loops, ctx.handlers, ctx.trys, ctx.classes)
        ctx.function = scope
        ctx.loops, ctx.handlers, ctx.trys = [], [], []
        ctx.classes = [*ctx.classes]
        self.own_rules(node)
        self.body(node.body)
        end_rules = self.a.node_rules.get(FunctionEnd)
        if end_rules:
            self.dispatch(end_rules, node)
        ctx.function = parent
        ctx.loops, ctx.handlers, ctx.trys, ctx.classes = saved

    def directly_in_class(self, node: FunctionNode) -> bool:
        return any(statement is node for statement in self.ctx.classes[-1].node.body)

    def visit_class(self, node: ast.ClassDef) -> None:
        ctx = self.ctx
        self.body(node.decorator_list)
        self.body(node.bases)
        for keyword in node.keywords:
            self.visit(keyword)
        self.bind(node.name, None)
        bases = tuple(name for base in node.bases if (name := ctx.qualname(base)) is not None)
        ctx.classes.append(ClassInfo(node=node, bases=bases))
        self.own_rules(node)
        self.body(node.body)
        ctx.classes.pop()

    def detect_route(self, node: FunctionNode, class_info: ClassInfo | None) -> Route | None:
        route = self._route(node, class_info)
        if route is not None:
            ctx = self.ctx
            route.decorators = tuple(
                name
                for decorator in node.decorator_list
                if (name := ctx.qualname(decorator)) is not None
            )
            route.dependencies = tuple(self._dependencies(node))
        return route

    def _dependencies(self, node: FunctionNode) -> list[str]:
        """What FastAPI injects: ``Depends(f)``/``Security(f)`` in parameter defaults,
        ``Annotated[..., Depends(f)]`` and the decorator's ``dependencies=[...]``."""
        ctx = self.ctx
        places: list[ast.AST] = list(node.args.defaults)
        places.extend(default for default in node.args.kw_defaults if default is not None)
        places.extend(arg.annotation for arg in _all_args(node) if arg.annotation is not None)
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call):
                places.extend(k.value for k in decorator.keywords if k.arg == "dependencies")
        found: list[str] = []
        for place in places:
            for item in ast.walk(place):
                if not isinstance(item, ast.Call) or not item.args:
                    continue
                injector = ctx.qualname(item.func) or ""
                if injector.endswith((".Depends", ".Security")) or injector in {
                    "Depends",
                    "Security",
                }:
                    target = ctx.qualname(item.args[0])
                    if target is not None:
                        found.append(target)
        return found

    def _route(self, node: FunctionNode, class_info: ClassInfo | None) -> Route | None:
        ctx = self.ctx
        for decorator in node.decorator_list:
            route = self.route_from_decorator(node, decorator)
            if route is not None:
                return route
        if class_info is not None and class_info.is_view:
            method = node.name.lower()
            if method in HTTP_VERBS:
                return Route(node.name, node.lineno, "django", (method.upper(),), None)
            if method in VIEWSET_ACTIONS:
                return Route(node.name, node.lineno, "django", (VIEWSET_ACTIONS[method],), None)
            return None
        if ctx.function is None and class_info is None and node.name in self.registered:
            return replace(self.registered[node.name], line=node.lineno)
        if (
            ctx.function is None
            and class_info is None
            and "django" in ctx.facts.frameworks
            and _is_views_module(ctx.path)
        ):
            args = node.args.posonlyargs + node.args.args
            if args and args[0].arg == "request":
                return Route(node.name, node.lineno, "django", None, None)
        return None

    def route_from_decorator(self, node: FunctionNode, decorator: ast.expr) -> Route | None:
        ctx = self.ctx
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call is not None else decorator
        qualified = ctx.qualname(target)
        if qualified is None:
            return None
        if qualified in DJANGO_METHOD_DECORATORS:
            return Route(
                node.name, node.lineno, "django", DJANGO_METHOD_DECORATORS[qualified], None
            )
        if call is not None and qualified in {
            "django.views.decorators.http.require_http_methods",
            "rest_framework.decorators.api_view",
        }:
            allowed = _string_list(call.args[0]) if call.args else ("GET",)
            return Route(node.name, node.lineno, "django", allowed, None)
        if not isinstance(target, ast.Attribute) or target.attr not in ROUTE_DECORATOR_METHODS:
            return None
        receiver = ctx.qualname(target.value)
        path = _route_path(call)
        framework = ctx.facts.framework
        known_router = receiver in ROUTER_TYPES
        if not known_router:
            # An imported app/router (``from .app import router``): trust the decorator shape
            # only in modules that use a web framework and with a literal path.
            if framework is None or path is None or not path.startswith("/"):
                return None
        else:
            framework = _framework_of_router(receiver) or framework
        method = target.attr
        methods: tuple[str, ...] | None
        if method in HTTP_VERBS:
            methods = (method.upper(),)
        elif method == "websocket":
            methods = ("GET",)
        else:
            listed = _keyword(call, "methods")
            methods = _string_list(listed) if listed is not None else ("GET",)
        return Route(node.name, node.lineno, framework or "unknown", methods, path, receiver)

    # -- nodes that change the walk state -----------------------------------------------------
    def visit_call(self, node: ast.Call) -> None:
        ctx = self.ctx
        a = self.a
        func = node.func
        name = ctx.qualname(func)
        ctx.forget_known_name()
        matched: list[Rule] = []
        if name is not None:
            exact = a.exact_calls.get(name)
            if exact:
                matched.extend(exact)
            if a.prefix_calls:
                dot = name.find(".")
                for _ in range(a.prefix_depth):
                    if dot == -1:
                        break
                    prefixed = a.prefix_calls.get(name[:dot])
                    if prefixed:
                        matched.extend(prefixed)
                    dot = name.find(".", dot + 1)
        if isinstance(func, ast.Attribute):
            inner = func.value.value if isinstance(func.value, ast.Await) else func.value
            if isinstance(inner, ast.Call):  # a chain: its name is this one's without ``.attr``
                ctx.know_name(inner.func, None if name is None else name[: -len(func.attr) - 1])
        if a.method_calls and isinstance(func, ast.Attribute):
            by_method = a.method_calls.get(func.attr)
            if by_method:
                matched.extend(by_method)
        rules = a.node_rules.get(ast.Call)
        if rules:
            matched.extend(rules)
        if len(matched) > 1:
            # One call, one check per rule: a rule may match it through several subscriptions
            # (``redis.Redis.*`` and ``redis.Redis.from_url.*``, a name and ``*.get``).
            matched = list(dict.fromkeys(matched))
        if matched:
            ctx.call_name = name
            if a.evidence_codes:
                matched = self.record_evidence(matched, name, node)
            self.dispatch(matched, node)
            ctx.call_name = None
        self.children(node)

    def record_evidence(self, matched: list[Rule], name: str | None, node: ast.Call) -> list[Rule]:
        """Project rules subscribe to calls as evidence: record them in the module's facts
        (cached with them) for the rule to weigh after the scan; return the other rules."""
        evidence = self.ctx.facts.evidence
        rest: list[Rule] = []
        for rule in matched:
            if rule.code in self.a.evidence_codes:
                evidence.setdefault(rule.code, []).append((name or "", node.lineno))
            else:
                rest.append(rule)
        return rest

    def visit_attribute(self, node: ast.Attribute) -> None:
        candidates = self.a.attribute_rules.get(node.attr)
        if candidates:
            name = self.ctx.qualname(node)
            matched = [rule for wanted, rule in candidates if wanted == name]
            if matched:
                self.dispatch(matched, node)
        self.own_rules(node)
        self.children(node)

    def visit_assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        self.own_rules(node)
        for target in node.targets:
            self.visit(target)
            self.bind_target(target, node.value)

    def visit_annassign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.annotation)
        self.own_rules(node)
        self.visit(node.target)
        if isinstance(node.target, ast.Name):
            kind = self.ctx.type_of(node.value) if node.value is not None else None
            kind = kind or self.ctx.qualname(node.annotation)
            self.bind(node.target.id, kind, node.value)

    def visit_for(self, node: ast.For | ast.AsyncFor) -> None:
        ctx = self.ctx
        self.visit(node.iter)
        self.own_rules(node)
        self.visit(node.target)
        self.bind_target(node.target, None)
        ctx.loops.append(node)
        self.body(node.body)
        ctx.loops.pop()
        self.body(node.orelse)

    def visit_while(self, node: ast.While) -> None:
        ctx = self.ctx
        self.own_rules(node)
        ctx.loops.append(node)
        self.visit(node.test)
        self.body(node.body)
        ctx.loops.pop()
        self.body(node.orelse)

    def visit_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        ctx = self.ctx
        self.own_rules(node)
        first = True
        for generator in node.generators:
            if first:
                self.visit(generator.iter)
            ctx.loops.append(node)
            if not first:
                self.visit(generator.iter)
            self.bind_target(generator.target, None)
            self.body(generator.ifs)
            ctx.loops.pop()
            first = False
        ctx.loops.append(node)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        ctx.loops.pop()

    def uses(self, feature: str, line: int) -> None:
        self.ctx.facts.syntax.setdefault(feature, line)

    def visit_match(self, node: ast.Match) -> None:
        self.uses("match", node.lineno)
        self.own_rules(node)
        self.children(node)

    def visit_named_expr(self, node: ast.NamedExpr) -> None:
        self.uses("walrus", node.lineno)
        self.own_rules(node)
        self.children(node)

    def visit_try(self, node: ast.Try | ast.TryStar) -> None:
        ctx = self.ctx
        if isinstance(node, ast.TryStar):
            self.uses("except-star", node.lineno)
        self.own_rules(node)
        ctx.trys.append(node)
        self.body(node.body)
        ctx.trys.pop()
        for handler in node.handlers:
            self.visit(handler)
        self.body(node.orelse)
        self.body(node.finalbody)

    def visit_handler(self, node: ast.ExceptHandler) -> None:
        ctx = self.ctx
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.bind(node.name, None)
        ctx.handlers.append(node)
        self.own_rules(node)
        self.body(node.body)
        ctx.handlers.pop()

    def visit_with(self, node: ast.With | ast.AsyncWith) -> None:
        ctx = self.ctx
        if len(node.items) > 1 and _parenthesized_items(node, ctx.lines):
            self.uses("parenthesized-context-managers", node.lineno)
        for item in node.items:
            ctx.managed.add(id(item.context_expr))
        self.own_rules(node)
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.bind_target(item.optional_vars, item.context_expr)
        self.body(node.body)

    def visit_import(self, node: ast.Import | ast.ImportFrom) -> None:
        ctx = self.ctx
        self.own_rules(node)
        names = [alias.name for alias in node.names]
        if isinstance(node, ast.Import):
            ctx.facts.imports.extend((name, node.lineno) for name in names)
        else:
            module = "." * node.level + (node.module or "")
            ctx.facts.imports.append((module, node.lineno))
        if ctx.function is not None:
            self.record_import(node, ctx.function.bindings)

    def visit_global(self, node: ast.Global) -> None:
        scope = self.ctx.function
        if scope is not None:
            scope.globals.update(node.names)
            for name in node.names:
                scope.bindings.pop(name, None)
        self.own_rules(node)

    def visit_if(self, node: ast.If) -> None:
        ctx = self.ctx
        self.own_rules(node)
        if ctx.function is None and is_main_guard(node):
            ctx.in_main_guard = True
            self.children(node)
            ctx.in_main_guard = False
            return
        self.children(node)


def _parenthesized_items(node: ast.With | ast.AsyncWith, lines: list[str]) -> bool:
    """``with (a() as x, b() as y):`` -- the form Python 3.10 made official."""
    first = node.items[0].context_expr
    if first.lineno != node.lineno or not 0 < node.lineno <= len(lines):
        return False
    text = (
        lines[node.lineno - 1]
        .encode()[node.col_offset : first.col_offset]
        .decode("utf-8", "replace")
    )
    return "(" in text


def _all_args(node: FunctionNode) -> list[ast.arg]:
    a = node.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]


def _is_views_module(relpath: str) -> bool:
    parts = relpath.split("/")
    return parts[-1] in {"views.py", "viewsets.py", "api.py"} or "views" in parts[:-1]


def _keyword(call: ast.Call | None, name: str) -> ast.expr | None:
    if call is None:
        return None
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _route_path(call: ast.Call | None) -> str | None:
    if call is None:
        return None
    candidate = call.args[0] if call.args else _keyword(call, "path") or _keyword(call, "rule")
    if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
        return candidate.value
    return None


def _string_list(node: ast.expr) -> tuple[str, ...]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return tuple(
            element.value.upper()
            for element in node.elts
            if isinstance(element, ast.Constant) and isinstance(element.value, str)
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value.upper(),)
    return ()


def _framework_of_router(receiver: str | None) -> str | None:
    if receiver is None:
        return None
    return framework_of(receiver)


_AIOHTTP_ROUTE_FUNCTIONS = {f"aiohttp.web.{verb}": verb.upper() for verb in HTTP_VERBS}
# A cheap look at the source before walking the module for registration calls.
_REGISTERS_ROUTES = re.compile(
    r"\badd_(?:get|post|put|patch|delete|head|options|route)\(|\.(?:get|post|put|patch|delete|route)\(\s*['\"]/"
)
_AIOHTTP_ROUTER_METHODS = {f"add_{verb}": verb.upper() for verb in HTTP_VERBS}


def _aiohttp_registrations(tree: ast.Module, ctx: PythonContext) -> dict[str, Route]:
    """Handlers that aiohttp registers by call, anywhere in the module (often inside a
    ``create_app()`` factory): ``app.router.add_get("/p", handler)``,
    ``app.router.add_route("POST", "/p", handler)``, ``web.post("/p", handler)`` and
    ``web.route("GET", "/p", handler)`` in ``app.add_routes([...])``. Only handlers given by
    the name of a module-level function are kept."""
    found: dict[str, Route] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        method: str | None = None
        args = node.args
        receiver: str | None = None
        if isinstance(func, ast.Attribute) and func.attr in _AIOHTTP_ROUTER_METHODS:
            method = _AIOHTTP_ROUTER_METHODS[func.attr]
            receiver = ctx.qualname(func.value)
        elif isinstance(func, ast.Attribute) and func.attr == "add_route" and len(args) >= 3:
            method = _constant_upper(args[0])
            args = args[1:]
            receiver = ctx.qualname(func.value)
        else:
            name = ctx.qualname(func) or ""
            if name in _AIOHTTP_ROUTE_FUNCTIONS:
                method = _AIOHTTP_ROUTE_FUNCTIONS[name]
            elif name == "aiohttp.web.route" and len(args) >= 3:
                method = _constant_upper(args[0])
                args = args[1:]
            else:
                continue
        if method is None or not isinstance(args[1], ast.Name):
            continue
        path = args[0].value if isinstance(args[0], ast.Constant) else None
        methods = None if method == "*" else (method,)
        found[args[1].id] = Route(
            args[1].id,
            node.lineno,
            "aiohttp",
            methods,
            path if isinstance(path, str) else None,
            receiver,
        )
    return found


def _constant_upper(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value.upper()
    return None
