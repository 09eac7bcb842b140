"""``--format text``: findings grouped by file with the offending line, then a summary.

Coloured on a terminal, plain (no escape codes, ASCII table) otherwise. ``rich`` is imported
here only, so other formats never pay for it.
"""

from __future__ import annotations

import io
from itertools import groupby

from prodready.model import Finding, ScanResult, Severity
from prodready.report.terminal import report_console

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}


def render(result: ScanResult, *, color: bool = False) -> str:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = report_console(buffer, color=color)
    for path, group in groupby(result.findings, key=lambda f: f.path):
        console.print(Text(path, style="bold underline"))
        for finding in group:
            console.print(_finding_line(finding, Text))
            if finding.snippet:
                gutter = f"{finding.line:>6} | "
                console.print(Text(gutter, style="dim") + Text(finding.snippet))
            if finding.fix:
                console.print(Text("       = fix: ", style="green") + Text(finding.fix))
        console.print()

    if result.errors:
        console.print(
            Text(f"Files that could not be analysed ({len(result.errors)})", style="bold")
        )
        for error in result.errors:
            where = f"{error.path}:{error.line}" if error.line else error.path
            console.print(Text(f"  {where}: ", style="magenta") + Text(error.message))
        console.print()

    table = Table(
        title=None,
        box=box.SIMPLE if color else box.ASCII,
        show_edge=not color,
        pad_edge=True,
    )
    table.add_column("severity")
    table.add_column("findings", justify="right")
    for severity, count in result.by_severity().items():
        table.add_row(Text(severity, style=_STYLE[Severity(severity)] if count else ""), str(count))
    categories = Table(box=box.SIMPLE if color else box.ASCII, show_edge=not color, pad_edge=True)
    categories.add_column("category")
    categories.add_column("findings", justify="right")
    for category, count in result.by_category().items():
        categories.add_row(category, str(count))
    if result.findings:
        grid = Table.grid(padding=(0, 4))
        grid.add_row(table, categories)
        console.print(grid)
    stats = result.stats
    cached = f", {stats.cache_hits} from cache" if stats.cache_hits else ""
    extra = ""
    if stats.suppressed_by_baseline:
        extra += f", {stats.suppressed_by_baseline} in baseline"
    if stats.outside_diff:
        extra += f", {stats.outside_diff} outside the diff"
    summary = (
        f"{len(result.findings)} finding{'s' if len(result.findings) != 1 else ''} in "
        f"{result.files} file{'s' if result.files != 1 else ''}{cached}{extra}; "
        f"{len(result.errors)} error{'s' if len(result.errors) != 1 else ''}; "
        f"{stats.duration_s:.2f}s"
    )
    console.print(Text(summary, style="bold" if result.findings else "green"))
    return buffer.getvalue()


def _finding_line(finding: Finding, text_type: type) -> object:
    location = f"  {finding.line}:{finding.column}"
    line = text_type(f"{location:<10} ")
    line.append(f"{finding.severity.value:<8}", style=_STYLE[finding.severity])
    line.append(f" {finding.rule} ", style="bold")
    line.append(f"[{finding.name}] ", style="dim")
    line.append(finding.message)
    if finding.confidence.value != "high":
        line.append(f" (confidence: {finding.confidence.value})", style="dim")
    return line
