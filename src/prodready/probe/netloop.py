"""An asyncio event loop on a daemon thread, driven from synchronous probe code.

The probe's checks are synchronous (httpx sync clients, thread pools), while the fake upstreams
and fault proxies are asyncio servers that must keep serving while a check blocks. One loop on
its own thread hosts all of them; the checks reach into it only through :meth:`run` and
:meth:`call`, so the network components never need locks for their own state.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar, TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_START_TIMEOUT_S = 5.0
_CANCEL_TIMEOUT_S = 2.0
_JOIN_TIMEOUT_S = 5.0


class BackgroundLoop:
    def __init__(self, name: str = "prodready-netloop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._closed:
            raise RuntimeError("the background loop is not running")
        return self._loop

    def start(self) -> BackgroundLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("a closed background loop cannot be restarted")
            if self._thread is not None:
                return self
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._main, args=(loop, ready), name=self._name, daemon=True
            )
            thread.start()
            if not ready.wait(_START_TIMEOUT_S):
                raise RuntimeError("the background event loop did not start")
            self._loop, self._thread = loop, thread
        return self

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            # Servers and connections still open get their cancellation (and their cleanup)
            # here, on the loop's own thread, before the loop is closed under them.
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=_CANCEL_TIMEOUT_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the loop and wait for it; a hung coroutine is cancelled, not leaked."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("BackgroundLoop.run() from the loop thread would deadlock")
        try:
            loop = self.loop
        except RuntimeError:
            coro.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"the background loop did not finish within {timeout} s") from None

    def call(self, fn: Callable[[Unpack[Ts]], T], *args: *Ts, timeout: float = 10.0) -> T:
        """Run a plain callable on the loop thread, where the network components' state lives."""
        if self.in_loop_thread():
            return fn(*args)

        async def invoke() -> T:
            return fn(*args)

        return self.run(invoke(), timeout)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread is threading.current_thread():
            loop.stop()  # the thread finishes its cleanup once this callback returns
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            return  # the loop is already closed: its thread has finished
        thread.join(_JOIN_TIMEOUT_S)

    def __enter__(self) -> BackgroundLoop:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
