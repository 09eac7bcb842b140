"""Hints name the probe table as it is spelt in the configuration file in use:
``[[probe.invariants]]`` in prodready.toml (and with no file),
``[[tool.prodready.probe.invariants]]`` in pyproject.toml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Answers every request 404: no traffic for the load checks, whatever the probe tries.
NOT_FOUND_APP = """\
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class NotFound(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), NotFound).serve_forever()
"""


def _probe(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "probe", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("file", "table", "expected"),
    [
        ("prodready.toml", "[probe]", "probe"),
        ("pyproject.toml", "[tool.prodready.probe]", "tool.prodready.probe"),
        (None, None, "probe"),
    ],
)
def test_skip_reasons_name_the_table_as_spelt_in_the_file(
    tmp_path: Path, file: str | None, table: str | None, expected: str
) -> None:
    (tmp_path / "app.py").write_text(NOT_FOUND_APP, encoding="utf-8")
    command = f"{sys.executable} app.py {{port}}"
    args = ["--only", "concurrency,load-latency", "--format", "json", "-q"]
    if file is None:
        args += ["--cmd", command]
    else:
        (tmp_path / file).write_text(f"{table}\ncmd = {json.dumps(command)}\n", encoding="utf-8")
    done = _probe(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    reasons = {check["id"]: check["reason"] for check in report["checks"]}
    assert reasons == {
        "concurrency": f"no invariants configured ([[{expected}.invariants]] with action, read, "
        "field, delta)",
        "load-latency": "no request the service answers with 2xx: give --openapi or "
        f"[{expected}] requests",
    }
    assert report["notes"] == [
        "no OpenAPI document found at /openapi.json; checks that need one are skipped",
        f"no request the service answers with 2xx: give --openapi or [{expected}] requests; "
        "load, rate-limit and shutdown checks that need one are skipped",
    ]


@pytest.mark.parametrize(
    ("file", "table"),
    [("prodready.toml", "probe"), ("pyproject.toml", "tool.prodready.probe")],
)
def test_the_gate_names_the_missing_command_s_table(tmp_path: Path, file: str, table: str) -> None:
    config = tmp_path / file
    prefix = "tool.prodready." if file == "pyproject.toml" else ""
    config.write_text(
        f'[{table}]\nbudget = "10s"\n[{prefix}gate.stage.performance]\nenabled = true\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(tmp_path), "--stages", "performance",
         "--format", "json", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    stages = {stage["id"]: stage for stage in json.loads(done.stdout)["stages"]}
    assert stages["performance"]["summary"] == (
        f"the probe could not run: the probe has no command: set cmd under [{table}] of {config}"
    )
