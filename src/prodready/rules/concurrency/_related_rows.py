"""CON002's rows reached through a relation: ``restaurant = self.restaurant`` in a model's
method, ``dock = ride.dock`` after loading the ride. The ORM loads the related row lazily with
a plain SELECT (Django's foreign-key descriptor, SQLAlchemy's lazy ``relationship``), so it is
never locked -- even when the row it hangs from was: ``select_for_update()`` locks the rows it
selects, not the ones an attribute access loads later."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import declared_fields, dotted

_RELATION_FACTORIES = frozenset(
    {"ForeignKey", "OneToOneField", "ParentalKey", "TreeForeignKey", "relationship"}
    | {"Relationship"}
)


def _class_relations(node: ast.ClassDef) -> set[str]:
    """The single-row relations a model class declares (``restaurant = models.ForeignKey(...)``,
    ``dock = relationship("Dock")``, ``dock: Mapped["Dock"] = relationship()``)."""
    return {
        name
        for name, call in declared_fields(node)
        if (dotted(call.func) or "").rsplit(".", 1)[-1] in _RELATION_FACTORIES
    }


def related_row(value: ast.expr, loaded: dict[str, bool], ctx: PythonContext) -> bool:
    """``value`` reads a row through a relation, unlocked: ``self.<foreign key>`` in a method
    of the model class declaring it, or ``<row>.<attribute>`` of a row this function loaded
    without a lock (whose save after a change in Python is what makes it a row at all)."""
    if not (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)):
        return False
    if value.attr.startswith("_"):
        return False
    base = value.value.id
    scope = ctx.function
    if scope is None:
        return False
    if base == scope.self_name and scope.class_info is not None:
        return value.attr in _class_relations(scope.class_info.node)
    return loaded.get(base) is False
