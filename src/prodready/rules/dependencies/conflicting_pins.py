"""DEP013 conflicting-pins. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

from prodready.deps.declared import aside, location, parse_release, parse_specifier, project_view
from prodready.deps.manifests import project_dir
from prodready.deps.model import Declaration, Locked
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)


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
    view = project_view(project, ctx)
    manifests = view.inventory.manifests
    declared_at = {(d.path, d.line) for d in manifests.declarations}
    for scope, declarations in sorted(view.by_scope.items()):
        if aside(view, scope):
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
            if parse_release(pin.pinned_version or "") == parse_release(other.pinned_version or ""):
                continue
            if (pin.path, pin.line) in reported:
                continue
            reported.add((pin.path, pin.line))
            ctx.report(
                pin.path,
                pin.line,
                f"`{pin.raw}` conflicts with `{other.raw}` ({location(other)}): which version is "
                "installed depends on which file the build uses, so production runs a version "
                "that was not tested; keep one pin (generate the pins from one source)",
            )
    # A pin outside the range of another file.
    ranges = [d for d in declarations if d.specifier and not d.pinned_version]
    for pin in pins:
        if (pin.path, pin.line) in reported:
            continue
        version = parse_release(pin.pinned_version or "")
        for other in ranges:
            if other.path == pin.path or other.marker != pin.marker or version is None:
                continue
            allowed = parse_specifier(other.specifier)
            if allowed is None or allowed.contains(version, prereleases=True):
                continue
            reported.add((pin.path, pin.line))
            ctx.report(
                pin.path,
                pin.line,
                f"`{pin.raw}` is outside `{other.raw}` required by {location(other)}: the two "
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
        version = parse_release(lock.version)
        if version is None:
            continue
        for declaration in declarations:
            if declaration.marker is not None or (declaration.path, declaration.line) in reported:
                continue
            allowed = parse_specifier(declaration.specifier)
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
                f"{path} resolves `{declaration.name}` to {lock.version} ({location(lock)}), "
                f"outside `{declaration.raw}`: the lock is stale, so installs from the lock "
                "and from this manifest run different versions; re-lock",
            )
