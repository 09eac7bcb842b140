"""``prodready probe --format text``: a scorecard.

The target, one table row per check (status, reason and an evidence digest), then why each
failed check failed (its evidence, bounded, with the reproduction commands in full), then the
verdict. Coloured on a terminal, plain (no escape codes, ASCII table) otherwise. ``rich`` is
imported inside ``render`` only; the helpers here are shared with the HTML report.
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

from prodready.probe.model import CheckResult, ProbeReport, Status
from prodready.report.terminal import WIDTH, report_console
from prodready.report.text_format import report_width

MAX_DETAIL_LINES = 25  # per failed check, before "... N more lines"
_DIGEST_ITEMS = 4
_DIGEST_CHARS = 72  # the whole digest; at least two entries are shown regardless
_DIGEST_VALUE_CHARS = 24
_DETAIL_INDENT = 4  # detail lines are printed indented by four spaces
_DETAIL_WIDTH = WIDTH - _DETAIL_INDENT  # for the HTML report; text fits the terminal
_DETAIL_MIN_CHARS = 40
_INLINE_CHARS = 60  # a small dict or list of scalars stays on one line

_STYLE = {Status.PASS: "bold green", Status.FAIL: "bold red", Status.SKIP: "dim"}

# The figures that say most about a check, in the order they are worth a reader's attention.
_TELLING = (
    "p99_ms",
    "p95_ms",
    "p50_ms",
    "error_rate",
    "status",
    "elapsed_ms",
    "exit_code",
    "exit_s",
    "growth_per_1000",
    "growth_bytes",
    "recovered_after_s",
    "rps",
    "requests",
    "operations",
)
# Context rather than results: left out of the digest, still in the details.
_BACKGROUND = frozenset(
    {"service_output", "mix", "requests_from", "users", "workers", "duration_s", "slo"}
)


# --- shared helpers -------------------------------------------------------------------------


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def is_reproduction(key: str, value: object) -> bool:
    """A command that reproduces a failure: always shown in full."""
    if not isinstance(value, str):
        return False
    lowered = key.lower()
    return "curl" in lowered or "reproduce" in lowered or value.lstrip().startswith("curl ")


def scalar_text(value: object) -> str:
    """One scalar as a reader expects it: ``412.0``, ``0.02``, ``true``, ``null``, ``GET /x``."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(value)


def shorten(text: str, limit: int) -> str:
    """First line of ``text``, cut to ``limit`` characters with ``...``."""
    lines = text.splitlines() or [""]
    first = lines[0]
    if len(first) > limit or len(lines) > 1:
        return first[: max(1, limit - 3)].rstrip() + "..."
    return first


def _inline(value: object) -> str | None:
    """A small dict or list of scalars on one line, or ``None`` when it would not be small."""
    if isinstance(value, Mapping) and all(is_scalar(item) for item in value.values()):
        text = "{" + ", ".join(f"{key}: {scalar_text(item)}" for key, item in value.items()) + "}"
    elif isinstance(value, list | tuple) and all(is_scalar(item) for item in value):
        text = "[" + ", ".join(scalar_text(item) for item in value) + "]"
    else:
        return None
    return text if len(text) <= _INLINE_CHARS and "\n" not in text else None


def _is_outcome(value: object) -> bool:
    return isinstance(value, Mapping) and "status" in value and is_scalar(value["status"])


def _digest_value(value: object) -> str:
    if is_scalar(value):
        return shorten(scalar_text(value), _DIGEST_VALUE_CHARS).replace(" ", "_")
    if _is_outcome(value):
        assert isinstance(value, Mapping)
        # A request outcome ({"request", "status", "elapsed_ms"}): its status says it all.
        status = scalar_text(value["status"])
        elapsed = value.get("elapsed_ms")
        return f"{status}/{scalar_text(elapsed)}ms" if isinstance(elapsed, int | float) else status
    inline = _inline(value)
    if inline is not None:
        compact = inline.replace(", ", ",").replace(": ", ":")
        if len(compact) <= _DIGEST_VALUE_CHARS:
            return compact
    if isinstance(value, Mapping):
        return f"{{{len(value)}}}"
    if isinstance(value, list | tuple):
        return f"[{len(value)}]"
    return shorten(str(value), _DIGEST_VALUE_CHARS)


