"""PRF013's tiers: a client-chosen page size with no default (left out, every row comes back)
is medium; with a default but no maximum it is low. PRF014 (a job loading a whole result) is
low throughout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config

FIXTURES = Path(__file__).parent / "fixtures"


def test_prf013_no_default_medium_default_without_cap_low(run_scan) -> None:
    result = run_scan(FIXTURES / "PRF013", config=replace(Config(), select=("PRF013",)))
    tiers = {(f.path, f.line): f.severity.value for f in result.findings}
    assert tiers == {
        ("async_apis.py", 16): "medium",
        ("async_apis.py", 24): "low",
        ("async_apis.py", 51): "medium",
        ("django_views.py", 10): "low",
        ("django_views.py", 23): "low",
        ("django_views.py", 36): "low",
        ("flask_api.py", 12): "medium",
        ("flask_api.py", 17): "low",
        ("flask_api.py", 25): "low",
    }


def test_prf014_is_low(run_scan) -> None:
    result = run_scan(FIXTURES / "PRF014", config=replace(Config(), select=("PRF014",)))
    assert sorted((f.path, f.line, f.severity.value) for f in result.findings) == [
        ("billing/jobs.py", 14, "low"),
        ("celery_tasks.py", 15, "low"),
        ("celery_tasks.py", 35, "low"),
        ("workers.py", 10, "low"),
    ]
