"""PRF008's tiers: a blocking helper called from a request handler (or a sync database call a
handler makes itself) is high; from another coroutine it is medium (it blocks whatever shares
that loop, not necessarily requests)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_prf008_handler_high_other_coroutine_medium(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "PRF008"
    result = run_scan(directory, config=replace(Config(), select=("PRF008",)))
    tiers = {
        (f.path, f.line): (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "fleet/api.py"
    }
    assert tiers == {
        ("fleet/api.py", 40): ("high", "medium"),
        ("fleet/api.py", 45): ("high", "medium"),
        ("fleet/api.py", 50): ("high", "medium"),
        ("fleet/api.py", 57): ("high", "medium"),
        ("fleet/api.py", 62): ("high", "medium"),
        ("fleet/api.py", 69): ("high", "medium"),
        ("fleet/api.py", 102): ("high", "medium"),
        ("fleet/api.py", 103): ("high", "medium"),
        ("fleet/api.py", 122): ("medium", "medium"),
    }