def evidence_digest(evidence: Mapping[str, Any]) -> str:
    """The 2-4 most telling evidence entries as ``key=value``: ``p99_ms=412.0 error_rate=0.02``.

    Well-known figures first, then other scalars, then containers summarised by size
    (``failures=[3]``). Reproduction commands and background context are left to the details.
    """
    keys = [
        key
        for key, value in evidence.items()
        if key not in _BACKGROUND and not is_reproduction(key, value)
    ]
    known = [key for key in _TELLING if key in keys]
    scalars = [
        key
        for key in keys
        if key not in known and (is_scalar(evidence[key]) or _is_outcome(evidence[key]))
    ]
    # Figures and request outcomes say more than a string (an endpoint is already in the reason).
    scalars.sort(key=lambda key: isinstance(evidence[key], str))
    containers = [key for key in keys if key not in known and key not in scalars]
    # A failure list is the point of a failed check: it goes before the odd scalar.
    lists_first = [key for key in containers if key in ("failures", "errors", "problems")]
    ordered = lists_first + known + scalars + [k for k in containers if k not in lists_first]
    parts: list[str] = []
    used = 0
    for key in ordered:
        part = f"{key}={_digest_value(evidence[key])}"
        if len(parts) >= _DIGEST_ITEMS or (len(parts) >= 2 and used + len(part) > _DIGEST_CHARS):
            break
        parts.append(part)
        used += len(part) + 1
    return " ".join(parts)


def verdict_text(report: ProbeReport, *, ascii_only: bool) -> str:
    """``FAIL — 3 failed, 11 passed, 1 skipped in 84.2 s``."""
    counts = report.counts()
    dash = "-" if ascii_only else "\u2014"
    word = "PASS" if report.passed else "FAIL"
    return (
        f"{word} {dash} {counts['fail']} failed, {counts['pass']} passed, "
        f"{counts['skip']} skipped in {report.duration_s:.1f} s"
    )


