"""Reading files a manifest names (``-r``/``-c`` includes, ``file:`` lists, setup.py) safely.

A scanned repository is untrusted: a committed symlink ``extra.txt -> /proc/self/environ`` or
``-> /etc/passwd`` that a requirements file includes must not be read, or the CI environment
(tokens included) ends up in the report that CI uploads. So a file is read only when its final
target is a regular file inside the scan root, opened without following a last-moment symlink
and checked again on the open descriptor; and what cannot be parsed is described, never
quoted at length.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from prodready.deps.model import DependencyError

NOT_INSIDE = "not a regular file inside the project"
EXCERPT_CHARS = 40
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class UnsafeFile(DependencyError):
    """The path is not a regular file inside the scan root (a symlink leaving it, a device,
    a FIFO, a directory): it is not read."""


class TooLarge(DependencyError):
    """The file is larger than the limit given."""


def inside(root: Path, relative: str) -> Path:
    """The resolved path of ``relative`` when it is a regular file inside ``root``. Raises
    ``FileNotFoundError`` when nothing is there and ``UnsafeFile`` otherwise."""
    try:
        base = root.resolve(strict=True)
        target = (root / relative).resolve(strict=True)
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission error
        raise UnsafeFile(NOT_INSIDE) from exc
    if not target.is_relative_to(base):
        raise UnsafeFile(NOT_INSIDE)
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        raise UnsafeFile(NOT_INSIDE) from exc
    if not stat.S_ISREG(mode):
        raise UnsafeFile(NOT_INSIDE)
    return target


def exists_inside(root: Path, relative: str) -> bool:
    """A regular file inside ``root`` is at ``relative`` (the test ``Path.is_file`` does not
    make: it follows symlinks anywhere)."""
    try:
        inside(root, relative)
    except (OSError, UnsafeFile):
        return False
    return True


def read_inside(root: Path, relative: str, max_bytes: int) -> bytes:
    """The bytes of a regular file inside ``root``. Raises ``FileNotFoundError``,
    ``UnsafeFile``, ``TooLarge`` or ``OSError``."""
    target = inside(root, relative)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(target, flags | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as handle:
        # The path may have been swapped since it was resolved: judge what was opened.
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise UnsafeFile(NOT_INSIDE)
        if opened.st_size > max_bytes:
            raise TooLarge(f"larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"larger than {max_bytes} bytes")
    return data


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` printable ASCII characters of ``text`` (others become ``?``, runs of
    whitespace one space), with ``...`` when cut: enough to find the line, never a dump of
    whatever the file holds."""
    flat = _UNPRINTABLE.sub("?", " ".join(text.split()))
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "..."


def requirement_error(error: str) -> str:
    """A parser's "invalid requirement '<the whole line>': <reason>" as a short description:
    the first characters of the line and the reason (packaging's reasons quote nothing)."""
    first = error.splitlines()[0] if error else ""
    prefix = "invalid requirement "
    if not first.startswith(prefix):
        return excerpt(first, 2 * EXCERPT_CHARS)
    body = first[len(prefix) :]
    quoted, reason = body, ""
    for separator in ("': ", '": '):
        if separator in body:
            quoted, reason = body.rsplit(separator, 1)
            quoted = quoted[1:]
            break
    described = f"invalid requirement `{excerpt(quoted)}`"
    return f"{described}: {excerpt(reason, 2 * EXCERPT_CHARS)}" if reason else described
