"""``prodready gate --format html``: one self-contained page.

The verdict banner with its reasons, a stage timeline (one bar per stage, as long as the stage
took, coloured by status), findings by severity and by category as inline SVG bar charts, the
AI-assisted versus human split, the readiness level per axis, and every finding with its code
and fix, grouped by severity. The page skeleton, stylesheet and escaping are the probe report's
(:mod:`prodready.report.probe_html`): no script, font, image or stylesheet is fetched, and
everything from the run (findings carry code from the repository under test) is escaped.
"""

from __future__ import annotations

from prodready.gate.model import LEVELS, GateFinding, GateReport, StageResult, StageStatus
from prodready.model import Severity
from prodready.report.gate_text import (
    assistants,
    axis_title,
    changed_lines,
    duration_text,
    figures_digest,
    location,
    requirement,
    short_sha,
    sorted_findings,
    stage_duration,
    verdict_word,
)
from prodready.report.probe_html import CSS, esc, footer, page

_GATE_CSS = """
:root {
  --error: #8250df; --error-bg: #fbefff; --critical: #82071e; --high: #cf222e;
  --medium: #bf8700; --low: #0969da; --ai: #8250df; --human: #1a7f37; --outside: #8c959f;
  --bronze: #a0612f; --silver: #6e7781; --gold: #bf8700;
}
.scorecard .detail { font-size: 0.9em; opacity: 0.8; margin-top: 0.2em; }
@media (prefers-color-scheme: dark) {
  :root {
    --error: #ab7df8; --error-bg: #2a1f3d; --critical: #ff7b72; --high: #f85149;
    --medium: #d29922; --low: #4493f8; --ai: #ab7df8; --human: #3fb950; --outside: #9198a1;
    --bronze: #d18b53; --silver: #b1bac4; --gold: #e3b341;
  }
}
.banner { border-radius: 8px; padding: 16px 20px; margin-top: 16px; border: 1px solid; }
.banner.pass { color: var(--pass); background: var(--pass-bg); }
.banner.fail { color: var(--fail); background: var(--fail-bg); }
.banner .word { font-size: 1.5rem; font-weight: 700; letter-spacing: 0.04em; }
.banner ul { margin: 8px 0 0; padding-left: 22px; color: var(--fg); }
.meta { color: var(--muted); margin: 6px 0 0; overflow-wrap: anywhere; }
.badge.error { background: var(--error); }
.pill.error { color: var(--error); background: var(--error-bg); }
table.scorecard tr.error td { background: var(--error-bg); }
.track { position: relative; height: 14px; min-width: 160px; background: var(--skip-bg);
  border-radius: 3px; }
.bar { position: absolute; top: 0; height: 14px; border-radius: 3px; min-width: 3px; }
.bar.pass { background: var(--pass); } .bar.fail { background: var(--fail); }
.bar.error { background: var(--error); } .bar.skip { background: var(--skip); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
.charts h3 { font-size: 0.95rem; margin: 0 0 8px; }
svg text { fill: currentColor; font-size: 12px; }
rect.critical { fill: var(--critical); } rect.high { fill: var(--high); }
rect.medium { fill: var(--medium); } rect.low { fill: var(--low); }
rect.category { fill: var(--accent); } rect.ai { fill: var(--ai); }
rect.human { fill: var(--human); } rect.outside { fill: var(--outside); }
circle.seg.ai { stroke: var(--ai); } circle.seg.human { stroke: var(--human); }
circle.seg.outside { stroke: var(--outside); }
.dot.ai { background: var(--ai); } .dot.human { background: var(--human); }
.dot.outside { background: var(--outside); }
.level { display: inline-block; border-radius: 999px; padding: 1px 12px; font-weight: 700;
  font-size: 0.8rem; letter-spacing: 0.04em; border: 1px solid currentColor; }
.level.none { color: var(--muted); } .level.bronze { color: var(--bronze); }
.level.silver { color: var(--silver); } .level.gold { color: var(--gold); }
.sev { font-weight: 700; text-transform: uppercase; font-size: 0.78rem; }
.sev.critical { color: var(--critical); } .sev.high { color: var(--high); }
.sev.medium { color: var(--medium); } .sev.low { color: var(--low); }
.ai-mark { display: inline-block; font-size: 0.72rem; font-weight: 700; padding: 0 6px;
  border-radius: 4px; color: #fff; background: var(--ai); }
table.findings td pre { margin: 4px 0 0; max-width: 70ch; }
table.findings td.msg { min-width: 280px; }
.fix { color: var(--pass); }
ul.commits { list-style: none; padding: 0; margin: 8px 0 0; }
ul.commits li { margin: 2px 0; overflow-wrap: anywhere; }
"""

