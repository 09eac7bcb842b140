"""``# prodready: ignore[CODE, ...] reason`` and ``# prodready: ignore-file[CODE, ...] reason``.

A suppression applies to findings on its own line, on the last line of a multi-line finding, or,
when the comment stands alone on its line, to findings on the next line; a file-level one
(``ignore-file``, which must name its codes) to every finding of those rules in the file. A
suppression must say why; the engine hands every suppression to the rules that subscribe to
them (``suppression-without-reason``, ``unknown-rule-in-suppression``, ``unused-suppression``),
in every kind of file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SUPPRESSION = re.compile(
    # The reason runs to the end of the line or to the next comment marker.
    r"#\s*prodready\s*:\s*ignore(?P<file>-file)?\b(?!-)"
    r"(?:\[(?P<codes>[^\]]*)\])?(?P<reason>[^#\n]*)",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Suppression:
    """One suppression comment."""

    line: int
    column: int
    codes: tuple[str, ...]  # empty: every rule
    reason: str
    standalone: bool  # the comment is alone on its line
    used: set[str] = field(default_factory=set)
    whole_file: bool = False  # ``ignore-file[...]``: every line of the file
    # Filled in by the engine before the suppression rules see it: codes that name no rule
    # (with the closest rule code or name, if any), and selected rules it silenced nothing of.
    unknown: list[tuple[str, str | None]] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def covers(self, code: str, name: str, old_codes: tuple[str, ...] = ()) -> bool:
        """Whether it silences rule ``code`` (``old_codes``: the codes it had before it was
        renumbered, which comments written then still name)."""
        if not self.codes:
            return not self.whole_file  # a blanket ``ignore-file`` would hide the whole file
        return any(
            wanted.upper() == code or wanted.lower() == name or wanted.upper() in old_codes
            for wanted in self.codes
        )


class Suppressions(dict[int, Suppression]):
    """Suppression comments by line, with the file-level ones also listed apart."""

    def __init__(self) -> None:
        super().__init__()
        self.whole_file: list[Suppression] = []


def python_comments(source: str) -> dict[int, int] | None:
    """Line -> column of each real comment in Python source (not ``#`` inside strings or
    docstrings); None when the source cannot be tokenized."""
    import io
    import tokenize

    comments: dict[int, int] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.start[1]
    except (tokenize.TokenError, SyntaxError):
        return None
    return comments


def find_suppressions(lines: list[str], comments: dict[int, int] | None = None) -> Suppressions:
    """Suppression comments by line. ``comments`` (line -> column of the comment) restricts the
    search to real comments, for languages where ``#`` may sit inside a string."""
    found = Suppressions()
    for number, text in enumerate(lines, start=1):
        if "prodready" not in text:
            continue
        if comments is not None:
            column = comments.get(number)
            if column is None:
                continue
            match = _SUPPRESSION.search(text, column)
        else:
            match = _SUPPRESSION.search(text)
        if match is None:
            continue
        codes_text = match.group("codes")
        codes = tuple(c.strip() for c in (codes_text or "").split(",") if c.strip())
        reason = match.group("reason").strip().lstrip(":-\u2014\u2013 ").strip()
        standalone = text[: match.start()].strip() == ""
        whole_file = match.group("file") is not None
        suppression = Suppression(number, match.start() + 1, codes, reason, standalone)
        suppression.whole_file = whole_file
        found[number] = suppression
        if whole_file:
            found.whole_file.append(suppression)
    return found


def suppression_for(
    suppressions: dict[int, Suppression],
    code: str,
    name: str,
    line: int,
    end_line: int,
    old_codes: tuple[str, ...] = (),
) -> Suppression | None:
    """The suppression that silences a finding of ``code`` (formerly ``old_codes``) spanning
    ``line``..``end_line``."""
    for candidate_line in (line, end_line):
        candidate = suppressions.get(candidate_line)
        if candidate is not None and candidate.covers(code, name, old_codes):
            return candidate
    above = suppressions.get(line - 1)
    if above is not None and above.standalone and above.covers(code, name, old_codes):
        return above
    whole_file = suppressions.whole_file if isinstance(suppressions, Suppressions) else []
    for candidate in whole_file:
        if candidate.covers(code, name, old_codes):
            return candidate
    return None
