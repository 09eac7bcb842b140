"""``prodready gate --format text``: the verdict first, then how each stage went and why.

The verdict with its reasons, a stage table with key figures, where the change came from (AI or
human), the readiness level per axis, the most severe findings and where the run's artifacts
are. Coloured on a terminal, plain (no escape codes, ASCII table) otherwise. ``rich`` is imported
inside ``render`` only; the helpers here are shared with the markdown and HTML reports.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from prodready.gate.model import (
    AXIS_TITLES,
    DISABLED,
    NOT_SELECTED,
    STAGES,
    GateFinding,
    GateReport,
    Provenance,
    StageResult,
    StageStatus,
)
from prodready.model import Severity
from prodready.report.probe_text import is_scalar, scalar_text, shorten, wrapped
from prodready.report.terminal import report_console
from prodready.report.text_format import report_width

TOP_FINDINGS = 20
_SNIPPET_LINES = 3
_MESSAGE_LINES = 3
_DIGEST_ITEMS = 6
_DIGEST_CHARS = 60
_DIGEST_VALUE_CHARS = 24

_STATUS_STYLE = {
    StageStatus.PASS: "bold green",
    StageStatus.FAIL: "bold red",
    StageStatus.SKIP: "dim",
    StageStatus.ERROR: "bold magenta",
}
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}
_LEVEL_STYLE = {"none": "dim", "bronze": "yellow", "silver": "bold white", "gold": "bold yellow"}

# The figures that say most about a stage, in reading order. Counts that are only worth
# reading when non-zero (severity breakdown, blocking, AI-assisted) are left out at zero.
_KNOWN = (
    "findings",
    "blocking",
    "critical",
    "high",
    "medium",
    "low",
    "ai_assisted",
    "tests",
    "passed",
    "failed",
    "errors",
    "skipped",
    "coverage",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "error_rate",
    "rps",
    "checks",
)
_ONLY_NONZERO = frozenset({"blocking", "critical", "high", "medium", "low", "ai_assisted"})
_PERCENT = frozenset({"coverage"})


# --- shared helpers -------------------------------------------------------------------------


def verdict_word(report: GateReport) -> str:
    return "RELEASE ALLOWED" if report.released else "RELEASE BLOCKED"


def sorted_findings(report: GateReport) -> list[GateFinding]:
    """Every finding, most severe first; AI-assisted before others of the same severity, then
    in pipeline and file order."""
    order = {stage: index for index, stage in enumerate(STAGES)}

    def key(finding: GateFinding) -> tuple[int, int, int, str, int, str]:
        return (
            finding.severity.rank,
            0 if finding.ai_assisted else 1,
            order.get(finding.stage, len(order)),
            finding.path,
            finding.line,
            finding.rule,
        )

    return sorted(report.findings, key=key)


def _figure(key: str, value: object) -> str:
    if key in _PERCENT and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{key}={round(float(value), 1):g}%"
    if is_scalar(value):
        return f"{key}={shorten(scalar_text(value), _DIGEST_VALUE_CHARS).replace(' ', '_')}"
    if isinstance(value, Mapping | list | tuple):
        return f"{key}=[{len(value)}]"
    return f"{key}={shorten(str(value), _DIGEST_VALUE_CHARS)}"


def figures_digest(figures: Mapping[str, Any]) -> str:
    """A stage's key figures as ``key=value``: ``findings=3 high=1``, ``tests=42 failed=0
    coverage=87%``, ``p99_ms=73``. Well-known figures first, then other numbers, then the rest."""
    keys = [
        key for key in _KNOWN if key in figures and not (key in _ONLY_NONZERO and not figures[key])
    ]
    others = [key for key in figures if key not in _KNOWN]
    # Numbers say more than strings, strings more than containers.
    others.sort(
        key=lambda key: (
            0 if isinstance(figures[key], int | float) else 1 if is_scalar(figures[key]) else 2
        )
    )
    parts: list[str] = []
    used = 0
    for key in keys + others:
        part = _figure(str(key), figures[key])
        if len(parts) >= _DIGEST_ITEMS or (len(parts) >= 2 and used + len(part) > _DIGEST_CHARS):
            break
        parts.append(part)
        used += len(part) + 1
    return " ".join(parts)


def duration_text(seconds: float) -> str:
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}m{rest:02.0f}s"
    return f"{seconds:.1f} s"


def requirement(stage: StageResult) -> str:
    """``required`` or ``advisory``; ``not selected`` or ``disabled`` for a stage that was not
    asked to run, whatever it would have been."""
    if stage.status is StageStatus.SKIP and stage.summary in (NOT_SELECTED, DISABLED):
        return stage.summary
    return "required" if stage.required else "advisory"


def stage_duration(stage: StageResult) -> str:
    if stage.status is StageStatus.SKIP and not stage.duration_s:
        return "-"
    return duration_text(stage.duration_s)


def changed_lines(provenance: Provenance) -> tuple[int, int]:
    """(lines changed by AI-assisted commits, lines changed by others)."""
    ai = sum(len(lines) for lines in provenance.ai_lines.values())
    human = sum(len(lines) for lines in provenance.human_lines.values())
    return ai, human


def assistants(provenance: Provenance) -> list[str]:
    """The assistants named by AI-assisted commits, in first-seen order."""
    names = [commit.assistant for commit in provenance.commits if commit.ai_assisted]
    return list(dict.fromkeys(name for name in names if name))


def provenance_summary(provenance: Provenance) -> str:
    """``3 commits, 2 AI-assisted (Claude, Copilot); 120 of 150 changed lines AI-written``."""
    commits = provenance.commits
    if provenance.base is None and not commits:
        return "no change range (no base: outside git, or on the default branch itself; see --base)"
    ai_commits = sum(1 for commit in commits if commit.ai_assisted)
    names = assistants(provenance)
    text = f"{len(commits)} commit{'s' if len(commits) != 1 else ''}, {ai_commits} AI-assisted"
    if names:
        text += f" ({', '.join(names)})"
    ai, human = changed_lines(provenance)
    total = ai + human
    text += f"; {ai} of {total} changed line{'s' if total != 1 else ''} AI-written"
    return text


def short_sha(sha: str | None) -> str:
    return sha[:10] if sha else "-"


def location(finding: GateFinding) -> str:
    return f"{finding.path}:{finding.line}" if finding.line else finding.path


def axis_title(axis: str) -> str:
    return AXIS_TITLES.get(axis, axis)


# --- the text report ------------------------------------------------------------------------


def render(report: GateReport, *, color: bool = False) -> str:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = report_console(buffer, color=color)
    # Like `scan`: the terminal's width, 100 when piped; cells wrap at word boundaries.
    width = report_width()
    console.width = width
    bullet = "\u2022" if color else "*"
    verdict_style = "bold green" if report.released else "bold red"

    # The verdict first: it is what a reader (and a CI log) looks for.
    for number, line in enumerate(header_lines(report, width)):
        heading = Text(verdict_word(report), style=verdict_style) if number == 0 else Text()
        heading.append(line.removeprefix(verdict_word(report)), style="dim")
        console.print(heading, soft_wrap=True)  # already fitted to the width
    for reason in report.reasons:
        for line in wrapped(reason, width, f"  {bullet} ", "    "):
            console.print(Text(line))
    console.print()

    table = Table(
        box=box.SIMPLE_HEAD if color else box.ASCII,
        show_edge=not color,
        pad_edge=True,
        width=width,
    )
    table.add_column("Stage", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Required", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    table.add_column("Key figures", ratio=2, overflow="fold")
    table.add_column("Summary", ratio=2, overflow="fold")
    for stage in report.stages:
        name = Text(stage.id, style="bold")
        if stage.ai_assisted:
            name.append(" [AI]", style="magenta")
        table.add_row(
            name,
            Text(stage.status.name, style=_STATUS_STYLE[stage.status]),
            requirement(stage),
            stage_duration(stage),
            Text(figures_digest(stage.figures) or "-", style="dim" if color else ""),
            Text(stage.summary.strip().splitlines()[0] if stage.summary.strip() else "-"),
        )
    if report.stages:
        console.print(table)
    else:
        console.print(Text("No stage ran.", style="bold"))
    console.print()
    _print_details(console, report, Text, width)

    _print_provenance(console, report.provenance, Text, Table)
    _print_readiness(console, report, Text, Table, box, color=color, width=width)
    _print_findings(console, report, Text, width)

    console.print(Text("Artifacts: ", style="bold") + Text(report.run_dir))
    closing = Text(verdict_word(report), style=verdict_style)
    if report.reasons:
        count = len(report.reasons)
        closing.append(f" ({count} reason{'s' if count != 1 else ''})")
    console.print(closing)
    # Grid and table cells are padded to their column width: no trailing blanks in the file.
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def header_lines(report: GateReport, width: int) -> list[str]:
    """The verdict and the run's fields, wrapped only between fields: a value such as the
    run time ``0.2 s`` never breaks across lines."""
    fields = [f"{verdict_word(report)}  prodready gate", f"run {report.run_id}"]
    if report.started_at:
        fields.append(f"started {report.started_at}")
    fields.append(duration_text(report.duration_s))
    lines = [fields[0]]
    for field_text in fields[1:]:
        if len(lines[-1]) + len(", ") + len(field_text) + 1 <= width:  # +1: the comma
            lines[-1] += f", {field_text}"
        else:
            lines[-1] += ","
            lines.append(f"  {field_text}")
    return lines


def _print_details(console: Any, report: GateReport, text: type, width: int) -> None:
    """Lines that say more than a stage's summary: why its probe checks were skipped."""
    stages = [stage for stage in report.stages if stage.details]
    if not stages:
        return
    console.print(text("Skipped checks", style="bold"))
    for stage in stages:
        for detail in stage.details:
            for line in wrapped(f"{stage.id}: {detail}", width, "  ", "    "):
                console.print(text(line), soft_wrap=True)
    console.print()


