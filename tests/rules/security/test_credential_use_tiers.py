"""SEC002 where the code uses a literal credential -- the value a login compares with, a
keyword of a driver's connect(), a connection settings dictionary: a default-looking word
("password", "secret", "pass") is a credential at high confidence, a placeholder word
("changeme") at medium confidence, a documentation slot ("<your-password>") at low confidence and
medium severity (it reads like a placeholder)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config


def test_sec002_literal_credentials_where_they_are_used(run_scan: ScanFn, tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text(
        "import psycopg2\n"
        "import redis\n"
        "\n"
        "\n"
        "def orders():\n"
        '    return psycopg2.connect(host="db", password="password")\n'
        "\n"
        "\n"
        "def staging():\n"
        '    return psycopg2.connect(host="db", password="changeme")\n'
        "\n"
        "\n"
        "def documented():\n"
        '    return redis.Redis(host="cache", password="<your-password>")\n'
        "\n"
        "\n"
        "def check(password):\n"
        '    return password == "secret"\n',
        encoding="utf-8",
    )
    result = run_scan(tmp_path, config=replace(Config(), select=("SEC002",)))
    assert [(f.line, f.severity.value, f.confidence.value, f.message) for f in result.findings] == [
        (6, "high", "high", _message("password", "set to", "a literal")),
        (10, "high", "medium", _message("password", "set to", "a literal")),
        (14, "medium", "low", _PLACEHOLDER),
        (18, "high", "high", _message("password", "compared with", "a literal")),
    ]


def _message(name: str, verb: str, what: str) -> str:
    return (
        f"`{name}` is {verb} {what} in the source: anyone with the code (or an image built "
        "from it) has this credential, and it cannot be rotated without a deploy. Read it from "
        "the environment or a secret manager"
    )


_PLACEHOLDER = (
    "`password` is set to a placeholder in the source: it reads like one, but the code uses it "
    "as written -- a deployment that does not replace it runs with a value anyone can guess. "
    "Read it from the environment or a secret manager"
)
