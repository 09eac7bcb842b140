"""The data of dependency validation. Pure data: no I/O, no parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prodready.model import ProdreadyError


@dataclass(frozen=True, slots=True)
class Declaration:
    """One declared requirement, where it is declared."""

    name: str  # canonical (packaging.utils.canonicalize_name)
    raw: str  # the requirement as written, for messages
    specifier: str  # "" when the requirement names no version
    path: str  # the manifest, relative to the scan root (POSIX)
    line: int
    group: str = "runtime"  # runtime | optional:<extra> | dev | test | docs | build | <group>
    marker: str | None = None
    extras: tuple[str, ...] = ()
    url: str | None = None
    editable: bool = False
    hashed: bool = False

    @property
    def pinned_version(self) -> str | None:
        """The exact version when the specifier pins one (``==1.2.3``, ``===1.2.3``)."""
        spec = self.specifier.strip()
        for operator in ("===", "=="):
            if spec.startswith(operator) and "," not in spec and "*" not in spec:
                return spec[len(operator) :].strip()
        return None

    @property
    def runtime(self) -> bool:
        return self.group == "runtime" or self.group.startswith("optional:")


@dataclass(frozen=True, slots=True)
class Locked:
    """A resolved version from a lock file or a fully pinned (pip-compile) requirements file."""

    name: str  # canonical
    version: str
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    """A manifest (or one of its lines) that cannot be read: a finding, never a crash."""

    path: str
    line: int
    message: str


@dataclass(slots=True)
class DependencyManifests:
    """Everything the project's dependency manifests declare (not Kubernetes manifests, which
    are :class:`prodready.engine.documents.Manifests`)."""

    declarations: list[Declaration] = field(default_factory=list)
    locked: list[Locked] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    requires_python: tuple[str, str, int] | None = None  # (specifier, path, line)
    files: list[str] = field(default_factory=list)  # the manifests that were read
    first_party: set[str] = field(default_factory=set)  # import names the project itself defines
    # What each locked distribution requires, by lock file (uv.lock, poetry.lock, pdm.lock):
    # path -> canonical name -> (canonical names of its requirements, its extras' requirements).
    lock_requires: dict[str, dict[str, tuple[frozenset[str], dict[str, frozenset[str]]]]] = field(
        default_factory=dict
    )
    # False when some declarations could not be read statically (setup.py computing
    # install_requires, ``dynamic = ["dependencies"]`` from an unknown source): rules that need
    # the full list of declarations (undeclared imports, unused dependencies) stay silent.
    complete: bool = True

    def declared(self, name: str) -> list[Declaration]:
        return [d for d in self.declarations if d.name == name]


@dataclass(frozen=True, slots=True)
class ImportUse:
    """One import of a top-level module, and the distribution it comes from."""

    module: str  # top-level module name as imported ("yaml")
    path: str
    line: int
    is_test: bool
    origin: str  # stdlib | first-party | declared | installed | table | unknown
    distribution: str | None = None  # canonical distribution name, when known


@dataclass(slots=True)
class IndexInfo:
    """What the package index says about a project name."""

    name: str  # canonical
    exists: bool | None  # None: not verified (offline, unreachable, error)
    error: str | None = None
    versions: tuple[str, ...] = ()
    first_release: str | None = None  # ISO date of the earliest upload
    latest_release: str | None = None
    summary: str = ""
    has_description: bool = False
    project_urls: dict[str, str] = field(default_factory=dict)
    from_cache: bool = False
    # The index gave project metadata (summary, description, links: the Warehouse JSON API),
    # not only existence and versions (the simple API): empty fields then mean empty.
    has_metadata: bool = False
    # The latest release's Requires-Dist lines (the JSON API's ``requires_dist``); None when
    # the index did not say (the simple API, metadata without it).
    requires: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "exists": self.exists,
            "error": self.error,
            "releases": len(self.versions),
            "first_release": self.first_release,
            "latest_release": self.latest_release,
            "summary": self.summary,
            "project_urls": self.project_urls,
        }


@dataclass(frozen=True, slots=True)
class Advisory:
    """A published vulnerability affecting a given version."""

    id: str  # PYSEC-... / GHSA-...
    aliases: tuple[str, ...]  # CVE-..., GHSA-...
    summary: str
    fixed: tuple[str, ...]  # first fixed version(s), PEP 440
    severity: str | None = None  # critical | high | medium | low when the advisory says
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "fixed": list(self.fixed),
            "severity": self.severity,
            "url": self.url,
        }


class DependencyError(ProdreadyError):
    """Dependency data (a manifest's included file, an advisory source) cannot be read."""


class AdvisoriesUnavailable(DependencyError):
    """An advisory source cannot answer (no database, unreachable API): never a silent pass."""
