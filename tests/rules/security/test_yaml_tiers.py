"""SEC006's tiers: FullLoader on a stream opened from the local filesystem is low with low
confidence (who can write the file is out of the rule's sight); FullLoader on other text is
medium; an unsafe loader is high whatever the stream."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodready.model import Config


def test_sec006_full_loader_on_a_local_file_is_low(run_scan) -> None:
    directory = Path(__file__).parent / "fixtures" / "SEC006"
    result = run_scan(directory, config=replace(Config(), select=("SEC006",)))
    tiers = {
        f.line: (f.severity.value, f.confidence.value)
        for f in result.findings
        if f.path == "fp_full_loader_local_file.py"
    }
    assert tiers == {
        16: ("low", "low"),
        21: ("low", "low"),
        25: ("medium", "high"),
        30: ("high", "medium"),
    }
