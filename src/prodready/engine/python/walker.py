"""The walk over one module: scopes, bindings, loops, ``try`` blocks, and rules dispatched."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prodready.engine.facts import (
    Route,
    is_main_guard,
)
from prodready.engine.module_record import Mark
from prodready.engine.python.events import FunctionEnd, ModuleEnd
from prodready.engine.python.module_context import PythonContext, RuleCrash
from prodready.engine.python.nodes import CHILD_FIELDS, remember_bodies
from prodready.engine.python.prepass import prepass, record_import
from prodready.engine.python.routes import (
    detect_route,
)
from prodready.engine.python.scopes import ClassInfo, FunctionNode, Scope
from prodready.model import Rule

if TYPE_CHECKING:
    from prodready.engine.python.dispatch import PythonAnalyzer


class ModuleWalk:
    """One pre-order walk of one module."""

    def __init__(self, analyzer: PythonAnalyzer, ctx: PythonContext) -> None:
        self.analyzer = analyzer
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
        # The node classes the walk enters: every class of the tree but the leaves.
        self.walkable = frozenset(CHILD_FIELDS).difference(analyzer.leaves)
        # Module-level functions registered as handlers by a call (aiohttp ``add_get``...).
        self.registered: dict[str, Route] = {}
        # The function summaries of the project-wide model, collected during this walk.
        self.summaries = analyzer.summary_collector(ctx)

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> None:
        remember_bodies(True)
        try:
            self._run()
        finally:
            remember_bodies(False)
            # The handlers are bound methods of this walk: a reference cycle through the
            # context to the whole tree, which reference counting alone would never free --
            # every module's tree would wait for (and lengthen) a garbage collection.
            self.special.clear()

    def _run(self) -> None:
        ctx = self.ctx
        self.registered = prepass(ctx)
        module_rules = self.analyzer.node_rules.get(ast.Module)
        if module_rules:
            self.dispatch(module_rules, ctx.tree)
        self.body(ctx.tree.body)
        ctx.facts.functions = self.summaries.functions
        ctx.facts.signals = self.summaries.signals
        ctx.facts.classes = self.summaries.classes
        end_rules = self.analyzer.node_rules.get(ModuleEnd)
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
        rules = self.analyzer.node_rules.get(node.__class__)
        if rules is not None:
            self.dispatch(rules, node)
        self.children(node)

    def children(self, node: ast.AST) -> None:
        # Hot path: about half of all nodes are leaves (names, constants) nobody subscribed to;
        # skipping them here saves a call per node, and ``visit`` is inlined for the others
        # (a call per node less again).
        walkable = self.walkable
        special = self.special
        node_rules = self.analyzer.node_rules
        children = self.children
        for name in CHILD_FIELDS[node.__class__]:
            value: Any = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    cls = item.__class__
                    if cls in walkable:
                        handler = special.get(cls)
                        if handler is not None:
                            handler(item)
                            continue
                        rules = node_rules.get(cls)
                        if rules is not None:
                            self.dispatch(rules, item)
                        children(item)
            else:
                cls = value.__class__
                if cls in walkable:
                    handler = special.get(cls)
                    if handler is not None:
                        handler(value)
                        continue
                    rules = node_rules.get(cls)
                    if rules is not None:
                        self.dispatch(rules, value)
                    children(value)

    def body(self, statements: Iterable[ast.AST]) -> None:
        visit = self.visit
        for statement in statements:
            visit(statement)

    def own_rules(self, node: ast.AST) -> None:
        rules = self.analyzer.node_rules.get(node.__class__)
        if rules is not None:
            self.dispatch(rules, node)

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
        route = detect_route(ctx, node, class_info, self.registered)
        scope = Scope(node=node, parent=parent, class_info=class_info, route=route)
        for param in scope.params:
            annotation = ctx.qualname(param.annotation) if param.annotation is not None else None
            scope.bindings[param.arg] = annotation
        if route is not None:
            ctx.facts.routes.append(route)
        if isinstance(node, ast.AsyncFunctionDef):
            ctx.facts.async_functions.append((node.name, node.lineno))
        saved = (ctx.loops, ctx.handlers, ctx.trys, ctx.classes)
        self.summaries.enter_function(scope)
        ctx.function = scope
        ctx.loops, ctx.handlers, ctx.trys = [], [], []
        ctx.classes = [*ctx.classes]
        self.own_rules(node)
        self.body(node.body)
        end_rules = self.analyzer.node_rules.get(FunctionEnd)
        if end_rules:
            self.dispatch(end_rules, node)
        self.summaries.end_function(scope)
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
        self.summaries.enter_class(node)
        self.own_rules(node)
        self.body(node.body)
        ctx.classes.pop()

    # -- nodes that change the walk state -----------------------------------------------------
    def visit_call(self, node: ast.Call) -> None:
        ctx = self.ctx
        analyzer = self.analyzer
        func = node.func
        name = ctx.qualname(func)
        ctx.forget_known_name()
        self.summaries.call(node, name)
        matched: list[Rule] = []
        if name is not None:
            exact = analyzer.exact_calls.get(name)
            if exact:
                matched.extend(exact)
            if analyzer.prefix_calls:
                dot = name.find(".")
                for _ in range(analyzer.prefix_depth):
                    if dot == -1:
                        break
                    prefixed = analyzer.prefix_calls.get(name[:dot])
                    if prefixed:
                        matched.extend(prefixed)
                    dot = name.find(".", dot + 1)
        if isinstance(func, ast.Attribute):
            inner = func.value.value if isinstance(func.value, ast.Await) else func.value
            if isinstance(inner, ast.Call):  # a chain: its name is this one's without ``.attr``
                ctx.know_name(inner.func, None if name is None else name[: -len(func.attr) - 1])
        if analyzer.method_calls and isinstance(func, ast.Attribute):
            by_method = analyzer.method_calls.get(func.attr)
            if by_method:
                matched.extend(by_method)
        rules = analyzer.node_rules.get(ast.Call)
        if rules:
            matched.extend(rules)
        if len(matched) > 1:
            # One call, one check per rule: a rule may match it through several subscriptions
            # (``redis.Redis.*`` and ``redis.Redis.from_url.*``, a name and ``*.get``).
            matched = list(dict.fromkeys(matched))
        if matched:
            ctx.call_name = name
            if analyzer.evidence_codes:
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
            if rule.code in self.analyzer.evidence_codes:
                evidence.setdefault(rule.code, []).append(Mark(name or "", node.lineno))
            else:
                rest.append(rule)
        return rest

    def visit_attribute(self, node: ast.Attribute) -> None:
        candidates = self.analyzer.attribute_rules.get(node.attr)
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
        guarded = self.summaries.enter_with(node)
        self.body(node.body)
        self.summaries.exit_with(guarded)

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
            record_import(ctx, node, ctx.function.bindings)

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
