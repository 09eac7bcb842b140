"""The package index: does a project exist, and what do its releases and metadata look like.

Concurrent lookups with timeouts, bounded retries with backoff and jitter, and an on-disk cache
with a TTL; offline mode answers from the cache only and leaves the rest unverified.

Which index: ``DepsSettings.index_url``, else ``$PIP_INDEX_URL``, else PyPI -- an ``http(s)``
URL of a simple repository (PEP 503), a ``file:`` URL or a local directory laid out like one.

What is asked, per canonical name:

1. the Warehouse JSON API, ``{base}/pypi/{name}/json`` where the index is ``{base}/simple``
   (PyPI, its mirrors, bandersnatch trees, most proxies): releases with upload times, summary,
   description, project links. PyPI's own answer is authoritative: 404 means no such project.
2. for any other index, or when the JSON API cannot answer, the simple API,
   ``{index}/{name}/`` asking for PEP 691 JSON: 200 means the project exists (with its versions
   and upload times when the index speaks JSON), 404 means it does not.

Timeouts, connection errors, 429 and 5xx answers are retried (``ATTEMPTS`` in all, exponential
backoff with full jitter) within an overall time budget; what still fails is *unverified*
(``exists=None`` with the reason), never reported as existing. Only definite answers are
cached: existence for ``cache_ttl_hours``, absence for at most ``NEGATIVE_TTL_HOURS`` (someone
may register the name at any time -- that is the attack). Offline, a cached answer of any age is
used: it is all there is, and ``from_cache`` says where it came from.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from prodready import __version__
from prodready.deps.model import IndexInfo
from prodready.model import DepsSettings

DEFAULT_INDEX_URL = "https://pypi.org/simple"
PYPI_HOSTS = frozenset({"pypi.org", "test.pypi.org", "pypi.python.org"})
USER_AGENT = f"prodready/{__version__}"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT_SIMPLE = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"

WORKERS = 8  # concurrent requests: polite to the index, enough to hide latency
ATTEMPTS = 3  # per request, the first included
BACKOFF_S = 0.5  # first retry waits up to this long (full jitter), doubling each time
MAX_BODY = 64 * 1024 * 1024  # the JSON of projects with thousands of releases is large
NEGATIVE_TTL_HOURS = 1.0
PRUNE_AFTER_DAYS = 30  # answers older than this leave the cache file (offline keeps the rest)
CACHE_FILE = "answers.json"
CACHE_FORMAT = 1
_SUMMARY_CHARS = 300
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)
_PLACEHOLDER_TEXT = frozenset({"", "unknown", "none", "null", "n/a", "na", "todo", "tbd"})


def resolve_index_url(settings: DepsSettings) -> str:
    """The index to ask: the setting, else ``$PIP_INDEX_URL``, else PyPI (no trailing slash;
    a local directory becomes a ``file:`` URL)."""
    raw = (settings.index_url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL).strip()
    try:
        scheme = urllib.parse.urlsplit(raw).scheme.lower()
    except ValueError:  # not a URL at all; ``prodready.deps.settings`` says so up front
        return raw
    if scheme not in {"http", "https", "file"}:  # a path (also C:\... on Windows)
        return Path(raw).expanduser().resolve().as_uri()
    return raw.rstrip("/")


def redact(url: str) -> str:
    """The URL without credentials (for messages and cache keys)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # unparsable: drop whatever sits before an ``@``
        return re.sub(r"//[^/]*@", "//***@", url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{netloc}"))


@dataclass(frozen=True, slots=True)
class _Response:
    status: int | None  # None: no answer (timeout, connection error, budget spent)
    body: bytes = b""
    content_type: str = ""
    error: str | None = None

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None


class IndexClient:
    """Asks one package index about project names; see the module documentation."""

    def __init__(
        self,
        settings: DepsSettings,
        cache_dir: Path | None,
        *,
        workers: int = WORKERS,
        attempts: int = ATTEMPTS,
        backoff_s: float = BACKOFF_S,
        budget_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.workers = max(1, workers)
        self.attempts = max(1, attempts)
        self.backoff_s = max(0.0, backoff_s)
        self.timeout_s = max(0.1, settings.timeout_s)
        # Enough for every name to be asked on a slow index, bounded for a dead one.
        self.budget_s = budget_s if budget_s is not None else max(60.0, 6 * self.timeout_s)
        self.index_url = resolve_index_url(settings)
        parts = urllib.parse.urlsplit(self.index_url)
        self.scheme = parts.scheme.lower()
        self.display_url = redact(self.index_url)
        self._authorization: str | None = None
        if parts.username is not None or parts.password is not None:
            user = urllib.parse.unquote(parts.username or "")
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._authorization = f"Basic {token}"
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            self.index_url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        self.authoritative = (parts.hostname or "").lower() in PYPI_HOSTS
        self._random = random.Random()  # noqa: S311 - jitter, not secrets
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests sent (retries included)
        self.problems: list[str] = []  # the cache could not be read or written

    # -- public ---------------------------------------------------------------------------------

    def lookup(self, names: Iterable[str]) -> dict[str, IndexInfo]:
        """Facts for each name (keyed as given; ``IndexInfo.name`` is canonical). Never raises
        for network or index trouble: what cannot be verified has ``exists=None`` and why."""
        wanted = {name: canonicalize_name(name) for name in names}
        answers: dict[str, IndexInfo] = {}
        todo: list[str] = []
        use_cache = self.cache_dir is not None and self.scheme != "file"
        cached = self._read_cache() if use_cache else {}
        now = time.time()
        for canonical in sorted(set(wanted.values())):
            if not _NAME.match(canonical):
                answers[canonical] = IndexInfo(canonical, None, error="not a valid project name")
                continue
            entry = cached.get(canonical)
            if entry is not None and (not self.settings.online or self._fresh(entry, now)):
                answers[canonical] = replace(entry[1], from_cache=True)
            elif not self.settings.online:
                answers[canonical] = IndexInfo(canonical, None, error="offline: not in cache")
            else:
                todo.append(canonical)
        if todo:
            fetched = self._fetch_all(todo)
            answers.update(fetched)
            if use_cache:
                self._write_cache({n: i for n, i in fetched.items() if i.exists is not None})
        return {name: answers[canonical] for name, canonical in wanted.items()}

    # -- asking the index -----------------------------------------------------------------------

    def _fetch_all(self, names: list[str]) -> dict[str, IndexInfo]:
        deadline = time.monotonic() + self.budget_s
        executor = ThreadPoolExecutor(
            max_workers=min(self.workers, len(names)), thread_name_prefix="prodready-index"
        )
        futures: dict[Future[IndexInfo], str] = {}
        try:
            for name in names:
                futures[executor.submit(self._lookup_one, name, deadline)] = name
            done, _pending = wait(futures, timeout=self.budget_s + self.timeout_s)
        finally:
            # Unstarted lookups are dropped; running ones stop at the deadline by themselves.
            executor.shutdown(wait=False, cancel_futures=True)
        results: dict[str, IndexInfo] = {}
        for future, name in futures.items():
            if future in done and not future.cancelled() and future.exception() is None:
                results[name] = future.result()
            elif future in done and not future.cancelled():
                results[name] = IndexInfo(name, None, error=f"lookup failed: {future.exception()}")
            else:
                budget = f"{self.budget_s:g}"
                results[name] = IndexInfo(
                    name, None, error=f"index lookups ran out of their {budget} s budget"
                )
        return results

    def _lookup_one(self, name: str, deadline: float) -> IndexInfo:
        from prodready.deps.http import TOO_LARGE  # the HTTP stack only when the index is asked

        quoted = urllib.parse.quote(name)
        json_failure: str | None = None
        json_url = self._json_api_url(quoted)
        if json_url is not None:
            response = self._get(json_url, "application/json", deadline)
            if response.status == 200 and response.error == TOO_LARGE:
                return IndexInfo(name, exists=True)  # a project with a very long history
            if response.status == 200:
                info = parse_project_json(name, response.json())
                if info is not None:
                    return info
                json_failure = "the JSON API answered something that is not project JSON"
            elif response.status in {404, 410}:
                if self.authoritative:
                    return IndexInfo(name, exists=False)
            else:
                json_failure = response.error or f"HTTP {response.status}"
            if self.authoritative:
                return IndexInfo(name, None, error=f"{self.display_url}: {json_failure}")
        response = self._get(f"{self.index_url}/{quoted}/", ACCEPT_SIMPLE, deadline)
        if response.status == 200:
            if SIMPLE_JSON in response.content_type or response.content_type.endswith("json"):
                info = parse_simple_json(name, response.json())
                if info is not None:
                    return info
                return IndexInfo(
                    name, None, error=f"{self.display_url}: unreadable simple API answer"
                )
            return IndexInfo(name, exists=True)  # an HTML page: exists, nothing more known
        if response.status in {404, 410}:
            return IndexInfo(name, exists=False)
        reason = response.error or f"HTTP {response.status}"
        if json_failure is not None and json_failure != reason:
            reason = f"{json_failure}; simple API: {reason}"
        return IndexInfo(name, None, error=f"{self.display_url}: {reason}")

    def _json_api_url(self, quoted: str) -> str | None:
        parts = urllib.parse.urlsplit(self.index_url)
        if self.authoritative:
            return urllib.parse.urlunsplit(
                (parts.scheme, parts.netloc, f"/pypi/{quoted}/json", "", "")
            )
        path = parts.path.rstrip("/")
        if not path.endswith("/simple"):
            return None
        base = path[: -len("/simple")]
        return urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, f"{base}/pypi/{quoted}/json", "", "")
        )

    def _get(self, url: str, accept: str, deadline: float) -> _Response:
        """GET with retries: timeouts, connection errors, 429 and 5xx, with backoff + jitter."""
        if self.scheme == "file":
            return _read_local(url)
        headers = {"User-Agent": USER_AGENT, "Accept": accept, "Accept-Encoding": "gzip"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        from prodready.deps.http import fetch

        answer = fetch(
            url,
            headers=headers,
            timeout_s=self.timeout_s,
            deadline=deadline,
            max_bytes=MAX_BODY,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            attempt_s=3 * self.timeout_s,
            rng=self._random,
            on_attempt=self._count_request,
        )
        if answer.status is None and time.monotonic() >= deadline:
            return _Response(None, error="out of time budget")
        return _Response(answer.status, answer.body, answer.content_type, answer.error)

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    # -- the cache ------------------------------------------------------------------------------

    def _cache_path(self) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / "index" / CACHE_FILE

    def _fresh(self, entry: tuple[float, IndexInfo], now: float) -> bool:
        stored, info = entry
        hours = self.settings.cache_ttl_hours
        if info.exists is False:
            hours = min(hours, NEGATIVE_TTL_HOURS)
        return 0 <= now - stored <= hours * 3600

    def _read_document(self) -> dict[str, Any]:
        path = self._cache_path()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as exc:
            self.problems.append(f"index cache {path} unreadable, ignored: {exc}")
            return {}
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT:
            return {}
        return document

    def _read_cache(self) -> dict[str, tuple[float, IndexInfo]]:
        indexes = self._read_document().get("indexes")
        entries = indexes.get(self.display_url) if isinstance(indexes, dict) else None
        if not isinstance(entries, dict):
            return {}
        cached: dict[str, tuple[float, IndexInfo]] = {}
        for name, entry in entries.items():
            decoded = _decode_entry(name, entry)
            if decoded is not None:
                cached[name] = decoded
        return cached

    def _write_cache(self, answers: dict[str, IndexInfo]) -> None:
        if not answers:
            return
        path = self._cache_path()
        document = self._read_document()  # again: another run may have added answers
        indexes = document.get("indexes")
        if not isinstance(indexes, dict):
            indexes = {}
        entries = indexes.get(self.display_url)
        if not isinstance(entries, dict):
            entries = {}
        now = time.time()
        for name, info in answers.items():
            entries[name] = _encode_entry(now, info)
        for name in [n for n, e in entries.items() if not _recent(e, now)]:
            del entries[name]  # the file must not grow with every name ever asked about
        indexes[self.display_url] = entries
        text = json.dumps({"format": CACHE_FORMAT, "indexes": indexes}, separators=(",", ":"))
        temporary: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".answers-", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, path)
        except OSError as exc:
            self.problems.append(f"index cache {path} not written: {exc.strerror or exc}")
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)


