"""Dependencies: requirements without pins, VCS requirements without a commit (DEP001, DEP004)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prodready.deps.input_lists import compiled_inputs, read_requirements
from prodready.plugin import (
    Category,
    Confidence,
    FileContext,
    FileKind,
    ProjectContext,
    ProjectFacts,
    RequirementLine,
    RequirementsFile,
    Severity,
    file_rule,
    project_rule,
)

_DEV_WORDS = frozenset(
    {
        "dev",
        "develop",
        "development",
        "test",
        "tests",
        "testing",
        "docs",
        "doc",
        "lint",
        "linting",
        "ci",
        "local",
        "typing",
        "types",
        "mypy",
        "tox",
        "bench",
        "benchmark",
        "benchmarks",
        "example",
        "examples",
        "github",
        "actions",
        "gitlab",
        "tooling",
        "tools",
        "release",
        "insiders",
    }
)
_NON_APP_DIRECTORIES = frozenset({"docs", "doc", "tests", "test", "e2e"})
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


def _file_words(path: str) -> set[str]:
    name = path.lower().rsplit("/", 1)[-1]
    return set(re.split(r"[.\-_/]", name))


def _is_constraints(path: str) -> bool:
    name = path.lower().rsplit("/", 1)[-1]
    return name.startswith("constraint") or "constraints" in _file_words(path)


def _is_deployment_manifest(document: RequirementsFile, path: str) -> bool:
    """Whether a requirements file describes what a service runs in production, rather than a
    development, CI, docs or test environment, or a constraints overlay. Reproducibility
    rules apply to the former only."""
    if _is_constraints(path) or _file_words(path) & _DEV_WORDS:
        return False
    if set(path.lower().split("/")[:-1]) & _NON_APP_DIRECTORIES:
        return False  # docs builds (Read the Docs), test suites
    for line in document.lines:
        if line.option in {"-c", "--constraint"}:
            return False
        # ``-e .``: installs the project itself for development.
        target = (line.option_value or "").strip()
        if line.option in {"-e", "--editable"} and (target == "." or target.startswith(".[")):
            return False
    return True


# -- DEP001 -----------------------------------------------------------------------------------


@project_rule(
    code="DEP001",
    name="unpinned-requirement",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="A requirement without an exact == pin: builds install whatever was released last",
    fix="Pin exact versions (pip-compile / uv pip compile / pip freeze), ideally with --hash.",
)
def unpinned_requirement(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags requirements in an application's `requirements*.txt` that are not pinned to one
    version with `==` (or `===`): bare names, ranges (`>=`, `~=`, `<`) and wildcards
    (`==2.*`). Direct URLs, include lines (`-r`, `-c`) and options are not requirements.
    Development, test, docs and lint requirement files, constraint files, and files that
    take their pins from a `-c constraints.txt` are skipped, and so are a resolver's input
    lists (`base_requirements.txt` compiled into a fully pinned `requirements.txt` beside it,
    which names it or pins every one of its requirements) and projects whose profile says
    `project-type = "library"` (a library declares ranges, not pins: DEP016 checks their upper
    bounds).

    ## Why it breaks production
    An unpinned requirement resolves to the newest release at build time. The same commit
    built on Monday and on Tuesday ships different code; a dependency's breaking or broken
    release reaches production without any change of yours -- typically during an unrelated
    hotfix -- and rolling back by rebuilding an old commit no longer gives the old image.

    ## Example
    ```text
    fastapi
    requests>=2.31
    ```

    ## Use instead
    ```text
    fastapi==0.111.0
    requests==2.32.3
    # better: generate the pins with pip-compile / uv pip compile --generate-hashes
    ```
    """
    if ctx.profile.project_type == "library":
        return
    documents = read_requirements(project.root, project.files_of_kind(FileKind.REQUIREMENTS))
    inputs = compiled_inputs(project.root, documents)
    for item in documents:
        if item.path not in inputs and _is_deployment_manifest(item.document, item.path):
            _report_unpinned(item.path, item.document, ctx)


