"""The project-wide model built from every module's summaries: a module index, resolution of
project-internal names (through the project bases of a class, and a package's re-exports of
its modules' names: the one function or class of that name below the package), the call graph
across modules, and the transaction scope each function runs in.

Built once per scan from the cached :class:`~prodready.engine.module_record.ModuleRecord` of
every module (no file is read again) and shared by the project rules that ask
(:func:`semantic_model`).

Transaction scope: a function's writes are covered when the function opens a transaction itself
(``with transaction.atomic()``, ``session.begin()``, ``@transaction.atomic`` on it, its class or
an enclosing function), enters a project context manager or carries a project decorator that
opens one (transitively through other project wrappers), locks rows with ``select_for_update``
(Django allows it only inside a transaction) or raises unless it runs in one, receives
Django's ``pre_delete``/``post_delete`` signals (sent inside the delete's transaction), or when
every project call of it is made inside a transaction (a fixpoint over the call graph); a
serializer's ``create()``/``update()`` is called by its inherited ``save()`` (Django REST
framework), and so by a view's ``perform_create(serializer)``; ``super().method()`` calls the
method of the class's first project base; a method called on a value of unknown class
(``event.copy_data_from(...)``) is the one project method of that name, when one class alone
defines it; a base class's call of a method on ``self`` may run
the override of any project subclass (each override counts that call among its callers); a
generic class's call of a method of an object it makes from a class attribute (``form =
self.form(...)``; ``form.save()``) calls that method of each class the class or a project
subclass binds to the attribute (``form = LampForm``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prodready.engine.module_record import ModuleRecord
from prodready.engine.project import ProjectFacts
from prodready.engine.semantic.class_attributes import (
    MADE_BY_ATTRIBUTE,
    attribute_bindings,
    bound_classes,
)
from prodready.engine.semantic.summary import (
    ATOMIC,
    IN_TRANSACTION,
    LOCKS_ROWS,
    NEEDS_TRANSACTION,
    OPENS_TRANSACTION,
    UNTYPED_RECEIVER,
    CallSite,
    FunctionSummary,
)

# Django sends these inside the transaction of the ``delete()`` that caused them.
DELETE_SIGNALS = frozenset({"pre_delete", "post_delete"})
# Django sends these from the ``save()`` (or the many-to-many change) that caused them, in the
# caller's transaction when the caller holds one -- and in none when it does not.
SAVE_SIGNALS = frozenset({"pre_save", "post_save", "m2m_changed"})
# What a serializer's inherited ``save()`` calls (Django REST framework).
_SAVE_HOOKS = ("create", "update")
# How many rounds the caller-context fixpoint may take (each round settles one more level of
# calls; real call chains are far shorter).
MAX_ROUNDS = 32
# How deep a method is looked for among the bases of its class.
MAX_BASES_DEPTH = 8


@dataclass(frozen=True, slots=True)
class ProjectFunction:
    """A function of the project: where it is and what its summary says."""

    path: str
    qualname: str  # ``pkg.mod.Class.method``
    summary: FunctionSummary


@dataclass(slots=True)
class SemanticModel:
    """Functions by qualified name, who calls whom, and which functions run in a transaction."""

    functions: dict[str, ProjectFunction] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)  # module name -> path
    # The callers of each function: (caller's qualified name, the call) -- test code left out.
    callers: dict[str, list[tuple[str, CallSite]]] = field(default_factory=dict)
    # Functions connected to Django's delete signals.
    delete_receivers: set[str] = field(default_factory=set)
    # Functions connected to Django's save signals: in a transaction exactly when the saver is.
    save_receivers: set[str] = field(default_factory=set)
    # The project bases of each class (qualified names, as written in its module).
    bases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _aliases: dict[str, str | None] = field(default_factory=dict)
    _openers: dict[str, bool] = field(default_factory=dict)
    _in_transaction: set[str] = field(default_factory=set)
    _children: dict[str, list[str]] = field(default_factory=dict)  # the functions nested in each
    # Functions by their name inside their module (``Class.method``), and classes by theirs.
    _by_inner: dict[str, list[str]] = field(default_factory=dict)
    _classes: dict[str, list[str]] = field(default_factory=dict)
    # Methods by their own name (``copy_data_from`` -> the methods of project classes so named).
    _methods: dict[str, list[str]] = field(default_factory=dict)
    # Class attributes naming project classes (``form = LampForm``), and each class's project
    # subclasses (:mod:`.class_attributes`).
    attributes: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    subclasses: dict[str, list[str]] = field(default_factory=dict)
    _known_classes: set[str] = field(default_factory=set)

    # -- names ----------------------------------------------------------------------------
    def module_of(self, name: str) -> str | None:
        """The module a dotted module name denotes: the module itself, or the one module whose
        name ends with it (``core.utils`` imported in a project whose sources sit below a
        directory that is not a package: ``label_studio/core/utils.py``)."""
        if name in self.modules:
            return name
        return self._aliases.get(name)

    def resolve(self, name: str, _depth: int = 0) -> str | None:
        """The project function a qualified name denotes, or None: a method of a class may be
        inherited from one of its project bases (``pkg.views.Edit.save_all`` defined in
        ``pkg.mixins.FormsetMixin``)."""
        if name in self.functions:
            return name
        if name.startswith(UNTYPED_RECEIVER):
            # A method called on a value of unknown class: the one project method so named.
            named = self._methods.get(name[len(UNTYPED_RECEIVER) :], [])
            return named[0] if len(named) == 1 else None
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self.module_of(".".join(parts[:cut]))
            if module is not None:
                candidate = ".".join([module, *parts[cut:]])
                if candidate in self.functions:
                    return candidate
                owner, _, method = candidate.rpartition(".")
                if owner in self.bases and _depth < MAX_BASES_DEPTH:
                    for base in self.bases[owner]:
                        found = self.resolve(f"{base}.{method}", _depth + 1)
                        if found is not None:
                            return found
                if _depth < MAX_BASES_DEPTH:
                    return self._reexported(module, parts[cut:], _depth)
                return None
        return None

    def _reexported(self, package: str, inside: list[str], depth: int) -> str | None:
        """A name a package imports from one of its modules (``from .orders import
        OrderPosition`` in ``pkg/models/__init__.py``, used as ``pkg.models.OrderPosition``):
        the one function, or the one class, of that name in the modules below the package."""
        below = f"{package}."
        rest = ".".join(inside)
        found = [name for name in self._by_inner.get(rest, ()) if name.startswith(below)]
        if len(found) == 1:
            return found[0]
        if len(inside) < 2:
            return None
        classes = [name for name in self._classes.get(inside[0], ()) if name.startswith(below)]
        if len(classes) != 1:
            return None
        return self.resolve(".".join([classes[0], *inside[1:]]), depth + 1)

    def class_named(self, name: str) -> str | None:
        """The project class a qualified name denotes (through a package's re-export of it)."""
        if name in self.bases or name in self._known_classes:
            return name
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self.module_of(".".join(parts[:cut]))
            if module is None:
                continue
            candidate = ".".join([module, *parts[cut:]])
            if candidate in self.bases or candidate in self._known_classes:
                return candidate
            below = [c for c in self._classes.get(parts[-1], ()) if c.startswith(f"{module}.")]
            return below[0] if cut == len(parts) - 1 and len(below) == 1 else None
        return None

    def _made_by_attribute(self, name: str) -> list[str]:
        """``attr:pkg.edit.EditView.form.save``: the ``save`` of each class that ``EditView``
        or a project subclass of it binds to its ``form`` attribute."""
        factory, _, method = name[len(MADE_BY_ATTRIBUTE) :].rpartition(".")
        owner, _, attribute = factory.rpartition(".")
        if self.resolve(factory) is not None:
            return []  # ``self.form(...)`` calls a method: what it makes is not known
        found: dict[str, None] = {}
        for bound in bound_classes(owner, attribute, self.attributes, self.subclasses):
            for target in self.call_targets(f"{bound}.{method}"):
                found.setdefault(target)
        return list(found)

    def call_targets(self, name: str) -> list[str]:
        """The project functions a call of ``name`` runs: the one it denotes, or -- for the
        ``save()`` of a project class that does not define it but defines ``create()`` or
        ``update()``, a Django REST framework serializer -- those (its inherited ``save()``
        calls one of them); for a method of an object made from a class attribute, that
        method of each class bound to the attribute."""
        if name.startswith(MADE_BY_ATTRIBUTE):
            return self._made_by_attribute(name)
        target = self.resolve(name)
        if target is not None:
            return [target]
        owner, _, method = name.rpartition(".")
        if method != "save" or not owner:
            return []
        found = [self.resolve(f"{owner}.{hook}") for hook in _SAVE_HOOKS]
        return [hook for hook in found if hook is not None]

    def callees(self, qualname: str) -> list[str]:
        """The project functions ``qualname`` calls, in the order of their first call."""
        function = self.functions.get(qualname)
        if function is None:
            return []
        found: dict[str, None] = {}
        for call in function.summary.calls:
            for target in self.call_targets(call.target):
                found.setdefault(target)
        return list(found)

    # -- transactions ---------------------------------------------------------------------
    def opens_transaction(self, name: str) -> bool:
        """``name`` (a context manager, a decorator, or a class whose ``__enter__`` does)
        opens a transaction around the code it wraps: it, or a function nested in it, opens
        one -- directly or through another such project wrapper."""
        known = self._openers.get(name)
        if known is not None:
            return known
        self._openers[name] = False  # a wrapper that uses itself does not open one by that
        found = self._opens(name)
        self._openers[name] = found
        return found

    def _opens(self, name: str) -> bool:
        target = self.resolve(name)
        if target is None:
            for method in ("__enter__", "__aenter__"):
                entered = self.resolve(f"{name}.{method}")
                if entered is not None and self._body_opens(entered):
                    return True
            return False
        return any(self._body_opens(qualname) for qualname in self._with_nested(target))

    def _with_nested(self, qualname: str) -> Iterator[str]:
        """The function and the functions nested in it, at any depth."""
        pending = [qualname]
        while pending:
            current = pending.pop()
            yield current
            pending.extend(self._children.get(current, ()))

    def _body_opens(self, qualname: str) -> bool:
        summary = self.functions[qualname].summary
        if summary.has(OPENS_TRANSACTION) or summary.has(ATOMIC):
            return True
        if any(self.opens_transaction(manager) for manager in summary.managers):
            return True
        return any(self.opens_transaction(decorator) for decorator in summary.decorators)

    def body_in_transaction(self, qualname: str) -> bool:
        """Every line of the function runs inside a transaction: its decorators (or an
        enclosing function's, or its class's) open one, it is a delete-signal receiver, or
        every project call of it is made inside one."""
        summary = self.functions[qualname].summary
        if summary.has(ATOMIC) or summary.has(LOCKS_ROWS) or summary.has(NEEDS_TRANSACTION):
            return True
        if qualname in self.delete_receivers or qualname in self._in_transaction:
            return True
        return any(self.opens_transaction(decorator) for decorator in summary.decorators)

    def call_in_transaction(self, caller: str, call: CallSite) -> bool:
        """The call is made inside a transaction: in a ``with`` that opens one (the caller's
        own, or a project wrapper), or anywhere in a function whose body runs in one."""
        if call.guard == IN_TRANSACTION:
            return True
        if call.guard and any(self.opens_transaction(m) for m in call.guard.split("|")):
            return True
        return self.body_in_transaction(caller)

    def writes_covered(self, qualname: str, summary: FunctionSummary | None = None) -> str | None:
        """Why the writes of function ``qualname`` run inside a transaction, or None when
        nothing says they do. ``summary``: the function's (one of two functions a module
        defines under the same name), by default the one the model holds."""
        if summary is None:
            summary = self.functions[qualname].summary
        if summary.has(OPENS_TRANSACTION):
            return "opens a transaction"
        if summary.has(ATOMIC):
            return "decorated with a transaction"
        if summary.has(LOCKS_ROWS):
            return "select_for_update needs a transaction"
        if summary.has(NEEDS_TRANSACTION):
            return "raises unless it runs in a transaction"
        if qualname in self.delete_receivers:
            return "a delete-signal receiver runs in the delete's transaction"
        if any(self.opens_transaction(manager) for manager in summary.managers):
            return "enters a project context manager that opens a transaction"
        if any(self.opens_transaction(decorator) for decorator in summary.decorators):
            return "decorated with a project wrapper that opens a transaction"
        if qualname in self._in_transaction:
            return "every caller calls it inside a transaction"
        return None

    def _settle(self) -> None:
        """The least fixpoint of "every project caller calls it inside a transaction"."""
        candidates = [name for name, calls in self.callers.items() if calls]
        for _ in range(MAX_ROUNDS):
            changed = False
            for name in candidates:
                if name in self._in_transaction:
                    continue
                calls = self.callers[name]
                if all(self.call_in_transaction(caller, call) for caller, call in calls):
                    self._in_transaction.add(name)
                    changed = True
            if not changed:
                return


def build_model(modules: Mapping[str, ModuleRecord]) -> SemanticModel:
    """The model of the modules (by path) of one project."""
    model = SemanticModel()
    aliases: dict[str, str | None] = {}
    for path, record in sorted(modules.items()):
        module = record.module
        if module:
            model.modules.setdefault(module, path)
            parts = module.split(".")
            for start in range(1, len(parts)):
                alias = ".".join(parts[start:])
                known = aliases.get(alias, module)
                aliases[alias] = module if known == module else None
        for summary in record.functions:
            qualname = f"{module}.{summary.name}" if module else summary.name
            if qualname not in model.functions:
                model.functions[qualname] = ProjectFunction(path, qualname, summary)
                model._by_inner.setdefault(summary.name, []).append(qualname)
                owner = summary.name.rpartition(".")[0]
                if owner and "." not in owner:
                    classes = model._classes.setdefault(owner, [])
                    name = f"{module}.{owner}" if module else owner
                    if name not in classes:
                        classes.append(name)
        for item in record.classes:
            name = f"{module}.{item.name}" if module else item.name
            model.bases.setdefault(name, item.bases)
            if item.attributes:
                model.attributes.setdefault(name, attribute_bindings(item.attributes))
            classes = model._classes.setdefault(item.name, [])
            if "." not in item.name and name not in classes:
                classes.append(name)
    model._aliases = {
        alias: module for alias, module in aliases.items() if alias not in model.modules
    }
    for qualname in model.functions:
        parent, _, own = qualname.rpartition(".")
        if parent in model.functions:
            model._children.setdefault(parent, []).append(qualname)
        elif parent and parent not in model.modules:  # a method of a class
            model._methods.setdefault(own, []).append(qualname)
    model._known_classes = {name for names in model._classes.values() for name in names}
    for name, bases in model.bases.items():
        for base in bases:
            resolved = model.class_named(base)
            if resolved is not None and resolved != name:
                model.subclasses.setdefault(resolved, []).append(name)
    overrides = _overrides(model)
    for _, record in sorted(modules.items()):
        for signal in record.signals:
            kind = signal.signal.rsplit(".", 1)[-1]
            if kind in DELETE_SIGNALS or kind in SAVE_SIGNALS:
                target = model.resolve(signal.target)
                if target is not None and kind in DELETE_SIGNALS:
                    model.delete_receivers.add(target)
                elif target is not None:
                    model.save_receivers.add(target)
        if record.is_test:
            continue
        module = record.module
        for summary in record.functions:
            caller = f"{module}.{summary.name}" if module else summary.name
            for call in summary.calls:
                targets = model.call_targets(call.target)
                if caller.rpartition(".")[2] != call.target.rpartition(".")[2]:
                    # (``super().save()`` in a ``save()`` runs its base's, no sibling's)
                    targets = list(_dispatched(targets, overrides))
                for target in targets:
                    if target != caller:
                        model.callers.setdefault(target, []).append((caller, call))
    model._settle()
    return model


def _overrides(model: SemanticModel) -> dict[str, list[str]]:
    """Method -> the methods of project subclasses that override it directly: a base class's
    ``self.hook()`` runs a subclass's ``hook`` when the object is one (a generic view's
    ``save_object`` replaced by a concrete view)."""
    found: dict[str, list[str]] = {}
    for qualname in model.functions:
        owner, _, method = qualname.rpartition(".")
        for base in model.bases.get(owner, ()):
            overridden = model.resolve(f"{base}.{method}")
            if overridden is not None and overridden != qualname:
                found.setdefault(overridden, []).append(qualname)
    return found


def _dispatched(targets: list[str], overrides: Mapping[str, list[str]]) -> Iterator[str]:
    """The targets of a call and every override of them, at any depth (a caller of the base's
    method may be running any of them: each gets the call among its callers)."""
    seen: set[str] = set()
    pending = list(targets)
    while pending:
        target = pending.pop()
        if target in seen:
            continue
        seen.add(target)
        yield target
        pending.extend(overrides.get(target, ()))


def semantic_model(facts: ProjectFacts) -> SemanticModel:
    """The model of the project a project rule is judging, built once per scan and shared by
    every rule that asks."""
    model: SemanticModel = facts.memo("engine:semantic-model", lambda: build_model(facts.modules))
    return model