# -- reading answers ----------------------------------------------------------------------------


def parse_project_json(name: str, data: Any) -> IndexInfo | None:
    """An ``IndexInfo`` from the Warehouse JSON API (``/pypi/NAME/json``); None when ``data``
    is not such a document."""
    if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
        return None
    info: dict[str, Any] = data["info"]
    releases = data.get("releases")
    versions: list[str] = []
    uploads: list[datetime] = []
    if isinstance(releases, dict):
        for version, files in releases.items():
            if not isinstance(version, str) or not isinstance(files, list):
                continue
            times = [_upload_time(f) for f in files if isinstance(f, dict)]
            if files:  # a version without files was never installable
                versions.append(version)
            uploads.extend(t for t in times if t is not None)
    else:  # the JSON API may stop listing releases: the latest one is still there
        files = data.get("urls")
        version = info.get("version")
        if isinstance(version, str) and isinstance(files, list) and files:
            versions.append(version)
            uploads.extend(t for t in (_upload_time(f) for f in files if isinstance(f, dict)) if t)
    summary = _text(info.get("summary"))
    description = _text(info.get("description"))
    urls: dict[str, str] = {}
    project_urls = info.get("project_urls")
    if isinstance(project_urls, dict):
        for label, url in project_urls.items():
            if isinstance(label, str) and isinstance(url, str) and _is_link(url):
                urls[label[:100]] = url[:500]
    for key, label in (("home_page", "Homepage"), ("download_url", "Download")):
        url = info.get(key)
        if isinstance(url, str) and _is_link(url) and url not in urls.values():
            urls.setdefault(label, url[:500])
    return IndexInfo(
        name=name,
        exists=True,
        versions=tuple(versions),
        first_release=_day(min(uploads)) if uploads else None,
        latest_release=_day(max(uploads)) if uploads else None,
        summary=summary[:_SUMMARY_CHARS],
        has_description=_meaningful(description) and description.strip() != summary.strip(),
        project_urls=urls,
        has_metadata=True,
        requires=_requires(info.get("requires_dist")),
    )


