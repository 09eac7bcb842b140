"""The results of the project rules, kept between scans and reused while none of their inputs
changed -- what makes a warm rescan of an unchanged tree skip them.

What project rules read, and so what the stored results are keyed on:

- the facts and contents of the scanned files: every file's path, kind and content digest
  (the per-file cache's digests, so nothing is read or hashed for this);
- the rule set, the profile and the project the roles are judged from (the result cache's
  key), the whole configuration and the scan root;
- the installed distributions the dependency rules map imports to: the interpreter, and each
  ``sys.path`` directory with its modification time (installing or removing a distribution
  changes it), as :mod:`prodready.deps.imports` validates its own map;
- the package index's answers cached by earlier ``prodready deps`` runs (their file's size,
  modification time and inode), and the variables of the environment the dependency library
  reads (``$PIP_INDEX_URL``, ``$PRODREADY_ADVISORY_DB``, ``$PRODREADY_OSV_URL``);
- the date: a package's age is judged against today;
- the directories from the scan root up to the repository root (``.git``): a manifest added
  above the scanned directory changes what the dependency rules judge;
- files and directories the rules consulted that are not scanned files -- a requirements file
  included with ``-r``, a directory listed to find the project's own packages: they are
  recorded while the rules run (:func:`consulted_file`, :func:`consulted_directory`), stored
  with the results and checked before reuse.

Rules that ask the network (``online``) or read a local advisory database (a tree of records
that may change anywhere) are never reused: their results are computed every time. Nor is
anything reused without the result cache (``--no-cache``). The stored file is written
atomically; an unreadable or malformed one is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prodready.model import Config, Finding, ScanError

STORE_NAME = "project-results.json"
_FORMAT = 2  # 2: outcomes carry the function-role spans (engine.function_roles)
# The environment the dependency library reads (index, advisory database, OSV mirror).
ENVIRONMENT = ("PIP_INDEX_URL", "PRODREADY_ADVISORY_DB", "PRODREADY_OSV_URL")
INDEX_ANSWERS = Path("index") / "answers.json"  # see prodready.deps.index.CACHE_FILE
LARGEST_HASHED = 5_000_000  # bytes; larger consulted files are judged by their stat signature


@dataclass(slots=True)
class ProjectOutcome:
    """What the project rules produced: findings, errors, artifacts and notes."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [finding.to_dict() for finding in self.findings],
            "errors": [{"path": e.path, "message": e.message, "line": e.line} for e in self.errors],
            "artifacts": self.artifacts,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Any) -> ProjectOutcome | None:
        """None when ``data`` is not what :meth:`to_json` wrote."""
        try:
            errors = [
                ScanError(e["path"], e["message"], e["line"])
                for e in data["errors"]
                if isinstance(e["path"], str)
                and isinstance(e["message"], str)
                and (e["line"] is None or isinstance(e["line"], int))
            ]
            if len(errors) != len(data["errors"]):
                return None
            findings = [Finding.from_dict(f) for f in data["findings"]]
            artifacts = data["artifacts"]
            notes = data["notes"]
        except (KeyError, TypeError, ValueError):
            return None
        if not isinstance(artifacts, dict) or not isinstance(notes, list):
            return None
        if not all(isinstance(note, str) for note in notes):
            return None
        return cls(findings, errors, artifacts, notes)


# -- what the rules consulted beyond the scanned files -------------------------------------------


@dataclass(slots=True)
class Consulted:
    """The files and directories read while the project rules ran, with their state before
    they were read (so that an edit during the scan is seen by the next one)."""

    trusted_before_ns: int
    files: dict[str, str | None] = field(default_factory=dict)
    directories: dict[str, list[int] | None] = field(default_factory=dict)
    untrusted: bool = False  # a directory changed too recently: nothing may be stored


_recording: list[Consulted] = []


def consulted_file(path: Path) -> None:
    """A project rule (or the library it calls) is about to read, or look for, this file:
    reusing its results requires the file to be as it is now."""
    if _recording:
        consulted = _recording[-1]
        name = os.path.abspath(path)
        if name not in consulted.files:
            consulted.files[name] = _file_state(name)


def consulted_directory(path: Path) -> None:
    """A project rule is about to list this directory: reusing its results requires the
    same entries."""
    if _recording:
        consulted = _recording[-1]
        name = os.path.abspath(path)
        if name not in consulted.directories:
            state = _directory_state(name, consulted.trusted_before_ns)
            if state is False:
                consulted.untrusted = True
            else:
                consulted.directories[name] = state


@contextmanager
def recording(trusted_before_ns: int) -> Iterator[Consulted]:
    """While inside, :func:`consulted_file` and :func:`consulted_directory` record here."""
    consulted = Consulted(trusted_before_ns)
    _recording.append(consulted)
    try:
        yield consulted
    finally:
        _recording.pop()


