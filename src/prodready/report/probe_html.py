"""``prodready probe --format html``: one self-contained page.

Inline CSS and an inline SVG chart; no script, font, image or stylesheet is fetched, and a
Content-Security-Policy forbids it. Everything that came from the run (the command, reasons,
evidence, which holds what the service under test answered) is HTML-escaped.

The page skeleton (:func:`page`), its stylesheet (:data:`CSS`) and :func:`esc` are shared with
the gate's HTML report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from prodready import __version__
from prodready.probe.model import CheckResult, ProbeReport, Status
from prodready.report.probe_text import (
    evidence_digest,
    is_reproduction,
    is_scalar,
    scalar_text,
    verdict_text,
)

_MAX_DEPTH = 4  # deeper evidence is shown as pretty-printed JSON
_PRE_CHARS = 100  # longer strings go in a <pre> block

CSS = """
:root {
  color-scheme: light dark;
  --bg: #f6f8fa; --card: #ffffff; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9;
  --skip: #59636e; --skip-bg: #eff2f5; --code-bg: #f6f8fa; --accent: #0969da;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #151b23; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d;
    --pass: #3fb950; --pass-bg: #12261e; --fail: #f85149; --fail-bg: #2d1214;
    --skip: #9198a1; --skip-bg: #212830; --code-bg: #0d1117; --accent: #4493f8;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", sans-serif;
}
main { max-width: 1200px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 1.6rem; margin: 0; display: flex; align-items: center; gap: 12px;
  flex-wrap: wrap; }
h2 { font-size: 1.15rem; margin: 32px 0 12px; }
code, pre, .mono {
  font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono",
    monospace; font-size: 0.86em;
}
pre {
  background: var(--code-bg); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 10px; margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere;
}
pre.repro { border-left: 3px solid var(--accent); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px;
}
.badge, .pill {
  display: inline-block; border-radius: 999px; font-weight: 600; letter-spacing: 0.03em;
  white-space: nowrap;
}
.badge { font-size: 0.95rem; padding: 3px 14px; color: #fff; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.pill { font-size: 0.75rem; padding: 1px 10px; border: 1px solid currentColor; }
.pill.pass { color: var(--pass); background: var(--pass-bg); }
.pill.fail { color: var(--fail); background: var(--fail-bg); }
.pill.skip { color: var(--skip); background: var(--skip-bg); }
.verdict { margin: 8px 0 0; font-weight: 600; }
.verdict.pass { color: var(--pass); } .verdict.fail { color: var(--fail); }
.overview { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 16px;
  margin-top: 20px; }
@media (max-width: 800px) { .overview { grid-template-columns: minmax(0, 1fr); } }
dl.target { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 16px;
  margin: 0; }
dl.target dt { color: var(--muted); }
dl.target dd { margin: 0; overflow-wrap: anywhere; }
.counts { display: flex; align-items: center; gap: 20px; }
.counts ul { list-style: none; padding: 0; margin: 0; }
.counts li { margin: 2px 0; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 6px; }
.dot.pass { background: var(--pass); } .dot.fail { background: var(--fail); }
.dot.skip { background: var(--skip); }
circle.seg { stroke: var(--line); } circle.seg.pass { stroke: var(--pass); }
circle.seg.fail { stroke: var(--fail); } circle.seg.skip { stroke: var(--skip); }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; }
table.scorecard { border-collapse: collapse; width: 100%; }
table.scorecard th, table.scorecard td {
  text-align: left; vertical-align: top; padding: 8px 12px; border-bottom: 1px solid var(--line);
}
table.scorecard th { font-size: 0.8rem; text-transform: uppercase; color: var(--muted);
  letter-spacing: 0.04em; }
table.scorecard tr:last-child td { border-bottom: 0; }
table.scorecard tr.fail td { background: var(--fail-bg); }
table.scorecard td.num, table.scorecard th.num { text-align: right; white-space: nowrap; }
table.scorecard td.digest { color: var(--muted); overflow-wrap: anywhere; }
.check-id { display: block; color: var(--muted); }
@media (max-width: 700px) { .digest { display: none; } }
details.check { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  margin: 8px 0; }
details.check.fail { border-left: 4px solid var(--fail); }
details.check > summary { cursor: pointer; padding: 10px 14px; display: flex; gap: 10px;
  align-items: baseline; flex-wrap: wrap; list-style: none; }
