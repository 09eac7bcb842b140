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
        ("fleet/api.py", 41): ("high", "medium"),
        ("fleet/api.py", 46): ("high", "medium"),
        ("fleet/api.py", 51): ("high", "medium"),
        ("fleet/api.py", 58): ("high", "medium"),
        ("fleet/api.py", 63): ("high", "medium"),
        ("fleet/api.py", 70): ("high", "medium"),
        # The coroutine's own sync session calls: one finding on its def, listing the lines.
        ("fleet/api.py", 102): ("high", "medium"),
        ("fleet/api.py", 123): ("medium", "medium"),
    }


def test_prf008_async_twin_adapter_is_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "PRF008"
    result = run_scan(directory, config=replace(Config(), select=("PRF008",)))
    tiers = {
        f.line: (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "fp_sync_twin_adapter.py"
    }
    assert tiers == {16: ("low", "low"), 23: ("low", "low"), 26: ("medium", "medium")}
