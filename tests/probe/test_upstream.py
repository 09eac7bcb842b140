"""The recording fake upstream, over real loopback sockets: httpx for ordinary requests, raw
sockets where the wire format itself (keep-alive, chunking, malformed input) is under test."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx
import pytest

from prodready.probe.netloop import BackgroundLoop
from prodready.probe.upstream import LOG_SIZE, FakeUpstream, UpstreamResponse

IO_TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as background:
        yield background


@pytest.fixture
def make_upstream(loop: BackgroundLoop) -> Iterator[Any]:
    started: list[FakeUpstream] = []

    def make(*responses: UpstreamResponse, seed: int = 3) -> FakeUpstream:
        upstream = FakeUpstream("pay", responses, seed=seed)
        loop.run(upstream.start())
        started.append(upstream)
        return upstream

    yield make
    for upstream in started:
        loop.run(upstream.stop())


@pytest.fixture
def upstream(make_upstream: Any) -> FakeUpstream:
    return make_upstream()  # type: ignore[no-any-return]


@pytest.fixture
def client(upstream: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=upstream.url, timeout=IO_TIMEOUT_S, trust_env=False) as http:
        yield http


def _raw(upstream: FakeUpstream) -> socket.socket:
    return socket.create_connection(("127.0.0.1", upstream.port), timeout=IO_TIMEOUT_S)


def _read_response(stream: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def _get(path: str, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: upstream", *extra, "", ""]
    return "\r\n".join(lines).encode()


def _exchange(upstream: FakeUpstream, data: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """Send raw bytes; return the answer and what followed it before the server closed."""
    with _raw(upstream) as sock, sock.makefile("rb") as stream:
        sock.sendall(data)
        status, headers, body = _read_response(stream)
        rest = stream.read()
    return status, headers, body, rest


# -- answers ----------------------------------------------------------------------------------
def test_default_answers(upstream: FakeUpstream, client: httpx.Client) -> None:
    first = client.post("/v1/charges", json={"amount": 100})
    assert first.status_code == 200
    assert first.json() == {"id": "pay_1", "status": "succeeded", "path": "/v1/charges"}
    assert client.post("/v1/charges", json={}).json()["id"] == "pay_2"
    read = client.get("/v1/charges/pay_2", params={"expand": "all"})
    assert read.json() == {"id": "pay_2", "status": "succeeded", "path": "/v1/charges/pay_2"}
    assert client.get("/health").json() == {"status": "ok"}
    assert upstream.url == f"http://127.0.0.1:{upstream.port}"
    assert upstream.requests() == 4
    assert upstream.side_effects() == 2
    assert upstream.side_effects("/v1/charges") == 2


def test_configured_answers_exact_path_first(make_upstream: Any) -> None:
    upstream = make_upstream(
        UpstreamResponse(path="/a", method="POST", status=201, body={"made": True}),
        UpstreamResponse(path="/a", status=202, headers={"X-Test": "1"}),
        UpstreamResponse(path="*", method="GET", status=404, body={"error": "nope"}),
        UpstreamResponse(path="/health", status=503, body={"status": "down"}),
    )
    with httpx.Client(base_url=upstream.url, timeout=IO_TIMEOUT_S, trust_env=False) as client:
        created = client.post("/a")
        assert (created.status_code, created.json()) == (201, {"made": True})
        put = client.put("/a")
        assert put.status_code == 202
        assert put.headers["x-test"] == "1"
        assert put.json()["id"] == "pay_2"  # no configured body: the default one
        missing = client.get("/elsewhere")
        assert (missing.status_code, missing.json()) == (404, {"error": "nope"})
        assert client.post("/elsewhere").status_code == 200
        assert client.get("/health").status_code == 503
    assert upstream.side_effects() == 3


def test_bad_configuration_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="JSON"):
        FakeUpstream("pay", [UpstreamResponse(body={1, 2})])
    with pytest.raises(ValueError, match="status"):
        FakeUpstream("pay", [UpstreamResponse(status=99)])
    with pytest.raises(ValueError, match="header"):
        FakeUpstream("pay", [UpstreamResponse(headers={"X-Bad": "a\r\nInjected: 1"})])


# -- the wire ---------------------------------------------------------------------------------
def test_keep_alive_serves_several_requests_on_one_connection(upstream: FakeUpstream) -> None:
    with _raw(upstream) as sock, sock.makefile("rb") as stream:
        sock.sendall(_get("/one") + _get("/two"))  # pipelined
        answers = [_read_response(stream), _read_response(stream)]
        head = b"HEAD /three HTTP/1.1\r\nHost: upstream\r\n\r\n"
        sock.sendall(head)
        head_status, head_headers = stream.readline(), {}
        while (line := stream.readline()) != b"\r\n":  # HEAD: headers only, no body follows
            name, _, value = line.decode().partition(":")
            head_headers[name.lower()] = value.strip()
        sock.sendall(_get("/four", "Connection: close"))
        last = _read_response(stream)
        assert stream.read() == b""  # closed after the Connection: close answer
    assert [json.loads(body)["path"] for _, _, body in answers] == ["/one", "/two"]
    assert all(headers["connection"] == "keep-alive" for _, headers, _ in answers)
    assert head_status.startswith(b"HTTP/1.1 200") and int(head_headers["content-length"]) > 0
    assert last[0] == 200 and last[1]["connection"] == "close"
    assert upstream.requests() == 4


def test_http_1_0_closes_by_default(upstream: FakeUpstream) -> None:
    status, headers, _, rest = _exchange(upstream, _get("/old", version="1.0"))
    assert (status, headers["connection"], rest) == (200, "close", b"")


def test_chunked_body(upstream: FakeUpstream) -> None:
    body = (
        b"POST /upload HTTP/1.1\r\nHost: upstream\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"6\r\n world\r\n"
        b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    with _raw(upstream) as sock, sock.makefile("rb") as stream:
        sock.sendall(body + _get("/after"))
        assert _read_response(stream)[0] == 200
        assert json.loads(_read_response(stream)[2])["path"] == "/after"
    upload = upstream.recorder.log()[0]
    assert (upload.method, upload.path, upload.body_size) == ("POST", "/upload", 11)


def test_chunked_body_from_httpx(upstream: FakeUpstream, client: httpx.Client) -> None:
    response = client.post("/stream", content=iter([b"a" * 1000, b"b" * 2345]))
    assert response.status_code == 200
    assert upstream.recorder.log()[-1].body_size == 3345


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"garbage\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS hello
        (b"GET / HTTP/9.9\r\n\r\n", 400),
        (b"GET noslash HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n folded: header\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nx", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: aaaaaaaaaaaaaaaa\r\n" * 3000 + b"\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2000000\r\n", 413),
    ],
)
def test_malformed_requests_are_refused_and_the_server_keeps_serving(
    upstream: FakeUpstream, client: httpx.Client, request_bytes: bytes, status: int
) -> None:
    answered, headers, body, rest = _exchange(upstream, request_bytes)
    assert answered == status
    assert headers["connection"] == "close"
    assert "error" in json.loads(body)
    assert rest == b""
    assert client.get("/health").status_code == 200
    assert upstream.side_effects() == 0


def test_peers_that_vanish_mid_request_do_not_hurt(
    upstream: FakeUpstream, client: httpx.Client
) -> None:
    for partial in (
        b"GET /x HT",
        b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    ):
        with _raw(upstream) as sock:
            sock.sendall(partial)
    with _raw(upstream) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")  # then RST
    assert client.get("/health").status_code == 200
    assert upstream.requests("/x") == 0


# -- recording --------------------------------------------------------------------------------
def test_counts_per_path_and_idempotency_key(upstream: FakeUpstream, client: httpx.Client) -> None:
    client.post("/a", headers={"Idempotency-Key": "k1", "Authorization": "Bearer secret"})
    client.post("/a", headers={"Idempotency-Key": "k1"})
    client.post("/b", headers={"Idempotency-Key": "k1"})
    client.post("/b", headers={"Idempotency-Key": "k2"})
    client.get("/a")
    recorder = upstream.recorder
    assert (recorder.requests(), recorder.requests("/a"), recorder.requests("/b")) == (5, 3, 2)
    assert recorder.requests_for_key("k1") == 3
    assert recorder.requests_for_key("k1", path="/a") == 2
    assert recorder.requests_for_key("k2", path="/a") == 0
    log = recorder.log()
    assert [(entry.method, entry.path, entry.idempotency_key) for entry in log] == [
        ("POST", "/a", "k1"),
        ("POST", "/a", "k1"),
        ("POST", "/b", "k1"),
        ("POST", "/b", "k2"),
        ("GET", "/a", None),
    ]
    assert log[0].headers["authorization"] == "Bearer secret"
    snapshot = upstream.snapshot()
    text = json.dumps(snapshot)
    assert "secret" not in text  # credentials are masked in evidence
    assert snapshot["name"] == "pay"
    assert snapshot["requests"] == 5 and snapshot["side_effects"] == 3
    assert snapshot["by_path"]["/a"] == {
        "requests": 3,
        "side_effects": 1,
        "replays": 1,
        "failures": 0,
    }
    assert snapshot["repeated_keys"] == [{"path": "/a", "key": "k1", "requests": 2}]
    upstream.reset()
    assert (recorder.requests(), recorder.side_effects(), recorder.log()) == (0, 0, [])


def test_log_keeps_the_last_requests_only(upstream: FakeUpstream) -> None:
    burst = b"".join(_get(f"/n/{index}") for index in range(LOG_SIZE + 4))
    with _raw(upstream) as sock, sock.makefile("rb") as stream:
        sock.sendall(burst + _get("/last", "Connection: close"))
        answers = 0
        while stream.peek(1):
            _read_response(stream)
            answers += 1
    assert answers == LOG_SIZE + 5
    log = upstream.recorder.log()
    assert len(log) == LOG_SIZE
    assert log[-1].path == "/last"
    assert upstream.requests() == LOG_SIZE + 5


# -- idempotency ------------------------------------------------------------------------------
def test_replays_are_not_side_effects(upstream: FakeUpstream, client: httpx.Client) -> None:
    key = {"Idempotency-Key": "order-1"}
    first = client.post("/charges", headers=key)
    again = client.post("/charges", headers=key)
    assert first.json() == again.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert upstream.side_effects() == 1
    assert upstream.recorder.replays() == 1
    # The key is scoped to (method, path), as at Stripe.
    assert client.post("/refunds", headers=key).json()["id"] != first.json()["id"]
    assert client.put("/charges", headers=key).json()["id"] != first.json()["id"]
    assert upstream.side_effects() == 3
    # Without a key every request is a new side effect; reads never are.
    client.post("/charges")
    client.post("/charges")
    client.get("/charges", headers=key)
    client.get("/charges", headers=key)
    assert upstream.side_effects() == 5
    assert upstream.side_effects("/charges") == 4


def test_concurrent_replays_make_one_side_effect(
    loop: BackgroundLoop, upstream: FakeUpstream
) -> None:
    loop.call(upstream.set_delay, 0.2)  # so that all ten are in flight together
    barrier = threading.Barrier(10, timeout=IO_TIMEOUT_S)
    results: list[tuple[int, Any]] = []

    def retry() -> None:
        with httpx.Client(base_url=upstream.url, timeout=IO_TIMEOUT_S, trust_env=False) as http:
            barrier.wait()
            response = http.post("/charges", headers={"Idempotency-Key": "same"}, json={"a": 1})
            results.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=retry) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(IO_TIMEOUT_S)
    assert len(results) == 10
    assert set(results) == {(200, "pay_1")}
    assert upstream.side_effects() == 1
    assert upstream.recorder.requests_for_key("same", path="/charges") == 10


# -- upstream faults --------------------------------------------------------------------------
def test_failure_is_recorded_but_not_a_side_effect(
    loop: BackgroundLoop, upstream: FakeUpstream, client: httpx.Client
) -> None:
    loop.call(upstream.set_failure, 503)
    key = {"Idempotency-Key": "retry-me"}
    failed = client.post("/charges", headers=key)
    assert failed.status_code == 503
    assert failed.json()["error"]["status"] == 503
    assert client.get("/health").status_code == 503
    assert (upstream.requests(), upstream.side_effects(), upstream.recorder.failures()) == (2, 0, 2)
    loop.call(upstream.set_failure, None)
    retried = client.post("/charges", headers=key)  # a failure is not cached for replay
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    assert upstream.side_effects() == 1


def test_failure_per_path_and_toxicity(loop: BackgroundLoop, make_upstream: Any) -> None:
    upstream = make_upstream(seed=11)
    with httpx.Client(base_url=upstream.url, timeout=IO_TIMEOUT_S, trust_env=False) as http:
        loop.call(upstream.set_failure, 502, 1.0, "/a")
        assert (http.get("/a").status_code, http.get("/b").status_code) == (502, 200)
        loop.call(upstream.set_failure, None, 1.0, "/a")
        loop.call(upstream.set_failure, 500, 0.0)
        assert {http.get("/a").status_code for _ in range(10)} == {200}
        loop.call(upstream.set_failure, 500, 0.5)
        assert {http.get("/a").status_code for _ in range(30)} == {200, 500}


def test_fault_settings_are_validated(loop: BackgroundLoop, upstream: FakeUpstream) -> None:
    with pytest.raises(ValueError, match="status"):
        loop.call(upstream.set_failure, 200)
    with pytest.raises(ValueError, match="toxicity"):
        loop.call(upstream.set_failure, 503, 1.5)
    with pytest.raises(ValueError, match="delay"):
        loop.call(upstream.set_delay, -1.0)


def test_delay_answers_late_after_the_side_effect(
    loop: BackgroundLoop, upstream: FakeUpstream
) -> None:
    loop.call(upstream.set_delay, 0.3)
    elapsed: list[float] = []

    def charge() -> None:
        started = time.monotonic()
        httpx.post(f"{upstream.url}/charges", timeout=IO_TIMEOUT_S, trust_env=False)
        elapsed.append(time.monotonic() - started)

    thread = threading.Thread(target=charge)
    thread.start()
    deadline = time.monotonic() + 0.25
    while upstream.side_effects() == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert upstream.side_effects() == 1  # charged ...
    assert not elapsed  # ... but not answered yet
    thread.join(IO_TIMEOUT_S)
    assert len(elapsed) == 1 and 0.28 <= elapsed[0] < 3.0
    loop.call(upstream.set_delay, 0.0)
    started = time.monotonic()
    httpx.get(f"{upstream.url}/fast", timeout=IO_TIMEOUT_S, trust_env=False)
    assert time.monotonic() - started < 0.25


def test_stop_closes_live_connections(loop: BackgroundLoop, make_upstream: Any) -> None:
    upstream = make_upstream()
    port = upstream.port
    with _raw(upstream) as sock, sock.makefile("rb") as stream:
        sock.sendall(_get("/alive"))
        assert _read_response(stream)[0] == 200
        loop.run(upstream.stop())
        assert stream.read() == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
