"""CON011's severity: a task given a row inserted in the open transaction can find no row at
all (high); one given rows changed there reads their old state (medium)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_con011_new_rows_high_changed_rows_medium(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "CON011"
    result = run_scan(directory, config=replace(Config(), select=("CON011",)))
    tiers = {(f.path, f.line): f.severity.value for f in result.findings}
    assert tiers == {
        ("django_tasks.py", 28): "high",
        ("django_tasks.py", 35): "high",
        ("django_tasks.py", 85): "medium",
        ("django_tasks.py", 93): "medium",
        ("sqlalchemy_rq.py", 23): "high",
        ("sqlalchemy_rq.py", 32): "medium",
        ("sqlalchemy_rq.py", 42): "medium",
    }
