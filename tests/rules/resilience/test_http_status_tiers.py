"""RES011's tiers: a body parsed inside a try whose handler catches what parsing an error body
raises is low with low confidence (the failure is handled, its status lost); a body used
unparsed there, or read outside any such try, stays medium."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config


def test_res011_parse_failure_handled_is_low(run_scan: ScanFn) -> None:
    directory = Path(__file__).parent / "fixtures" / "RES011"
    result = run_scan(directory, config=replace(Config(), select=("RES011",)))
    tiers = {
        (f.path, f.line): (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path in {"fp_parse_failure_handled.py", "django_tasks.py"}
    }
    assert tiers == {
        ("fp_parse_failure_handled.py", 16): ("low", "low"),
        ("fp_parse_failure_handled.py", 26): ("medium", "high"),
        ("django_tasks.py", 12): ("medium", "high"),
        ("django_tasks.py", 19): ("medium", "high"),
    }
