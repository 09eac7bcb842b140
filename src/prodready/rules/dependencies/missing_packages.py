"""DEP020 nonexistent-package. The analysis it reports from lives in the library,
:mod:`prodready.deps.existence`.
"""

from __future__ import annotations

import ast

from prodready.deps.declared import shared_guards
from prodready.deps.existence import index_label, needed_subjects
from prodready.deps.inventory import inventory
from prodready.deps.popular import typosquat_of
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
    code="DEP020",
    name="nonexistent-package",
    category=Category.DEPENDENCIES,
    severity=Severity.CRITICAL,
    confidence=Confidence.HIGH,
    cwe=829,
    summary="A declared or imported package does not exist on the package index",
    fix="Replace the name with the package you meant, or remove it; never install it by name.",
)
def nonexistent_package(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Asks the package index (PyPI, or `$PIP_INDEX_URL` / `[tool.prodready.deps] index-url` for
    a private registry) about every declared dependency and every import that no installed,
    declared or well-known distribution explains, and reports the names the index does not
    know: at the declaration, or at the import when nothing declares it (imports in tests and
    documentation examples, and imports named like a module of the project, are not taken as
    evidence, nor is an optional import: inside `try/except ImportError`, after a `find_spec`
    check, under a version or platform check). Requirements installed from a URL or a local
    path are not looked up.
    `prodready deps` asks the index; `prodready scan` uses the answers cached by earlier runs,
    and notes the names it could not verify.

    ## Why it breaks production
    Code assistants invent package names -- published measurements find about one in five
    suggested names hallucinated, many of them again and again -- and an invented name is
    free for anyone to register. Attackers do ("slopsquatting"): they publish a package under
    a name assistants keep suggesting, and the next `pip install` of the requirements runs
    their code in CI and in production. Until then the deploy fails on an install error, and
    the tempting fix -- installing whatever answers to the name -- is the attack. A private
    package that is absent from PyPI is the same hole (dependency confusion) when an installer
    also looks at PyPI.

    ## Example
    ```text
    # requirements.txt
    requests==2.32.3
    flask-jwt-auth-helpers==1.2.0   # no such project: whoever registers it runs in your build
    ```

    ## Use instead
    ```text
    # requirements.txt: the package that really provides the feature
    requests==2.32.3
    Flask-JWT-Extended==4.7.1
    ```
    For an internal package, install from your registry only (`--index-url` pointing at a
    proxy that serves both) and reserve the name on PyPI.
    """
    inv = inventory(project, ctx)
    where = index_label(ctx.config.deps)
    for subject in needed_subjects(inv, project, "DEP020"):
        if subject.info.exists is not False:
            continue
        resembles = typosquat_of(subject.name)
        hint = f" (did you mean `{resembles}`?)" if resembles else ""
        # An import nothing explains might still be a local module we could not place.
        confidence = None if subject.declarations else Confidence.MEDIUM
        for path, line in subject.places():
            label = subject.label(path, line)
            if subject.declarations:
                message = (
                    f"{label}: no package `{subject.info.name}` exists on {where}{hint}. A name"
                    " nobody publishes is free for anyone to register with malicious code"
                    " (slopsquatting): replace it with the package you meant or remove it."
                )
            else:
                message = (
                    f"{label}: nothing declared or installed provides it, and no package"
                    f" `{subject.info.name}` exists on {where}{hint}. Installing it by name"
                    " would fetch whatever someone registers: fix the import or declare the"
                    " distribution that provides it."
                )
            ctx.report(path, line, message, confidence=confidence)
