"""One HTTP client for every outbound call of ``prodready deps`` (the package index and the
advisory sources): a connect/read timeout per attempt, a wall-clock deadline for the whole
call, a cap on the body size, and bounded retries with backoff and jitter.

The socket timeout alone bounds only each read: a server that answers one byte per second
never trips it and would hold the scan forever. So every connection is armed with a watchdog
that shuts its socket down when the deadline passes, whatever phase the exchange is in
(connecting through a proxy, TLS, status line, headers, body).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 30.0  # a Retry-After beyond this is not waited for
TOO_LARGE = "answer larger than the size limit"
DEADLINE = "timed out: no complete answer before the deadline"
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    status: int | None  # None: no answer (timeout, connection error, deadline passed)
    body: bytes = b""
    content_type: str = ""
    error: str | None = None  # set with status None, an HTTP error status, or TOO_LARGE
    retry_after: float | None = None


class _Watchdog:
    """Shuts a connection's socket down at the deadline, unblocking any read in progress."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            late = self.fired
        if late:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for TLS sockets: no TLS close-notify exchange with a
    # server that is not answering anyway.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTP(http.client.HTTPConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        assert self.sock is not None
        self._watchdog.watch(self.sock)


class _WatchedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()  # the TLS handshake is bounded by the socket timeout per read
        assert self.sock is not None
        self._watchdog.watch(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = functools.partial(_WatchedHTTP, watchdog=self._watchdog)
        return self.do_open(factory, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = functools.partial(_WatchedHTTPS, watchdog=self._watchdog)
        return self.do_open(factory, req)


def fetch_once(
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    deadline: float,
    max_bytes: int,
    data: bytes | None = None,
) -> Response:
    """One request. ``timeout_s`` bounds connecting and each read, ``deadline`` (a
    ``time.monotonic()`` value) the whole exchange; a body over ``max_bytes`` (also once
    gunzipped) is not kept (``TOO_LARGE``). Never raises for network or server trouble."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Response(None, error="out of time")
    timeout = max(0.05, min(timeout_s, remaining))
    watchdog = _Watchdog(deadline)
    # ProxyHandler (from the environment) and redirects come with build_opener; no file:.
    opener = urllib.request.build_opener(_HTTPHandler(watchdog), _HTTPSHandler(watchdog))
    request = urllib.request.Request(url, data=data, headers=dict(headers))  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as reply:
            encoding = reply.headers.get("Content-Encoding", "").lower()
            content_type = reply.headers.get("Content-Type", "").lower()
            status = reply.status
            body = _read_body(reply, max_bytes, lambda: watchdog.fired)
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        exc.close()
        return Response(exc.code, error=f"HTTP {exc.code}", retry_after=retry_after)
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        # URLError is an OSError; ValueError: a malformed URL or response.
        if watchdog.fired or time.monotonic() >= deadline:
            return Response(None, error=DEADLINE)
        return Response(None, error=describe(exc, timeout))
    finally:
        watchdog.cancel()
    if body is None:
        return Response(status, b"", content_type, TOO_LARGE)
    if encoding == "gzip":
        try:
            body = gunzip(body, max_bytes)
        except zlib.error as exc:
            return Response(None, error=f"bad gzip body: {exc}")
        if body is None:
            return Response(status, b"", content_type, TOO_LARGE)
    return Response(status, body, content_type)


def fetch(
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    deadline: float,
    max_bytes: int,
    attempts: int,
    backoff_s: float,
    attempt_s: float | None = None,
    data: bytes | None = None,
    rng: random.Random | None = None,
    on_attempt: Callable[[], None] | None = None,
) -> Response:
    """``fetch_once`` with retries of timeouts, connection errors, 429 and 5xx: ``attempts``
    in all, exponential backoff with full jitter (a Retry-After is honoured up to a cap), never
    past ``deadline``; ``attempt_s`` limits each attempt's wall-clock time too. The last answer
    is returned."""
    jitter = rng or random.Random()  # noqa: S311 - jitter, not secrets
    response = Response(None, error="no attempt made")
    for attempt in range(max(1, attempts)):
        if time.monotonic() >= deadline:
            return response if attempt else Response(None, error="out of time")
        if on_attempt is not None:
            on_attempt()
        limit = deadline if attempt_s is None else min(deadline, time.monotonic() + attempt_s)
        response = fetch_once(
            url,
            headers=headers,
            timeout_s=timeout_s,
            deadline=limit,
            max_bytes=max_bytes,
            data=data,
        )
        retryable = response.status is None or response.status in RETRYABLE_STATUS
        if not retryable or attempt == attempts - 1:
            return response
        pause = jitter.uniform(0, min(BACKOFF_CAP_S, backoff_s * 2**attempt))
        if response.retry_after is not None:
            pause = max(pause, min(response.retry_after, RETRY_AFTER_CAP_S))
        if time.monotonic() + pause >= deadline:
            return response
        time.sleep(pause)
    return response


def _read_body(reply: Any, max_bytes: int, expired: Callable[[], bool]) -> bytes | None:
    """The body, or None when it is larger than ``max_bytes``. ``read1`` returns what one
    socket read brought (a large ``read`` would wait for all of it); the end of a body cut
    by the watchdog is a timeout, not a short answer."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = reply.read1(_CHUNK)
        if expired():
            raise TimeoutError("the answer took too long to arrive")
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)


def gunzip(body: bytes, max_bytes: int) -> bytes | None:
    """The inflated body; None when it would be larger than ``max_bytes`` (a gzip bomb)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflater.decompress(body, max_bytes + 1)
    return data if len(data) <= max_bytes else None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: backoff decides
    return seconds if seconds >= 0 else None


def describe(exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"timed out after {timeout:g} s"
    text = str(reason) or type(reason).__name__
    return f"connection failed: {text}"
