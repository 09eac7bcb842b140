"""Dockerfile parser: instructions (with flags, heredocs and continuation lines) grouped into build
stages.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from prodready.engine.documents.errors import DocumentError


@dataclass(slots=True)
class Instruction:
    keyword: str
    value: str
    line: int
    end_line: int
    stage: int
    flags: dict[str, str] = field(default_factory=dict)
    # Every ``--name=value`` flag in order; ``flags`` keeps the last value of each name, this
    # keeps repeated ones too (``RUN --mount=... --mount=...``).
    flag_list: list[tuple[str, str]] = field(default_factory=list)

    def flag_values(self, name: str) -> list[str]:
        """The values of every occurrence of the flag ``--name``."""
        return [value for key, value in self.flag_list if key == name]

    def arguments(self) -> list[str]:
        """Exec-form (JSON array) or shell-form arguments."""
        text = self.value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
                return parsed
        try:
            return shlex.split(text, comments=False)
        except ValueError:
            return text.split()


@dataclass(slots=True)
class Stage:
    index: int
    image: str
    alias: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def find(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass(slots=True)
class Dockerfile:
    instructions: list[Instruction]
    stages: list[Stage]

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None


_FLAG = re.compile(r"^--([a-zA-Z-]+)(?:=(\S*))?\s*")


# A heredoc is a *word* of the instruction that starts with ``<<`` (BuildKit checks each word
# against ``^(\d*)<<(-?)([^<]*)$``), and only RUN, COPY and ADD take them.
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)([^<]+)$")


_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})


_KEYWORD = re.compile(r"(\S+)\s*(.*)$", re.DOTALL)


def _heredoc_terminators(value: str) -> list[tuple[str, bool]]:
    """``(terminator, strip_tabs)`` for each heredoc the instruction opens, in order."""
    if "<<" not in value:
        return []
    try:
        words = shlex.split(value, comments=False, posix=False)
    except ValueError:
        words = value.split()
    found: list[tuple[str, bool]] = []
    for word in words:
        match = _HEREDOC_WORD.match(word)
        if match is None:
            continue
        name = match.group(3)
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]
        if name and re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            found.append((name, match.group(2) == "-"))
    return found


def parse_dockerfile(text: str) -> Dockerfile:
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:  # parser directives precede everything else
        match = re.match(r"^#\s*([A-Za-z]+)\s*=\s*(\S*)", raw.strip())
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2) in {"\\", "`"}:
            escape = match.group(2)
    instructions: list[Instruction] = []
    stages: list[Stage] = []
    index = 0
    while index < len(lines):
        raw = lines[index]
        stripped = raw.strip()
        start = index + 1
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        parts = [stripped]
        continued = stripped.endswith(escape)
        while continued and index < len(lines):
            parts[-1] = parts[-1][: -len(escape)]
            nxt = lines[index].strip()
            index += 1
            if not nxt or nxt.startswith("#"):
                # Empty lines and comments inside a continuation are dropped; it goes on.
                parts[-1] += escape
                continue
            parts.append(nxt)
            continued = nxt.endswith(escape)
        if continued and parts[-1].endswith(escape):
            parts[-1] = parts[-1][: -len(escape)]  # an escape on the file's last line
        joined = " ".join(p.strip() for p in parts if p.strip())
        split = _KEYWORD.match(joined)
        keyword, value = (split.group(1), split.group(2)) if split else (joined, "")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        flag_list: list[tuple[str, str]] = []
        value = value.strip()
        while True:
            flag = _FLAG.match(value)
            if not flag:
                break
            name = flag.group(1).lower()
            flags[name] = flag.group(2) or ""
            flag_list.append((name, flag.group(2) or ""))
            value = value[flag.end() :]
        if keyword in _HEREDOC_KEYWORDS:
            for terminator, strip_tabs in _heredoc_terminators(value):
                body: list[str] = []
                while index < len(lines):
                    candidate = lines[index].lstrip("\t") if strip_tabs else lines[index]
                    if candidate.rstrip() == terminator:
                        break
                    body.append(lines[index])
                    index += 1
                index += 1  # the terminator line
                value = value + "\n" + "\n".join(body)
            index = min(index, len(lines))
        if keyword == "FROM":
            words = value.split()
            image = words[0] if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(len(stages), image, alias, start))
        instruction = Instruction(
            keyword, value, start, index, max(len(stages) - 1, 0), flags, flag_list
        )
        instructions.append(instruction)
        if stages:
            stages[-1].instructions.append(instruction)
    if instructions and not stages:
        raise DocumentError("Dockerfile has no FROM instruction", instructions[0].line)
    return Dockerfile(instructions, stages)
