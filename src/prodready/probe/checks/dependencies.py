"""``dependency-latency`` and ``dependency-outage``: a sick dependency must not take the
service down with it. Faults are injected in the proxy in front of each dependency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from prodready.probe.checks.base import (
    MUTATING,
    SERVER_ERRORS_THAT_EXPLAIN,
    failed,
    passed,
    percentile,
    skipped,
    toxic,
)
from prodready.probe.context import Outcome, ProbeContext
from prodready.probe.model import CheckResult, RequestSpec

_OUTAGE_REQUESTS = 10
_RECOVERY_S = 15.0
_FAST_S = 1.0  # a failing dependency should be reported quickly, not after a long wait


def _targets(ctx: ProbeContext) -> dict[str, list[RequestSpec]]:
    return {name: specs[:2] for name, specs in ctx.dependent.items() if specs}


def _no_targets(check_id: str, ctx: ProbeContext) -> CheckResult:
    if not ctx.deps:
        return skipped(check_id, "no dependencies given (--dep NAME=ENVVAR)")
    return skipped(
        check_id,
        f"no request was seen reaching {', '.join(ctx.deps)}; add request templates "
        f"([[{ctx.settings.table('requests')}]]) for the operations that call it",
    )


def _send(ctx: ProbeContext, spec: RequestSpec, timeout: float) -> Outcome:
    headers = ctx.idempotency_headers() if spec.method in MUTATING else None
    return ctx.send(spec, headers=headers, timeout=timeout)


def _unclear(outcome: Outcome) -> bool:
    """A 500 (unhandled error) or another 5xx that does not say "a dependency failed"."""
    return (
        outcome.status is not None
        and outcome.status >= 500
        and outcome.status not in SERVER_ERRORS_THAT_EXPLAIN
    )


def dependency_latency(ctx: ProbeContext) -> CheckResult:
    targets = _targets(ctx)
    if not targets:
        return _no_targets("dependency-latency", ctx)
    budget = ctx.settings.dependency_budget_s
    injected = ctx.settings.injected_latency_ms
    evidence: dict[str, Any] = {"injected_latency_ms": injected, "budget_s": budget}
    problems = []
    for name, specs in targets.items():
        with ctx.faults(name, [toxic("latency", latency=injected)]):
            outcomes = [_send(ctx, spec, budget) for spec in specs]
        evidence[name] = [outcome.to_dict() for outcome in outcomes]
        for outcome in outcomes:
            if outcome.status is None:
                problems.append(
                    f"{outcome.method} {outcome.path} gave no answer within {budget:g} s while "
                    f"{name} was {injected / 1000:g} s slow ({outcome.error}): the call to {name} "
                    "has no timeout, or one longer than the request budget"
                )
            elif _unclear(outcome):
                problems.append(
                    f"{outcome.brief()} while {name} was slow: an unhandled error instead of "
                    "a 503/504 or a fallback"
                )
        _drain(ctx)
    if problems:
        return failed("dependency-latency", "; ".join(problems[:2]), **evidence)
    return passed(
        "dependency-latency",
        f"with {', '.join(targets)} {injected / 1000:g} s slow, every request was answered "
        f"within {budget:g} s",
        **evidence,
    )


def dependency_outage(ctx: ProbeContext) -> CheckResult:
    targets = _targets(ctx)
    if not targets:
        return _no_targets("dependency-outage", ctx)
    evidence: dict[str, Any] = {}
    problems: list[str] = []
    for name, specs in targets.items():
        dependency = ctx.deps[name]
        phases: list[tuple[str, Callable[[], object]]] = [
            ("down", partial(ctx.set_faults, name, [toxic("down")])),
        ]
        upstream = dependency.upstream
        if upstream is not None:
            phases.append(("answers 503", partial(ctx.loop.call, upstream.set_failure, 503)))
        for phase, inject in phases:
            inject()
            try:
                outcomes = [
                    _send(ctx, specs[index % len(specs)], ctx.settings.dependency_budget_s)
                    for index in range(_OUTAGE_REQUESTS)
                ]
            finally:
                ctx.clear_faults(name)
            summary, problem = _judge(name, phase, outcomes)
            evidence[f"{name} {phase}"] = summary
            if problem:
                problems.append(problem)
        recovered = _recovery(ctx, specs[0])
        evidence[f"{name} recovery_s"] = recovered
        if recovered is None:
            problems.append(f"no success within {_RECOVERY_S:g} s after {name} came back")
    if problems:
        return failed("dependency-outage", "; ".join(problems[:3]), **evidence)
    return passed(
        "dependency-outage",
        f"with {', '.join(targets)} down or failing: fast 502/503/504 answers, then recovery",
        **evidence,
    )


def _judge(name: str, phase: str, outcomes: list[Outcome]) -> tuple[dict[str, Any], str | None]:
    latencies = [outcome.elapsed_s for outcome in outcomes]
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        key = str(outcome.status or outcome.error)
        statuses[key] = statuses.get(key, 0) + 1
    summary = {
        "statuses": statuses,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }
    hung = [outcome for outcome in outcomes if outcome.status is None]
    unclear = [outcome for outcome in outcomes if _unclear(outcome)]
    if hung:
        return summary, f"{name} {phase}: {len(hung)} requests got no answer ({hung[0].error})"
    if unclear:
        return summary, (
            f"{name} {phase}: {len(unclear)} of {len(outcomes)} answers were "
            f"{unclear[0].status} (unhandled) instead of 502/503/504"
        )
    if percentile(latencies, 0.5) > _FAST_S:
        return summary, (
            f"{name} {phase}: errors took {summary['p50_ms']:.0f} ms (median) - callers pile up; "
            "fail fast (timeouts, a circuit breaker)"
        )
    return summary, None


def _recovery(ctx: ProbeContext, spec: RequestSpec) -> float | None:
    started = time.monotonic()
    deadline = started + ctx.bounded(_RECOVERY_S)
    while time.monotonic() < deadline:
        if _send(ctx, spec, ctx.settings.dependency_budget_s).ok:
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
    return None


def _drain(ctx: ProbeContext) -> None:
    """Let requests stuck behind the injected latency finish before the next measurement."""
    deadline = time.monotonic() + ctx.bounded(ctx.settings.injected_latency_ms / 1000 + 5)
    probe = ctx.liveness or ctx.readiness
    while probe is not None and time.monotonic() < deadline:
        if ctx.get(probe, timeout=1.0).status is not None:
            return
        time.sleep(0.2)
