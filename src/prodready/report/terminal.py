"""The console every text report writes to: colour only when asked, plain ASCII otherwise."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

WIDTH = 120


def report_console(file: IO[str], *, color: bool) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        soft_wrap=True,
        width=WIDTH,
        emoji=False,
        markup=False,
    )
