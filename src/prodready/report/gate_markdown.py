"""``prodready gate --format markdown``: a pull-request comment (GitHub-flavoured markdown).

The verdict and its reasons, a stage table, one provenance line, the readiness per axis and the
most severe findings, the rest folded in ``<details>``. Findings link to their line when the
GitHub Actions variables ``GITHUB_SERVER_URL``, ``GITHUB_REPOSITORY`` and ``GITHUB_SHA`` are set.
Everything from the run is escaped (table pipes, markdown punctuation, backticks in code spans),
and the comment stays under GitHub's 65,536-character limit: findings that do not fit are
counted in a closing note.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote

from prodready import __version__
from prodready.gate.model import GateFinding, GateReport, StageStatus
from prodready.report.gate_text import (
    axis_title,
    figures_digest,
    location,
    provenance_summary,
    requirement,
    short_sha,
    sorted_findings,
    stage_duration,
)

MAX_CHARS = 65_536  # GitHub's limit for an issue or pull-request comment
MARKER = "<!-- prodready-gate -->"  # lets a CI job find and update its previous comment
TOP_FINDINGS = 15
# Filled up to here: the rest is slack for the closing rows and the truncation note, and for
# emoji and non-ASCII text should a consumer count UTF-16 units rather than characters.
_TARGET_CHARS = 60_000
_CELL_CHARS = 300
_SNIPPET_CHARS = 120
_MAX_REASONS = 20
_AI = "\U0001f916"  # robot face

_STATUS = {
    StageStatus.PASS: "\u2705 pass",
    StageStatus.FAIL: "\u274c fail",
    StageStatus.SKIP: "\u23ed\ufe0f skip",
    StageStatus.ERROR: "\u26a0\ufe0f error",
}
_LEVEL = {
    "none": "None",
    "bronze": "\U0001f949 Bronze",
    "silver": "\U0001f948 Silver",
    "gold": "\U0001f947 Gold",
}
_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&])")
_BLOCK_START = re.compile(r"^(\s*)([#+=>-]|\d+[.)])")
_FINDINGS_HEAD = "| Severity | Location | Rule | Stage | Finding |\n| --- | --- | --- | --- | --- |"


# --- escaping -------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def text(value: object, limit: int = _CELL_CHARS) -> str:
    """Plain text that renders as itself: markdown punctuation and HTML are escaped, newlines
    become ``<br>`` (so the result fits in a table cell or a list item)."""
    lines = _clip(str(value).strip(), limit).splitlines() or [""]
    escaped = [_BLOCK_START.sub(r"\1\\\2", _PUNCTUATION.sub(r"\\\1", line)) for line in lines]
    return "<br>".join(escaped)


def code(value: object, limit: int = _SNIPPET_CHARS) -> str:
    """A code span that holds any text: a fence longer than any backtick run inside, padded
    when the text starts or ends with a backtick; one line; pipes escaped for tables."""
    body = " ".join(_clip(str(value), limit).split("\n")).replace("\r", " ")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.strip()):
        body = f" {body} "
    return f"{fence}{body}{fence}".replace("|", "\\|")


# --- the comment ----------------------------------------------------------------------------


def _github_blob() -> str | None:
    server = os.environ.get("GITHUB_SERVER_URL", "").strip().rstrip("/")
    repository = os.environ.get("GITHUB_REPOSITORY", "").strip().strip("/")
    sha = os.environ.get("GITHUB_SHA", "").strip()
    if not (server and repository and sha):
        return None
    return f"{server}/{repository}/blob/{sha}/"


def _where(finding: GateFinding, blob: str | None) -> str:
    label = code(location(finding), limit=200)
    if blob is None:
        return label
    url = blob + quote(finding.path.lstrip("/"))
    if finding.line:
        url += f"#L{finding.line}"
    return f"[{label}]({url})"


def _finding_row(finding: GateFinding, blob: str | None) -> str:
    severity = f"**{finding.severity.value}**"
    if finding.ai_assisted:
        severity += f" {_AI}"
    rule = code(finding.rule, limit=40)
    if finding.name:
        rule += f"<br>{text(finding.name, 80)}"
    parts = [text(finding.message)]
    snippet = next((line.strip() for line in finding.snippet.splitlines() if line.strip()), "")
    if snippet:
        parts.append(code(snippet))
    if finding.fix:
        parts.append(f"**Fix:** {text(finding.fix)}")
    cells = [severity, _where(finding, blob), rule, text(finding.stage, 40), "<br>".join(parts)]
    return "| " + " | ".join(cells) + " |"


def render(report: GateReport, *, color: bool = False) -> str:
    head = [MARKER]
    if report.released:
        head.append("## \u2705 Release allowed \u2014 prodready gate")
    else:
        head.append("## \u26d4 Release blocked \u2014 prodready gate")
        head.append("")
        for reason in report.reasons[:_MAX_REASONS]:
            head.append(f"- {text(reason, 500)}")
        if len(report.reasons) > _MAX_REASONS:
            head.append(f"- \u2026 and {len(report.reasons) - _MAX_REASONS} more")
    head.append("")

    if report.stages:
        head.append("| Status | Stage | Required | Duration | Key figures | Summary |")
        head.append("| --- | --- | --- | ---: | --- | --- |")
        for stage in report.stages:
            name = code(stage.id, 40) + (f" {_AI}" if stage.ai_assisted else "")
            digest = figures_digest(stage.figures)
            head.append(
                f"| {_STATUS[stage.status]} | {name} | "
                f"{requirement(stage)} | {stage_duration(stage)} | "
                f"{code(digest) if digest else ''} | {text(stage.summary)} |"
            )
    else:
        head.append("_No stage ran._")
    head.append("")
    detailed = [stage for stage in report.stages if stage.details]
    if detailed:
        head.append("**Skipped checks**")
        head.append("")
        head.extend(
            f"- {code(stage.id, 40)}: {text(detail, 500)}"
            for stage in detailed
            for detail in stage.details
        )
        head.append("")

    provenance = report.provenance
    line = f"**Provenance:** {text(provenance_summary(provenance))}"
    if provenance.base:
        line += f" \u00b7 base {code(short_sha(provenance.base))}"
    head.append(line)
    head.append("")

    head.append(
        f"**Production readiness: {_LEVEL.get(report.overall_level, report.overall_level)}**"
    )
    if report.readiness:
        head.append("")
        head.append("| Axis | Level | Why not higher |")
        head.append("| --- | --- | --- |")
        for axis in report.readiness:
            head.append(
                f"| {text(axis_title(axis.axis), 80)} | {_LEVEL.get(axis.level, text(axis.level))}"
                f" | {text('; '.join(axis.reasons)) if axis.reasons else ''} |"
            )
    head.append("")

    footer = (
        f"<sub>prodready {__version__} \u00b7 run {code(report.run_id, 80)} \u00b7 "
        f"artifacts in {code(report.run_dir, 300)}</sub>\n"
    )
    body = "\n".join(head) + "\n"
    return body + _findings(report, _TARGET_CHARS - len(body) - len(footer)) + footer


def _findings(report: GateReport, budget: int) -> str:
    findings = sorted_findings(report)
    if not findings:
        return "**No findings.**\n\n"
    blob = _github_blob()
    ai = sum(1 for finding in findings if finding.ai_assisted)
    count = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    lines = [f"### Findings ({count}, most severe first)"]
    if ai:
        lines.append(f"{_AI} {ai} on lines written by AI-assisted commits.")
    lines += ["", _FINDINGS_HEAD]
    used = sum(len(line) + 1 for line in lines)
    shown = 0
    rest: list[str] = []
    for index, finding in enumerate(findings):
        row = _finding_row(finding, blob)
        if used + len(row) + 1 > budget:
            break
        used += len(row) + 1
        (lines if index < TOP_FINDINGS else rest).append(row)
        shown += 1
    if rest:
        more = len(findings) - TOP_FINDINGS
        lines += [
            "",
            f"<details><summary>{more} more finding{'s' if more != 1 else ''}</summary>",
            "",
            _FINDINGS_HEAD,
            *rest,
            "",
            "</details>",
        ]
    hidden = len(findings) - shown
    if hidden:
        lines += [
            "",
            f"_{hidden} more finding{'s' if hidden != 1 else ''} not shown: a comment is limited "
            f"to {MAX_CHARS:,} characters. The JSON, SARIF and HTML reports list every one._",
        ]
    return "\n".join(lines) + "\n\n"
