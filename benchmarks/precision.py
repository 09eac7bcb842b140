"""Precision on real applications: today's findings against the reviewers' verdicts.

`benchmarks/precision/<application>-<version>.json` are the project's precision record (issue
12): for each application, every high+ finding and a 30-finding medium sample of a first-look
scan, each read against the code and judged TP / debatable / FP with one line of why. This
script scans the same application trees again and prints, per application: high+ and medium
findings (and per thousand lines of service code), findings by code role, the precision of the
current high+ findings that were reviewed (debatable counted as FP), and every high+ finding
no reviewer has seen yet -- those need a verdict before the figure means anything -- and the
reviewed true positives that no longer fire at the severity they were judged at (lowered or
gone from their line): precision bought by losing those is not progress.
`precision/later/<application>-<version>-at-<commit>.json` are later reviews of the same
applications (a re-scan at a later commit: every high+ finding and a new 30-finding medium sample,
verdicts of the first look reused); their verdicts are added for findings the first look never saw.
A later entry with ``"moved_from": <line>`` (or a list of lines) re-locates an earlier-reviewed
finding of the same rule and path: the same defect, still reported in the same function, now
sits on the entry's line (a rule that moved its finding to the write that splits the change);
the earlier true positive counts as kept when the finding fires there.

    python benchmarks/precision.py --apps DIR [--only pretix,mlflow] [--json FILE] [--list-medium]

`--list-medium` also lists the reviewed medium findings judged FP or debatable that still fire
(sorted by rule, then verdict and cause): the work list for medium precision.

The application trees are not in this repository (they are other people's code): put each where
`--apps` points, in a directory whose name starts with the application's name as the verdict
file spells it (`pretix-2026.8.0/`, `django_oscar-4.2.1/`, `healthchecks/`), from the source the
verdict file names (`source`). It is not a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

VERDICTS = Path(__file__).resolve().parent / "precision"
LATER_REVIEWS = VERDICTS / "later"
HIGH = {"critical", "high"}
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
SCAN_TIMEOUT_S = 1800
Key = tuple[str, str, int]


def scan(tree: Path) -> dict[str, Any]:
    """As a new user scans: from the application's root, with no configuration of ours."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        argv = [sys.executable, "-m", "prodready", "scan", ".", "--no-cache"]
        argv += ["--format", "json", "-o", str(report)]
        done = subprocess.run(
            argv, cwd=tree, timeout=SCAN_TIMEOUT_S, check=False, capture_output=True, text=True
        )
        if not report.is_file():
            # The scanner crashed before writing its report: say so with its own words.
            reason = done.stderr[-2000:]
            raise SystemExit(f"precision.py: scanning {tree} wrote no report:\n{reason}")
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data


@functools.cache
def _catalog_redirects() -> dict[str, str]:
    from prodready.catalog import default_registry

    return dict(default_registry(plugins=False).redirects)


def with_redirects(record: dict[str, Any]) -> dict[str, Any]:
    """A verdict given under a code the catalog has since moved (CON001 -> PRF016: Ruff-style
    redirects) judges the finding the rule now reports under its new code."""
    redirects = _catalog_redirects()
    for verdict in record["verdicts"]:
        verdict["rule"] = redirects.get(verdict["rule"], verdict["rule"])
    return record


def with_later_reviews(record: dict[str, Any]) -> dict[str, Any]:
    """Add the verdicts of later reviews of the same application (``precision/later/``: a re-scan
    at a later commit, judged the same way) for findings the first look never saw. Where both
    judged a finding, the first look's verdict stands; its summary stays the first-look figure."""
    seen = {(v["rule"], v["path"], v["line"]) for v in record["verdicts"]}
    for path in sorted(LATER_REVIEWS.glob("*.json")):
        later = with_redirects(json.loads(path.read_text(encoding="utf-8")))
        if later["application"] != record["application"]:
            continue
        for verdict in later["verdicts"]:
            key = (verdict["rule"], verdict["path"], verdict["line"])
            if key not in seen:
                seen.add(key)
                record["verdicts"].append(verdict)
    return record


def tree_of(record: dict[str, Any], apps: Path) -> Path | None:
    names = {record["application"].lower(), record["application"].lower().replace("-", "_")}
    for candidate in sorted(apps.iterdir()):
        lowered = candidate.name.lower()
        if candidate.is_dir() and any(lowered.startswith(name) for name in names):
            return candidate
    return None


def _precision(verdicts: Counter[str]) -> float | None:
    judged = verdicts["TP"] + verdicts["debatable"] + verdicts["FP"]
    return round(verdicts["TP"] / judged, 2) if judged else None


