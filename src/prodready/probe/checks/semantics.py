"""``idempotency`` and ``concurrency``: retries and races must not change what happened.

Side effects are counted by the recording upstreams, which treat a repeated Idempotency-Key the
way payment gateways do (a replay, not a second charge).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from prodready.probe.checks.base import failed, passed, skipped
from prodready.probe.context import Outcome, ProbeContext
from prodready.probe.model import CheckResult, RequestSpec
from prodready.probe.settings import Invariant

_PARALLEL_RETRIES = 5


def _side_effects(ctx: ProbeContext) -> int:
    return sum(
        dependency.upstream.side_effects()
        for dependency in ctx.deps.values()
        if dependency.upstream is not None
    )


def _identity(outcome: Outcome) -> Any:
    body = outcome.json()
    if isinstance(body, dict) and "id" in body:
        return body["id"]
    return outcome.body


def idempotency(ctx: ProbeContext) -> CheckResult:
    recorded = any(dependency.upstream is not None for dependency in ctx.deps.values())
    posts: list[RequestSpec] = []
    for specs in ctx.dependent.values():
        posts.extend(spec for spec in specs if spec.method == "POST" and spec not in posts)
    posts.extend(spec for spec in ctx.settings.requests if spec.idempotent and spec not in posts)
    if not recorded or not posts:
        return skipped(
            "idempotency",
            "no POST operation was seen reaching a recorded (--dep) upstream, so side effects "
            "cannot be counted; declare request templates with idempotent = true",
        )
    evidence: dict[str, Any] = {}
    problems: list[str] = []
    for spec in posts[:3]:
        findings = _sequential(ctx, spec) + _concurrent(ctx, spec) + _after_timeout(ctx, spec)
        evidence[spec.label] = {name: detail for name, detail, _ in findings}
        problems.extend(f"{spec.label}: {problem}" for _, _, problem in findings if problem)
    if problems:
        return failed("idempotency", "; ".join(problems[:3]), **evidence)
    return passed(
        "idempotency",
        f"{len(posts[:3])} POST operation(s): retries with one Idempotency-Key - sequential, "
        "concurrent and after an upstream timeout - made one side effect each",
        **evidence,
    )


# One retry scenario: its name, the evidence, and the problem it showed (None: it passed).
RetryOutcome = tuple[str, dict[str, Any], str | None]


def _sequential(ctx: ProbeContext, spec: RequestSpec) -> list[RetryOutcome]:
    key = ctx.idempotency_headers()
    before = _side_effects(ctx)
    first = ctx.send(spec, headers=key)
    second = ctx.send(spec, headers=key)
    effects = _side_effects(ctx) - before
    detail = {"first": first.to_dict(), "retry": second.to_dict(), "side_effects": effects}
    problem = None
    if not first.ok:
        problem = f"the first request failed ({first.brief()})"
    elif second.status != first.status or _identity(second) != _identity(first):
        problem = "a retry with the same Idempotency-Key returned a different result"
    if effects != 1:
        problem = f"a retry with the same Idempotency-Key made {effects} side effects upstream"
    return [("sequential", detail, problem)]


def _concurrent(ctx: ProbeContext, spec: RequestSpec) -> list[RetryOutcome]:
    key = ctx.idempotency_headers()
    before = _side_effects(ctx)
    outcomes = ctx.send_parallel([spec] * _PARALLEL_RETRIES, headers=[key] * _PARALLEL_RETRIES)
    effects = _side_effects(ctx) - before
    answered = [outcome for outcome in outcomes if outcome.ok]
    identities = {json.dumps(_identity(outcome), sort_keys=True) for outcome in answered}
    detail = {
        "statuses": [outcome.status or outcome.error for outcome in outcomes],
        "distinct_results": len(identities),
        "side_effects": effects,
    }
    problem = None
    if not answered:
        problem = "none of the concurrent retries succeeded"
    elif len(identities) > 1:
        problem = f"{_PARALLEL_RETRIES} concurrent retries returned {len(identities)} results"
    if effects != 1:
        problem = f"{_PARALLEL_RETRIES} concurrent retries with one key made {effects} side effects"
    return [("concurrent", detail, problem)]


def _after_timeout(ctx: ProbeContext, spec: RequestSpec) -> list[RetryOutcome]:
    """The upstream charges but answers too late; the client retries with the same key."""
    key = ctx.idempotency_headers()
    delay = ctx.settings.dependency_budget_s + 2.0
    before = _side_effects(ctx)
    for dependency in ctx.deps.values():
        if dependency.upstream is not None:
            ctx.loop.call(dependency.upstream.set_delay, delay)
    try:
        first = ctx.send(spec, headers=key, timeout=ctx.settings.dependency_budget_s + 1.0)
    finally:
        ctx.clear_faults()
    retry = ctx.send(spec, headers=key)
    effects = _side_effects(ctx) - before
    detail = {"first": first.to_dict(), "retry": retry.to_dict(), "side_effects": effects}
    problem = None
    if effects > 1:
        problem = (
            f"after an upstream timeout, the client's retry made {effects} side effects "
            "(charged twice)"
        )
    elif not retry.ok:
        problem = f"the retry after an upstream timeout failed ({retry.brief()})"
    return [("after_upstream_timeout", detail, problem)]


def concurrency(ctx: ProbeContext) -> CheckResult:
    if not ctx.settings.invariants:
        return skipped(
            "concurrency",
            f"no invariants configured ([[{ctx.settings.table('invariants')}]] with action, read, "
            "field, delta)",
        )
    evidence: dict[str, Any] = {}
    problems = []
    for invariant in ctx.settings.invariants:
        detail, problem = _check_invariant(ctx, invariant)
        evidence[invariant.name] = detail
        if problem:
            problems.append(f"{invariant.name}: {problem}")
    if problems:
        return failed("concurrency", "; ".join(problems), **evidence)
    return passed(
        "concurrency",
        f"{len(ctx.settings.invariants)} invariant(s) held under concurrent requests",
        **evidence,
    )


def _check_invariant(ctx: ProbeContext, invariant: Invariant) -> tuple[dict[str, Any], str | None]:
    run = uuid.uuid4().hex[:10]
    action, read = _fill(invariant.action, run), _fill(invariant.read, run)
    detail: dict[str, Any] = {"parallel": invariant.parallel, "action": action.label}
    if invariant.setup is not None:
        setup = ctx.send(_fill(invariant.setup, run))
        detail["setup"] = setup.to_dict()
        if setup.status is None or setup.status >= 400:
            return detail, f"the setup request failed ({setup.brief()})"
    before = _field(ctx.send(read), invariant.field)
    if before is None:
        return detail, f"cannot read number field {invariant.field!r} from {read.label}"
    outcomes = ctx.send_parallel(
        [action] * invariant.parallel,
        headers=[ctx.idempotency_headers() for _ in range(invariant.parallel)],
    )
    successes = sum(1 for outcome in outcomes if outcome.ok)
    server_errors = [o.status or o.error for o in outcomes if o.status is None or o.status >= 500]
    after = _field(ctx.send(read), invariant.field)
    expected = before + successes * invariant.delta
    detail.update(
        before=before,
        successes=successes,
        after=after,
        expected=expected,
        statuses=_count(outcomes),
    )
    if server_errors:
        return detail, f"{len(server_errors)} of {invariant.parallel} concurrent requests failed"
    if after is None or abs(after - expected) > 1e-9:
        lost = abs((after or 0) - expected) / abs(invariant.delta or 1)
        return detail, (
            f"{successes} successful requests should move {invariant.field} from {before:g} to "
            f"{expected:g}, but it is {after}: {lost:g} lost update(s)"
        )
    return detail, None


def _count(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        key = str(outcome.status or outcome.error)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _field(outcome: Outcome, name: str) -> float | None:
    value: Any = outcome.json()
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fill(spec: RequestSpec, run: str) -> RequestSpec:
    """Replace ``{run}`` in the path and body so each probe run uses fresh records."""
    body = (
        json.loads(json.dumps(spec.json).replace("{run}", run)) if spec.json is not None else None
    )
    return RequestSpec(
        method=spec.method,
        path=spec.path.replace("{run}", run),
        json=body,
        headers=spec.headers,
        name=spec.name,
        idempotent=spec.idempotent,
    )