def _file_state(path: str) -> str | None:
    """What a rule could have read at ``path``: where it leads (symlinks resolved) and the
    digest of a regular file's content -- or, for anything else, what it is: a FIFO is never
    opened (nobody may ever write to it). None when nothing is there."""
    try:
        real = os.path.realpath(path)
        status = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return f"{real}: mode {stat.S_IFMT(status.st_mode):o}"
    if status.st_size > LARGEST_HASHED:  # the manifest reader refuses it anyway
        return f"{real}: {status.st_size} bytes, {status.st_mtime_ns}, {status.st_ino}"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        with os.fdopen(os.open(real, flags), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return f"{real}: replaced"
            data = handle.read(LARGEST_HASHED + 1)
    except OSError:
        return f"{real}: unreadable"
    return f"{real}: {hashlib.blake2b(data, digest_size=16).hexdigest()}"


def _directory_state(path: str, trusted_before_ns: int) -> list[int] | Literal[False] | None:
    """[modification time, inode] of a directory (an entry added, removed or renamed changes
    the time); None when there is none; False when it changed too recently to be trusted."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if status.st_mtime_ns >= trusted_before_ns:
        return False
    return [status.st_mtime_ns, status.st_ino]


# -- the key ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ProjectInputs:
    """What the project rules of one scan read, as far as it is known before they run."""

    result_key: str  # the per-file result cache's key: rule set, profile, role prefix
    root: Path
    config: Config
    files: list[tuple[str, str, str]]  # (relpath, kind, content digest) of every scanned file
    cache_dir: Path

    def reusable(self) -> bool:
        """False when a rule would ask the network or read a local advisory database."""
        deps = self.config.deps
        return not (deps.online or deps.advisory_db or os.environ.get("PRODREADY_ADVISORY_DB"))

    def key(self, trusted_before_ns: int) -> str | None:
        """The digest of every input known up front; None when one of them changed too
        recently to be trusted (see ``engine.cache``: "racy git")."""
        digest = hashlib.blake2b(digest_size=16)

        def add(value: Any) -> None:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
            digest.update(b"\0")

        add([_FORMAT, self.result_key, str(self.root), self.config.to_dict()])
        add([os.environ.get(name) for name in ENVIRONMENT])
        add(time.strftime("%Y-%m-%d", time.gmtime()))  # the UTC date
        add(_installed_signature())
        add(_stat_signature(self.cache_dir / INDEX_ANSWERS))
        for directory in _up_to_repository(self.root):
            state = _directory_state(str(directory), trusted_before_ns)
            if state is False:
                return None
            add([str(directory), state])
        for item in sorted(self.files):
            digest.update("\0".join(item).encode())
            digest.update(b"\n")
        return digest.hexdigest()


def _installed_signature() -> list[Any]:
    """What the installed distributions depend on (as ``deps.imports`` checks its map)."""
    entries: list[Any] = [sys.version, sys.prefix]
    for entry in sys.path:
        try:
            entries.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            entries.append([entry, None])
    return entries


def _stat_signature(path: Path) -> list[int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def _up_to_repository(root: Path) -> Iterator[Path]:
    """The scan root and the directories above it, up to the one holding ``.git``."""
    directory = Path(os.path.abspath(root))
    for candidate in (directory, *directory.parents):
        yield candidate
        if os.path.lexists(candidate / ".git"):
            return


# -- the store ----------------------------------------------------------------------------------


def load(inputs: ProjectInputs, key: str, trusted_before_ns: int) -> ProjectOutcome | None:
    """The stored outcome for ``key``, when every consulted file and directory is unchanged."""
    try:
        with open(inputs.cache_dir / STORE_NAME, encoding="utf-8") as handle:
            stored = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != _FORMAT or stored.get("key") != key:
        return None
    files, directories = stored.get("files"), stored.get("directories")
    if not isinstance(files, dict) or not isinstance(directories, dict):
        return None
    for path, state in files.items():
        if _file_state(path) != state:
            return None
    for path, state in directories.items():
        if _directory_state(path, trusted_before_ns) != state:
            return None
    return ProjectOutcome.from_json(stored.get("outcome"))


def save(inputs: ProjectInputs, key: str, consulted: Consulted, outcome: ProjectOutcome) -> None:
    """Store the outcome (atomically), unless a consulted directory changed too recently to
    be trusted. A cache directory that cannot be written only costs the next scan the rules."""
    if consulted.untrusted:
        return
    document = {
        "format": _FORMAT,
        "key": key,
        "files": consulted.files,
        "directories": consulted.directories,
        "outcome": outcome.to_json(),
    }
    import tempfile  # here: only a scan that computed the results writes them

    temporary: str | None = None
    try:
        inputs.cache_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".project-", dir=inputs.cache_dir)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, separators=(",", ":"))
        os.replace(temporary, inputs.cache_dir / STORE_NAME)
    except (OSError, TypeError, ValueError):
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
