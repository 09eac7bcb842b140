"""What a gate run produces: stage results, findings with provenance, readiness and a verdict.

Light on imports: report formats and the CLI read these types without running any stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prodready.model import Finding, ProdreadyError, RuleMeta, Severity


class GateError(ProdreadyError):
    """A configuration or usage problem: one clear message and exit code 2."""


class StageStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a stage status, not a credential
    FAIL = "fail"
    SKIP = "skip"  # disabled, not selected, or not reached after a required failure
    ERROR = "error"  # the stage could not run (tool missing, timeout, crash): counts as failed


# Stable stage ids, in pipeline order.
STAGES: tuple[str, ...] = (
    "lint",
    "scan",  # prodready's static analysis: every category but dependencies
    "dependencies",
    "unit",
    "integration",
    "performance",
    "sandbox",
    "approval",
    "release",
)

# Former stage ids, still accepted in --stages, --skip and [gate.stage.*]. The scan stage was
# called "security", though it runs every category (a timeout finding is not a security one).
STAGE_ALIASES: dict[str, str] = {"security": "scan"}
# Summaries of stages that did not run because nobody asked for them.
NOT_SELECTED = "not selected"
DISABLED = "disabled"


def canonical_stage(name: str) -> str:
    """The current id for a stage name, former names included."""
    return STAGE_ALIASES.get(name, name)


def plural(count: int, noun: str) -> str:
    """``1 reason``, ``3 reasons``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# The production-readiness-review axes SRE teams use, in display order.
AXES: tuple[str, ...] = (
    "architecture",  # architecture & dependencies
    "observability",
    "emergency-response",  # shutdown, health, rollback
    "capacity",  # capacity & performance
    "change-management",
    "security",
)
AXIS_TITLES: dict[str, str] = {
    "architecture": "Architecture & dependencies",
    "observability": "Observability",
    "emergency-response": "Emergency response",
    "capacity": "Capacity & performance",
    "change-management": "Change management",
    "security": "Security",
}
LEVELS: tuple[str, ...] = ("none", "bronze", "silver", "gold")


@dataclass
class GateFinding:
    """A finding from any stage, with where it came from and who (or what) wrote the line."""

    stage: str
    rule: str
    severity: Severity
    category: str  # prodready category, or "lint"
    path: str
    line: int
    message: str
    column: int = 1
    name: str = ""
    fix: str | None = None
    snippet: str = ""
    fingerprint: str = ""
    axis: str = "change-management"
    ai_assisted: bool | None = None  # None: the line is not part of the change
    commit: str | None = None

    @classmethod
    def from_finding(cls, stage: str, finding: Finding, axis: str) -> GateFinding:
        return cls(
            stage=stage,
            rule=finding.rule,
            severity=finding.severity,
            category=finding.category.value,
            path=finding.path,
            line=finding.line,
            column=finding.column,
            message=finding.message,
            name=finding.name,
            fix=finding.fix,
            snippet=finding.snippet,
            fingerprint=finding.fingerprint,
            axis=axis,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity.value,
            "category": self.category,
            "axis": self.axis,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "fix": self.fix,
            "snippet": self.snippet,
            "fingerprint": self.fingerprint,
            "ai_assisted": self.ai_assisted,
            "commit": self.commit,
        }


@dataclass
class StageResult:
    id: str
    status: StageStatus
    summary: str  # one line: what happened, with the key figure
    required: bool = True
    duration_s: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)  # counts, coverage, p99, ...
    findings: list[GateFinding] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)  # files under the run directory
    command: list[str] | None = None
    ai_assisted: bool = False  # the stage judged AI-assisted changes (stricter policy applied)
    details: list[str] = field(default_factory=list)  # lines after the summary: why checks skipped
    # The rules the stage ran (prodready's own stages): what reports describe them by.
    rules: dict[str, RuleMeta] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.required and self.status in (StageStatus.FAIL, StageStatus.ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "required": self.required,
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
            "figures": self.figures,
            "findings": len(self.findings),
            "artifacts": self.artifacts,
            "command": self.command,
            "ai_assisted": self.ai_assisted,
            "details": self.details,
        }


@dataclass
class Commit:
    sha: str
    subject: str
    author: str
    ai_assisted: bool
    assistant: str | None = None  # "Claude", "Copilot", ... or the matching trailer/pattern

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "subject": self.subject,
            "author": self.author,
            "ai_assisted": self.ai_assisted,
            "assistant": self.assistant,
        }


@dataclass
class Provenance:
    base: str | None  # the resolved base commit, None outside git / without history
    commits: list[Commit] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    ai_lines: dict[str, set[int]] = field(
        default_factory=dict
    )  # path -> changed lines by AI commits
    human_lines: dict[str, set[int]] = field(default_factory=dict)
    line_commits: dict[str, dict[int, str]] = field(default_factory=dict)  # path -> line -> sha

    @property
    def ai_assisted(self) -> bool:
        return any(commit.ai_assisted for commit in self.commits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "ai_assisted": self.ai_assisted,
            "commits": [commit.to_dict() for commit in self.commits],
            "changed_files": self.changed_files,
            "ai_changed_lines": sum(len(lines) for lines in self.ai_lines.values()),
            "human_changed_lines": sum(len(lines) for lines in self.human_lines.values()),
        }


@dataclass
class AxisLevel:
    axis: str
    level: str  # one of LEVELS
    reasons: list[str] = field(default_factory=list)  # why not the next level up

    def to_dict(self) -> dict[str, Any]:
        return {"axis": self.axis, "level": self.level, "reasons": self.reasons}


@dataclass
class GateReport:
    run_id: str
    run_dir: str
    stages: list[StageResult] = field(default_factory=list)
    provenance: Provenance = field(default_factory=lambda: Provenance(base=None))
    readiness: list[AxisLevel] = field(default_factory=list)
    overall_level: str = "none"
    policy: dict[str, Any] = field(default_factory=dict)  # the effective policy, for the record
    reasons: list[str] = field(default_factory=list)  # why the release is blocked
    started_at: str = ""
    duration_s: float = 0.0

    @property
    def findings(self) -> list[GateFinding]:
        return [finding for stage in self.stages for finding in stage.findings]

    @property
    def released(self) -> bool:
        return not self.reasons

    @property
    def exit_code(self) -> int:
        return 0 if self.released else 1

    def to_dict(self, version: str) -> dict[str, Any]:
        findings = self.findings
        return {
            "tool": "prodready",
            "version": version,
            "run": {
                "id": self.run_id,
                "dir": self.run_dir,
                "started_at": self.started_at,
                "duration_s": round(self.duration_s, 3),
            },
            "verdict": {"release": self.released, "reasons": self.reasons},
            "stages": [stage.to_dict() for stage in self.stages],
            "findings": [finding.to_dict() for finding in findings],
            "provenance": self.provenance.to_dict(),
            "readiness": {
                "overall": self.overall_level,
                "axes": [axis.to_dict() for axis in self.readiness],
            },
            "policy": self.policy,
            "summary": {
                "findings": len(findings),
                "ai_assisted_findings": sum(1 for f in findings if f.ai_assisted),
                "by_severity": _count(f.severity.value for f in findings),
                "by_stage": _count(f.stage for f in findings),
            },
        }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
