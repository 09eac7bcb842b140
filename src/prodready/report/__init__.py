"""Report formats: one module per format, each with ``render(result, color=...) -> str``.

Scan reports live in ``<name>_format`` modules, probe reports in ``probe_<name>`` modules and
gate reports in ``gate_<name>`` modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from prodready.model import ScanResult

if TYPE_CHECKING:
    from prodready.gate.model import GateReport
    from prodready.probe.model import ProbeReport

FORMATS = ("text", "json", "sarif", "github")
PROBE_FORMATS = ("text", "json", "html")
GATE_FORMATS = ("text", "json", "markdown", "sarif", "html")


class Renderer(Protocol):
    def __call__(self, result: ScanResult, *, color: bool = False) -> str: ...


class ProbeRenderer(Protocol):
    def __call__(self, report: ProbeReport, *, color: bool = False) -> str: ...


class GateRenderer(Protocol):
    def __call__(self, report: GateReport, *, color: bool = False) -> str: ...


def renderer(name: str) -> Renderer:
    """The ``render`` function of a format, imported only when used."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"prodready.report.{name}_format")
    render: Renderer = module.render
    return render


def probe_renderer(name: str) -> ProbeRenderer:
    """The ``render`` function of a probe report format, imported only when used."""
    if name not in PROBE_FORMATS:
        raise ValueError(f"unknown probe format {name!r}; choose one of {', '.join(PROBE_FORMATS)}")
    module = importlib.import_module(f"prodready.report.probe_{name}")
    render: ProbeRenderer = module.render
    return render


def gate_renderer(name: str) -> GateRenderer:
    """The ``render`` function of a gate report format, imported only when used."""
    if name not in GATE_FORMATS:
        raise ValueError(f"unknown gate format {name!r}; choose one of {', '.join(GATE_FORMATS)}")
    module = importlib.import_module(f"prodready.report.gate_{name}")
    render: GateRenderer = module.render
    return render
