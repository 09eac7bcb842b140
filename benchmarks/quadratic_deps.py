"""Time DEP011 (unused runtime dependency) on projects that declare thousands of dependencies.

Issue 10 #13: the rule rebuilt the set of sibling declarations for every declaration, so its
cost grew with the square of the number of dependencies (4,000: 9 s; 20,000: over 60 s). This
script writes such a project (one requirements.txt with N distinct, unused dependencies and one
module that imports nothing) and times ``prodready deps --offline --isolated --no-cache`` on it
in a fresh interpreter. It is not a test and never fails a build.

    python3 benchmarks/quadratic_deps.py                 # 4,000 and 20,000 dependencies
    python3 benchmarks/quadratic_deps.py --sizes 1000,4000 --timeout 120
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_project(root: Path, count: int) -> None:
    """N unused runtime dependencies, none of them known companions or plugins, and one module
    so that the scope has code to judge them against."""
    lines = [f"bench-dependency-{index}==1.0.{index % 10}" for index in range(count)]
    (root / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "app.py").write_text("def handler() -> int:\n    return 1\n", encoding="utf-8")


def time_deps(root: Path, timeout_s: float) -> str:
    command = [sys.executable, "-m", "prodready", "deps", str(root), "--offline", "--isolated"]
    command += ["--no-cache", "--format", "json", "-o", str(root / "report.json")]
    started = time.perf_counter()
    try:
        subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"> {timeout_s:.0f} s (timed out)"
    return f"{time.perf_counter() - started:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4000,20000", help="dependency counts, comma-separated")
    parser.add_argument("--timeout", type=float, default=300.0, help="limit per run, seconds")
    options = parser.parse_args()
    print("| dependencies | `prodready deps --offline` wall-clock |")
    print("| ---: | ---: |")
    for size in (int(part) for part in options.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="prodready-quadratic-deps-") as directory:
            root = Path(directory)
            write_project(root, size)
            print(f"| {size:,} | {time_deps(root, options.timeout)} |", flush=True)


if __name__ == "__main__":
    main()
