"""The probe's report formats (text, json, html), on hand-built reports."""

from __future__ import annotations

import json
import re

import pytest
from html_audit import audit_html

from prodready import __version__
from prodready.probe.model import (
    CheckResult,
    DependencyInfo,
    ProbeReport,
    ProbeTarget,
    Status,
)
from prodready.report import PROBE_FORMATS, probe_renderer
from prodready.report.probe_text import evidence_digest

CURL = (
    "curl -X POST -H 'Content-Type: application/json' "
    '-d \'{"name": "\\u0000", "qty": -1, "note": "caf\u00e9"}\' '
    "http://127.0.0.1:8000/orders?trace=abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop"
)
XSS = "<script>alert(1)</script>"
NON_ASCII = "na\u00efve caf\u00e9 \u2014 \u65e5\u672c\u8a9e \u2713"
ANSI = re.compile(r"\x1b\[")


def _report() -> ProbeReport:
    target = ProbeTarget(
        command="uvicorn app:app --port 8000",
        base_url="http://127.0.0.1:8000",
        port=8000,
        openapi="http://127.0.0.1:8000/openapi.json",
        operations=7,
        dependencies=[
            DependencyInfo(
                "payments", "PAYMENTS_URL", "http", "http://127.0.0.1:9001", "recording fake"
            ),
            DependencyInfo(
                "db", "DATABASE_URL", "tcp", "postgresql://127.0.0.1:9002/app", "127.0.0.1:5432"
            ),
        ],
    )
    checks = [
        CheckResult(
            "readiness",
            Status.PASS,
            "/ready answered 200; 503 with dependencies down; ready again after 1.2 s",
            {
                "endpoint": "/ready",
                "healthy": {"request": "GET /ready", "status": 200, "elapsed_ms": 3.1},
                "dependencies_down": {"request": "GET /ready", "status": 503, "elapsed_ms": 12.0},
                "recovered_after_s": 1.2,
            },
            2.53,
        ),
        CheckResult(
            "malformed-input",
            Status.FAIL,
            "2 failing input(s) on POST /orders: 5xx, hang or crash instead of a 4xx",
            {
                "operations": 7,
                "requests": 412,
                "statuses": {"2xx": 100, "4xx": 300, "5xx": 12},
                "failures": [
                    {
                        "operation": "POST /orders",
                        "kind": "server_error",
                        "status": 500,
                        "detail": f"Internal Server Error {XSS} {NON_ASCII}",
                        "reproduce": CURL,
                    },
                    {
                        "operation": "GET /orders/{id}",
                        "kind": "timeout",
                        "status": None,
                        "detail": "x" * 400,
                        "reproduce": "curl -X GET http://127.0.0.1:8000/orders/%00",
                    },
                ],
                "deep": {"a": {"b": {"c": {"d": {"e": [1, 2, {"f": XSS}]}}}}},
            },
            31.4,
        ),
        CheckResult(
            "load-latency",
            Status.FAIL,
            "SLO broken: p99 < 300 ms (p99 412 ms, errors 2.0% over 5000 requests)",
            {
                "requests": 5000,
                "rps": 83.3,
                "p50_ms": 40.0,
                "p95_ms": 200.0,
                "p99_ms": 412.0,
                "error_rate": 0.02,
                "statuses": {"200": 4900, "500": 100},
                "mix": ["GET /orders"],
                "slo": {"p99_ms < 300": "broken"},
                "service_output": f"line one\nline two {XSS}",
            },
            75.0,
        ),
        CheckResult("rate-limit", Status.SKIP, "no rate limit configured", {}, 0.0),
        CheckResult(
            "structured-logs",
            Status.FAIL,
            "40 of 40 lines are not JSON",
            {
                "samples": [f"plain text line {i}" for i in range(40)],
                XSS: "a key from the service",
                "curl": "curl http://127.0.0.1:8000/logs-repro",
            },
            0.12,
        ),
    ]
    return ProbeReport(
        target=target,
        checks=checks,
        started_at="2025-01-01T12:00:00+00:00",
        duration_s=84.23,
        notes=[f"the service printed {XSS} on start"],
    )


def test_probe_formats_resolve() -> None:
    assert PROBE_FORMATS == ("text", "json", "html")
    for name in PROBE_FORMATS:
        assert callable(probe_renderer(name))
    with pytest.raises(ValueError, match="unknown probe format"):
        probe_renderer("sarif")


# --- json --------------------------------------------------------------------------------


def test_json_round_trips_with_exact_keys() -> None:
    report = _report()
    text = probe_renderer("json")(report)
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data == json.loads(json.dumps(report.to_dict(__version__)))
    assert list(data) == ["tool", "version", "target", "checks", "summary", "notes"]
    assert data["tool"] == "prodready"
    assert data["version"] == __version__
    for check in data["checks"]:
        assert list(check) == ["id", "status", "reason", "evidence", "duration_s"]
    assert [check["id"] for check in data["checks"]] == [check.id for check in report.checks]
    assert data["summary"]["failed"] == 3
    assert data["summary"]["verdict"] == "fail"
    # Non-ASCII is written as is, not as \\u escapes.
    assert NON_ASCII in text
    assert text == json.dumps(report.to_dict(__version__), indent=2, ensure_ascii=False) + "\n"


# --- text --------------------------------------------------------------------------------


