"""ERR001's evidence tiers: a swallowed failure of a write (or of a read whose data silently goes
missing) is medium; a failed remote lookup handed on as None or as a skipped item is low with low
confidence (an outage and "not found" look alike there, and the rule cannot tell which one the
code means); a block that only reads the local installation is not reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_err001_severity_follows_what_the_block_can_lose(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "ERR001"
    result = run_scan(directory, config=replace(Config(), select=("ERR001",)))
    tiers = {
        f.line: (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "fp_optional_lookups.py"
    }
    assert tiers == {
        85: ("medium", "high"),  # remote read, its data silently missing from the result
        94: ("low", "low"),  # store lookup -> None
        105: ("low", "low"),  # HTTP lookup, falls through to return None
        115: ("low", "low"),  # per-table count skipped
        124: ("medium", "high"),  # a write whose failure becomes None
    }
    services = {f.line: f.severity.value for f in result.findings if f.path == "services.py"}
    assert services == {17: "medium", 24: "low", 32: "medium", 40: "medium", 47: "medium"}