details.check > summary::-webkit-details-marker { display: none; }
details.check > summary::before { content: "\\25B8"; color: var(--muted); width: 1em; }
details.check[open] > summary::before { content: "\\25BE"; }
details.check > summary .reason { color: var(--muted); flex-basis: 100%; }
details.check > .body { padding: 4px 14px 14px; overflow-x: auto; }
table.kv { border-collapse: collapse; width: 100%; }
table.kv th, table.kv td { text-align: left; vertical-align: top; padding: 3px 8px;
  border-top: 1px solid var(--line); }
table.kv tr:first-child > th, table.kv tr:first-child > td { border-top: 0; }
table.kv th { font-weight: 600; white-space: nowrap; width: 1%; color: var(--muted); }
ol.items, ul.items { margin: 0; padding-left: 22px; }
ol.items > li { margin: 4px 0; }
.notes li { margin: 4px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85rem; }
"""

_LABELS = {Status.PASS: "passed", Status.FAIL: "failed", Status.SKIP: "skipped"}


def esc(value: object) -> str:
    """``value`` as HTML text or attribute value: everything from a run goes through here."""
    return escape(str(value), quote=True)


_e = esc


def page(title: str, body: Iterable[str], *, css: str = CSS) -> str:
    """A complete self-contained page: inline ``css`` and ``body`` inside ``<main>``, under a
    Content-Security-Policy that lets nothing be fetched or run. ``title`` is escaped here; the
    body parts are markup (empty parts are left out)."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{esc(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        "<main>",
    ]
    tail = ["</main>", "</body>", "</html>"]
    return "\n".join(part for part in [*head, *body, *tail] if part) + "\n"


def footer(started_at: str = "") -> str:
    """``Generated <now> by prodready <version>; run started <started_at>.``"""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"<footer>Generated {esc(generated)} by prodready {esc(__version__)}"
        + (f"; run started {esc(started_at)}" if started_at else "")
        + ".</footer>"
    )


def render(report: ProbeReport, *, color: bool = False) -> str:
    verdict = "pass" if report.passed else "fail"
    body = [
        "<header>",
        f'<h1>prodready probe <span class="badge {verdict}">{verdict.upper()}</span></h1>',
        f'<p class="verdict {verdict}">{_e(verdict_text(report, ascii_only=False))}</p>',
        "</header>",
        '<section class="overview">',
        _target(report),
        _counts(report),
        "</section>",
        _scorecard(report),
        _details(report),
        _notes(report),
        footer(report.started_at),
    ]
    return page(f"prodready probe: {verdict.upper()}", body)


def _target(report: ProbeReport) -> str:
    target = report.target
    rows = [
        ("Command", f"<code>{_e(target.command)}</code>"),
        ("Base URL", f"<code>{_e(target.base_url)}</code>" if target.base_url else "-"),
    ]
    if target.dependencies:
        deps = "".join(
            f"<li><strong>{_e(dep.name)}</strong> &rarr; <code>{_e(dep.env)}</code> "
            f'<span class="muted">({_e(dep.kind)}, <code>{_e(dep.target)}</code>)</span></li>'
            for dep in target.dependencies
        )
        rows.append(("Dependencies", f'<ul class="items">{deps}</ul>'))
    else:
        rows.append(("Dependencies", '<span class="muted">none declared</span>'))
    if target.openapi:
        plural = "s" if target.operations != 1 else ""
        rows.append(
            (
                "OpenAPI",
                f"<code>{_e(target.openapi)}</code> "
                f'<span class="muted">({target.operations} operation{plural})</span>',
            )
        )
    else:
        rows.append(("OpenAPI", '<span class="muted">none</span>'))
    if target.isolated:
        rows.append(("Isolation", "network-isolated sandbox"))
    if report.started_at:
        rows.append(("Started", _e(report.started_at)))
    rows.append(("Duration", f"{report.duration_s:.1f} s"))
    body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return f'<div class="card"><dl class="target">{body}</dl></div>'


def _counts(report: ProbeReport) -> str:
    counts = report.counts()
    total = len(report.checks)
    circles = ['<circle class="seg" cx="21" cy="21" r="15.915" fill="none" stroke-width="6"/>']
    offset = 25.0  # start at 12 o'clock
    for status in (Status.FAIL, Status.PASS, Status.SKIP):
        count = counts[status.value]
        if not count or not total:
            continue
        share = 100.0 * count / total
        circles.append(
            f'<circle class="seg {status.value}" cx="21" cy="21" r="15.915" fill="none" '
            f'stroke-width="6" stroke-dasharray="{share:.3f} {100 - share:.3f}" '
            f'stroke-dashoffset="{offset:.3f}"><title>{count} {_LABELS[status]}</title></circle>'
        )
        offset -= share
    label = (
        f'<text x="21" y="21" text-anchor="middle" dominant-baseline="central" '
        f'font-size="9" font-weight="700" fill="currentColor">{total}</text>'
    )
    svg = (
        '<svg width="120" height="120" viewBox="0 0 42 42" role="img" '
        f'aria-label="{counts["pass"]} passed, {counts["fail"]} failed, '
        f'{counts["skip"]} skipped">{"".join(circles)}{label}</svg>'
    )
    items = "".join(
        f'<li><span class="dot {status.value}"></span><strong>{counts[status.value]}</strong> '
        f"{_LABELS[status]}</li>"
        for status in (Status.PASS, Status.FAIL, Status.SKIP)
    )
    checks = f"{total} check{'s' if total != 1 else ''}"
    return f'<div class="card counts">{svg}<ul><li class="muted">{checks}</li>{items}</ul></div>'


