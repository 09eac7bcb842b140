"""DEP016 missing-upper-bound. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from prodready.deps.declared import parse_release, parse_specifier, project_view
from prodready.deps.model import Declaration
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)

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
    view = project_view(project, ctx)
    for declaration in view.inventory.manifests.declarations:
        if not declaration.runtime or declaration.url is not None:
            continue
        if PurePosixPath(declaration.path).name not in _METADATA_FILES:
            continue
        specifier = parse_specifier(declaration.specifier)
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
    specifier = parse_specifier(declaration.specifier)
    lower = [s for s in specifier or [] if s.operator in {">=", ">"}]
    if lower:
        version = parse_release(lower[0].version)
        if version is not None:
            return f"{declaration.specifier},<{version.major + 1}"
    return ">=<current>,<<next major>"
