"""The environment variables a tree's deployment files set (engine/deployment_env.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.engine.deployment_env import deployed_env_names
from prodready.model import Config


def _write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_names_set_by_terraform_manifests_and_platform_files(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "terraform/api/main.tf",
        'env = {\n  APP_MAIL_KEY = var.mail_key\n  "APP_PAY_SECRET" = var.pay\n'
        '  APP_UNSET = ""\n}\n',
    )
    _write(tmp_path, "k8s/api.yaml", "env:\n  - name: HOOK_TOKEN\n    value: abc\n")
    _write(tmp_path, "render.yaml", "envVars:\n  - key: RENDER_TOKEN\n    sync: false\n")
    _write(tmp_path, "compose.yaml", "services:\n  api:\n    environment:\n      - LIST_KEY=x\n")
    _write(tmp_path, "app.json", '{"env": {"HEROKU_KEY": {"required": true}}}\n')
    _write(tmp_path, "fly.toml", "[env]\n  FLY_KEY = 'x'\n")
    assert deployed_env_names(tmp_path) == {
        "APP_MAIL_KEY",
        "APP_PAY_SECRET",
        "HOOK_TOKEN",
        "RENDER_TOKEN",
        "LIST_KEY",
        "HEROKU_KEY",
        "FLY_KEY",
    }


def test_tests_ci_and_development_stacks_deploy_nothing(tmp_path: Path) -> None:
    _write(
        tmp_path, "docker-compose.dev.yml", "services:\n  api:\n    environment:\n      A_KEY: x\n"
    )
    _write(tmp_path, ".github/workflows/ci.yml", "env:\n  B_KEY: x\n")
    _write(tmp_path, "tests/deploy/main.tf", "C_KEY = var.c\n")
    _write(tmp_path, "node_modules/pkg/values.yaml", "D_KEY: x\n")
    _write(tmp_path, "pnpm-lock.yaml", "E_KEY: x\n")
    assert deployed_env_names(tmp_path) == set()


_LIMITED_APP = """\
from fastapi import FastAPI
from slowapi import Limiter
from slowapi.util import get_remote_address

app = FastAPI()
limiter = Limiter(key_func=get_remote_address)
"""

_LAUNCHER = """\
import uvicorn


def serve() -> None:
    uvicorn.run("shop.app:app", host="0.0.0.0", port=8000)
"""


def _limiter_lines(run_scan: ScanFn, root: Path) -> list[int]:
    result = run_scan(root, config=replace(Config(), select=("STA008",)))
    return [finding.line for finding in result.findings]


def test_a_single_process_launcher_moots_the_in_memory_limiter(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    _write(tmp_path, "shop/app.py", _LIMITED_APP)
    _write(tmp_path, "shop/server.py", _LAUNCHER)
    _write(tmp_path, "Dockerfile", 'FROM python:3.12.4-slim\nCMD ["shop-serve"]\n')
    assert _limiter_lines(run_scan, tmp_path) == []


def test_gunicorn_workers_in_the_dockerfile_contradict_the_launcher(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    _write(tmp_path, "shop/app.py", _LIMITED_APP)
    _write(tmp_path, "shop/server.py", _LAUNCHER)
    _write(
        tmp_path,
        "Dockerfile",
        "FROM python:3.12.4-slim\n"
        'CMD ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "4", "shop.app:app"]\n',
    )
    assert _limiter_lines(run_scan, tmp_path) == [6]
