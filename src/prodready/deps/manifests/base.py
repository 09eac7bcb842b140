"""The reader's state and the helpers every manifest kind uses: safe reads inside the scan root,
problems, declarations, locked versions and the project's Python requirement."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from prodready.deps.files import TooLarge, UnsafeFile, exists_inside, inside, read_inside
from prodready.deps.model import Declaration, DependencyManifests, Locked, ManifestProblem
from prodready.engine.documents import RequirementLine
from prodready.engine.project_results import consulted_file

MAX_BYTES = 5_000_000
MAX_INCLUDE_DEPTH = 20


# -- the reader ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _RequirementsFile:
    path: str
    lines: list[RequirementLine]
    includes: list[tuple[str, str, int]] = field(default_factory=list)  # (option, target, line)
    installs_project: bool = False  # ``-e .``: a development environment


@dataclass(slots=True)
class _PythonVersion:
    specifier: str
    path: str
    line: int
    rank: tuple[int, int]  # (directory depth, source preference): lower wins


class _ReaderBase:
    def __init__(self, root: Path, discovered: set[str]) -> None:
        self.root = root
        self.discovered = discovered
        self.result = DependencyManifests()
        self.requirements: dict[str, _RequirementsFile | None] = {}
        self.constraints: set[str] = set()
        self.python: _PythonVersion | None = None
        self.project_names: set[str] = set()
        self.package_dirs: set[str] = set()  # directories (relative) holding project packages
        self.project_dirs: set[str] = set()  # directories holding a project manifest
        self.setup_dirs: set[str] = set()

    # -- helpers -------------------------------------------------------------------------------
    def problem(self, path: str, line: int, message: str) -> None:
        self.result.problems.append(ManifestProblem(path, max(line, 1), message))

    def text(self, path: str) -> str | None:
        """The file's text; None when it is missing, too large or not a regular file inside
        the scan root. Callers check references first (``exists``) and report a refused one
        where it is named: a problem *at* such a path would have its lines quoted."""
        consulted_file(self.root / path)
        try:
            data = read_inside(self.root, path, MAX_BYTES)
        except TooLarge:
            self.problem(path, 1, f"{path} is larger than {MAX_BYTES} bytes: not read")
            return None
        except (OSError, UnsafeFile):
            return None
        return data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        consulted_file(self.root / path)
        return exists_inside(self.root, path)

    def refused(self, path: str) -> bool:
        """Something is at ``path`` (a symlink out of the project, a device, a FIFO) but it is
        not a regular file inside the scan root."""
        consulted_file(self.root / path)
        try:
            inside(self.root, path)
        except UnsafeFile:
            return True
        except OSError:
            return False  # nothing there (a dangling symlink too): "does not exist"
        return False

    def add_file(self, path: str) -> None:
        if path not in self.result.files:
            self.result.files.append(path)

    def declare(self, declaration: Declaration) -> None:
        self.result.declarations.append(declaration)
        self.add_file(declaration.path)

    def lock(self, name: str, version: str, path: str, line: int) -> None:
        self.result.locked.append(Locked(canonicalize_name(name), version, path, max(line, 1)))
        self.add_file(path)

    def requires_python(self, specifier: str, path: str, line: int, preference: int) -> None:
        specifier = specifier.strip()
        if not specifier:
            return
        rank = (len(PurePosixPath(path).parts), preference)
        if self.python is None or rank < self.python.rank:
            self.python = _PythonVersion(specifier, path, max(line, 1), rank)
