"""Which distribution each import comes from: the standard library, the project itself, an
installed distribution, a table of well-known import/distribution mismatches, or unknown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from prodready.deps.environment import installed_environment
from prodready.deps.import_tables import IMPORT_TABLE, STDLIB
from prodready.deps.model import Declaration, DependencyManifests, ImportUse
from prodready.deps.sys_path import SYS_PATH_KIND, resolve_target
from prodready.engine.module_record import ModuleRecord

# Namespace packages: the distribution is named by more than the top-level name.
NAMESPACE_ROOTS = frozenset(
    {"google", "azure", "zope", "jaraco", "backports", "sphinxcontrib", "ruamel", "opentelemetry"}
    | {"paho", "snowflake", "oslo", "pyobjc", "plone", "collective", "flufl", "repoze", "nvidia"}
    | {"llama_index"}  # llama_index.core: llama-index-core; llama_index.llms.x: llama-index-llms-x
)
_THREE_LEVEL = {
    "google": frozenset({"cloud"}),
    "azure": frozenset(
        {"storage", "keyvault", "mgmt", "ai", "monitor", "search", "data", "communication"}
    ),
    "opentelemetry": frozenset({"instrumentation", "exporter", "propagators", "resourcedetector"}),
    # The integration families of LlamaIndex (llama-index-<family>-<name>); llama_index.core's
    # own sub-packages of the same names stay with llama-index-core (two levels).
    "llama_index": frozenset(
        {"llms", "embeddings", "vector_stores", "readers", "retrievers", "postprocessor"}
        | {"tools", "agent", "callbacks", "graph_stores", "multi_modal_llms", "storage"}
        | {"node_parser", "program", "question_gen", "response_synthesizers", "selectors"}
        | {"extractors", "indices", "packs", "evaluation", "output_parsers", "sparse_embeddings"}
    ),
}
# Top-level names that distributions sometimes ship by mistake and projects often have.
_GENERIC_NAMES = frozenset(
    {"tests", "test", "testing", "docs", "doc", "examples", "example", "scripts", "src", "lib"}
    | {"benchmarks", "tools", "utils", "util", "common", "core", "app", "main", "conftest"}
    | {"setup", "config", "settings", "api", "models", "build", "data", "helpers"}
)
_PREFIXES = ("python-", "py-", "python3-", "django-", "flask-", "pytest-", "types-")
_SUFFIXES = ("-python", "-py", "-py3", "-binary", "-client", "-sdk", "-api", "-cffi")


@dataclass(frozen=True, slots=True)
class Resolution:
    origin: str  # stdlib | first-party | declared | installed | table | unknown
    distribution: str | None  # canonical
    module: str  # the import name the distribution is named after ("yaml", "google.cloud.x")


def display_name(canonical: str) -> str:
    """How a distribution is usually written (``PyJWT`` for ``pyjwt``)."""
    return _DISPLAY.get(canonical, canonical)


_DISPLAY: dict[str, str] = {
    canonicalize_name(dist): dist for dists in IMPORT_TABLE.values() for dist in dists
}


def import_name(module: str) -> str:
    """The part of a dotted module that names its distribution: the top-level name, or two or
    three levels for namespace packages (``google.cloud.storage``, ``azure.identity``)."""
    parts = module.split(".")
    top = parts[0]
    if top not in NAMESPACE_ROOTS or len(parts) == 1:
        return top
    depth = 3 if len(parts) >= 3 and parts[1] in _THREE_LEVEL.get(top, ()) else 2
    return ".".join(parts[:depth])


class Resolver:
    """Maps import names to distributions for one project (its declarations and layout)."""

    def __init__(
        self,
        manifests: DependencyManifests,
        first_party: Iterable[str] = (),
        cache_dir: Path | None = None,
    ) -> None:
        self.first_party = set(manifests.first_party) | set(first_party)
        self.declared: dict[str, list[Declaration]] = {}
        for declaration in manifests.declarations:
            self.declared.setdefault(declaration.name, []).append(declaration)
        # Import names guessed from the declared names (``python-dateutil`` -> ``dateutil``).
        self.guesses: dict[str, str] = {}
        for name in self.declared:
            for guess in _import_guesses(name):
                self.guesses.setdefault(guess, name)
        self.environment = installed_environment(cache_dir)
        self.installed = self.environment.top_levels

    def resolve(self, module: str) -> Resolution:
        if module.startswith("."):
            return Resolution("first-party", None, module)
        module = module.strip(".")
        top = module.split(".")[0]
        named = import_name(module)
        if top in STDLIB:
            return Resolution("stdlib", None, top)
        if top in self.first_party and top not in NAMESPACE_ROOTS:
            return Resolution("first-party", None, top)
        declared = self.declared_distribution(module)
        if declared is not None:
            return Resolution("declared", declared, named)
        installed = self.installed_distribution(module)
        if installed is not None:
            return Resolution("installed", installed, named)
        table = _table_entry(module)
        if table is not None:
            return Resolution("table", canonicalize_name(table[0]), named)
        return Resolution("unknown", canonicalize_name(named.replace(".", "-")), named)

    def declared_distribution(self, module: str) -> str | None:
        for candidate in self.candidates(module):
            if candidate in self.declared:
                return candidate
        return None

    def candidates(self, module: str) -> list[str]:
        """Distributions that may provide ``module``, most specific first."""
        parts = module.split(".")
        top = parts[0]
        found: list[str] = []
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            if end == 1 and top in NAMESPACE_ROOTS and len(parts) > 1:
                break  # ``google`` alone names no distribution
            found.append(canonicalize_name(prefix.replace(".", "-").replace("_", "-")))
            for dist in IMPORT_TABLE.get(prefix, ()):
                found.append(canonicalize_name(dist))
        if top not in NAMESPACE_ROOTS:
            for dist in self.installed.get(top, ()):
                found.append(canonicalize_name(dist))
        guess = self.guesses.get(top.lower())
        if guess is not None:
            found.append(guess)
        return list(dict.fromkeys(found))

    def installed_distribution(self, module: str) -> str | None:
        top = module.split(".", maxsplit=1)[0]
        if top in NAMESPACE_ROOTS or top in _GENERIC_NAMES:
            return None
        dists = self.installed.get(top)
        if not dists:
            return None
        canonical = [canonicalize_name(d) for d in dists]
        own = canonicalize_name(top)
        return own if own in canonical else canonical[0]


def _table_entry(module: str) -> tuple[str, ...] | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        entry = IMPORT_TABLE.get(".".join(parts[:end]))
        if entry is not None:
            return entry
    top = parts[0]
    if top == "opentelemetry" and len(parts) >= 3 and parts[1] in {"instrumentation", "exporter"}:
        return (f"opentelemetry-{parts[1]}-{parts[2]}",)
    return None


def _import_guesses(name: str) -> set[str]:
    """Import names a distribution called ``name`` (canonical) plausibly provides."""
    guesses = {name.replace("-", "_"), name.replace("-", "")}
    for prefix in _PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix) + 1:
            rest = name[len(prefix) :]
            guesses |= {rest.replace("-", "_"), rest.replace("-", "")}
            if prefix in {"django-", "flask-"}:
                guesses.add(prefix[:-1] + "_" + rest.replace("-", "_"))
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            rest = name[: -len(suffix)]
            guesses |= {rest.replace("-", "_"), rest.replace("-", "")}
    if name.startswith("py") and len(name) > 4 and "-" not in name:
        guesses.add(name[2:])
    stripped = re.sub(r"\d+$", "", name)
    if stripped != name and len(stripped) > 2:
        guesses.add(stripped.replace("-", "_"))
    return {guess.lower() for guess in guesses if guess}


# -- the imports of the project --------------------------------------------------------------------


def module_top_levels(modules: Mapping[str, ModuleRecord]) -> set[str]:
    """The top-level names of the scanned modules themselves (``app`` for ``src/app/x.py``),
    and the names importable from the project's other source roots (``source_roots``)."""
    names: set[str] = set()
    for facts in modules.values():
        if facts.module:
            names.add(facts.module.split(".")[0])
    return names | names_below(modules, source_roots(modules))