def _requires(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(line[:500] for line in value[:500] if isinstance(line, str))


def parse_simple_json(name: str, data: Any) -> IndexInfo | None:
    """An ``IndexInfo`` from a PEP 691 project page: versions and upload times (PEP 700), no
    description or links. None when ``data`` is not such a page."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    versions: list[str] = []
    listed = data.get("versions")
    if isinstance(listed, list):
        versions = [v for v in listed if isinstance(v, str)]
    uploads: list[datetime] = []
    from_files: list[str] = []
    for entry in data["files"]:
        if not isinstance(entry, dict):
            continue
        uploaded = _parse_time(entry.get("upload-time"))
        if uploaded is not None:
            uploads.append(uploaded)
        version = _version_of(entry.get("filename"))
        if version is not None and version not in from_files:
            from_files.append(version)
    return IndexInfo(
        name=name,
        exists=True,
        versions=tuple(versions or from_files),
        first_release=_day(min(uploads)) if uploads else None,
        latest_release=_day(max(uploads)) if uploads else None,
    )


def _read_local(url: str) -> _Response:
    """A ``file:`` index: the same URLs, read from the directory tree (a directory stands for
    its ``index.json``/``index.html``, or simply exists)."""
    from urllib.request import url2pathname

    path = Path(url2pathname(urllib.parse.urlsplit(url).path))
    try:
        if path.is_dir():
            for page, content_type in (("index.json", SIMPLE_JSON), ("index.html", "text/html")):
                if (path / page).is_file():
                    return _Response(200, (path / page).read_bytes()[:MAX_BODY], content_type)
            return _Response(200, b"", "text/html")
        if path.is_file():
            return _Response(200, path.read_bytes()[:MAX_BODY], "application/json")
    except OSError as exc:
        return _Response(None, error=f"cannot read {path}: {exc.strerror or exc}")
    return _Response(404, error="HTTP 404")


def _encode_entry(stored: float, info: IndexInfo) -> dict[str, Any]:
    return {
        "stored": stored,
        "exists": info.exists,
        "versions": list(info.versions),
        "first_release": info.first_release,
        "latest_release": info.latest_release,
        "summary": info.summary,
        "has_description": info.has_description,
        "project_urls": info.project_urls,
        "has_metadata": info.has_metadata,
        "requires": list(info.requires) if info.requires is not None else None,
    }


def _decode_entry(name: str, entry: Any) -> tuple[float, IndexInfo] | None:
    if not isinstance(entry, dict):
        return None
    stored, exists = entry.get("stored"), entry.get("exists")
    if not isinstance(stored, int | float) or not isinstance(exists, bool):
        return None
    versions = entry.get("versions")
    urls = entry.get("project_urls")
    first, latest = entry.get("first_release"), entry.get("latest_release")
    summary = entry.get("summary")
    info = IndexInfo(
        name=name,
        exists=exists,
        versions=tuple(v for v in versions if isinstance(v, str))
        if isinstance(versions, list)
        else (),
        first_release=first if isinstance(first, str) else None,
        latest_release=latest if isinstance(latest, str) else None,
        summary=summary if isinstance(summary, str) else "",
        has_description=entry.get("has_description") is True,
        project_urls={k: v for k, v in urls.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(urls, dict)
        else {},
        has_metadata=entry.get("has_metadata") is True,
        requires=_requires(entry.get("requires")),
    )
    return float(stored), info


def _recent(entry: Any, now: float) -> bool:
    stored = entry.get("stored") if isinstance(entry, dict) else None
    return isinstance(stored, int | float) and now - stored < PRUNE_AFTER_DAYS * 86400


def _upload_time(entry: dict[str, Any]) -> datetime | None:
    return _parse_time(entry.get("upload_time_iso_8601") or entry.get("upload_time"))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _version_of(filename: Any) -> str | None:
    if not isinstance(filename, str):
        return None
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _meaningful(text: str) -> bool:
    """Text that says something: not empty, not "UNKNOWN" (what old setuptools wrote)."""
    return text.strip().lower() not in _PLACEHOLDER_TEXT


def _is_link(url: str) -> bool:
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    return parts.scheme in {"http", "https"} and bool(host) and host not in PYPI_HOSTS


def unverified_note(facts: dict[str, IndexInfo]) -> str | None:
    """One note on the names the index could not vouch for: how many, and why."""
    by_reason: dict[str, list[str]] = {}
    for name, info in sorted(facts.items()):
        if info.exists is None and not (info.error or "").startswith("not a valid"):
            by_reason.setdefault(info.error or "no answer", []).append(name)
    if not by_reason:
        return None
    total = sum(len(names) for names in by_reason.values())
    parts: list[str] = []
    for reason, names in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        if reason.startswith("offline"):
            reason = "offline and not in the cache (`prodready deps` asks the index)"
        parts.append(f"{len(names)} {reason} ({shown})")
    return f"could not verify {total} name(s) on the package index: {'; '.join(parts)}"