_SEVERITIES = tuple(Severity)
_BAR_LABEL = 140
_BAR_WIDTH = 220
_BAR_ROW = 24


def render(report: GateReport, *, color: bool = False) -> str:
    state = "pass" if report.released else "fail"
    word = verdict_word(report)
    meta = [f"run <code>{esc(report.run_id)}</code>"]
    if report.started_at:
        meta.append(f"started {esc(report.started_at)}")
    meta.append(f"{esc(duration_text(report.duration_s))}")
    meta.append(f"artifacts in <code>{esc(report.run_dir)}</code>")
    reasons = "".join(f"<li>{esc(reason)}</li>" for reason in report.reasons)
    body = [
        "<header>",
        f'<h1>prodready gate <span class="badge {state}">{esc(word)}</span> '
        f"{_level(report.overall_level)}</h1>",
        f'<p class="meta">{" &middot; ".join(meta)}</p>',
        f'<section class="banner {state}"><div class="word">{esc(word)}</div>'
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + "</section>",
        "</header>",
        _stages(report),
        _charts(report),
        '<section class="overview">',
        _readiness(report),
        _provenance(report),
        "</section>",
        _findings(report),
        footer(report.started_at),
    ]
    return page(f"prodready gate: {word}", body, css=CSS + _GATE_CSS)


def _pill(status: StageStatus) -> str:
    return f'<span class="pill {status.value}">{status.name}</span>'


def _level(level: str) -> str:
    known = level if level in LEVELS else "none"
    return f'<span class="level {known}">{esc(level.upper())}</span>'


