"""Detection: look at a project's files and fill in a :class:`ProjectProfile`.

Detection reuses the engine: file discovery (``.gitignore``, skipped directories, the content
check that tells a Kubernetes manifest from other YAML) and the manifest reader of
``prodready deps``; the web framework and app are found by :mod:`.apps`.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path
from typing import Any

from prodready.engine.roles import is_test_path
from prodready.gate.model import GateError
from prodready.gate.scaffold.apps import detect_web
from prodready.gate.scaffold.profile import ProjectProfile, incidental

INTEGRATION_DIRS = (
    "tests/integration",
    "tests/integration_tests",
    "test/integration",
    "integration_tests",
    "tests_integration",
)


def detect_project(root: Path) -> ProjectProfile:
    """Look at the project in ``root``: framework and app, tests, containers, manifests."""
    from prodready.engine.discovery import Discovery
    from prodready.model import FileKind, UsageError

    root = root.resolve()
    if not root.is_dir():
        raise GateError(f"{root}: not a directory")
    try:
        sources = Discovery(root).files([root])
    except UsageError as exc:
        raise GateError(str(exc)) from exc
    by_kind: dict[FileKind, list[str]] = {}
    for source in sources:
        by_kind.setdefault(source.kind, []).append(source.relpath)
    python = by_kind.get(FileKind.PYTHON, [])

    def deployed(kind: FileKind) -> tuple[str, ...]:
        return tuple(p for p in by_kind.get(kind, []) if not incidental(p, tests=True))

    profile = ProjectProfile(
        root=root,
        dockerfiles=deployed(FileKind.DOCKERFILE),
        kubernetes=deployed(FileKind.KUBERNETES),
        compose=deployed(FileKind.COMPOSE),
        python_files=len(python),
    )
    manifest_kinds = (
        FileKind.REQUIREMENTS,
        FileKind.PYPROJECT,
        FileKind.SETUP_CFG,
        FileKind.PIPFILE,
        FileKind.LOCKFILE,
    )
    manifest_paths = [
        path
        for kind in manifest_kinds
        for path in by_kind.get(kind, [])
        if not incidental(path, tests=False)
    ]
    _read_dependencies(profile, manifest_paths)
    pyproject = _read_toml(root / "pyproject.toml")
    profile.packaged = (
        "project" in pyproject
        or "poetry" in pyproject.get("tool", {})
        or (root / "setup.py").is_file()
        or (root / "setup.cfg").is_file()
    )
    profile.ruff = (
        "ruff" in profile.dependencies
        or "ruff" in pyproject.get("tool", {})
        or (root / "ruff.toml").is_file()
        or (root / ".ruff.toml").is_file()
    )
    detect_web(profile, python)
    _detect_tests(profile, python, pyproject)
    return profile


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _read_dependencies(profile: ProjectProfile, paths: list[str]) -> None:
    from prodready.deps.manifests import read_manifests

    manifests = read_manifests(profile.root, paths)  # never raises for bad input
    profile.manifests = tuple(manifests.files)
    names = {declaration.name for declaration in manifests.declarations}
    names.update(locked.name for locked in manifests.locked)
    profile.dependencies = frozenset(names)
    profile.pytest_cov = "pytest-cov" in names
    profile.pytest_declared = "pytest" in names or profile.pytest_cov


def _detect_tests(profile: ProjectProfile, python: list[str], pyproject: dict[str, Any]) -> None:
    root = profile.root
    for name in ("tests", "test"):
        if (root / name).is_dir():
            profile.tests_dir = name
            break
    for candidate in INTEGRATION_DIRS:
        if (root / candidate).is_dir():
            profile.integration_dir = candidate
            break
    configured = (
        "pytest" in pyproject.get("tool", {})
        or (root / "pytest.ini").is_file()
        or (root / "conftest.py").is_file()
        or _ini_has(root / "tox.ini", "pytest")
        or _ini_has(root / "setup.cfg", "tool:pytest")
    )
    test_files = any(is_test_path(p) and not incidental(p, tests=False) for p in python)
    if profile.tests_dir or configured or test_files or profile.pytest_declared:
        profile.test_runner = "pytest"


def _ini_has(path: Path, section: str) -> bool:
    if not path.is_file():
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return False
    return parser.has_section(section)
