"""DAT004's tiers: an unclosed connection to a database server is medium; an unclosed SQLite
connection (in-process, no server connection to exhaust) is low with low confidence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_dat004_sqlite_connection_is_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "DAT004"
    result = run_scan(directory, config=replace(Config(), select=("DAT004",)))
    tiers = {
        (f.path, f.line): (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path in {"fp_sqlite_file_database.py", "app.py"}
    }
    assert tiers[("fp_sqlite_file_database.py", 19)] == ("low", "low")
    assert tiers[("fp_sqlite_file_database.py", 26)] == ("medium", "medium")
    assert tiers[("app.py", 22)] == ("low", "low")