def _anchor(check: CheckResult) -> str:
    return "check-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in check.id)


def _pill(status: Status) -> str:
    return f'<span class="pill {status.value}">{status.name}</span>'


def _scorecard(report: ProbeReport) -> str:
    if not report.checks:
        return '<h2>Scorecard</h2><p class="muted">No check ran.</p>'
    rows = []
    for check in report.checks:
        rows.append(
            f'<tr class="{check.status.value}">'
            f"<td>{_pill(check.status)}</td>"
            f'<td><a href="#{_anchor(check)}">{_e(check.title)}</a>'
            f'<code class="check-id">{_e(check.id)}</code></td>'
            f"<td>{_e(check.reason)}</td>"
            f'<td class="digest mono">{_e(evidence_digest(check.evidence))}</td>'
            f'<td class="num">{check.duration_s:.1f} s</td>'
            "</tr>"
        )
    head = (
        "<thead><tr><th>Status</th><th>Check</th><th>Reason</th>"
        '<th class="digest">Evidence</th><th class="num">Time</th></tr></thead>'
    )
    return (
        '<h2>Scorecard</h2><div class="table-wrap"><table class="scorecard">'
        f"{head}<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _details(report: ProbeReport) -> str:
    if not report.checks:
        return ""
    blocks = []
    for check in report.checks:
        is_open = " open" if check.status is Status.FAIL else ""
        evidence = (
            _value(check.evidence, "", 0)
            if check.evidence
            else '<p class="muted">No evidence recorded.</p>'
        )
        blocks.append(
            f'<details class="check {check.status.value}" id="{_anchor(check)}"{is_open}>'
            f"<summary>{_pill(check.status)} <strong>{_e(check.title)}</strong> "
            f'<code class="muted">{_e(check.id)}</code>'
            f'<span class="muted">{check.duration_s:.1f} s</span>'
            f'<span class="reason">{_e(check.reason)}</span></summary>'
            f'<div class="body">{evidence}</div></details>'
        )
    return "<h2>Evidence</h2>" + "".join(blocks)


def _value(value: Any, key: str, depth: int) -> str:
    """Evidence as nested tables and lists; deep structures as pretty-printed JSON."""
    if is_reproduction(key, value):
        return f'<pre class="repro">{_e(value)}</pre>'
    if isinstance(value, str):
        if "\n" in value or len(value) > _PRE_CHARS:
            return f"<pre>{_e(value)}</pre>"
        return _e(value) if value else '<span class="muted">""</span>'
    if is_scalar(value):
        return f"<code>{_e(scalar_text(value))}</code>"
    if depth >= _MAX_DEPTH:
        return f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"
    if isinstance(value, Mapping):
        if not value:
            return '<span class="muted">{}</span>'
        rows = "".join(
            f"<tr><th>{_e(item_key)}</th><td>{_value(item, str(item_key), depth + 1)}</td></tr>"
            for item_key, item in value.items()
        )
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, list | tuple):
        if not value:
            return '<span class="muted">[]</span>'
        if all(is_scalar(item) and not is_reproduction(key, item) for item in value):
            text = ", ".join(scalar_text(item) for item in value)
            if len(text) <= _PRE_CHARS and "\n" not in text:
                return f"<code>{_e(text)}</code>"
            return f"<pre>{_e(chr(10).join(scalar_text(item) for item in value))}</pre>"
        items = "".join(f"<li>{_value(item, key, depth + 1)}</li>" for item in value)
        return f'<ol class="items">{items}</ol>'
    return _e(value)


def _notes(report: ProbeReport) -> str:
    if not report.notes:
        return ""
    items = "".join(f"<li>{_e(note)}</li>" for note in report.notes)
    return f'<h2>Notes</h2><ul class="notes">{items}</ul>'