def wrapped(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``text`` wrapped at word boundaries to ``width`` columns, its first line prefixed by
    ``first`` and the others by ``rest`` (a word longer than a line stays whole)."""
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def evidence_lines(
    value: object, indent: int = 0, width: int = _DETAIL_WIDTH
) -> Iterator[tuple[str, str | None]]:
    """Evidence pretty-printed YAML-like: ``(line, reproduction command or None)`` pairs.

    Long strings are cut to ``width``, except reproduction commands, which are kept whole
    because they are what a reader copies.
    """
    pad = "  " * indent
    if isinstance(value, Mapping):
        if not value:
            yield f"{pad}{{}}", None
        for key, item in value.items():
            yield from _entry_lines(f"{pad}{key}:", str(key), item, indent, width)
    elif isinstance(value, list | tuple):
        if not value:
            yield f"{pad}[]", None
        for item in value:
            if isinstance(item, Mapping) and item:
                nested = list(evidence_lines(item, indent + 1, width))
                first, repro = nested[0]
                yield f"{pad}- {first.lstrip()}", repro
                yield from nested[1:]
            else:
                yield from _entry_lines(f"{pad}-", "", item, indent, width)
    else:
        yield from _entry_lines(pad.rstrip() if pad else "", "", value, indent, width)


def _entry_lines(
    prefix: str, key: str, item: object, indent: int, width: int
) -> Iterator[tuple[str, str | None]]:
    lead = f"{prefix} " if prefix else ""
    room = max(_DETAIL_MIN_CHARS, width - len(lead))  # a line fits the terminal
    if is_reproduction(key, item):
        assert isinstance(item, str)
        yield f"{lead}{item}", item
    elif isinstance(item, str) and "\n" in item:
        yield f"{prefix} |" if prefix else "|", None
        pad = "  " * (indent + 1)
        for line in item.splitlines():
            yield f"{pad}{shorten(line, max(_DETAIL_MIN_CHARS, width - len(pad)))}", None
    elif is_scalar(item):
        yield f"{lead}{shorten(scalar_text(item), room)}", None
    else:
        inline = _inline(item)
        if inline is not None:
            yield f"{lead}{inline}", None
        elif isinstance(item, Mapping | list | tuple):
            yield prefix, None
            yield from evidence_lines(item, indent + 1, width)
        else:
            yield f"{lead}{shorten(str(item), room)}", None


def bounded_evidence(
    evidence: Mapping[str, Any], limit: int = MAX_DETAIL_LINES, width: int = _DETAIL_WIDTH
) -> tuple[list[str], int, list[str]]:
    """The first ``limit`` evidence lines, how many more there are, and the reproduction
    commands among the lines cut off (shown anyway)."""
    lines = list(evidence_lines(evidence, width=width))
    shown = [line for line, _ in lines[:limit]]
    hidden = [repro for _, repro in lines[limit:] if repro is not None]
    return shown, max(0, len(lines) - limit), list(dict.fromkeys(hidden))


# --- the text report ------------------------------------------------------------------------


def render(report: ProbeReport, *, color: bool = False) -> str:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = report_console(buffer, color=color)
    # Like `scan`: the terminal's width, 100 when piped; rows wrap at word boundaries.
    width = report_width()
    console.width = width
    arrow = "\u2192" if color else "->"
    target = report.target

    console.print(Text("prodready probe", style="bold underline"))
    header = Table.grid(padding=(0, 2))
    header.add_column(style="dim", no_wrap=True)
    header.add_column(overflow="fold")
    header.add_row("command", target.command)
    header.add_row("base URL", target.base_url or "-")
    if target.dependencies:
        for index, dep in enumerate(target.dependencies):
            header.add_row(
                "dependencies" if index == 0 else "",
                f"{dep.name} {arrow} {dep.env} ({dep.kind}, {dep.target})",
            )
    else:
        header.add_row("dependencies", "none declared")
    if target.openapi:
        plural = "s" if target.operations != 1 else ""
        header.add_row("OpenAPI", f"{target.openapi} ({target.operations} operation{plural})")
    else:
        header.add_row("OpenAPI", "none")
    if target.isolated:
        header.add_row("isolation", "network-isolated sandbox")
    if report.started_at:
        header.add_row("started", report.started_at)
    console.print(header)
    console.print()

    table = Table(
        box=box.SIMPLE_HEAD if color else box.ASCII,
        show_edge=not color,
        show_lines=not color,
        pad_edge=True,
        width=width,
    )
    table.add_column("Check", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Reason", ratio=5, overflow="fold")
    table.add_column("Evidence", ratio=4, overflow="fold")
    table.add_column("Time (s)", justify="right", no_wrap=True)
    for check in report.checks:
        name = Text(check.title, style="bold")
        if check.title != check.id:
            name.append("\n")
            name.append(check.id, style="dim")
        table.add_row(
            name,
            Text(check.status.name, style=_STYLE[check.status]),
            Text(check.reason.strip().splitlines()[0] if check.reason.strip() else "-"),
            Text(evidence_digest(check.evidence), style="dim" if color else ""),
            f"{check.duration_s:.1f}",
        )
    if report.checks:
        console.print(table)
    else:
        console.print(Text("No check ran.", style="bold"))
    console.print()

    failures = [check for check in report.checks if check.status is Status.FAIL]
    if failures:
        console.print(Text("Why the failed checks failed", style="bold"))
        console.print()
        for check in failures:
            _print_failure(console, check, Text, width)

    if report.notes:
        console.print(Text("Notes", style="bold"))
        for note in report.notes:
            for line in wrapped(note, width, "  * ", "    "):
                console.print(Text(line))
        console.print()

    style = "bold green" if report.passed else "bold red"
    console.print(Text(verdict_text(report, ascii_only=not color), style=style))
    # Grid and table cells are padded to their column width: no trailing blanks in the file.
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _print_failure(console: Any, check: CheckResult, text_type: type, width: int) -> None:
    heading = text_type()
    heading.append("FAIL ", style=_STYLE[Status.FAIL])
    heading.append(check.title, style="bold")
    if check.title != check.id:
        heading.append(f" ({check.id})", style="dim")
    console.print(heading)
    for reason_line in check.reason.splitlines() or [""]:
        for line in wrapped(reason_line, width, "  ", "  "):
            console.print(text_type(line))
    shown, more, hidden = bounded_evidence(check.evidence, width=width - _DETAIL_INDENT)
    for line in shown:
        console.print(text_type(" " * _DETAIL_INDENT + line))
    if more:
        console.print(text_type(f"    ... {more} more line{'s' if more != 1 else ''}", style="dim"))
    for repro in hidden:
        console.print(text_type("    reproduce: ", style="green") + text_type(repro))
    console.print()