# Django runs ``manage.py`` (and the WSGI/ASGI entry points beside it) from its own directory,
# which Python puts first on ``sys.path``: the apps beside it are imported as top-level modules
# (``from core.utils import x`` for ``site/core/utils.py``), even when that directory is also a
# package of its own.
_ROOT_MARKERS = frozenset({"manage.py"})


def source_roots(modules: Mapping[str, ModuleRecord]) -> set[str]:
    """Directories (relative, "" for the scan root) the project runs from, below the scan
    root: the directory of a ``manage.py``, and the directories a module of the project puts
    on ``sys.path`` (found by the dependency rules' collectors, ``deps.sys_path``)."""
    roots: set[str] = set()
    for path, record in modules.items():
        *folders, filename = path_parts(path) or ("",)
        if filename in _ROOT_MARKERS and folders:
            roots.add("/".join(folders))
        for marks in record.evidence.values():
            for mark in marks:
                if mark.kind == SYS_PATH_KIND:
                    target = resolve_target(path, mark)
                    if target:
                        roots.add(target)
    return roots


def names_below(modules: Mapping[str, ModuleRecord], roots: Iterable[str]) -> set[str]:
    """The module and package names directly inside each of ``roots``."""
    prefixes = tuple(f"{root}/" for root in roots if root)
    names: set[str] = set()
    if not prefixes:
        return names
    for path in modules:
        for prefix in prefixes:
            if not path.startswith(prefix):
                continue
            first, _, rest = path[len(prefix) :].partition("/")
            name = first if rest else first.removesuffix(".py")
            if name and name != "__init__" and name.isidentifier():
                names.add(name)
    return names


def path_parts(path: str) -> tuple[str, ...]:
    """``PurePosixPath(path).parts`` of a relative path, without building a path object (a warm
    rescan of a large tree asks this of every module several times)."""
    if not path or path.startswith(("/", "./")) or "//" in path or "/./" in path:
        return PurePosixPath(path).parts
    parts = tuple(path.split("/"))
    return parts[:-1] if parts[-1] in {"", "."} else parts


