"""Findings on well-written public code: how many prodready reports per thousand lines.

Precision is judged on code the rules were not written from. This scans the same pinned trees
the speed benchmark uses (Django, requests, Flask, httpx, FastAPI, SQLAlchemy -- downloaded by
``run.py`` into ``benchmarks/.work/``) with the full catalog and prints, per tree, findings per
thousand lines at ``high`` and above and overall, plus every high+ finding so each can be
reviewed. Well-written libraries should produce (almost) nothing; every finding printed here is
either a real production risk or a rule bug to fix.

    python benchmarks/findings.py [--trees django,flask] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import SDIST_BY_KEY, SDISTS, count_python, ensure_tree

HIGH = {"critical", "high"}
SCAN_TIMEOUT_S = 1200


def scan(tree: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        argv = [sys.executable, "-m", "prodready", "scan", ".", "--root", ".", "--isolated"]
        argv += ["--no-cache", "--format", "json", "-o", str(report)]
        subprocess.run(argv, cwd=tree, timeout=SCAN_TIMEOUT_S, check=False, capture_output=True)
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data


def summarise(key: str, tree: Path) -> dict[str, Any]:
    _, lines = count_python(tree)
    report = scan(tree)
    findings = report["findings"]
    high = [f for f in findings if f["severity"] in HIGH]
    kloc = max(lines / 1000, 1e-9)
    return {
        "tree": key,
        "lines": lines,
        "files": report["summary"]["files"],
        "findings": len(findings),
        "high": len(high),
        "high_per_kloc": len(high) / kloc,
        "all_per_kloc": len(findings) / kloc,
        "by_rule": dict(Counter(f["rule"] for f in findings).most_common()),
        "high_findings": [
            {k: f[k] for k in ("rule", "path", "line", "severity", "message")} for f in high
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default=",".join(s.key for s in SDISTS))
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / ".work")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for key in [k.strip() for k in args.trees.split(",") if k.strip()]:
        tree = ensure_tree(SDIST_BY_KEY[key], args.workdir)
        rows.append(summarise(key, tree))
    print(
        f"{'tree':<12}{'lines':>9}{'files':>7}{'all':>6}{'high+':>7}{'high+/KLOC':>12}{'all/KLOC':>10}"
    )
    for row in rows:
        print(
            f"{row['tree']:<12}{row['lines']:>9}{row['files']:>7}{row['findings']:>6}"
            f"{row['high']:>7}{row['high_per_kloc']:>12.3f}{row['all_per_kloc']:>10.3f}"
        )
    for row in rows:
        if row["by_rule"]:
            print(f"\n{row['tree']}: {row['by_rule']}")
        for finding in row["high_findings"]:
            print(f"  {finding['rule']} {finding['path']}:{finding['line']}  {finding['message']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
