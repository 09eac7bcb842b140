"""Reading what a project declares: requirements files (with -r/-c includes), pyproject.toml
(PEP 621, dependency groups, Poetry, PDM), setup.cfg, setup.py (static literals only), Pipfile,
and the resolved versions of uv.lock, poetry.lock, Pipfile.lock, pdm.lock and pip-compile output.
One module per kind of file (``requirements``, ``pyproject``, ``setup_files``, ``locks``), each
a reader class extending the one before it; ``base`` holds the state and safe reads they share.

Every entry keeps the line it is written on. TOML parsers keep no positions, so a TOML entry's
line is found by searching its text inside its table's region of the file.

``DependencyManifests.problems`` holds what cannot be read *and is not reported elsewhere*:
lines of discovered requirements files are checked by DEP003, PEP 621 lists and dependency
groups by DEP005, and a pyproject.toml that is not TOML is a scan error: none is repeated here.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from prodready.deps.manifests.base import MAX_BYTES, MAX_INCLUDE_DEPTH
from prodready.deps.manifests.locks import LOCK_FILE_NAMES, _LockReader, is_generated, is_lock_file
from prodready.deps.manifests.pyproject import _poetry_specifier
from prodready.deps.manifests.requirements import project_dir
from prodready.deps.manifests.text import _IDENTIFIER, _importable_names, _join
from prodready.deps.model import DependencyManifests
from prodready.engine.project_results import consulted_directory


def read_manifests(root: Path, paths: list[str]) -> DependencyManifests:
    """Read the manifests at ``paths`` (relative to ``root``, as discovery found them).

    A file or line that cannot be read becomes a ``ManifestProblem`` with its line; this
    function never raises for bad input. ``DependencyManifests.files`` lists the files that declare
    dependencies or resolve them (a pyproject.toml with only tool settings is not one).
    """
    reader = _Reader(root, set(paths))
    for path in sorted(paths):
        try:
            reader.read(path)
        except Exception as exc:  # noqa: BLE001 - a manifest must never stop the scan
            reader.problem(path, 1, f"cannot read {path}: {exc!r}")
    try:
        reader.finish()
    except Exception as exc:  # noqa: BLE001
        reader.problem(".", 1, f"cannot read the project's manifests: {exc!r}")
    return reader.result


class _Reader(_LockReader):
    def read(self, path: str) -> None:
        name = PurePosixPath(path).name.lower()
        if name == "pyproject.toml":
            self.read_pyproject(path)
        elif name == "setup.cfg":
            self.read_setup_cfg(path)
        elif name == "pipfile":
            self.read_pipfile(path)
        elif name == "pipfile.lock":
            self.read_pipfile_lock(path)
        elif name in {"uv.lock", "poetry.lock", "pdm.lock"}:
            self.read_toml_lock(path)
        else:
            self.load_requirements(path, 0)

    def finish(self) -> None:
        self.emit_requirements()
        directories = self.project_dirs | {project_dir(path) for path in self.discovered} | {""}
        for directory in sorted(directories):
            setup = _join(directory, "setup.py")
            if directory not in self.setup_dirs and self.exists(setup):
                self.setup_dirs.add(directory)
                self.read_setup_py(setup)
        if self.python is not None:
            self.result.requires_python = (
                self.python.specifier,
                self.python.path,
                self.python.line,
            )
        self.result.first_party = self.first_party()
        self.result.files.sort()

    # -- first-party names ----------------------------------------------------------------------
    def first_party(self) -> set[str]:
        names: set[str] = set()
        for name in self.project_names:
            normalised = re.sub(r"[-.]+", "_", name.strip())
            if _IDENTIFIER.match(normalised):
                names.add(normalised)
                names.add(normalised.lower())
        directories = {""} | self.project_dirs | self.package_dirs
        for directory in list(directories):
            consulted_directory(self.root / directory)  # a src/ or lib/ may appear in it
            for extra in ("src", "lib"):
                candidate = _join(directory, extra)
                if (self.root / candidate).is_dir():
                    directories.add(candidate)
        for directory in sorted(directories):
            base = self.root / directory if directory else self.root
            names.update(_importable_names(base, package_dir=directory in self.package_dirs))
        return names


# Names other modules and tests import from ``prodready.deps.manifests``.
__all__ = [
    "LOCK_FILE_NAMES",
    "MAX_BYTES",
    "MAX_INCLUDE_DEPTH",
    "_poetry_specifier",
    "is_generated",
    "is_lock_file",
    "project_dir",
    "read_manifests",
]
