"""Report formats: one module per format, each with ``render(result, color=...) -> str``.

Scan reports live in ``<name>_format`` modules, probe reports in ``probe_<name>`` modules and
gate reports in ``gate_<name>`` modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from prodready.model import ScanResult

if TYPE_CHECKING:
    from prodready.gate.model import GateReport
    from prodready.probe.model import ProbeReport

FORMATS = ("text", "concise", "json", "sarif", "github", "junit", "gitlab")
PROBE_FORMATS = ("text", "json", "html")
GATE_FORMATS = ("text", "json", "markdown", "sarif", "html")


class Renderer(Protocol):
    def __call__(self, result: ScanResult, *, color: bool = False) -> str: ...


class ProbeRenderer(Protocol):
    def __call__(self, report: ProbeReport, *, color: bool = False) -> str: ...


class GateRenderer(Protocol):
    def __call__(self, report: GateReport, *, color: bool = False) -> str: ...


def _render_function(module: str, name: str, formats: tuple[str, ...], kind: str) -> Any:
    """The ``render`` function of ``prodready.report.<module>``, imported only when used."""
    if name not in formats:
        raise ValueError(f"unknown {kind}format {name!r}; choose one of {', '.join(formats)}")
    return importlib.import_module(f"prodready.report.{module}").render


def renderer(name: str) -> Renderer:
    render: Renderer = _render_function(f"{name}_format", name, FORMATS, "")
    return render


def probe_renderer(name: str) -> ProbeRenderer:
    render: ProbeRenderer = _render_function(f"probe_{name}", name, PROBE_FORMATS, "probe ")
    return render


def gate_renderer(name: str) -> GateRenderer:
    render: GateRenderer = _render_function(f"gate_{name}", name, GATE_FORMATS, "gate ")
    return render
