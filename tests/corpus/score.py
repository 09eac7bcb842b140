"""Score prodready against the evaluation corpus: recall on labelled defects, false positives.

The corpus was written from how AI-written services fail in production, not from the rules:

- ``bad/<service>/``: realistic services with planted defects, each listed in
  ``bad/<service>/labels.toml`` (file, inclusive line range(s), category, anchor, note);
- ``good/<service>/``: production-grade counterparts that must produce no finding at medium or
  above (low-severity hygiene findings are allowed and counted).

Each service is scanned on its own (it is its own project: project-level rules such as "no health
endpoint" must not see a neighbour's routes), with paths reported relative to the corpus
directory. A finding matches a label when it is in the same file, has the same category and its
line is inside one of the label's ranges; labels and findings are paired one-to-one (maximum
bipartite matching), so one finding never counts for two planted defects. Every unmatched
finding on the bad side is a false positive -- including a second finding on an already-found
defect (noise is noise); those are marked "overlaps" in the listing so a reviewer can tell a
second rule on the same defect from a different defect on the same line.

Recall is reported twice: strictly (the headline: file, category and line must all match) and
leniently ("any category": file and line must match, the category need not), the two figures
issue 13 gives for a corpus. The lenient pairing is its own one-to-one matching; it changes
nothing else in the report.

    python tests/corpus/score.py [--json FILE] [--corpus DIR]

Always exits 0: this is a report; tests/rules/test_corpus.py enforces the floor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent
CATEGORIES: tuple[str, ...] = (
    "resilience",
    "error-handling",
    "security",
    "observability",
    "data-access",
    "concurrency",
    "state",
    "api-contract",
    "configuration",
    "deployment",
    "dependencies",
    "performance",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SCAN_TIMEOUT_SECONDS = 300


class CorpusError(Exception):
    """The corpus or the scan output is unusable (bad labels, scanner crash, timeout)."""


@dataclass(frozen=True)
class Label:
    service: str
    file: str
    ranges: tuple[tuple[int, int], ...]
    category: str
    note: str
    anchor: str | None = None

    @property
    def path(self) -> str:
        """Path relative to the corpus directory, as the scanner reports it."""
        return f"bad/{self.service}/{self.file}"

    @property
    def first_line(self) -> int:
        return self.ranges[0][0]

    def covers(self, finding: Finding, *, any_category: bool = False) -> bool:
        return (
            finding.path == self.path
            and (any_category or finding.category == self.category)
            and any(lo <= finding.line <= hi for lo, hi in self.ranges)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "lines": [list(r) for r in self.ranges],
            "category": self.category,
            "note": self.note,
        }


@dataclass(frozen=True)
class Finding:
    rule: str
    name: str
    category: str
    severity: str
    confidence: str
    path: str
    line: int
    message: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=str(data["rule"]),
            name=str(data.get("name", "")),
            category=str(data["category"]),
            severity=str(data["severity"]),
            confidence=str(data.get("confidence", "")),
            path=str(data["path"]),
            line=int(data["line"]),
            message=str(data.get("message", "")),
        )

    @property
    def at_least_medium(self) -> bool:
        return SEVERITIES.index(self.severity) >= SEVERITIES.index("medium")

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "category": self.category,
            "severity": self.severity,
            "confidence": self.confidence,
            "path": self.path,
            "line": self.line,
            "message": self.message,
        }


@dataclass
class CategoryScore:
    labels: int = 0
    found: int = 0
    false_positives: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        reported = self.found + self.false_positives
        return self.found / reported if reported else 1.0


@dataclass
class Report:
    categories: dict[str, CategoryScore]
    found: list[tuple[Label, Finding]]
    missed: list[Label]
    false_positives: list[Finding]
    overlapping: dict[Finding, Label]
    good_medium_plus: list[Finding]
    good_low: list[Finding]
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Labels found when the category need not match (a separate one-to-one matching).
    found_any_category: int = 0

    @property
    def labels(self) -> int:
        return len(self.found) + len(self.missed)

    @property
    def recall(self) -> float:
        return len(self.found) / self.labels if self.labels else 1.0

    @property
    def recall_any_category(self) -> float:
        return self.found_any_category / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        reported = len(self.found) + len(self.false_positives)
        return len(self.found) / reported if reported else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "recall": round(self.recall, 4),
            "recall_any_category": round(self.recall_any_category, 4),
            "found_any_category": self.found_any_category,
            "precision": round(self.precision, 4),
            "labels": self.labels,
            "found": len(self.found),
            "categories": {
                name: {
                    "labels": score.labels,
                    "found": score.found,
                    "recall": round(score.recall, 4),
                    "false_positives": score.false_positives,
                }
                for name, score in self.categories.items()
            },
            "missed": [label.to_json() for label in self.missed],
            "false_positives": [
                {**f.to_json(), "overlaps": self.overlapping[f].note}
                if f in self.overlapping
                else f.to_json()
                for f in self.false_positives
            ],
            "good": {
                "medium_plus": [f.to_json() for f in self.good_medium_plus],
                "low": len(self.good_low),
                "low_findings": [f.to_json() for f in self.good_low],
            },
            "errors": self.errors,
        }


# -- labels -----------------------------------------------------------------------------------


def _parse_ranges(raw: object) -> tuple[tuple[int, int], ...]:
    """``[a, b]`` or ``[[a, b], [c, d], ...]`` -> ((a, b), ...); ValueError when malformed."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("lines must be [first, last] or a list of such ranges")
    items = raw if all(isinstance(item, list) for item in raw) else [raw]
    ranges: list[tuple[int, int]] = []
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in item)
        ):
            raise ValueError(f"bad line range {item!r}")
        lo, hi = item
        if not 1 <= lo <= hi:
            raise ValueError(f"bad line range {item!r}")
        ranges.append((lo, hi))
    return tuple(ranges)


