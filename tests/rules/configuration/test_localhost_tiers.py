"""CFG001's tiers: a localhost address behind a configuration read (the other branch of a
conditional reads the setting) is a fallback default, low; with no setting consulted it is
hardcoded, medium."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_cfg001_localhost_behind_a_setting_is_a_fallback(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CFG001"
    result = run_scan(directory, config=replace(Config(), select=("CFG001",)))
    tiers = {
        f.line: f.severity.value for f in result.findings if f.path == "fp_configured_first.py"
    }
    assert tiers == {15: "low", 25: "medium"}


def test_cfg001_configparser_fallback_and_dataclass_field_are_fallbacks(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CFG001"
    result = run_scan(directory, config=replace(Config(), select=("CFG001",)))
    tiers = {
        f.line: f.severity.value for f in result.findings if f.path == "fp_overridable_defaults.py"
    }
    assert tiers == {13: "low", 18: "low", 25: "medium"}


def test_cfg001_address_of_a_dependency_the_module_switches_off_is_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CFG001"
    result = run_scan(directory, config=replace(Config(), select=("CFG001",)))
    tiers = {
        (f.line, f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "fp_switched_off.py"
    }
    assert tiers == {(14, "low", "low"), (23, "medium", "high"), (43, "medium", "high")}
