"""The gate's stages: one function per stage id, each returning a StageResult."""

from __future__ import annotations

from collections.abc import Callable

from prodready.gate.model import STAGES, StageResult
from prodready.gate.stages import approval, lint, probe, scan, tests
from prodready.gate.stages.base import StageContext

StageFunction = Callable[[StageContext], StageResult]

STAGE_FUNCTIONS: dict[str, StageFunction] = {
    "lint": lint.lint,
    "scan": scan.scan,
    "dependencies": scan.dependencies,
    "unit": tests.unit,
    "integration": tests.integration,
    "performance": probe.performance,
    "sandbox": probe.sandbox,
    "approval": approval.approval,
}
assert set(STAGE_FUNCTIONS) | {"release"} == set(STAGES), "every stage but release has one function"
