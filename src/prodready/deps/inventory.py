"""One view per dependency, joined from manifests, imports, the package index and advisories.

Computed once per scan (``ProjectFacts.memo``) and shared by every dependency rule; published
as the ``dependencies`` artifact for ``prodready deps --format json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prodready.deps.imports import map_imports
from prodready.deps.manifests import read_manifests
from prodready.deps.model import (
    AdvisoriesUnavailable,
    Advisory,
    Declaration,
    DependencyManifests,
    ImportUse,
    IndexInfo,
)
from prodready.deps.settings import index_setting, index_url_problem
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.model import FileKind

MANIFEST_KINDS = (
    FileKind.REQUIREMENTS,
    FileKind.PYPROJECT,
    FileKind.SETUP_CFG,
    FileKind.PIPFILE,
    FileKind.LOCKFILE,
)


@dataclass(slots=True)
class Dependency:
    name: str  # canonical
    declared: list[Declaration] = field(default_factory=list)
    resolved: str | None = None  # locked or pinned version
    imports: list[ImportUse] = field(default_factory=list)
    index: IndexInfo | None = None
    advisories: list[Advisory] = field(default_factory=list)
    transitive: bool = False  # named only by a lock file

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transitive": self.transitive,
            "declared": [
                {"spec": d.raw, "path": d.path, "line": d.line, "group": d.group}
                for d in self.declared
            ],
            "resolved_version": self.resolved,
            "exists": self.index.exists if self.index is not None else None,
            "index": self.index.to_dict() if self.index is not None else None,
            "advisories": [a.to_dict() for a in self.advisories],
            "imported_at": [
                {"path": use.path, "line": use.line, "test": use.is_test} for use in self.imports
            ],
        }


@dataclass(slots=True)
class Inventory:
    manifests: DependencyManifests
    imports: list[ImportUse]
    dependencies: dict[str, Dependency]
    notes: list[str] = field(default_factory=list)
    # What the index said about every name looked up (declared names, unexplained imports).
    index: dict[str, IndexInfo] = field(default_factory=dict)

    def to_list(self) -> list[dict[str, Any]]:
        return [self.dependencies[name].to_dict() for name in sorted(self.dependencies)]


def inventory(project: ProjectFacts, ctx: ProjectContext) -> Inventory:
    """The project's dependency inventory, built by the first rule that asks for it."""
    built: Inventory = project.memo("deps:inventory", lambda: _build(project, ctx))
    ctx.publish("dependencies", built.to_list())
    for note in built.notes:
        ctx.note(note)
    return built


def _build(project: ProjectFacts, ctx: ProjectContext) -> Inventory:
    # Imported here, as in _attach_advisories: the index client and the advisory sources bring
    # the HTTP stack, which a warm rescan that reuses the project rules' results never needs.
    from prodready.deps.index import IndexClient, unverified_note

    settings = ctx.config.deps
    paths = [path for kind in MANIFEST_KINDS for path in project.files_of_kind(kind)]
    manifests = read_manifests(project.root, paths)
    imports = map_imports(project.modules, manifests, ctx.warm_cache_dir)
    dependencies: dict[str, Dependency] = {}
    for declaration in manifests.declarations:
        dependencies.setdefault(declaration.name, Dependency(declaration.name)).declared.append(
            declaration
        )
    for use in imports:
        if use.distribution is not None and use.origin not in {"stdlib", "first-party"}:
            dependencies.setdefault(use.distribution, Dependency(use.distribution)).imports.append(
                use
            )
    for lock in manifests.locked:
        if lock.name in dependencies:
            dependencies[lock.name].resolved = lock.version
    for dependency in dependencies.values():
        if dependency.resolved is None:
            pins = {d.pinned_version for d in dependency.declared if d.pinned_version}
            if len(pins) == 1:
                dependency.resolved = pins.pop()
    notes: list[str] = []
    # Names the index must vouch for: declared ones, and imports nothing else explains (by
    # their canonical distribution name; tests import deliberately missing modules).
    unknown_imports = {
        use.distribution
        for use in imports
        if use.origin == "unknown" and use.distribution is not None and not use.is_test
    }
    _add_locked_only(dependencies, manifests)
    lookups = sorted(
        (set(dependencies) - {d.name for d in dependencies.values() if d.transitive})
        | unknown_imports
    )
    index_url, origin = index_setting(settings)
    unusable = index_url_problem(index_url)
    if unusable is not None:
        # `prodready deps` refuses such a setting up front; a scan carries on without the index.
        error = f"{origin} is unusable ({unusable})"
        facts = {name: IndexInfo(name, None, error=error) for name in lookups}
    else:
        facts = IndexClient(settings, ctx.cache_dir).lookup(lookups)
    for name, info in facts.items():
        if name in dependencies:
            dependencies[name].index = info
    note = unverified_note(facts)
    if note is not None:
        notes.append(note)
    _attach_advisories(dependencies, settings, ctx, notes)
    return Inventory(manifests, imports, dependencies, notes, facts)


def _add_locked_only(dependencies: dict[str, Dependency], manifests: DependencyManifests) -> None:
    """Packages only a lock file names (pulled in by another dependency) still ship in the
    image: they get an advisory lookup, and the declaration rules leave them alone."""
    for lock in manifests.locked:
        if lock.name not in dependencies:
            dependencies[lock.name] = Dependency(lock.name, resolved=lock.version, transitive=True)


def _attach_advisories(
    dependencies: dict[str, Dependency], settings: Any, ctx: ProjectContext, notes: list[str]
) -> None:
    pinned = [d for d in dependencies.values() if d.resolved is not None]
    if not pinned:
        return
    from prodready.deps.advisories import advisory_sources

    sources = advisory_sources(settings, ctx.cache_dir)
    if not sources:
        notes.append(
            "advisories unavailable: no advisory database configured "
            "(--advisory-db PATH or PRODREADY_ADVISORY_DB) and online lookups are off"
        )
        return
    for dependency in pinned:
        assert dependency.resolved is not None
        seen: set[str] = set()
        for source in sources:
            try:
                found = source.lookup(dependency.name, dependency.resolved)
            except AdvisoriesUnavailable as exc:
                notes.append(f"advisories unavailable from {source.name}: {exc}")
                continue
            for advisory in found:
                if advisory.id not in seen:
                    seen.add(advisory.id)
                    dependency.advisories.append(advisory)
    for source in sources:
        notes.extend(source.notes)  # e.g. records of the database that could not be read