def test_text_scorecard_plain() -> None:
    report = _report()
    text = probe_renderer("text")(report, color=False)
    assert not ANSI.search(text)
    for check in report.checks:
        assert check.id in text
        assert check.title in text
    for word in ("PASS", "FAIL", "SKIP"):
        assert word in text
    # Header: command, base URL, dependencies with env var, kind and target, OpenAPI source.
    assert "uvicorn app:app --port 8000" in text
    assert "payments -> PAYMENTS_URL (http, recording fake)" in text
    assert "db -> DATABASE_URL (tcp, 127.0.0.1:5432)" in text
    assert "http://127.0.0.1:8000/openapi.json (7 operations)" in text
    # The verdict is the last line, ASCII when not coloured.
    assert text.rstrip("\n").splitlines()[-1] == "FAIL - 3 failed, 1 passed, 1 skipped in 84.2 s"
    # A failed check's reproduction is printed whole, on one line, even if long.
    assert CURL in text.splitlines() or any(line.endswith(CURL) for line in text.splitlines())
    # ... also when it falls after the per-check line cap.
    assert "curl http://127.0.0.1:8000/logs-repro" in text
    assert "more lines" in text
    # Digest: the telling figures as key=value.
    assert "p99_ms=412.0" in text
    assert "error_rate=0.02" in text
    assert "failures=[2]" in text
    assert NON_ASCII in text
    assert f"the service printed {XSS} on start" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert max(len(line) for line in text.splitlines() if CURL not in line) <= 120


def test_text_coloured_has_escapes_and_unicode_dash() -> None:
    text = probe_renderer("text")(_report(), color=True)
    assert ANSI.search(text)
    assert "FAIL \u2014 3 failed, 1 passed, 1 skipped in 84.2 s" in text


def test_text_passing_run() -> None:
    report = _report()
    report.checks = [check for check in report.checks if check.status is not Status.FAIL]
    report.notes = []
    text = probe_renderer("text")(report)
    assert text.rstrip("\n").splitlines()[-1] == "PASS - 0 failed, 1 passed, 1 skipped in 84.2 s"
    assert "Why the failed checks failed" not in text
    assert "Notes" not in text


def test_text_empty_report() -> None:
    text = probe_renderer("text")(ProbeReport(target=ProbeTarget(command="python app.py")))
    assert "No check ran." in text
    assert "PASS - 0 failed, 0 passed, 0 skipped in 0.0 s" in text


def test_evidence_digest() -> None:
    digest = evidence_digest(
        {
            "requests": 5000,
            "p99_ms": 412.0,
            "error_rate": 0.02,
            "mix": ["GET /"],
            "service_output": "noise",
            "failures": [{"reproduce": "curl x"}] * 3,
            "reproduce": "curl http://example",
        }
    )
    assert digest.split() == ["failures=[3]", "p99_ms=412.0", "error_rate=0.02", "requests=5000"]
    long = evidence_digest({"endpoint": "/" + "a" * 100, "statuses": {"2xx": 1}})
    assert "..." in long
    assert "statuses={2xx:1}" in long
    assert evidence_digest({}) == ""
    assert evidence_digest({"healthy": {"request": "GET /", "status": 200}}) == "healthy=200"


# --- html --------------------------------------------------------------------------------


def test_html_is_balanced_and_escaped() -> None:
    report = _report()
    page = probe_renderer("html")(report)
    assert page.startswith("<!DOCTYPE html>")
    audit = audit_html(page)
    assert audit.errors == []
    assert audit.stack == []
    # Evidence, notes and keys from the service never become markup.
    assert "script" not in audit.tags
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = "".join(audit.text)
    assert f"Internal Server Error {XSS} {NON_ASCII}" in text
    assert f"the service printed {XSS} on start" in text
    # No event handler or javascript: URL anywhere.
    assert not any(name.startswith("on") for name, _ in audit.attrs)
    assert "javascript:" not in page.lower()
    # The full reproduction is there, in a <pre>, unescaped once parsed.
    assert CURL in text
    # Ids unique; every scorecard link points at a details block on the page.
    assert len(audit.ids) == len(set(audit.ids))
    for name, value in audit.attrs:
        if name == "href":
            assert value.startswith("#")
            assert value[1:] in audit.ids


def test_html_is_self_contained() -> None:
    page = probe_renderer("html")(_report())
    audit = audit_html(page)
    for name, value in audit.attrs:
        if name in {"src", "href", "action", "srcset", "data", "poster", "xlink:href"}:
            assert not re.match(r"\s*(https?:)?//", value), (name, value)
    for tag in ("script", "link", "img", "iframe", "object", "embed"):
        assert tag not in audit.tags
    css = "".join(audit.styles)
    assert css
    assert "@import" not in css
    assert "url(" not in css
    assert "http" not in css
    assert "Content-Security-Policy" in page


def test_html_contents() -> None:
    report = _report()
    page = probe_renderer("html")(report)
    text = "".join(audit_html(page).text)
    for check in report.checks:
        assert check.id in text
        assert check.title in text
        assert f'id="check-{check.id}"' in page
    assert "FAIL \u2014 3 failed, 1 passed, 1 skipped in 84.2 s" in text
    assert f"prodready {__version__}" in text
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
    assert "PAYMENTS_URL" in text
    assert "(7 operations)" in text
    # Failures open by default, the others closed.
    assert page.count("<details") == len(report.checks)
    opened = re.findall(r'<details class="check (\w+)"[^>]*\bopen\b', page)
    assert sorted(opened) == ["fail", "fail", "fail"]
    assert "<svg" in page


def test_html_passing_and_empty() -> None:
    report = _report()
    report.checks = [check for check in report.checks if check.status is Status.PASS]
    page = probe_renderer("html")(report)
    assert "PASS \u2014 0 failed, 1 passed, 0 skipped" in page
    assert audit_html(page).errors == []
    empty = probe_renderer("html")(ProbeReport(target=ProbeTarget(command="python app.py")))
    audit = audit_html(empty)
    assert audit.errors == []
    assert audit.stack == []
    assert "No check ran." in empty
