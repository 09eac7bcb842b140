"""What every check works with: the running service, its dependencies and an HTTP client.

Checks never raise on a network error from the service: :meth:`ProbeContext.send` turns every
answer, timeout or refused connection into an :class:`Outcome`, which is the evidence.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodready.probe.model import ProbeError, RequestSpec
from prodready.probe.sandbox import ServiceProcess
from prodready.probe.settings import DependencySpec, ProbeSettings

if TYPE_CHECKING:
    import httpx

    from prodready.probe.faults import FaultProxy, Toxic
    from prodready.probe.load_generator import LoadStats
    from prodready.probe.netloop import BackgroundLoop
    from prodready.probe.upstream import FakeUpstream


@dataclass
class Outcome:
    """One request's fate: an answer, or the error that stood in for one."""

    method: str
    path: str
    status: int | None
    elapsed_s: float
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    error: str | None = None  # "timeout", "connection refused", "connection reset", ...

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def brief(self) -> str:
        shown = str(self.status) if self.status is not None else (self.error or "no answer")
        return f"{self.method} {self.path} -> {shown} in {self.elapsed_s * 1000:.0f} ms"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "request": f"{self.method} {self.path}",
            "status": self.status,
            "elapsed_ms": round(self.elapsed_s * 1000, 1),
        }
        if self.error:
            data["error"] = self.error
        if self.body and (self.status is None or self.status >= 400):
            data["body"] = self.body[:300]
        return data


@dataclass
class ProxiedDependency:
    """An outbound dependency of the service as the probe stands it up: a recording fake (or a
    real TCP server) behind a fault proxy, at ``url``."""

    spec: DependencySpec
    proxy: FaultProxy
    upstream: FakeUpstream | None  # None for a real TCP dependency
    url: str


@dataclass
class ProbeContext:
    settings: ProbeSettings
    service: ServiceProcess
    base_url: str
    loop: BackgroundLoop
    deps: dict[str, ProxiedDependency]
    client: httpx.Client
    artifacts: Path
    deadline: float
    openapi: dict[str, Any] | None = None
    openapi_source: str | None = None
    candidates: list[RequestSpec] = field(default_factory=list)
    requests_from: str = ""  # where the candidates came from, for the evidence
    # What the probe repeats under load, in a burst and at shutdown (see choose_traffic), where
    # it came from, and why it is empty when it is.
    traffic: list[RequestSpec] = field(default_factory=list)
    traffic_from: str = ""
    no_traffic: str = ""
    dependent: dict[str, list[RequestSpec]] = field(default_factory=dict)
    healthy: list[RequestSpec] = field(default_factory=list)  # candidates that answered 2xx
    liveness: str | None = None
    readiness: str | None = None
    # Per endpoint kind ("liveness", "readiness") found missing: the well-known paths that did
    # answer, but not 200 (a /health that answers 500 exists, and is failing).
    endpoint_answers: dict[str, list[Outcome]] = field(default_factory=dict)
    load_stats: LoadStats | None = None
    memory: dict[str, Any] = field(default_factory=dict)

    # -- time ------------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def bounded(self, seconds: float) -> float:
        """``seconds`` or what is left of the budget, whichever is smaller (never negative)."""
        return max(0.0, min(seconds, self.remaining()))

    # -- requests --------------------------------------------------------------------------
    def send(
        self,
        spec: RequestSpec,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Outcome:
        import httpx

        merged = {**spec.headers, **(headers or {})}
        limit = timeout if timeout is not None else self.settings.request_timeout_s
        started = time.monotonic()
        try:
            response = self.client.request(
                spec.method,
                spec.path,
                json=spec.json if content is None else None,
                content=content,
                headers=merged,
                timeout=httpx.Timeout(limit, connect=min(limit, 3.0)),
            )
        except httpx.TimeoutException:
            return Outcome(
                spec.method, spec.path, None, time.monotonic() - started, error="timeout"
            )
        except httpx.HTTPError as exc:
            return Outcome(
                spec.method, spec.path, None, time.monotonic() - started, error=_describe(exc)
            )
        return Outcome(
            spec.method,
            spec.path,
            response.status_code,
            time.monotonic() - started,
            headers=dict(response.headers),
            body=response.text[:4096],
        )

    def fetch_text(self, path: str, *, timeout: float = 10.0) -> str:
        """The whole body of a GET that must answer 200 (documents, metrics pages)."""
        import httpx

        try:
            response = self.client.get(path, timeout=timeout)
        except httpx.HTTPError as exc:
            raise ProbeError(f"{path}: no answer from the service ({exc})") from exc
        if response.status_code != 200:
            raise ProbeError(f"{path}: the service answered {response.status_code}")
        return response.text

    def get(self, path: str, *, timeout: float | None = None) -> Outcome:
        return self.send(RequestSpec("GET", path), timeout=timeout)

    def send_parallel(
        self,
        specs: Sequence[RequestSpec],
        *,
        headers: Sequence[Mapping[str, str] | None] | None = None,
        timeout: float | None = None,
        workers: int = 32,
    ) -> list[Outcome]:
        """Fire the requests at once from a thread pool; outcomes in the order given."""
        header_list = list(headers) if headers is not None else [None] * len(specs)
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(specs)))) as pool:
            futures = [
                pool.submit(self.send, spec, timeout=timeout, headers=extra)
                for spec, extra in zip(specs, header_list, strict=True)
            ]
            return [future.result() for future in futures]

    # -- dependencies ----------------------------------------------------------------------
    def set_faults(self, name: str, toxics: Sequence[Toxic]) -> None:
        dependency = self.deps[name]
        self.loop.call(dependency.proxy.set_toxics, list(toxics))

    def clear_faults(self, name: str | None = None) -> None:
        for dep_name, dependency in self.deps.items():
            if name is None or dep_name == name:
                self.loop.call(dependency.proxy.clear)
                if dependency.upstream is not None:
                    self.loop.call(dependency.upstream.set_failure, None)
                    self.loop.call(dependency.upstream.set_delay, 0.0)

    @contextlib.contextmanager
    def faults(self, name: str, toxics: Sequence[Toxic]) -> Iterator[None]:
        self.set_faults(name, toxics)
        try:
            yield
        finally:
            self.clear_faults(name)

    def upstream_requests(self) -> dict[str, int]:
        """Traffic seen so far per dependency (for spotting which calls reach which).

        Requests for a recording upstream; bytes sent through the proxy for a real server.
        """
        seen = {}
        for name, dependency in self.deps.items():
            if dependency.upstream is not None:
                seen[name] = dependency.upstream.requests()
            else:
                stats = self.loop.call(dependency.proxy.stats)
                seen[name] = int(stats["bytes_upstream"])
        return seen

    def idempotency_headers(self) -> dict[str, str]:
        return {"Idempotency-Key": f"probe-{uuid.uuid4().hex}"}

    # -- service ---------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.service.exit_code() is None

    def ensure_running(self) -> bool:
        """Restart the service if a check killed it; False when it cannot come back."""
        if self.alive():
            return True
        if self.service.restarts >= 3 or self.service.expired:
            return False
        self.service.restarts += 1
        self.service.start()
        try:
            self.service.wait_listening(self.bounded(self.settings.startup_timeout_s))
        except ProbeError:
            return False
        return True


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "reset" in lowered:
        return "connection reset"
    if "disconnected" in lowered or "closed" in lowered or "eof" in lowered:
        return "connection closed without an answer"
    return text[:200]
