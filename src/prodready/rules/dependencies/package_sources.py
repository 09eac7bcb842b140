"""Dependencies: packages installed from insecure sources (DEP002)."""

from __future__ import annotations

from urllib.parse import urlsplit

from prodready.plugin import (
    Category,
    Confidence,
    FileContext,
    FileKind,
    RequirementsFile,
    Severity,
    file_rule,
)
from prodready.rules.dependencies._shared import _canonical_option

_INDEX_OPTIONS = frozenset({"-i", "--index-url", "--extra-index-url", "-f", "--find-links"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})  # noqa: S104
_KNOWN_EXTRA_INDEXES = frozenset(
    {"pypi.org", "pypi.python.org", "download.pytorch.org", "pypi.nvidia.com"}
)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _plain_http(url: str) -> bool:
    """``http://`` (or ``git+http://``) to a host other than this machine."""
    lower = url.strip().lower()
    scheme = lower.partition("://")[0]
    if scheme not in {"http", "git+http", "hg+http", "svn+http", "bzr+http"}:
        return False
    return _host(lower.partition("+")[2] if scheme != "http" else lower) not in _LOCAL_HOSTS


# -- DEP002 -----------------------------------------------------------------------------------


@file_rule(
    kind=FileKind.REQUIREMENTS,
    code="DEP002",
    name="insecure-package-source",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=829,
    summary="Packages from plain HTTP, a --trusted-host or an extra index (dependency confusion)",
    fix="Use one HTTPS index (a proxy such as devpi/Artifactory that mirrors PyPI) with TLS.",
)
def insecure_package_source(document: RequirementsFile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags package sources that an attacker can substitute: `--index-url`, `--extra-index-url`
    or `--find-links` over `http://`, `--trusted-host` (TLS verification off for that host),
    requirements and editable installs from `http://` URLs, and `--extra-index-url` in
    general, which lets a public package shadow a private one (dependency confusion).

    ## Why it breaks production
    Code from these sources runs at install time with the build's privileges and then in
    production. Over plain HTTP or with verification disabled, anyone on the network path --
    a CI runner's network, a proxy, a compromised Wi-Fi -- can serve a trojaned package. With
    `--extra-index-url`, pip picks the highest version from *any* index: publishing your
    private package name on PyPI with a higher version gets the attacker's code installed
    (the 2022 PyTorch `torchtriton` compromise).

    ## Example
    ```text
    --extra-index-url http://pypi.internal.example.com/simple
    --trusted-host pypi.internal.example.com
    ```

    ## Use instead
    ```text
    --index-url https://pypi.internal.example.com/simple   # a proxy that mirrors PyPI
    ```
    """
    for line in document.lines:
        option = _canonical_option(line.option) if line.option else None
        value = (line.option_value or "").strip()
        if option in _INDEX_OPTIONS and value:
            if _plain_http(value):
                ctx.report(
                    line.line,
                    f"`{option} {value}` downloads packages over plain HTTP: anyone on the "
                    "network path can substitute the code that gets installed; use https://",
                )
            elif option == "--extra-index-url" and value.lower().startswith("https://"):
                if _host(value) in _KNOWN_EXTRA_INDEXES:
                    continue
                ctx.report(
                    line.line,
                    "`--extra-index-url` makes pip take the highest version from either "
                    "index, so a package published on PyPI under one of your private names "
                    "wins (dependency confusion); serve everything from one index that proxies "
                    "PyPI, or pin with --hash",
                    severity=Severity.MEDIUM,
                    confidence=Confidence.MEDIUM,
                )
            continue
        if option == "--trusted-host" and value:
            if value.split(":")[0].lower() in _LOCAL_HOSTS:
                continue
            ctx.report(
                line.line,
                f"`--trusted-host {value}` turns off TLS verification (and allows HTTP) for "
                "that host: a man in the middle can serve any package; fix the host's "
                "certificate or configure its CA (PIP_CERT) instead",
            )
            continue
        if line.url and _plain_http(line.url):
            ctx.report(
                line.line,
                f"`{line.url}` is fetched over plain HTTP: anyone on the network path can "
                "substitute the code that gets installed; use an https:// URL",
            )
