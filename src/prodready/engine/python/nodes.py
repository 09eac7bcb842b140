"""Per node class, the fields the walk descends into, and the classes it handles itself."""

from __future__ import annotations

import ast

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
CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f for f in getattr(cls, "_fields", ()) if f not in _SKIP_FIELDS)
    for cls in _node_classes()
}


CHILD_FIELDS[ast.Constant] = ()


def with_subclasses(node_type: type) -> list[type]:
    """A node class and its subclasses: ``ast.stmt`` reaches every statement class.

    The class itself is always kept: a concrete class may have (deprecated) subclasses, as
    ``ast.Constant`` has ``ast.Num`` and ``ast.Str``, and the parser produces the class itself.
    """
    result: list[type] = [node_type]
    subclass: type
    for subclass in node_type.__subclasses__():
        result.extend(with_subclasses(subclass))
    return result


# Node classes the walk handles itself (scopes, bindings, loops...); see ``ModuleWalk.special``.
WALK_HANDLED = (
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


# Fields that never hold a node (names, numbers, flags): not worth a ``getattr``.
_NOT_NODE_FIELDS = frozenset(
    {"id", "attr", "arg", "name", "module", "level", "is_async", "type_comment", "kind"}
    | {"conversion", "simple", "tag", "rest", "kwd_attrs"}
)
_FIELDS: dict[type, tuple[str, ...]] = {}
# Nodes whose inside is another scope: yielded, not entered.
OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# The module being walked: id(statement list) -> (the list, its nodes). Several rules and the
# summaries walk the same function body (PRF008, RES017, DAT003's flows...); each list is walked
# once per module. The list itself is kept in the entry so its id cannot be reused meanwhile.
_memo: dict[int, tuple[object, list[ast.AST]]] | None = None
# The same for ``walk_nodes``: id(node) -> (the node, ``list(ast.walk(node))``).
_walked: dict[int, tuple[object, list[ast.AST]]] | None = None


def remembering_bodies() -> bool:
    return _memo is not None


def remember_bodies(active: bool) -> None:
    """Keep (``True``) or forget (``False``, freeing them) the walked bodies of one module: the
    engine's walk of a module turns this on for its duration."""
    global _memo, _walked
    _memo = {} if active else None
    _walked = {} if active else None


def node_fields(cls: type) -> tuple[str, ...]:
    """The fields of a node class that may hold nodes (``ast.AST._fields`` without names,
    numbers and flags), in ``_fields`` order."""
    fields = _FIELDS.get(cls)
    if fields is None:
        names = getattr(cls, "_fields", ())
        fields = _FIELDS[cls] = tuple(f for f in names if f not in _NOT_NODE_FIELDS)
    return fields


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """``list(ast.iter_child_nodes(node))``, without a generator per node."""
    fields = _FIELDS.get(node.__class__)
    if fields is None:
        fields = node_fields(node.__class__)
    children: list[ast.AST] = []
    node_type = ast.AST
    for name in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            children.extend(item for item in value if isinstance(item, node_type))
        elif isinstance(value, node_type):
            children.append(value)
    return children


def body_nodes(statements: list[ast.stmt]) -> list[ast.AST]:
    """``walk_body``'s nodes as a list: pre-order, nested functions, classes and lambdas
    yielded but not entered. Computed once per list while a module is walked; the list is
    shared, never to be changed."""
    memo = _memo
    if memo is not None:
        entry = memo.get(id(statements))
        if entry is not None and entry[0] is statements:
            return entry[1]
    found: list[ast.AST] = []
    append = found.append
    opaque = OPAQUE
    stack: list[ast.AST] = list(reversed(statements))
    pop = stack.pop
    extend = stack.extend
    while stack:
        node = pop()
        append(node)
        if isinstance(node, opaque):
            continue
        children = child_nodes(node)  # the children go on the stack last first
        children.reverse()
        extend(children)
    if memo is not None:
        memo[id(statements)] = (statements, found)
    return found


def breadth_first(tree: ast.AST) -> list[ast.AST]:
    """``list(ast.walk(tree))`` with ``ast.iter_child_nodes`` inlined: the list is its own
    queue, read from the front while children are appended at the back."""
    found: list[ast.AST] = [tree]
    append = found.append
    node_type = ast.AST
    fields_of = node_fields
    index = 0
    while index < len(found):
        node = found[index]
        index += 1
        for field in fields_of(node.__class__):
            value = getattr(node, field, None)
            if isinstance(value, node_type):
                append(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, node_type):
                        append(item)
    return found


def walk_nodes(node: ast.AST) -> list[ast.AST]:
    """``list(ast.walk(node))``, listed once per node while a module is walked: several rules
    look through the same function (a handler's header reads, its restart loop, the files it
    writes). The list is shared, never to be changed."""
    walked = _walked
    if walked is None:
        return breadth_first(node)
    entry = walked.get(id(node))
    if entry is not None and entry[0] is node:
        return entry[1]
    found = breadth_first(node)
    walked[id(node)] = (node, found)
    return found
