"""requirements.txt parser, following pip's own line handling (continuations, comments, options,
per-requirement ``--hash``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(slots=True)
class RequirementLine:
    line: int
    text: str
    name: str | None = None
    specifier: str = ""
    marker: str | None = None
    url: str | None = None
    extras: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()
    option: str | None = None  # -r, -c, -e, --index-url, ...
    option_value: str | None = None
    error: str | None = None

    @property
    def pinned(self) -> bool:
        spec = self.specifier.strip()
        return (spec.startswith("==") and "*" not in spec and "," not in spec) or spec.startswith(
            "==="
        )


@dataclass(slots=True)
class RequirementsFile:
    lines: list[RequirementLine]

    @property
    def requirements(self) -> list[RequirementLine]:
        return [line for line in self.lines if line.name is not None]


_HASH = re.compile(r"\s--hash[=\s]+(\S+)")


_COMMENT = re.compile(r"(^|\s)#.*$")


_OPTION = re.compile(r"(--[A-Za-z0-9][\w-]*|-[A-Za-z])\s*=?\s*(.*)$", re.DOTALL)


def _split_options(line: str) -> tuple[str, str]:
    """pip's ``break_args_options``: the requirement, then per-requirement options such as
    ``--hash=...`` or ``--config-settings=...`` from the first word that starts with ``-``."""
    words = line.split(" ")
    for position, word in enumerate(words):
        if word.startswith("-"):
            return " ".join(words[:position]).strip(), " ".join(words[position:]).strip()
    return line.strip(), ""


def parse_requirements(text: str) -> RequirementsFile:
    from packaging.requirements import InvalidRequirement, Requirement

    result: list[RequirementLine] = []
    raw_lines = text.splitlines()
    index = 0
    while index < len(raw_lines):
        start = index + 1
        logical = _COMMENT.sub("", raw_lines[index])
        index += 1
        while logical.rstrip().endswith("\\") and index < len(raw_lines):
            logical = logical.rstrip()[:-1] + " " + _COMMENT.sub("", raw_lines[index])
            index += 1
        logical = logical.strip()
        if not logical:
            continue
        entry = RequirementLine(line=start, text=logical)
        if logical.startswith("-"):
            hashes = tuple(_HASH.findall(" " + logical))
            entry.hashes = hashes
            logical = _HASH.sub("", " " + logical).strip()
            option = _OPTION.match(logical)
            if option is not None:
                entry.option = option.group(1)
                entry.option_value = option.group(2).strip() or None
            else:
                entry.option = logical
            if entry.option in {"-e", "--editable"}:
                entry.url = entry.option_value
            result.append(entry)
            continue
        logical, options = _split_options(logical)
        entry.hashes = tuple(_HASH.findall(" " + options))
        try:
            requirement = Requirement(logical)
        except InvalidRequirement as exc:
            if "://" in logical or logical.startswith((".", "/")):
                entry.url = logical
            else:
                entry.error = f"invalid requirement {logical!r}: {exc}"
            result.append(entry)
            continue
        entry.name = requirement.name
        entry.specifier = str(requirement.specifier)
        entry.marker = str(requirement.marker) if requirement.marker else None
        entry.url = requirement.url
        entry.extras = tuple(sorted(requirement.extras))
        result.append(entry)
    return RequirementsFile(result)
