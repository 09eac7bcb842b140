"""Gate settings: ``[tool.prodready.gate]`` and ``[tool.prodready.policy]`` (or ``[gate]`` and
``[policy]`` in prodready.toml). Every key is validated; mistakes are :class:`GateError` with the
file, the key and a "did you mean".
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodready.gate.model import LEVELS, STAGES, GateError
from prodready.model import Severity

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Stages that run only when configured: they need a command or a probe setup.
_OPT_IN = ("integration", "performance", "sandbox")
_DEFAULT_TIMEOUT_S = {
    "lint": 300.0,
    "security": 600.0,
    "dependencies": 600.0,
    "unit": 1800.0,
    "integration": 1800.0,
    "performance": 900.0,
    "sandbox": 900.0,
    "approval": 10.0,
    "release": 10.0,
}


@dataclass(frozen=True)
class StageSettings:
    id: str
    enabled: bool = True
    required: bool = True
    timeout_s: float = 600.0
    command: str | None = None
    coverage: float | None = None  # unit: minimum line coverage in percent
    fail_on: Severity | None = None  # security/dependencies: overrides the policy for humans
    file: str = ".prodready/approval.toml"  # approval
    offline: bool = False  # dependencies


@dataclass(frozen=True)
class Policy:
    fail_on: Severity = Severity.HIGH
    require_tests: bool = False
    require_approval: bool = False


@dataclass(frozen=True)
class LevelCriteria:
    """What an axis needs for a level: the worst finding severity allowed, and whether a
    dynamic stage (tests, the probe) must have produced passing evidence for it."""

    max_severity: Severity | None  # None: no findings at all on the axis
    evidence: bool = False


def _default_levels() -> dict[str, LevelCriteria]:
    return {
        "bronze": LevelCriteria(max_severity=Severity.MEDIUM),
        "silver": LevelCriteria(max_severity=Severity.LOW),
        "gold": LevelCriteria(max_severity=Severity.LOW, evidence=True),
    }


@dataclass(frozen=True)
class GateSettings:
    base: str | None = None
    keep_going: bool = False
    artifacts: str = ".prodready/runs"
    stages: Mapping[str, StageSettings] = field(
        default_factory=lambda: {
            stage: StageSettings(
                stage, enabled=stage not in _OPT_IN, timeout_s=_DEFAULT_TIMEOUT_S[stage]
            )
            for stage in STAGES
        }
    )
    policy: Policy = Policy()
    ai_policy: Policy = Policy(fail_on=Severity.MEDIUM, require_tests=True)
    assistant_patterns: tuple[str, ...] = ()
    levels: Mapping[str, LevelCriteria] = field(default_factory=_default_levels)
    release_level: str = "none"  # the overall readiness level a release needs
    source: str | None = None

    def stage(self, stage_id: str) -> StageSettings:
        return self.stages[stage_id]

    def policy_record(self) -> dict[str, Any]:
        def policy(value: Policy) -> dict[str, Any]:
            return {
                "fail_on": value.fail_on.value,
                "require_tests": value.require_tests,
                "require_approval": value.require_approval,
            }

        return {
            "human": policy(self.policy),
            "ai_assisted": policy(self.ai_policy),
            "release_level": self.release_level,
        }


def load_gate_settings(project: Path, config: Path | None = None) -> GateSettings:
    """From ``config`` (prodready.toml or pyproject.toml), else the project's own files."""
    path = config
    if path is None:
        for candidate in (project / "prodready.toml", project / "pyproject.toml"):
            if candidate.is_file():
                path = candidate
                break
    if path is None:
        return GateSettings()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GateError(f"{path}: cannot read configuration: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise GateError(f"{path}: configuration is not valid UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GateError(f"{path}: invalid TOML: {exc}") from exc
    if path.name == "pyproject.toml":
        table = document.get("tool", {}).get("prodready", {})
        prefix = f"{path}: tool.prodready."
    else:
        table = document
        prefix = f"{path}: "
    if not isinstance(table, dict):
        raise GateError(f"{prefix.rstrip('. ')} must be a table")
    return parse_gate_settings(table, prefix, source=str(path))


class _Table:
    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise GateError(f"{where} must be a table; got {value!r}")
        self.data: dict[str, Any] = value
        self.where = where

    def key(self, name: str) -> str:
        return f"{self.where}.{name}"

    def only(self, *known: str) -> None:
        for name in self.data:
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise GateError(
                    f"unknown key {self.key(name)}{suggestion}; known keys: {', '.join(known)}"
                )

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, bool):
            raise GateError(f"{self.key(name)} must be true or false; got {value!r}")
        return value

    def string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise GateError(f"{self.key(name)} must be a non-empty string; got {value!r}")
        return value.strip() if isinstance(value, str) else None

    def severity(self, name: str) -> Severity | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            return Severity(value.lower())
        except ValueError as exc:
            allowed = ", ".join(s.value for s in Severity)
            raise GateError(f"{self.key(name)} must be one of {allowed}; got {value!r}") from exc

    def duration(self, name: str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
            return float(match[1]) * _UNITS[match[2] or "s"]
        raise GateError(
            f"{self.key(name)} must be a duration like 300, '90s' or '5m'; got {value!r}"
        )

    def percent(self, name: str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise GateError(f"{self.key(name)} must be a percentage from 0 to 100; got {value!r}")
        return float(value)


def parse_gate_settings(
    table: Mapping[str, Any], prefix: str = "", source: str | None = None
) -> GateSettings:
    settings = GateSettings(source=source)
    gate = _Table(table.get("gate", {}), f"{prefix}gate")
    gate.only("base", "keep-going", "artifacts", "stage", "levels", "release-level")
    settings = replace(
        settings,
        base=gate.string("base"),
        keep_going=bool(gate.boolean("keep-going")),
        artifacts=gate.string("artifacts") or settings.artifacts,
    )
    stages = dict(settings.stages)
    stage_tables = _Table(gate.data.get("stage", {}), gate.key("stage"))
    stage_tables.only(*STAGES)
    for stage_id, raw in stage_tables.data.items():
        stages[stage_id] = _parse_stage(stages[stage_id], _Table(raw, stage_tables.key(stage_id)))
    settings = replace(settings, stages=stages)
    if "levels" in gate.data:
        settings = replace(
            settings, levels=_parse_levels(_Table(gate.data["levels"], gate.key("levels")))
        )
    release_level = gate.string("release-level")
    if release_level is not None:
        if release_level not in LEVELS:
            raise GateError(f"{gate.key('release-level')} must be one of {', '.join(LEVELS)}")
        settings = replace(settings, release_level=release_level)

    policy = _Table(table.get("policy", {}), f"{prefix}policy")
    policy.only("fail-on", "require-tests", "require-approval", "ai-assisted")
    settings = replace(settings, policy=_parse_policy(settings.policy, policy))
    ai = _Table(policy.data.get("ai-assisted", {}), policy.key("ai-assisted"))
    ai.only("fail-on", "require-tests", "require-approval", "assistants")
    settings = replace(settings, ai_policy=_parse_policy(settings.ai_policy, ai))
    assistants = ai.data.get("assistants")
    if assistants is not None:
        if not isinstance(assistants, list) or not all(isinstance(p, str) for p in assistants):
            raise GateError(f"{ai.key('assistants')} must be a list of regular expressions")
        for pattern in assistants:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise GateError(f"{ai.key('assistants')}: bad pattern {pattern!r}: {exc}") from exc
        settings = replace(settings, assistant_patterns=tuple(assistants))
    return settings


def _parse_stage(base: StageSettings, table: _Table) -> StageSettings:
    table.only(
        "enabled", "required", "timeout", "command", "coverage", "fail-on", "file", "offline"
    )
    command = table.string("command")
    enabled = table.boolean("enabled")
    if enabled is None and command is not None and base.id == "integration":
        enabled = True  # configuring the command is how integration tests are switched on
    changes: dict[str, Any] = {
        "enabled": enabled,
        "required": table.boolean("required"),
        "timeout_s": table.duration("timeout"),
        "command": command,
        "coverage": table.percent("coverage"),
        "fail_on": table.severity("fail-on"),
        "file": table.string("file"),
        "offline": table.boolean("offline"),
    }
    return replace(base, **{key: value for key, value in changes.items() if value is not None})


def _parse_policy(base: Policy, table: _Table) -> Policy:
    changes: dict[str, Any] = {
        "fail_on": table.severity("fail-on"),
        "require_tests": table.boolean("require-tests"),
        "require_approval": table.boolean("require-approval"),
    }
    return replace(base, **{key: value for key, value in changes.items() if value is not None})


def _parse_levels(table: _Table) -> dict[str, LevelCriteria]:
    table.only("bronze", "silver", "gold")
    levels = _default_levels()
    for name, raw in table.data.items():
        level = _Table(raw, table.key(name))
        level.only("max-severity", "evidence")
        worst = level.string("max-severity")
        evidence = level.boolean("evidence")
        levels[name] = LevelCriteria(
            max_severity=None
            if worst == "none"
            else (level.severity("max-severity") if worst else levels[name].max_severity),
            evidence=levels[name].evidence if evidence is None else evidence,
        )
    return levels
