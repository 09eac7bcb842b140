"""Time ``prodready scan`` on Python inputs that used to take quadratic time.

Issue 10 #13: function-local imports were re-scanned for every import (40,000 lines of them:
24-27 s; 25,000 import/call pairs: over 120 s), and the qualified name of a call was recomputed
for every link of a long method chain (4,000 chained calls: 26.9 s). This script writes each
input as a one-file project and times ``prodready scan --isolated --no-cache -j 1`` on it in a
fresh interpreter. It is not a test and never fails a build.

    python3 benchmarks/quadratic.py                        # every input
    python3 benchmarks/quadratic.py --inputs chain --timeout 60
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def local_imports(lines: int = 40_000) -> str:
    """``lines`` lines of small functions, each importing a module inside its body."""
    return "".join(f"def handler_{index}():\n    import json\n" for index in range(lines // 2))


def import_call_pairs(pairs: int = 25_000) -> str:
    """``pairs`` functions that each import a module and call it."""
    return "".join(
        f"def handler_{index}():\n    import json\n    return json.dumps({index})\n"
        for index in range(pairs)
    )


def method_chain(calls: int = 4_000) -> str:
    """One statement of ``calls`` chained method calls: ``client.m0().m1()...``."""
    chain = "".join(f".m{index}()" for index in range(calls))
    return f"import requests\n\nclient = requests.Session()\nresult = client{chain}\n"


INPUTS: dict[str, tuple[str, Callable[[], str]]] = {
    "imports": ("40,000 lines of functions with a local import", local_imports),
    "pairs": ("25,000 functions with a local import and a call", import_call_pairs),
    "chain": ("a 4,000-call method chain", method_chain),
}


def time_scan(root: Path, timeout_s: float) -> str:
    command = [sys.executable, "-m", "prodready", "scan", str(root), "--isolated", "--no-cache"]
    command += ["-j", "1", "--format", "json", "-o", str(root.parent / "report.json")]
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"> {timeout_s:.0f} s (timed out)"
    elapsed = f"{time.perf_counter() - started:.1f} s"
    if completed.returncode not in (0, 1):
        return f"{elapsed} (exit {completed.returncode}: {completed.stderr.decode()[-200:]})"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inputs", default=",".join(INPUTS), help=f"comma-separated: {', '.join(INPUTS)}"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="limit per run, seconds")
    options = parser.parse_args()
    print("| input | `prodready scan -j 1` wall-clock |")
    print("| --- | ---: |")
    for name in options.inputs.split(","):
        label, generate = INPUTS[name]
        with tempfile.TemporaryDirectory(prefix="prodready-quadratic-") as directory:
            root = Path(directory) / "project"
            root.mkdir()
            (root / "app.py").write_text(generate(), encoding="utf-8")
            print(f"| {label} | {time_scan(root, options.timeout)} |", flush=True)


if __name__ == "__main__":
    main()
