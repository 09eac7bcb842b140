"""A recording fake HTTP/1.1 upstream: the payment gateway or API the service under test calls.

It is a real server on a real socket (behind the fault proxy), so the service's own HTTP client,
pooling and timeouts are exercised unchanged. It answers like a well-behaved gateway - including
Stripe's Idempotency-Key replays - and records every request, so the probe can count side effects
instead of trusting what the service says it did.

The server state (answers, replay cache, faults) lives on the event loop's thread and is changed
only there; the :class:`Recorder` is the one part read from other threads, behind a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEALTH_PATH = "/health"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
LOG_SIZE = 1000
_REPLAY_CACHE_SIZE = 10_000  # keys remembered; a load run must not grow memory without bound
_IDLE_TIMEOUT_S = 60.0  # a keep-alive connection with no new request
_READ_TIMEOUT_S = 30.0  # the rest of a request once its first line arrived
_MAX_DELAY_S = 300.0
_LINGER_S = 1.0  # after an error answer, how long unread input is drained before closing
_LINGER_BYTES = 1024 * 1024
_STOP_TIMEOUT_S = 2.0
_SNAPSHOT_PATHS = 50
_SNAPSHOT_KEYS = 20
_SNAPSHOT_RECENT = 10
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
_NO_BODY_STATUSES = frozenset({204, 304})
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(1\.[01])")
_DIGITS = re.compile(r"[0-9]{1,20}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")


@dataclass(frozen=True)
class UpstreamResponse:
    """A configured answer: exact path before ``*``, exact method before ``*``."""

    path: str = "*"
    method: str = "*"
    status: int = 200
    body: Any = None  # JSON-serialisable; None = the default body with a generated id
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body_size: int
    idempotency_key: str | None
    time: float  # epoch seconds

    def to_dict(self) -> dict[str, Any]:
        """Evidence ends up in reports: credentials the service forwarded are masked."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": {
                name: "***" if name in _SECRET_HEADERS else value
                for name, value in self.headers.items()
            },
            "body_size": self.body_size,
            "idempotency_key": self.idempotency_key,
            "time": round(self.time, 3),
        }


