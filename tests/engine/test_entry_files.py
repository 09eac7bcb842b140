"""``prodready init`` and the project rules agree on which file is a service's entry point: one
table (``engine.project.ENTRY_FILE_NAMES``) decides for both."""

from __future__ import annotations

from pathlib import Path

from conftest import ScanFn

from prodready.engine.project import ENTRY_FILE_NAMES
from prodready.gate.scaffold import detect_project
from prodready.model import Config

SERVICE = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/orders")
def orders():
    return []
"""
API = """\
from fastapi import FastAPI

api = FastAPI()


@api.get("/items")
def items():
    return []
"""


def test_entry_file_names_are_the_usual_ones_most_usual_first() -> None:
    assert ENTRY_FILE_NAMES == (
        "main.py",
        "app.py",
        "asgi.py",
        "wsgi.py",
        "server.py",
        "api.py",
        "application.py",
    )


def test_init_and_project_rules_pick_the_same_app(tmp_path: Path, run_scan: ScanFn) -> None:
    """Two apps: one in a shallow module of another name, one in a deeper ``api.py``. Both pick
    the app in the entry file (the project rules' own list used to lack ``api.py``)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "api.py").write_text(API)
    (tmp_path / "service.py").write_text(SERVICE)
    (tmp_path / "requirements.txt").write_text("fastapi==0.110.0\nuvicorn==0.29.0\n")

    app = detect_project(tmp_path).app
    assert app is not None
    assert (app.path, app.line, app.module, app.attribute) == ("pkg/api.py", 3, "pkg.api", "api")

    config = Config(select=("OBS007",))
    result = run_scan(tmp_path, config=config)
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("OBS007", "pkg/api.py", 3)]
