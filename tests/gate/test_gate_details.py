"""The gate's text header wraps only between fields, and the probe stages say why their checks
were skipped (text, markdown, JSON, HTML)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prodready.gate.model import GateReport, StageResult, StageStatus
from prodready.report import gate_renderer

# Answers every request 404: the probe finds no traffic, so its load checks are skipped.
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
NO_TRAFFIC = "no request the service answers with 2xx: give --openapi or [probe] requests"
PERFORMANCE_DETAILS = [
    f"load-latency, memory-growth skipped: {NO_TRAFFIC}",
    f"rate-limit skipped: no API read to send in a burst: {NO_TRAFFIC}, or rate-limit.path",
]


def _gate(project: Path, *args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "gate", str(project), "-q", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("service")
    (root / "app.py").write_text(NOT_FOUND_APP, encoding="utf-8")
    command = json.dumps(f"{sys.executable} app.py {{port}}")
    (root / "prodready.toml").write_text(
        f"[probe]\ncmd = {command}\n[gate.stage.performance]\nenabled = true\n",
        encoding="utf-8",
    )
    return root


def test_json_gives_each_skip_reason(project: Path) -> None:
    done = _gate(project, "--stages", "performance", "--format", "json")
    assert done.returncode == 0, done.stderr
    stages = {stage["id"]: stage for stage in json.loads(done.stdout)["stages"]}
    performance = stages["performance"]
    assert performance["summary"] == "0 probe checks passed, 3 skipped"
    assert performance["details"] == PERFORMANCE_DETAILS
    assert stages["lint"]["details"] == []


def test_text_and_markdown_say_why_checks_were_skipped(project: Path) -> None:
    text = _gate(project, "--stages", "performance").stdout
    lines = text.splitlines()
    start = lines.index("Skipped checks")
    assert lines[start : start + 6] == [
        "Skipped checks",
        "  performance: load-latency, memory-growth skipped: no request the service answers with "
        "2xx: give",
        "    --openapi or [probe] requests",
        "  performance: rate-limit skipped: no API read to send in a burst: no request the service "
        "answers",
        "    with 2xx: give --openapi or [probe] requests, or rate-limit.path",
        "",
    ]
    markdown = _gate(project, "--stages", "performance", "--format", "markdown").stdout
    escaped = NO_TRAFFIC.replace("[", "\\[").replace("]", "\\]")
    assert (
        "**Skipped checks**\n\n"
        f"- `performance`: load-latency, memory-growth skipped: {escaped}\n"
        "- `performance`: rate-limit skipped: no API read to send in a burst: "
        f"{escaped}, or rate-limit.path\n\n"
    ) in markdown


def test_html_shows_the_skip_reasons_under_the_summary() -> None:
    stage = StageResult(
        "sandbox",
        StageStatus.PASS,
        "0 probe checks passed, 1 skipped",
        details=["concurrency skipped: no invariants configured"],
    )
    html = gate_renderer("html")(GateReport(run_id="r", run_dir="/tmp/r", stages=[stage]))
    assert (
        "<td>0 probe checks passed, 1 skipped"
        '<div class="detail">concurrency skipped: no invariants configured</div></td>'
    ) in html


def test_a_long_skip_reason_is_cut_at_a_word() -> None:
    from prodready.gate.stages.probe import skip_reasons
    from prodready.probe.model import CheckResult, Status

    long = "word " * 40 + "end"
    checks = [
        CheckResult("metrics", Status.SKIP, reason=long.strip()),
        CheckResult("liveness", Status.SKIP, reason="no endpoint\nsecond line"),
    ]
    assert skip_reasons(checks) == [
        "metrics skipped: " + ("word " * 31).strip() + "\u2026",
        "liveness skipped: no endpoint",
    ]


# The longest realistic header: a blocked run over two hours, with its start time; and the one
# a new user saw break as "...+00:00, 0.2" / "s" at 100 columns.
LONG = GateReport(
    run_id="20261207T130129Z-42ce03",
    run_dir="/tmp/r",
    reasons=["stage unit fail"],
    started_at="2026-12-07T13:01:29+00:00",
    duration_s=7532.0,
)
SHORT = GateReport(
    run_id="20261207T130129Z-42ce03",
    run_dir="/tmp/r",
    started_at="2026-12-07T13:01:29+00:00",
    duration_s=0.2,
)


@pytest.mark.parametrize(
    ("report", "columns", "header"),
    [
        (
            LONG,
            100,
            [
                "RELEASE BLOCKED  prodready gate, run 20261207T130129Z-42ce03, started "
                "2026-12-07T13:01:29+00:00,",
                "  125m32s",
            ],
        ),
        (
            LONG,
            80,
            [
                "RELEASE BLOCKED  prodready gate, run 20261207T130129Z-42ce03,",
                "  started 2026-12-07T13:01:29+00:00, 125m32s",
            ],
        ),
        (
            SHORT,
            100,
            [
                "RELEASE ALLOWED  prodready gate, run 20261207T130129Z-42ce03, started "
                "2026-12-07T13:01:29+00:00,",
                "  0.2 s",
            ],
        ),
        (
            SHORT,
            80,
            [
                "RELEASE ALLOWED  prodready gate, run 20261207T130129Z-42ce03,",
                "  started 2026-12-07T13:01:29+00:00, 0.2 s",
            ],
        ),
    ],
)
def test_the_header_wraps_between_fields_only(
    report: GateReport, columns: int, header: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    lines = gate_renderer("text")(report).splitlines()
    assert lines[: len(header)] == header
    assert all(len(line) <= columns for line in header)
