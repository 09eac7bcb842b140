"""Checking the JSON shape of cached records (``ModuleRecord``, the semantic summaries): a value
of the wrong shape is refused (None), never trusted and never a crash.

``type(line) is int``: ``True`` is not a line number.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

# ``Record(*item)`` without the argument parsing: the values were checked first.
tuple_new: Any = tuple.__new__

TextLine = TypeVar("TextLine", bound=NamedTuple)


def strings(items: object) -> tuple[str, ...] | None:
    """``[str, ...]`` as a tuple."""
    if not isinstance(items, list):
        return None
    for item in items:
        if not isinstance(item, str):
            return None
    return tuple(items)


def text_line_pairs(items: object, make: type[TextLine]) -> tuple[TextLine, ...] | None:
    """``[[text, line], ...]`` as records ``make(text, line)`` (a named tuple of those two)."""
    if not isinstance(items, list):
        return None
    found: list[TextLine] = []
    for item in items:
        if not isinstance(item, list) or len(item) != 2:
            return None
        text, line = item
        if not isinstance(text, str) or type(line) is not int:
            return None
        found.append(tuple_new(make, item))
    return tuple(found)
