"""``load-latency``, ``memory-growth`` and ``rate-limit``: behaviour under sustained and bursty
traffic, driven by Locust. The sustained run is shared by the first two checks.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from prodready.probe.checks.base import MUTATING, failed, passed, skipped, toxic
from prodready.probe.context import ProbeContext
from prodready.probe.endpoints import is_infrastructure, no_traffic_reason
from prodready.probe.model import CheckResult, ProbeError, RequestSpec
from prodready.probe.settings import Threshold, default_slo

if TYPE_CHECKING:
    from prodready.probe.load_generator import LoadStats

_MIN_REQUESTS_FOR_MEMORY = 300
_UNSERVED_PATH = "/prodready-probe/rate-limit"


def _mix(ctx: ProbeContext) -> list[RequestSpec]:
    """The load mix: the requests that answered 2xx and can be repeated (see choose_traffic);
    empty when none is known."""
    return list(ctx.traffic)


def _sustained(ctx: ProbeContext) -> LoadStats:
    """Warm up, then the measured run; RSS is sampled between the two and at the end."""
    if ctx.load_stats is not None:
        return ctx.load_stats
    from prodready.probe.load_generator import run_load

    settings = ctx.settings.load
    mix = _mix(ctx)
    latency = settings.upstream_latency_ms
    if latency > 0:
        for name in ctx.deps:
            ctx.set_faults(name, [toxic("latency", latency=latency)])
    try:
        common: dict[str, Any] = {
            "users": settings.users,
            "spawn_rate": settings.spawn_rate,
            "throughput_per_user": settings.throughput_per_user,
            "workers": settings.workers,
            "request_timeout": ctx.settings.request_timeout_s,
            "workdir": ctx.artifacts,
        }
        if settings.warmup_s > 0:
            run_load(
                ctx.base_url,
                mix,
                duration_s=settings.warmup_s,
                timeout=ctx.bounded(settings.warmup_s + 60),
                **common,
            )
        with _RssSampler(ctx) as samples:
            stats = run_load(
                ctx.base_url,
                mix,
                duration_s=settings.duration_s,
                timeout=ctx.bounded(settings.duration_s + 60),
                **common,
            )
    finally:
        ctx.clear_faults()
    ctx.load_stats = stats
    ctx.memory = {"samples": samples, "mix": [s.label for s in mix], "from": ctx.traffic_from}
    return stats


class _RssSampler:
    """Samples the service's RSS in the background while the measured load runs."""

    def __init__(self, ctx: ProbeContext, interval: float = 0.25) -> None:
        self.ctx = ctx
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe-rss", daemon=True)

    def _sample(self) -> None:
        self.samples.append((time.monotonic(), self.ctx.service.rss_bytes()))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> list[tuple[float, int]]:
        self._sample()
        self._thread.start()
        return self.samples

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


def _growth_per_1000(samples: list[tuple[float, int]], requests: int) -> tuple[float, int, int]:
    """Bytes per 1000 requests from the lowest point of the run to its end.

    Measured from the minimum, not the first sample: memory a previous check left behind (a
    large body, a burst) may be returned to the OS during the run, which is not negative growth
    of this service; requests are pro-rated to the part of the run after the minimum.
    """
    start, end = samples[0][0], samples[-1][0]
    low_time, low = min(samples, key=lambda sample: sample[1])
    final = samples[-1][1]
    share = (end - low_time) / (end - start) if end > start else 1.0
    # A minimum late in the run means memory fell for most of it: do not pro-rate noise.
    served = max(1.0, requests * share if share >= 0.5 else requests)
    return (final - low) / served * 1000, low, final


def _thresholds(ctx: ProbeContext, *, memory: bool) -> list[Threshold]:
    def wanted(threshold: Threshold) -> bool:
        return (threshold.metric == "memory_growth_bytes") == memory

    chosen = [threshold for threshold in ctx.settings.slo_or_default() if wanted(threshold)]
    return chosen or [threshold for threshold in default_slo() if wanted(threshold)]


def load_latency(ctx: ProbeContext) -> CheckResult:
    if not ctx.traffic:
        return skipped("load-latency", ctx.no_traffic or no_traffic_reason(ctx.settings))
    stats = _sustained(ctx)  # a ProbeError from Locust fails the check with its message
    observed = {
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "p99_ms": stats.p99_ms,
        "avg_ms": stats.avg_ms,
        "max_ms": stats.max_ms,
        "error_rate": stats.error_rate,
        "rps": stats.rps,
    }
    evidence: dict[str, Any] = {
        "requests": stats.requests,
        "rps": round(stats.rps, 1),
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "p99_ms": stats.p99_ms,
        "error_rate": round(stats.error_rate, 4),
        "statuses": stats.statuses,
        "users": stats.users,
        "workers": stats.workers,
        "duration_s": stats.duration_s,
        "mix": ctx.memory.get("mix", []),
        "requests_from": ctx.memory.get("from", ""),
    }
    if ctx.settings.load.upstream_latency_ms:
        evidence["upstream_latency_ms"] = ctx.settings.load.upstream_latency_ms
    if stats.requests == 0:
        return failed("load-latency", "no request completed under load", **evidence)
    thresholds = _thresholds(ctx, memory=False)
    broken = [t for t in thresholds if t.metric in observed and not t.holds(observed[t.metric])]
    evidence["slo"] = {t.text: ("ok" if t not in broken else "broken") for t in thresholds}
    figures = (
        f"p50 {stats.p50_ms:.0f} ms, p95 {stats.p95_ms:.0f} ms, p99 {stats.p99_ms:.0f} ms, "
        f"errors {stats.error_rate:.1%} over {stats.requests} requests"
    )
    if broken:
        return failed(
            "load-latency",
            f"SLO broken: {', '.join(t.text for t in broken)} ({figures})",
            **evidence,
        )
    return passed("load-latency", figures, **evidence)


