"""pyproject.toml parsed with :mod:`tomllib`, with a way to find the line of a key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prodready.engine.documents.errors import DocumentError


@dataclass(slots=True)
class Pyproject:
    data: dict[str, Any]
    text_lines: list[str]

    def line_of(self, needle: str) -> int:
        """First line containing ``needle`` (TOML parsers keep no positions)."""
        for number, text in enumerate(self.text_lines, start=1):
            if needle in text:
                return number
        return 1


def parse_pyproject(text: str) -> Pyproject:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise DocumentError(f"invalid TOML: {exc}", int(match.group(1)) if match else None) from exc
    return Pyproject(data, text.splitlines())
