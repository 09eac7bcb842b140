"""Which lines changed since the merge-base with a ref, for ``--diff``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prodready.model import UsageError

GIT_TIMEOUT_S = 60
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")

ALL_LINES: frozenset[int] = frozenset()  # marker: the whole file is new


class GitUnavailable(UsageError):
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


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return run_git(cwd, *args)
    except GitUnavailable as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            raise UsageError("--diff needs git, which is not installed") from exc
        raise UsageError(str(exc)) from exc


def _last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "error"


def _git(cwd: Path, *args: str, failure: str) -> str:
    """git's output; when it fails, ``failure`` is the message and git's own words the detail."""
    completed = _run(cwd, *args)
    if completed.returncode != 0:
        raise UsageError(f"{failure} (git: {_last_line(completed.stderr)})")
    return completed.stdout


def _toplevel(target: Path) -> Path:
    completed = _run(target if target.is_dir() else target.parent, "rev-parse", "--show-toplevel")
    if completed.returncode != 0:
        if "not a git repository" in completed.stderr:
            raise UsageError(f"--diff needs a git repository: {target} is not inside one")
        raise UsageError(
            f"--diff: git cannot read the repository of {target} "
            f"(git: {_last_line(completed.stderr)})"
        )
    return Path(completed.stdout.strip())


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


def changed_lines(targets: list[Path], ref: str) -> dict[Path, frozenset[int]]:
    """Absolute path -> lines added or changed since ``merge-base(ref, HEAD)``, in the git
    repository of each target (not of the working directory).

    Includes uncommitted and untracked files; an untracked file maps to ``ALL_LINES``.
    """
    result: dict[Path, frozenset[int]] = {}
    directories = {(t if t.is_dir() else t.parent).resolve(): t for t in targets}
    tops: dict[Path, None] = {}
    for target in directories.values():
        tops.setdefault(_toplevel(target))
    for top in tops:
        result.update(_changed_in(top, ref))
    return result


def _changed_in(top: Path, ref: str) -> dict[Path, frozenset[int]]:
    base = _git(
        top,
        "merge-base",
        ref,
        "HEAD",
        failure=f"--diff {ref}: no merge-base of {ref} and HEAD in {top}",
    ).strip()
    output = _git(
        top,
        "diff",
        "--no-color",
        "--no-ext-diff",
        "-M",
        "-U0",
        base,
        "--",
        failure=f"--diff {ref}: git diff failed in {top}",
    )
    changed: dict[Path, set[int]] = {}
    for target, lines in diff_lines(output).items():
        changed.setdefault((top / target).resolve(), set()).update(lines)
    result = {path: frozenset(lines) for path, lines in changed.items()}
    untracked = _git(
        top,
        "ls-files",
        "--others",
        "--exclude-standard",
        "-z",
        failure=f"--diff {ref}: git cannot list untracked files in {top}",
    )
    for name in untracked.split("\0"):
        if name:
            result[(top / name).resolve()] = ALL_LINES
    return result
