"""Report formats: one module per format, each with ``render(result, color=...) -> str``."""

from __future__ import annotations

import importlib
from typing import Protocol

from prodready.model import ScanResult

FORMATS = ("text", "json", "sarif", "github")


class Renderer(Protocol):
    def __call__(self, result: ScanResult, *, color: bool = False) -> str: ...


def renderer(name: str) -> Renderer:
    """The ``render`` function of a format, imported only when used."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"prodready.report.{name}_format")
    render: Renderer = module.render
    return render
