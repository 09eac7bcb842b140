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


def test_con002_running_total_of_kept_rows_is_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CON002"
    result = run_scan(directory, config=replace(Config(), select=("CON002",)))
    tiers = {
        f.line: (f.severity.value, f.confidence.value, f.message)
        for f in result.findings
        if f.path == "fp_running_total_of_kept_rows.py"
    }
    assert {line: tier[:2] for line, tier in tiers.items()} == {
        14: ("low", "low"),
        24: ("high", "high"),
        29: ("high", "high"),
        40: ("low", "low"),
        45: ("high", "high"),
        53: ("low", "low"),
    }
    assert tiers[40][2] == (
        "self.signups is read, changed in Python and written back, so concurrent requests can "
        "lose an update, but the same change is also inserted as a row (line 39) that is kept: "
        "a lost update leaves signups behind those rows without losing one, and the rule cannot "
        "tell whether signups is relied on or can be recomputed from them (low). Update it in "
        "the database (F('signups'), or an UPDATE that sets signups from itself) or load the row "
        "with select_for_update()/with_for_update()"
    )


def test_con002_own_attempt_counter_is_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CON002"
    result = run_scan(directory, config=replace(Config(), select=("CON002",)))
    tiers = {
        f.line: (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "fp_attempt_counter_of_own_row.py"
    }
    assert tiers == {
        21: ("low", "low"),
        27: ("low", "low"),
        33: ("high", "high"),
        41: ("high", "high"),
    }
