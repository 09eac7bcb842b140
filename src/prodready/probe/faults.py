"""A fault-injecting TCP proxy with Toxiproxy's toxics, in-process and stdlib-only.

The service under test is given the proxy's address instead of its dependency's, so every fault
is one the service's real client code meets on a real socket: slow bytes, refused connections,
resets, truncation. Names, units and the upstream/downstream vocabulary follow Toxiproxy, so its
documentation describes these toxics too.

All proxy state lives on the event loop's thread: call :meth:`FaultProxy.set_toxics`,
:meth:`FaultProxy.clear` and :meth:`FaultProxy.stats` there (``BackgroundLoop.call``).

Changing toxics affects new connections and new data on live ones: latency, bandwidth, slicer,
limit_data and the ``timeout`` black hole are looked up per chunk; the timers of ``timeout`` and
``reset_peer`` start when the toxic is set; ``down`` acts on the listener and every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

STREAMS = ("upstream", "downstream")  # upstream = client -> server, downstream = server -> client
KIND_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "down": (),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}
_COMMON = ("kind", "stream", "toxicity")
_WHOLE_NUMBERS = frozenset({"average_size", "size_variation", "bytes"})
MAX_TIMEOUT_MS = 60_000.0  # Toxiproxy's "timeout 0 = never close", bounded
_CHUNK = 64 * 1024
_QUEUED_CHUNKS = 64  # per direction, before reading from the sender pauses
_CONNECT_TIMEOUT_S = 5.0
_STOP_TIMEOUT_S = 2.0
_ACCEPT_BACKOFF_S = 0.05
_LINGER_RST = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Toxic:
    """One Toxiproxy toxic; attributes that do not belong to ``kind`` stay 0."""

    kind: str
    stream: str = "downstream"
    toxicity: float = 1.0  # probability, drawn once per connection
    latency: float = 0.0  # ms
    jitter: float = 0.0  # ms
    rate: float = 0.0  # KB/s (1 KB = 1000 bytes, as in Toxiproxy)
    delay: float = 0.0  # ms for slow_close, microseconds for slicer
    timeout: float = 0.0  # ms
    average_size: int = 0  # bytes
    size_variation: int = 0  # bytes
    bytes: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KIND_ATTRIBUTES:
            raise ValueError(
                f"toxic kind {self.kind!r} is not one of: {', '.join(KIND_ATTRIBUTES)}"
            )
        where = f"{self.kind} toxic"
        if self.stream not in STREAMS:
            raise ValueError(f"{where}: 'stream' must be 'upstream' or 'downstream'")
        _number(where, "toxicity", self.toxicity)
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"{where}: 'toxicity' is a probability from 0 to 1")
        allowed = KIND_ATTRIBUTES[self.kind]
        for item in fields(self):
            if item.name in _COMMON:
                continue
            value = getattr(self, item.name)
            _number(where, item.name, value)
            if item.name not in allowed and value:
                raise ValueError(f"{where}: {item.name!r} does not apply (allowed: {allowed})")
        if self.kind == "bandwidth" and self.rate <= 0:
            raise ValueError(f"{where}: 'rate' must be above 0 KB/s")
        if self.kind == "slicer":
            if self.average_size < 1:
                raise ValueError(f"{where}: 'average_size' must be at least 1 byte")
            if self.size_variation > self.average_size:
                raise ValueError(f"{where}: 'size_variation' must not exceed 'average_size'")

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Toxic:
        """A toxic from user configuration, with errors that name the offending key."""
        if not isinstance(data, Mapping):
            raise ValueError(  # noqa: TRY004 - configuration errors are all ValueError
                f"a toxic is a table with a 'kind', not {type(data).__name__}"
            )
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in KIND_ATTRIBUTES:
            raise ValueError(f"toxic: 'kind' must be one of: {', '.join(KIND_ATTRIBUTES)}")
        where = f"{kind} toxic"
        allowed = (*_COMMON, *KIND_ATTRIBUTES[kind])
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in allowed:
                raise ValueError(
                    f"{where}: unknown attribute {key!r} (allowed: {', '.join(allowed[1:])})"
                )
            if key == "stream" and not isinstance(value, str):
                raise ValueError(f"{where}: 'stream' must be 'upstream' or 'downstream'")
            if key not in ("kind", "stream"):
                _number(where, key, value)
                if key in _WHOLE_NUMBERS:
                    if isinstance(value, float) and not value.is_integer():
                        raise ValueError(f"{where}: {key!r} must be a whole number of bytes")
                    value = int(value)
            values[key] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "stream": self.stream}
        if self.toxicity != 1.0:
            data["toxicity"] = self.toxicity
        data.update({name: getattr(self, name) for name in KIND_ATTRIBUTES[self.kind]})
        return data


def _number(where: str, key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(  # noqa: TRY004 - configuration errors are all ValueError
            f"{where}: {key!r} must be a number, not {value!r}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {key!r} must be a finite number >= 0, not {value!r}")


class FaultProxy:
    def __init__(
        self,
        name: str,
        target_host: str,
        target_port: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        *,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self.target = (target_host, target_port)
        self._host = listen_host
        self._port = listen_port
        self._random = random.Random(seed)  # noqa: S311 - fault dice, not secrets
        self._toxics: tuple[Toxic, ...] = ()
        self._started = False
        self._down = False
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._links: set[_Link] = set()
        self._counts = {"accepted": 0, "refused": 0, "upstream": 0, "downstream": 0}

    @property
    def port(self) -> int:
        if not self._started:
            raise RuntimeError(f"fault proxy {self.name} is not started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self.port

    @property
    def toxics(self) -> tuple[Toxic, ...]:
        return self._toxics

    async def start(self) -> None:
        if self._started:
            return
        self._listen()
        self._started = True

    async def stop(self) -> None:
        self._started = False
        accepting = self._accepting
        self._close_listener()
        self._drop_connections()
        pending = [*self._tasks, *([accepting] if accepting is not None else [])]
        if pending:
            await asyncio.wait(pending, timeout=_STOP_TIMEOUT_S)

    def set_toxics(self, toxics: Sequence[Toxic]) -> None:
        """Replace the toxics (loop thread only); see the module docstring for live connections."""
        for toxic in toxics:
            if not isinstance(toxic, Toxic):
                raise TypeError(f"not a Toxic: {toxic!r}")
        self._toxics = tuple(toxic for toxic in toxics if toxic.kind != "down")
        down = any(
            toxic.kind == "down" and self._random.random() < toxic.toxicity for toxic in toxics
        )
        if down and not self._down:
            self._down = True
            self._close_listener()
            self._drop_connections()
        elif not down and self._down:
            self._down = False
            if self._started:
                self._listen()  # the same port: the service's configuration still points here
        for link in self._links:
            link.refresh()

    def clear(self) -> None:
        self.set_toxics(())

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accepted": self._counts["accepted"],
            "active": len(self._links),
            "target_refused": self._counts["refused"],
            "bytes_upstream": self._counts["upstream"],
            "bytes_downstream": self._counts["downstream"],
            "down": self._down,
            "toxics": [toxic.to_dict() for toxic in self._toxics],
        }

    # -- listener ----------------------------------------------------------------------------
    def _listen(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # create_server sets SO_REUSEADDR, so re-listening after `down` gets the same port back.
        sock = socket.create_server((self._host, self._port), family=family, backlog=128)
        sock.setblocking(False)
        self._port = int(sock.getsockname()[1])
        self._listener = sock
        self._accepting = asyncio.get_running_loop().create_task(self._accept(sock))

    def _close_listener(self) -> None:
        task, self._accepting = self._accepting, None
        if task is not None:
            task.cancel()
        sock, self._listener = self._listener, None
        if sock is not None:
            # Unregister before closing, so a new listener reusing the fd is not confused with it.
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()

    def _drop_connections(self) -> None:
        for link in list(self._links):
            link.close()
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:
                if sock.fileno() < 0:
                    return
                await asyncio.sleep(_ACCEPT_BACKOFF_S)  # e.g. out of descriptors: keep listening
                continue
            self._counts["accepted"] += 1
            task = loop.create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        client: asyncio.StreamWriter | None = None
        link: _Link | None = None
        try:
            client_reader, client = await asyncio.open_connection(sock=conn)
            try:
                target_reader, target = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), _CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                self._counts["refused"] += 1
                return  # the dependency is down: the client sees its connection closed at once
            link = _Link(self, client_reader, client, target_reader, target)
            self._links.add(link)
            await link.run()
        finally:
            if link is not None:
                self._links.discard(link)
                link.close()
            elif client is not None:
                client.close()
            else:
                conn.close()

    def _passed(self, stream: str, size: int) -> None:
        self._counts[stream] += size


class _Link:
    """One proxied connection: a pump per direction, each a reader and a paced writer."""

    def __init__(
        self,
        proxy: FaultProxy,
        client_reader: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        target_reader: asyncio.StreamReader,
        target: asyncio.StreamWriter,
    ) -> None:
        self._proxy = proxy
        self._random = proxy._random
        self._loop = asyncio.get_running_loop()
        self._sources = {"upstream": client_reader, "downstream": target_reader}
        self._sinks = {"upstream": target, "downstream": client}
        self._drawn: dict[Toxic, bool] = {}
        self._timers: dict[Toxic, asyncio.TimerHandle] = {}
        self._passed = dict.fromkeys(STREAMS, 0)
        self._pumps: list[asyncio.Task[None]] = []
        self.closed = False

    def _applies(self, toxic: Toxic) -> bool:
        drawn = self._drawn.get(toxic)
        if drawn is None:
            drawn = self._drawn[toxic] = self._random.random() < toxic.toxicity
        return drawn

    def _active(self, stream: str) -> list[Toxic]:
        return [t for t in self._proxy.toxics if t.stream == stream and self._applies(t)]

    def refresh(self) -> None:
        """Arm the timers of newly set timeout/reset_peer toxics; disarm removed ones."""
        armed = {
            toxic
            for toxic in self._proxy.toxics
            if toxic.kind in ("timeout", "reset_peer") and self._applies(toxic)
        }
        for toxic in list(self._timers):
            if toxic not in armed:
                self._timers.pop(toxic).cancel()
        for toxic in armed - self._timers.keys():
            ms = toxic.timeout
            if toxic.kind == "timeout":
                ms = min(ms or MAX_TIMEOUT_MS, MAX_TIMEOUT_MS)
            self._timers[toxic] = self._loop.call_later(ms / 1000, self._expire, toxic)

    def _expire(self, toxic: Toxic) -> None:
        self._timers.pop(toxic, None)
        if toxic.kind == "reset_peer":
            self.reset()
        else:
            self.close()

    async def run(self) -> None:
        self.refresh()
        self._pumps = [self._loop.create_task(self._pump(stream)) for stream in STREAMS]
        await asyncio.wait(self._pumps)

    def close(self) -> None:
        """FIN both ways; data already written is still delivered."""
        if self._finish():
            for sink in self._sinks.values():
                sink.close()

    def reset(self) -> None:
        """RST both ways (SO_LINGER 0), like a peer that crashed or a firewall that cut in."""
        if self._finish():
            for sink in self._sinks.values():
                sock = sink.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                sink.transport.abort()

    def _finish(self) -> bool:
        if self.closed:
            return False
        self.closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for pump in self._pumps:
            if pump is not asyncio.current_task():
                pump.cancel()
        return True

    async def _pump(self, stream: str) -> None:
        """Read as fast as the sender sends; latency is a release time, so chunks keep order."""
        source = self._sources[stream]
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUED_CHUNKS)
        writer = self._loop.create_task(self._deliver(stream, queue))
        release = 0.0
        try:
            while True:
                try:
                    data = await source.read(_CHUNK)
                except OSError:
                    self.reset()  # the sender reset: pass the reset on
                    return
                toxics = self._active(stream)
                if data and any(toxic.kind == "timeout" for toxic in toxics):
                    continue  # a black hole until the timer closes the connection
                delay_ms = sum(
                    max(0.0, toxic.latency + self._random.uniform(-toxic.jitter, toxic.jitter))
                    for toxic in toxics
                    if toxic.kind == "latency"
                )
                release = max(release, self._loop.time() + delay_ms / 1000)
                await queue.put((release, data))
                if not data:
                    break
            await writer
        finally:
            writer.cancel()

    async def _deliver(self, stream: str, queue: asyncio.Queue[tuple[float, bytes]]) -> None:
        sink = self._sinks[stream]
        try:
            while True:
                release, data = await queue.get()
                wait = release - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    await self._half_close(stream, sink)
                    return
                if not await self._send(stream, data, sink):
                    return
        except OSError:
            self.close()  # the receiver is gone; the other direction has no one to serve

    async def _half_close(self, stream: str, sink: asyncio.StreamWriter) -> None:
        slow = [toxic.delay for toxic in self._active(stream) if toxic.kind == "slow_close"]
        if slow:
            await asyncio.sleep(max(slow) / 1000)
        if sink.can_write_eof():
            sink.write_eof()
        else:
            sink.close()

    async def _send(self, stream: str, data: bytes, sink: asyncio.StreamWriter) -> bool:
        """Write one chunk through limit_data, slicer and bandwidth; False once closed."""
        toxics = self._active(stream)
        limits = [toxic.bytes for toxic in toxics if toxic.kind == "limit_data"]
        limit = min(limits) if limits else None
        if limit is not None:
            data = data[: max(0, limit - self._passed[stream])]
        pieces = [data]
        pause_s = 0.0
        slicer = next((toxic for toxic in toxics if toxic.kind == "slicer"), None)
        if slicer is not None:
            pieces = self._slice(data, slicer)
            pause_s = slicer.delay / 1_000_000
        rates = [toxic.rate * 1000 for toxic in toxics if toxic.kind == "bandwidth"]
        rate = min(rates) if rates else 0.0
        if rate:
            step = max(1, int(rate / 10))  # 100 ms worth, as Toxiproxy paces
            pieces = [piece[i : i + step] for piece in pieces for i in range(0, len(piece), step)]
        for piece in pieces:
            if not piece:
                continue
            sink.write(piece)
            await sink.drain()
            self._passed[stream] += len(piece)
            self._proxy._passed(stream, len(piece))
            gap = pause_s + (len(piece) / rate if rate else 0.0)
            if gap:
                await asyncio.sleep(gap)
        if limit is not None and self._passed[stream] >= limit:
            self.close()
            return False
        return True

    def _slice(self, data: bytes, slicer: Toxic) -> list[bytes]:
        pieces = []
        start = 0
        while start < len(data):
            variation = slicer.size_variation
            size = max(1, slicer.average_size + self._random.randint(-variation, variation))
            pieces.append(data[start : start + size])
            start += size
        return pieces
