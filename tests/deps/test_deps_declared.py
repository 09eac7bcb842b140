"""The declaration rules (DEP010-DEP016) beyond their fixtures: library mode, projects without
manifests, no duplicates with the file rules, and ``prodready deps`` end to end."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from conftest import ScanFn, run_cli

from prodready.model import Confidence, Config, Profile, Severity


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def _findings(
    run_scan: ScanFn, root: Path, *codes: str, **profile: str
) -> list[tuple[str, str, int]]:
    config = Config(select=codes, profile=Profile(**profile))  # type: ignore[arg-type]
    result = run_scan(root, config=config)
    assert not result.errors, result.errors
    return sorted((f.rule, f.path, f.line) for f in result.findings)


def test_dep001_findings_keep_their_confidence_as_a_project_rule(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    # DEP001 became a project rule to see a requirements file's siblings: a bare name is still
    # certain (high), a bounded range medium.
    root = _project(tmp_path, {"requirements.txt": "flask\nrequests>=2.31,<3\n"})
    result = run_scan(root, config=Config(select=("DEP001",)))
    assert [(f.line, f.severity, f.confidence) for f in result.findings] == [
        (1, Severity.MEDIUM, Confidence.HIGH),
        (2, Severity.MEDIUM, Confidence.MEDIUM),
    ]


def test_dep001_is_silent_for_libraries(run_scan: ScanFn, tmp_path: Path) -> None:
    root = _project(tmp_path, {"requirements.txt": "requests>=2.31\nflask\n"})
    assert _findings(run_scan, root, "DEP001") == [
        ("DEP001", "requirements.txt", 1),
        ("DEP001", "requirements.txt", 2),
    ]
    assert _findings(run_scan, root, "DEP001", project_type="library") == []


def test_undeclared_imports_in_a_library_only_count_where_importing_it_reaches(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    """A library's optional backends (loaded on demand) and lazy imports are integrations,
    not requirements; a module-level import on the package's import path is."""
    root = _project(
        tmp_path,
        {
            "pyproject.toml": """
                [project]
                name = "cachelib"
                dependencies = ["attrs>=23"]
            """,
            "src/cachelib/__init__.py": "from .core import Cache\nfrom . import util\n",
            "src/cachelib/core.py": "import attrs\nimport msgpack\n",
            "src/cachelib/util.py": "def lazy():\n    import orjson\n    return orjson\n",
            "src/cachelib/backends/redis.py": "import redis\n",
        },
    )
    assert _findings(run_scan, root, "DEP010") == [("DEP010", "src/cachelib/core.py", 2)]
    # The same code deployed as an application: every import of service code counts.
    assert _findings(run_scan, root, "DEP010", project_type="application") == [
        ("DEP010", "src/cachelib/backends/redis.py", 1),
        ("DEP010", "src/cachelib/core.py", 2),
        ("DEP010", "src/cachelib/util.py", 2),
    ]


def test_undeclared_imports_need_readable_declarations(run_scan: ScanFn, tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "setup.py": """
                from setuptools import setup
                setup(name="svc", install_requires=open("deps.txt").read().splitlines())
            """,
            "requirements-dev.txt": "pytest==8.2.2\n",
            "svc/__init__.py": "import requests\n",
        },
    )
    assert _findings(run_scan, root, "DEP010", project_type="application") == []


def test_a_project_without_any_manifest_is_reported_once(run_scan: ScanFn, tmp_path: Path) -> None:
    root = _project(
        tmp_path / "service",
        {
            "app/main.py": "import os\nimport requests\nimport fastapi\n",
            "app/worker.py": "import redis\n",
        },
    )
    result = run_scan(root, config=Config(select=("DEP010",)))
    above = any(
        (parent / name).is_file()
        for parent in root.resolve().parents
        for name in ("pyproject.toml", "setup.py", "setup.cfg", "Pipfile", "requirements.txt")
    )
    if above:  # pragma: no cover - a temporary directory inside a project
        assert result.findings == []
        return
    assert [(f.path, f.line, f.confidence.value) for f in result.findings] == [
        ("app/main.py", 2, "low")
    ]
    assert "`fastapi`, `redis`, `requests`" in result.findings[0].message


def test_a_scan_of_a_subdirectory_does_not_guess(run_scan: ScanFn, tmp_path: Path) -> None:
    """The manifests are above the scanned directory: nothing can be judged."""
    _project(tmp_path, {"requirements.txt": "requests==2.32.3\n"})
    inner = _project(tmp_path / "app", {"main.py": "import requests\n"})
    assert run_scan(inner, config=Config(select=("DEP010",))).findings == []


def test_different_markers_are_not_conflicts(run_scan: ScanFn, tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "pyproject.toml": """
                [project]
                name = "svc"
                dependencies = ["numpy>=2; python_version >= '3.10'"]
            """,
            "requirements.txt": 'numpy==1.26.4; python_version < "3.10"\nnumpy==2.0.0\n',
            "svc.py": "import numpy\n",
        },
    )
    assert _findings(run_scan, root, "DEP013") == []


