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
