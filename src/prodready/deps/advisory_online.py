"""Online advisory sources: the package index's per-release JSON API and the OSV query API,
with timeouts, bounded retries with backoff, and a breaker once the service proved unreachable."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from prodready import __version__
from prodready.deps.model import AdvisoriesUnavailable, Advisory
from prodready.deps.osv_records import (
    BadRecord,
    advisory_for,
    advisory_url,
    compact_record,
    is_set,
    merge_aliases,
    short_summary,
    string_list,
)
from prodready.deps.osv_versions import parse_version
from prodready.model import DepsSettings

OSV_QUERY_URL = "https://api.osv.dev/v1/query"
DEFAULT_INDEX_URL = "https://pypi.org/simple"
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a release page or a page of OSV query results


def redact(url: str) -> str:
    """A URL fit for messages: no user or password (private index URLs carry tokens)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # unparsable: drop whatever sits before an ``@``
        return re.sub(r"//[^/]*@", "//", url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class _Unreachable(Exception):
    """The service cannot be reached (network, timeouts, 5xx): stop asking it this scan."""


class _HTTPStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _OnlineSource:
    """Timeouts, bounded retries with backoff and jitter, and a breaker: once the service
    proved unreachable, every later lookup gets the same reason at once."""

    name = "online source"
    attempts = 3
    backoff_s = 0.25

    def __init__(self, settings: DepsSettings) -> None:
        self.timeout_s = settings.timeout_s
        # One request, retries included: a server dripping its answer gives up here.
        self.deadline_s = 3 * max(0.1, settings.timeout_s)
        self.notes: list[str] = []
        self._down: str | None = None

    def _request(self, url: str, body: bytes | None = None) -> Any:
        """The decoded JSON answer. Raises ``_HTTPStatus`` (final status), ``_Unreachable``."""
        headers = {
            "User-Agent": f"prodready/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        # Imported here: the HTTP stack (urllib.request, http.client, ssl, email) costs a scan
        # that never goes online some 15 ms.
        from prodready.deps.http import RETRYABLE_STATUS, TOO_LARGE, fetch

        answer = fetch(
            url,
            headers=headers,
            timeout_s=self.timeout_s,
            deadline=time.monotonic() + self.deadline_s,
            max_bytes=MAX_ANSWER_BYTES,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            data=body,
        )
        if answer.status is None:
            problem = (answer.error or "no answer").replace("connection failed", "cannot connect")
            limits = f"{self.attempts} attempts, {self.timeout_s:g}s timeout"
            raise _Unreachable(f"{problem} ({limits}, {self.deadline_s:g}s deadline)")
        if answer.status in RETRYABLE_STATUS:
            raise _Unreachable(f"HTTP {answer.status} ({self.attempts} attempts)")
        if answer.status != 200:
            raise _HTTPStatus(answer.status)
        if answer.error == TOO_LARGE:
            raise _Unreachable(f"{redact(url)} answered more than {MAX_ANSWER_BYTES} bytes")
        try:
            return json.loads(answer.body)
        except (ValueError, RecursionError) as exc:
            raise _Unreachable(f"{redact(url)} answered with invalid JSON") from exc

    def _guarded(self, url: str, body: bytes | None = None) -> Any:
        if self._down is not None:
            raise AdvisoriesUnavailable(self._down)
        try:
            return self._request(url, body)
        except _Unreachable as exc:
            self._down = str(exc)
            raise AdvisoriesUnavailable(self._down) from exc


class PyPIReleaseAdvisories(_OnlineSource):
    """``vulnerabilities`` of the package index's per-release JSON (``/pypi/NAME/VERSION/json``)."""

    not_found_limit = 3  # consecutive 404s, none answered: the API is not served

    def __init__(self, settings: DepsSettings) -> None:
        super().__init__(settings)
        index_url = settings.index_url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL
        self.base = json_api_base(index_url)
        self.name = f"the package index JSON API ({redact(self.base)})"
        self._answered = 0
        self._not_found = 0

    def lookup(self, package: str, version: str) -> list[Advisory]:
        name = urllib.parse.quote(canonicalize_name(package))
        url = f"{self.base}/{name}/{urllib.parse.quote(version)}/json"
        try:
            data = self._guarded(url)
        except _HTTPStatus as exc:
            if exc.status != 404:  # 401/403 from a private index: the same for every name
                self._down = f"{exc} for release pages"
                raise AdvisoriesUnavailable(self._down) from exc
            message = "HTTP 404 for release pages (the release is unknown or the API not served)"
            self._not_found += 1
            if not self._answered and self._not_found >= self.not_found_limit:
                self._down = message
            raise AdvisoriesUnavailable(message) from exc
        self._answered += 1
        vulnerabilities = data.get("vulnerabilities") if isinstance(data, dict) else None
        if not isinstance(vulnerabilities, list):
            raise AdvisoriesUnavailable("release pages carry no 'vulnerabilities' list")
        found: list[Advisory] = []
        for item in vulnerabilities:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            if is_set(item.get("withdrawn")):
                continue
            fixed = sorted(
                string_list(item.get("fixed_in")),
                key=lambda v: (parse_version(v) or Version("0"), v),
            )
            link = item.get("link")
            found.append(
                Advisory(
                    id=item["id"],
                    aliases=tuple(sorted(set(string_list(item.get("aliases"))) - {item["id"]})),
                    summary=short_summary(item),
                    fixed=tuple(fixed[:1]),
                    severity=None,
                    url=link if isinstance(link, str) and link else advisory_url(item),
                )
            )
        return merge_aliases(found)


def json_api_base(index_url: str) -> str:
    """The JSON API next to a simple index: ``https://pypi.org/simple`` -> ``.../pypi``."""
    base = index_url.rstrip("/")
    if base.endswith(("/simple", "/+simple")):
        base = base.rsplit("/", 1)[0]
    return f"{base}/pypi"


class OSVQueryAdvisories(_OnlineSource):
    """The OSV query API: ``POST {"package": {"name", "ecosystem": "PyPI"}, "version"}``."""

    max_pages = 10

    def __init__(self, settings: DepsSettings, url: str | None = None) -> None:
        super().__init__(settings)
        self.url = url or os.environ.get("PRODREADY_OSV_URL") or OSV_QUERY_URL
        self.name = f"the OSV API ({redact(self.url)})"

    def lookup(self, package: str, version: str) -> list[Advisory]:
        canonical = canonicalize_name(package)
        query: dict[str, Any] = {
            "package": {"name": canonical, "ecosystem": "PyPI"},
            "version": version,
        }
        found: list[Advisory] = []
        for _ in range(self.max_pages):
            try:
                data = self._guarded(self.url, json.dumps(query).encode())
            except _HTTPStatus as exc:
                self._down = f"{exc} for queries"
                raise AdvisoriesUnavailable(self._down) from exc
            if not isinstance(data, dict):
                raise AdvisoriesUnavailable("the answer is not a JSON object")
            vulns = data.get("vulns", [])
            for raw in vulns if isinstance(vulns, list) else []:
                try:
                    compact = compact_record(raw)
                except BadRecord:
                    continue
                record = compact.get(canonical)
                if record is not None:
                    advisory = advisory_for(record, version, assume_affected=True)
                    if advisory is not None:
                        found.append(advisory)
            token = data.get("next_page_token")
            if not isinstance(token, str) or not token:
                break
            query["page_token"] = token
        return merge_aliases(found)
