"""What a probe run produces: check results with evidence, and the run's target and summary.

Kept free of heavy imports: report formats and the CLI read these types without pulling in
Schemathesis, Locust or the network components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prodready.model import ProdreadyError

# prodready is installed from a checkout or a wheel, not the package index (see the README).
PROBE_EXTRA_HINT = (
    "install prodready's probe extra: python -m pip install '/path/to/prodready[probe]'"
)


class ProbeError(ProdreadyError):
    """A usage or start-up problem: reported as one clear message and exit code 2."""


class ProbeTerminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so the service is stopped and the temporary
    directory removed before the process exits (exit code 143, like a default SIGTERM death).

    A BaseException, like KeyboardInterrupt: a check's ``except Exception`` must not swallow it.
    """

    exit_code = 143


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a credential
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    description: str


# Stable ids, in the order a run executes them (graceful-shutdown stops the service, so it is last).
CHECKS: tuple[CheckInfo, ...] = (
    CheckInfo(
        "readiness",
        "Readiness probe",
        "a readiness endpoint answers, and reports a dependency outage without hanging",
    ),
    CheckInfo(
        "liveness",
        "Liveness probe",
        "a liveness endpoint answers 200, also while a dependency is down",
    ),
    CheckInfo(
        "request-id",
        "Request id",
        "an incoming X-Request-ID is echoed and logged; one is generated when absent",
    ),
    CheckInfo(
        "metrics",
        "Prometheus metrics",
        "a Prometheus text endpoint exposes request count and latency",
    ),
    CheckInfo(
        "malformed-input",
        "Malformed input",
        "Schemathesis-generated invalid and edge-case requests never get a 5xx",
    ),
    CheckInfo(
        "payload-limit",
        "Payload limit",
        "an oversized body gets 413, not a 5xx or unbounded memory",
    ),
    CheckInfo(
        "idempotency",
        "Idempotency",
        "a POST retried with the same Idempotency-Key has one side effect upstream",
    ),
    CheckInfo(
        "concurrency",
        "Concurrency",
        "concurrent conflicting requests keep the configured invariants (no lost updates)",
    ),
    CheckInfo(
        "dependency-latency",
        "Slow dependency",
        "with a slow upstream the service answers within its budget instead of hanging",
    ),
    CheckInfo(
        "dependency-outage",
        "Dependency outage",
        "with the upstream down: fast 502/503/504 answers, no 500s, and recovery",
    ),
    CheckInfo(
        "load-latency",
        "Latency under load",
        "p50/p95/p99 and error rate under sustained load (Locust) meet the SLO",
    ),
    CheckInfo(
        "memory-growth",
        "Memory growth",
        "RSS of the service's process tree grows within the bound per 1000 requests",
    ),
    CheckInfo(
        "rate-limit",
        "Rate limiting",
        "a burst beyond the rate gets 429s rather than errors or collapse",
    ),
    CheckInfo(
        "structured-logs",
        "Structured logs",
        "stdout/stderr lines are JSON objects with level, message and time",
    ),
    CheckInfo(
        "graceful-shutdown",
        "Graceful shutdown",
        "on SIGTERM in-flight requests complete, new ones are refused, exit in the grace period",
    ),
)
CHECK_IDS: tuple[str, ...] = tuple(check.id for check in CHECKS)
CHECK_INFO: Mapping[str, CheckInfo] = {check.id: check for check in CHECKS}


@dataclass
class CheckResult:
    id: str
    status: Status
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def title(self) -> str:
        info = CHECK_INFO.get(self.id)
        return info.title if info else self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "reason": self.reason,
            "evidence": self.evidence,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class DependencyInfo:
    name: str
    env: str
    kind: str  # "http" (recording fake upstream) or "tcp" (a real server behind the proxy)
    url: str  # what the service was given
    target: str  # what the proxy forwards to

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "env": self.env,
            "kind": self.kind,
            "url": self.url,
            "target": self.target,
        }


@dataclass
class ProbeTarget:
    command: str
    base_url: str = ""
    port: int = 0
    openapi: str | None = None
    operations: int = 0
    dependencies: list[DependencyInfo] = field(default_factory=list)
    isolated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "base_url": self.base_url,
            "port": self.port,
            "openapi": self.openapi,
            "operations": self.operations,
            "dependencies": [dep.to_dict() for dep in self.dependencies],
            "isolated": self.isolated,
        }


@dataclass
class ProbeReport:
    target: ProbeTarget
    checks: list[CheckResult] = field(default_factory=list)
    started_at: str = ""
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for check in self.checks:
            counts[check.status.value] += 1
        return counts

    @property
    def passed(self) -> bool:
        return all(check.status is not Status.FAIL for check in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "checks": len(self.checks),
            "passed": counts["pass"],
            "failed": counts["fail"],
            "skipped": counts["skip"],
            "verdict": "pass" if self.passed else "fail",
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
        }

    def to_dict(self, version: str) -> dict[str, Any]:
        return {
            "tool": "prodready",
            "version": version,
            "target": self.target.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
            "summary": self.summary(),
            "notes": self.notes,
        }


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP request the probe can send: from a config template or an OpenAPI operation."""

    method: str
    path: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    idempotent: bool = False  # a template may declare that it honours Idempotency-Key

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.json is not None:
            data["json"] = self.json
        if self.headers:
            data["headers"] = dict(self.headers)
        if self.name:
            data["name"] = self.name
        return data
