"""Dockerfile: analysis several Dockerfile rules share (RUN shell words, stages, images)."""

from __future__ import annotations

import json
import posixpath
import re
import shlex

from prodready.plugin import Dockerfile, FileContext, Instruction, Stage

# -- Dockerfile helpers -----------------------------------------------------------------------

_DEV_WORDS = frozenset(
    {"dev", "develop", "development", "local", "test", "tests", "testing", "ci", "debug", "e2e"}
)
_DEV_DIRECTORIES = frozenset(
    {".devcontainer", "devcontainer", "dev", "local", "test", "tests", "e2e", "testdata"}
)


def _dev_dockerfile(path: str) -> bool:
    """Dev containers, test and CI images: production-only rules do not apply."""
    parts = path.lower().split("/")
    if any(part in _DEV_DIRECTORIES for part in parts[:-1]):
        return True
    words = set(re.split(r"[.\-_]", parts[-1])) - {"dockerfile", "containerfile"}
    return bool(words & _DEV_WORDS)


_DEV_STAGES = frozenset(
    {"dev", "develop", "development", "local", "test", "tests", "testing", "debug", "ci", "lint"}
)


def _production_stage(document: Dockerfile) -> Stage | None:
    """The stage that ships: the last one, unless it is a development target (``AS dev``)
    that builds select with ``--target``; then the last stage before it that is not."""
    for stage in reversed(document.stages):
        if not set(re.split(r"[-_.]", (stage.alias or "").lower())) & _DEV_STAGES:
            return stage
    return None


def _split(text: str, *, comments: bool = False) -> list[str]:
    try:
        return shlex.split(text, comments=comments)
    except ValueError:
        return text.split()


def _exec_form(instruction: Instruction) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, or None for shell form."""
    text = instruction.value.strip()
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return parsed
    return None


def _pairs(instruction: Instruction) -> list[tuple[str, str | None]]:
    """``(name, value)`` pairs of ENV or ARG (value None: ARG without default)."""
    text = instruction.value.strip()
    if not text:
        return []
    words = _split(text)
    if not words:
        return []
    if instruction.keyword == "ENV" and "=" not in words[0]:
        name, _, rest = text.partition(" ")  # legacy ``ENV NAME value``
        rest = rest.strip()
        if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
            rest = rest[1:-1]
        return [(name, rest)]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        if word.startswith("#"):
            break  # not Dockerfile syntax, but tolerate a trailing comment
        name, equals, value = word.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
            continue
        if instruction.keyword == "ENV" and not equals:
            continue
        pairs.append((name, value if equals else None))
    return pairs


_VARIABLE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def _substitute(text: str, variables: dict[str, str | None]) -> str | None:
    """Expand ``$NAME``/``${NAME}``/``${NAME:-default}``; None when a value is unknown."""
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group(1) or match.group(4)
        value = variables.get(name)
        operator, word = match.group(2), match.group(3)
        if operator == "-" and not value:
            return word or ""
        if operator == "+":
            return (word or "") if value else ""
        if value is None:
            unresolved = True
            return ""
        return value

    result = _VARIABLE.sub(replace, text)
    return None if unresolved else result


def _global_args(document: Dockerfile) -> dict[str, str | None]:
    first = document.stages[0].line if document.stages else 0
    found: dict[str, str | None] = {}
    for instruction in document.instructions:
        if instruction.line >= first:
            break
        if instruction.keyword == "ARG":
            found.update(_pairs(instruction))
    return found


def _chain(document: Dockerfile, stage: Stage) -> list[Stage]:
    """``stage`` and the earlier stages it is built ``FROM``, ancestors first."""
    chain = [stage]
    current = stage
    variables = _global_args(document)
    while True:
        image = current.image.lower()
        if "$" in image:
            image = (_substitute(current.image, variables) or "").lower()
        parent = next(
            (
                s
                for s in reversed(document.stages[: current.index])
                if s.alias and s.alias.lower() == image
            ),
            None,
        )
        if parent is None or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain[::-1]


def _process(chain: list[Stage]) -> tuple[Instruction | None, Instruction | None]:
    """The effective ENTRYPOINT and CMD of the last stage of ``chain``.

    A stage that sets ENTRYPOINT resets the CMD inherited from its base.
    """
    entrypoint: Instruction | None = None
    command: Instruction | None = None
    for stage in chain:
        entrypoints = stage.find("ENTRYPOINT")
        commands = stage.find("CMD")
        if entrypoints:
            entrypoint = entrypoints[-1]
            command = commands[-1] if commands else None
        elif commands:
            command = commands[-1]
    return entrypoint, command


def _words(instruction: Instruction | None) -> list[str]:
    """The words a CMD/ENTRYPOINT runs, ``sh -c "..."`` strings expanded."""
    if instruction is None:
        return []
    exec_form = _exec_form(instruction)
    if exec_form is None:
        return _split(instruction.value, comments=True)
    words: list[str] = []
    for item in exec_form:
        words.extend(_split(item) if " " in item.strip() else [item])
    return words


_SEPARATORS = frozenset({"&&", "||", ";", "|", "&"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh"})


def _segments(words: list[str]) -> list[list[str]]:
    """Split shell words into simple commands at ``&&``, ``;``, ``|``..."""
    segments: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS:
            segments.append([])
            continue
        if word.endswith(";") and len(word) > 1:
            segments[-1].append(word[:-1])
            segments.append([])
            continue
        segments[-1].append(word)
    return [segment for segment in segments if segment]


def _shell_lines(instruction: Instruction) -> list[str]:
    """The shell command lines of a RUN: its (joined) text, one line per command of a heredoc
    body, or the words of an exec-form array (``["sh", "-c", "<script>"]`` gives the script)."""
    exec_form = _exec_form(instruction)
    if exec_form is not None:
        if len(exec_form) >= 3 and _base(exec_form[0]) in _SHELLS and exec_form[1] == "-c":
            return [exec_form[2]]
        return [" ".join(word if " " in word.strip() else shlex.quote(word) for word in exec_form)]
    lines: list[str] = []
    for raw in instruction.value.split("\n"):
        if lines and lines[-1].endswith("\\"):  # a continuation inside a heredoc body
            lines[-1] = lines[-1][:-1] + " " + raw.strip()
        else:
            lines.append(raw.strip())
    return [line for line in lines if line]


def _text_line(ctx: FileContext, instruction: Instruction, pattern: re.Pattern[str]) -> int:
    """The first line of a multi-line instruction that matches ``pattern`` (comment lines
    inside a continuation are skipped)."""
    for number in range(instruction.line, min(instruction.end_line, len(ctx.lines)) + 1):
        text = ctx.lines[number - 1]
        if not text.lstrip().startswith("#") and pattern.search(text):
            return number
    return instruction.line


def _line_of(ctx: FileContext, instruction: Instruction, name: str) -> int:
    """The line of a multi-line ENV/ARG that declares ``name``."""
    pattern = re.compile(rf"(^|[\s\\]){re.escape(name)}(=|\s|$)")
    for number in range(instruction.line, min(instruction.end_line, len(ctx.lines)) + 1):
        text = ctx.lines[number - 1]
        if number == instruction.line:
            text = text.strip().partition(" ")[2]
        if pattern.search(text):
            return number
    return instruction.line


def _base(word: str) -> str:
    return posixpath.basename(word.strip()).lower()
