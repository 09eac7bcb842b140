"""Finding the files to scan: Python sources, Dockerfiles, Kubernetes/Compose YAML, requirements
files and pyproject.toml -- honouring .gitignore files and configured excludes, and skipping
virtualenvs, vendored code, caches and build output.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodready.engine.documents import looks_like_kubernetes
from prodready.engine.records import SourceFile
from prodready.model import FileKind, UsageError

SKIPPED_DIRECTORIES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "__pycache__",
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".prodready_cache",
        ".prodready",
        "site-packages",
        "dist-packages",
        "__pypackages__",
        ".eggs",
        ".direnv",
        "vendor",
        "vendored",
        "_vendor",
        "third_party",
        "build",
        "dist",
        "_build",
        "buck-out",
        ".idea",
        ".vscode",
    }
)
YAML_PEEK_BYTES = 65_536
IGNORE_FILE_LIMIT = 1_048_576  # a .gitignore larger than this is not a real one


def classify(name: str) -> FileKind | None:
    """The kind of a file by its name alone (YAML still needs a look at its content)."""
    lower = name.lower()
    if lower.endswith(".py"):
        return FileKind.PYTHON
    if lower in {"dockerfile", "containerfile"} or lower.startswith(
        ("dockerfile.", "containerfile.")
    ):
        return FileKind.DOCKERFILE
    if lower.endswith((".dockerfile", ".containerfile")):
        return FileKind.DOCKERFILE
    if lower.endswith((".yaml", ".yml")):
        if lower.startswith(("docker-compose", "compose.", "compose-")):
            return FileKind.COMPOSE
        return FileKind.KUBERNETES
    if lower == "pyproject.toml":
        return FileKind.PYPROJECT
    if lower == "setup.cfg":
        return FileKind.SETUP_CFG
    if lower == "pipfile":
        return FileKind.PIPFILE
    if lower in {"uv.lock", "poetry.lock", "pipfile.lock", "pdm.lock"}:
        return FileKind.LOCKFILE
    if lower.endswith(".txt") and "requirements" in lower:
        return FileKind.REQUIREMENTS
    return None


@dataclass(slots=True)
class _IgnoreFile:
    base: str  # directory of the .gitignore, relative to the root ("" for the root)
    spec: Any

    def decision(self, relpath: str, is_dir: bool) -> bool | None:
        if self.base:
            if not relpath.startswith(self.base + "/"):
                return None
            relpath = relpath[len(self.base) + 1 :]
        result = self.spec.check_file(relpath + "/" if is_dir else relpath)
        include: bool | None = result.include
        return include


def _gitignore_spec(lines: list[str]) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def read_regular_file(path: Path | str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of a regular file that is not a symlink; None for anything else.

    A scanned tree is untrusted: a symlink may point at ``/proc/self/environ`` or out of the
    tree, and opening a fifo blocks forever (hence O_NONBLOCK, and the type check after open).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            return handle.read(limit)
        except OSError:
            return None


def _read_ignore(directory: Path) -> list[str] | None:
    data = read_regular_file(directory / ".gitignore", IGNORE_FILE_LIMIT)
    if data is None:
        return None
    return data.decode("utf-8", errors="replace").splitlines()


def resolve_target(path: Path) -> Path:
    """``path`` with every symlink resolved; a symlink loop is a usage error, not a traceback."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"path is a symlink loop: {path}") from exc
        return Path(os.path.realpath(path))


def where_named(path: Path) -> Path:
    """The resolved place a target is named at: for a symlink, its resolved directory plus its
    own name -- so that a symlink is judged where it is committed, not where it points."""
    if path.is_symlink():
        return resolve_target(path.parent) / path.name
    return resolve_target(path)