def load_labels(corpus_dir: Path = CORPUS_DIR) -> list[Label]:
    """Every label of every bad service, validated against the files it points into."""
    labels: list[Label] = []
    problems: list[str] = []
    for labels_file in sorted((corpus_dir / "bad").glob("*/labels.toml")):
        service_dir = labels_file.parent
        with labels_file.open("rb") as handle:
            data = tomllib.load(handle)
        for index, entry in enumerate(data.get("defect", []), start=1):
            where = f"{labels_file.relative_to(corpus_dir)} defect #{index}"
            try:
                label = Label(
                    service=service_dir.name,
                    file=str(entry["file"]),
                    ranges=_parse_ranges(entry["lines"]),
                    category=str(entry["category"]),
                    note=str(entry["note"]),
                    anchor=str(entry["anchor"]) if "anchor" in entry else None,
                )
            except (KeyError, ValueError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            problems.extend(f"{where}: {p}" for p in _check_label(label, service_dir))
            labels.append(label)
    if problems:
        raise CorpusError("invalid labels:\n  " + "\n  ".join(problems))
    return labels


def _check_label(label: Label, service_dir: Path) -> list[str]:
    if label.category not in CATEGORIES:
        return [f"unknown category {label.category!r}"]
    target = service_dir / label.file
    if not target.is_file():
        return [f"no such file {label.file}"]
    lines = target.read_text(encoding="utf-8").splitlines()
    if max(hi for _, hi in label.ranges) > len(lines):
        return [f"range beyond the end of {label.file} ({len(lines)} lines)"]
    if label.anchor is not None and label.anchor not in lines[label.first_line - 1]:
        return [
            f"anchor {label.anchor!r} is not on line {label.first_line} of {label.file}"
            " (the file changed: update the label)"
        ]
    return []


# -- scanning ---------------------------------------------------------------------------------


def services(corpus_dir: Path, side: str) -> list[Path]:
    side_dir = corpus_dir / side
    if not side_dir.is_dir():
        return []
    return sorted(p for p in side_dir.iterdir() if p.is_dir())


def scan_service(
    service_dir: Path, corpus_dir: Path, timeout: float = SCAN_TIMEOUT_SECONDS
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Scan one service as its own project; paths come back relative to ``corpus_dir``."""
    command = [
        sys.executable,
        "-m",
        "prodready",
        "scan",
        str(service_dir),
        "--isolated",
        "--no-cache",
        "--no-plugins",
        "--format",
        "json",
        "--root",
        str(corpus_dir),
        "-j",
        "1",
    ]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CorpusError(f"scan of {service_dir} timed out after {timeout} s") from exc
    if proc.returncode not in (0, 1):
        raise CorpusError(f"scan of {service_dir} exited {proc.returncode}:\n{proc.stderr.strip()}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"scan of {service_dir} (exit {proc.returncode}) printed invalid JSON ({exc}):\n"
            + proc.stderr.strip()[-2000:]
        ) from exc
    findings = [Finding.from_json(item) for item in data.get("findings", [])]
    return findings, list(data.get("errors", []))


def scan_side(
    corpus_dir: Path, side: str, timeout: float = SCAN_TIMEOUT_SECONDS
) -> tuple[list[Finding], list[dict[str, Any]]]:
    findings: list[Finding] = []
    errors: list[dict[str, Any]] = []
    for service_dir in services(corpus_dir, side):
        service_findings, service_errors = scan_service(service_dir, corpus_dir, timeout)
        findings += service_findings
        errors += service_errors
    findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return findings, errors


# -- matching ---------------------------------------------------------------------------------


def match(
    labels: Sequence[Label], findings: Sequence[Finding], *, any_category: bool = False
) -> dict[int, int]:
    """Maximum one-to-one matching label index -> finding index (Kuhn's augmenting paths)."""
    candidates = [
        [j for j, f in enumerate(findings) if label.covers(f, any_category=any_category)]
        for label in labels
    ]
    owner: dict[int, int] = {}  # finding index -> label index

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(labels)):
        augment(i, set())
    return {i: j for j, i in owner.items()}


def evaluate(
    labels: Sequence[Label],
    bad_findings: Sequence[Finding],
    good_findings: Sequence[Finding],
    errors: Iterable[dict[str, Any]] = (),
) -> Report:
    pairs = match(labels, bad_findings)
    matched = set(pairs.values())
    categories = {name: CategoryScore() for name in CATEGORIES}
    found: list[tuple[Label, Finding]] = []
    missed: list[Label] = []
    for i, label in enumerate(labels):
        categories[label.category].labels += 1
        if i in pairs:
            categories[label.category].found += 1
            found.append((label, bad_findings[pairs[i]]))
        else:
            missed.append(label)
    false_positives: list[Finding] = []
    overlapping: dict[Finding, Label] = {}
    for j, finding in enumerate(bad_findings):
        if j in matched:
            continue
        false_positives.append(finding)
        if finding.category in categories:
            categories[finding.category].false_positives += 1
        overlap = next((label for label in labels if label.covers(finding)), None)
        if overlap is not None:
            overlapping[finding] = overlap
    return Report(
        categories=categories,
        found=found,
        missed=missed,
        false_positives=false_positives,
        overlapping=overlapping,
        good_medium_plus=[f for f in good_findings if f.at_least_medium],
        good_low=[f for f in good_findings if not f.at_least_medium],
        errors=list(errors),
        found_any_category=len(match(labels, bad_findings, any_category=True)),
    )


def score(corpus_dir: Path = CORPUS_DIR, timeout: float = SCAN_TIMEOUT_SECONDS) -> Report:
    labels = load_labels(corpus_dir)
    bad, bad_errors = scan_side(corpus_dir, "bad", timeout)
    good, good_errors = scan_side(corpus_dir, "good", timeout)
    return evaluate(labels, bad, good, bad_errors + good_errors)


# -- output -----------------------------------------------------------------------------------


def _finding_line(f: Finding, width: int = 160) -> str:
    message = f.message if len(f.message) <= width else f.message[: width - 3] + "..."
    return f"  {f.rule:<7} {f.severity:<8} {f.path}:{f.line}  {message}"


def _by_rule(findings: Iterable[Finding]) -> str:
    counts = Counter(f"{f.rule} ({f.severity})" for f in findings)
    return ", ".join(f"{rule} x{n}" for rule, n in sorted(counts.items())) or "-"


def format_report(report: Report) -> str:
    out: list[str] = []
    out.append(f"{'category':<15} {'labels':>6} {'found':>6} {'recall':>7} {'FP':>4}")
    for name, cat in report.categories.items():
        if cat.labels or cat.false_positives:
            recall = f"{cat.recall:.2f}" if cat.labels else "-"
            out.append(
                f"{name:<15} {cat.labels:>6} {cat.found:>6} {recall:>7} {cat.false_positives:>4}"
            )
    out.append(
        f"{'overall':<15} {report.labels:>6} {len(report.found):>6} {report.recall:>7.3f}"
        f" {len(report.false_positives):>4}"
    )
    out.append(
        f"{'any category':<15} {report.labels:>6} {report.found_any_category:>6}"
        f" {report.recall_any_category:>7.3f}    -   (file and line match, category need not)"
    )
    medium_plus = sum(f.at_least_medium for f in report.false_positives)
    out.append(
        f"\nprecision on the bad side: {report.precision:.3f}"
        f" ({len(report.false_positives)} false positives, {medium_plus} at medium or above)"
    )
    out.append(f"false positives by rule: {_by_rule(report.false_positives)}")
    out.append(f"\nmissed labels ({len(report.missed)}):")
    out += [
        f"  {m.category:<14} {m.path}:{'/'.join(f'{lo}-{hi}' for lo, hi in m.ranges)}  {m.note}"
        for m in report.missed
    ]
    out.append(
        f"\nfalse positives on the bad side ({len(report.false_positives)}; 'overlaps' = inside"
        " the range of an already-found label: a second rule on that defect or another defect"
        " on the same line):"
    )
    for f in report.false_positives:
        out.append(_finding_line(f))
        if f in report.overlapping:
            out.append(f"          overlaps: {report.overlapping[f].note}")
    out.append(f"\ngood side, findings at medium or above ({len(report.good_medium_plus)}):")
    out += [_finding_line(f) for f in report.good_medium_plus]
    out.append(f"\ngood side, low findings: {len(report.good_low)} -- {_by_rule(report.good_low)}")
    out += [_finding_line(f) for f in report.good_low]
    if report.errors:
        out.append(f"\nfiles that could not be analysed ({len(report.errors)}):")
        out += [f"  {json.dumps(e)}" for e in report.errors]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report here")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="corpus directory")
    parser.add_argument("--timeout", type=float, default=SCAN_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    try:
        report = score(args.corpus.resolve(), args.timeout)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 0
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
