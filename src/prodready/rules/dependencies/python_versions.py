"""DEP014 python-version-mismatch. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

import ast
from typing import Any

from packaging.specifiers import SpecifierSet

from prodready.deps.declared import (
    VERSIONED_STDLIB,
    guard_marks,
    in_runtime_code,
    optional_in_module,
    parse_specifier,
    project_view,
    shared_guards,
)
from prodready.deps.manifests import project_dir
from prodready.plugin import (
    Category,
    Confidence,
    Mark,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import SYNTAX_VERSIONS

_GENERIC_TYPE_NODES: tuple[type, ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


_TYPE_ALIAS: tuple[type, ...] = (ast.TypeAlias,) if hasattr(ast, "TypeAlias") else ()


def _collect_versions(node: Any, ctx: Any) -> list[Mark] | None:
    """Guards (as ``_collect_guards``) plus syntax the engine's facts do not record: PEP 695
    type parameters and ``type`` aliases (3.12)."""
    if isinstance(node, _GENERIC_TYPE_NODES):
        if getattr(node, "type_params", None):
            return [Mark("type-parameters", int(getattr(node, "lineno", 1)), "syntax")]
        return None
    if _TYPE_ALIAS and isinstance(node, _TYPE_ALIAS):
        return [Mark("type-alias", int(getattr(node, "lineno", 1)), "syntax")]
    return shared_guards(node, ctx)


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
    view = project_view(project, ctx)
    requires = view.inventory.manifests.requires_python
    if requires is None:
        return
    specifier_text, manifest, line = requires
    specifier = parse_specifier(specifier_text)
    if specifier is None:
        return
    oldest = _oldest_admitted(specifier)
    if oldest is None:
        return
    scope = project_dir(manifest)
    needed: tuple[tuple[int, int], str, str, int] | None = None
    marks = guard_marks(project, "DEP014")

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
        return view.scope_of(path) == scope and in_runtime_code(
            view, path, project.modules.get(path)
        )

    optional = optional_in_module(project, "DEP014")
    for path, facts in sorted(project.modules.items()):
        if not counted(path):
            continue
        for syntax in facts.syntax:
            version = SYNTAX_VERSIONS.get(syntax.name)
            if version is not None:
                consider(version, syntax.name, path, syntax.line)
    for item in project.evidence("DEP014", include_tests=True):
        if item.kind == "syntax" and item.name in _EXTRA_SYNTAX and counted(item.path):
            consider(_EXTRA_SYNTAX[item.name], item.name, item.path, item.line)
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
