"""What a Python rule sees: the module, where the walk is in it, and what names are bound to."""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from prodready.engine.facts import (
    BUILTIN_NAMES,
    ModuleFacts,
    Route,
    module_name_for,
)
from prodready.engine.location import RawFinding, node_location
from prodready.engine.python.memo import ModuleMemo
from prodready.engine.python.nodes import walk_nodes
from prodready.engine.python.scopes import ClassInfo, Scope
from prodready.engine.roles import is_documentation_path, is_test_path
from prodready.model import Confidence, Profile, ProjectFact, Rule, Severity

_T = TypeVar("_T")


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
            is_example=is_documentation_path(relpath),
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
        self.established: set[str] = set()  # project facts this module establishes
        self._memo: dict[ModuleMemo[Any], Any] = {}  # typed per-module values (see ``memo``)
        self._module_rule_state: dict[str, Any] = {}  # rule code -> its state for the module
        self._lines: list[str] | None = None
        self._parents: dict[int, ast.AST] | None = None
        self._nodes: list[ast.AST] | None = None
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
            source = self.source
            # A plain split is the regex's result when no carriage return is in the source.
            self._lines = _LINE_BREAK.split(source) if "\r" in source else source.split("\n")
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
            line_text = lines[0]
            if line_text.isascii():  # offsets are in UTF-8 bytes: one a character here
                return line_text[column:end_column]
            return line_text.encode()[column:end_column].decode("utf-8", "replace")
        first = lines[0].encode()[column:].decode("utf-8", "replace")
        last = lines[-1].encode()[:end_column].decode("utf-8", "replace")
        return "\n".join([first, *lines[1:-1], last])

    def memo(self, slot: ModuleMemo[_T]) -> _T:
        """The module's value for ``slot``, computed by the slot on first use."""
        store = self._memo
        value = store.get(slot, _MISSING)  # one lookup on the hot path: helpers ask per node
        if value is _MISSING:
            value = store[slot] = slot.compute(self)
        found: _T = value
        return found

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

    def rule_state(self, default: Callable[[], _T], *, module: bool = False) -> _T:
        """Private state of the running rule for the current function, or for the whole module
        (``module=True``, or outside any function); ``default()`` makes it on first use, and
        its type is the state's type (``ctx.rule_state(list[ast.Call])``)."""
        assert self.rule is not None
        scope = None if module else self.function
        store = scope.state if scope is not None else self._module_rule_state
        code = self.rule.code
        if code not in store:
            store[code] = default()
        state: _T = store[code]
        return state

    def parents(self) -> dict[int, ast.AST]:
        """``id(node)`` -> parent node, for the whole module.

        Built on first use, once per module, and shared by every rule that asks: it costs a
        pass over the tree, so rules call it only after cheap checks found a candidate.
        """
        if self._parents is None:
            self._parents = _parent_map(self.tree)
        return self._parents

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents().get(id(node))

    def nodes(self) -> list[ast.AST]:
        """Every node of the module in ``ast.walk(ctx.tree)``'s order (breadth-first, with the
        ``Load``/``Store`` contexts), listed once per module and shared by every rule that
        asks: several rules look through the whole module, and each ``ast.walk`` of it costs
        a generator step per field of every node. The list is shared, never to be changed."""
        if self._nodes is None:
            self._nodes = walk_nodes(self.tree)  # the same list as walk_nodes(ctx.tree)
        return self._nodes

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
        if name not in self.facts.mutable_globals:
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
        unless: ProjectFact | Iterable[ProjectFact] = (),
    ) -> None:
        """Report a finding of the running rule at ``node`` (a def/class: its header line);
        ``secret``: a credential found there, which reports show masked; ``unless``: project
        facts any of which, established by a service module of the project, makes the finding
        moot (the runner drops it after every file is analysed)."""
        assert self.rule is not None, "report() called outside a rule"
        location = node_location(node, self.lines)
        facts = (unless,) if isinstance(unless, ProjectFact) else tuple(unless)
        self.findings.append(
            RawFinding(
                self.rule,
                location,
                message,
                fix,
                severity,
                confidence,
                secret,
                tuple(sorted({fact.name for fact in facts})),
            )
        )

    def establish(self, fact: ProjectFact) -> None:
        """Record that this module establishes ``fact`` for its whole project (stored with the
        module's cached result; see ``report(..., unless=)``)."""
        self.established.add(fact.name)


def _parent_map(tree: ast.AST) -> dict[int, ast.AST]:
    """``id(child)`` -> parent for every node of ``tree``: ``ast.walk`` with
    ``ast.iter_child_nodes`` inlined (half the cost), in the same breadth-first order, so that
    a node shared by several parents (the ``Load()`` context) maps to the same one."""
    parents: dict[int, ast.AST] = {}
    queue: deque[ast.AST] = deque([tree])
    node_type = ast.AST
    while queue:
        node = queue.popleft()
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, node_type):
                parents[id(value)] = node
                queue.append(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, node_type):
                        parents[id(item)] = node
                        queue.append(item)
    return parents


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


class RuleCrash(Exception):
    """A rule raised on some input; reported as a scan error, the scan goes on."""

    def __init__(self, rule: Rule, node: ast.AST, error: BaseException) -> None:
        self.rule = rule
        self.line = getattr(node, "lineno", None)
        super().__init__(f"internal error in rule {rule.code}: {type(error).__name__}: {error}")
