"""Reading configuration tables strictly: one reader for every ``[tool.prodready.*]`` section.

Each subsystem (scan configuration, probe, gate) raises its own exception type, so the reader is
told which; messages name the file and the key, and unknown keys get a "did you mean".
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?\s*")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def read_toml(path: Path, error: type[Exception], what: str = "configuration") -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not valid UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from exc


def parse_duration(value: object, where: str, error: type[Exception]) -> float:
    """Seconds from ``10``, ``2.5``, ``"500ms"``, ``"10s"``, ``"2m"`` or ``"1h"``."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match[1]) * _TIME_UNITS[match[2] or "s"]
    if seconds is None or seconds < 0:
        raise error(f"{where} must be a duration like 10, '500ms' or '2m'; got {value!r}")
    return seconds


def parse_size(value: object, where: str, error: type[Exception]) -> int:
    """Bytes from ``1048576``, ``"64KiB"`` or ``"5MB"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        unit = SIZE_UNITS.get((match[2] or "b").lower())
        if unit is not None:
            return int(float(match[1]) * unit)
    raise error(f"{where} must be a size like 1048576, '64KiB' or '5MB'; got {value!r}")


class TableReader:
    """Validates one table: typed getters, and :meth:`done` reports keys nobody asked for."""

    error: ClassVar[type[Exception]] = ValueError

    def __init__(self, table: object, where: str) -> None:
        if not isinstance(table, dict):
            raise self.error(f"{where} must be a table; got {table!r}")
        self.table: dict[str, Any] = table
        self.where = where

    def key(self, key: str) -> str:
        return f"{self.where}.{key}"

    def done(self, known: tuple[str, ...]) -> None:
        for key in self.table:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.error(
                    f"unknown key {self.key(key)}{suggestion}; known keys: {', '.join(known)}"
                )

    def string(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{self.key(key)} must be a non-empty string; got {value!r}")
        return value.strip()

    def number(self, key: str, *, minimum: float = 0.0) -> float | None:
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.error(f"{self.key(key)} must be a number >= {minimum:g}; got {value!r}")
        return float(value)

    def integer(self, key: str, *, minimum: int = 0) -> int | None:
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(f"{self.key(key)} must be an integer >= {minimum}; got {value!r}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.table.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.error(f"{self.key(key)} must be true or false; got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(f"{self.key(key)} must be a list of strings; got {value!r}")
        return tuple(item.strip() for item in value if item.strip())

    def duration(self, key: str) -> float | None:
        value = self.table.get(key)
        return None if value is None else parse_duration(value, self.key(key), self.error)

    def size(self, key: str) -> int | None:
        value = self.table.get(key)
        return None if value is None else parse_size(value, self.key(key), self.error)