def _print_provenance(console: Any, provenance: Provenance, text: type, table_type: Any) -> None:
    console.print(text("Provenance", style="bold"))
    grid = table_type.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("  base", short_sha(provenance.base) if provenance.base else "unknown")
    grid.add_row("  change", provenance_summary(provenance))
    ai, human = changed_lines(provenance)
    files = len(provenance.changed_files)
    grid.add_row(
        "  lines",
        f"{ai} AI-written, {human} by humans, in {files} file{'s' if files != 1 else ''}",
    )
    for commit in provenance.commits:
        mark = f"[AI: {commit.assistant or 'assistant'}]" if commit.ai_assisted else "[human]"
        grid.add_row("", f"{short_sha(commit.sha)} {mark} {commit.subject} ({commit.author})")
    console.print(grid)
    console.print()


def _print_readiness(
    console: Any,
    report: GateReport,
    text: type,
    table_type: Any,
    box: Any,
    *,
    color: bool,
    width: int,
) -> None:
    heading = text("Readiness  ", style="bold")
    heading.append("overall: ")
    heading.append(report.overall_level.upper(), style=_LEVEL_STYLE.get(report.overall_level, ""))
    console.print(heading)
    if not report.readiness:
        console.print(text("  not assessed"))
        console.print()
        return
    table = table_type(
        box=box.SIMPLE_HEAD if color else box.ASCII,
        show_edge=not color,
        pad_edge=True,
        width=width,
    )
    table.add_column("Axis", no_wrap=True)
    table.add_column("Level", no_wrap=True)
    table.add_column("Why not higher", ratio=1, overflow="fold")
    for axis in report.readiness:
        table.add_row(
            axis_title(axis.axis),
            text(axis.level.upper(), style=_LEVEL_STYLE.get(axis.level, "")),
            "; ".join(axis.reasons) or "-",
        )
    console.print(table)
    console.print()


