"""`prodready probe --format text` fits the terminal like `scan` does: its width, 100 columns
when piped, long reasons, notes and evidence wrapped at word boundaries (issue 10)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Rendered in a child process whose stdout is a pipe: "not a terminal" for certain, whatever
# runs the tests.
_RENDER = r"""
from prodready.probe.model import CheckResult, DependencyInfo, ProbeReport, ProbeTarget, Status
from prodready.report import probe_renderer

long = (
    "the service answered 404 for every request of the mix, which means the path it was "
    "given is not one it serves; give --openapi or [probe] requests so that the probe knows "
    "which requests the service answers"
)
report = ProbeReport(
    target=ProbeTarget(
        command="gunicorn --bind 127.0.0.1:{port} --workers 2 --timeout 30 orders.wsgi:application",
        base_url="http://127.0.0.1:40123",
        port=40123,
        dependencies=[
            DependencyInfo("db", "DATABASE_URL", "tcp", "tcp://127.0.0.1:9", "127.0.0.1:5432")
        ],
    ),
    checks=[
        CheckResult(
            "liveness",
            Status.FAIL,
            "GET /health answered 500 (" + long + ")",
            {"tried": ["/healthz", "/livez", "/health"], "answered": {"/health": 500}},
            0.2,
        ),
        CheckResult(
            "load-latency",
            Status.FAIL,
            "SLO broken: error_rate < 1% (p50 3 ms, p95 9 ms, p99 12 ms, errors 100.0% over "
            "990 requests)",
            {
                "requests": 990,
                "p99_ms": 12.0,
                "error_rate": 1.0,
                "statuses": {"404": 990},
                "requests_from": "routes found in the code: GET /quote, GET /orders, GET /a/b/c",
                "detail": long,
                "mix": ["GET /quote"],
            },
            31.0,
        ),
        CheckResult(
            "graceful-shutdown",
            Status.SKIP,
            "no request the service answers with 2xx: give --openapi or [probe] requests",
            {"request_candidates": 0},
            0.0,
        ),
    ],
    started_at="2026-12-07T12:00:00+00:00",
    duration_s=40.0,
    notes=[long, "no OpenAPI document found at /openapi.json; checks that need one are skipped"],
)
print(probe_renderer("text")(report, color=False), end="")
"""


def _render(columns: str | None) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run(
        [sys.executable, "-c", _RENDER],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize(("columns", "width"), [(None, 100), ("80", 80)])
def test_the_scorecard_fits_the_width_scan_uses(columns: str | None, width: int) -> None:
    lines = _render(columns)
    assert max(len(line) for line in lines) == width
    border = next(line for line in lines if line.startswith("+-"))
    assert len(border) == width
    # Wrapped at word boundaries: every word of the long note is there, none cut in two.
    notes = lines.index("Notes")
    assert lines[notes + 1].startswith("  * the service answered 404 for every request")
    assert " ".join(line.strip() for line in lines[notes + 1 : notes + 4]).startswith(
        "* the service answered 404 for every request of the mix, which means the path it "
        "was given is not one it serves; give --openapi or [probe] requests"
    )
    why = lines.index("FAIL Liveness probe (liveness)")
    assert lines[why + 1].startswith("  GET /health answered 500 (the service answered 404")
    assert all(line == line.rstrip() for line in lines)
