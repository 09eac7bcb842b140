"""benchmarks/peers.py: how peer suites' expectations become cases, and how a tool is scored.

Synthetic suites in tmp_path only: the real suites (Bandit's sdist, a Ruff checkout) are read by
the benchmark at run time and never downloaded by the tests.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_peers", BENCHMARKS / "peers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


peers = _load_peers()


def test_score_counts_hits_in_the_case_categories_and_lines() -> None:
    security = frozenset({"security"})
    cases = [
        peers.Case("a.py", True, security),  # a file case: any line
        peers.Case("b.py", True, security),  # only a finding of another category
        peers.Case("c.py", False, security),  # a clean file with a security finding
        peers.Case("d.py", True, security, (3, 4)),  # a statement: a finding on line 4
        peers.Case("d.py", False, security, (5, 5)),  # a clean statement, nothing on line 5
        peers.Case("e.py", False, security),  # a peer's finding counts whatever the case
    ]
    reported = {
        "a.py": [(9, "security")],
        "b.py": [(1, "observability")],
        "c.py": [(2, "security")],
        "d.py": [(4, "security"), (6, "security")],
        "e.py": [(1, peers.ANY)],
    }
    result = peers.score(cases, reported)
    assert result == peers.ToolScore(positives=3, detected=2, negatives=3, false_alarms=2)
    assert (round(result.recall, 4), round(result.false_alarm_rate, 4)) == (0.6667, 0.6667)
    assert peers.ToolScore(0, 0, 0, 0).recall is None


def test_categories_follow_the_failure_mode() -> None:
    assert peers.categories_for("bandit", "yaml_load.py") == frozenset({"security"})
    assert peers.categories_for("bandit", "try_except_pass.py") == frozenset({"error-handling"})
    assert peers.categories_for("flake8_bandit", "S112.py") == frozenset({"error-handling"})
    assert peers.categories_for("bandit", "requests-missing-timeout.py") == frozenset(
        {"resilience"}
    )
    assert peers.categories_for("flake8_bandit", "S113.py") == frozenset({"resilience"})
    assert peers.categories_for("flake8_async", "ASYNC210.py") == frozenset(
        {"performance", "concurrency", "resilience"}
    )


def _expect(medium: int | str) -> str:
    return (
        f'{{"SEVERITY": {{"UNDEFINED": 0, "LOW": 0, "MEDIUM": {medium}, "HIGH": 0}},'
        f' "CONFIDENCE": {{"UNDEFINED": 0, "LOW": 0, "MEDIUM": {medium}, "HIGH": 0}}}}'
    )


def test_bandit_cases_come_from_the_functional_tests_default_checks(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    (examples / "sub").mkdir(parents=True)
    for name in ("eval.py", "okay.py", "named.py", "nosec.py", "profile.py", "sub/clean.py"):
        (examples / name).write_text("x = 1\n")
    functional = tmp_path / "tests" / "functional"
    functional.mkdir(parents=True)
    (functional / "test_functional.py").write_text(
        textwrap.dedent(
            f"""
            class FunctionalTests:
                def test_eval(self):
                    expect = {_expect(2)}
                    self.check_example("eval.py", expect)

                def test_okay(self):
                    expect = {_expect(0)}
                    self.check_example("okay.py", expect)
                    self.check_example("sub/clean.py", expect)

                def test_named(self):
                    example_file = "named.py"
                    issues = 3
                    expect = {_expect("issues")}
                    self.check_example(example_file, expect)

                def test_nosec(self):
                    expect = {_expect(0)}
                    self.check_example("nosec.py", expect)
                    expect = {_expect(1)}
                    self.check_example("nosec.py", expect, ignore_nosec=True)

                def test_profile(self):
                    expect = {_expect(0)}
                    with self.with_test_set(None):
                        self.check_example("profile.py", expect)

                def test_missing_file(self):
                    expect = {_expect(1)}
                    self.check_example("gone.py", expect)
            """
        )
    )
    security = frozenset({"security"})
    assert peers.bandit_cases(tmp_path) == [
        peers.Case("eval.py", True, security),
        peers.Case("named.py", True, security),
        peers.Case("nosec.py", False, security),
        peers.Case("okay.py", False, security),
        peers.Case("sub/clean.py", False, security),
    ]


def _ruff_source(tmp_path: Path) -> Path:
    fixtures = tmp_path / peers.RUFF_FIXTURES / "flake8_bandit"
    snapshots = tmp_path / peers.RUFF_RULES / "flake8_bandit" / "snapshots"
    fixtures.mkdir(parents=True)
    snapshots.mkdir(parents=True)
    (fixtures / "S307.py").write_text(
        "import os\n\n\ndef f(x):\n    eval(\n        x\n    )\n    return os.sep\n"
    )
    (fixtures / "S999.py").write_text("x = 1\n")
    (fixtures / "S500.py").write_text("y = 2\n")  # only a preview snapshot: no case
    prefix = "ruff_linter__rules__flake8_bandit__tests__"
    (snapshots / f"{prefix}S307_S307.py.snap").write_text(
        "---\nsource: x\n---\nS307 eval\n --> S307.py:6:5\n  |\n5 |     eval(\n"
    )
    (snapshots / f"{prefix}S999_S999.py.snap").write_text("---\nsource: x\n---\n\n")
    (snapshots / f"{prefix}preview__S500_S500.py.snap").write_text("S500.py:1:1: S500 y\n")
    (snapshots / f"{prefix}S307_extend.snap").write_text("S307.py:8:5: S307 extended\n")
    return tmp_path


def test_ruff_cases_read_default_snapshots_per_file_and_per_statement(tmp_path: Path) -> None:
    source = _ruff_source(tmp_path)
    security = frozenset({"security"})
    assert peers.ruff_expectations(source, "flake8_bandit") == {"S307.py": {6}, "S999.py": set()}
    assert peers.ruff_file_cases(source, "flake8_bandit") == [
        peers.Case("S307.py", True, security),
        peers.Case("S999.py", False, security),
    ]
    assert peers.ruff_statement_cases(source, "flake8_bandit") == [
        peers.Case("S307.py", False, security, (1, 1)),  # import os
        peers.Case("S307.py", False, security, (4, 4)),  # the def line
        peers.Case("S307.py", True, security, (5, 7)),  # the three-line eval call
        peers.Case("S307.py", False, security, (8, 8)),  # only the -extend snapshot flags it
        peers.Case("S999.py", False, security, (1, 1)),
    ]


def test_a_directory_that_is_no_ruff_checkout_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(peers.PeerError) as caught:
        peers.ruff_file_cases(tmp_path, "flake8_async")
    assert str(caught.value) == (
        f"{tmp_path} is not a ruff checkout: no"
        " crates/ruff_linter/resources/test/fixtures/flake8_async or"
        " crates/ruff_linter/src/rules/flake8_async/snapshots"
        " (git clone https://github.com/astral-sh/ruff)"
    )


def test_ruff_suites_without_a_source_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert peers.main(["--suites", "flake8_async"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "peers.py: error: the flake8_async suite needs --ruff-source (a ruff git checkout):"
        " Ruff's sdist ships neither its fixtures nor its snapshots\n"
    )
