"""``graceful-shutdown``: a deploy sends SIGTERM while requests are in flight.

They must complete, new connections must be refused (so the load balancer moves on), and the
process must exit within the grace period, before the orchestrator's SIGKILL.
"""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prodready.probe.checks.base import MUTATING, failed, passed, skipped
from prodready.probe.context import Outcome, ProbeContext
from prodready.probe.endpoints import no_traffic_reason
from prodready.probe.model import CheckResult, RequestSpec

_IN_FLIGHT = 5
_SLOW_UPSTREAM_S = 1.5


def graceful_shutdown(ctx: ProbeContext) -> CheckResult:
    chosen = _slow_request(ctx)
    if chosen is None:
        # Requests that answer 404 prove nothing about draining: they finish at once.
        return skipped("graceful-shutdown", ctx.no_traffic or no_traffic_reason(ctx.settings))
    spec, slowed = chosen
    grace = ctx.settings.grace_period_s
    evidence: dict[str, Any] = {
        "request": spec.label,
        "requests_from": "a request that reaches a dependency" if slowed else ctx.traffic_from,
        "in_flight": _IN_FLIGHT,
        "grace_period_s": grace,
    }
    pool = ThreadPoolExecutor(max_workers=_IN_FLIGHT)
    try:
        futures = [
            pool.submit(
                ctx.send,
                spec,
                headers=ctx.idempotency_headers() if spec.method in MUTATING else None,
                timeout=grace + 5.0,
            )
            for _ in range(_IN_FLIGHT)
        ]
        time.sleep(0.5 if slowed else 0.05)  # let them reach the service
        signalled = time.monotonic()
        ctx.service.signal(signal.SIGTERM)
        time.sleep(0.3)
        refused = _connection_refused(ctx.service.port)
        code = ctx.service.wait(ctx.bounded(grace))
        exit_s = time.monotonic() - signalled
        outcomes: list[Outcome] = [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True)
        ctx.clear_faults()
    if not slowed:
        evidence["note"] = (
            "no request reaches a recorded dependency to slow down; in-flight requests "
            "may have finished before SIGTERM"
        )
    evidence.update(
        upstream_delay_s=_SLOW_UPSTREAM_S if slowed else 0,
        in_flight_results=[outcome.status or outcome.error for outcome in outcomes],
        new_connection_refused=refused,
        exit_code=code,
        exit_after_s=round(exit_s, 2) if code is not None else None,
    )
    problems = []
    dropped = [outcome for outcome in outcomes if not outcome.ok]
    if dropped:
        problems.append(
            f"{len(dropped)} of {_IN_FLIGHT} in-flight requests were dropped "
            f"({dropped[0].status or dropped[0].error})"
        )
    if code is None:
        problems.append(f"still running {grace:g} s after SIGTERM (it will be SIGKILLed)")
    if not refused and code is None:
        problems.append("kept accepting new connections after SIGTERM")
    if problems:
        return failed("graceful-shutdown", "; ".join(problems), **evidence)
    if not slowed and code == -signal.SIGTERM:
        # Died from SIGTERM with nothing demonstrably in flight: a server that drains and then
        # re-raises the signal (uvicorn) looks the same as one with no handler at all.
        return skipped(
            "graceful-shutdown",
            "inconclusive: no request could be held in flight (none reaches a recorded "
            "dependency), and the process exited from SIGTERM itself",
            **evidence,
        )
    return passed(
        "graceful-shutdown",
        f"{_IN_FLIGHT} in-flight requests completed, new connections refused, exit code {code} "
        f"after {exit_s:.1f} s",
        **evidence,
    )


def _slow_request(ctx: ProbeContext) -> tuple[RequestSpec, bool] | None:
    """A request that stays in flight: one that calls a recorded upstream, made slow; else
    one the service answers with 2xx; None when none is known."""
    for name, specs in ctx.dependent.items():
        upstream = ctx.deps[name].upstream
        if specs and upstream is not None:
            ctx.loop.call(upstream.set_delay, _SLOW_UPSTREAM_S)
            return specs[0], True
    if ctx.traffic:
        return ctx.traffic[0], False
    return None


def _connection_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except OSError:
        return True
