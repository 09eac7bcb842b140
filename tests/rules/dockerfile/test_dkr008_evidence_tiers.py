"""DKR008 evidence tiers for a download piped into an interpreter: over HTTPS from a domain of
its own (the vendor's documented installer host) it is medium -- still unverified, which the
message says; over plain HTTP, from a host anyone can publish on (raw GitHub content, a
bucket, an IP address) or from an address the Dockerfile does not show, it stays high."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_DOCKERFILE = """\
FROM python:3.12.4-slim-bookworm
RUN curl -LsSf https://astral.sh/uv/install.sh | sh
RUN curl -fsSL http://get.example-tool.io/install.sh | sh
RUN curl -fsSL https://raw.githubusercontent.com/someone/tool/main/install.sh | bash
RUN curl -fsSL https://203.0.113.7/install.sh | sh
RUN curl -fsSL "$INSTALLER_URL" | sh
USER 10001
CMD ["python", "-m", "app"]
"""

_UNVERIFIED = (
    "this RUN executes a downloaded script unverified (`curl | sh`): whatever the server "
    "returns at build time -- a compromised or re-published script, a truncated download -- "
    "runs in the build, usually as root; download to a file, verify its sha256 (sha256sum "
    "-c), then run it -- or install a pinned package instead"
)


def _vendor(host: str) -> str:
    return (
        f"this RUN pipes an installer into a shell over HTTPS from its own host ({host}): "
        "the transport is authenticated, but no checksum pins what that host returns -- a "
        "compromised or re-published script runs in the build, usually as root; download to "
        "a file, verify its sha256 (sha256sum -c), then run it -- or install a pinned package "
        "instead"
    )


def test_dkr008_tiers_by_transport_and_host(run_scan: ScanFn, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(_DOCKERFILE, encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("DKR008",)))
    found = [(f.line, f.severity.value, f.message) for f in result.findings]
    assert found == [
        (2, "medium", _vendor("astral.sh")),
        (3, "high", _UNVERIFIED),
        (4, "high", _UNVERIFIED),
        (5, "high", _UNVERIFIED),
        (6, "high", _UNVERIFIED),
    ]
