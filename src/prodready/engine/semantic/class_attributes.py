"""Classes named by a class attribute: a generic view makes its form (or serializer, or any
worker object) from an attribute the concrete views set, and calls a method of it.

``class EditView(View): form = None; def post(...): form = self.form(data=...); with
transaction.atomic(): form.save()`` in one module, ``class LampEdit(EditView): form = LampForm``
in another: ``LampForm.save`` runs inside that transaction. The walk records the call as
``<MADE_BY_ATTRIBUTE>pkg.edit.EditView.form.save`` (:func:`made_by_attribute`) and each
class's project-valued attributes (:func:`class_attributes`); the model
(:meth:`~prodready.engine.semantic.model.SemanticModel.call_targets`) turns the call into a
call of ``save`` of every class bound to that attribute by the class or one of its project
subclasses.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping

from prodready.engine.analysis.literals import dotted
from prodready.engine.python.nodes import walk_nodes

# Prefix of a call target: a method called on an object made from a class attribute of the
# caller's own class (``form = self.form(...)``; ``form.save()``).
MADE_BY_ATTRIBUTE = "attr:"
# ``name=value`` in ``ClassSummary.attributes``.
_BINDS = "="

Resolve = Callable[[ast.expr], "str | None"]


def _named_values(node: ast.ClassDef) -> Iterator[tuple[str, ast.expr]]:
    """``name = Something`` (a name or a dotted name) in the class body."""
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Name | ast.Attribute)
        ):
            yield statement.targets[0].id, statement.value


def _instance_values(node: ast.ClassDef) -> Iterator[tuple[str, ast.expr]]:
    """``self.name = Something`` in a method of the class (``self.form = CreateForm`` when the
    view creates rather than edits)."""
    for method in node.body:
        if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) or not method.args.args:
            continue
        self_name = method.args.args[0].arg
        for statement in walk_nodes(method):
            if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
                continue
            target = statement.targets[0]
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == self_name
                and isinstance(statement.value, ast.Name | ast.Attribute)
            ):
                yield target.attr, statement.value


def attribute_value(node: ast.ClassDef, name: str) -> ast.expr | None:
    """The value of ``name = ...`` (a name or a dotted name) in the class body."""
    return next((value for target, value in _named_values(node) if target == name), None)


def class_attributes(node: ast.ClassDef, resolve: Resolve) -> tuple[str, ...]:
    """``name=qualified`` for each ``name = Something`` in the class body whose value may be a
    project class (``form = forms.LampForm``): ``resolve`` names it, None when it surely is not
    the project's."""
    found: dict[str, None] = {}
    for target, value in [*_named_values(node), *_instance_values(node)]:
        qualified = resolve(value)
        if qualified is not None:
            found.setdefault(f"{target}{_BINDS}{qualified}")
    return tuple(found)


def attribute_bindings(attributes: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Attribute -> the qualified names bound to it (in the body, or by ``self.name = ...``)."""
    found: dict[str, tuple[str, ...]] = {}
    for item in attributes:
        name, _, value = item.partition(_BINDS)
        if value:
            found[name] = (*found.get(name, ()), value)
    return found


def made_by_attribute(
    call: ast.Call, value_of: Callable[[str], ast.expr | None], self_name: str | None
) -> tuple[str, str] | None:
    """``(attribute, method)`` when ``call`` is ``obj.method()`` on a local ``obj`` assigned
    ``self.<attribute>(...)`` -- an object made from a class attribute -- else None (``value_of``
    gives the value a name was last assigned). A method of the class so named is a factory
    method, not an attribute: the model tells them apart."""
    func = call.func
    if not self_name or not isinstance(func, ast.Attribute):
        return None
    receiver = func.value
    if not isinstance(receiver, ast.Name) or receiver.id == self_name:
        return None
    made = value_of(receiver.id)
    if not isinstance(made, ast.Call):
        return None
    owner, _, attribute = (dotted(made.func) or "").partition(".")
    if owner != self_name or not attribute or "." in attribute:
        return None
    return attribute, func.attr


def bound_classes(
    owner: str,
    attribute: str,
    attributes: Mapping[str, Mapping[str, tuple[str, ...]]],
    subclasses: Mapping[str, list[str]],
) -> Iterator[str]:
    """The classes bound to ``attribute`` by ``owner`` or any of its project subclasses (at any
    depth), as written in their modules."""
    seen: set[str] = set()
    pending = [owner]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        yield from attributes.get(current, {}).get(attribute, ())
        pending.extend(subclasses.get(current, ()))
