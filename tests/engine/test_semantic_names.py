"""One name for one function whatever root the scan started from (engine.semantic.names)."""

from __future__ import annotations

import pytest

from prodready.engine.semantic.names import same_dotted_name


@pytest.mark.parametrize(
    ("seen", "defined", "same"),
    [
        ("app.db.get_db", "app.db.get_db", True),
        ("app.db.get_db", "svc.app.db.get_db", True),  # scanned from one directory higher
        ("svc.app.db.get_db", "app.db.get_db", True),  # and the reverse
        ("db.get", "app.db.target", False),  # a suffix of a word is not a package path
        ("app.db.get_db", "app.db.get_dbs", False),
        ("get_db", "app.db.get_db", True),
    ],
)
def test_same_dotted_name(seen: str, defined: str, same: bool) -> None:
    assert same_dotted_name(seen, defined) is same
