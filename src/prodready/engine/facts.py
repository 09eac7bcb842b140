"""Per-file facts about Python modules that rules share: imports, framework, routes, module state.

The module-level facts come from one pass over the module's *top-level* statements (not a tree
walk); routes and async functions are added by the walker as it meets them.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from prodready.engine.module_record import Import, Mark, ModuleRecord, NamedLine, RouteRecord
from prodready.engine.semantic.summary import ClassSummary, FunctionSummary, SignalReceiver

BUILTIN_NAMES = frozenset(dir(builtins))

HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Module (or package prefix) -> the framework it makes a module part of: web frameworks, and
# task/consumer frameworks whose processes are as long-lived as a web server.
FRAMEWORK_MODULES = {
    "fastapi": "fastapi",
    "starlette": "starlette",
    "flask": "flask",
    "quart": "flask",
    "django": "django",
    "rest_framework": "django",
    "aiohttp.web": "aiohttp",  # plain ``aiohttp`` is also an HTTP client library
    "sanic": "sanic",
    "litestar": "litestar",
    "tornado.web": "tornado",
    "falcon": "falcon",
    "celery": "celery",
    "dramatiq": "dramatiq",
    "rq": "rq",
    "huey": "huey",
    "arq": "arq",
    "faust": "faust",
    "kafka": "kafka",
    "confluent_kafka": "kafka",
    "aiokafka": "kafka",
    "pika": "rabbitmq",
    "aio_pika": "rabbitmq",
}
# Frameworks whose presence makes a module part of a long-running service.
SERVICE_FRAMEWORKS = frozenset(FRAMEWORK_MODULES.values())

DOC_DIRECTORIES = frozenset({"doc", "docs", "docs_src", "documentation"})
TUTORIAL_WORDS = ("tutorial", "snippet", "cookbook")

# Objects whose route decorators (``@app.get("/x")``) declare HTTP handlers.
ROUTER_TYPES = frozenset(
    {
        "fastapi.FastAPI",
        "fastapi.APIRouter",
        "fastapi.routing.APIRouter",
        "starlette.applications.Starlette",
        "flask.Flask",
        "flask.Blueprint",
        "quart.Quart",
        "quart.Blueprint",
        "aiohttp.web.RouteTableDef",
        "sanic.Sanic",
        "sanic.Blueprint",
    }
)
ROUTE_DECORATOR_METHODS = frozenset({*HTTP_VERBS, "route", "api_route", "websocket"})

DJANGO_VIEW_BASES = (
    "django.views",
    "rest_framework.views",
    "rest_framework.viewsets",
    "rest_framework.generics",
    "rest_framework.mixins",
)
VIEWSET_ACTIONS = {
    "list": "GET",
    "retrieve": "GET",
    "create": "POST",
    "update": "PUT",
    "partial_update": "PATCH",
    "destroy": "DELETE",
}
DJANGO_METHOD_DECORATORS = {
    "django.views.decorators.http.require_POST": ("POST",),
    "django.views.decorators.http.require_GET": ("GET",),
    "django.views.decorators.http.require_safe": ("GET", "HEAD"),
}

MUTABLE_FACTORIES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.set",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
    }
)


@dataclass(slots=True)
class Route:
    """An HTTP handler: the function, its framework, methods (None = any) and path."""

    function: str
    line: int
    framework: str
    methods: tuple[str, ...] | None
    path: str | None
    receiver: str | None = None  # the app/router/blueprint the route is declared on
    decorators: tuple[str, ...] = ()  # qualified names of every decorator
    dependencies: tuple[str, ...] = ()  # FastAPI Depends()/Security() targets

    @property
    def writes(self) -> bool:
        """True when the handler may serve a state-changing method."""
        return self.methods is None or bool(WRITE_METHODS.intersection(self.methods))

    def record(self) -> RouteRecord:
        return RouteRecord(
            self.function,
            self.line,
            self.framework,
            self.methods,
            self.path,
            self.receiver,
            self.decorators,
            self.dependencies,
        )


@dataclass(slots=True)
class ModuleFacts:
    """What is known about one Python module."""

    module: str
    bindings: dict[str, str | None] = field(default_factory=dict)
    imports: list[tuple[str, int]] = field(default_factory=list)
    frameworks: set[str] = field(default_factory=set)
    # Module-level names bound to a mutable container (``CACHE = {}``) -> their line.
    mutable_globals: dict[str, int] = field(default_factory=dict)
    constants: dict[str, ast.expr] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    async_functions: list[tuple[str, int]] = field(default_factory=list)
    has_main_guard: bool = False
    is_test: bool = False
    is_example: bool = False
    # What project rules collected, by rule code: the calls they subscribed to (qualified name,
    # line) and what their collectors returned.
    evidence: dict[str, list[Mark]] = field(default_factory=dict)
    # Syntax that needs a minimum Python version: feature -> first line (see SYNTAX_VERSIONS).
    syntax: dict[str, int] = field(default_factory=dict)
    # What each function does and the signal receivers registered (``engine.semantic``).
    functions: list[FunctionSummary] = field(default_factory=list)
    signals: list[SignalReceiver] = field(default_factory=list)
    classes: list[ClassSummary] = field(default_factory=list)
    # Top-level packages of ``imports[:_roots_indexed]``: rules ask after every function-local
    # import, so the index grows with the list instead of being rebuilt for each question.
    _import_roots: set[str] = field(default_factory=set, repr=False, compare=False)
    _roots_indexed: int = field(default=0, repr=False, compare=False)

    def imports_any(self, packages: Collection[str]) -> bool:
        """Some import seen so far is of one of ``packages`` or below it (``jwt.api``)."""
        imports = self.imports
        roots = self._import_roots
        for position in range(self._roots_indexed, len(imports)):
            roots.add(imports[position][0].split(".")[0])
        self._roots_indexed = len(imports)
        return not roots.isdisjoint(packages)

    @property
    def framework(self) -> str | None:
        """The web framework of the module (first by preference), if any."""
        for name in ("fastapi", "flask", "django", "starlette", "aiohttp", "sanic", "litestar"):
            if name in self.frameworks:
                return name
        return next(iter(sorted(self.frameworks)), None)

    @property
    def is_service(self) -> bool:
        """Code that runs inside a long-lived service process."""
        return bool(self.routes) or bool(self.frameworks & SERVICE_FRAMEWORKS)

    def record(self) -> ModuleRecord:
        """What the cache keeps and the project rules read of the module."""
        return ModuleRecord(
            module=self.module,
            frameworks=tuple(sorted(self.frameworks)),
            imports=tuple(Import(module, line) for module, line in self.imports),
            routes=tuple(route.record() for route in self.routes),
            syntax=tuple(NamedLine(name, line) for name, line in sorted(self.syntax.items())),
            evidence={code: tuple(marks) for code, marks in sorted(self.evidence.items())},
            is_test=self.is_test,
            is_example=self.is_example,
            functions=tuple(self.functions),
            signals=tuple(self.signals),
            classes=tuple(self.classes),
        )


# Syntax features the walker records, and the Python version that introduced each.
SYNTAX_VERSIONS: dict[str, tuple[int, int]] = {
    "walrus": (3, 8),
    "positional-only-parameters": (3, 8),
    "match": (3, 10),
    "parenthesized-context-managers": (3, 10),
    "except-star": (3, 11),
}


def module_name_for(relpath: str) -> str:
    """Dotted module name for a relative path (``src/app/api.py`` -> ``app.api``)."""
    parts = relpath[:-3].split("/") if relpath.endswith(".py") else relpath.split("/")
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve_relative(module: str | None, level: int, current: str, is_package: bool) -> str:
    """Absolute module name of ``from ..x import`` inside module ``current``."""
    if level == 0:
        return module or ""
    package = current.split(".") if current else []
    if not is_package and package:
        package = package[:-1]
    drop = level - 1
    if drop:
        package = package[:-drop] if drop <= len(package) else []
    base = ".".join(package)
    if module:
        return f"{base}.{module}" if base else module
    return base


def bind_import(
    node: ast.Import | ast.ImportFrom,
    bindings: dict[str, str | None],
    current: str,
    is_package: bool,
) -> list[str]:
    """Record the names an import binds; returns the imported module names."""
    modules: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            modules.append(alias.name)
            if alias.asname:
                bindings[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                bindings[top] = top
        return modules
    base = resolve_relative(node.module, node.level, current, is_package)
    modules.append(base if node.level == 0 else "." * node.level + (node.module or ""))
    for alias in node.names:
        if alias.name == "*":
            continue
        qualified = f"{base}.{alias.name}" if base else alias.name
        bindings[alias.asname or alias.name] = qualified
        if node.level == 0:
            modules.append(qualified)  # ``from aiohttp import web`` imports aiohttp.web
    return modules


def is_main_guard(node: ast.If) -> bool:
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def mutable_literal(value: ast.expr | None, resolve: Any) -> bool:
    """``{}``, ``[]``, ``set()``, ``defaultdict(list)``... -- a container that can be mutated."""
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp):
        return True
    if isinstance(value, ast.Call):
        return resolve(value.func) in MUTABLE_FACTORIES
    return False


def framework_of(module: str) -> str | None:
    """The framework a module (``aiohttp.web.Application``, ``flask``) belongs to, if any."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = FRAMEWORK_MODULES.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None
