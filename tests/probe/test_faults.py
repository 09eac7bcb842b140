"""The fault proxy's toxics, on real loopback sockets against a real echo server.

Durations are measured only where the duration is the behaviour (latency, jitter, bandwidth,
slow_close, timeout); their margins are wide so a busy CI machine does not make them flaky.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from prodready.probe.faults import FaultProxy, Toxic
from prodready.probe.netloop import BackgroundLoop

IO_TIMEOUT_S = 5.0


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass  # the proxy reset or dropped us: that is what several tests do on purpose
    finally:
        writer.close()


async def _greet_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"bye")
    await writer.drain()
    writer.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as background:
        yield background


def _serve(loop: BackgroundLoop, handler: Any) -> Iterator[int]:
    server = loop.run(asyncio.start_server(handler, "127.0.0.1", 0))
    yield int(server.sockets[0].getsockname()[1])
    loop.call(server.close)


@pytest.fixture(scope="module")
def echo_port(loop: BackgroundLoop) -> Iterator[int]:
    yield from _serve(loop, _echo)


@pytest.fixture
def make_proxy(loop: BackgroundLoop, echo_port: int) -> Iterator[Any]:
    started: list[FaultProxy] = []

    def make(*toxics: Toxic, port: int | None = None, seed: int = 7) -> FaultProxy:
        proxy = FaultProxy("dep", "127.0.0.1", port or echo_port, seed=seed)
        loop.run(proxy.start())
        started.append(proxy)
        if toxics:
            loop.call(proxy.set_toxics, list(toxics))
        return proxy

    yield make
    for proxy in started:
        loop.run(proxy.stop())


def _connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=IO_TIMEOUT_S)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    deadline = time.monotonic() + IO_TIMEOUT_S
    while received < size and time.monotonic() < deadline:
        chunk = sock.recv(size - received)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _recv_all(sock: socket.socket) -> tuple[bytes, int]:
    """Everything until EOF, and how many recv() calls delivered data."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + IO_TIMEOUT_S
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), len(chunks)


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True  # a reset is a closed connection too


def _round_trip(sock: socket.socket, payload: bytes) -> float:
    started = time.monotonic()
    sock.sendall(payload)
    assert _recv_exactly(sock, len(payload)) == payload
    return time.monotonic() - started


# -- forwarding -------------------------------------------------------------------------------
def test_forwards_a_large_payload_byte_for_byte(loop: BackgroundLoop, make_proxy: Any) -> None:
    proxy = make_proxy()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    with _connect(proxy) as sock:
        # Send from a thread: the echo comes back while we are still sending.
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = _recv_exactly(sock, len(payload))
        sender.join(IO_TIMEOUT_S)
    assert received == payload
    stats = loop.call(proxy.stats)
    assert stats["accepted"] == 1
    assert stats["bytes_upstream"] == stats["bytes_downstream"] == len(payload)


def test_refused_target_closes_the_client_promptly(loop: BackgroundLoop, make_proxy: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # bound but not listening: connections are refused
        proxy = make_proxy(port=closed_port)
        with _connect(proxy) as sock:
            started = time.monotonic()
            try:
                data = sock.recv(10)
            except ConnectionResetError:
                data = b""
            assert data == b""
            assert time.monotonic() - started < 1.0
    assert loop.call(proxy.stats)["target_refused"] == 1


def test_stop_closes_listener_and_live_connections(loop: BackgroundLoop, make_proxy: Any) -> None:
    proxy = make_proxy()
    address = proxy.address
    with _connect(proxy) as sock:
        _round_trip(sock, b"hello")
        loop.run(proxy.stop())
        assert _closed(sock)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=IO_TIMEOUT_S)


# -- latency ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_is_added_within_tolerance(make_proxy: Any, stream: str) -> None:
    proxy = make_proxy(Toxic("latency", stream=stream, latency=200))
    with _connect(proxy) as sock:
        elapsed = _round_trip(sock, b"ping")
    assert 0.19 <= elapsed < 1.5


def test_jitter_stays_within_its_bounds(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("latency", latency=100, jitter=50))
    with _connect(proxy) as sock:
        samples = [_round_trip(sock, b"x") for _ in range(5)]
    assert all(0.045 <= sample < 0.8 for sample in samples), samples
    assert max(samples) - min(samples) > 0.002, samples  # jitter varies the delay


def test_new_toxics_apply_to_a_live_connection(loop: BackgroundLoop, make_proxy: Any) -> None:
    proxy = make_proxy()
    with _connect(proxy) as sock:
        assert _round_trip(sock, b"fast") < 0.15
        loop.call(proxy.set_toxics, [Toxic("latency", latency=200)])
        assert _round_trip(sock, b"slow") >= 0.19
        loop.call(proxy.clear)
        assert _round_trip(sock, b"fast") < 0.15


# -- down -------------------------------------------------------------------------------------
def test_down_refuses_and_clear_relistens_on_the_same_port(
    loop: BackgroundLoop, make_proxy: Any
) -> None:
    proxy = make_proxy()
    port = proxy.port
    with _connect(proxy) as live:
        _round_trip(live, b"before")
        loop.call(proxy.set_toxics, [Toxic("down")])
        assert _closed(live)  # the live connection is dropped
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    assert loop.call(proxy.stats)["down"] is True
    loop.call(proxy.clear)
    assert proxy.port == port
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
        _round_trip(sock, b"after")


# -- connection-ending toxics -----------------------------------------------------------------
def test_reset_peer_gives_connection_reset(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("reset_peer", timeout=100))
    with _connect(proxy) as sock:
        _round_trip(sock, b"still fine")  # before the timeout, data flows
        started = time.monotonic()
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        assert 0.05 <= time.monotonic() - started < 2.0


