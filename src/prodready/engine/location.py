"""Source locations: 1-based lines, 1-based character columns (end exclusive), as SARIF wants."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from prodready.model import Confidence, Rule, Severity


@dataclass(frozen=True, slots=True)
class Location:
    line: int
    column: int
    end_line: int
    end_column: int


def char_column(line_text: str, byte_offset: int) -> int:
    """Convert the AST's UTF-8 byte offset within a line to a 0-based character offset."""
    if line_text.isascii():
        return byte_offset
    return len(line_text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _line(lines: list[str], number: int) -> str:
    return lines[number - 1] if 0 < number <= len(lines) else ""


def node_location(node: ast.AST, lines: list[str]) -> Location:
    """Where a node is; definitions are located at their header line, not their whole body."""
    line = getattr(node, "lineno", 1) or 1
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        text = _line(lines, line)
        start = len(text) - len(text.lstrip())
        return Location(line, start + 1, line, len(text.rstrip()) + 1)
    if isinstance(node, ast.Module):
        text = _line(lines, 1)
        return Location(1, 1, 1, len(text.rstrip()) + 1)
    col = getattr(node, "col_offset", 0) or 0
    end_line = getattr(node, "end_lineno", None) or line
    end_col = getattr(node, "end_col_offset", None)
    text = _line(lines, line)
    column = char_column(text, col) + 1
    end_text = text if end_line == line else _line(lines, end_line)
    end_column = (char_column(end_text, end_col) if end_col is not None else len(end_text)) + 1
    return Location(line, column, end_line, end_column)


def line_location(lines: list[str], line: int, end_line: int | None = None) -> Location:
    """A whole line (or range of lines), for findings in line-oriented files."""
    last = end_line or line
    text = _line(lines, line)
    start = len(text) - len(text.lstrip())
    return Location(line, start + 1, last, len(_line(lines, last).rstrip()) + 1)


@dataclass(slots=True)
class RawFinding:
    """What a rule reported, before the engine turns it into a :class:`Finding`."""

    rule: Rule
    location: Location
    message: str
    fix: str | None
    severity: Severity | None
    confidence: Confidence | None
    secret: str | None = None  # a credential the finding is about: reports show it masked
    unless: tuple[str, ...] = ()  # project facts that make it moot (``Finding.unless``)
