"""benchmarks/precision.py: a later review re-locates a first-look true positive whose finding
moved inside its function ("moved_from"), so it is not listed as lost while it fires there."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_precision() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "benchmark_precision", BENCHMARKS / "precision.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


precision = _load_precision()


def _verdict(line: int, **extra: Any) -> dict[str, Any]:
    return {
        "sample": "medium",
        "rule": "DAT003",
        "severity": "medium",
        "path": "app/flows.py",
        "line": line,
        "verdict": "TP",
        **extra,
    }


def _finding(line: int, severity: str) -> dict[str, Any]:
    return {"rule": "DAT003", "path": "app/flows.py", "line": line, "severity": severity}


def test_a_moved_true_positive_is_kept_where_it_now_fires() -> None:
    record = {"verdicts": [_verdict(83), _verdict(138, moved_from=83, reused=True)]}
    assert precision._true_positives_lost(record, [_finding(138, "medium")]) == []


def test_a_moved_true_positive_lowered_at_its_new_line_is_lost() -> None:
    record = {"verdicts": [_verdict(83), _verdict(138, moved_from=83, reused=True)]}
    assert precision._true_positives_lost(record, [_finding(138, "low")]) == [
        "DAT003 app/flows.py:138 (medium): lowered to low",
        "DAT003 app/flows.py:83 (medium): lowered to low",
    ]


def test_without_a_move_the_first_look_line_is_lost() -> None:
    record = {"verdicts": [_verdict(83)]}
    assert precision._true_positives_lost(record, [_finding(138, "medium")]) == [
        "DAT003 app/flows.py:83 (medium): not on this line"
    ]


def test_one_finding_may_carry_two_earlier_lines() -> None:
    record = {"verdicts": [_verdict(83), _verdict(196), _verdict(138, moved_from=[83, 196])]}
    assert precision._true_positives_lost(record, [_finding(138, "medium")]) == []


def test_a_true_positive_named_as_a_further_sink_of_a_flow_is_kept() -> None:
    record = {"verdicts": [_verdict(12), _verdict(15), _verdict(20)]}
    grouped = {
        **_finding(10, "medium"),
        "message": "... using it. The same value reaches 2 more sinks in `f()`: lines 12, 15.",
    }
    assert precision._true_positives_lost(record, [grouped]) == [
        "DAT003 app/flows.py:20 (medium): not on this line"
    ]
