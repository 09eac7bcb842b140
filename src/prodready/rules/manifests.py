"""Dependency manifest rules (requirements files, pyproject.toml)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from prodready.deps.files import requirement_error
from prodready.engine.documents import FileContext, Pyproject, RequirementLine, RequirementsFile
from prodready.engine.registry import file_rule
from prodready.model import Category, Confidence, FileKind, Severity

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
_INDEX_OPTIONS = frozenset({"-i", "--index-url", "--extra-index-url", "-f", "--find-links"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})  # noqa: S104
_KNOWN_EXTRA_INDEXES = frozenset(
    {"pypi.org", "pypi.python.org", "download.pytorch.org", "pypi.nvidia.com"}
)
_REQUIREMENTS_OPTIONS = (
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "--constraint",
    "--requirement",
    "--editable",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--require-hashes",
    "--pre",
    "--trusted-host",
    "--use-feature",
    "--hash",
)
_SHORT_OPTIONS = frozenset({"-i", "-c", "-r", "-e", "-f"})
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


def _canonical_option(option: str) -> str:
    """pip (optparse) accepts any unambiguous prefix of a long option: --extra-index."""
    if option in _REQUIREMENTS_OPTIONS or not option.startswith("--") or len(option) < 4:
        return option
    matches = [known for known in _REQUIREMENTS_OPTIONS if known.startswith(option)]
    return matches[0] if len(matches) == 1 else option


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


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _plain_http(url: str) -> bool:
    """``http://`` (or ``git+http://``) to a host other than this machine."""
    lower = url.strip().lower()
    scheme = lower.partition("://")[0]
    if scheme not in {"http", "git+http", "hg+http", "svn+http", "bzr+http"}:
        return False
    return _host(lower.partition("+")[2] if scheme != "http" else lower) not in _LOCAL_HOSTS


# -- DEP001 -----------------------------------------------------------------------------------