def _stages(report: GateReport) -> str:
    if not report.stages:
        return '<h2>Stages</h2><p class="muted">No stage ran.</p>'
    total = sum(stage.duration_s for stage in report.stages) or 1.0
    start = 0.0
    rows = []
    for stage in report.stages:
        offset = 100.0 * start / total
        width = 100.0 * stage.duration_s / total
        start += stage.duration_s
        rows.append(
            f'<tr class="{stage.status.value}" id="stage-{esc(stage.id)}">'
            f"<td>{_pill(stage.status)}</td>"
            f"<td><strong>{esc(stage.id)}</strong>"
            + (' <span class="ai-mark">AI</span>' if stage.ai_assisted else "")
            + "</td>"
            f"<td>{esc(requirement(stage))}</td>"
            f"<td>{_bar(stage, offset, width)}</td>"
            f'<td class="num">{esc(stage_duration(stage))}</td>'
            f'<td class="digest mono">{esc(figures_digest(stage.figures))}</td>'
            f"<td>{esc(stage.summary)}"
            + "".join(f'<div class="detail">{esc(detail)}</div>' for detail in stage.details)
            + "</td></tr>"
        )
    head = (
        "<thead><tr><th>Status</th><th>Stage</th><th>Policy</th><th>Timeline</th>"
        '<th class="num">Time</th><th class="digest">Key figures</th><th>Summary</th></tr></thead>'
    )
    return (
        '<h2>Stages</h2><div class="table-wrap"><table class="scorecard">'
        f"{head}<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _bar(stage: StageResult, offset: float, width: float) -> str:
    if stage.status is StageStatus.SKIP and not stage.duration_s:
        return '<div class="track"></div>'
    title = f"{stage.id}: {stage.status.name}, {stage_duration(stage)}"
    return (
        f'<div class="track" title="{esc(title)}"><div class="bar {stage.status.value}" '
        f'style="left:{offset:.2f}%;width:{width:.2f}%"></div></div>'
    )


def _bar_chart(title: str, items: list[tuple[str, int, str]]) -> str:
    """A horizontal SVG bar chart of ``(label, count, css class)``."""
    if not items:
        return f'<div class="card"><h3>{esc(title)}</h3><p class="muted">No findings.</p></div>'
    most = max(count for _, count, _ in items) or 1
    height = _BAR_ROW * len(items)
    width = _BAR_LABEL + _BAR_WIDTH + 60
    parts = []
    for index, (label, count, css) in enumerate(items):
        y = index * _BAR_ROW
        bar = max(2.0, _BAR_WIDTH * count / most) if count else 0.0
        parts.append(
            f'<text x="0" y="{y + 16}">{esc(label)}</text>'
            f'<rect class="{esc(css)}" x="{_BAR_LABEL}" y="{y + 4}" width="{bar:.1f}" '
            f'height="16" rx="3"><title>{esc(label)}: {count}</title></rect>'
            f'<text x="{_BAR_LABEL + bar + 6:.1f}" y="{y + 16}">{count}</text>'
        )
    label = ", ".join(f"{name} {count}" for name, count, _ in items)
    return (
        f'<div class="card"><h3>{esc(title)}</h3>'
        f'<svg width="100%" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(label)}">{"".join(parts)}</svg></div>'
    )


def _donut(segments: list[tuple[str, int, str]], center: str) -> str:
    """An SVG donut of ``(label, count, css class)`` with ``center`` in the middle."""
    total = sum(count for _, count, _ in segments)
    circles = ['<circle class="seg" cx="21" cy="21" r="15.915" fill="none" stroke-width="6"/>']
    offset = 25.0  # start at 12 o'clock
    for label, count, css in segments:
        if not count or not total:
            continue
        share = 100.0 * count / total
        circles.append(
            f'<circle class="seg {css}" cx="21" cy="21" r="15.915" fill="none" '
            f'stroke-width="6" stroke-dasharray="{share:.3f} {100 - share:.3f}" '
            f'stroke-dashoffset="{offset:.3f}"><title>{count} {esc(label)}</title></circle>'
        )
        offset -= share
    text = (
        '<text x="21" y="21" text-anchor="middle" dominant-baseline="central" '
        f'font-size="9" font-weight="700">{esc(center)}</text>'
    )
    aria = ", ".join(f"{count} {label}" for label, count, _ in segments)
    return (
        f'<svg width="120" height="120" viewBox="0 0 42 42" role="img" aria-label="{esc(aria)}">'
        f"{''.join(circles)}{text}</svg>"
    )


def _charts(report: GateReport) -> str:
    findings = report.findings
    severity = [
        (sev.value, sum(1 for f in findings if f.severity is sev), sev.value) for sev in _SEVERITIES
    ]
    categories: dict[str, int] = {}
    for finding in findings:
        categories[finding.category] = categories.get(finding.category, 0) + 1
    category = [
        (name, count, "category")
        for name, count in sorted(categories.items(), key=lambda item: (-item[1], item[0]))
    ]
    return (
        '<h2>Findings at a glance</h2><section class="charts">'
        + _bar_chart("By severity", severity if findings else [])
        + _bar_chart("By category", category)
        + _ai_split(report)
        + "</section>"
    )


def _ai_split(report: GateReport) -> str:
    findings = report.findings
    segments = [
        ("on AI-assisted lines", sum(1 for f in findings if f.ai_assisted), "ai"),
        ("on human lines", sum(1 for f in findings if f.ai_assisted is False), "human"),
        ("outside the change", sum(1 for f in findings if f.ai_assisted is None), "outside"),
    ]
    legend = "".join(
        f'<li><span class="dot {css}"></span><strong>{count}</strong> {esc(label)}</li>'
        for label, count, css in segments
    )
    ai, human = changed_lines(report.provenance)
    lines = _bar_chart(
        "Changed lines",
        [("AI-written", ai, "ai"), ("by humans", human, "human")] if ai or human else [],
    )
    return (
        '<div class="card"><h3>Findings: AI-assisted vs human</h3><div class="counts">'
        f"{_donut(segments, str(len(findings)))}<ul>{legend}</ul></div></div>{lines}"
    )


def _readiness(report: GateReport) -> str:
    if not report.readiness:
        rows = '<tr><td colspan="3" class="muted">Not assessed.</td></tr>'
    else:
        rows = "".join(
            f"<tr><td>{esc(axis_title(axis.axis))}</td><td>{_level(axis.level)}</td>"
            f'<td class="muted">{esc("; ".join(axis.reasons))}</td></tr>'
            for axis in report.readiness
        )
    return (
        '<div class="card"><h3>Production readiness: '
        f"{_level(report.overall_level)}</h3>"
        '<table class="kv"><thead><tr><th>Axis</th><th>Level</th><th>Why not higher</th></tr>'
        f"</thead><tbody>{rows}</tbody></table></div>"
    )


def _provenance(report: GateReport) -> str:
    provenance = report.provenance
    ai, human = changed_lines(provenance)
    ai_commits = sum(1 for commit in provenance.commits if commit.ai_assisted)
    names = assistants(provenance)
    rows = [
        (
            "Base",
            f"<code>{esc(short_sha(provenance.base))}</code>" if provenance.base else "unknown",
        ),
        (
            "Commits",
            f"{len(provenance.commits)}, {ai_commits} AI-assisted"
            + (f" ({esc(', '.join(names))})" if names else ""),
        ),
        ("Changed files", str(len(provenance.changed_files))),
        ("Changed lines", f"{ai} AI-written, {human} by humans"),
    ]
    body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    commits = "".join(
        f"<li><code>{esc(short_sha(commit.sha))}</code> "
        + (
            f'<span class="ai-mark">AI: {esc(commit.assistant or "assistant")}</span> '
            if commit.ai_assisted
            else ""
        )
        + f'{esc(commit.subject)} <span class="muted">({esc(commit.author)})</span></li>'
        for commit in provenance.commits
    )
    return (
        f'<div class="card"><h3>Provenance</h3><dl class="target">{body}</dl>'
        + (f'<ul class="commits">{commits}</ul>' if commits else "")
        + "</div>"
    )


def _finding_row(finding: GateFinding) -> str:
    rule = f"<code>{esc(finding.rule)}</code>"
    if finding.name:
        rule += f'<span class="check-id">{esc(finding.name)}</span>'
    ai = (
        '<span class="ai-mark">AI</span>'
        if finding.ai_assisted
        else "human"
        if finding.ai_assisted is False
        else '<span class="muted">-</span>'
    )
    details = f"{esc(finding.message)}"
    if finding.snippet:
        details += f"<pre>{esc(finding.snippet)}</pre>"
    if finding.fix:
        details += f'<div class="fix"><strong>Fix:</strong> {esc(finding.fix)}</div>'
    return (
        f"<tr><td>{esc(finding.stage)}</td>"
        f'<td class="mono">{esc(location(finding))}</td>'
        f"<td>{rule}</td><td>{ai}</td>"
        f'<td class="msg">{details}</td>'
        f"<td>{esc(axis_title(finding.axis))}</td></tr>"
    )


def _findings(report: GateReport) -> str:
    findings = sorted_findings(report)
    if not findings:
        return '<h2>Findings</h2><p class="muted">No findings.</p>'
    head = (
        "<thead><tr><th>Stage</th><th>Location</th><th>Rule</th><th>AI</th>"
        "<th>Finding</th><th>Axis</th></tr></thead>"
    )
    groups = []
    for severity in _SEVERITIES:
        rows = [_finding_row(finding) for finding in findings if finding.severity is severity]
        if not rows:
            continue
        groups.append(
            f'<h3 id="severity-{severity.value}"><span class="sev {severity.value}">'
            f"{severity.value}</span> ({len(rows)})</h3>"
            f'<div class="table-wrap"><table class="scorecard findings">{head}'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    return f"<h2>Findings ({len(findings)})</h2>" + "".join(groups)