def measure(record: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    judged: dict[Key, str] = {
        (v["rule"], v["path"], v["line"]): v["verdict"] for v in record["verdicts"]
    }
    findings = report["findings"]
    high = [f for f in findings if f["severity"] in HIGH]
    medium = [f for f in findings if f["severity"] == "medium"]
    high_verdicts = Counter(
        judged.get((f["rule"], f["path"], f["line"]), "unreviewed") for f in high
    )
    medium_verdicts = Counter(
        judged[key] for f in medium if (key := (f["rule"], f["path"], f["line"])) in judged
    )
    service_kloc = record["kloc"]["service"]
    return {
        "application": f"{record['application']} {record['version']}",
        "high_plus": len(high),
        "medium": len(medium),
        "high_plus_per_service_kloc": round(len(high) / service_kloc, 3) if service_kloc else None,
        "by_role": dict(Counter(f"{f.get('role', 'service')}/{f['severity']}" for f in findings)),
        "high_plus_verdicts": dict(high_verdicts),
        "high_plus_precision": _precision(high_verdicts),
        "medium_sample_precision": _precision(medium_verdicts),
        "unreviewed_high_plus": sorted(
            f"{f['rule']} {f['path']}:{f['line']}"
            for f in high
            if (f["rule"], f["path"], f["line"]) not in judged
        ),
        "medium_still_firing": sorted(
            f"{v['rule']} [{v['verdict']}/{v.get('cause', '?')}] {v['path']}:{v['line']}"
            for v in record["verdicts"]
            if v["sample"] == "medium"
            and v["verdict"] != "TP"
            and (v["rule"], v["path"], v["line"])
            in {(f["rule"], f["path"], f["line"]) for f in medium}
        ),
        "true_positives_lost": _true_positives_lost(record, findings),
        "errors": len(report["errors"]),
        "first_look": record["summary"],
    }


_FURTHER_SINKS = re.compile(r"The same value reaches \d+ more sinks? in .*?: lines? ([\d, ]+)\.$")


def _true_positives_lost(record: dict[str, Any], findings: list[dict[str, Any]]) -> list[str]:
    """Reviewed TPs not reported on their line at (at least) the severity they were judged at:
    'lowered to low', or 'not on this line' (gone, or reported elsewhere after a line move)."""
    reported: dict[Key, int] = {}
    for finding in findings:
        rank = SEVERITY_RANK.get(finding["severity"], 0)
        # A taint finding names the further sinks of its flow (engine/taint/flow_groups.py):
        # those lines are reported by it.
        grouped = _FURTHER_SINKS.search(finding.get("message", ""))
        further = [int(n) for n in grouped.group(1).split(", ")] if grouped else []
        for line in [finding["line"], *further]:
            key = (finding["rule"], finding["path"], line)
            reported[key] = max(reported.get(key, -1), rank)
    moved: dict[Key, Key] = {}
    for verdict in record["verdicts"]:
        before = verdict.get("moved_from", [])
        for line in before if isinstance(before, list) else [before]:
            moved[(verdict["rule"], verdict["path"], line)] = (
                verdict["rule"],
                verdict["path"],
                verdict["line"],
            )
    lost = []
    seen: set[Key] = set()
    for verdict in record["verdicts"]:
        key = (verdict["rule"], verdict["path"], verdict["line"])
        if verdict["verdict"] != "TP" or key in seen:
            continue
        seen.add(key)
        now = reported.get(key)
        if now is None and key in moved:
            now = reported.get(moved[key])  # the same finding, re-located in its function
        if now is not None and now >= SEVERITY_RANK.get(verdict["severity"], 0):
            continue
        where = f"{verdict['rule']} {verdict['path']}:{verdict['line']} ({verdict['severity']})"
        names = {rank: name for name, rank in SEVERITY_RANK.items()}
        lost.append(
            f"{where}: " + (f"lowered to {names[now]}" if now is not None else "not on this line")
        )
    return sorted(lost)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=Path, required=True, help="where the application trees are")
    parser.add_argument("--only", default="", help="comma-separated application names")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--list-medium",
        action="store_true",
        help="list the reviewed medium FP/debatable findings that still fire, by rule and cause",
    )
    arguments = parser.parse_args()
    wanted = {name.strip().lower() for name in arguments.only.split(",") if name.strip()}
    results = []
    for path in sorted(VERDICTS.glob("*.json")):
        record = with_later_reviews(with_redirects(json.loads(path.read_text(encoding="utf-8"))))
        if wanted and record["application"].lower() not in wanted:
            continue
        tree = tree_of(record, arguments.apps)
        if tree is None:
            print(f"{record['application']}: no tree under {arguments.apps}", file=sys.stderr)
            continue
        try:
            report = scan(tree)
        except SystemExit as crash:  # one crashed scan must not lose the other applications
            print(crash, file=sys.stderr)
            continue
        results.append(measure(record, report))
    for result in results:
        first = result["first_look"]["high_plus"]
        print(
            f"{result['application']}: high+ {result['high_plus']} "
            f"({result['high_plus_per_service_kloc']}/kLOC), medium {result['medium']}; "
            f"high+ precision {result['high_plus_precision']} "
            f"(first look {first['precision']}), medium sample "
            f"{result['medium_sample_precision']}; verdicts {result['high_plus_verdicts']}"
        )
        for finding in result["unreviewed_high_plus"]:
            print(f"  unreviewed: {finding}")
        if result["true_positives_lost"]:
            print(f"  reviewed true positives lost: {len(result['true_positives_lost'])}")
        for entry in result["true_positives_lost"]:
            print(f"  true positive lost: {entry}")
        if arguments.list_medium:
            for entry in result["medium_still_firing"]:
                print(f"  medium still firing: {entry}")
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