def test_timeout_swallows_data_then_closes(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("timeout", stream="upstream", timeout=300))
    with _connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(b"into the void")
        data, _ = _recv_all(sock)
        elapsed = time.monotonic() - started
    assert data == b""
    assert 0.25 <= elapsed < 2.0


def test_limit_data_truncates_then_closes(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("limit_data", bytes=1000))
    with _connect(proxy) as sock:
        sock.sendall(b"x" * 5000)
        data, _ = _recv_all(sock)
    assert data == b"x" * 1000


def test_slow_close_delays_the_close(loop: BackgroundLoop, make_proxy: Any) -> None:
    server = _serve(loop, _greet_and_close)
    port = next(server)
    try:
        proxy = make_proxy(Toxic("slow_close", delay=300), port=port)
        with _connect(proxy) as sock:
            started = time.monotonic()
            data, _ = _recv_all(sock)
            elapsed = time.monotonic() - started
    finally:
        next(server, None)
    assert data == b"bye"
    assert 0.28 <= elapsed < 2.0


# -- shaping ----------------------------------------------------------------------------------
def test_slicer_delivers_everything_in_pieces(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("slicer", average_size=100, size_variation=20, delay=2000))
    payload = os.urandom(2000)
    with _connect(proxy) as sock:
        sock.sendall(payload)
        chunks: list[bytes] = []
        while sum(map(len, chunks)) < len(payload):
            chunk = sock.recv(65536)
            assert chunk
            chunks.append(chunk)
    assert b"".join(chunks) == payload
    assert len(chunks) >= 5
    assert max(map(len, chunks)) < 1000


def test_bandwidth_paces_the_transfer(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("bandwidth", rate=100))  # 100 KB/s
    payload = os.urandom(100_000)
    with _connect(proxy) as sock:
        elapsed = _round_trip(sock, payload)
    assert 0.85 <= elapsed < 3.0


# -- toxicity ---------------------------------------------------------------------------------
def _is_reset(proxy: FaultProxy) -> bool:
    # An immediate RST can even surface from connect(): with a timeout set it polls SO_ERROR.
    try:
        with _connect(proxy) as sock:
            sock.sendall(b"hi")
            return _recv_exactly(sock, 2) != b"hi"
    except (ConnectionResetError, BrokenPipeError):
        return True


@pytest.mark.parametrize(("toxicity", "expected"), [(0.0, {False}), (1.0, {True})])
def test_toxicity_zero_never_one_always(
    make_proxy: Any, toxicity: float, expected: set[bool]
) -> None:
    proxy = make_proxy(Toxic("reset_peer", toxicity=toxicity))
    assert {_is_reset(proxy) for _ in range(8)} == expected


def test_partial_toxicity_is_drawn_per_connection(make_proxy: Any) -> None:
    proxy = make_proxy(Toxic("reset_peer", toxicity=0.5), seed=1)
    assert {_is_reset(proxy) for _ in range(30)} == {True, False}


# -- configuration ----------------------------------------------------------------------------
def test_parse_accepts_toxiproxy_attributes() -> None:
    toxic = Toxic.parse({"kind": "latency", "latency": 150, "jitter": 10, "stream": "upstream"})
    assert toxic == Toxic("latency", stream="upstream", latency=150, jitter=10)
    assert Toxic.parse({"kind": "limit_data", "bytes": 10.0}).bytes == 10
    assert Toxic.parse({"kind": "down"}).to_dict() == {"kind": "down", "stream": "downstream"}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"latency": 100}, "'kind'"),
        ({"kind": "lag"}, "'kind'"),
        ({"kind": "latency", "rate": 5}, "'rate'"),
        ({"kind": "latency", "stream": "sideways"}, "'stream'"),
        ({"kind": "latency", "toxicity": 1.5}, "'toxicity'"),
        ({"kind": "latency", "latency": -1}, "'latency'"),
        ({"kind": "latency", "latency": "100ms"}, "'latency'"),
        ({"kind": "timeout", "timeout": True}, "'timeout'"),
        ({"kind": "latency", "jitter": float("nan")}, "'jitter'"),
        ({"kind": "limit_data", "bytes": 1.5}, "'bytes'"),
        ({"kind": "bandwidth", "rate": 0}, "'rate'"),
        ({"kind": "slicer", "average_size": 0}, "'average_size'"),
        ({"kind": "slicer", "average_size": 10, "size_variation": 20}, "'size_variation'"),
        (["latency"], "table"),
    ],
)
def test_parse_rejects_bad_toxics_naming_the_key(data: Any, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Toxic.parse(data)


def test_set_toxics_rejects_non_toxics(loop: BackgroundLoop, make_proxy: Any) -> None:
    proxy = make_proxy()
    with pytest.raises(TypeError):
        loop.call(proxy.set_toxics, [{"kind": "latency"}])


# -- the background loop ----------------------------------------------------------------------
def test_background_loop_runs_calls_and_times_out() -> None:
    background = BackgroundLoop()
    with background:
        assert background.run(asyncio.sleep(0, result=42)) == 42
        assert background.call(lambda a, b: a + b, 2, 3) == 5
        assert background.call(threading.current_thread) is not threading.current_thread()
        with pytest.raises(TimeoutError):
            background.run(asyncio.sleep(5), timeout=0.05)
        with pytest.raises(ZeroDivisionError):
            background.call(lambda: 1 / 0)
    background.close()  # idempotent
    with pytest.raises(RuntimeError):
        background.call(lambda: None)