def _print_findings(console: Any, report: GateReport, text: type, width: int) -> None:
    findings = sorted_findings(report)
    if not findings:
        console.print(text("No findings.", style="bold green"))
        console.print()
        return
    top = findings[:TOP_FINDINGS]
    ai_count = sum(1 for finding in findings if finding.ai_assisted)
    heading = f"Top findings ({len(top)} of {len(findings)}, most severe first"
    heading += f"; {ai_count} on AI-assisted lines)" if ai_count else ")"
    console.print(text(heading, style="bold"))
    room = width - 12
    for finding in top:
        line = text("  ")
        line.append(f"{finding.severity.value.upper():<9}", style=_SEVERITY_STYLE[finding.severity])
        line.append(location(finding), style="bold")
        line.append(f"  {finding.rule}", style="bold")
        if finding.name:
            line.append(f" {finding.name}", style="dim")
        if finding.ai_assisted:
            line.append(" [AI]", style="bold magenta")
        line.append(f"  ({finding.stage})", style="dim")
        console.print(line, soft_wrap=False)
        for row in finding.message.splitlines()[:_MESSAGE_LINES] or [""]:
            console.print(text(f"           {shorten(row, room)}"))
        snippet = finding.snippet.splitlines()[:_SNIPPET_LINES]
        for row in snippet:
            console.print(text("         | ", style="dim") + text(shorten(row, room)))
        if finding.fix:
            console.print(
                text("         = fix: ", style="green") + text(shorten(finding.fix, room))
            )
    if len(findings) > len(top):
        more = len(findings) - len(top)
        console.print(
            text(
                f"  ... {more} more finding{'s' if more != 1 else ''} "
                "(--format json, sarif or html lists every finding)",
                style="dim",
            )
        )
    console.print()
