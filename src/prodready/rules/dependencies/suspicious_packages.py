"""DEP021 suspicious-package. The analysis it reports from lives in the library,
:mod:`prodready.deps.existence`.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime

from prodready.deps.declared import shared_guards
from prodready.deps.existence import needed_subjects, suspicion_reasons
from prodready.deps.inventory import inventory
from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)


@project_rule(
    nodes=(ast.Import, ast.ImportFrom, ast.If, ast.Try),
    collect=shared_guards,
    code="DEP021",
    name="suspicious-package",
    category=Category.DEPENDENCIES,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    cwe=1357,
    summary="A dependency exists on the index but looks like a placeholder or a new squat",
    fix="Check the project's source and maintainers before installing it, or use a known one.",
)
def suspicious_package(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Weighs what the package index says about each dependency that exists: a first release
    less than 90 days old, a single release (or none with files), an empty or placeholder
    description ("test", "placeholder", "my first package"), no project links. It reports a
    dependency showing at least two of these, one of them about its youth (recent, single
    release) and -- when the index gives descriptions and links -- one about its emptiness,
    listing the reasons. A healthy new project (recent, but described and linked) is not
    reported; neither is an old one without links. For an import that nothing declares, the
    index describes a namesake that may be an unrelated old project (`import material` comes
    from mkdocs-material, not from the `material` of 2014), so only a recent first release
    counts there, with low confidence.

    ## Why it breaks production
    Existence is not legitimacy. Names that code assistants hallucinate get registered --
    sometimes by researchers holding them, sometimes as an empty first release that a later
    update turns malicious once installs arrive. The profile is the same: registered weeks ago,
    one release, no description, no repository. Pinning such a package runs code nobody
    reviewed, from an author nobody knows, in every build.

    ## Example
    ```text
    # requirements.txt
    fastapi-auth-middleware==0.0.1   # first release 12 days ago, single release, no links
    ```

    ## Use instead
    ```text
    # a maintained package with a history, a repository and a description
    fastapi==0.115.6
    PyJWT==2.10.1
    ```
    When the package is yours or known to be legitimate, suppress the finding with the
    reason.
    """
    inv = inventory(project, ctx)
    today = datetime.now(UTC).date()
    for subject in needed_subjects(inv, project, "DEP021"):
        if subject.info.exists is not True:
            continue
        reasons = suspicion_reasons(subject.info, today)
        if not reasons or (not subject.declarations and not reasons[0].startswith("first")):
            # For a bare import the index describes a namesake, which may be an old, unrelated
            # project (``import material`` is mkdocs-material, not the 2014 ``material`` 0.1):
            # only a namesake registered recently suggests someone claimed the name.
            continue
        confidence = None
        if not subject.info.has_metadata or not subject.declarations:
            confidence = Confidence.LOW
        for path, line in subject.places():
            ctx.report(
                path,
                line,
                f"{subject.label(path, line)}: `{subject.info.name}` looks like a placeholder or"
                f" a new squat ({'; '.join(reasons)}). Check its source and maintainers before"
                " installing it, or depend on an established package.",
                confidence=confidence,
            )
