"""Locust load runs (real subprocesses) against a real stdlib HTTP service on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from prodready.probe.load_generator import LOCUSTFILE, REQUESTS_NAME, LoadStats, run_load
from prodready.probe.model import ProbeError, RequestSpec

# Only look Locust up: importing it would monkey-patch this process with gevent.
pytestmark = pytest.mark.skipif(find_spec("locust") is None, reason="needs prodready[probe]")


@dataclass
class _Seen:
    lock: threading.Lock = field(default_factory=threading.Lock)
    limited_calls: int = 0
    idempotency_keys: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    total: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = _Seen()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int) -> None:
        with self.seen.lock:
            self.seen.total += 1
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if token := self.headers.get("X-Token"):
            with self.seen.lock:
                self.seen.tokens.add(token)
        if path == "/ok":
            self._answer(200)
        elif path == "/limited":  # every other request is rate limited
            with self.seen.lock:
                self.seen.limited_calls += 1
                limited = self.seen.limited_calls % 2 == 0
            self._answer(429 if limited else 200)
        elif path == "/boom":
            self._answer(500)
        else:
            self._answer(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or "0")
        body = json.loads(self.rfile.read(length) or b"null")
        with self.seen.lock:
            self.seen.idempotency_keys.append(self.headers.get("Idempotency-Key") or "")
            self.seen.bodies.append(body)
        self._answer(201)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def service() -> Iterator[str]:
    _Handler.seen = _Seen()
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


SPECS = [
    RequestSpec("GET", "/ok", headers={"X-Token": "abc"}),
    RequestSpec("GET", "/limited"),
    RequestSpec("GET", "/boom"),
    RequestSpec("POST", "/orders", json={"item": "book", "qty": 2}, name="create order"),
]


def _check_plausible(stats: LoadStats) -> None:
    assert stats.requests > 0
    assert 0 < stats.failures < stats.requests
    assert stats.error_rate == pytest.approx(stats.failures / stats.requests)
    # Locust rounds response times to whole milliseconds: a fast local answer may count as 0.
    assert 0 <= stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
    assert stats.max_ms > 0
    assert stats.rps > 0
    assert stats.duration_s > 0
    assert {"2xx", "429", "500"} <= set(stats.statuses)
    assert sum(stats.statuses.values()) == stats.requests
    assert stats.statuses["2xx"] == stats.requests - stats.failures
    assert set(stats.by_request) == {"GET /ok", "GET /limited", "GET /boom", "create order"}
    boom = stats.by_request["GET /boom"]
    assert boom["requests"] == boom["failures"] > 0
    assert stats.by_request["GET /ok"]["failures"] == 0
    for values in stats.by_request.values():
        assert values["p50"] <= values["p95"] <= values["p99"]
    assert json.dumps(stats.to_dict())


def test_load_returns_plausible_stats(service: str, tmp_path: Path) -> None:
    stats = run_load(
        service,
        SPECS,
        users=5,
        spawn_rate=50,
        duration_s=2,
        workdir=tmp_path,
        timeout=60,
    )
    _check_plausible(stats)
    assert (stats.users, stats.workers) == (5, 0)
    seen = _Handler.seen
    # The final statistics, not a snapshot from the last second (requests cut off by the stop
    # may have reached the service without being counted).
    assert seen.total - 5 <= stats.requests <= seen.total
    # Every POST got its own fresh Idempotency-Key; the JSON body and headers arrived.
    assert seen.idempotency_keys
    assert len(set(seen.idempotency_keys)) == len(seen.idempotency_keys)
    assert all(seen.idempotency_keys)
    assert all(body == {"item": "book", "qty": 2} for body in seen.bodies)
    assert seen.tokens == {"abc"}
    assert (tmp_path / REQUESTS_NAME).is_file()


def test_paced_users_and_existing_idempotency_key(service: str, tmp_path: Path) -> None:
    specs = [RequestSpec("POST", "/orders", json=[1], headers={"idempotency-key": "fixed"})]
    stats = run_load(
        service,
        specs,
        users=2,
        spawn_rate=10,
        duration_s=1,
        throughput_per_user=5,
        workdir=tmp_path,
        timeout=60,
    )
    assert stats.requests > 0
    assert stats.failures == 0
    assert stats.statuses == {"2xx": stats.requests}
    assert stats.requests == _Handler.seen.total
    assert set(_Handler.seen.idempotency_keys) == {"fixed"}


def test_distributed_mode_with_one_worker(service: str, tmp_path: Path) -> None:
    stats = run_load(
        service,
        SPECS,
        users=5,
        spawn_rate=50,
        duration_s=2,
        workers=1,
        workdir=tmp_path,
        timeout=60,
    )
    _check_plausible(stats)
    assert (stats.users, stats.workers) == (5, 1)
    assert _Handler.seen.total - 5 <= stats.requests <= _Handler.seen.total
    assert (tmp_path / "locust-worker-1.err").is_file()


def test_unreachable_service_counts_status_zero(tmp_path: Path) -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    stats = run_load(
        f"http://127.0.0.1:{port}",
        [RequestSpec("GET", "/ok")],
        users=1,
        spawn_rate=10,
        duration_s=1,
        throughput_per_user=10,
        request_timeout=1,
        workdir=tmp_path,
        timeout=60,
    )
    assert stats.requests > 0
    assert stats.failures == stats.requests
    assert stats.error_rate == 1.0
    assert stats.statuses == {"0": stats.requests}


def test_bad_invocation_raises_probe_error(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="without statistics") as info:
        run_load(
            "http://127.0.0.1:9",
            [RequestSpec("GET", "/")],
            users=1,
            spawn_rate=1,
            duration_s=1,
            # Not an address of this machine: the Locust master cannot bind and exits.
            master_bind_host="192.0.2.1",
            master_port=45557,
            workers=1,
            workdir=tmp_path,
            timeout=30,
        )
    assert "code" in str(info.value)
    with pytest.raises(ProbeError, match="cannot listen"):
        run_load(
            "http://127.0.0.1:9",
            [RequestSpec("GET", "/")],
            users=1,
            spawn_rate=1,
            duration_s=1,
            master_bind_host="192.0.2.1",
            workers=1,
            workdir=tmp_path,
            timeout=30,
        )
    with pytest.raises(ProbeError, match="no requests"):
        run_load(
            "http://127.0.0.1:9",
            [],
            users=1,
            spawn_rate=1,
            duration_s=1,
            workdir=tmp_path,
            timeout=5,
        )


def test_locustfile_reads_the_requests_file() -> None:
    assert f'"{REQUESTS_NAME}"' in LOCUSTFILE
    compile(LOCUSTFILE, "prodready_locustfile.py", "exec")


def _processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_timeout_kills_master_and_workers(service: str, tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="did not finish"):
        run_load(
            service,
            [RequestSpec("GET", "/ok")],
            users=2,
            spawn_rate=10,
            duration_s=60,
            throughput_per_user=5,
            workers=1,
            workdir=tmp_path,
            timeout=3,
        )
    assert _processes_using(tmp_path) == []


def test_percentiles_are_capped_at_the_exact_maximum() -> None:
    """Locust's rounded buckets put a p99 of 57 ms above an exact max of 56.8 ms."""
    from prodready.probe.load_generator import LoadStats, within_max

    rounded = LoadStats(
        requests=10,
        failures=0,
        error_rate=0.0,
        rps=5.0,
        p50_ms=3.0,
        p95_ms=57.0,
        p99_ms=57.0,
        avg_ms=9.5,
        max_ms=56.83,
        by_request={"GET /ok": {"p50": 3.0, "p95": 57.0, "p99": 57.0, "max": 56.83}},
    )
    capped = within_max(rounded)
    assert (capped.p50_ms, capped.p95_ms, capped.p99_ms, capped.max_ms) == (
        3.0,
        56.83,
        56.83,
        56.83,
    )
    assert capped.by_request == {"GET /ok": {"p50": 3.0, "p95": 56.83, "p99": 56.83, "max": 56.83}}
