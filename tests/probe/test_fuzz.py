"""Malformed-input fuzzing against a real stdlib HTTP service on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from prodready.probe.fuzz import FuzzOutcome, fuzz
from prodready.probe.model import ProbeError

pytest.importorskip("schemathesis")

_ORDER = {
    "type": "object",
    "required": ["name", "qty"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 50},
        "qty": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    "additionalProperties": False,
}
_PAYMENT = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "integer"}, "note": {"type": "string"}},
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _openapi(paths: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "stub", "version": "1"}, "paths": paths}


PATHS: dict[str, Any] = {
    "/orders": {
        "post": {
            "requestBody": _json_body(_ORDER),
            "responses": {"201": {"description": "created"}, "400": {"description": "bad"}},
        }
    },
    "/payments": {
        "post": {
            "requestBody": _json_body(_PAYMENT),
            "responses": {"201": {"description": "created"}, "400": {"description": "bad"}},
        }
    },
    "/limited": {
        "get": {
            "parameters": [
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}
            ],
            "responses": {"200": {"description": "ok"}, "429": {"description": "slow down"}},
        }
    },
    "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
}
SLOW_PATHS: dict[str, Any] = {
    "/slow": {
        "get": {
            "parameters": [
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "ok"}},
        }
    }
}


def _valid_order(data: object) -> bool:
    if not isinstance(data, dict) or set(data) != {"name", "qty"}:
        return False
    name, qty = data["name"], data["qty"]
    return isinstance(name, str) and 1 <= len(name) <= 50 and type(qty) is int and 1 <= qty <= 100


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = 0
    lock = threading.Lock()
    slow_seconds = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_json(self) -> tuple[bool, object]:
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            return False, None
        if length < 0 or length > 1_000_000:
            return False, None
        raw = self.rfile.read(length)
        if "json" not in (self.headers.get("Content-Type") or ""):
            return False, None
        try:
            return True, json.loads(raw)
        except (ValueError, RecursionError):
            return False, None

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        ok, data = self._read_json()
        if path == "/orders":  # validates everything: 400 on any bad input
            if not ok or not _valid_order(data):
                self._answer(400, {"error": "invalid order"})
                return
            self._answer(201, {"id": 1})
        elif path == "/payments":  # crashes when the required field is missing
            try:
                if not ok:
                    self._answer(400, {"error": "not json"})
                    return
                amount = data["amount"]  # type: ignore[index]
                self._answer(201, {"amount": amount})
            except (KeyError, TypeError, IndexError) as exc:
                self._answer(500, {"error": f"Internal Server Error: {type(exc).__name__}"})
        else:
            self._answer(404, {"error": "not found"})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/limited":
            with _Handler.lock:
                _Handler.counter += 1
                limited = _Handler.counter % 2 == 0
            self._answer(429 if limited else 200, {})
        elif path == "/health":  # broken on purpose: only exclude_paths keeps it out
            self._answer(500, {"error": "unhealthy"})
        elif path == "/slow":
            time.sleep(self.slow_seconds)
            self._answer(200, {})
        else:
            self._answer(404, {"error": "not found"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def service() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _by_operation(outcome: FuzzOutcome) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for failure in outcome.failures:
        found.setdefault(failure.operation, []).append(failure.kind)
    return found


def test_finds_the_crash_and_nothing_on_robust_operations(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outcomes = [
        fuzz(
            _openapi(PATHS),
            service,
            max_examples=15,
            deadline=time.monotonic() + 60,
            exclude_paths=["/health"],
        )
        for _ in range(2)  # a second run in the same process works and is reproducible
    ]
    outcome = outcomes[0]
    assert sorted(outcome.operations) == ["GET /limited", "POST /orders", "POST /payments"]
    assert not outcome.truncated
    assert outcome.requests > 0
    assert _by_operation(outcome) == {"POST /payments": ["server_error"]}
    failure = outcome.failures[0]
    assert failure.status == 500
    assert "/payments" in failure.curl
    assert failure.curl.startswith("curl ")
    assert "Internal Server Error" in failure.detail
    assert outcome.statuses.get("4xx", 0) > 0
    assert outcome.statuses.get("5xx", 0) > 0
    assert outcome.statuses.get("2xx", 0) > 0
    assert json.dumps(outcome.to_dict())  # serialisable evidence
    again = outcomes[1]
    assert [(f.operation, f.kind, f.status) for f in again.failures] == [
        (f.operation, f.kind, f.status) for f in outcome.failures
    ]
    # database=None and a temporary Hypothesis home: nothing lands in the working directory.
    assert list(tmp_path.iterdir()) == []


def test_exclude_paths(service: str) -> None:
    schema = _openapi({"/health": PATHS["/health"]})
    included = fuzz(schema, service, max_examples=3, deadline=time.monotonic() + 30)
    assert included.operations == ["GET /health"]
    assert [(f.operation, f.status) for f in included.failures] == [("GET /health", 500)]
    excluded = fuzz(
        schema, service, max_examples=3, deadline=time.monotonic() + 30, exclude_paths=["/health/"]
    )
    assert excluded.operations == []
    assert excluded.failures == []
    assert excluded.requests == 0


def test_stops_at_the_deadline(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Handler, "slow_seconds", 0.2)
    outcome = fuzz(_openapi(SLOW_PATHS), service, max_examples=500, deadline=time.monotonic() + 1.0)
    assert outcome.truncated
    assert 0 < outcome.requests < 500
    assert outcome.failures == []


def test_a_hanging_operation_is_a_timeout_failure(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Handler, "slow_seconds", 1.0)
    outcome = fuzz(
        _openapi(SLOW_PATHS),
        service,
        max_examples=2,
        request_timeout=0.3,
        deadline=time.monotonic() + 30,
    )
    assert [(f.operation, f.kind, f.status) for f in outcome.failures] == [
        ("GET /slow", "timeout", None)
    ]
    assert "/slow" in outcome.failures[0].curl


def test_a_refused_connection_is_a_failure() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens on this port any more
    outcome = fuzz(
        _openapi({"/health": PATHS["/health"]}),
        f"http://127.0.0.1:{port}",
        max_examples=2,
        deadline=time.monotonic() + 30,
    )
    assert [f.kind for f in outcome.failures] == ["connection_error"]


def test_base_path_from_servers_is_used(service: str) -> None:
    schema = _openapi({"/payments": PATHS["/payments"]})
    schema["servers"] = [{"url": "/api"}]
    outcome = fuzz(schema, service, max_examples=5, deadline=time.monotonic() + 30)
    # The stub serves /payments, not /api/payments: every answer is a 404, never the crash.
    assert outcome.requests > 0
    assert set(outcome.statuses) == {"4xx"}


def test_invalid_document_and_missing_schemathesis(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProbeError, match="OpenAPI"):
        fuzz({"openapi": "9.0.0", "paths": {}}, "http://127.0.0.1:9", deadline=time.monotonic())
    monkeypatch.setitem(sys.modules, "schemathesis", None)
    with pytest.raises(ProbeError, match=r"prodready\[probe\]"):
        fuzz(_openapi({}), "http://127.0.0.1:9", deadline=time.monotonic())
