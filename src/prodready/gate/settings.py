"""Gate settings: ``[tool.prodready.gate]`` and ``[tool.prodready.policy]`` (or ``[gate]`` and
``[policy]`` in prodready.toml). Every key is validated; mistakes are :class:`GateError` with the
file, the key and a "did you mean".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from prodready.gate.model import LEVELS, STAGE_ALIASES, STAGES, GateError, canonical_stage
from prodready.model import Severity
from prodready.probe.collect import ErrorCollector
from prodready.tables import TableReader, read_toml

# Stages that run only when configured: they need a command or a probe setup.
_OPT_IN = ("integration", "performance", "sandbox")
_DEFAULT_TIMEOUT_S = {
    "lint": 300.0,
    "scan": 600.0,
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


def find_gate_config(project: Path, config: Path | None = None) -> Path | None:
    """``config``, else the project's prodready.toml, else its pyproject.toml."""
    if config is not None:
        return config
    for candidate in (project / "prodready.toml", project / "pyproject.toml"):
        if candidate.is_file():
            return candidate
    return None


def table_prefix(source: str | None) -> str:
    """How keys of the file are named in messages: with the file, as spelt in it."""
    if source is None:
        return ""
    if Path(source).name == "pyproject.toml":
        return f"{source}: tool.prodready."
    return f"{source}: "


def load_gate_settings(project: Path, config: Path | None = None) -> GateSettings:
    """From ``config`` (prodready.toml or pyproject.toml), else the project's own files."""
    path = find_gate_config(project, config)
    if path is None:
        return GateSettings()
    document = read_toml(path, GateError)
    table = (
        document.get("tool", {}).get("prodready", {}) if path.name == "pyproject.toml" else document
    )
    prefix = table_prefix(str(path))
    if not isinstance(table, dict):
        raise GateError(f"{prefix.rstrip('. ')} must be a table")
    return parse_gate_settings(table, prefix, source=str(path))


def load_gate_and_probe_settings(project: Path, config: Path | None = None) -> GateSettings:
    """The gate's settings, with the probe section it runs validated too: the mistakes of both
    sections in one run, one per line, rather than the probe's only when its stage starts."""
    from prodready.probe.model import ProbeError
    from prodready.probe.settings import load_settings

    path = find_gate_config(project, config)
    if path is not None:
        read_toml(path, GateError)  # an unreadable file is one error, not one per section
    problems: list[str] = []
    if has_probe_section(path):  # first, as `prodready config` lists it: probe, gate, policy
        try:
            load_settings(path, project)  # as the performance and sandbox stages read it
        except ProbeError as exc:
            problems.append(str(exc))
    settings = GateSettings()
    try:
        settings = load_gate_settings(project, config)
    except GateError as exc:
        problems.append(str(exc))
    if problems:
        raise GateError("\n".join(problems))
    return settings


def has_probe_section(path: Path | None) -> bool:
    """Whether the gate's configuration file has a probe table (None: no file at all)."""
    if path is None:
        return False
    document = read_toml(path, GateError)
    tool = document.get("tool", {})
    nested = tool.get("prodready", {}) if isinstance(tool, dict) else {}
    return "probe" in document or (isinstance(nested, dict) and "probe" in nested)


class _Table(TableReader):
    error = GateError

    def severity(self, name: str) -> Severity | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            return Severity(value.lower())
        except ValueError as exc:
            allowed = ", ".join(s.value for s in Severity)
            raise GateError(f"{self.key(name)} must be one of {allowed}; got {value!r}") from exc

    def percent(self, name: str) -> float | None:
        value = self.table.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise GateError(f"{self.key(name)} must be a percentage from 0 to 100; got {value!r}")
        return float(value)


