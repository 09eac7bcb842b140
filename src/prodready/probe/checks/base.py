"""Small helpers shared by the checks: results and fault construction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prodready.probe.model import CheckResult, Status

if TYPE_CHECKING:
    from prodready.probe.faults import Toxic

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
SERVER_ERRORS_THAT_EXPLAIN = (502, 503, 504)


def passed(check_id: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, Status.PASS, reason, evidence)


def failed(check_id: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, Status.FAIL, reason, evidence)


def skipped(check_id: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, Status.SKIP, reason, evidence)


def toxic(kind: str, **attributes: Any) -> Toxic:
    from prodready.probe.faults import Toxic

    return Toxic.parse({"kind": kind, **attributes})


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
