"""CFG001: a localhost address assigned first and replaced in the next ``if <setting>:`` by the
configured value is a fallback default (low); the same address never replaced is the
dependency's only address (medium)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_FIXTURE = Path(__file__).parent / "fixtures" / "CFG001" / "fp_overridden_when_configured.py"


def test_cfg001_default_replaced_by_a_setting_is_a_fallback(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    shutil.copy(_FIXTURE, tmp_path / "app" / "sidecar.py")
    result = run_scan(tmp_path, config=replace(Config(), select=("CFG001",)))
    found = [(f.line, f.severity.value, f.message) for f in result.findings]
    assert found == [
        (
            13,
            "low",
            "'http://127.0.0.1:8765' is a fallback default: when the setting is missing in "
            "production the service silently talks to localhost. Require the variable instead "
            "(fail at startup)",
        ),
        (
            21,
            "medium",
            "'http://127.0.0.1:8766' is hardcoded: in a container localhost is the container "
            "itself, so this dependency is unreachable in production. Read it from configuration",
        ),
    ]
