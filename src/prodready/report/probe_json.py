"""``prodready probe --format json``: the machine-readable probe report.

Exactly ``ProbeReport.to_dict``: ``tool``, ``version``, ``target``, ``checks`` (``id``,
``status``, ``reason``, ``evidence``, ``duration_s``), ``summary`` and ``notes``.
"""

from __future__ import annotations

import json

from prodready import __version__
from prodready.probe.model import ProbeReport


def render(report: ProbeReport, *, color: bool = False) -> str:
    document = report.to_dict(__version__)
    # default=str only matters for evidence a check left unserialisable (a set, a Path):
    # the report is still written rather than lost at the end of a long run.
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
