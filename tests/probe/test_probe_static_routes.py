"""A service without an OpenAPI document (issue 10): the probe sends the routes `prodready
scan` finds in its code instead of guessing `GET /`, skips what it cannot measure honestly, and
names a health endpoint that exists but fails. Real services on loopback, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from prodready.probe.endpoints import LIVENESS_PATHS

NO_TRAFFIC = "no request the service answers with 2xx: give --openapi or [probe] requests"

FLASK_APP = """\
import os

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/orders/<customer>")
def orders(customer):
    return jsonify([])


@app.get("/quote")
def quote():
    return jsonify({"price": 12})


@app.get("/health")
def health():
    return "database unreachable", 500


@app.post("/submit")
def submit():
    return "", 201


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]))
"""

# No web framework, so no route static analysis could find: nothing is known about the API.
PLAIN_APP = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = (500, b"database unreachable") if self.path == "/health" else (404, b"")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

CONFIG = """\
[probe]
cmd = "{python} app.py"
budget = "60s"
slo = ["p(99) < 5s", "error_rate < 0.01"]
grace-period = "3s"

[probe.load]
users = 2
duration = "2s"
warmup = "0s"

[probe.rate-limit]
users = 4
duration = "1s"
"""


def _probe(project: Path, app: str, only: str) -> tuple[int, dict[str, Any]]:
    (project / "app.py").write_text(app, encoding="utf-8")
    (project / "prodready.toml").write_text(CONFIG.format(python=sys.executable), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "prodready",
            "probe",
            "--config",
            "prodready.toml",
            "--only",
            only,
            "--format",
            "json",
            "-q",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in report["checks"]}


def test_without_openapi_the_routes_found_in_the_code_are_sent(tmp_path: Path) -> None:
    code, report = _probe(tmp_path, FLASK_APP, "load-latency,rate-limit,graceful-shutdown")
    checks = _checks(report)
    source = "routes found in the code: GET /quote"
    assert report["notes"] == [
        "no OpenAPI document found at /openapi.json; checks that need one are skipped",
        f"no OpenAPI document or [probe] requests: the probe sends {source} (left out, not "
        "GETs or with path parameters: GET /orders/<customer>, POST /submit)",
    ]

    load = checks["load-latency"]
    assert load["status"] == "pass", load["reason"]
    assert load["evidence"]["mix"] == ["GET /quote"]
    assert load["evidence"]["requests_from"] == source
    assert list(load["evidence"]["statuses"]) == ["2xx"]
    assert load["evidence"]["error_rate"] == 0.0

    burst = checks["rate-limit"]  # nothing limits this service: an honest failure, on /quote
    assert burst["status"] == "fail"
    assert burst["evidence"]["request"] == "GET /quote"
    assert burst["evidence"]["requests_from"] == source
    assert list(burst["evidence"]["statuses"]) == ["2xx"]
    assert burst["reason"].endswith(
        "no 429: nothing protects the service (or its dependencies) from a burst"
    )

    shutdown = checks["graceful-shutdown"]
    assert shutdown["evidence"]["request"] == "GET /quote"
    assert shutdown["evidence"]["requests_from"] == source
    assert 404 not in shutdown["evidence"]["in_flight_results"]
    assert code == 1  # the rate limit


def test_a_failing_health_endpoint_is_named_and_unknown_traffic_is_skipped(
    tmp_path: Path,
) -> None:
    code, report = _probe(
        tmp_path,
        PLAIN_APP,
        "readiness,liveness,load-latency,memory-growth,rate-limit,graceful-shutdown",
    )
    checks = _checks(report)
    liveness = checks["liveness"]
    assert liveness["status"] == "fail"
    assert liveness["reason"] == "no liveness endpoint answered 200: GET /health answered 500"
    assert liveness["evidence"]["tried"] == list(LIVENESS_PATHS)
    assert liveness["evidence"]["answered"] == {"/health": 500}
    assert liveness["evidence"]["responses"][0]["body"] == "database unreachable"
    readiness = checks["readiness"]
    assert readiness["reason"] == (
        "no readiness endpoint: a load balancer cannot tell when this instance can serve"
    )
    assert {
        check_id: checks[check_id]["reason"]
        for check_id in checks
        if check_id not in ("readiness", "liveness")
    } == {
        "load-latency": NO_TRAFFIC,
        "memory-growth": NO_TRAFFIC,
        "rate-limit": f"no API read to send in a burst: {NO_TRAFFIC}, or rate-limit.path",
        "graceful-shutdown": NO_TRAFFIC,
    }
    assert [checks[check_id]["status"] for check_id in checks] == ["fail", "fail"] + ["skip"] * 4
    assert report["notes"][-1] == (
        f"{NO_TRAFFIC}; load, rate-limit and shutdown checks that need one are skipped"
    )
    assert code == 1
