"""Bindings of one function, in source order, and the walk state rebuilt after the walk for a call
site (the scope a deferred sink or a helper summary is traced in)."""

from __future__ import annotations

import ast
import functools

from prodready.engine.python import ClassInfo, ModuleMemo, PythonContext, Scope


def synthetic_scope(
    chain: tuple[ast.AST, ...], call: ast.AST | None, ctx: PythonContext
) -> Scope | None:
    """The walk state at ``call`` rebuilt after the walk: the functions around it, their
    routes, parameters and the local bindings made before the call."""
    scope: Scope | None = None
    class_info: ClassInfo | None = None
    for index, node in enumerate(chain):
        if isinstance(node, ast.ClassDef):
            bases = tuple(name for base in node.bases if (name := ctx.qualname(base)) is not None)
            class_info = ClassInfo(node=node, bases=bases)
            continue
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        following = chain[index + 1] if index + 1 < len(chain) else call
        limit = node_position(following)
        route = next(
            (r for r in ctx.facts.routes if r.function == node.name and r.line == node.lineno),
            None,
        )
        inner = Scope(node=node, parent=scope, class_info=class_info, route=route)
        ctx.function = inner
        for arg in inner.params:
            annotation = arg.annotation
            inner.bindings[arg.arg] = ctx.qualname(annotation) if annotation is not None else None
        for name, entries in function_bindings(node, ctx).items():
            before = [value for position, value in entries if limit is None or position < limit]
            if not before:
                continue
            inner.bindings[name] = None
            if isinstance(before[-1], ast.expr):
                inner.values[name] = before[-1]
                inner.bindings[name] = ctx.type_of(before[-1])
        scope = inner
        class_info = None
    return scope


ENTRY_VALUE = object()  # no binding before: the value the function was called with


class Augmented(ast.BinOp):
    """``cmd += part`` as the value it binds, ``cmd + part``: the earlier ``cmd`` flows on."""


def augmented_value(node: ast.AugAssign) -> Augmented:
    earlier = ast.Name(id=getattr(node.target, "id", ""), ctx=ast.Load())
    value = Augmented(left=earlier, op=node.op, right=node.value)
    # at the added part: the earlier ``cmd`` is the binding before it
    ast.copy_location(earlier, node.value)
    ast.copy_location(value, node.value)
    return value


_UNKNOWN = object()  # a binding that is not data (an import, a def, ``except ... as``)


_Binding = ast.expr | object


BindingMap = dict[str, list[tuple[tuple[int, int], _Binding]]]


def node_position(node: ast.AST | None) -> tuple[int, int] | None:
    line = getattr(node, "lineno", None)
    if line is None:
        return None
    return (line, getattr(node, "col_offset", 0))


def precedes(node: ast.AST, limit: tuple[int, int]) -> bool:
    position = node_position(node)
    return position is None or position < limit


# id(function) -> its bindings; id(function) -> its own nodes
_BINDINGS: ModuleMemo[dict[int, BindingMap]] = ModuleMemo("taint:bindings", lambda _: {})
_OWN_NODES: ModuleMemo[dict[int, list[ast.AST]]] = ModuleMemo("taint:own-nodes", lambda _: {})


def function_bindings(function: ast.AST, ctx: PythonContext) -> BindingMap:
    """Every binding of a name in a function's own body, in source order: the value bound
    (for loops: the iterable, ``with``: the context manager) or ``_UNKNOWN``."""
    cache = ctx.memo(_BINDINGS)
    cached = cache.get(id(function))
    if cached is not None:
        return cached
    found: BindingMap = {}
    # Not a recursive closure: that is a reference cycle, holding the nodes until a gc.
    bind = functools.partial(_bind, found)
    for node in own_nodes(function, ctx):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target, node.value, node)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            bind(node.target, node.value, node)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            bind(node.target, augmented_value(node), node)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
            for target in targets:
                bind(target, node.iter, node)  # an element of the iterable
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, node.context_expr, node.context_expr)
        elif isinstance(node, ast.ExceptHandler | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name:
                found.setdefault(node.name, []).append((node_position(node) or (0, 0), _UNKNOWN))
        elif isinstance(node, ast.ClassDef):
            found.setdefault(node.name, []).append((node_position(node) or (0, 0), _UNKNOWN))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                found.setdefault(bound, []).append((node_position(node) or (0, 0), _UNKNOWN))
    for entries in found.values():
        entries.sort(key=lambda entry: entry[0])
    cache[id(function)] = found
    return found


def _bind(found: BindingMap, target: ast.AST, value: _Binding, at: ast.AST) -> None:
    position = node_position(value if isinstance(value, ast.expr) else at) or (0, 0)
    if isinstance(target, ast.Name):
        found.setdefault(target.id, []).append((position, value))
    elif isinstance(target, ast.Tuple | ast.List):
        elements = value.elts if isinstance(value, ast.Tuple | ast.List) else None
        if elements is not None and len(elements) == len(target.elts):
            for element, item in zip(target.elts, elements, strict=True):
                _bind(found, element, item, at)
        else:
            for element in target.elts:
                _bind(found, element, _UNKNOWN, at)
    elif isinstance(target, ast.Starred):
        _bind(found, target.value, _UNKNOWN, at)


def binding_before(
    function: ast.AST, name: str, limit: tuple[int, int] | None, ctx: PythonContext
) -> _Binding:
    """The value ``name`` was last bound to before ``limit`` in ``function`` (``ENTRY_VALUE``: not
    bound yet -- a parameter's value on entry)."""
    entries = function_bindings(function, ctx).get(name, [])
    before = [value for position, value in entries if limit is None or position < limit]
    return before[-1] if before else ENTRY_VALUE


def bound_values(bindings: BindingMap, name: str) -> list[ast.expr]:
    return [value for _, value in bindings.get(name, []) if isinstance(value, ast.expr)]


def names_in(expr: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(expr) if isinstance(node, ast.Name)}


def built_from(names: set[str], bindings: BindingMap) -> set[str]:
    """The names plus those their values (in this function) were built from."""
    result = set(names)
    pending = list(names)
    while pending:
        name = pending.pop()
        for value in bound_values(bindings, name):
            for inner in names_in(value):
                if inner not in result:
                    result.add(inner)
                    pending.append(inner)
    return result


def own_nodes(function: ast.AST, ctx: PythonContext) -> list[ast.AST]:
    """The nodes of a function body, not of the functions nested in it (once per function)."""
    cache = ctx.memo(_OWN_NODES)
    cached = cache.get(id(function))
    if cached is not None:
        return cached
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))
    cache[id(function)] = found
    return found


def appended_parts(ctx: PythonContext, at: ast.AST) -> dict[str, list[ast.expr]]:
    """The parts added with ``+=`` to each local of the enclosing function after its last plain
    binding before ``at`` (``cmd = "ls "; cmd += name``: ``{"cmd": [name]}``) -- what a rule that
    reads a built string from the walk's bindings (the plain ones) has not seen."""
    scope = ctx.function
    limit = node_position(at)
    if scope is None:
        return {}
    found: dict[str, list[ast.expr]] = {}
    for name, entries in function_bindings(scope.node, ctx).items():
        parts: list[ast.expr] = []
        for position, value in entries:
            if limit is not None and position >= limit:
                break
            if isinstance(value, Augmented) and isinstance(value.op, ast.Add):
                parts.append(value.right)
            else:
                parts = []
        if parts:
            found[name] = parts
    return found