class Discovery:
    """Walks targets below a root and yields the files to scan."""

    def __init__(
        self, root: Path, exclude: tuple[str, ...] = (), respect_gitignore: bool = True
    ) -> None:
        self.root = resolve_target(root)
        self.respect_gitignore = respect_gitignore
        self.exclude = _gitignore_spec(list(exclude)) if exclude else None

    def relpath(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return Path(os.path.relpath(path.resolve(), self.root)).as_posix()

    def excluded(self, relpath: str, is_dir: bool) -> bool:
        if self.exclude is None:
            return False
        return bool(self.exclude.check_file(relpath + "/" if is_dir else relpath).include)

    def files(self, targets: list[Path]) -> list[SourceFile]:
        found: dict[str, SourceFile] = {}
        for target in targets:
            resolved = resolve_target(target)
            if not target.exists():
                raise UsageError(f"path does not exist: {target}")
            if self._leaves_root(target, resolved):
                if target.is_dir():
                    raise UsageError(
                        f"{target} is a symlink out of the scan root {self.root}: "
                        f"name its target ({resolved}) instead, or pass --root"
                    )
                continue  # a committed symlink to /etc/passwd is not part of the project
            if target.is_file():
                source = self._explicit_file(target)
                if source is not None:
                    found[source.relpath] = source
                continue
            if not target.is_dir():
                continue  # a fifo or a device: reading it could block or never end
            for source in self._walk(resolved):
                found[source.relpath] = source
        return [found[key] for key in sorted(found)]

    def _leaves_root(self, target: Path, resolved: Path) -> bool:
        """A symlinked target named inside the root that points out of it."""
        if not target.is_symlink():
            return False
        named_at = resolve_target(target.parent) / target.name
        inside = named_at == self.root or named_at.is_relative_to(self.root)
        return inside and not (resolved == self.root or resolved.is_relative_to(self.root))

    def _explicit_file(self, target: Path) -> SourceFile | None:
        relpath = self.relpath(target)
        if self.excluded(relpath, is_dir=False):
            return None
        resolved = target.resolve()
        kind = classify(target.name)
        if kind is None:
            # Named explicitly: a Python script without the suffix still deserves a scan.
            kind = FileKind.PYTHON if _has_python_shebang(resolved) else None
        if kind is None:
            return None
        if kind is FileKind.KUBERNETES and not _is_manifest(resolved):
            return None
        return SourceFile(str(resolved), relpath, kind)

    def _ignore_chain(self, directory: Path) -> list[_IgnoreFile]:
        """The .gitignore files that apply to ``directory`` from the root down."""
        chain: list[_IgnoreFile] = []
        if not self.respect_gitignore:
            return chain
        try:
            relative = directory.relative_to(self.root)
        except ValueError:
            return chain
        current = self.root
        parts = ["", *relative.parts]
        for index, part in enumerate(parts):
            if part:
                current = current / part
            lines = _read_ignore(current)
            if lines:
                base = "/".join(relative.parts[:index])
                chain.append(_IgnoreFile(base, _gitignore_spec(lines)))
        return chain

    def _walk(self, top: Path) -> Iterator[SourceFile]:
        # Plain strings, not Path objects: resolving every path costs more than the scan of a
        # small file. ``top`` is resolved, so paths below it extend the root's prefix.
        top_text = str(top)
        root_text = str(self.root)
        under_root = top_text == root_text or top_text.startswith(root_text + os.sep)
        strip = len(root_text) + 1

        def relative(path: str) -> str:
            if under_root:
                return path[strip:].replace(os.sep, "/")
            return self.relpath(Path(path))

        chain = self._ignore_chain(top)
        top_relative = relative(top_text) if top != self.root else ""
        ancestors = [ignore for ignore in chain if ignore.base != top_relative]
        if top_relative and _ignored(ancestors, top_relative, True):
            # The user named an ignored directory explicitly: scan it, honouring only the
            # .gitignore files inside it.
            chain = [ignore for ignore in chain if _within(ignore.base, top_relative)]
        stack: list[tuple[str, list[_IgnoreFile]]] = [(top_text, chain)]
        while stack:
            directory, ignores = stack.pop()
            try:
                with os.scandir(directory) as iterator:
                    entries = list(iterator)  # in no order: ``files`` sorts what it found
            except OSError:
                continue
            names = {entry.name for entry in entries}
            if "pyvenv.cfg" in names and directory != top_text:
                continue  # a virtualenv under any name
            has_ignore_file = ".gitignore" in names
            if self.respect_gitignore and directory != top_text and has_ignore_file:
                lines = _read_ignore(Path(directory))
                if lines:
                    ignores = [*ignores, _IgnoreFile(relative(directory), _gitignore_spec(lines))]
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file(follow_symlinks=False)
                except OSError:
                    continue
                name = entry.name
                if is_dir:
                    if name in SKIPPED_DIRECTORIES or name.endswith(".egg-info"):
                        continue
                    relpath = relative(entry.path)
                    if self.excluded(relpath, True) or _ignored(ignores, relpath, True):
                        continue
                    stack.append((entry.path, ignores))
                elif is_file:
                    kind = classify(name)
                    if kind is None:
                        continue
                    relpath = relative(entry.path)
                    if self.excluded(relpath, False) or _ignored(ignores, relpath, False):
                        continue
                    if kind is FileKind.KUBERNETES and not _is_manifest(Path(entry.path)):
                        continue
                    yield SourceFile(entry.path, relpath, kind)


def _within(base: str, directory: str) -> bool:
    return base == directory or base.startswith(directory + "/")


def _ignored(ignores: list[_IgnoreFile], relpath: str, is_dir: bool) -> bool:
    decision: bool | None = None
    for ignore in ignores:
        verdict = ignore.decision(relpath, is_dir)
        if verdict is not None:
            decision = verdict
    return bool(decision)


def _is_manifest(path: Path) -> bool:
    head = read_regular_file(path, YAML_PEEK_BYTES)
    return head is not None and looks_like_kubernetes(head.decode("utf-8", errors="replace"))


def _has_python_shebang(path: Path) -> bool:
    first = (read_regular_file(path, 200) or b"").split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first


def matches_glob(relpath: str, pattern: str) -> bool:
    """Glob matching for per-path settings: ``tests/**``, ``*.py``, ``app/legacy/``."""
    if pattern.endswith("/"):
        return relpath.startswith(pattern) or f"/{pattern}" in f"/{relpath}"
    if fnmatch.fnmatchcase(relpath, pattern):
        return True
    if pattern.endswith("/**") and relpath.startswith(pattern[:-2]):
        return True
    if "/" not in pattern:
        return fnmatch.fnmatchcase(relpath.rsplit("/", 1)[-1], pattern)
    return False
