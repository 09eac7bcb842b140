"""What the project declares versus what its code imports, as the dependency rules
(``prodready.rules.dependencies``: undeclared imports, unused and misplaced dependencies,
conflicting pins, Python version, unreadable manifests) ask it: the project's view of its
manifests, the guards around imports, the distributions its code uses, and version parsing."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from prodready.deps.import_tables import NEWER_STDLIB, STDLIB
from prodready.deps.imports import Resolver, import_name, module_top_levels
from prodready.deps.inline_scripts import inline_script_dependencies
from prodready.deps.inventory import Inventory, inventory
from prodready.deps.manifests import is_generated, is_lock_file, project_dir
from prodready.deps.model import Declaration, Locked
from prodready.deps.sys_path import sys_path_marks
from prodready.engine.module_record import Mark, ModuleRecord
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.roles import is_service_code

# -- evidence collected during the walk ---------------------------------------------------------

_IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError", "Exception", "BaseException")
_GUARD_WORDS = ("TYPE_CHECKING", "version_info", "platform", "os.name", "sys.implementation")
# Standard library modules newer than some supported Pythons.
VERSIONED_STDLIB: dict[str, tuple[int, int]] = {
    "tomllib": (3, 11),
    "zoneinfo": (3, 9),
    "graphlib": (3, 9),
    "annotationlib": NEWER_STDLIB["annotationlib"],
    "compression": NEWER_STDLIB["compression"],
}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kind = handler.type
    if kind is None:
        return True
    elements = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    for element in elements:
        name = element.attr if isinstance(element, ast.Attribute) else None
        if isinstance(element, ast.Name):
            name = element.id
        if name in _IMPORT_ERRORS:
            return True
    return False


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        return ["." * node.level + (node.module or "")]
    return [node.module] if node.module else []


def _interesting(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top not in STDLIB or top in VERSIONED_STDLIB


def _guard_kind(test: ast.expr) -> str | None:
    for node in ast.walk(test):
        name = node.id if isinstance(node, ast.Name) else None
        if isinstance(node, ast.Attribute):
            name = node.attr
        if name == "TYPE_CHECKING":
            return "typing"
        if name in {"version_info", "platform", "implementation", "system", "python_version"}:
            return "conditional"
        if isinstance(node, ast.Attribute) and node.attr == "name" and _is_os(node.value):
            return "conditional"
    return None


def _is_os(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _collect_guards(node: Any, ctx: Any) -> list[Mark] | None:
    """Imports that are not hard requirements, marked by module: inside ``try`` with an
    ``except ImportError`` (or in its handler, a fallback: kind ``guarded``), under
    ``if TYPE_CHECKING``/version or platform checks (``typing``/``conditional``), after a
    ``find_spec`` check in its function (``guarded``), or inside a function (``lazy``, loaded on
    first use)."""
    if isinstance(node, ast.If):
        if not ctx.memo(_HAS_GUARD_WORDS):
            return None
        kind = _guard_kind(node.test)
        if kind is None:
            return None
        found: list[Mark] = []
        for statement in [*node.body, *node.orelse]:
            for child in ast.walk(statement):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    found.extend(
                        Mark(m, child.lineno, kind) for m in _imported(child) if _interesting(m)
                    )
        return found
    if isinstance(node, ast.Try):
        # ``try: import a / except ImportError: ... / else: import b``: b is optional too.
        if not node.orelse or not any(_catches_import_error(h) for h in node.handlers):
            return None
        return [
            Mark(m, child.lineno, "guarded")
            for statement in node.orelse
            for child in ast.walk(statement)
            if isinstance(child, ast.Import | ast.ImportFrom)
            for m in _imported(child)
            if _interesting(m)
        ]
    if not isinstance(node, ast.Import | ast.ImportFrom):
        return None
    modules = [m for m in _imported(node) if _interesting(m)]
    if not modules:
        return None
    guarded = any(
        _catches_import_error(handler) for statement in ctx.trys for handler in statement.handlers
    ) or any(_catches_import_error(handler) for handler in ctx.handlers)
    if guarded:
        return [Mark(m, node.lineno, "guarded") for m in modules]
    if ctx.function is not None:
        kind = "guarded" if _availability_checked(ctx, node.lineno) else "lazy"
        return [Mark(m, node.lineno, kind) for m in modules]
    return None


def _availability_checked(ctx: Any, line: int) -> bool:
    """The function asks ``importlib.util.find_spec`` before this import (``if find_spec("x")
    is None: print("install x"); return``): the import is optional, like one inside
    ``try/except ImportError``."""
    if "find_spec" not in ctx.source:
        return False
    for child in ast.walk(ctx.function.node):
        if isinstance(child, ast.Call) and child.lineno < line:
            func = child.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "find_spec":
                return True
    return False


def shared_guards(node: Any, ctx: Any) -> list[Mark] | None:
    """``_collect_guards`` computed once per node for the rules that both need it; the first
    node of a module also carries the directories the module puts on ``sys.path``
    (``prodready.deps.sys_path``: the project's source roots) and the distributions its PEP 723
    inline script metadata declares."""
    cache = ctx.memo(_GUARDS)
    key = id(node)
    if key not in cache:
        found = _collect_guards(node, ctx)
        for pending in (ctx.memo(_SYS_PATHS), ctx.memo(_SCRIPT_DEPENDENCIES)):
            if pending:
                found = [*(found or ()), *pending]
                pending.clear()  # said once per module
        cache[key] = found
    result: list[Mark] | None = cache[key]
    return result


_DOTTED = re.compile(r"[\"']([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)[\"']")
_WORD = re.compile(r"[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']")
_DRIVER = re.compile(r"[\"'][a-z][a-z0-9]*\+([a-z][a-z0-9_]*)://")
_DYNAMIC_IMPORT = re.compile(r"(?:import_module|__import__)\(\s*[\"']([A-Za-z_][\w.]*)[\"']")
_SETTINGS_WORDS = ("INSTALLED_APPS", "MIDDLEWARE")


def collect_strings(node: Any, ctx: Any) -> list[Mark] | None:
    """Modules named in strings: Django ``INSTALLED_APPS``/``MIDDLEWARE`` entries and backend
    paths, ``importlib.import_module("x")``, SQLAlchemy URL drivers (``postgresql+psycopg://``):
    a dependency used this way is not imported anywhere, yet it is used. Marks of kind
    ``str``, named by the module."""
    if not isinstance(node, ast.Module):
        return None
    if ctx.facts.is_test:
        return None  # tests import what they use; their strings are mostly test data
    return list(ctx.memo(_STRINGS)) or None


def strings_and_guards(node: Any, ctx: Any) -> list[Mark] | None:
    """``collect_strings`` at the module's end, ``shared_guards`` at imports and the
    statements that guard them: for a rule that needs both (DEP011)."""
    if isinstance(node, ast.Module):
        return collect_strings(node, ctx)
    return shared_guards(node, ctx)


def _strings(source: str) -> list[Mark]:
    first: dict[str, int] = {}

    def add(name: str, position: int) -> None:
        named = import_name(name)
        if named not in first and named.split(".", 1)[0] not in STDLIB:
            first[named] = position

    for pattern in (_DOTTED, _DRIVER, _DYNAMIC_IMPORT):
        for match in pattern.finditer(source):
            add(match.group(1), match.start())
    if any(word in source for word in _SETTINGS_WORDS):
        for match in _WORD.finditer(source):
            add(match.group(1), match.start())
    if not first:
        return []
    found: list[Mark] = []
    line, offset = 1, 0
    for name, position in sorted(first.items(), key=lambda item: item[1]):
        line += source.count("\n", offset, position)
        offset = position
        found.append(Mark(name, line, "str"))
    return found


# -- the project's view of its dependencies -----------------------------------------------------

_NOT_RUNTIME_DIRS = frozenset(
    {"examples", "example", "samples", "sample", "demo", "demos", "benchmarks", "benchmark"}
    | {"bench", "playground", "sandbox", "scripts", "script", "tools", "bin", "docs", "doc"}
    | {"docs_src", "ci", ".github", "tests", "test", "testing", "e2e", "fixtures", "contrib"}
    | {"utils_dev", "dev", "devtools", "notebooks", "extras", "vendor", "vendored", "_vendor"}
)
_NOT_RUNTIME_FILES = frozenset(
    {"setup.py", "noxfile.py", "fabfile.py", "conftest.py", "dodo.py", "conf.py", "hatch_build.py"}
    | {"pdm_build.py", "build_backend.py", "_build.py"}
)


@dataclass(slots=True)
class ProjectView:
    """The inventory with project scopes: a manifest declares for the code under its project
    directory (nested projects -- a monorepo's services, a library's examples -- have their own)."""

    inventory: Inventory
    resolver: Resolver
    scopes: list[str]  # project directories, deepest first ("" is the scan root)
    declaring: list[str]  # manifests that declare (lock files excluded)
    by_scope: dict[str, list[Declaration]] = field(default_factory=dict)
    # What the questions of ``prodready.deps.provenance`` found, by question and scope.
    memo: dict[tuple[str, str], Any] = field(default_factory=dict)

    def scope_of(self, path: str) -> str | None:
        for scope in self.scopes:
            if not scope or path.startswith(scope + "/"):
                return scope
        return None

    def relative(self, path: str) -> str:
        """``path`` relative to the outermost project that holds it (the scan root may be
        above the project: ``prodready deps vendor/lib`` from a parent directory)."""
        scope = self.scope_of(path)
        if scope is None:
            return path
        outer = list(self.chain(scope))[-1]
        return path[len(outer) + 1 :] if outer else path

    def chain(self, scope: str) -> Iterator[str]:
        """The scope and its ancestor scopes."""
        for candidate in self.scopes:
            if not candidate or scope == candidate or scope.startswith(candidate + "/"):
                yield candidate

    def declarations(self, scope: str, names: Iterable[str]) -> list[Declaration]:
        wanted = set(names)
        found: list[Declaration] = []
        for candidate in self.chain(scope):
            found.extend(d for d in self.by_scope.get(candidate, []) if d.name in wanted)
        return found


def project_view(project: ProjectFacts, ctx: ProjectContext) -> ProjectView:
    def build() -> ProjectView:
        built = inventory(project, ctx)
        manifests = built.manifests
        resolver = Resolver(manifests, _top_levels(project))
        declaring = [f for f in manifests.files if not is_lock_file(f)]
        scopes = {project_dir(f) for f in manifests.files}
        by_scope: dict[str, list[Declaration]] = {}
        for declaration in manifests.declarations:
            by_scope.setdefault(project_dir(declaration.path), []).append(declaration)
        ordered = sorted(scopes, key=lambda s: (-len(PurePosixPath(s).parts) if s else 0, s))
        return ProjectView(built, resolver, ordered, declaring, by_scope)

    view: ProjectView = project.memo("deps:declared-view", build)
    inventory(project, ctx)  # publishes the inventory and notes for this rule too
    return view


_METADATA_NAMES = frozenset({"pyproject.toml", "setup.py", "setup.cfg"})


def is_library(view: ProjectView, ctx: ProjectContext, scope: str) -> bool:
    """A library (by profile, or: package metadata and neither a runtime requirements file, a
    Pipfile nor a lock file -- applications deploy from those)."""
    declared = ctx.profile.project_type
    if declared in {"library", "application"}:
        return declared == "library"
    files = [f for f in view.inventory.manifests.files if project_dir(f) == scope]
    if not any(PurePosixPath(f).name in _METADATA_NAMES for f in files):
        return False
    if any(is_lock_file(f) or PurePosixPath(f).name == "Pipfile" for f in files):
        return False
    return not any(
        d.group == "runtime" and d.path.endswith(".txt") for d in view.by_scope.get(scope, [])
    )


def _top_levels(project: ProjectFacts) -> set[str]:
    return module_top_levels(project.modules)


def guard_marks(project: ProjectFacts, code: str) -> dict[tuple[str, int], set[str]]:
    """``(path, line)`` -> the kinds of guard recorded there (``guarded``, ``lazy``...)."""
    found: dict[tuple[str, int], set[str]] = {}
    for item in project.evidence(code, include_tests=True):
        found.setdefault((item.path, item.line), set()).add(item.kind)
    return found


def in_runtime_code(view: ProjectView, path: str, facts: ModuleRecord | None) -> bool:
    """Service code: not tests, docs, examples, scripts or tools of its project. The engine's
    roles judge the path in the scanned project (a developer CLI under a top-level ``dev/``
    is a script even where a settings-only pyproject.toml or an empty uv.lock makes
    ``dev/cli`` a project of its own); the directories below also count in nested projects."""
    if facts is None or facts.is_test or facts.is_example or not is_service_code(path):
        return False
    parts = PurePosixPath(view.relative(path).lower()).parts
    if not parts or parts[-1] in _NOT_RUNTIME_FILES:
        return False
    return not any(part in _NOT_RUNTIME_DIRS for part in parts[:-1])


def aside(view: ProjectView, scope: str) -> bool:
    """A nested project under its parent's examples, docs, tests or tools directory."""
    outer = list(view.chain(scope))[-1] if scope else ""
    rest = scope[len(outer) :].strip("/") if outer else scope
    return any(part in _NOT_RUNTIME_DIRS for part in PurePosixPath(rest.lower()).parts)


def location(declaration: Declaration | Locked) -> str:
    return f"{declaration.path}:{declaration.line}"


# Distributions that come with another: importing the child while declaring the parent is how
# these libraries are used (their versions move together).
COMPANIONS: dict[str, frozenset[str]] = {
    name: frozenset(parents)
    for name, parents in {
        "botocore": {"boto3", "aiobotocore", "s3transfer", "awscli", "aioboto3"},
        "s3transfer": {"boto3"},
        "werkzeug": {"flask", "quart"},
        "jinja2": {"flask", "quart", "sphinx"},
        "itsdangerous": {"flask", "quart"},
        "click": {"flask", "celery", "uvicorn", "typer", "black"},
        "blinker": {"flask", "quart"},
        "markupsafe": {"flask", "jinja2", "werkzeug", "mako"},
        "starlette": {"fastapi", "sse-starlette"},
        "pydantic": {"fastapi", "sqlmodel", "pydantic-settings", "litestar"},
        "pydantic-core": {"pydantic"},
        "annotated-types": {"pydantic"},
        "typing-extensions": {"pydantic", "fastapi", "sqlalchemy", "starlette", "anyio"},
        "sqlalchemy": {"flask-sqlalchemy", "sqlmodel", "alembic"},
        "anyio": {"httpx", "starlette", "fastapi", "openai", "anthropic"},
        "httpcore": {"httpx"},
        "h11": {"httpx", "httpcore", "uvicorn"},
        "sniffio": {"httpx", "anyio"},
        "idna": {"requests", "httpx", "yarl", "anyio"},
        "certifi": {"requests", "httpx", "urllib3"},
        "urllib3": {"requests", "botocore", "boto3", "elasticsearch"},
        "charset-normalizer": {"requests"},
        "kombu": {"celery"},
        "billiard": {"celery"},
        "vine": {"celery", "kombu"},
        "amqp": {"celery", "kombu"},
        "asgiref": {"django", "channels"},
        "sqlparse": {"django"},
        "multidict": {"aiohttp", "yarl"},
        "yarl": {"aiohttp"},
        "aiosignal": {"aiohttp"},
        "frozenlist": {"aiohttp"},
        "attrs": {"aiohttp", "jsonschema", "cattrs"},
        "redis": {"celery", "django-redis", "rq", "channels-redis"},
        "cryptography": {"pyjwt", "paramiko", "pyopenssl", "authlib", "python-jose"},
        "mako": {"alembic"},
        "greenlet": {"sqlalchemy", "gevent", "playwright"},
        "python-dateutil": {"pandas", "botocore", "boto3", "arrow", "celery"},
        "pytz": {"pandas", "celery", "babel", "django"},
        "numpy": {"pandas", "scipy", "scikit-learn", "torch", "opencv-python", "matplotlib"},
        "six": {"python-dateutil"},
        "websockets": {"uvicorn"},
        "uvicorn": {"fastapi"},
        "httpx": {"fastapi", "openai", "anthropic", "starlette"},
        "python-multipart": {"fastapi"},
        "email-validator": {"pydantic", "fastapi"},
        "protobuf": {"grpcio-tools", "google-api-core", "googleapis-common-protos"},
        "google-auth": {"google-api-core", "google-api-python-client"},
        "google-api-core": {"google-api-python-client"},
        "googleapis-common-protos": {"google-api-core", "grpcio-status"},
        "psycopg-binary": {"psycopg"},
        "psycopg-pool": {"psycopg"},
        "aiohappyeyeballs": {"aiohttp"},
        "rich": {"typer"},
        "marshmallow": {"flask-marshmallow", "marshmallow-sqlalchemy"},
        "opentelemetry-api": {"opentelemetry-sdk"},
        "opentelemetry-semantic-conventions": {"opentelemetry-sdk"},
        "pyasn1": {"rsa", "python-jose", "ldap3"},
        "tzdata": {"pandas", "django"},
        "grpcio": {"grpcio-tools", "grpcio-status", "grpcio-health-checking"},
    }.items()
}
_COMPANION_PREFIXES = {
    "google-": ("google-cloud-",),
    "opentelemetry-": ("opentelemetry-",),
    "azure-core": ("azure-",),
    "azure-identity": ("azure-",),
}


class Declared:
    """The distributions declared together (one scope), indexed once so that asking about each
    of them costs the same however many there are: rebuilding or scanning the set per
    declaration made DEP011 quadratic (20,000 dependencies: over a minute)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        # Two per prefix suffice: ``name`` itself may be one of them.
        self._with_prefix = {
            prefixes: sorted(other for other in self.names if other.startswith(prefixes))[:2]
            for prefixes in set(_COMPANION_PREFIXES.values())
        }

    def comes_with(self, name: str) -> str | None:
        """A declared distribution that brings ``name`` along, if any."""
        found = set(COMPANIONS.get(name, frozenset()) & self.names)
        for prefix, parent_prefixes in _COMPANION_PREFIXES.items():
            if name.startswith(prefix):
                found.update(self._with_prefix[parent_prefixes])
        found.discard(name)
        return min(found) if found else None


# -- DEP010 -------------------------------------------------------------------------------------


def optional_in_module(project: ProjectFacts, code: str) -> dict[str, set[str]]:
    """Per file, the import names it imports optionally somewhere (``try: import MySQLdb /
    except ImportError: raise ImproperlyConfigured(...)``, then ``from MySQLdb.constants import
    ...``): every import of that name in the file follows that decision."""
    found: dict[str, set[str]] = {}
    for item in project.evidence(code, include_tests=True):
        if item.kind in {"guarded", "conditional", "typing"} and item.name:
            found.setdefault(item.path, set()).add(import_name(item.name))
    return found


# -- DEP011 / DEP012 ----------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    runtime: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> first use
    tests: dict[str, tuple[str, int]] = field(default_factory=dict)
    other: set[str] = field(default_factory=set)  # examples, docs, scripts


def usage_of(project: ProjectFacts, view: ProjectView, code: str) -> Usage:
    """Which distributions the code uses (imports and module names in strings), and where."""
    usage = Usage()

    def record(names: Iterable[str], path: str, line: int) -> None:
        facts = project.modules.get(path)
        for name in names:
            if facts is not None and facts.is_test:
                usage.tests.setdefault(name, (path, line))
            elif facts is not None and facts.is_example:
                usage.other.add(name)
            else:
                usage.runtime.setdefault(name, (path, line))

    for use in view.inventory.imports:
        if use.origin in {"stdlib", "first-party"}:
            continue
        record(view.resolver.candidates(use.module), use.path, use.line)
    for item in project.evidence(code, include_tests=True):
        if item.kind == "str":
            record(view.resolver.candidates(item.name), item.path, item.line)
    return usage


def runtime_declarations(
    view: ProjectView, root: Path
) -> list[tuple[tuple[str, str], Declaration]]:
    """The first runtime declaration of each distribution per project scope, outside generated
    (pip-compile) files and example projects."""
    generated: dict[str, bool] = {}
    found: dict[tuple[str, str], Declaration] = {}
    for scope, declarations in view.by_scope.items():
        if aside(view, scope):
            continue
        for declaration in declarations:
            if declaration.group != "runtime" or is_lock_file(declaration.path):
                continue
            if declaration.path not in generated:
                generated[declaration.path] = is_generated(root, declaration.path)
            if generated[declaration.path]:
                continue
            found.setdefault((scope, declaration.name), declaration)
    return sorted(found.items(), key=lambda item: (item[1].path, item[1].line))


# -- DEP013 -------------------------------------------------------------------------------------


def parse_specifier(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def parse_release(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


# -- DEP014 -------------------------------------------------------------------------------------


# -- DEP015 -------------------------------------------------------------------------------------


# -- DEP016 -------------------------------------------------------------------------------------


def _has_guard_words(ctx: PythonContext) -> bool:
    return any(word in ctx.source for word in _GUARD_WORDS)


def _module_strings(ctx: PythonContext) -> list[Mark]:
    return _strings(ctx.source)


def _no_guards(ctx: PythonContext) -> dict[int, list[Mark] | None]:
    return {}


# Per-module values the collectors above share: whether any guard word occurs at all, the guards
# found per node (both DEP rules ask), and the module names in strings.
_HAS_GUARD_WORDS: ModuleMemo[bool] = ModuleMemo("deps:guard-words", _has_guard_words)
_GUARDS: ModuleMemo[dict[int, list[Mark] | None]] = ModuleMemo("deps:guards", _no_guards)
_STRINGS: ModuleMemo[list[Mark]] = ModuleMemo("deps:strings", _module_strings)


def _module_sys_paths(ctx: PythonContext) -> list[Mark]:
    return sys_path_marks(ctx.source, ctx.tree)


_SYS_PATHS: ModuleMemo[list[Mark]] = ModuleMemo("deps:sys-paths", _module_sys_paths)


def _module_script_dependencies(ctx: PythonContext) -> list[Mark]:
    return inline_script_dependencies(ctx.source)


_SCRIPT_DEPENDENCIES: ModuleMemo[list[Mark]] = ModuleMemo(
    "deps:script-dependencies", _module_script_dependencies
)
