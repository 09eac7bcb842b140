"""Which lines changed since the merge-base with a ref, for ``--diff``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prodready.model import UsageError

GIT_TIMEOUT_S = 60
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")

ALL_LINES: frozenset[int] = frozenset()  # marker: the whole file is new


class GitUnavailable(Exception):
    """git is not installed or did not finish in time."""


def run_git(
    cwd: Path, *args: str, timeout: float = GIT_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run git (paths unquoted, output decoded as UTF-8); the caller judges the exit code.

    Raises ``GitUnavailable`` when git is missing or does not finish within ``timeout``.
    """
    try:
        return subprocess.run(
            ["git", "-c", "core.quotePath=false", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitUnavailable("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitUnavailable(f"git {args[0]} did not finish in {timeout:g} s") from exc


def _git(cwd: Path, *args: str) -> str:
    try:
        completed = run_git(cwd, *args)
    except GitUnavailable as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            raise UsageError("--diff needs git, which is not installed") from exc
        raise UsageError(str(exc)) from exc
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()
        raise UsageError(f"git {' '.join(args[:2])} failed: {detail[-1] if detail else 'error'}")
    return completed.stdout


def diff_lines(output: str) -> dict[str, set[int]]:
    """Parse ``git diff -U0`` output: target path (as printed, ``b/`` stripped) -> new lines.

    Deleted files (``+++ /dev/null``) are left out; binary files and pure renames have no hunks
    and so no entry.
    """
    changed: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in output.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            if target == "/dev/null":
                current = None
                continue
            if target.startswith('"') and target.endswith('"'):
                target = (
                    target[1:-1]
                    .encode("latin-1", "backslashreplace")
                    .decode("unicode_escape")
                    .encode("latin-1")
                    .decode("utf-8", "replace")
                )
            target = target[2:] if target.startswith("b/") else target
            current = changed.setdefault(target, set())
            continue
        match = _HUNK.match(line)
        if match and current is not None:
            start = int(match.group(1))
            count = int(match.group(2)) if match.group(2) is not None else 1
            current.update(range(start, start + count))
    return changed


def changed_lines(directory: Path, ref: str) -> dict[Path, frozenset[int]]:
    """Absolute path -> lines added or changed since ``merge-base(ref, HEAD)``.

    Includes uncommitted and untracked files; an untracked file maps to ``ALL_LINES``.
    """
    top = Path(_git(directory, "rev-parse", "--show-toplevel").strip())
    base = _git(top, "merge-base", ref, "HEAD").strip()
    output = _git(top, "diff", "--no-color", "--no-ext-diff", "-M", "-U0", base, "--")
    changed: dict[Path, set[int]] = {}
    for target, lines in diff_lines(output).items():
        changed.setdefault((top / target).resolve(), set()).update(lines)
    result = {path: frozenset(lines) for path, lines in changed.items()}
    untracked = _git(top, "ls-files", "--others", "--exclude-standard", "-z")
    for name in untracked.split("\0"):
        if name:
            result[(top / name).resolve()] = ALL_LINES
    return result
