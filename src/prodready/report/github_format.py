"""``--format github``: GitHub Actions workflow commands, shown as annotations on the PR."""

from __future__ import annotations

from prodready.model import ScanResult, Severity

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: ScanResult, *, color: bool = False) -> str:
    lines: list[str] = []
    for f in result.findings:
        properties = ",".join(
            [
                f"file={_property(f.path)}",
                f"line={f.line}",
                f"endLine={f.end_line}",
                f"col={f.column}",
                f"endColumn={f.end_column}",
                f"title={_property(f'{f.rule} {f.name} ({f.severity.value})')}",
            ]
        )
        message = f.message if not f.fix else f"{f.message}\nFix: {f.fix}"
        lines.append(f"::{_LEVEL[f.severity]} {properties}::{_data(message)}")
    for error in result.errors:
        location = f"file={_property(error.path)}"
        if error.line:
            location += f",line={error.line}"
        lines.append(f"::error {location},title=prodready::{_data(error.message)}")
    return "\n".join(lines) + ("\n" if lines else "")
