"""Score prodready, Bandit and Ruff on other tools' public rule test suites (issue 13).

Usage::

    python benchmarks/peers.py [--suites bandit,flake8_bandit,flake8_async]
                               [--ruff-source DIR] [--cache DIR] [--json FILE]

The suites are read at run time from outside this repository, never copied into it:

``bandit``
    The ``examples/`` of the Bandit sdist (``BANDIT_VERSION``, downloaded once from the package
    index into ``--cache``, default ``~/.cache/prodready-bench``, with the retries and sha256 check
    of ``run.py``). Bandit's own functional tests (``tests/functional/test_functional.py``) give
    the expected number of issues per example file, so a case is a file: positive when Bandit's
    test expects issues in it, negative when it expects none.
``flake8_bandit``, ``flake8_async``
    Ruff's fixtures (``crates/ruff_linter/resources/test/fixtures/<suite>/*.py``) and the
    snapshots that hold its expected diagnostics (``crates/ruff_linter/src/rules/<suite>/
    snapshots/``). Ruff's sdist ships neither, so these need ``--ruff-source``, a checkout of
    https://github.com/astral-sh/ruff. Only default-settings snapshots count (not ``preview__``,
    ``_extend``, ``_typed``). Cases at two granularities: a fixture file (positive when its
    snapshot expects a diagnostic), and each statement of a fixture (positive when a diagnostic
    is expected on one of its lines, negative when none is).

Every tool scans the suite directory once (run from inside it, configuration ignored):
``prodready scan . --isolated --no-cache --no-plugins --format json``, ``bandit -r . -f json``
(every default test) and ``ruff check --isolated --no-cache --select S,ASYNC --output-format
json .``. A positive case is detected, and a negative case is a false alarm, when the tool reports
a relevant finding in that file (on one of its lines, for a statement). For Bandit and Ruff every
finding is relevant. For prodready only a finding in the categories of the case's failure mode
counts (``categories_for``): security for Bandit's checks, error-handling for the
try/except/pass-or-continue ones, resilience for the request-without-timeout ones, performance,
concurrency or resilience for flake8-async -- its hygiene findings (print, metrics...) are not a
detection.

Exit 0 with the table; 2 with a one-line message when a suite cannot be obtained (offline, bad
``--ruff-source``) or a tool fails. Not a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BANDIT_VERSION = "1.9.4"
DEFAULT_CACHE = Path.home() / ".cache" / "prodready-bench"
RUFF_FIXTURES = Path("crates/ruff_linter/resources/test/fixtures")
RUFF_RULES = Path("crates/ruff_linter/src/rules")
SUITES = ("bandit", "flake8_bandit", "flake8_async")
TOOLS = ("prodready", "bandit", "ruff")
TOOL_TIMEOUT = 900.0
ANY = "*"  # a peer's finding: relevant to every case
SECURITY = frozenset({"security"})
ERROR_HANDLING = frozenset({"error-handling"})
RESILIENCE = frozenset({"resilience"})
ASYNC_CATEGORIES = frozenset({"performance", "concurrency", "resilience"})
# Bandit B110/B112 and Ruff S110/S112: an exception swallowed by pass/continue.
EXCEPTION_SWALLOWING = re.compile(r"try_except_(pass|continue)|^S11[02]\b")
# Bandit B113 and Ruff S113: an HTTP request without a timeout.
MISSING_TIMEOUT = re.compile(r"missing-timeout|^S113\b")
SNAPSHOT_LOCATION = re.compile(r"^\s*(?:-->\s+)?(?P<file>[^\s:]+\.pyi?):(?P<line>\d+):\d+")
# The snapshot of one rule on one fixture with default settings (not `preview__...`,
# `S108_extend`, `S110_typed`: those enable what a default `ruff check` does not run).
DEFAULT_SNAPSHOT = re.compile(r"__tests__(?P<code>[A-Z]+[0-9]+)_(?P<fixture>[^/]+\.py)\.snap$")


class PeerError(Exception):
    """A suite cannot be obtained or a tool cannot be run."""


@dataclass(frozen=True)
class Case:
    path: str  # relative to the suite directory, POSIX
    positive: bool
    categories: frozenset[str]  # prodready categories that count as detecting it
    lines: tuple[int, int] | None = None  # a statement's lines; None: the whole file

    def contains(self, line: int) -> bool:
        return self.lines is None or self.lines[0] <= line <= self.lines[1]


Reported = Mapping[str, Sequence[tuple[int, str]]]  # path -> (line, category) of each finding


@dataclass(frozen=True)
class ToolScore:
    positives: int
    detected: int
    negatives: int
    false_alarms: int

    @property
    def recall(self) -> float | None:
        return self.detected / self.positives if self.positives else None

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.negatives if self.negatives else None


def categories_for(suite: str, path: str) -> frozenset[str]:
    if suite == "flake8_async":
        return ASYNC_CATEGORIES
    name = Path(path).name
    if EXCEPTION_SWALLOWING.search(name):
        return ERROR_HANDLING
    if MISSING_TIMEOUT.search(name):
        return RESILIENCE
    return SECURITY


def is_hit(case: Case, reported: Reported) -> bool:
    """A finding in the case's file (on one of its lines, for a statement case) in one of its
    categories."""
    return any(
        case.contains(line) and (category == ANY or category in case.categories)
        for line, category in reported.get(case.path, ())
    )


def score(cases: Iterable[Case], reported: Reported) -> ToolScore:
    """``reported``: path -> (line, category) of each finding (category ``ANY`` for a peer's)."""
    positives = detected = negatives = false_alarms = 0
    for case in cases:
        hit = is_hit(case, reported)
        if case.positive:
            positives += 1
            detected += hit
        else:
            negatives += 1
            false_alarms += hit
    return ToolScore(positives, detected, negatives, false_alarms)


# -- Bandit's expectations ---------------------------------------------------------------------


def _evaluate(node: ast.expr, names: Mapping[str, Any]) -> Any:
    """A literal, where names bound earlier in the test function stand for their values."""

    class Substitute(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            if name.id in names:
                return ast.copy_location(ast.Constant(names[name.id]), name)
            return name

    return ast.literal_eval(Substitute().visit(ast.fix_missing_locations(node)))


def _expected_counts(function: ast.FunctionDef) -> list[tuple[str, int]]:
    """(example file, expected issues) of every check_example call with Bandit's default tests.

    Calls inside ``with self.with_test_set(...)`` (a restricted test set) or with
    ``ignore_nosec=True`` check another configuration and are left out."""
    names: dict[str, Any] = {}
    checks: list[tuple[str, int]] = []

    def walk(statements: Sequence[ast.stmt], default: bool) -> None:
        for statement in statements:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    try:
                        names[target.id] = _evaluate(statement.value, names)
                    except ValueError:
                        names.pop(target.id, None)
            elif isinstance(statement, ast.With):
                walk(statement.body, default=False)
            elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                call = statement.value
                func = call.func
                if not (isinstance(func, ast.Attribute) and func.attr == "check_example"):
                    continue
                if not default or any(k.arg == "ignore_nosec" for k in call.keywords):
                    continue
                try:
                    example = _evaluate(call.args[0], names)
                    expect = _evaluate(call.args[1], names)
                except (ValueError, IndexError):
                    continue
                checks.append((str(example), sum(expect["SEVERITY"].values())))

    walk(function.body, default=True)
    return checks


def bandit_cases(tree: Path) -> list[Case]:
    """One case per example file that Bandit's functional tests check with the default tests:
    positive when any such check expects issues in it."""
    source = tree / "tests" / "functional" / "test_functional.py"
    if not source.is_file() or not (tree / "examples").is_dir():
        raise PeerError(f"{tree} holds no tests/functional/test_functional.py and examples/")
    expected: dict[str, int] = {}
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for example, issues in _expected_counts(node):
                expected[example] = max(expected.get(example, 0), issues)
    return [
        Case(path, issues > 0, categories_for("bandit", path))
        for path, issues in sorted(expected.items())
        if (tree / "examples" / path).is_file()
    ]


# -- Ruff's expectations -----------------------------------------------------------------------


def ruff_expectations(source: Path, suite: str) -> dict[str, set[int]]:
    """Fixture -> lines of the diagnostics its default-settings snapshots expect."""
    fixtures = source / RUFF_FIXTURES / suite
    snapshots = source / RUFF_RULES / suite / "snapshots"
    if not fixtures.is_dir() or not snapshots.is_dir():
        raise PeerError(
            f"{source} is not a ruff checkout: no {RUFF_FIXTURES / suite} or"
            f" {RUFF_RULES / suite / 'snapshots'} (git clone https://github.com/astral-sh/ruff)"
        )
    expected: dict[str, set[int]] = {}
    for snapshot in sorted(snapshots.glob("*.snap")):
        default = DEFAULT_SNAPSHOT.search(snapshot.name)
        if default is None or not (fixtures / default["fixture"]).is_file():
            continue
        lines = expected.setdefault(default["fixture"], set())
        for text in snapshot.read_text(encoding="utf-8").splitlines():
            location = SNAPSHOT_LOCATION.match(text)
            if location and location["file"] == default["fixture"]:
                lines.add(int(location["line"]))
    return expected


def ruff_file_cases(source: Path, suite: str) -> list[Case]:
    """One case per ``.py`` fixture with a default-settings snapshot: positive when it expects a
    diagnostic."""
    return [
        Case(name, bool(lines), categories_for(suite, name))
        for name, lines in sorted(ruff_expectations(source, suite).items())
    ]


def statement_spans(source: str) -> list[tuple[int, int]]:
    """The lines of every statement: a simple statement whole, a compound one (and an ``except``
    clause) from its first decorator to the line before its body, so spans never nest."""
    spans: list[tuple[int, int]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt | ast.excepthandler):
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            spans.append((first, max(first, body[0].lineno - 1)))
        else:
            spans.append((first, node.end_lineno or node.lineno))
    return sorted(set(spans))


def ruff_statement_cases(source: Path, suite: str) -> list[Case]:
    """One case per statement of each fixture: positive when a diagnostic is expected on one of
    its lines, negative when none is (the peer's snapshot says that statement is clean)."""
    fixtures = source / RUFF_FIXTURES / suite
    cases: list[Case] = []
    for name, lines in sorted(ruff_expectations(source, suite).items()):
        categories = categories_for(suite, name)
        try:
            spans = statement_spans((fixtures / name).read_text(encoding="utf-8"))
        except SyntaxError:  # a fixture of invalid code: only the whole-file case counts
            continue
        for lo, hi in spans:
            positive = any(lo <= line <= hi for line in lines)
            cases.append(Case(name, positive, categories, (lo, hi)))
    return cases


# -- running the tools -------------------------------------------------------------------------


def _run(argv: Sequence[str], cwd: Path, ok: Iterable[int] = (0, 1)) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise PeerError(f"{argv[0]} timed out after {TOOL_TIMEOUT:g} s in {cwd}") from error
    except OSError as error:
        raise PeerError(f"cannot run {argv[0]}: {error}") from error
    if done.returncode not in set(ok):
        tail = done.stderr.strip()[-400:]
        raise PeerError(f"{' '.join(argv[:4])} exited {done.returncode} in {cwd}: {tail}")
    return done.stdout


def _relative(path: str, suite_dir: Path) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        candidate = candidate.resolve().relative_to(suite_dir.resolve())
    return candidate.as_posix().removeprefix("./")


def _json(text: str, tool: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PeerError(f"{tool} printed invalid JSON: {error}") from error


def _group(items: Iterable[tuple[str, int, str]]) -> dict[str, list[tuple[int, str]]]:
    grouped: dict[str, list[tuple[int, str]]] = {}
    for path, line, category in items:
        grouped.setdefault(path, []).append((line, category))
    return grouped


def prodready_reports(prodready: str, suite_dir: Path) -> dict[str, list[tuple[int, str]]]:
    command = [prodready, "-m", "prodready", "scan", ".", "--isolated", "--no-cache"]
    report = _json(
        _run([*command, "--no-plugins", "--format", "json"], suite_dir), "prodready scan"
    )
    return _group(
        (_relative(f["path"], suite_dir), int(f["line"]), str(f["category"]))
        for f in report.get("findings", [])
    )


def bandit_reports(bandit: str, suite_dir: Path) -> dict[str, list[tuple[int, str]]]:
    report = _json(_run([bandit, "-r", ".", "-f", "json", "-q"], suite_dir), "bandit")
    return _group(
        (_relative(r["filename"], suite_dir), int(r["line_number"]), ANY) for r in report["results"]
    )


def ruff_reports(ruff: str, suite_dir: Path) -> dict[str, list[tuple[int, str]]]:
    argv = [ruff, "check", "--isolated", "--no-cache", "--select", "S,ASYNC", "--exit-zero"]
    report = _json(_run([*argv, "--output-format", "json", "."], suite_dir, ok=(0,)), "ruff")
    return _group(
        (_relative(d["filename"], suite_dir), int(d["location"]["row"]), ANY) for d in report
    )


REPORTERS = {"prodready": prodready_reports, "bandit": bandit_reports, "ruff": ruff_reports}


# -- obtaining the suites ----------------------------------------------------------------------


def bandit_tree(cache: Path) -> Path:
    """The extracted Bandit sdist, downloaded on first use (``run.py``'s index client)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import BenchmarkError, Sdist, ensure_tree

    try:
        return ensure_tree(Sdist("bandit", "bandit", BANDIT_VERSION), cache)
    except BenchmarkError as error:
        raise PeerError(
            f"cannot obtain the bandit {BANDIT_VERSION} sdist (offline? set PIP_INDEX_URL to a"
            f" reachable index): {error}"
        ) from error


@dataclass(frozen=True)
class Suite:
    name: str  # the suite and the case granularity: "flake8_bandit/statements"
    directory: Path  # where the case files are; every tool runs here
    cases: list[Case]
    origin: str


def load_suites(name: str, cache: Path, ruff_source: Path | None) -> list[Suite]:
    if name == "bandit":
        tree = bandit_tree(cache)
        origin = f"bandit {BANDIT_VERSION} sdist"
        return [Suite("bandit/files", tree / "examples", bandit_cases(tree), origin)]
    if ruff_source is None:
        raise PeerError(
            f"the {name} suite needs --ruff-source (a ruff git checkout): Ruff's sdist ships"
            " neither its fixtures nor its snapshots"
        )
    directory = ruff_source / RUFF_FIXTURES / name
    origin = str(ruff_source)
    return [
        Suite(f"{name}/files", directory, ruff_file_cases(ruff_source, name), origin),
        Suite(f"{name}/statements", directory, ruff_statement_cases(ruff_source, name), origin),
    ]


def measure(
    suites: Sequence[Suite],
    tools: Mapping[str, str | None],
    scans: dict[tuple[str, Path], Reported],
) -> list[tuple[Suite, dict[str, ToolScore | str]]]:
    """Each tool scans each suite directory once (kept in ``scans``); every granularity is
    scored on that scan."""
    rows: list[tuple[Suite, dict[str, ToolScore | str]]] = []
    for suite in suites:
        results: dict[str, ToolScore | str] = {}
        for tool in TOOLS:
            executable = tools.get(tool)
            if executable is None:
                results[tool] = f"missing (pip install {tool})"
                continue
            key = (tool, suite.directory)
            if key not in scans:
                scans[key] = REPORTERS[tool](executable, suite.directory)
            results[tool] = score(suite.cases, scans[key])
        rows.append((suite, results))
    return rows


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(rows: Sequence[tuple[Suite, dict[str, ToolScore | str]]]) -> str:
    out = [
        f"{'suite':<25} {'tool':<10} {'positives':>9} {'detected':>8} {'recall':>6}"
        f" {'negatives':>9} {'alarms':>6} {'FA rate':>7}"
    ]
    for suite, results in rows:
        for tool, result in results.items():
            if isinstance(result, str):
                out.append(f"{suite.name:<25} {tool:<10} {result}")
                continue
            out.append(
                f"{suite.name:<25} {tool:<10} {result.positives:>9} {result.detected:>8}"
                f" {_rate(result.recall):>6} {result.negatives:>9} {result.false_alarms:>6}"
                f" {_rate(result.false_alarm_rate):>7}"
            )
    return "\n".join(out)


def _to_json(rows: Sequence[tuple[Suite, dict[str, ToolScore | str]]]) -> dict[str, Any]:
    return {
        suite.name: {
            "origin": suite.origin,
            "cases": [
                {
                    "path": c.path,
                    "lines": list(c.lines) if c.lines else None,
                    "positive": c.positive,
                    "categories": sorted(c.categories),
                }
                for c in suite.cases
            ],
            "tools": {
                tool: result
                if isinstance(result, str)
                else {
                    "positives": result.positives,
                    "detected": result.detected,
                    "recall": result.recall,
                    "negatives": result.negatives,
                    "false_alarms": result.false_alarms,
                    "false_alarm_rate": result.false_alarm_rate,
                }
                for tool, result in results.items()
            },
        }
        for suite, results in rows
    }


def listing(suite: Suite, reported: Reported) -> list[str]:
    """The cases a tool got wrong: missed positives and false alarms."""
    lines: list[str] = []
    for case in suite.cases:
        if case.positive == is_hit(case, reported):
            continue
        where = case.path if case.lines is None else f"{case.path}:{case.lines[0]}-{case.lines[1]}"
        lines.append(
            f"  {suite.name:<25} {'missed' if case.positive else 'false alarm':<11} {where}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated suites")
    parser.add_argument("--ruff-source", type=Path, help="a ruff git checkout")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download directory")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument(
        "--list", choices=TOOLS, metavar="TOOL", help="also list the cases TOOL got wrong"
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.suites.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)} (known: {', '.join(SUITES)})")
    try:
        suites = [
            suite
            for name in names
            for suite in load_suites(name, args.cache.expanduser(), args.ruff_source)
        ]
        for suite in suites:
            print(f"{suite.name}: {len(suite.cases)} cases from {suite.origin}", file=sys.stderr)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from run import find_tool

        tools = {
            "prodready": sys.executable,
            "bandit": find_tool("bandit"),
            "ruff": find_tool("ruff"),
        }
        scans: dict[tuple[str, Path], Reported] = {}
        rows = measure(suites, tools, scans)
    except PeerError as error:
        print(f"peers.py: error: {error}", file=sys.stderr)
        return 2
    print(format_table(rows))
    if args.list:
        print(f"\ncases {args.list} got wrong:")
        for suite in suites:
            reported = scans.get((args.list, suite.directory))
            if reported is not None:
                print("\n".join(listing(suite, reported)))
    if args.json:
        args.json.write_text(json.dumps(_to_json(rows), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