def memory_growth(ctx: ProbeContext) -> CheckResult:
    if not ctx.traffic:
        return skipped("memory-growth", ctx.no_traffic or no_traffic_reason(ctx.settings))
    stats = _sustained(ctx)  # a ProbeError from Locust fails the check with its message
    samples: list[tuple[float, int]] = ctx.memory["samples"]
    if len(samples) < 2 or not samples[0][1] or not samples[-1][1]:
        return failed("memory-growth", "the service was not running to be measured")
    if stats.requests < _MIN_REQUESTS_FOR_MEMORY:
        return skipped(
            "memory-growth",
            f"only {stats.requests} requests under load; at least {_MIN_REQUESTS_FOR_MEMORY} "
            "are needed for a meaningful figure (raise load.duration or load.users)",
        )
    growth, before, after = _growth_per_1000(samples, stats.requests)
    bound = _thresholds(ctx, memory=True)[0]
    evidence = {
        "rss_before_mb": round(before / 1024**2, 1),
        "rss_after_mb": round(after / 1024**2, 1),
        "requests": stats.requests,
        "growth_per_1000_requests_mb": round(growth / 1024**2, 2),
        "bound": bound.text,
    }
    text = (
        f"{growth / 1024**2:.2f} MB per 1000 requests "
        f"({before / 1024**2:.0f} -> {after / 1024**2:.0f} MB)"
    )
    if not bound.holds(growth):
        return failed(
            "memory-growth",
            f"RSS grew {text}, over the bound '{bound.text}': the process will be OOM-killed",
            **evidence,
        )
    return passed("memory-growth", f"RSS grew {text}", **evidence)


def rate_limit(ctx: ProbeContext) -> CheckResult:
    from prodready.probe.load_generator import run_load

    settings = ctx.settings.rate_limit
    reads = [s for s in _mix(ctx) if s.method not in MUTATING and not is_infrastructure(s.path)]
    if settings.path is not None:
        target, source = RequestSpec("GET", settings.path), "rate-limit.path"
    elif reads:
        target, source = reads[0], ctx.traffic_from
    elif ctx.openapi is not None:
        # Without an API read, a path nobody serves: cheap to answer, and it passes through the
        # same middleware (rate limiting included) as every call of the documented API; health
        # checks often don't.
        target, source = RequestSpec("GET", _UNSERVED_PATH), "a path the service does not serve"
    else:
        # Not even a documented API: a burst of 404s says nothing about how its calls are limited.
        reason = ctx.no_traffic or no_traffic_reason(ctx.settings)
        return skipped(
            "rate-limit", f"no API read to send in a burst: {reason}, or rate-limit.path"
        )
    try:
        stats = run_load(
            ctx.base_url,
            [target],
            users=settings.users,
            spawn_rate=float(settings.users),
            duration_s=settings.duration_s,
            throughput_per_user=None,
            workers=ctx.settings.load.workers,
            request_timeout=ctx.settings.request_timeout_s,
            workdir=ctx.artifacts,
            timeout=ctx.bounded(settings.duration_s + 60),
        )
    except ProbeError as exc:
        return failed("rate-limit", f"the burst failed: {exc}")
    limited = stats.statuses.get("429", 0)
    broken = sum(n for code, n in stats.statuses.items() if code == "0" or code.startswith("5"))
    evidence: dict[str, Any] = {
        "request": target.label,
        "requests_from": source,
        "users": settings.users,
        "requests": stats.requests,
        "rps": round(stats.rps, 1),
        "statuses": stats.statuses,
        "p99_ms": stats.p99_ms,
    }
    _wait_for_tokens(ctx, target)
    if broken > max(1, stats.requests // 100):
        return failed(
            "rate-limit",
            f"a burst at {stats.rps:.0f} req/s got {broken} server errors or dropped connections "
            f"of {stats.requests}, {limited} answers 429",
            **evidence,
        )
    if limited == 0:
        return failed(
            "rate-limit",
            f"{stats.requests} requests at {stats.rps:.0f} req/s from one client, no 429: "
            "nothing protects the service (or its dependencies) from a burst",
            **evidence,
        )
    return passed(
        "rate-limit",
        f"{limited} of {stats.requests} burst requests ({stats.rps:.0f} req/s) got 429, "
        f"{broken} errors",
        **evidence,
    )


def _wait_for_tokens(ctx: ProbeContext, target: RequestSpec) -> None:
    """After the burst, wait (bounded) until the limiter lets requests through again."""
    deadline = time.monotonic() + ctx.bounded(10.0)
    while time.monotonic() < deadline:
        if ctx.send(target, timeout=2.0).status != 429:
            return
        time.sleep(0.5)
