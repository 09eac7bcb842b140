"""CFG009 evidence tier: Flask's debug server bound to a loopback host is reachable from the
developer's machine only -- reported low, confidence low; on every interface it stays high."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_LAUNCHER = """\
from flask import Flask

app = Flask(__name__)

if __name__ == "__main__":
    app.run(debug=True, host="127.0.0.1", port=4000)
    app.run("0.0.0.0", 4000, debug=True)
"""


def test_sec010_loopback_debug_server_is_low(run_scan: ScanFn, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(_LAUNCHER, encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("CFG009",)))
    found = [(f.line, f.severity.value, f.confidence.value) for f in result.findings]
    assert found == [(6, "low", "low"), (7, "high", "medium")]
