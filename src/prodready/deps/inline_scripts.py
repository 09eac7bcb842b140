"""PEP 723 inline script metadata (packaging.python.org, "Inline script metadata"): a script's
``# /// script`` comment block declares the distributions ``uv run script.py`` or ``pipx run``
install into the script's own environment -- its declarations, and those of the modules it
loads from its directory, for DEP010."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from prodready.engine.module_record import Mark
from prodready.engine.project import ProjectFacts

# The reference expression of the specification (packaging.python.org, "Inline script metadata").
_INLINE_METADATA = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)
SCRIPT_DEPENDENCY_KIND = "script-dependency"  # Mark.kind: ``name`` is a declared distribution


def inline_script_dependencies(source: str) -> list[Mark]:
    """The distributions a script declares in its ``# /// script`` block (PEP 723: ``uv run
    script.py``, ``pipx run`` install them into the script's own environment), marked at the
    block's first line; nothing when the block is absent or unreadable."""
    if "# /// script" not in source:
        return []
    match = next((m for m in _INLINE_METADATA.finditer(source) if m["type"] == "script"), None)
    if match is None:
        return []
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in match["content"].splitlines(keepends=True)
    )
    try:
        dependencies = tomllib.loads(content).get("dependencies")
    except tomllib.TOMLDecodeError:
        return []
    if not isinstance(dependencies, list):
        return []
    line = source.count("\n", 0, match.start()) + 1
    found: list[Mark] = []
    for text in dependencies:
        try:
            name = canonicalize_name(Requirement(str(text)).name)
        except InvalidRequirement:
            continue
        found.append(Mark(name, line, SCRIPT_DEPENDENCY_KIND))
    return found


def script_declarations(project: ProjectFacts, code: str) -> dict[str, frozenset[str]]:
    """Directory of a script with inline metadata -> the distributions it declares. The
    script runs with its directory first on ``sys.path``: the modules beside and below it that
    it imports run in the script's environment, so the block declares for them too."""
    found: dict[str, set[str]] = {}
    for item in project.evidence(code, include_tests=True):
        if item.kind == SCRIPT_DEPENDENCY_KIND and item.name:
            found.setdefault(str(PurePosixPath(item.path).parent), set()).add(item.name)
    return {directory: frozenset(names) for directory, names in found.items()}
