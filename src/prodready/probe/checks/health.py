"""``readiness`` and ``liveness``: the endpoints an orchestrator routes and restarts by.

Liveness must stay up while a dependency is down (otherwise every instance is restarted during
an outage it cannot fix); readiness may go down then, but must answer rather than hang, and
come back when the dependency does.
"""

from __future__ import annotations

import time

from prodready.probe.checks.base import failed, passed, toxic
from prodready.probe.context import Outcome, ProbeContext
from prodready.probe.endpoints import LIVENESS_PATHS, READINESS_PATHS, answered_text
from prodready.probe.model import CheckResult

_RECOVERY_S = 15.0


def _missing(ctx: ProbeContext, kind: str, consequence: str, tried: tuple[str, ...]) -> CheckResult:
    """No endpoint of ``kind`` answered 200: say which ones exist but fail, if any do."""
    answers = ctx.endpoint_answers.get(kind, [])
    if not answers:
        return failed(kind, f"no {kind} endpoint: {consequence}", tried=list(tried))
    return failed(
        kind,
        f"no {kind} endpoint answered 200: {answered_text(answers)}",
        tried=list(tried),
        answered={o.path: o.status if o.status is not None else o.error for o in answers},
        responses=[o.to_dict() for o in answers],
    )


def _with_dependencies_down(ctx: ProbeContext, path: str, timeout: float) -> Outcome:
    """GET ``path`` while every dependency refuses connections."""
    for name in ctx.deps:
        ctx.set_faults(name, [toxic("down")])
    try:
        return ctx.get(path, timeout=timeout)
    finally:
        ctx.clear_faults()


def readiness(ctx: ProbeContext) -> CheckResult:
    path = ctx.readiness
    if path is None:
        return _missing(
            ctx,
            "readiness",
            "a load balancer cannot tell when this instance can serve",
            READINESS_PATHS,
        )
    healthy = ctx.get(path, timeout=3.0)
    evidence: dict[str, object] = {"endpoint": path, "healthy": healthy.to_dict()}
    if healthy.status != 200:
        return failed(
            "readiness", f"{healthy.brief()} while every dependency was healthy", **evidence
        )
    if not ctx.deps:
        return passed("readiness", f"{path} answered 200; no dependencies to take down", **evidence)
    budget = ctx.settings.dependency_budget_s
    during = _with_dependencies_down(ctx, path, budget)
    evidence["dependencies_down"] = during.to_dict()
    if during.status is None:
        return failed(
            "readiness",
            f"with {', '.join(ctx.deps)} down, {path} gave no answer within {budget:g} s "
            f"({during.error}): probes time out instead of reporting not-ready",
            **evidence,
        )
    recovered = _wait_for(ctx, path, 200, _RECOVERY_S)
    evidence["recovered_after_s"] = recovered
    if recovered is None:
        return failed(
            "readiness",
            f"{path} did not answer 200 again within {_RECOVERY_S:g} s of the dependency returning",
            **evidence,
        )
    state = "reported not ready" if during.status != 200 else "kept reporting ready"
    return passed(
        "readiness",
        f"{path} answered 200; {state} ({during.status}) with dependencies down; "
        f"ready again after {recovered:.1f} s",
        **evidence,
    )


def liveness(ctx: ProbeContext) -> CheckResult:
    path = ctx.liveness
    if path is None:
        return _missing(ctx, "liveness", "a hung process is never restarted", LIVENESS_PATHS)
    healthy = ctx.get(path, timeout=3.0)
    evidence: dict[str, object] = {"endpoint": path, "healthy": healthy.to_dict()}
    if healthy.status != 200:
        return failed("liveness", f"{healthy.brief()} while everything was healthy", **evidence)
    if not ctx.deps:
        return passed("liveness", f"{path} answered 200 in {healthy.elapsed_s * 1000:.0f} ms")
    during = _with_dependencies_down(ctx, path, 3.0)
    evidence["dependencies_down"] = during.to_dict()
    if during.status != 200:
        return failed(
            "liveness",
            f"with {', '.join(ctx.deps)} down, {during.brief()}: the orchestrator would restart "
            "every instance during a dependency outage (restart storm)",
            **evidence,
        )
    return passed(
        "liveness",
        f"{path} answered 200, also with {', '.join(ctx.deps)} down "
        f"({during.elapsed_s * 1000:.0f} ms)",
        **evidence,
    )


def _wait_for(ctx: ProbeContext, path: str, status: int, limit: float) -> float | None:
    started = time.monotonic()
    deadline = started + ctx.bounded(limit)
    while time.monotonic() < deadline:
        if ctx.get(path, timeout=2.0).status == status:
            return round(time.monotonic() - started, 2)
        time.sleep(0.25)
    return None
