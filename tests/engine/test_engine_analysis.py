"""Shared analyses of ``prodready.engine.analysis`` that rules rely on (issue 11, part 2)."""

from __future__ import annotations

import ast

import pytest

from prodready.engine.analysis import FRAMEWORK_PACKAGES, in_service_code, is_framework_source
from prodready.engine.python import PythonAnalyzer, PythonContext
from prodready.model import Profile

FLASK_SERVICE = "from flask import Flask\n\napp = Flask(__name__)\n"


def _context(path: str, source: str = FLASK_SERVICE) -> PythonContext:
    return PythonAnalyzer([]).analyze(source, ast.parse(source), path, Profile())


def test_project_rules_and_per_file_rules_share_one_framework_table() -> None:
    from prodready.rules import _service

    assert _service.FRAMEWORK_PACKAGES is FRAMEWORK_PACKAGES


@pytest.mark.parametrize("package", ["connexion", "uvicorn", "gunicorn", "django", "werkzeug"])
def test_a_module_inside_a_framework_or_server_package_is_not_service_code(package: str) -> None:
    """Before the tables were merged, per-file rules took ``uvicorn/``, ``gunicorn/`` and
    ``connexion/`` sources for service code while the project rules did not."""
    ctx = _context(f"vendor/{package}/app.py")
    assert (is_framework_source(ctx), in_service_code(ctx)) == (True, False)


def test_the_same_module_in_a_service_package_is_service_code() -> None:
    ctx = _context("service/app.py")
    assert (is_framework_source(ctx), in_service_code(ctx)) == (False, True)
