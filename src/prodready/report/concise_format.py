"""``--format concise``: one ``path:line:col: CODE [severity] message`` line per finding.

The form compilers use, so editors and terminals make each line a link. Paths are the
finding's path joined to the scan root and made relative to the current directory (absolute
when the root is outside it), so they open from where the command was run whatever ``--root``
says. Files that could not be analysed are not findings: the command line lists them on
stderr.
"""

from __future__ import annotations

from pathlib import Path

from prodready.model import ScanResult


def display_path(root: str, path: str) -> str:
    """``path`` (relative to the scan ``root``) as it is reached from the current directory."""
    joined = Path(root) / path
    cwd = Path.cwd()
    try:
        return joined.relative_to(cwd).as_posix()
    except ValueError:
        return joined.as_posix()


def one_line(text: str) -> str:
    return " ".join(text.split())


def render(result: ScanResult, *, color: bool = False) -> str:
    lines = [
        f"{display_path(result.root, f.path)}:{f.line}:{f.column}: "
        f"{f.rule} [{f.severity.value}] {one_line(f.message)}"
        for f in result.findings
    ]
    return "".join(line + "\n" for line in lines)
