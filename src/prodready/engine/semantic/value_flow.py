"""What the values of a function are made of: the references an expression uses whole, and the
assignments of the function's locals followed back -- the value flow the write-dependency model
(:mod:`prodready.engine.semantic.dependency`) reads to tell whether one write uses what another
wrote or carries the same input."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from prodready.engine.analysis.literals import dotted
from prodready.engine.python.nodes import body_nodes

_MAX_DEPTH = 8  # how many local assignments a value is followed through
_MAX_HOPS = 8  # how many assignments and attribute steps a row is followed back through


def references(node: ast.AST | None, *, through_calls: bool = True) -> set[str]:
    """The values an expression uses whole: maximal names and attribute chains (``user``,
    ``line.quantity``), the object of a key (``order`` of ``order.id``), never the callee;
    the arguments of calls only ``through_calls`` (a call's result is not the value it was
    given)."""
    found: set[str] = set()
    if node is None:
        return found
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name | ast.Attribute):
            text = dotted(current)
            if text is not None:
                found.add(text)
                owner, _, attr = text.rpartition(".")
                if owner and (attr in {"id", "pk"} or attr.endswith("_id")):
                    found.add(owner)
                continue
        if isinstance(current, ast.Call):
            if not through_calls:
                continue
            if not isinstance(current.func, ast.Name | ast.Attribute):
                stack.append(current.func)
            elif isinstance(current.func, ast.Attribute):
                stack.append(_chain_root(current.func.value))
            stack.extend(current.args)
            stack.extend(keyword.value for keyword in current.keywords)
            continue
        if isinstance(current, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(current, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            found |= _comprehension_references(current, through_calls)
            continue
        stack.extend(ast.iter_child_nodes(current))
    return found


def _comprehension_references(
    node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, through_calls: bool
) -> set[str]:
    """What a comprehension uses from the function: its variables are its own."""
    own = {
        name.id
        for generator in node.generators
        for name in ast.walk(generator.target)
        if isinstance(name, ast.Name)
    }
    parts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    for generator in node.generators:
        parts.extend([generator.iter, *generator.ifs])
    used: set[str] = set()
    for part in parts:
        used |= references(part, through_calls=through_calls)
    return {name for name in used if name.split(".", 1)[0] not in own}


def _chain_root(node: ast.expr) -> ast.AST:
    """The arguments of ``a.filter(x=1).first()`` are values; its dotted callee is not."""
    return node if isinstance(node, ast.Call) else ast.Constant(None)


class Flow:
    """The assignments of one function: what each local (and ``obj.attr``) is given."""

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.values: dict[str, list[ast.AST]] = {}
        self.attributes: dict[str, list[ast.AST]] = {}  # object text -> values set on it
        self.results: dict[int, str] = {}  # id of a call whose result a name is bound to
        self.iterated: set[str] = set()  # names a ``for`` binds (to items of what it iterates)
        for node in walk_body(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(target, node.value)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
                self._bind(node.target, node.value)
            elif isinstance(node, ast.For | ast.AsyncFor):
                self._bind(node.target, node.iter)
                self.iterated.update(
                    name.id for name in ast.walk(node.target) if isinstance(name, ast.Name)
                )
            elif isinstance(node, ast.NamedExpr):
                self._bind(node.target, node.value)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                self._bind(node.optional_vars, node.context_expr)
            elif isinstance(node, ast.Call) and dotted(node.func) == "setattr" and node.args:
                owner = dotted(node.args[0])
                if owner is not None and len(node.args) == 3:
                    self.attributes.setdefault(owner, []).append(node.args[2])

    def _bind(self, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
                for item, part in zip(target.elts, value.elts, strict=True):
                    self._bind(item, part)
                return
            for index, item in enumerate(target.elts):
                self._bind(item, value)
                if index == 0 and isinstance(value, ast.Call):
                    self._result(item, value)  # ``obj, created = get_or_create(...)``
            return
        if isinstance(target, ast.Subscript):
            target = target.value
        text = dotted(target)
        if text is None:
            return
        if isinstance(target, ast.Attribute):
            owner = text.rpartition(".")[0]
            self.attributes.setdefault(owner, []).append(value)
        self.values.setdefault(text, []).append(value)
        if isinstance(value, ast.Call):
            self._result(target, value)

    def _result(self, target: ast.AST, value: ast.Call) -> None:
        text = dotted(target)
        if text is not None:
            self.results.setdefault(id(value), text)

    def closure(self, names: Iterable[str], *, through_calls: bool = True) -> set[str]:
        """The names and everything the locals among them were assigned from (through the
        arguments of calls only ``through_calls``)."""
        seen: set[str] = set()
        pending = [(name, 0) for name in names]
        while pending:
            name, depth = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            if depth >= _MAX_DEPTH:
                continue
            for value in self.values.get(name, ()):
                found = references(value, through_calls=through_calls)
                pending.extend((name, depth + 1) for name in found)
        return seen


def walk_body(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterable[ast.AST]:
    """The nodes of the function's own body (nested functions and classes left out): walked
    once per function for every analysis of the module that asks."""
    return body_nodes(function.body)


def reached_from(row: str, source: str, flow: Flow, *, ambient: frozenset[str]) -> bool:
    """Whether the row named ``row`` was reached from ``source`` through an attribute (a
    foreign key, ``item = event.transaction``) or built by a call given it (``app, _ =
    install(job)``), following the function's locals back. An alias (``job = pending``) is
    the same row, not one reached from it; the ``ambient`` context (``self``, the request)
    is followed no further."""
    if row in ambient:
        return False
    seen: set[tuple[str, bool]] = set()
    pending = [(row, False, 0)]
    while pending:
        name, through, depth = pending.pop()
        if (name, through) in seen:
            continue
        seen.add((name, through))
        if through and name == source:
            return True
        if depth >= _MAX_HOPS or name in ambient:
            continue
        owner = name.rpartition(".")[0]
        if owner:
            pending.append((owner, True, depth + 1))
        for value in flow.values.get(name, ()):
            step = through or isinstance(value, ast.Call | ast.Await)
            pending.extend((found, step, depth + 1) for found in references(value))
    return False
