"""Configuration classes for tests or a developer's machine, beside the production one in the
same module: their literals are development data (SEC002 reports them low, low confidence)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.engine.settings_classes import development_settings_class
from prodready.model import Config

_CONFIG = """\
class Config:
    TESTING = False


class TestingConfig(Config):
    SECRET_KEY = "q8Zr4Lw2n8F2kq9XyT"


class ProductionConfig(Config):
    SECRET_KEY = "Zk3mW9qp4Rt6Yu8hG"
"""


def _class(source: str) -> ast.ClassDef:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    return node


def test_development_settings_classes_by_name_or_test_mode() -> None:
    development = [
        "class TestingConfig(Config): pass",
        "class DevelopmentSettings: pass",
        "class LocalConf: pass",
        "class SuiteConfig(Config):\n    TESTING = True",
    ]
    production = [
        "class ProductionConfig(Config): pass",
        "class TestimonialConfig(Config): pass",
        "class TestRunner: pass",
        "class Config:\n    TESTING = False",
    ]
    assert [development_settings_class(_class(s)) for s in development] == [True] * 4
    assert [development_settings_class(_class(s)) for s in production] == [False] * 4


def test_sec002_reports_a_test_configuration_class_low(run_scan: ScanFn, tmp_path: Path) -> None:
    (tmp_path / "webapp").mkdir()
    (tmp_path / "webapp" / "config.py").write_text(_CONFIG, encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("SEC002",)))
    found = [(f.line, f.severity.value, f.confidence.value) for f in result.findings]
    assert found == [(6, "low", "low"), (10, "high", "high")]
