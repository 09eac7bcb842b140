"""The evaluation corpus (tests/corpus): recall on planted defects, silence on good services.

The corpus was written from how AI-written services fail in production, not from the rules'
fixtures; tests/corpus/score.py prints the full report (per-category recall, every missed label,
every false positive). This test enforces the floor and keeps the labels honest.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
RECALL_FLOOR = 0.85


def _load_scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_score", CORPUS / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


score = _load_scorer()


@pytest.fixture(scope="module")
def report() -> Any:
    return score.score(CORPUS)


def _finding(path: str, line: int, category: str, rule: str = "X001") -> Any:
    return score.Finding(
        rule=rule,
        name="n",
        category=category,
        severity="high",
        confidence="high",
        path=path,
        line=line,
        message="m",
    )


def _label(file: str, ranges: tuple[tuple[int, int], ...], category: str) -> Any:
    return score.Label(service="svc", file=file, ranges=ranges, category=category, note="n")


# -- the scorer's matching --------------------------------------------------------------------


def test_one_finding_never_counts_for_two_labels() -> None:
    labels = [_label("a.py", ((5, 5),), "resilience"), _label("a.py", ((5, 7),), "resilience")]
    report = score.evaluate(labels, [_finding("bad/svc/a.py", 5, "resilience")], [])
    assert len(report.found) == 1
    assert len(report.missed) == 1


def test_matching_is_maximal_not_greedy() -> None:
    # The first label could take either finding; a greedy pass that gives it line 5 starves the
    # second label, which only accepts line 5.
    labels = [_label("a.py", ((5, 9),), "security"), _label("a.py", ((5, 5),), "security")]
    findings = [_finding("bad/svc/a.py", 5, "security"), _finding("bad/svc/a.py", 9, "security")]
    report = score.evaluate(labels, findings, [])
    assert len(report.found) == 2
    assert report.false_positives == []


def test_file_category_and_range_must_all_match() -> None:
    labels = [_label("a.py", ((3, 4), (10, 10)), "state")]
    findings = [
        _finding("bad/svc/a.py", 10, "state"),  # second range: a match
        _finding("bad/svc/a.py", 4, "security"),  # wrong category
        _finding("bad/svc/b.py", 3, "state"),  # wrong file
        _finding("bad/svc/a.py", 7, "state"),  # between the ranges
    ]
    report = score.evaluate(labels, findings, [])
    assert [f.line for _, f in report.found] == [10]
    assert len(report.false_positives) == 3
    assert report.categories["state"].recall == 1.0


def test_recall_any_category_ignores_only_the_category() -> None:
    labels = [
        _label("a.py", ((5, 5),), "state"),
        _label("a.py", ((5, 5),), "concurrency"),
        _label("a.py", ((9, 9),), "security"),
    ]
    findings = [
        _finding("bad/svc/a.py", 5, "state"),
        _finding("bad/svc/a.py", 9, "performance"),  # right line, wrong category
        _finding("bad/svc/b.py", 9, "security"),  # right category, wrong file
    ]
    report = score.evaluate(labels, findings, [])
    assert (len(report.found), report.found_any_category, report.labels) == (1, 2, 3)
    assert (round(report.recall, 4), round(report.recall_any_category, 4)) == (0.3333, 0.6667)
    # One finding still counts for one label only: the second label at line 5 stays missed.
    assert report.to_json()["found_any_category"] == 2
    lines = score.format_report(report).splitlines()
    overall = lines.index(next(line for line in lines if line.startswith("overall")))
    assert lines[overall] == "overall              3      1   0.333    2"
    assert lines[overall + 1] == (
        "any category         3      2   0.667    -   (file and line match, category need not)"
    )


def test_unmatched_finding_inside_a_found_label_is_a_false_positive() -> None:
    labels = [_label("a.py", ((5, 5),), "resilience")]
    findings = [
        _finding("bad/svc/a.py", 5, "resilience", "R1"),
        _finding("bad/svc/a.py", 5, "resilience", "R2"),
    ]
    report = score.evaluate(labels, findings, [])
    assert len(report.false_positives) == 1
    assert report.false_positives[0] in report.overlapping


def test_good_side_is_split_by_severity() -> None:
    low = score.Finding("L1", "n", "observability", "low", "high", "good/s/a.py", 1, "m")
    medium = score.Finding("M1", "n", "security", "medium", "high", "good/s/a.py", 2, "m")
    report = score.evaluate([], [], [low, medium])
    assert report.good_medium_plus == [medium]
    assert report.good_low == [low]


def test_label_ranges_are_validated(tmp_path: Path) -> None:
    service = tmp_path / "bad" / "svc"
    service.mkdir(parents=True)
    (service / "a.py").write_text("x = 1\ny = 2\n")
    (service / "labels.toml").write_text(
        '[[defect]]\nfile = "a.py"\nlines = [2, 3]\ncategory = "state"\nnote = "n"\n'
        '[[defect]]\nfile = "a.py"\nlines = [1, 1]\ncategory = "state"\nanchor = "y ="\n'
        'note = "n"\n'
        '[[defect]]\nfile = "a.py"\nlines = [1, 1]\ncategory = "nonsense"\nnote = "n"\n'
    )
    with pytest.raises(score.CorpusError) as caught:
        score.load_labels(tmp_path)
    message = str(caught.value)
    assert "beyond the end" in message
    assert "anchor 'y ='" in message
    assert "unknown category 'nonsense'" in message


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_shape() -> None:
    labels = score.load_labels(CORPUS)  # raises on a stale or malformed label
    bad = score.services(CORPUS, "bad")
    good = score.services(CORPUS, "good")
    services = [
        "admin_api",
        "inventory_flask",
        "notifications_worker",
        "orders_django",
        "payments_api",
        "price_aggregator",
    ]
    assert sorted(p.name for p in bad) == services
    assert sorted(p.name for p in good) == services
    assert {p.name for p in good} <= {p.name for p in bad}, "every good service has a bad twin"
    labelled = {label.service for label in labels}
    assert labelled == {p.name for p in bad}, "every bad service has labels"


def test_every_file_is_analysed(report: Any) -> None:
    assert report.errors == []


def test_every_labelled_category_reports_recall(report: Any) -> None:
    labelled = {label.category for label in score.load_labels(CORPUS)}
    assert {category: report.categories[category].labels for category in sorted(labelled)} == {
        "api-contract": 9,
        "concurrency": 9,
        "configuration": 18,
        "data-access": 7,
        "dependencies": 20,
        "deployment": 15,
        "error-handling": 7,
        "observability": 11,
        "performance": 22,
        "resilience": 18,
        "security": 46,
        "state": 8,
    }
    for category in labelled:
        assert 0.0 <= report.categories[category].recall <= 1.0


def test_recall_floor(report: Any) -> None:
    recall: float = report.recall
    missed = "\n".join(
        f"  {m.category:<14} {m.path}:{'/'.join(f'{lo}-{hi}' for lo, hi in m.ranges)}  {m.note}"
        for m in report.missed
    )
    assert recall >= RECALL_FLOOR, (
        f"recall {recall:.3f} ({len(report.found)}/{report.labels}) is below {RECALL_FLOOR};"
        f" missed labels:\n{missed}"
    )


def test_good_services_have_no_medium_or_higher_finding(report: Any) -> None:
    flagged: list[Any] = report.good_medium_plus
    listing = "\n".join(f"  {f.rule} {f.severity} {f.path}:{f.line} {f.message}" for f in flagged)
    assert not flagged, f"findings on production-grade code:\n{listing}"
