"""Dependencies: requirement lines and pyproject dependencies that do not parse (DEP003, DEP005)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prodready.deps.files import requirement_error
from prodready.plugin import (
    Category,
    Confidence,
    FileContext,
    FileKind,
    Pyproject,
    RequirementsFile,
    Severity,
    file_rule,
)
from prodready.rules.dependencies._shared import _REQUIREMENTS_OPTIONS, _canonical_option

_SHORT_OPTIONS = frozenset({"-i", "-c", "-r", "-e", "-f"})


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