def test_python_version_from_setup_cfg_and_poetry(run_scan: ScanFn, tmp_path: Path) -> None:
    legacy = _project(
        tmp_path / "legacy",
        {
            "setup.cfg": "[options]\npython_requires = >=3.9\ninstall_requires =\n    attrs\n",
            "legacy/__init__.py": "import attrs\nimport tomllib\n",
        },
    )
    found = run_scan(legacy, config=Config(select=("DEP014",))).findings
    assert [(f.path, f.line) for f in found] == [("setup.cfg", 2)]
    assert "tomllib" in found[0].message and "3.11" in found[0].message

    poetry = _project(
        tmp_path / "poetry",
        {
            "pyproject.toml": '[tool.poetry]\nname = "p"\n\n[tool.poetry.dependencies]\n'
            'python = "^3.11"\n',
            "p/__init__.py": "def f(x):\n    match x:\n        case 1:\n            return 1\n",
        },
    )
    assert _findings(run_scan, poetry, "DEP014") == []  # ^3.11 admits nothing older


def test_unreadable_manifests_do_not_repeat_the_file_rules(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    root = _project(
        tmp_path,
        {
            "requirements.txt": "requests = 2.32\n-r missing.txt\n",
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["django=4.2"]\n',
        },
    )
    found = _findings(run_scan, root, "DEP003", "DEP005", "DEP015")
    assert found == [
        ("DEP003", "requirements.txt", 1),
        ("DEP005", "pyproject.toml", 3),
        ("DEP015", "requirements.txt", 2),
    ]


def test_deps_command_reports_an_undeclared_jwt_import(tmp_path: Path) -> None:
    """End to end: ``prodready deps --offline --format json`` on a project that imports ``jwt``
    without declaring PyJWT reports it at the import line and lists every dependency with the
    files and lines that declare and import it."""
    project = _project(
        tmp_path / "service",
        {
            "requirements.txt": "fastapi==0.111.0\nPyYAML==6.0.1\n",
            "app/__init__.py": "",
            "app/auth.py": """
                import os

                import jwt
                import yaml
                from fastapi import FastAPI

                app = FastAPI()


                def decode(token: str) -> dict:
                    return jwt.decode(token, os.environ["KEY"], algorithms=["HS256"])
            """,
        },
    )
    env = {k: v for k, v in os.environ.items() if k not in {"PRODREADY_ADVISORY_DB"}}
    env["PRODREADY_CACHE_DIR"] = str(tmp_path / "cache")
    done = run_cli(["deps", "--offline", "--format", "json", "."], cwd=project, env=env)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    undeclared = [f for f in report["findings"] if f["rule"] == "DEP010"]
    assert [(f["path"], f["line"], f["severity"]) for f in undeclared] == [
        ("app/auth.py", 3, "high")
    ]
    assert "PyJWT" in undeclared[0]["message"]
    listed = {d["name"]: d for d in report["dependencies"]}
    assert listed["pyjwt"]["declared"] == []
    assert listed["pyjwt"]["imported_at"] == [{"path": "app/auth.py", "line": 3, "test": False}]
    assert listed["pyyaml"]["declared"] == [
        {"spec": "PyYAML==6.0.1", "path": "requirements.txt", "line": 2, "group": "runtime"}
    ]
    assert listed["pyyaml"]["resolved_version"] == "6.0.1"
    assert listed["pyyaml"]["imported_at"] == [{"path": "app/auth.py", "line": 4, "test": False}]
    assert listed["fastapi"]["imported_at"][0]["line"] == 5


def test_a_dev_tool_with_its_own_settings_file_is_not_service_code(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    """A developer CLI under a top-level ``dev/`` directory is a script for the engine's roles;
    a pyproject.toml (only tool settings) and an empty uv.lock make ``dev/cli`` a project,
    and the dependency rules judged its paths relative to it (``cli.py``, no ``dev/`` left): one
    answer to "is this service code" now serves both. The service's undeclared import stays."""
    root = _project(
        tmp_path,
        {
            "server/pyproject.toml": """
                [project]
                name = "server"
                version = "1.0"
                dependencies = ["requests==2.32.3"]
            """,
            "server/app/main.py": "import requests\nimport click\n",
            "dev/cli/pyproject.toml": '[tool.ruff]\ntarget-version = "py312"\n',
            "dev/cli/uv.lock": 'version = 1\nrequires-python = ">=3.12"\n',
            "dev/cli/cli.py": "import click\n",
            "dev/cli/commands/db.py": "import click\n",
        },
    )
    assert _findings(run_scan, root, "DEP010", project_type="application") == [
        ("DEP010", "server/app/main.py", 2)
    ]


def test_an_inline_script_block_declares_for_its_script_and_is_no_manifest(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    """PEP 723: ``uv run tool.py`` installs the block's dependencies for that script alone. Its
    imports are declared (DEP010 silent); the block's loose ranges and a name the script never
    imports are the script's business, not the project's manifest (DEP001/DEP011 silent)."""
    root = _project(
        tmp_path,
        {
            "requirements.txt": "requests==2.32.3\n",
            "app/main.py": "import requests\n",
            "tool.py": """
                # /// script
                # dependencies = ["click>=8", "left-unused-dist"]
                # ///
                import click
            """,
        },
    )
    codes = ("DEP001", "DEP010", "DEP011")
    assert _findings(run_scan, root, *codes, project_type="application") == []
