"""DEP015 unreadable-manifest. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

from prodready.deps.declared import project_view
from prodready.deps.manifests import is_lock_file
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)


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
    view = project_view(project, ctx)
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