def parse_gate_settings(
    table: Mapping[str, Any], prefix: str = "", source: str | None = None
) -> GateSettings:
    """Validate the ``gate`` and ``policy`` tables; every mistake at once, one per line."""
    errors = ErrorCollector(GateError)
    settings = errors.get(partial(_parse_gate, GateSettings(source=source), table, prefix, errors))
    policy = errors.get(partial(_parse_policies, settings or GateSettings(), table, prefix, errors))
    errors.raise_all()
    assert isinstance(policy, GateSettings)
    return policy


def _parse_gate(
    settings: GateSettings, table: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> GateSettings:
    gate = _Table(table.get("gate", {}), f"{prefix}gate")
    errors.unknown_keys(
        gate, ("base", "keep-going", "artifacts", "stage", "levels", "release-level")
    )
    settings = replace(
        settings,
        base=errors.get(partial(gate.string, "base")),
        keep_going=bool(errors.get(partial(gate.boolean, "keep-going"))),
        artifacts=errors.get(partial(gate.string, "artifacts")) or settings.artifacts,
    )
    stages = dict(settings.stages)
    stage_tables = _Table(gate.table.get("stage", {}), gate.key("stage"))
    errors.unknown_keys(stage_tables, (*STAGES, *STAGE_ALIASES))
    for name, raw in stage_tables.table.items():
        if name in STAGES or name in STAGE_ALIASES:
            stage = errors.get(partial(_parse_named_stage, stages, stage_tables, name, raw))
            if stage is not None:
                stages[stage.id] = stage
    settings = replace(settings, stages=stages)
    if "levels" in gate.table:
        levels = errors.get(
            partial(_parse_levels, partial(_Table, gate.table["levels"], gate.key("levels")))
        )
        if levels is not None:
            settings = replace(settings, levels=levels)
    release_level = errors.get(partial(gate.string, "release-level"))
    if release_level is not None:
        if release_level not in LEVELS:
            raise GateError(f"{gate.key('release-level')} must be one of {', '.join(LEVELS)}")
        settings = replace(settings, release_level=release_level)
    return settings


def _parse_named_stage(
    stages: Mapping[str, StageSettings], stage_tables: _Table, name: str, raw: object
) -> StageSettings:
    current = canonical_stage(name)
    if current != name and current in stage_tables.table:
        raise GateError(
            f"{stage_tables.key(name)}: the stage is now called {current!r} and is "
            "configured under both names; keep one"
        )
    return _parse_stage(stages[current], _Table(raw, stage_tables.key(name)))


def _parse_policies(
    settings: GateSettings, table: Mapping[str, Any], prefix: str, errors: ErrorCollector
) -> GateSettings:
    policy = _Table(table.get("policy", {}), f"{prefix}policy")
    errors.unknown_keys(policy, ("fail-on", "require-tests", "require-approval", "ai-assisted"))
    human = errors.get(partial(_parse_policy, settings.policy, policy))
    settings = replace(settings, policy=human or settings.policy)
    ai = _Table(policy.table.get("ai-assisted", {}), policy.key("ai-assisted"))
    errors.unknown_keys(ai, ("fail-on", "require-tests", "require-approval", "assistants"))
    ai_policy = errors.get(partial(_parse_policy, settings.ai_policy, ai))
    settings = replace(settings, ai_policy=ai_policy or settings.ai_policy)
    assistants = ai.table.get("assistants")
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
    table.done(
        ("enabled", "required", "timeout", "command", "coverage", "fail-on", "file", "offline")
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


def _parse_levels(read: Callable[[], _Table]) -> dict[str, LevelCriteria]:
    table = read()
    table.done(("bronze", "silver", "gold"))
    levels = _default_levels()
    for name, raw in table.table.items():
        level = _Table(raw, table.key(name))
        level.done(("max-severity", "evidence"))
        worst = level.string("max-severity")
        evidence = level.boolean("evidence")
        levels[name] = LevelCriteria(
            max_severity=None
            if worst == "none"
            else (level.severity("max-severity") if worst else levels[name].max_severity),
            evidence=levels[name].evidence if evidence is None else evidence,
        )
    return levels
