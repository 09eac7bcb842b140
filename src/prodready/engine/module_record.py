"""The facts of one Python module as the cache keeps them and the project rules read them.

:class:`~prodready.engine.facts.ModuleFacts` is what the walk of a module fills in;
:meth:`ModuleFacts.record` freezes what outlives the walk into a :class:`ModuleRecord`. The
cache stores ``ModuleRecord.to_json()`` and rebuilds the record with :meth:`ModuleRecord.from_json`,
which checks every field's type: a corrupt or hand-edited cache entry yields None (a cache miss,
the file is analysed again), never a record that breaks a project rule later.

The JSON shape is compact -- ``[name, line]`` pairs for the many small items -- because a warm
rescan of a large tree reads and rebuilds every module's record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prodready.engine.json_shapes import strings, text_line_pairs, tuple_new
from prodready.engine.semantic.summary import (
    ClassSummary,
    FunctionSummary,
    SignalReceiver,
    classes_from_json,
    functions_from_json,
    signals_from_json,
    signals_json,
)

# The details a piece of evidence may carry (``prefix="/admin"``, ``auth=True``).
Value = str | int | bool
Values = tuple[tuple[str, Value], ...]


def text_value(values: Values, key: str) -> str:
    for name, value in values:
        if name == key:
            return value if isinstance(value, str) else ""
    return ""


def flag_value(values: Values, key: str) -> bool:
    for name, value in values:
        if name == key:
            return bool(value)
    return False


class Mark(NamedTuple):
    """One piece of evidence found in a module for a project rule.

    ``name``: what was found (a call's qualified name, an imported module; "" when the kind says
    it all); ``kind``: what sort of evidence it is ("" for a subscribed call or a plain
    ``(name, line)`` pair a collector returned); ``values``: named details, sorted by name (see
    :meth:`of`), read with :meth:`text` and :meth:`flag`.
    """

    name: str
    line: int
    kind: str = ""
    values: Values = ()

    @classmethod
    def of(cls, kind: str, line: int, /, name: str = "", **values: Value | None) -> Mark:
        """A mark of ``kind`` at ``line``; details that are None are left out."""
        kept = tuple(sorted((key, value) for key, value in values.items() if value is not None))
        return cls(name, line, kind, kept)

    def text(self, key: str) -> str:
        """The string detail ``key`` ("" when absent)."""
        return text_value(self.values, key)

    def flag(self, key: str) -> bool:
        """The detail ``key`` taken as a yes/no (False when absent)."""
        return flag_value(self.values, key)

    def to_json(self) -> list[object]:
        if self.values:
            return [self.name, self.line, self.kind, dict(self.values)]
        if self.kind:
            return [self.name, self.line, self.kind]
        return [self.name, self.line]


def as_mark(item: Mark | tuple[str, int]) -> Mark:
    """What a collector returned, as a mark: a :class:`Mark`, or a ``(name, line)`` pair."""
    if isinstance(item, Mark):
        return item
    name, line = item
    return Mark(str(name), int(line))


class Import(NamedTuple):
    """An imported module (``a.b``, ``.models`` for a relative import) and its line."""

    module: str
    line: int


class NamedLine(NamedTuple):
    """A name at a line (a syntax feature and where it is first used)."""

    name: str
    line: int


@dataclass(frozen=True, slots=True)
class RouteRecord:
    """An HTTP handler as project rules see it (see :class:`prodready.engine.facts.Route`)."""

    function: str
    line: int
    framework: str
    methods: tuple[str, ...] | None  # None: any method
    path: str | None
    receiver: str | None = None  # the app/router/blueprint the route is declared on
    decorators: tuple[str, ...] = ()  # qualified names of every decorator
    dependencies: tuple[str, ...] = ()  # FastAPI Depends()/Security() targets

    def to_json(self) -> list[object]:
        return [
            self.function,
            self.line,
            self.framework,
            list(self.methods) if self.methods is not None else None,
            self.path,
            self.receiver,
            list(self.decorators),
            list(self.dependencies),
        ]


@dataclass(frozen=True, slots=True)
class ModuleRecord:
    """What the cache keeps and the project rules read of one Python module."""

    module: str  # dotted name ("" for a file outside any package layout)
    frameworks: tuple[str, ...] = ()  # sorted
    imports: tuple[Import, ...] = ()
    routes: tuple[RouteRecord, ...] = ()
    syntax: tuple[NamedLine, ...] = ()  # feature (see ``SYNTAX_VERSIONS``) -> first line
    evidence: Mapping[str, tuple[Mark, ...]] = field(default_factory=dict)  # by rule code
    is_test: bool = False
    is_example: bool = False
    # What each function does, for the project-wide model (see ``prodready.engine.semantic``).
    functions: tuple[FunctionSummary, ...] = ()
    signals: tuple[SignalReceiver, ...] = ()  # the signal receivers the module registers
    classes: tuple[ClassSummary, ...] = ()  # with their bases, for methods called on self

    def to_json(self) -> dict[str, object]:
        return {
            "module": self.module,
            "frameworks": list(self.frameworks),
            "imports": [[item.module, item.line] for item in self.imports],
            "routes": [route.to_json() for route in self.routes],
            "syntax": [[item.name, item.line] for item in self.syntax],
            "evidence": _evidence_json(self.evidence),
            "is_test": self.is_test,
            "is_example": self.is_example,
            "functions": [function.to_json() for function in self.functions],
            "signals": signals_json(self.signals),
            "classes": [item.to_json() for item in self.classes],
        }

    @classmethod
    def from_json(cls, obj: object) -> ModuleRecord | None:
        """The record ``to_json`` wrote, or None when ``obj`` is not of its shape."""
        if not isinstance(obj, dict):
            return None
        module = obj.get("module")
        frameworks = strings(obj.get("frameworks"))
        imports = text_line_pairs(obj.get("imports"), Import)
        routes = _routes(obj.get("routes"))
        syntax = text_line_pairs(obj.get("syntax"), NamedLine)
        evidence = _evidence(obj.get("evidence"))
        is_test = obj.get("is_test")
        is_example = obj.get("is_example")
        functions = functions_from_json(obj.get("functions"))
        signals = signals_from_json(obj.get("signals"))
        classes = classes_from_json(obj.get("classes"))
        if (
            not isinstance(module, str)
            or frameworks is None
            or imports is None
            or routes is None
            or syntax is None
            or evidence is None
            or not isinstance(is_test, bool)
            or not isinstance(is_example, bool)
            or functions is None
            or signals is None
            or classes is None
        ):
            return None
        record: ModuleRecord = _new_record(cls)
        _set_module(record, module)
        _set_frameworks(record, frameworks)
        _set_imports(record, imports)
        _set_routes(record, routes)
        _set_syntax(record, syntax)
        _set_evidence(record, evidence)
        _set_is_test(record, is_test)
        _set_is_example(record, is_example)
        _set_functions(record, functions)
        _set_signals(record, signals)
        _set_classes(record, classes)
        return record


# -- validating the JSON shape (``type(x) is int``: ``True`` is not a line number) ---------------


def _routes(items: object) -> tuple[RouteRecord, ...] | None:
    if not isinstance(items, list):
        return None
    found: list[RouteRecord] = []
    for item in items:
        if not isinstance(item, list) or len(item) != 8:
            return None
        function, line, framework, methods, path, receiver, decorators, dependencies = item
        decorator_names = strings(decorators)
        dependency_names = strings(dependencies)
        method_names = None if methods is None else strings(methods)
        if (
            not isinstance(function, str)
            or type(line) is not int
            or not isinstance(framework, str)
            or (methods is not None and method_names is None)
            or not (path is None or isinstance(path, str))
            or not (receiver is None or isinstance(receiver, str))
            or decorator_names is None
            or dependency_names is None
        ):
            return None
        found.append(
            RouteRecord(
                function,
                line,
                framework,
                method_names,
                path,
                receiver,
                decorator_names,
                dependency_names,
            )
        )
    return tuple(found)


def _mark(item: object) -> Mark | None:
    """``[name, line]``, ``[name, line, kind]`` or ``[name, line, kind, {detail: value}]``."""
    if not isinstance(item, list):
        return None
    size = len(item)
    values: Values = ()
    if size == 3:
        name, line, kind = item
    elif size == 2:
        name, line = item
        kind = ""
    elif size == 4:
        name, line, kind, details = item
        if not isinstance(details, dict) or not details:
            return None
        values = tuple(sorted(details.items()))
        for _, value in values:
            if not isinstance(value, str | int):  # bool is an int
                return None
    else:
        return None
    if not isinstance(name, str) or type(line) is not int or not isinstance(kind, str):
        return None
    return tuple_new(Mark, (name, line, kind, values))  # type: ignore[no-any-return]


def _evidence_json(evidence: Mapping[str, tuple[Mark, ...]]) -> dict[str, object]:
    """Rules that share a collector (DEP010 and DEP014, DEP011 and DEP012) collect the same
    marks: those of a later code are stored as the name of the earlier one."""
    stored: dict[str, object] = {}
    first_with: dict[tuple[Mark, ...], str] = {}
    for code, marks in evidence.items():
        earlier = first_with.get(marks)
        if earlier is None:
            first_with[marks] = code
            stored[code] = [mark.to_json() for mark in marks]
        else:
            stored[code] = earlier
    return stored


def _evidence(obj: object) -> dict[str, tuple[Mark, ...]] | None:
    if not isinstance(obj, dict):
        return None
    found: dict[str, tuple[Mark, ...]] = {}
    for code, items in obj.items():
        if isinstance(items, str):  # the marks of an earlier code (see ``_evidence_json``)
            same = found.get(items)
            if same is None:
                return None
            found[code] = same
            continue
        if not isinstance(items, list):
            return None
        built: list[Mark] = []
        for item in items:
            mark = _mark(item)
            if mark is None:
                return None
            built.append(mark)
        found[code] = tuple(built)
    return found


# ``from_json`` builds a record from values it has checked without the frozen ``__init__`` (one
# ``object.__setattr__`` per field): a warm rescan of a large tree builds thousands of them.
_new_record: Any = object.__new__
_SETTERS: dict[str, Any] = {
    name: ModuleRecord.__dict__[name].__set__ for name in ModuleRecord.__dataclass_fields__
}
_set_module = _SETTERS["module"]
_set_frameworks = _SETTERS["frameworks"]
_set_imports = _SETTERS["imports"]
_set_routes = _SETTERS["routes"]
_set_syntax = _SETTERS["syntax"]
_set_evidence = _SETTERS["evidence"]
_set_is_test = _SETTERS["is_test"]
_set_is_example = _SETTERS["is_example"]
_set_functions = _SETTERS["functions"]
_set_signals = _SETTERS["signals"]
_set_classes = _SETTERS["classes"]
