"""DEP010 undeclared-import. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from prodready.deps.declared import (
    Declared,
    ProjectView,
    guard_marks,
    in_runtime_code,
    is_library,
    location,
    optional_in_module,
    project_view,
    shared_guards,
)
from prodready.deps.imports import display_name
from prodready.deps.inline_scripts import script_declarations
from prodready.deps.manifests import project_dir
from prodready.deps.model import Declaration, ImportUse
from prodready.deps.provenance import brought_along, modules_unknown, named_like_a_known_project
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import SERVICE_FRAMEWORKS


def _reachable(
    project: ProjectFacts,
    view: ProjectView,
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
        if facts.is_test or facts.is_example:
            continue
        foreign = set(facts.frameworks) - first_party
        if facts.routes or (foreign & SERVICE_FRAMEWORKS):
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
        for item in project.modules[path].imports:
            if marks.get((path, item.line), set()) & {"lazy", "guarded", "typing", "conditional"}:
                continue
            target = _absolute(item.module, current, is_package)
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


def declared_by_script(
    scripts: dict[str, frozenset[str]], path: str, candidates: Iterable[str]
) -> bool:
    """A script's inline metadata in ``path``'s directory or one above it declares one of
    ``candidates`` (or a distribution that brings it along)."""
    if not scripts:
        return False
    wanted = list(candidates)
    for directory in PurePosixPath(path).parents:
        names = scripts.get(str(directory))
        if names and (set(wanted) & names or any(Declared(names).comes_with(w) for w in wanted)):
            return True
    return False


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
    collect=shared_guards,
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
    `try/except ImportError` or after a `find_spec` check, under `if TYPE_CHECKING` or a
    version/platform check), tests, examples, docs and scripts are not checked; an import
    that comes with a declared distribution (`botocore` with `boto3`, `starlette` with
    `fastapi`; any requirement of a declared distribution, read from the installed
    `Requires-Dist`, the package index's metadata or the dependency graph of the project's
    lock file (uv.lock, poetry.lock, pdm.lock), with the declared extras: `Django[argon2]`
    brings argon2-cffi) is accepted. Whether a file is service code is the engine's role of
    its path (a developer CLI under a top-level `dev/` is a script, even as a project of its
    own). A script's PEP 723 inline metadata (`# /// script` ... `dependencies = [...]`)
    declares for the script and the modules beside and below it, which it loads from its
    directory. The apps beside a `manage.py`, and the modules below a directory the code puts
    on `sys.path` (computed from `__file__`), are the project's own modules. When a declared
    distribution is not installed where prodready runs (and no table knows it), which modules
    it provides (and, without a lock file, what it requires) cannot be read: an import it may
    bring is reported once per distribution at low severity, as a question, not as a certain
    failure. A project with no manifest at all is reported once, at its first third-party
    import.

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
    view = project_view(project, ctx)
    manifests = view.inventory.manifests
    if not view.declaring:
        _no_manifest(project, ctx, view)
        return
    if not manifests.complete:
        return
    marks = guard_marks(project, "DEP010")
    optional = optional_in_module(project, "DEP010")
    scripts = script_declarations(project, "DEP010")
    libraries: dict[str, set[str] | None] = {}
    runtime_in: dict[str, Declared] = {}
    reported: set[tuple[str, str]] = set()
    reported_unsure: set[tuple[str, str]] = set()
    for use in view.inventory.imports:
        if use.origin in {"stdlib", "first-party"} or use.distribution is None:
            continue
        if not in_runtime_code(view, use.path, project.modules.get(use.path)):
            continue
        kinds = marks.get((use.path, use.line), set())
        if kinds & {"guarded", "typing", "conditional"} or use.module in optional.get(use.path, ()):
            continue
        scope = view.scope_of(use.path)
        if scope is None:
            continue
        if scope not in libraries:
            library = is_library(view, ctx, scope)
            libraries[scope] = _reachable(project, view, scope, marks) if library else None
        reachable = libraries[scope]
        if reachable is not None and ("lazy" in kinds or use.path not in reachable):
            continue  # a library's optional integration, loaded on demand
        candidates = view.resolver.candidates(use.module) or [use.distribution]
        declared = view.declarations(scope, candidates)
        if any(d.runtime for d in declared):
            continue
        if declared_by_script(scripts, use.path, [*candidates, use.distribution]):
            continue  # the inline metadata of the script that runs this module declares it
        if scope not in runtime_in:
            runtime_in[scope] = Declared(
                d.name for s in view.chain(scope) for d in view.by_scope.get(s, []) if d.runtime
            )
        if runtime_in[scope].comes_with(use.distribution) is not None:
            continue
        brought = brought_along(view, scope)
        if use.distribution in brought.by or any(c in brought.by for c in candidates):
            continue  # a requirement of a declared distribution: installed with it
        known = view.inventory.dependencies.get(use.distribution)
        if known is not None and known.index is not None and known.index.exists is False:
            continue  # a name the index does not know: the existence rule reports it (critical)
        if brought.unread:
            # Whether production has it depends on what those distributions require or
            # provide, which cannot be read here: said once per distribution, not as a
            # certain failure in every file.
            if (scope, use.distribution) not in reported_unsure:
                reported_unsure.add((scope, use.distribution))
                _report_unsure(ctx, view, use, scope, brought.unread, declared)
            continue
        key = (use.path, use.distribution)
        if key in reported:
            continue
        reported.add(key)
        _report_undeclared(ctx, view, use, scope, declared, lazy="lazy" in kinds)


def _report_unsure(
    ctx: ProjectContext,
    view: ProjectView,
    use: ImportUse,
    scope: str,
    unsure: list[Declaration],
    declared: list[Declaration],
) -> None:
    assert use.distribution is not None
    name = display_name(use.distribution)
    target = _runtime_manifest(view, scope)
    pinned = sorted(unsure, key=lambda d: (d.pinned_version is None, d.path, d.line))
    shown = ", ".join(f"`{d.raw}`" for d in pinned[:3])
    if len(pinned) > 3:
        shown += f" and {len(pinned) - 3} more"
    if declared:
        first = declared[0]
        what = (
            f"`{name}` is declared only for {first.group} ({location(first)}); it may come "
            f"with the requirements of {shown}, which are not installed here, so they could "
            "not be read"
        )
    elif use.origin == "unknown" and not named_like_a_known_project(use):
        claimed = {
            other.distribution for other in view.inventory.imports if other.origin == "declared"
        }
        provides = any(d.name not in claimed and modules_unknown(view, d.name) for d in pinned)
        what = (
            f"no installed or known distribution provides `{use.module}`; it may come with "
            f"the requirements of {shown}"
            + (" (or be one of their modules)" if provides else "")
            + ", which are not installed here, so they could not be read"
        )
    else:
        what = (
            f"`{name}` is not declared in {target}; it may come with the requirements of "
            f"{shown}, which are not installed here, so they could not be read"
        )
    ctx.report(
        use.path,
        use.line,
        f"`{use.module}` is imported here but {what}: install the project's dependencies and "
        f"scan again to check, or {'move' if declared else 'declare'} `{name}` "
        f"{'to the runtime dependencies' if declared else 'directly'} if this code imports it "
        "(if nothing brings it, production fails with ModuleNotFoundError)",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )


def _report_undeclared(
    ctx: ProjectContext,
    view: ProjectView,
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
            f"({location(first)}): production installs the runtime dependencies without it and "
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


def _runtime_manifest(view: ProjectView, scope: str) -> str:
    runtime = [
        d.path for s in view.chain(scope) for d in view.by_scope.get(s, []) if d.group == "runtime"
    ]
    if runtime:
        return runtime[0]
    for path in view.declaring:
        if project_dir(path) == scope:
            return path
    return "the project's runtime dependencies"


def _no_manifest(project: ProjectFacts, ctx: ProjectContext, view: ProjectView) -> None:
    """No manifest at all: one finding (low confidence) at the first third-party import of
    service code -- unless the scan covers only part of a project whose manifests are above."""
    if _manifest_above(project.root):
        return
    marks = guard_marks(project, "DEP010")
    uses = [
        use
        for use in view.inventory.imports
        if use.origin not in {"stdlib", "first-party"}
        and use.distribution is not None
        and in_runtime_code(view, use.path, project.modules.get(use.path))
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
