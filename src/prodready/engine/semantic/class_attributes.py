"""Classes named by a class attribute: a generic view makes its form (or serializer, or any
worker object) from an attribute the concrete views set, and calls a method of it.

``class EditView(View): form = None; def post(...): form = self.form(data=...); with
transaction.atomic(): form.save()`` in one module, ``class LampEdit(EditView): form = LampForm``
in another: ``LampForm.save`` runs inside that transaction. The walk records the call as
``<MADE_BY_ATTRIBUTE>pkg.edit.EditView.form.save`` (:func:`made_by_attribute`: also once
the generic view hands the form to a method of its own that saves it) and each
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
    call: ast.Call,
    value_of: Callable[[str], ast.expr | None],
    self_name: str | None,
    owner: ast.ClassDef | None,
) -> list[tuple[str, str]]:
    """``(attribute, method)`` for each method ``call`` runs on an object made from a class
    attribute: called on it directly (:func:`_made_directly`), or on it once handed to a
    method of the class (:func:`handed_to_helpers`)."""
    made = _made_directly(call, value_of, self_name)
    return [
        *([made] if made is not None else []),
        *handed_to_helpers(call, value_of, self_name, owner),
    ]


def _made_directly(
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


# How many hooks deep a form handed from method to method of one class is followed.
_MAX_HAND_OVERS = 4


def handed_to_helpers(
    call: ast.Call,
    value_of: Callable[[str], ast.expr | None],
    self_name: str | None,
    owner: ast.ClassDef | None,
) -> Iterator[tuple[str, str]]:
    """``(attribute, method)`` for each method called on an object made from a class attribute
    after ``call`` hands it to a method of the same class: ``form = self.model_form(...)``;
    ``self._save_row(form)``, whose body calls ``form.save()`` on that parameter -- or hands it
    on to another method of the class that does (``self.save_object(form)``), a few levels
    deep. The generic view's transaction around the handing call covers the form's save()."""
    func = call.func
    if not (
        self_name
        and owner is not None
        and isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == self_name
    ):
        return
    methods = {
        item.name: item
        for item in owner.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for position, keyword, argument in _arguments(call):
        if not isinstance(argument, ast.Name):
            continue
        made = value_of(argument.id)
        if not isinstance(made, ast.Call):
            continue
        receiver, _, attribute = (dotted(made.func) or "").partition(".")
        if receiver != self_name or not attribute or "." in attribute:
            continue
        found: dict[str, None] = {}
        _called_on_parameter(methods, func.attr, position, keyword, found, set())
        for method in found:
            yield attribute, method


def _arguments(call: ast.Call) -> Iterator[tuple[int | None, str | None, ast.expr]]:
    """``(position, keyword, value)`` for each argument of the call."""
    for position, argument in enumerate(call.args):
        yield position, None, argument
    for keyword in call.keywords:
        if keyword.arg is not None:
            yield None, keyword.arg, keyword.value


def _called_on_parameter(
    methods: Mapping[str, ast.FunctionDef | ast.AsyncFunctionDef],
    name: str,
    position: int | None,
    keyword: str | None,
    found: dict[str, None],
    seen: set[str],
) -> None:
    """The methods that method ``name`` of the class calls on the parameter receiving the
    argument at ``position`` (after ``self``) or ``keyword``, and on it once handed on."""
    method = methods.get(name)
    if method is None or name in seen or len(seen) >= _MAX_HAND_OVERS:
        return
    seen.add(name)
    parameters = [arg.arg for arg in method.args.args]
    if not parameters:
        return
    self_name = parameters[0]
    if position is not None:
        if position + 1 >= len(parameters):
            return
        parameter = parameters[position + 1]
    elif keyword in parameters[1:]:
        parameter = keyword
    else:
        return
    for node in walk_nodes(method):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id == parameter:
            found.setdefault(node.func.attr)
        elif isinstance(receiver, ast.Name) and receiver.id == self_name:
            for at, named, argument in _arguments(node):
                if isinstance(argument, ast.Name) and argument.id == parameter:
                    _called_on_parameter(methods, node.func.attr, at, named, found, seen)


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