class Recorder:
    """What the upstream saw: written on the loop thread, read from the probe's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._by_path: Counter[str] = Counter()
        self._by_key: Counter[tuple[str, str]] = Counter()
        self._effects: Counter[str] = Counter()
        self._replays: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._log: deque[RecordedRequest] = deque(maxlen=LOG_SIZE)

    def add(
        self, request: RecordedRequest, *, side_effect: bool, replay: bool, failed: bool
    ) -> None:
        with self._lock:
            self._total += 1
            self._by_path[request.path] += 1
            if request.idempotency_key is not None:
                self._by_key[request.path, request.idempotency_key] += 1
            if side_effect:
                self._effects[request.path] += 1
            if replay:
                self._replays[request.path] += 1
            if failed:
                self._failures[request.path] += 1
            self._log.append(request)

    @staticmethod
    def _count(counter: Counter[str], path: str | None) -> int:
        return counter[path] if path is not None else sum(counter.values())

    def requests(self, path: str | None = None) -> int:
        with self._lock:
            return self._total if path is None else self._by_path[path]

    def requests_for_key(self, key: str, path: str | None = None) -> int:
        with self._lock:
            return sum(
                count
                for (seen_path, seen_key), count in self._by_key.items()
                if seen_key == key and (path is None or seen_path == path)
            )

    def side_effects(self, path: str | None = None) -> int:
        with self._lock:
            return self._count(self._effects, path)

    def replays(self, path: str | None = None) -> int:
        with self._lock:
            return self._count(self._replays, path)

    def failures(self, path: str | None = None) -> int:
        with self._lock:
            return self._count(self._failures, path)

    def log(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            paths = self._by_path.most_common(_SNAPSHOT_PATHS)
            repeated = [
                {"path": path, "key": key, "requests": count}
                for (path, key), count in self._by_key.most_common(_SNAPSHOT_KEYS)
                if count > 1
            ]
            return {
                "requests": self._total,
                "side_effects": sum(self._effects.values()),
                "replays": sum(self._replays.values()),
                "failures": sum(self._failures.values()),
                "by_path": {
                    path: {
                        "requests": count,
                        "side_effects": self._effects[path],
                        "replays": self._replays[path],
                        "failures": self._failures[path],
                    }
                    for path, count in paths
                },
                "idempotency_keys": len(self._by_key),
                "repeated_keys": repeated,
                "recent": [request.to_dict() for request in list(self._log)[-_SNAPSHOT_RECENT:]],
            }

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            for counter in (self._by_path, self._effects, self._replays, self._failures):
                counter.clear()
            self._by_key.clear()
            self._log.clear()


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def replayed(self) -> _Answer:
        return _Answer(self.status, self.body, (*self.headers, ("Idempotent-Replayed", "true")))


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(body).encode(), tuple((headers or {}).items()))


def _error(status: int, message: str) -> _Answer:
    return _json(status, {"error": {"status": status, "message": message}})


async def _readline(reader: asyncio.StreamReader, too_long: int) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise _BadRequest(too_long, "line too long") from None


class FakeUpstream:
    def __init__(
        self,
        name: str,
        responses: Sequence[UpstreamResponse] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self.recorder = Recorder()
        self._host = host
        self._port = port
        self._configured = [self._prepare(response) for response in responses]
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._replay_cache: OrderedDict[tuple[str, str, str], _Answer] = OrderedDict()
        self._sequence = 0
        self._failures: dict[str, tuple[int, float]] = {}
        self._delay_s = 0.0
        self._random = random.Random(seed)  # noqa: S311 - fault dice, not secrets

    @staticmethod
    def _prepare(response: UpstreamResponse) -> tuple[UpstreamResponse, bytes | None]:
        """Bad configuration fails here, at start-up, not as a crash on the first request."""
        if not 200 <= response.status <= 599:
            raise ValueError(f"upstream response for {response.path}: bad status {response.status}")
        for header, value in response.headers.items():
            if not _TOKEN.fullmatch(header) or "\r" in value or "\n" in value:
                raise ValueError(f"upstream response for {response.path}: bad header {header!r}")
        if response.body is None:
            return response, None
        try:
            return response, json.dumps(response.body).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"upstream response for {response.path}: body is not JSON-serialisable ({exc})"
            ) from exc

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"upstream {self.name} is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEADER_BYTES
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=_STOP_TIMEOUT_S)
        # The listener is closed either way; a straggling connection dies with the loop.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), _STOP_TIMEOUT_S)

    # -- faults (loop thread) ----------------------------------------------------------------
    def set_failure(self, status: int | None, toxicity: float = 1.0, path: str = "*") -> None:
        """Answer ``status`` with probability ``toxicity``; None clears (``*``: all paths)."""
        if status is None:
            if path == "*":
                self._failures.clear()
            else:
                self._failures.pop(path, None)
            return
        if not 400 <= status <= 599:
            raise ValueError(f"an injected failure is a 4xx/5xx status, not {status}")
        if not 0.0 <= toxicity <= 1.0:
            raise ValueError(f"toxicity is a probability between 0 and 1, not {toxicity}")
        self._failures[path] = (status, toxicity)

    def set_delay(self, seconds: float) -> None:
        if not math.isfinite(seconds) or not 0 <= seconds <= _MAX_DELAY_S:
            raise ValueError(f"an upstream delay is 0..{_MAX_DELAY_S:g} s, not {seconds}")
        self._delay_s = seconds

    # -- recorder shortcuts (any thread) -----------------------------------------------------
    def requests(self, path: str | None = None) -> int:
        return self.recorder.requests(path)

    def side_effects(self, path: str | None = None) -> int:
        return self.recorder.side_effects(path)

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, **self.recorder.snapshot()}

    def reset(self) -> None:
        """Forget what was recorded; the replay cache stays, like the gateway's memory."""
        self.recorder.reset()

    # -- answers -----------------------------------------------------------------------------
    def _match(self, method: str, path: str) -> tuple[UpstreamResponse, bytes | None] | None:
        for wanted in (path, "*"):
            fallback = None
            for response, body in self._configured:
                if response.path != wanted:
                    continue
                if response.method.upper() == method:
                    return response, body
                if response.method == "*" and fallback is None:
                    fallback = (response, body)
            if fallback is not None:
                return fallback
        return None

    def _answer(self, request: _Request) -> _Answer:
        """Decide and record in one synchronous step, so concurrent replays cannot interleave."""
        method, path = request.method, request.path
        key = request.headers.get("idempotency-key") or None
        record = RecordedRequest(
            method, path, dict(request.headers), len(request.body), key, time.time()
        )
        failure = self._failures.get(path) or self._failures.get("*")
        if failure is not None and self._random.random() < failure[1]:
            self.recorder.add(record, side_effect=False, replay=False, failed=True)
            return _error(failure[0], f"injected failure from upstream {self.name}")
        mutating = method in MUTATING
        cache_key = (method, path, key) if mutating and key is not None else None
        if cache_key is not None and (cached := self._replay_cache.get(cache_key)) is not None:
            self._replay_cache.move_to_end(cache_key)
            self.recorder.add(record, side_effect=False, replay=True, failed=False)
            return cached.replayed()
        configured = self._match(method, path)
        if configured is None and path == HEALTH_PATH:
            self.recorder.add(record, side_effect=False, replay=False, failed=False)
            return _json(200, {"status": "ok"})
        status = configured[0].status if configured else 200
        side_effect = mutating and status < 500
        if side_effect:
            self._sequence += 1
        headers = dict(configured[0].headers) if configured else {}
        if configured is not None and configured[1] is not None:
            answer = _Answer(status, configured[1], tuple(headers.items()))
        else:
            body = {"id": f"{self.name}_{self._sequence}", "status": "succeeded", "path": path}
            answer = _json(status, body, headers)
        if cache_key is not None:
            self._replay_cache[cache_key] = answer
            if len(self._replay_cache) > _REPLAY_CACHE_SIZE:
                self._replay_cache.popitem(last=False)
        self.recorder.add(record, side_effect=side_effect, replay=False, failed=False)
        return answer

    # -- HTTP/1.1 ----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            keep_alive = True
            while keep_alive:
                try:
                    request = await self._read_request(reader, writer)
                except _BadRequest as bad:
                    await _write(writer, _error(bad.status, str(bad)), keep_alive=False)
                    await _linger(reader, writer)
                    return
                if request is None:
                    return
                answer = self._answer(request)
                if self._delay_s:
                    # After recording: the side effect happened, only the answer is late.
                    await asyncio.sleep(self._delay_s)
                keep_alive = request.keep_alive
                await _write(writer, answer, keep_alive=keep_alive, head=request.method == "HEAD")
        except (OSError, EOFError, TimeoutError):
            pass  # the peer vanished mid-request or went silent: there is no one to answer
        except asyncio.CancelledError:
            # Only stop() and loop shutdown cancel a connection, and both want it over. Ending
            # quietly matters on 3.11, whose start_server logs a cancelled handler as an error.
            return
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request | None:
        """The next request, or None when the peer closed or idled out between requests."""
        try:
            async with asyncio.timeout(_IDLE_TIMEOUT_S):
                line = await _readline(reader, 414)
                if line in (b"\r\n", b"\n"):  # RFC 9112 2.2: tolerate one stray empty line
                    line = await _readline(reader, 414)
        except (asyncio.IncompleteReadError, TimeoutError):
            return None
        async with asyncio.timeout(_READ_TIMEOUT_S):
            return await self._read_rest(line, reader, writer)

    async def _read_rest(
        self, line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request:
        match = _REQUEST_LINE.fullmatch(line.decode("latin-1").rstrip("\r\n"))
        if match is None:
            raise _BadRequest(400, "malformed request line")
        method, target, version = match.groups()
        headers: dict[str, str] = {}
        total = len(line)
        while True:
            raw = await _readline(reader, 431)
            total += len(raw)
            if total > MAX_HEADER_BYTES:
                raise _BadRequest(431, "request header fields too large")
            text = raw.decode("latin-1").rstrip("\r\n")
            if not text:
                break
            name, colon, value = text.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise _BadRequest(400, "malformed header line")
            name, value = name.lower(), value.strip(" \t")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        path = _path(target)
        tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        keep_alive = "close" not in tokens if version == "1.1" else "keep-alive" in tokens
        body = await _read_body(headers, reader, writer, continue_ok=version == "1.1")
        return _Request(method, path, headers, body, keep_alive)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Discard what the client is still sending before closing: closing with unread input
    makes the kernel send a reset, and the client would see that instead of our 4xx answer."""
    if writer.can_write_eof():
        writer.write_eof()
    discarded = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_LINGER_S):
            while discarded < _LINGER_BYTES and (data := await reader.read(65536)):
                discarded += len(data)


def _path(target: str) -> str:
    if target.startswith("/"):
        return target.split("?", 1)[0].split("#", 1)[0]
    if target == "*":
        return target
    if target.startswith(("http://", "https://")):
        return urlsplit(target).path or "/"
    raise _BadRequest(400, "malformed request target")


async def _read_body(
    headers: Mapping[str, str],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    continue_ok: bool,
) -> bytes:
    encoding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if encoding is not None:
        if length is not None:
            raise _BadRequest(400, "both Content-Length and Transfer-Encoding")
        if encoding.rsplit(",", 1)[-1].strip().lower() != "chunked":
            raise _BadRequest(400, "unsupported transfer coding")
        await _continue(headers, writer, continue_ok)
        return await _read_chunked(reader)
    if length is None:
        return b""
    values = {value.strip() for value in length.split(",")}
    text = values.pop() if len(values) == 1 else ""
    if not _DIGITS.fullmatch(text):
        raise _BadRequest(400, "malformed Content-Length")
    size = int(text)
    if size > MAX_BODY_BYTES:
        raise _BadRequest(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if size:
        await _continue(headers, writer, continue_ok)
    return await reader.readexactly(size)


async def _continue(
    headers: Mapping[str, str], writer: asyncio.StreamWriter, continue_ok: bool
) -> None:
    if continue_ok and headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_text = (await _readline(reader, 400)).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text.decode("latin-1")):
            raise _BadRequest(400, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > MAX_BODY_BYTES:
            raise _BadRequest(413, f"body larger than {MAX_BODY_BYTES} bytes")
        parts.append(await reader.readexactly(size))
        if (await _readline(reader, 400)).rstrip(b"\r\n"):
            raise _BadRequest(400, "chunk data longer than its size")
    trailer = 0
    while (raw := await _readline(reader, 431)) not in (b"\r\n", b"\n"):
        trailer += len(raw)
        if trailer > MAX_HEADER_BYTES:
            raise _BadRequest(431, "trailer fields too large")
    return b"".join(parts)


async def _write(
    writer: asyncio.StreamWriter, answer: _Answer, *, keep_alive: bool, head: bool = False
) -> None:
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = "Unknown"
    # Keyed by lower-cased name: a configured header replaces a default, framing stays ours.
    headers = {"content-type": ("Content-Type", "application/json")}
    for name, value in answer.headers:
        if name.lower() not in _FRAMING_HEADERS:
            headers[name.lower()] = (name, value)
    headers["connection"] = ("Connection", "keep-alive" if keep_alive else "close")
    body = answer.body
    if answer.status in _NO_BODY_STATUSES:
        body = b""
    else:
        headers["content-length"] = ("Content-Length", str(len(body)))
    lines = [f"HTTP/1.1 {answer.status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers.values())
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    writer.write(head_bytes if head else head_bytes + body)
    await writer.drain()
