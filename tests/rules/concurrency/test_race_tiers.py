"""CON002's severity: a row hanging from a parent by a required CASCADE foreign key is still
written by every request that reaches it (a promotion applied by every checkout, the inventory of
an item, a bucket keyed by a shared string), so a lost update on it stays high."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_con002_rows_with_a_cascade_parent_stay_high(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CON002"
    result = run_scan(directory, config=replace(Config(), select=("CON002",)))
    tiers = {
        f.line: (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "shared_rows_with_parent.py"
    }
    assert tiers == {
        15: ("high", "high"),
        16: ("high", "high"),
        26: ("high", "high"),
        38: ("high", "high"),
    }
