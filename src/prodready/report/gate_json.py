"""``prodready gate --format json``: the report's documented structure, for machines."""

from __future__ import annotations

import json

from prodready import __version__
from prodready.gate.model import GateReport


def render(report: GateReport, *, color: bool = False) -> str:
    return json.dumps(report.to_dict(__version__), indent=2, ensure_ascii=False) + "\n"
