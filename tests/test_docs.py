"""Documentation that is generated from the code must not drift from it."""

from __future__ import annotations

from pathlib import Path

from prodready.engine.registry import Registry
from prodready.report.catalog import render_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_rules_md_is_generated_from_the_catalog(registry: Registry) -> None:
    expected = render_markdown(list(registry))
    actual = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert actual == expected, (
        "docs/rules.md is stale: run `prodready rules --format markdown > docs/rules.md`"
    )


def test_every_rule_has_an_anchor_in_rules_md(registry: Registry) -> None:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for rule in registry:
        assert f"### {rule.code} {rule.name}" in text
        assert f"(#{rule.code.lower()}-{rule.name})" in text


def test_readme_quick_start_names_the_example_and_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "prodready scan examples/payments-service" in readme
    assert 'python3 -m pip install -e ".[dev]" && python3 -m pytest' in readme
    assert (ROOT / "examples" / "payments-service").is_dir()


def test_the_rule_writing_guide_imports_only_the_public_plugin_api() -> None:
    """Every import in the guide's examples names ``prodready.plugin`` (or a submodule), and each
    imported name exists there: the guide shows the API third parties may rely on."""
    import importlib
    import re

    guide = (ROOT / "docs" / "writing-rules.md").read_text(encoding="utf-8")
    imports = re.findall(r"^from (prodready[\w.]*) import ([\w, ]+)$", guide, flags=re.M)
    assert {module for module, _ in imports} == {"prodready.plugin", "prodready.plugin.analysis"}
    for module, names in imports:
        exported = set(importlib.import_module(module).__all__)
        assert {name.strip() for name in names.split(",")} <= exported, module