def _report_unpinned(path: str, document: RequirementsFile, ctx: ProjectContext) -> None:
    for line in document.requirements:
        if line.pinned or line.url:
            continue
        spec = line.specifier.strip()
        name = line.name or ""
        if not spec:
            ctx.report(
                path,
                line.line,
                f"`{name}` has no version pin: every build installs the latest release, so a "
                "broken or incompatible release ships without any change of yours; pin it "
                f"(`{name}==<version>`) or generate pins with pip-compile/uv",
            )
            continue
        bounded = "<" in spec or "~=" in spec or "*" in spec
        ctx.report(
            path,
            line.line,
            f"`{name}{spec}` allows several versions: builds of the same commit can install "
            "different releases and are not reproducible; pin one version with == "
            "(keep ranges in pyproject.toml, pins in the requirements file)",
            confidence=Confidence.MEDIUM if bounded else None,
        )


# -- DEP004 -----------------------------------------------------------------------------------

_COMMIT = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_VERSION_TAG = re.compile(r"v?\d+(\.\d+)+([.-]?[A-Za-z0-9]+)*")
_MOVING_ARCHIVE = re.compile(
    r"/archive/(refs/heads/[^/]+|(main|master|develop|trunk|HEAD))\.(zip|tar\.gz|tgz)$"
)


def _vcs_ref(url: str) -> str | None:
    """The ``@ref`` of a VCS URL (``git+https://host/org/repo.git@ref#egg=x``)."""
    body = url.split("#", 1)[0]
    body = body.partition("+")[2] if body.lower().startswith(_VCS_PREFIXES) else body
    scheme, separator, rest = body.partition("://")
    if separator:
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else ""
    else:
        path = scheme.split(":", 1)[1] if ":" in scheme else scheme  # git@host:org/repo
    if "@" not in path:
        return None
    return path.rsplit("@", 1)[1] or None


def _vcs_requirements(document: RequirementsFile) -> Iterator[tuple[RequirementLine, str]]:
    for line in document.lines:
        if line.url:
            yield line, line.url.strip()


@file_rule(
    kind=FileKind.REQUIREMENTS,
    code="DEP004",
    name="vcs-requirement-without-commit",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    summary="A git/VCS requirement that follows a branch or tag instead of a commit SHA",
    fix="Pin the full commit: pkg @ git+https://github.com/org/pkg.git@<40-hex commit sha>",
)
def vcs_requirement_without_commit(document: RequirementsFile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags VCS requirements (`git+https://...`, `pkg @ git+ssh://...`, `-e git+...`) whose
    URL has no `@<full commit sha>` -- no ref at all, a branch, or a tag (tags can be moved;
    reported with low confidence) -- and GitHub/GitLab archive URLs of a branch.

    ## Why it breaks production
    Without a commit, every build installs whatever the branch points to at that moment:
    an upstream push -- or a force-push, or a compromised maintainer account -- changes the
    code you ship without a change in your repository, and the build cannot be reproduced to
    investigate an incident or roll back. pip cannot verify hashes for VCS requirements,
    so the commit is the only pin there is.

    ## Example
    ```text
    internal-sdk @ git+https://github.com/acme/internal-sdk.git@main
    ```

    ## Use instead
    ```text
    internal-sdk @ git+https://github.com/acme/internal-sdk.git@3f2c1a9e5b7d4c6a8e0f1b2c3d4e5f6a7b8c9d0e
    ```
    """
    if not _is_deployment_manifest(document, ctx.path):
        return
    for line, url in _vcs_requirements(document):
        lower = url.lower()
        if lower.startswith(_VCS_PREFIXES):
            if "file://" in lower:
                continue  # a local checkout
            ref = _vcs_ref(url)
            if ref is not None and _COMMIT.fullmatch(ref):
                continue
            if ref is not None and lower.startswith("svn+") and ref.isdigit():
                continue  # an svn revision number
            if ref is None:
                problem = "has no @ref, so it installs the default branch's latest commit"
                confidence = None
            elif _VERSION_TAG.fullmatch(ref):
                problem = f"points at the tag `{ref}`, which can be moved or re-pushed"
                confidence = Confidence.LOW
            else:
                problem = f"follows `{ref}`, a branch or tag that moves"
                confidence = None
            ctx.report(
                line.line,
                f"VCS requirement {problem}: builds of the same commit install different "
                "code and cannot be reproduced; pin the full 40-character commit SHA",
                confidence=confidence,
            )
        elif _MOVING_ARCHIVE.search(url.split("#", 1)[0]) and "sha256=" not in lower:
            ctx.report(
                line.line,
                "this archive URL is a branch snapshot that changes with every push: builds "
                "cannot be reproduced; use a commit or release archive with #sha256=<hash>",
            )
