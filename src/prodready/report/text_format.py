"""``--format text``: findings grouped by file with the offending line, then a summary.

Coloured on a terminal, plain (no escape codes, ASCII table) otherwise. ``rich`` is imported
here only, so other formats never pay for it.
"""

from __future__ import annotations

import io
import shutil
import textwrap
from itertools import groupby

from prodready.model import Finding, ScanResult, Severity
from prodready.report.terminal import report_console

DEFAULT_WIDTH = 100
MIN_WIDTH = 40
MESSAGE_INDENT = 11  # under the severity column: the location column is 10 wide plus a space
FIX_LABEL = "       = fix: "

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
    width = report_width()
    for path, group in groupby(result.findings, key=lambda f: f.path):
        console.print(Text(path, style="bold underline"))
        for finding in group:
            for line in _finding_lines(finding, Text, width):
                console.print(line)
            if finding.snippet:
                gutter = f"{finding.line:>6} | "
                console.print(Text(gutter, style="dim") + Text(finding.snippet))
            if finding.fix:
                fix = _wrap(finding.fix, first=len(FIX_LABEL), width=width)
                console.print(Text(FIX_LABEL, style="green") + Text(fix[0]))
                for more in fix[1:]:
                    console.print(Text(more))
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
    if stats.outside_roles:  # tests, scripts, examples... that a rule does not judge
        extra += f", {stats.outside_roles} in files outside their rules' roles"
    summary = (
        f"{len(result.findings)} finding{'s' if len(result.findings) != 1 else ''} in "
        f"{result.files} file{'s' if result.files != 1 else ''}{cached}{extra}; "
        f"{len(result.errors)} error{'s' if len(result.errors) != 1 else ''}; "
        f"{stats.duration_s:.2f}s"
    )
    console.print(Text(summary, style="bold" if result.findings else "green"))
    return buffer.getvalue()


def report_width() -> int:
    """Where messages wrap: the terminal's width ($COLUMNS too), 100 when not a terminal."""
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def _wrap(text: str, *, first: int, width: int) -> list[str]:
    """``text`` wrapped at word boundaries: its first line starts at column ``first``, the
    others are indented under the message column."""
    lines = textwrap.wrap(
        text,
        width=width,
        initial_indent=" " * first,
        subsequent_indent=" " * MESSAGE_INDENT,
        break_long_words=False,
        break_on_hyphens=False,
    )
    if not lines:
        return [""]
    lines[0] = lines[0][first:]
    return lines


def _finding_lines(finding: Finding, text_type: type, width: int) -> list[object]:
    location = f"  {finding.line}:{finding.column}"
    line = text_type(f"{location:<10} ")
    line.append(f"{finding.severity.value:<8}", style=_STYLE[finding.severity])
    line.append(f" {finding.rule} ", style="bold")
    line.append(f"[{finding.name}] ", style="dim")
    message = finding.message
    if finding.confidence.value != "high":
        message += f" (confidence: {finding.confidence.value})"
    wrapped = _wrap(message, first=len(line.plain), width=width)
    line.append(wrapped[0])
    return [line, *(text_type(more) for more in wrapped[1:])]