@file_rule(
    kind=FileKind.REQUIREMENTS,
    code="DEP001",
    name="unpinned-requirement",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    summary="A requirement without an exact == pin: builds install whatever was released last",
    fix="Pin exact versions (pip-compile / uv pip compile / pip freeze), ideally with --hash.",
)
def unpinned_requirement(document: RequirementsFile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags requirements in an application's `requirements*.txt` that are not pinned to one
    version with `==` (or `===`): bare names, ranges (`>=`, `~=`, `<`) and wildcards
    (`==2.*`). Direct URLs, include lines (`-r`, `-c`) and options are not requirements.
    Development, test, docs and lint requirement files, constraint files, and files that
    take their pins from a `-c constraints.txt` are skipped, and so are projects whose
    profile says `project-type = "library"` (a library declares ranges, not pins: DEP016
    checks their upper bounds).

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
    if ctx.profile.project_type == "library" or not _is_deployment_manifest(document, ctx.path):
        return
    for line in document.requirements:
        if line.pinned or line.url:
            continue
        spec = line.specifier.strip()
        name = line.name or ""
        if not spec:
            ctx.report(
                line.line,
                f"`{name}` has no version pin: every build installs the latest release, so a "
                "broken or incompatible release ships without any change of yours; pin it "
                f"(`{name}==<version>`) or generate pins with pip-compile/uv",
            )
            continue
        bounded = "<" in spec or "~=" in spec or "*" in spec
        ctx.report(
            line.line,
            f"`{name}{spec}` allows several versions: builds of the same commit can install "
            "different releases and are not reproducible; pin one version with == "
            "(keep ranges in pyproject.toml, pins in the requirements file)",
            confidence=Confidence.MEDIUM if bounded else None,
        )


# -- DEP002 -----------------------------------------------------------------------------------


@file_rule(
    kind=FileKind.REQUIREMENTS,
    code="DEP002",
    name="insecure-package-source",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=829,
    summary="Packages from plain HTTP, a --trusted-host or an extra index (dependency confusion)",
    fix="Use one HTTPS index (a proxy such as devpi/Artifactory that mirrors PyPI) with TLS.",
)
def insecure_package_source(document: RequirementsFile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags package sources that an attacker can substitute: `--index-url`, `--extra-index-url`
    or `--find-links` over `http://`, `--trusted-host` (TLS verification off for that host),
    requirements and editable installs from `http://` URLs, and `--extra-index-url` in
    general, which lets a public package shadow a private one (dependency confusion).

    ## Why it breaks production
    Code from these sources runs at install time with the build's privileges and then in
    production. Over plain HTTP or with verification disabled, anyone on the network path --
    a CI runner's network, a proxy, a compromised Wi-Fi -- can serve a trojaned package. With
    `--extra-index-url`, pip picks the highest version from *any* index: publishing your
    private package name on PyPI with a higher version gets the attacker's code installed
    (the 2022 PyTorch `torchtriton` compromise).

    ## Example
    ```text
    --extra-index-url http://pypi.internal.example.com/simple
    --trusted-host pypi.internal.example.com
    ```

    ## Use instead
    ```text
    --index-url https://pypi.internal.example.com/simple   # a proxy that mirrors PyPI
    ```
    """
    for line in document.lines:
        option = _canonical_option(line.option) if line.option else None
        value = (line.option_value or "").strip()
        if option in _INDEX_OPTIONS and value:
            if _plain_http(value):
                ctx.report(
                    line.line,
                    f"`{option} {value}` downloads packages over plain HTTP: anyone on the "
                    "network path can substitute the code that gets installed; use https://",
                )
            elif option == "--extra-index-url" and value.lower().startswith("https://"):
                if _host(value) in _KNOWN_EXTRA_INDEXES:
                    continue
                ctx.report(
                    line.line,
                    "`--extra-index-url` makes pip take the highest version from either "
                    "index, so a package published on PyPI under one of your private names "
                    "wins (dependency confusion); serve everything from one index that proxies "
                    "PyPI, or pin with --hash",
                    severity=Severity.MEDIUM,
                    confidence=Confidence.MEDIUM,
                )
            continue
        if option == "--trusted-host" and value:
            if value.split(":")[0].lower() in _LOCAL_HOSTS:
                continue
            ctx.report(
                line.line,
                f"`--trusted-host {value}` turns off TLS verification (and allows HTTP) for "
                "that host: a man in the middle can serve any package; fix the host's "
                "certificate or configure its CA (PIP_CERT) instead",
            )
            continue
        if line.url and _plain_http(line.url):
            ctx.report(
                line.line,
                f"`{line.url}` is fetched over plain HTTP: anyone on the network path can "
                "substitute the code that gets installed; use an https:// URL",
            )


# -- DEP003 -----------------------------------------------------------------------------------


def _known_option(option: str) -> bool:
    return option in _SHORT_OPTIONS or _canonical_option(option) in _REQUIREMENTS_OPTIONS


@file_rule(
    kind=FileKind.REQUIREMENTS,
    code="DEP003",
    name="invalid-requirement",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    summary="A requirements line pip cannot parse, or an option pip does not know",
    fix="Write a PEP 508 requirement: name[extras]==version ; marker",
)
def invalid_requirement(document: RequirementsFile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags lines of a requirements file that are not valid PEP 508 requirements
    (`requests = 2.31`, `django=4.2`, `flask>=2.0<3.0`) and options that pip does not
    accept in requirements files (removed ones such as `--allow-external`).

    ## Why it breaks production
    pip aborts on the first line it cannot parse, so the image build or deploy pipeline
    fails -- usually discovered when an urgent fix needs to ship. Worse, some typos parse as
    something else (a missing comma in a specifier, a marker applied to the wrong package),
    silently installing a different set of packages than intended.

    ## Example
    ```text
    requests = 2.31.0
    django=4.2
    ```

    ## Use instead
    ```text
    requests==2.31.0
    django==4.2.13
    ```
    """
    for line in document.lines:
        if line.error:
            message = requirement_error(line.error)
            ctx.report(
                line.line,
                f"pip cannot parse this line ({message}): the install fails or installs "
                "something else; write `name==version` (PEP 508)",
            )
        elif line.option and not _known_option(line.option):
            ctx.report(
                line.line,
                f"`{line.option}` is not an option pip accepts in requirements files: the "
                "install aborts; remove it or use a supported option",
                confidence=Confidence.MEDIUM,
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


# -- DEP005 -----------------------------------------------------------------------------------


def _dependency_lists(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(table, value)`` of each PEP 508 list in pyproject.toml."""
    project = data.get("project")
    if isinstance(project, dict):
        if "dependencies" in project:
            yield "[project].dependencies", project["dependencies"]
        optional = project.get("optional-dependencies")
        if isinstance(optional, dict):
            for extra, value in optional.items():
                yield f"[project.optional-dependencies].{extra}", value
    groups = data.get("dependency-groups")
    if isinstance(groups, dict):
        for group, value in groups.items():
            if isinstance(value, list):
                value = [item for item in value if not isinstance(item, dict)]
            yield f"[dependency-groups].{group}", value
    build = data.get("build-system")
    if isinstance(build, dict) and "requires" in build:
        yield "[build-system].requires", build["requires"]


def _line_of_entry(document: Pyproject, entry: str, fallback: str) -> int:
    for quoted in (f'"{entry}"', f"'{entry}'"):
        for number, text in enumerate(document.text_lines, start=1):
            if quoted in text:
                return number
    return document.line_of(fallback)


@file_rule(
    kind=FileKind.PYPROJECT,
    code="DEP005",
    name="invalid-pyproject-dependency",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    summary="A pyproject.toml dependency that is not a valid PEP 508 requirement",
    fix='Write each dependency as a PEP 508 string: "requests>=2.31,<3"',
)
def invalid_pyproject_dependency(document: Pyproject, ctx: FileContext) -> None:
    """
    ## What it does
    Flags entries of `[project].dependencies`, `[project.optional-dependencies]`,
    `[dependency-groups]` and `[build-system].requires` that are not valid PEP 508
    requirement strings, and those lists when they are not lists of strings. (Poetry's
    `[tool.poetry.dependencies]` tables use their own syntax and are not checked.)

    ## Why it breaks production
    pip, uv and build backends reject the whole project when one entry does not parse: the
    image build and every deploy fail until someone fixes the metadata, and some typos parse
    as a different requirement than intended.

    ## Example
    ```toml
    [project]
    dependencies = ["requests = 2.31", "django=4.2"]
    ```

    ## Use instead
    ```toml
    [project]
    dependencies = ["requests>=2.31,<3", "django>=4.2,<5"]
    ```
    """
    from packaging.requirements import InvalidRequirement, Requirement

    for table, value in _dependency_lists(document.data):
        key = table.rsplit(".", 1)[-1].strip("[]")
        if not isinstance(value, list):
            ctx.report(
                document.line_of(key),
                f"{table} must be a list of requirement strings: installers reject the "
                "project; write it as a TOML array of PEP 508 strings",
            )
            continue
        for entry in value:
            if not isinstance(entry, str):
                ctx.report(
                    document.line_of(key),
                    f"{table} contains {entry!r}, which is not a requirement string: "
                    "installers reject the project; write PEP 508 strings",
                )
                continue
            try:
                Requirement(entry)
            except InvalidRequirement as exc:
                message = str(exc).splitlines()[0]
                ctx.report(
                    _line_of_entry(document, entry, key),
                    f"`{entry}` in {table} is not a valid requirement ({message}): "
                    "installers reject the project; write `name>=version` (PEP 508)",
                )
