"""Rules over what the project declares versus what its code imports: undeclared imports,
unused and misplaced dependencies, conflicting pins, Python version, unreadable manifests."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from prodready.deps.imports import STDLIB, Resolver, display_name, import_name
from prodready.deps.inventory import Inventory, inventory
from prodready.deps.manifests import is_generated, is_lock_file, project_dir
from prodready.deps.model import Declaration, ImportUse, Locked
from prodready.engine.facts import SERVICE_FRAMEWORKS, SYNTAX_VERSIONS
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.engine.python import ModuleEnd
from prodready.engine.registry import project_rule
from prodready.model import Category, Confidence, Severity

# -- evidence collected during the walk ---------------------------------------------------------

_IMPORT_ERRORS = ("ImportError", "ModuleNotFoundError", "Exception", "BaseException")
_GUARD_WORDS = ("TYPE_CHECKING", "version_info", "platform", "os.name", "sys.implementation")
# Standard library modules newer than some supported Pythons.
VERSIONED_STDLIB: dict[str, tuple[int, int]] = {
    "tomllib": (3, 11),
    "zoneinfo": (3, 9),
    "graphlib": (3, 9),
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


def _collect_guards(node: Any, ctx: Any) -> list[tuple[str, int]] | None:
    """Imports that are not hard requirements: inside ``try`` with an ``except ImportError``
    (or in its handler, a fallback), under ``if TYPE_CHECKING``/version or platform checks
    (``typing:``/``conditional:``), or inside a function (``lazy:``, loaded on first use)."""
    if isinstance(node, ast.If):
        state = ctx.module_state
        words = state.get("deps:guard-words")
        if words is None:
            words = state["deps:guard-words"] = any(w in ctx.source for w in _GUARD_WORDS)
        if not words:
            return None
        kind = _guard_kind(node.test)
        if kind is None:
            return None
        found: list[tuple[str, int]] = []
        for statement in [*node.body, *node.orelse]:
            for child in ast.walk(statement):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    found.extend(
                        (f"{kind}:{m}", child.lineno) for m in _imported(child) if _interesting(m)
                    )
        return found
    if isinstance(node, ast.Try):
        # ``try: import a / except ImportError: ... / else: import b``: b is optional too.
        if not node.orelse or not any(_catches_import_error(h) for h in node.handlers):
            return None
        return [
            (f"guarded:{m}", child.lineno)
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
        return [(f"guarded:{m}", node.lineno) for m in modules]
    if ctx.function is not None:
        return [(f"lazy:{m}", node.lineno) for m in modules]
    return None


_GENERIC_TYPE_NODES: tuple[type, ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TYPE_ALIAS: tuple[type, ...] = (ast.TypeAlias,) if hasattr(ast, "TypeAlias") else ()


def _collect_versions(node: Any, ctx: Any) -> list[tuple[str, int]] | None:
    """Guards (as ``_collect_guards``) plus syntax the engine's facts do not record: PEP 695
    type parameters and ``type`` aliases (3.12)."""
    if isinstance(node, _GENERIC_TYPE_NODES):
        if getattr(node, "type_params", None):
            return [("syntax:type-parameters", int(getattr(node, "lineno", 1)))]
        return None
    if _TYPE_ALIAS and isinstance(node, _TYPE_ALIAS):
        return [("syntax:type-alias", int(getattr(node, "lineno", 1)))]
    return _shared_guards(node, ctx)


def _shared_guards(node: Any, ctx: Any) -> list[tuple[str, int]] | None:
    """``_collect_guards`` computed once per node for the rules that both need it."""
    cache = ctx.module_state.setdefault("deps:guards", {})
    key = id(node)
    if key not in cache:
        cache[key] = _collect_guards(node, ctx)
    found: list[tuple[str, int]] | None = cache[key]
    return found


_DOTTED = re.compile(r"[\"']([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)[\"']")
_WORD = re.compile(r"[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']")
_DRIVER = re.compile(r"[\"'][a-z][a-z0-9]*\+([a-z][a-z0-9_]*)://")
_DYNAMIC_IMPORT = re.compile(r"(?:import_module|__import__)\(\s*[\"']([A-Za-z_][\w.]*)[\"']")
_SETTINGS_WORDS = ("INSTALLED_APPS", "MIDDLEWARE")


def _collect_strings(node: Any, ctx: Any) -> list[tuple[str, int]] | None:
    """Modules named in strings: Django ``INSTALLED_APPS``/``MIDDLEWARE`` entries and backend
    paths, ``importlib.import_module("x")``, SQLAlchemy URL drivers (``postgresql+psycopg://``):
    a dependency used this way is not imported anywhere, yet it is used."""
    if not isinstance(node, ast.Module):
        return None
    if ctx.facts.is_test:
        return None  # tests import what they use; their strings are mostly test data
    cached = ctx.module_state.get("deps:strings")
    if cached is None:
        cached = ctx.module_state["deps:strings"] = _strings(ctx.source)
    return list(cached) or None


def _strings(source: str) -> list[tuple[str, int]]:
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
    found: list[tuple[str, int]] = []
    line, offset = 1, 0
    for name, position in sorted(first.items(), key=lambda item: item[1]):
        line += source.count("\n", offset, position)
        offset = position
        found.append((f"str:{name}", line))
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
class _View:
    """The inventory with project scopes: a manifest declares for the code under its project
    directory (nested projects -- a monorepo's services, a library's examples -- have their own)."""

    inventory: Inventory
    resolver: Resolver
    scopes: list[str]  # project directories, deepest first ("" is the scan root)
    declaring: list[str]  # manifests that declare (lock files excluded)
    by_scope: dict[str, list[Declaration]] = field(default_factory=dict)

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


def _view(project: ProjectFacts, ctx: ProjectContext) -> _View:
    def build() -> _View:
        built = inventory(project, ctx)
        manifests = built.manifests
        resolver = Resolver(manifests, _top_levels(project))
        declaring = [f for f in manifests.files if not is_lock_file(f)]
        scopes = {project_dir(f) for f in manifests.files}
        by_scope: dict[str, list[Declaration]] = {}
        for declaration in manifests.declarations:
            by_scope.setdefault(project_dir(declaration.path), []).append(declaration)
        ordered = sorted(scopes, key=lambda s: (-len(PurePosixPath(s).parts) if s else 0, s))
        return _View(built, resolver, ordered, declaring, by_scope)

    view: _View = project.memo("deps:declared-view", build)
    inventory(project, ctx)  # publishes the inventory and notes for this rule too
    return view


_METADATA_NAMES = frozenset({"pyproject.toml", "setup.py", "setup.cfg"})


def _is_library(view: _View, ctx: ProjectContext, scope: str) -> bool:
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


def _reachable(
    project: ProjectFacts,
    view: _View,
    scope: str,
    marks: dict[tuple[str, int], set[str]],
) -> set[str]:
    """The modules of a library that importing it loads: from its top-level packages (and any
    module that serves routes or builds on a service framework), through module-level imports
    that are not optional. Backends and integrations loaded on demand are not in it."""
    names: dict[str, str] = {}
    for path in project.modules:
        if view.scope_of(path) != scope or not path.endswith(".py"):
            continue
        rel = path[len(scope) + 1 :] if scope else path
        parts = rel[:-3].split("/")
        if len(parts) > 1 and parts[0] in {"src", "lib"}:
            parts = parts[1:]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names[".".join(parts)] = path
    first_party = view.inventory.manifests.first_party
    queue = [path for name, path in names.items() if "." not in name and name in first_party]
    for path in names.values():
        facts = project.modules[path]
        if facts.get("is_test") or facts.get("is_example"):
            continue
        foreign = set(facts.get("frameworks", [])) - first_party
        if facts.get("routes") or (foreign & SERVICE_FRAMEWORKS):
            queue.append(path)
    module_of = {path: name for name, path in names.items()}
    reached: set[str] = set()
    while queue:
        path = queue.pop()
        if path in reached:
            continue
        reached.add(path)
        current = module_of.get(path, "")
        is_package = path.endswith("__init__.py")
        for item in project.modules[path].get("imports", []):
            line = int(item.get("line", 0))
            if marks.get((path, line), set()) & {"lazy", "guarded", "typing", "conditional"}:
                continue
            target = _absolute(str(item.get("module", "")), current, is_package)
            pieces = target.split(".")
            for end in range(1, len(pieces) + 1):
                found = names.get(".".join(pieces[:end]))
                if found is not None and found not in reached:
                    queue.append(found)
    return reached


def _absolute(module: str, current: str, is_package: bool) -> str:
    if not module.startswith("."):
        return module
    level = len(module) - len(module.lstrip("."))
    package = current.split(".") if current else []
    if not is_package and package:
        package = package[:-1]
    if level > 1:
        package = package[: -(level - 1)] if level - 1 <= len(package) else []
    rest = module.lstrip(".")
    return ".".join([*package, rest] if rest else package)


def _top_levels(project: ProjectFacts) -> set[str]:
    names: set[str] = set()
    for facts in project.modules.values():
        module = facts.get("module")
        if isinstance(module, str) and module:
            names.add(module.split(".", 1)[0])
    return names


def _marks(project: ProjectFacts, code: str) -> dict[tuple[str, int], set[str]]:
    """``(path, line)`` -> the kinds of guard recorded there (``guarded``, ``lazy``...)."""
    found: dict[tuple[str, int], set[str]] = {}
    for item in project.evidence(code, include_tests=True):
        kind = item.name.split(":", 1)[0]
        found.setdefault((item.path, item.line), set()).add(kind)
    return found


def _in_runtime_code(view: _View, path: str, facts: dict[str, Any] | None) -> bool:
    """Service code: not tests, docs, examples, scripts or tools of its project."""
    if facts is None or facts.get("is_test") or facts.get("is_example"):
        return False
    parts = PurePosixPath(view.relative(path).lower()).parts
    if not parts or parts[-1] in _NOT_RUNTIME_FILES:
        return False
    return not any(part in _NOT_RUNTIME_DIRS for part in parts[:-1])


def _aside(view: _View, scope: str) -> bool:
    """A nested project under its parent's examples, docs, tests or tools directory."""
    outer = list(view.chain(scope))[-1] if scope else ""
    rest = scope[len(outer) :].strip("/") if outer else scope
    return any(part in _NOT_RUNTIME_DIRS for part in PurePosixPath(rest.lower()).parts)


def _where(declaration: Declaration | Locked) -> str:
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


class _Declared:
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

_MANIFEST_NAMES = ("pyproject.toml", "setup.py", "setup.cfg", "Pipfile")


def _manifest_above(root: Path) -> bool:
    """A manifest in the scan root or a directory above it that discovery did not see (a scan
    of ``src/`` only): the project's declarations are out of view, so nothing can be judged.
    The walk up stops at the repository root (``.git``)."""
    try:
        directory = root.resolve()
    except OSError:
        return True
    for parent in (directory, *directory.parents):
        try:
            if any((parent / name).is_file() for name in _MANIFEST_NAMES) or any(
                parent.glob("requirements*.txt")
            ):
                return True
            if (parent / ".git").exists():
                return False
        except OSError:
            return True
    return False


@project_rule(
    nodes=(ast.Import, ast.ImportFrom, ast.If, ast.Try),
    collect=_shared_guards,
    code="DEP010",
    name="undeclared-import",
    category=Category.DEPENDENCIES,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    summary="Runtime code imports a third-party package that no runtime manifest declares",
    fix="Declare the distribution in the runtime dependencies (requirements.txt / pyproject).",
)
def undeclared_import(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Maps every import of service code to the distribution that provides it (the standard
    library, the project's own modules, declared distributions, installed ones, a table of
    well-known mismatches such as `yaml` -> PyYAML, `jwt` -> PyJWT, `PIL` -> Pillow) and
    flags third-party imports that no runtime manifest of the project declares -- including
    distributions declared only for development or tests. Optional imports (inside
    `try/except ImportError`, under `if TYPE_CHECKING` or a version/platform check), tests,
    examples, docs and scripts are not checked; an import that comes with a declared
    distribution (`botocore` with `boto3`, `starlette` with `fastapi`) is accepted. A project
    with no manifest at all is reported once, at its first third-party import.

    ## Why it breaks production
    It works on the developer's machine because the package happens to be installed there
    (or in the dev requirements); the image built from the manifest does not have it, and the
    service dies at start-up -- or, for an import inside a function, on the first request that
    reaches it -- with `ModuleNotFoundError`. A name that maps to no known distribution may
    also be a hallucinated package that an attacker can register.

    ## Example
    ```python
    # requirements.txt: fastapi==0.111.0
    import jwt          # PyJWT is declared nowhere

    def verify(token: str) -> dict:
        return jwt.decode(token, KEY, algorithms=["HS256"])
    ```

    ## Use instead
    ```text
    # requirements.txt
    fastapi==0.111.0
    PyJWT==2.8.0
    ```
    """
    view = _view(project, ctx)
    manifests = view.inventory.manifests
    if not view.declaring:
        _no_manifest(project, ctx, view)
        return
    if not manifests.complete:
        return
    marks = _marks(project, "DEP010")
    optional = _optional_in_module(project, "DEP010")
    libraries: dict[str, set[str] | None] = {}
    runtime_in: dict[str, _Declared] = {}
    reported: set[tuple[str, str]] = set()
    for use in view.inventory.imports:
        if use.origin in {"stdlib", "first-party"} or use.distribution is None:
            continue
        if not _in_runtime_code(view, use.path, project.modules.get(use.path)):
            continue
        kinds = marks.get((use.path, use.line), set())
        if kinds & {"guarded", "typing", "conditional"} or use.module in optional.get(use.path, ()):
            continue
        scope = view.scope_of(use.path)
        if scope is None:
            continue
        if scope not in libraries:
            library = _is_library(view, ctx, scope)
            libraries[scope] = _reachable(project, view, scope, marks) if library else None
        reachable = libraries[scope]
        if reachable is not None and ("lazy" in kinds or use.path not in reachable):
            continue  # a library's optional integration, loaded on demand
        candidates = view.resolver.candidates(use.module) or [use.distribution]
        declared = view.declarations(scope, candidates)
        if any(d.runtime for d in declared):
            continue
        if scope not in runtime_in:
            runtime_in[scope] = _Declared(
                d.name for s in view.chain(scope) for d in view.by_scope.get(s, []) if d.runtime
            )
        if runtime_in[scope].comes_with(use.distribution) is not None:
            continue
        known = view.inventory.dependencies.get(use.distribution)
        if known is not None and known.index is not None and known.index.exists is False:
            continue  # a name the index does not know: the existence rule reports it (critical)
        key = (use.path, use.distribution)
        if key in reported:
            continue
        reported.add(key)
        _report_undeclared(ctx, view, use, scope, declared, lazy="lazy" in kinds)


def _optional_in_module(project: ProjectFacts, code: str) -> dict[str, set[str]]:
    """Per file, the import names it imports optionally somewhere (``try: import MySQLdb /
    except ImportError: raise ImproperlyConfigured(...)``, then ``from MySQLdb.constants import
    ...``): every import of that name in the file follows that decision."""
    found: dict[str, set[str]] = {}
    for item in project.evidence(code, include_tests=True):
        kind, _, module = item.name.partition(":")
        if kind in {"guarded", "conditional", "typing"} and module:
            found.setdefault(item.path, set()).add(import_name(module))
    return found


def _report_undeclared(
    ctx: ProjectContext,
    view: _View,
    use: ImportUse,
    scope: str,
    declared: list[Declaration],
    *,
    lazy: bool,
) -> None:
    assert use.distribution is not None
    name = display_name(use.distribution)
    when = "on the first call that reaches this import" if lazy else "when this module is imported"
    if declared:
        first = declared[0]
        message = (
            f"`{use.module}` comes from `{name}`, which is declared only for {first.group} "
            f"({_where(first)}): production installs the runtime dependencies without it and "
            f"this code fails with ModuleNotFoundError {when}; move it to the runtime "
            "dependencies"
        )
    else:
        target = _runtime_manifest(view, scope)
        if use.origin == "unknown":
            message = (
                f"`{use.module}` is imported here but no declared distribution provides it: "
                f"production fails with ModuleNotFoundError {when}; declare the distribution "
                f"that provides `{use.module}` in {target} (`{name}` if that is its name on "
                "the package index -- check it is the real package, not a guess)"
            )
        else:
            message = (
                f"`{use.module}` is imported here but `{name}` is not declared in {target}: "
                "it only works where it happens to be installed, production fails with "
                f"ModuleNotFoundError {when}; add `{name}` to {target}"
            )
    confidence = Confidence.MEDIUM if lazy or use.origin == "unknown" else None
    ctx.report(use.path, use.line, message, confidence=confidence)


def _runtime_manifest(view: _View, scope: str) -> str:
    runtime = [
        d.path for s in view.chain(scope) for d in view.by_scope.get(s, []) if d.group == "runtime"
    ]
    if runtime:
        return runtime[0]
    for path in view.declaring:
        if project_dir(path) == scope:
            return path
    return "the project's runtime dependencies"


def _no_manifest(project: ProjectFacts, ctx: ProjectContext, view: _View) -> None:
    """No manifest at all: one finding (low confidence) at the first third-party import of
    service code -- unless the scan covers only part of a project whose manifests are above."""
    if _manifest_above(project.root):
        return
    marks = _marks(project, "DEP010")
    uses = [
        use
        for use in view.inventory.imports
        if use.origin not in {"stdlib", "first-party"}
        and use.distribution is not None
        and _in_runtime_code(view, use.path, project.modules.get(use.path))
        and not marks.get((use.path, use.line), set()) & {"guarded", "typing", "conditional"}
    ]
    if not uses:
        return
    names = sorted({display_name(use.distribution or "") for use in uses})
    shown = ", ".join(f"`{n}`" for n in names[:6]) + (", ..." if len(names) > 6 else "")
    first = uses[0]
    ctx.report(
        first.path,
        first.line,
        f"the project declares no dependencies (no requirements.txt, pyproject.toml, setup.cfg "
        f"or Pipfile) but imports {len(names)} third-party distribution(s) ({shown}): what "
        "production installs is decided by hand and nothing can be checked or reproduced; "
        "declare them, pinned, in requirements.txt or pyproject.toml",
        confidence=Confidence.LOW,
    )


# -- DEP011 / DEP012 ----------------------------------------------------------------------------

# Used without an import: servers, drivers loaded from URLs or settings, backends of other
# libraries, plugins, CLI tools, build backends.
_USED_WITHOUT_IMPORT = frozenset(
    # servers and workers, started from the command line
    {"gunicorn", "uvicorn", "hypercorn", "daphne", "waitress", "uwsgi", "granian", "gevent"}
    | {"eventlet", "meinheld", "bjoern", "uvloop", "httptools", "watchfiles", "websockets"}
    | {"gevent-websocket", "flower", "supervisor", "honcho", "setproctitle", "channels"}
    # database and cache drivers, loaded from a URL or a settings string
    | {"psycopg2", "psycopg2-binary", "psycopg", "psycopg-binary", "psycopg-c", "psycopg-pool"}
    | {"asyncpg", "aiosqlite", "pymysql", "mysqlclient", "aiomysql", "asyncmy", "cx-oracle"}
    | {"oracledb", "pyodbc", "pymssql", "mysql-connector-python", "pg8000", "psycopg2cffi"}
    | {"mariadb", "hiredis", "pylibmc", "pymemcache", "python-memcached", "librabbitmq"}
    # backends that frameworks load when installed
    | {"python-multipart", "email-validator", "python-dotenv", "brotli", "brotlicffi"}
    | {"zstandard", "certifi", "tzdata", "cryptography", "bcrypt", "argon2-cffi", "pillow"}
    | {"greenlet", "whitenoise", "tomli", "exceptiongroup", "backports-zoneinfo", "colorama"}
    | {"typing-extensions", "importlib-metadata", "importlib-resources", "six", "pywin32"}
    | {"dataclasses", "futures", "enum34"}
    # agents, CLIs, build backends, development tools
    | {"alembic", "newrelic", "ddtrace", "opentelemetry-distro", "pip", "setuptools", "wheel"}
    | {"pip-tools", "uv", "cython", "hatchling", "flit-core", "poetry-core", "pdm-backend"}
    | {"maturin", "setuptools-scm", "scikit-build", "meson-python", "mypy", "ruff", "black"}
    | {"flake8", "isort", "pylint", "pre-commit", "tox", "nox", "coverage", "ipython", "ipdb"}
    | {"jupyter", "notebook", "watchdog"}
)
# Used without an import when another declared distribution needs it: engines of pandas,
# backends of django-storages, brokers of Celery, extras of web frameworks.
_ENABLED_BY: dict[str, frozenset[str]] = {
    name: frozenset(parents)
    for name, parents in {
        "redis": {"celery", "django", "django-redis", "rq", "channels-redis", "flask-caching"}
        | {"flask-limiter", "fastapi-limiter", "dramatiq", "huey", "arq", "kombu"},
        "boto3": {"django-storages", "s3fs", "smart-open", "celery", "kombu", "dvc"},
        "google-cloud-storage": {"django-storages", "gcsfs", "smart-open"},
        "azure-storage-blob": {"django-storages", "adlfs", "smart-open"},
        "pyjwt": {"djangorestframework-simplejwt", "flask-jwt-extended", "fastapi-users"},
        "pyyaml": {"uvicorn", "celery", "fastapi"},
        "jinja2": {"fastapi", "starlette", "flask", "quart", "litestar", "aiohttp-jinja2"},
        "itsdangerous": {"fastapi", "starlette", "flask"},
        "orjson": {"fastapi", "starlette", "litestar", "structlog"},
        "ujson": {"fastapi", "starlette"},
        "openpyxl": {"pandas", "polars", "dask"},
        "xlrd": {"pandas"},
        "xlsxwriter": {"pandas", "polars"},
        "pyarrow": {"pandas", "polars", "dask"},
        "fastparquet": {"pandas", "dask"},
        "tables": {"pandas"},
        "odfpy": {"pandas"},
        "tabulate": {"pandas"},
        "lxml": {"pandas", "beautifulsoup4", "zeep"},
        "html5lib": {"pandas", "beautifulsoup4"},
        "fsspec": {"pandas", "dask", "polars", "xarray"},
        "s3fs": {"pandas", "dask", "polars", "xarray"},
        "gcsfs": {"pandas", "dask", "polars"},
        "adlfs": {"pandas", "dask", "polars"},
        "sqlalchemy": {"pandas", "alembic"},
        "kombu": {"celery"},
        "celery": {"django-celery-beat", "django-celery-results", "flower"},
    }.items()
}
_USED_WITHOUT_IMPORT_PREFIXES = (
    "types-",
    "django-",
    "dj-",
    "djangorestframework",
    "drf-",
    "pytest",
    "flake8-",
    "mypy-",
    "sphinx",
    "mkdocs",
    "opentelemetry-instrumentation",
    "opentelemetry-exporter",
    "uvicorn-",
    "gunicorn-",
    "celery-",
    "sqlalchemy-",
    "pre-commit",
    "pylint-",
)
_TEST_TOOLS = frozenset(
    {"pytest", "hypothesis", "faker", "factory-boy", "coverage", "mock", "responses"}
    | {"freezegun", "respx", "moto", "testcontainers", "tox", "nox", "pytest-cov"}
    | {"pytest-asyncio", "pytest-mock", "pytest-django", "pytest-xdist", "model-bakery"}
    | {"time-machine", "vcrpy", "requests-mock", "aioresponses", "pytest-httpx", "nose"}
    | {"nose2", "behave", "locust", "selenium", "playwright", "pytest-benchmark", "syrupy"}
)


@dataclass(slots=True)
class _Usage:
    runtime: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> first use
    tests: dict[str, tuple[str, int]] = field(default_factory=dict)
    other: set[str] = field(default_factory=set)  # examples, docs, scripts


def _usage(project: ProjectFacts, view: _View, code: str) -> _Usage:
    """Which distributions the code uses (imports and module names in strings), and where."""
    usage = _Usage()

    def record(names: Iterable[str], path: str, line: int) -> None:
        facts = project.modules.get(path) or {}
        for name in names:
            if facts.get("is_test"):
                usage.tests.setdefault(name, (path, line))
            elif facts.get("is_example"):
                usage.other.add(name)
            else:
                usage.runtime.setdefault(name, (path, line))

    for use in view.inventory.imports:
        if use.origin in {"stdlib", "first-party"}:
            continue
        record(view.resolver.candidates(use.module), use.path, use.line)
    for item in project.evidence(code, include_tests=True):
        if item.name.startswith("str:"):
            record(view.resolver.candidates(item.name[4:]), item.path, item.line)
    return usage


def _used_without_import(name: str) -> bool:
    return name in _USED_WITHOUT_IMPORT or name.startswith(_USED_WITHOUT_IMPORT_PREFIXES)


def _runtime_declarations(view: _View, root: Path) -> list[tuple[tuple[str, str], Declaration]]:
    """The first runtime declaration of each distribution per project scope, outside generated
    (pip-compile) files and example projects."""
    generated: dict[str, bool] = {}
    found: dict[tuple[str, str], Declaration] = {}
    for scope, declarations in view.by_scope.items():
        if _aside(view, scope):
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


def _scope_has_code(project: ProjectFacts, view: _View, scope: str) -> bool:
    return any(
        view.scope_of(path) == scope and not facts.get("is_test") and not facts.get("is_example")
        for path, facts in project.modules.items()
    )


@project_rule(
    nodes=(ModuleEnd,),
    collect=_collect_strings,
    code="DEP011",
    name="unused-dependency",
    category=Category.DEPENDENCIES,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A runtime dependency that no scanned code imports or names",
    fix="Remove the dependency, or move it to the group that uses it.",
)
def unused_dependency(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags distributions declared as runtime dependencies that no scanned file imports or
    names (Django `INSTALLED_APPS`/`MIDDLEWARE` and backend paths, `import_module("x")` and
    SQLAlchemy URL drivers count as uses). Packages that are used without an import are not
    reported: servers (gunicorn, uvicorn), database drivers, backends of other libraries
    (python-multipart, email-validator, openpyxl for pandas), plugins (`django-*`,
    `pytest-*`), type stubs, build backends and CLI tools, as are distributions that come with
    another declared one (`botocore` with `boto3`) and resolver output (pip-compile files).

    ## Why it breaks production
    Every installed package is attack surface and build time: it gets security advisories
    you must triage, it constrains the versions of everything else, and it ships in the image.
    An unused dependency is often the leftover of a library that was replaced -- the old one
    keeps receiving updates nobody tests.

    ## Example
    ```text
    # requirements.txt
    requests==2.32.3
    httpx==0.27.0     # the code only imports httpx
    ```

    ## Use instead
    ```text
    httpx==0.27.0
    ```
    """
    view = _view(project, ctx)
    if not view.declaring:
        return
    usage = _usage(project, view, "DEP011")
    used = set(usage.runtime) | set(usage.tests) | usage.other
    has_code: dict[str, bool] = {}
    siblings_in: dict[str, _Declared] = {}
    for (scope, name), declaration in _runtime_declarations(view, project.root):
        if name in used or _used_without_import(name) or declaration.url is not None:
            continue  # a URL/VCS requirement's import name is anyone's guess
        if scope not in siblings_in:
            siblings_in[scope] = _Declared(
                d.name for d in view.by_scope.get(scope, []) if d.runtime
            )
        siblings = siblings_in[scope]
        if siblings.comes_with(name) is not None or siblings.names & _ENABLED_BY.get(name, set()):
            continue
        if scope not in has_code:
            has_code[scope] = _scope_has_code(project, view, scope)
        if not has_code[scope]:
            continue
        ctx.report(
            declaration.path,
            declaration.line,
            f"`{display_name(name)}` is a runtime dependency but no scanned code imports it "
            "or names it: it still ships in every image, gets security advisories to triage "
            "and constrains the other versions; remove it (or move it to the group that uses "
            "it)",
        )


@project_rule(
    nodes=(ModuleEnd,),
    collect=_collect_strings,
    code="DEP012",
    name="test-dependency-in-runtime",
    category=Category.DEPENDENCIES,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    summary="A test-only package (imported only by tests, or a test tool) declared for runtime",
    fix="Move it to a test/dev group (requirements-dev.txt, [dependency-groups] test).",
)
def test_dependency_in_runtime(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags runtime dependencies that only test files import (pytest, hypothesis, faker,
    factory-boy, respx...), and well-known test tools declared as runtime dependencies that
    no service code uses.

    ## Why it breaks production
    Test tools end up in the production image: a larger attack surface (test helpers start
    servers, patch the network, generate data), slower builds, and version constraints that
    conflict with the real dependencies. It also hides which packages the service actually
    needs.

    ## Example
    ```text
    # requirements.txt (installed in the image)
    fastapi==0.111.0
    pytest==8.2.2
    ```

    ## Use instead
    ```text
    # requirements.txt
    fastapi==0.111.0
    # requirements-dev.txt
    -r requirements.txt
    pytest==8.2.2
    ```
    """
    view = _view(project, ctx)
    if not view.declaring:
        return
    usage = _usage(project, view, "DEP012")
    libraries: dict[str, bool] = {}
    for (scope, name), declaration in _runtime_declarations(view, project.root):
        if name in usage.runtime or name in usage.other:
            continue
        if scope not in libraries:
            libraries[scope] = _is_library(view, ctx, scope)
        tool = name in _TEST_TOOLS or name.startswith("pytest-")
        where = usage.tests.get(name)
        if where is not None and (tool or not libraries[scope]):
            # A library may declare what its own dependencies need at run time without
            # importing it; only test tools are clearly misplaced there.
            ctx.report(
                declaration.path,
                declaration.line,
                f"`{display_name(name)}` is a runtime dependency but only tests import it "
                f"(e.g. {where[0]}:{where[1]}): it ships in the production image for nothing; "
                "move it to the test/dev dependencies",
            )
        elif where is None and tool:
            ctx.report(
                declaration.path,
                declaration.line,
                f"`{display_name(name)}` is a test tool declared as a runtime dependency: it "
                "ships in the production image; move it to the test/dev dependencies",
                confidence=Confidence.MEDIUM,
            )


# -- DEP013 -------------------------------------------------------------------------------------


def _specifier(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@project_rule(
    code="DEP013",
    name="conflicting-pins",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="The same package pinned to different versions, or a pin outside another range",
    fix="Keep one source of truth: ranges in pyproject.toml, pins generated from it (a lock).",
)
def conflicting_pins(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Compares the runtime declarations and resolved versions of each project (requirements
    files, pyproject.toml, setup.cfg, Pipfile, and lock files: uv.lock, poetry.lock,
    Pipfile.lock, pdm.lock, pip-compile output): the same distribution pinned to different
    versions in two files, a pin outside the range another file requires, or a lock file that
    resolved a version the manifest no longer allows (a stale lock). Declarations with
    different environment markers, and nested projects, are not compared.

    ## Why it breaks production
    Which version is installed then depends on which file the build happens to use:
    the Dockerfile installs `requirements.txt`, CI tests the lock, a developer runs
    `pip install -e .`. The service runs a version nobody tested -- or the install fails with
    a resolution conflict in the middle of a deploy.

    ## Example
    ```text
    # pyproject.toml:   dependencies = ["requests>=2.32"]
    # requirements.txt: requests==2.31.0
    ```

    ## Use instead
    ```text
    # pyproject.toml:   dependencies = ["requests>=2.32,<3"]
    # requirements.txt: requests==2.32.3   (generated: uv pip compile pyproject.toml)
    ```
    """
    view = _view(project, ctx)
    manifests = view.inventory.manifests
    declared_at = {(d.path, d.line) for d in manifests.declarations}
    for scope, declarations in sorted(view.by_scope.items()):
        if _aside(view, scope):
            continue
        runtime = [d for d in declarations if d.group == "runtime" and d.url is None]
        locks = [
            lock
            for lock in manifests.locked
            if project_dir(lock.path) == scope and (lock.path, lock.line) not in declared_at
        ]
        by_name: dict[str, list[Declaration]] = {}
        for declaration in runtime:
            by_name.setdefault(declaration.name, []).append(declaration)
        locked: dict[str, list[Locked]] = {}
        for lock in locks:
            locked.setdefault(lock.name, []).append(lock)
        for name in sorted(set(by_name) | set(locked)):
            _compare(ctx, by_name.get(name, []), locked.get(name, []))


def _compare(ctx: ProjectContext, declarations: list[Declaration], locks: list[Locked]) -> None:
    pins = [d for d in declarations if d.pinned_version]
    reported: set[tuple[str, int]] = set()
    # Two pins of different versions in different files.
    for index, pin in enumerate(pins):
        for other in pins[:index]:
            if other.path == pin.path or other.marker != pin.marker:
                continue
            if _version(pin.pinned_version or "") == _version(other.pinned_version or ""):
                continue
            if (pin.path, pin.line) in reported:
                continue
            reported.add((pin.path, pin.line))
            ctx.report(
                pin.path,
                pin.line,
                f"`{pin.raw}` conflicts with `{other.raw}` ({_where(other)}): which version is "
                "installed depends on which file the build uses, so production runs a version "
                "that was not tested; keep one pin (generate the pins from one source)",
            )
    # A pin outside the range of another file.
    ranges = [d for d in declarations if d.specifier and not d.pinned_version]
    for pin in pins:
        if (pin.path, pin.line) in reported:
            continue
        version = _version(pin.pinned_version or "")
        for other in ranges:
            if other.path == pin.path or other.marker != pin.marker or version is None:
                continue
            allowed = _specifier(other.specifier)
            if allowed is None or allowed.contains(version, prereleases=True):
                continue
            reported.add((pin.path, pin.line))
            ctx.report(
                pin.path,
                pin.line,
                f"`{pin.raw}` is outside `{other.raw}` required by {_where(other)}: the two "
                "files cannot both be installed, and the one the build uses decides what "
                "runs in production; align the pin with the range",
            )
            break
    # A lock that resolved a version a declaration no longer allows (a stale lock).
    by_file: dict[str, list[Locked]] = {}
    for lock in locks:
        by_file.setdefault(lock.path, []).append(lock)
    for path, entries in sorted(by_file.items()):
        versions = {entry.version for entry in entries}
        if len(versions) != 1:
            continue  # forked resolutions (per platform / Python version)
        lock = entries[0]
        version = _version(lock.version)
        if version is None:
            continue
        for declaration in declarations:
            if declaration.marker is not None or (declaration.path, declaration.line) in reported:
                continue
            allowed = _specifier(declaration.specifier)
            if (
                not declaration.specifier
                or allowed is None
                or allowed.contains(version, prereleases=True)
            ):
                continue
            reported.add((declaration.path, declaration.line))
            ctx.report(
                declaration.path,
                declaration.line,
                f"{path} resolves `{declaration.name}` to {lock.version} ({_where(lock)}), "
                f"outside `{declaration.raw}`: the lock is stale, so installs from the lock "
                "and from this manifest run different versions; re-lock",
            )


# -- DEP014 -------------------------------------------------------------------------------------

_FEATURE_NAMES = {
    "walrus": "the walrus operator `:=`",
    "positional-only-parameters": "positional-only parameters `/`",
    "match": "`match` statements",
    "parenthesized-context-managers": "parenthesized context managers",
    "except-star": "`except*`",
    "type-parameters": "PEP 695 type parameters",
    "type-alias": "`type` alias statements",
}
_EXTRA_SYNTAX = {"type-parameters": (3, 12), "type-alias": (3, 12)}
_MAX_MINOR = 20


@project_rule(
    nodes=(ast.Import, ast.ImportFrom, ast.If, ast.Try, *_GENERIC_TYPE_NODES, *_TYPE_ALIAS),
    collect=_collect_versions,
    code="DEP014",
    name="python-version-mismatch",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="requires-python admits Python versions older than the syntax the code uses",
    fix="Raise requires-python to the oldest version the code runs on (e.g. >=3.10).",
)
def python_version_mismatch(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Compares the oldest Python that `requires-python` (PEP 621), `python` (Poetry),
    `python_requires` (setup.cfg / setup.py) or the Pipfile admits with the syntax and
    standard-library modules the project's code uses: the walrus operator and
    positional-only parameters (3.8), `match` and parenthesized context managers (3.10),
    `except*` and `tomllib` (3.11), `zoneinfo`/`graphlib` (3.9), PEP 695 generics (3.12).
    Imports guarded by `try/except ImportError` or a version check do not count.

    ## Why it breaks production
    Installers trust `requires-python`: pip happily installs the package on the older
    interpreter the metadata admits -- a base image that was not upgraded, a customer's
    environment -- and it fails there with a `SyntaxError` at import time, i.e. at start-up
    or on the first request that imports the module.

    ## Example
    ```toml
    [project]
    requires-python = ">=3.8"
    ```
    ```python
    match event["type"]:   # Python 3.10+
        case "created": ...
    ```

    ## Use instead
    ```toml
    [project]
    requires-python = ">=3.10"
    ```
    """
    view = _view(project, ctx)
    requires = view.inventory.manifests.requires_python
    if requires is None:
        return
    specifier_text, manifest, line = requires
    specifier = _specifier(specifier_text)
    if specifier is None:
        return
    oldest = _oldest_admitted(specifier)
    if oldest is None:
        return
    scope = project_dir(manifest)
    needed: tuple[tuple[int, int], str, str, int] | None = None
    marks = _marks(project, "DEP014")

    def consider(version: tuple[int, int], feature: str, path: str, at: int) -> None:
        """Keep the newest requirement (its first use, in path order)."""
        nonlocal needed
        if (
            needed is None
            or version > needed[0]
            or (version == needed[0] and (path, at) < (needed[2], needed[3]))
        ):
            needed = (version, feature, path, at)

    def counted(path: str) -> bool:
        """Code that gets installed: not tests, docs, examples, tools or nested projects."""
        return view.scope_of(path) == scope and _in_runtime_code(
            view, path, project.modules.get(path)
        )

    optional = _optional_in_module(project, "DEP014")
    for path, facts in sorted(project.modules.items()):
        if not counted(path):
            continue
        for feature, at in facts.get("syntax", {}).items():
            version = SYNTAX_VERSIONS.get(feature)
            if version is not None:
                consider(version, feature, path, int(at))
    for item in project.evidence("DEP014", include_tests=True):
        kind, _, name = item.name.partition(":")
        if kind == "syntax" and name in _EXTRA_SYNTAX and counted(item.path):
            consider(_EXTRA_SYNTAX[name], name, item.path, item.line)
    for use in view.inventory.imports:
        version = VERSIONED_STDLIB.get(use.module)
        if version is None or use.origin != "stdlib" or not counted(use.path):
            continue
        if marks.get((use.path, use.line), set()) & {"guarded", "conditional", "typing"}:
            continue
        if use.module in optional.get(use.path, ()):
            continue
        consider(version, f"import:{use.module}", use.path, use.line)
    if needed is None:
        return
    version, feature, path, at = needed
    if oldest >= version:
        return
    what = (
        f"the `{feature[7:]}` module"
        if feature.startswith("import:")
        else _FEATURE_NAMES.get(feature, feature)
    )
    ctx.report(
        manifest,
        line,
        f"requires-python `{specifier_text}` admits Python {oldest[0]}.{oldest[1]}, but "
        f"{path}:{at} uses {what}, which needs Python {version[0]}.{version[1]}: installers "
        "put the package on interpreters where it fails at import time; require "
        f"`>={version[0]}.{version[1]}`",
    )


def _oldest_admitted(specifier: SpecifierSet) -> tuple[int, int] | None:
    for minor in range(_MAX_MINOR):
        for patch in ("0", "99"):
            if specifier.contains(f"3.{minor}.{patch}", prereleases=True):
                return (3, minor)
    return None


# -- DEP015 -------------------------------------------------------------------------------------


@project_rule(
    code="DEP015",
    name="unreadable-manifest",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="A manifest or lock file (or an include) that installers cannot read",
    fix="Fix the file (or regenerate the lock) so that installers can read it.",
)
def unreadable_manifest(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Reports what cannot be read in the manifests that the file rules do not parse: setup.cfg
    sections and requirements, Pipfile entries, Poetry and PDM dependency tables, lock files
    that are not valid TOML/JSON, `-r`/`-c` includes of files that do not exist (and the
    lines of included files). Requirements lines and PEP 621 lists are DEP003 and DEP005.

    ## Why it breaks production
    Installers stop at the first entry they cannot read: `pip install -r` aborts on a
    missing include, Poetry and pipenv refuse an invalid constraint, a corrupt lock file
    fails every deploy -- usually discovered when an urgent fix needs to ship.

    ## Example
    ```text
    # requirements.txt
    -r requirements/base.txt     # the directory was renamed to reqs/
    ```

    ## Use instead
    ```text
    -r reqs/base.txt
    ```
    """
    view = _view(project, ctx)
    seen: set[tuple[str, int, str]] = set()
    for problem in view.inventory.manifests.problems:
        key = (problem.path, problem.line, problem.message)
        if key in seen or problem.path in {"", "."}:
            continue
        seen.add(key)
        message = problem.message.rstrip(".")
        remedy = "regenerate the lock" if is_lock_file(problem.path) else "fix the entry"
        ctx.report(
            problem.path,
            problem.line,
            f"{message}: installers stop at what they cannot read, so the build and every "
            f"deploy fail; {remedy}",
        )


# -- DEP016 -------------------------------------------------------------------------------------

_UPPER_OPERATORS = frozenset({"<", "<=", "==", "===", "~="})
_METADATA_FILES = frozenset({"pyproject.toml", "setup.cfg", "setup.py"})


@project_rule(
    code="DEP016",
    name="missing-upper-bound",
    category=Category.DEPENDENCIES,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Library profile: a runtime dependency without an upper bound on its major version",
    fix='Cap the next major version: "requests>=2.31,<3".',
)
def missing_upper_bound(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Only for projects whose profile says `project-type = "library"`: flags runtime
    dependencies in pyproject.toml, setup.cfg or setup.py with no upper bound on the major
    version (`requests`, `requests>=2.31`); `<3`, `~=2.31` and `==2.*` are bounds.
    Applications get DEP001 (pin every requirement) instead.

    ## Why it breaks production
    A library cannot pin, but the services that install it resolve its ranges: when a
    dependency releases a major version with breaking changes, every new install of your
    library picks it up and breaks at import or at run time -- in your users' production,
    without a release of yours.

    ## Example
    ```toml
    [project]
    dependencies = ["pydantic>=1.10"]
    ```

    ## Use instead
    ```toml
    [project]
    dependencies = ["pydantic>=1.10,<3"]
    ```
    """
    if ctx.profile.project_type != "library":
        return
    view = _view(project, ctx)
    for declaration in view.inventory.manifests.declarations:
        if not declaration.runtime or declaration.url is not None:
            continue
        if PurePosixPath(declaration.path).name not in _METADATA_FILES:
            continue
        specifier = _specifier(declaration.specifier)
        if specifier is None:
            continue
        if any(spec.operator in _UPPER_OPERATORS for spec in specifier):
            continue
        ctx.report(
            declaration.path,
            declaration.line,
            f"`{declaration.raw}` has no upper bound: the next major release of "
            f"`{declaration.name}` gets installed with your library and can break it in your "
            f"users' production; cap it (`{declaration.name}{_capped(declaration)}`)",
        )


def _capped(declaration: Declaration) -> str:
    specifier = _specifier(declaration.specifier)
    lower = [s for s in specifier or [] if s.operator in {">=", ">"}]
    if lower:
        version = _version(lower[0].version)
        if version is not None:
            return f"{declaration.specifier},<{version.major + 1}"
    return ">=<current>,<<next major>"
