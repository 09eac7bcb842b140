"""``--statistics``: how many findings each rule produced, most frequent first (as Ruff does).

One ``COUNT CODE name`` line per rule that fired, counts right-aligned.
"""

from __future__ import annotations

from collections import Counter

from prodready.model import ScanResult


def render_statistics(result: ScanResult) -> str:
    counts = Counter(finding.rule for finding in result.findings)
    names = {finding.rule: finding.name for finding in result.findings}
    if not counts:
        return ""
    width = len(str(max(counts.values())))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return "".join(f"{count:>{width}} {code} {names[code]}\n" for code, count in ordered)
