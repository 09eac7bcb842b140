"""Record or compare the findings of `prodready scan` on fixed inputs (issue 11: a restructure
must not change behaviour).

    python benchmarks/snapshot.py record benchmarks/snapshots/before-issue-11.json
    python benchmarks/snapshot.py compare benchmarks/snapshots/before-issue-11.json

Inputs: `tests/corpus`, `examples/` and the Django 5.1.4 sdist that `run.py` downloads (into
`benchmarks/.work/`). Each finding is kept as (rule, path, line, column, fingerprint). `compare`
prints what appeared and what disappeared per input and exits 1 when anything differs. It is not
a test: pytest never collects it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import SDIST_BY_KEY, ensure_tree

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / "benchmarks" / ".work"
Key = tuple[str, str, int, int, str]
SCAN = [sys.executable, "-m", "prodready", "scan", ".", "--format", "json", "--no-cache"]


def inputs() -> dict[str, Path]:
    return {
        "tests/corpus": ROOT / "tests" / "corpus",
        "examples": ROOT / "examples",
        "django-5.1.4": ensure_tree(SDIST_BY_KEY["django"], WORKDIR),
    }


def findings_of(tree: Path) -> list[Key]:
    completed = subprocess.run(
        # tests/corpus/blind1 and blind2 joined the corpus after the snapshots were recorded
        # (issue 13).
        [*SCAN, "--exclude", "blind1/", "--exclude", "blind2/"] if tree.name == "corpus" else SCAN,
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode not in (0, 1):
        raise SystemExit(f"prodready failed on {tree}:\n{completed.stderr}")
    report = json.loads(completed.stdout)
    return sorted(
        (f["rule"], f["path"], f["line"], f["column"], f["fingerprint"]) for f in report["findings"]
    )


def record(path: Path) -> None:
    snapshot = {name: findings_of(tree) for name, tree in inputs().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot, indent=0) + "\n", encoding="utf-8")
    for name, found in snapshot.items():
        print(f"{name}: {len(found)} findings")


def _redirected(item: list[Any], redirects: dict[str, str]) -> Key:
    """A recorded finding under the code its rule has now (a rule moved to another category
    keeps its fingerprints; only the code it is reported under changed)."""
    rule, path, line, column, fingerprint = item
    return (redirects.get(rule, rule), path, line, column, fingerprint)


def compare(path: Path) -> int:
    from prodready.catalog import default_registry

    redirects = default_registry(plugins=False).redirects
    before = json.loads(path.read_text(encoding="utf-8"))
    differs = False
    for name, tree in inputs().items():
        old = Counter(_redirected(item, redirects) for item in before.get(name, []))
        new = Counter(findings_of(tree))
        gone, added = old - new, new - old
        print(f"{name}: {sum(old.values())} before, {sum(new.values())} now")
        for key in sorted(gone):
            print(f"  - {key}")
        for key in sorted(added):
            print(f"  + {key}")
        differs |= bool(gone or added)
    return 1 if differs else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("snapshot", type=Path)
    arguments = parser.parse_args()
    if arguments.action == "record":
        record(arguments.snapshot)
        return 0
    return compare(arguments.snapshot)


if __name__ == "__main__":
    sys.exit(main())
