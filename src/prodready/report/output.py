"""Writing a report to ``--output``: atomically onto regular files, directly into special ones.

A report written to a temporary file and renamed over the target never leaves a half-written
file behind, but renaming over ``/dev/null`` (as root) replaces the device with a regular
file, and renaming over a symlink replaces the link. So: a regular file or a new path is
replaced atomically; a symlink is resolved and its target replaced (the link stays a link);
a device, FIFO or socket is opened and written in place, as a shell redirection would.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_report(text: str, target: Path) -> None:
    """Write ``text`` to ``target``; raises :class:`OSError` when it cannot."""
    try:
        status = os.stat(target)  # follows symlinks: the kind of what is written to
    except FileNotFoundError:
        status = None
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(target))
    if status is not None and not stat.S_ISREG(status.st_mode):
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    # realpath: write where a symlink (or a chain of them, dangling or not) points.
    destination = Path(os.path.realpath(target)) if target.is_symlink() else target
    mode = stat.S_IMODE(status.st_mode) if status is not None else _default_file_mode()
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _default_file_mode() -> int:
    """What ``open(path, "w")`` would give a new file (mkstemp makes it 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
