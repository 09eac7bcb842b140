"""``prodready init``: project detection, the rendered prodready.toml, and safe writing."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from prodready.config import parse_config
from prodready.gate.model import GateError
from prodready.gate.scaffold import detect_project, render_config, write_config
from prodready.probe.settings import parse_settings

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example.com/api:1.0
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _parsed(text: str) -> dict[str, object]:
    """The rendered file is TOML, its scan keys load, and its probe table validates."""
    data = tomllib.loads(text)
    scan_keys = {key: value for key, value in data.items() if key not in {"gate", "policy"}}
    parse_config(scan_keys, "prodready.toml")
    if "probe" in data:
        parse_settings(data["probe"], "prodready.toml")
    return data


@pytest.fixture
def fastapi_project(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "svc",
        {
            "app/__init__.py": "",
            "app/main.py": """\
                from fastapi import FastAPI

                from app.routes import router

                app = FastAPI(title="orders")
                app.include_router(router)
            """,
            "app/routes.py": """\
                from fastapi import APIRouter

                router = APIRouter()
            """,
            "tests/conftest.py": "",
            "tests/test_api.py": "def test_ok():\n    assert True\n",
            "tests/integration/test_db.py": "def test_db():\n    assert True\n",
            "requirements.txt": "fastapi==0.115.0\nuvicorn==0.30.6\n",
            "requirements-dev.txt": "pytest==8.3.3\npytest-cov==5.0.0\nruff==0.6.9\n",
            "Dockerfile": """\
                FROM python:3.12-slim
                WORKDIR /srv
                COPY . .
                CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--reload"]
            """,
            "k8s/deployment.yaml": DEPLOYMENT,
            "k8s/values.yaml": "replicas: 2\n",  # not a Kubernetes object
            "examples/demo/Dockerfile": "FROM python:3.12\n",
        },
    )


def test_fastapi_project(fastapi_project: Path) -> None:
    profile = detect_project(fastapi_project)
    assert profile.framework == "fastapi"
    assert profile.app is not None
    assert (profile.app.path, profile.app.module, profile.app.attribute) == (
        "app/main.py",
        "app.main",
        "app",
    )
    # The image's server command, made to listen where the probe wants, without --reload.
    assert profile.serve_cmd == "uvicorn --port {port} app.main:app"
    assert profile.serve_source == "Dockerfile"
    assert any("--reload" in note for note in profile.serve_notes)
    assert profile.test_runner == "pytest"
    assert profile.tests_dir == "tests"
    assert profile.integration_dir == "tests/integration"
    assert profile.pytest_cov
    assert profile.ruff
    assert profile.dockerfiles == ("Dockerfile",)  # examples/ does not count
    assert profile.kubernetes == ("k8s/deployment.yaml",)
    assert profile.manifests == ("requirements-dev.txt", "requirements.txt")
    assert {"fastapi", "uvicorn", "pytest-cov"} <= profile.dependencies
    assert profile.project_type == "application"


def test_fastapi_config(fastapi_project: Path) -> None:
    data = _parsed(render_config(detect_project(fastapi_project)))
    assert data["fail-on"] == "high"
    assert data["profile"] == {"runtime": "kubernetes", "project-type": "application"}
    assert data["probe"] == {"cmd": "uvicorn --port {port} app.main:app", "budget": "300s"}
    gate = data["gate"]
    assert isinstance(gate, dict)
    stages = gate["stage"]
    assert stages["unit"] == {
        "command": "python -m pytest -q --ignore=tests/integration",
        "coverage": 80,
    }
    assert stages["integration"] == {
        "enabled": True,
        "command": "python -m pytest tests/integration -q",
    }
    assert stages["performance"] == {"enabled": True}
    assert stages["sandbox"] == {"enabled": True}
    assert stages["lint"]["required"] is True
    assert stages["approval"] == {"file": ".prodready/approval.toml"}
    assert data["policy"] == {
        "fail-on": "high",
        "ai-assisted": {"fail-on": "medium", "require-tests": True, "require-approval": False},
    }


def test_fastapi_from_code_without_dockerfile(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "src/orders/__init__.py": "",
            "src/orders/api.py": """\
                import fastapi

                def create_app() -> fastapi.FastAPI:
                    return fastapi.FastAPI()
            """,
            "pyproject.toml": '[project]\nname = "orders"\ndependencies = ["fastapi"]\n',
        },
    )
    profile = detect_project(root)
    assert profile.framework == "fastapi"
    assert profile.app is not None and profile.app.factory
    assert profile.app.import_root == "src"
    assert (
        profile.serve_cmd == "uvicorn orders.api:create_app --port {port} --factory --app-dir src"
    )
    assert profile.serve_notes == ("uvicorn is not among the declared dependencies",)
    assert profile.test_runner is None
    data = _parsed(render_config(profile))
    gate = data["gate"]
    assert isinstance(gate, dict)
    assert gate["stage"]["unit"] == {"enabled": False}


def test_flask_project(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "inventory/__init__.py": """\
                from flask import Flask

                def create_app():
                    app = Flask(__name__)
                    return app
            """,
            "wsgi.py": "from inventory import create_app\n\napp = create_app()\n",
            "requirements.txt": "flask==3.0.3\ngunicorn==23.0.0\n",
            "test_inventory.py": "def test_x():\n    assert True\n",
        },
    )
    profile = detect_project(root)
    assert profile.framework == "flask"
    assert profile.app is not None
    assert (profile.app.module, profile.app.attribute, profile.app.factory) == (
        "wsgi",
        "app",
        False,
    )
    assert profile.serve_cmd == "gunicorn wsgi:app --bind 127.0.0.1:{port}"
    assert profile.test_runner == "pytest"  # a test module, no tests/ directory
    assert profile.tests_dir is None
    assert not profile.pytest_cov
    data = _parsed(render_config(profile))
    gate = data["gate"]
    assert isinstance(gate, dict)
    assert gate["stage"]["unit"] == {"command": "python -m pytest -q"}
    assert gate["stage"]["lint"]["required"] is False  # ruff is not declared
    assert data["probe"] == {"cmd": "gunicorn wsgi:app --bind 127.0.0.1:{port}", "budget": "300s"}


def test_flask_dev_server_without_a_production_server(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "app.py": "from flask import Flask\napp = Flask(__name__)\n",
            "requirements.txt": "flask\n",
        },
    )
    profile = detect_project(root)
    assert profile.serve_cmd == "flask --app app:app run --port {port}"
    assert "development server" in profile.serve_notes[0]
    assert "development server" in render_config(profile)


def test_django_project(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "manage.py": """\
                import os
                import sys

                if __name__ == "__main__":
                    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
                    from django.core.management import execute_from_command_line
                    execute_from_command_line(sys.argv)
            """,
            "shop/__init__.py": "",
            "shop/settings.py": "INSTALLED_APPS = ['orders']\n",
            "shop/wsgi.py": """\
                from django.core.wsgi import get_wsgi_application
                application = get_wsgi_application()
            """,
            "orders/__init__.py": "",
            "orders/views.py": "from django.http import JsonResponse\n",
            "requirements.txt": "django==5.1.2\n",
        },
    )
    profile = detect_project(root)
    assert profile.framework == "django"
    assert profile.serve_cmd == "python manage.py runserver 127.0.0.1:{port} --noreload"
    assert "development server" in profile.serve_notes[0]
    data = _parsed(render_config(profile))
    assert data["probe"] == {
        "cmd": "python manage.py runserver 127.0.0.1:{port} --noreload",
        "budget": "300s",
    }
    # With gunicorn declared, the WSGI application behind it.
    (root / "requirements.txt").write_text("django==5.1.2\ngunicorn==23.0.0\n", encoding="utf-8")
    profile = detect_project(root)
    assert profile.serve_cmd == "gunicorn shop.wsgi:application --bind 127.0.0.1:{port}"
    assert profile.serve_notes == ()


def test_plain_library(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pyproject.toml": """\
                [project]
                name = "textkit"
                version = "1.0"
                dependencies = ["regex>=2024"]

                [tool.pytest.ini_options]
                testpaths = ["tests"]
            """,
            "src/textkit/__init__.py": "import aiohttp\n",  # a client, not aiohttp.web
            "tests/test_textkit.py": "def test_x():\n    assert True\n",
        },
    )
    profile = detect_project(root)
    assert profile.framework == "none"
    assert not profile.http_app
    assert profile.app is None and profile.serve_cmd is None
    assert profile.test_runner == "pytest"
    assert profile.dockerfiles == () and profile.kubernetes == ()
    assert profile.manifests == ("pyproject.toml",)
    assert profile.project_type == "library"
    text = render_config(profile)
    data = _parsed(text)
    assert "probe" not in data
    assert data["profile"] == {"project-type": "library"}
    gate = data["gate"]
    assert isinstance(gate, dict)
    assert gate["stage"]["performance"] == {"enabled": False}
    assert gate["stage"]["sandbox"] == {"enabled": False}
    assert gate["stage"]["unit"]["command"] == "python -m pytest -q"
    assert "# [probe]" in text


def test_empty_directory(tmp_path: Path) -> None:
    profile = detect_project(tmp_path)
    assert profile.framework == "none"
    assert profile.project_type is None
    data = _parsed(render_config(profile))
    gate = data["gate"]
    assert isinstance(gate, dict)
    assert gate["stage"]["dependencies"] == {"enabled": False}
    assert data["profile"] == {}


def test_web_framework_without_an_app_object(tmp_path: Path) -> None:
    root = _write(tmp_path, {"handlers.py": "from fastapi import APIRouter\nr = APIRouter()\n"})
    profile = detect_project(root)
    assert profile.framework == "fastapi"
    assert profile.serve_cmd is None
    text = render_config(profile)
    data = _parsed(text)
    assert "probe" not in data
    assert "# cmd = " in text
    gate = data["gate"]
    assert isinstance(gate, dict)
    assert gate["stage"]["performance"] == {"enabled": False}


def test_write_config_and_no_overwrite(fastapi_project: Path) -> None:
    written = write_config(fastapi_project, force=False)
    assert written == fastapi_project.resolve() / "prodready.toml"
    text = written.read_text(encoding="utf-8")
    _parsed(text)
    written.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(GateError, match=r"prodready\.toml already exists.*--force"):
        write_config(fastapi_project, force=False)
    assert written.read_text(encoding="utf-8") == "# mine\n"
    assert write_config(fastapi_project, force=True) == written
    assert written.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in fastapi_project.glob(".prodready.toml.*")) == []  # no temp file


def test_pyproject_table_counts_as_existing_config(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n[tool.prodready.profile]\nruntime = "vm"\n', encoding="utf-8"
    )
    with pytest.raises(GateError, match=r"pyproject\.toml.*tool\.prodready.*--force"):
        write_config(tmp_path, force=False)
    assert not (tmp_path / "prodready.toml").exists()
    written = write_config(tmp_path, force=True)
    assert written.name == "prodready.toml"
    assert "runtime" in pyproject.read_text(encoding="utf-8")  # left alone


def test_pyproject_without_our_table_is_not_a_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n', encoding="utf-8"
    )
    assert write_config(tmp_path, force=False).is_file()


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="not a directory"):
        detect_project(tmp_path / "missing")


def test_script_that_serves_on_port_is_run_as_is(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "service.py": """\
                import os

                import uvicorn
                from fastapi import FastAPI

                app = FastAPI()

                if __name__ == "__main__":
                    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]))
            """,
            "requirements.txt": "fastapi\nuvicorn\n",
        },
    )
    profile = detect_project(root)
    assert profile.serve_cmd == "python service.py"
    assert _parsed(render_config(profile))["probe"] == {
        "cmd": "python service.py",
        "budget": "300s",
    }