def _directory_and_stem(path: str) -> tuple[str, str]:
    """The directory of a module ("" at the top) and its name without the suffix."""
    if path.startswith("/"):
        parent = str(PurePosixPath(path).parent)
        return ("" if parent == "." else parent), PurePosixPath(path).stem
    *folders, filename = path_parts(path) or ("",)
    dot = filename.rfind(".")
    return "/".join(folders), filename[:dot] if 0 < dot < len(filename) - 1 else filename


def _siblings(modules: Mapping[str, ModuleRecord]) -> dict[str, set[str]]:
    """Directory (relative) -> the module and package names directly inside it."""
    found: dict[str, set[str]] = {}
    for path in modules:
        parts = path_parts(path)
        for depth in range(len(parts)):
            directory = "/".join(parts[:depth])
            name = parts[depth]
            if depth == len(parts) - 1:
                if not name.endswith(".py") or name == "__init__.py":
                    continue
                name = name[:-3]
            found.setdefault(directory, set()).add(name)
    return found


def map_imports(
    modules: Mapping[str, ModuleRecord],
    manifests: DependencyManifests,
    cache_dir: Path | None = None,
) -> list[ImportUse]:
    """Every import of the scanned modules (``ProjectFacts.modules``), mapped to its origin.

    One use per imported top-level name (namespace-aware) and line: ``from aiohttp import web``
    is one use of ``aiohttp``. A module next to the importing file (``from helpers import x``
    in a script whose directory holds ``helpers.py``) is first-party.
    """
    resolver = Resolver(manifests, module_top_levels(modules), cache_dir)
    siblings = _siblings(modules)
    anywhere = {name for names in siblings.values() for name in names}
    uses: list[ImportUse] = []
    cache: dict[str, Resolution] = {}
    for path in sorted(modules):
        facts = modules[path]
        is_test = facts.is_test
        # Tests and docs put their own directories on ``sys.path`` (pytest's rootdir insertion,
        # ``sys.path.append`` in conf.py): any module of the tree can be what they import.
        loose = is_test or facts.is_example
        directory, own = _directory_and_stem(path)
        by_line: dict[int, list[Resolution]] = {}
        for item in facts.imports:
            module, line = item.module, item.line
            if module.startswith(".") or not module.strip("."):
                resolution = Resolution("first-party", None, "." + module.lstrip(".").split(".")[0])
            else:
                cached = cache.get(module)
                if cached is None:
                    cached = cache[module] = resolver.resolve(module)
                resolution = cached
                if resolution.origin not in {"stdlib", "first-party", "declared"}:
                    top = module.split(".", maxsplit=1)[0]
                    if (loose and top in anywhere and top != own) or _local(
                        top, directory, own, is_test, siblings
                    ):
                        resolution = Resolution("first-party", None, top)
            by_line.setdefault(line, []).append(resolution)
        for line in sorted(by_line):
            for resolution in _distinct(by_line[line]):
                uses.append(
                    ImportUse(
                        module=resolution.module,
                        path=path,
                        line=line,
                        is_test=is_test,
                        origin=resolution.origin,
                        distribution=resolution.distribution,
                    )
                )
    return uses


_ORIGIN_RANK = {"declared": 0, "first-party": 1, "stdlib": 1, "table": 2, "installed": 3}


def _distinct(resolutions: list[Resolution]) -> list[Resolution]:
    """One resolution per imported name on a line: ``from aiohttp import web`` records
    ``aiohttp`` and ``aiohttp.web``; ``from google.cloud import storage`` records
    ``google.cloud`` and ``google.cloud.storage`` (the longer names the distribution)."""
    best: dict[str, Resolution] = {}
    for resolution in resolutions:
        key = resolution.module.split(".")[0]
        if key in NAMESPACE_ROOTS:
            key = resolution.module
        previous = best.get(key)
        if previous is None or _better(resolution, previous):
            best[key] = resolution
    names = list(best)
    for name in names:
        if name.split(".")[0] in NAMESPACE_ROOTS and any(
            other != name and other.startswith(name + ".") for other in names
        ):
            del best[name]
    return list(best.values())


def _better(new: Resolution, old: Resolution) -> bool:
    rank_new, rank_old = _ORIGIN_RANK.get(new.origin, 4), _ORIGIN_RANK.get(old.origin, 4)
    if rank_new != rank_old:
        return rank_new < rank_old
    return len(new.module) > len(old.module)


def _local(
    top: str, directory: str, own: str, is_test: bool, siblings: dict[str, set[str]]
) -> bool:
    """A module beside the importing file (a script's directory is on ``sys.path``; pytest puts
    test directories there too, so tests also see their ancestors' modules)."""
    if top != own and top in siblings.get(directory, ()):
        return True
    if is_test:
        parts = directory.split("/") if directory else []
        for depth in range(len(parts) - 1, -1, -1):
            if top in siblings.get("/".join(parts[:depth]), ()):
                return True
    return False
