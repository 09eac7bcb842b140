"""The package index client and the rules over its answers, against an in-process fake index.

The fake is a real HTTP server on 127.0.0.1 (port 0, a thread): the Warehouse JSON API
(``/pypi/NAME/json``) and the PEP 691 simple API (``/simple/NAME/``) for the projects it knows,
404 for the rest, and per-name misbehaviour -- slow answers, answers that fail N times first,
5xx, malformed bodies. Prodready is configured to use it through ``DepsSettings.index_url``
(or ``$PIP_INDEX_URL``); nothing inside prodready is mocked.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from prodready.deps.existence import suspicion_reasons
from prodready.deps.index import (
    CACHE_FILE,
    USER_AGENT,
    IndexClient,
    parse_project_json,
    resolve_index_url,
    unverified_note,
)
from prodready.deps.model import IndexInfo
from prodready.deps.popular import is_popular, osa_distance, popular_names, typosquat_of
from prodready.model import Confidence, Config, DepsSettings, Severity

SLOW_S = 1.5  # how long the slow endpoint sleeps: beyond the client timeouts used here
TIMEOUT_S = 0.4


def _ago(days: float) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def project_json(
    name: str,
    releases: dict[str, str] | None = None,
    *,
    summary: str = "A well described project.",
    description: str = "# Project\n\nWhat it does, how to install it, how to use it.",
    urls: dict[str, str] | None = None,
    home_page: str | None = None,
) -> dict[str, Any]:
    """A Warehouse JSON API document: ``releases`` maps versions to upload times."""
    if releases is None:
        releases = {f"1.{i}.0": f"{2015 + i}-05-01T12:00:00Z" for i in range(8)}
    if urls is None:
        urls = {"Source": f"https://github.com/example/{name}"}
    return {
        "info": {
            "name": name,
            "summary": summary,
            "description": description,
            "project_urls": urls,
            "home_page": home_page,
            "version": list(releases)[-1] if releases else None,
        },
        "releases": {
            version: [
                {"filename": f"{name}-{version}.tar.gz", "upload_time_iso_8601": uploaded},
                {"filename": f"{name}-{version}-py3-none-any.whl", "upload_time": uploaded[:19]},
            ]
            for version, uploaded in releases.items()
        },
        "urls": [],
    }


@dataclass
class FakeIndex:
    """What the fake index serves, and what it was asked (thread-safe counters)."""

    url: str = ""
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    simple_only: set[str] = field(default_factory=set)  # known to the simple API alone
    slow: set[str] = field(default_factory=set)
    flaky: dict[str, int] = field(default_factory=dict)  # name -> 503s before succeeding
    failing: dict[str, int] = field(default_factory=dict)  # name -> status, always
    raw: dict[str, bytes] = field(default_factory=dict)  # name -> body of the JSON API
    retry_after: dict[str, str] = field(default_factory=dict)  # 429 once, with this header
    gzip_names: set[str] = field(default_factory=set)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def requests_for(self, name: str) -> int:
        with self.lock:
            return sum(1 for path in self.paths if f"/{name}/" in path)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.paths)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        fake = self.server.fake
        with fake.lock:
            fake.paths.append(self.path)
            fake.headers.append(dict(self.headers.items()))
            fake.active += 1
            fake.peak = max(fake.peak, fake.active)
        try:
            self._answer(fake)
        finally:
            with fake.lock:
                fake.active -= 1

    def _answer(self, fake: FakeIndex) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            api, name = "json", parts[1]
        elif len(parts) == 2 and parts[0] == "simple":
            api, name = "simple", parts[1]
        else:
            self._send(404, b"not found")
            return
        if name in fake.slow:
            fake.stopping.wait(SLOW_S)  # bounded: ends early when the server stops
        if name in fake.failing:
            self._send(fake.failing[name], b"server error")
            return
        with fake.lock:
            left = fake.flaky.get(name, 0)
            if left:
                fake.flaky[name] = left - 1
            header = fake.retry_after.pop(name, None)
        if left:
            self._send(503, b"try again")
            return
        if header is not None:
            self._send(429, b"slow down", {"Retry-After": header})
            return
        if api == "json":
            if name in fake.raw:
                self._send(200, fake.raw[name], {"Content-Type": "application/json"})
            elif name in fake.projects and name not in fake.simple_only:
                body = json.dumps(fake.projects[name]).encode()
                extra = {"Content-Type": "application/json"}
                if name in fake.gzip_names and "gzip" in self.headers.get("Accept-Encoding", ""):
                    body, extra["Content-Encoding"] = gzip.compress(body, 1), "gzip"
                self._send(200, body, extra)
            else:
                self._send(404, b'{"message": "Not Found"}')
            return
        if name in fake.projects or name in fake.simple_only:
            stem = name.replace("-", "_")
            files = [
                {"filename": f"{name}-0.1.0.tar.gz", "upload-time": "2020-01-02T03:04:05Z"},
                {"filename": f"{stem}-0.2.0-py3-none-any.whl", "upload-time": _ago(3)},
            ]
            page = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
            content_type = "application/vnd.pypi.simple.v1+json"
            self._send(200, json.dumps(page).encode(), {"Content-Type": content_type})
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout): nothing to do
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeIndex) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@pytest.fixture
def fake_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:
    # The client honours proxy settings; the fake index is reached directly.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeIndex()
    fake.projects["requests"] = project_json(
        "requests",
        summary="Python HTTP for Humans.",
        urls={"Documentation": "https://requests.readthedocs.io", "Source": "https://x.org/r"},
        home_page="https://requests.readthedocs.io",
    )
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def settings_for(fake: FakeIndex, **changes: Any) -> DepsSettings:
    values: dict[str, Any] = {"online": True, "index_url": fake.url, "timeout_s": TIMEOUT_S}
    values.update(changes)
    return DepsSettings(**values)


def client(
    fake: FakeIndex, cache_dir: Path | None = None, *, backoff_s: float = 0.02, **changes: Any
) -> IndexClient:
    return IndexClient(settings_for(fake, **changes), cache_dir, backoff_s=backoff_s)


# -- existence and metadata ---------------------------------------------------------------------


def test_existing_and_missing_names(fake_index: FakeIndex) -> None:
    answers = client(fake_index).lookup(["requests", "Flask_JWT_Auth_Helpers"])
    assert answers["requests"].exists is True
    missing = answers["Flask_JWT_Auth_Helpers"]  # keyed as asked, named canonically
    assert missing.exists is False and missing.error is None
    assert missing.name == "flask-jwt-auth-helpers"
    # Another index's JSON API 404 is not authoritative: the simple API confirms the absence.
    assert "/pypi/flask-jwt-auth-helpers/json" in fake_index.paths
    assert "/simple/flask-jwt-auth-helpers/" in fake_index.paths
    assert all(h.get("User-Agent") == USER_AGENT for h in fake_index.headers)


def test_metadata_is_read_from_the_json_api(fake_index: FakeIndex) -> None:
    fake_index.projects["fresh"] = project_json(
        "fresh",
        {"0.1.0": "2026-01-05T10:00:00Z", "0.2.0": "2026-02-07T23:59:59Z"},
        summary="  A fresh project.  ",
        description="UNKNOWN",
        urls={"Homepage": "https://fresh.example.org", "PyPI": "https://pypi.org/project/fresh"},
    )
    info = client(fake_index).lookup(["requests", "fresh"])
    requests_info, fresh = info["requests"], info["fresh"]
    assert requests_info.has_metadata and requests_info.has_description
    assert requests_info.versions == tuple(f"1.{i}.0" for i in range(8))
    assert requests_info.first_release == "2015-05-01"
    assert requests_info.latest_release == "2022-05-01"
    assert requests_info.summary == "Python HTTP for Humans."
    assert requests_info.project_urls["Documentation"] == "https://requests.readthedocs.io"
    assert fresh.versions == ("0.1.0", "0.2.0")
    assert (fresh.first_release, fresh.latest_release) == ("2026-01-05", "2026-02-07")
    assert fresh.summary == "A fresh project."
    assert not fresh.has_description  # "UNKNOWN" is what old setuptools wrote for nothing
    assert fresh.project_urls == {"Homepage": "https://fresh.example.org"}  # not PyPI's own


def test_simple_api_answers_when_the_index_has_no_json_api(fake_index: FakeIndex) -> None:
    fake_index.simple_only.add("internal-lib")
    info = client(fake_index).lookup(["internal-lib"])["internal-lib"]
    assert info.exists is True and not info.has_metadata
    assert info.versions == ("0.1.0", "0.2.0")  # from the file names (PEP 691 page)
    assert info.first_release == "2020-01-02"
    pairs = zip(fake_index.headers, fake_index.paths, strict=True)
    accept = [h["Accept"] for h, p in pairs if "simple" in p]
    assert accept and "application/vnd.pypi.simple.v1+json" in accept[0]


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'{"info": "a string"}',
        b'{"info": {"summary": 5, "project_urls": ["x"]}, "releases": {"1.0": "nope"}}',
        b'{"info": {}, "releases": {"1.0": [{"upload_time_iso_8601": "yesterday"}, 7]}}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_answers_never_crash(fake_index: FakeIndex, body: bytes) -> None:
    fake_index.raw["odd"] = body
    info = client(fake_index).lookup(["odd"])["odd"]
    # Either readable enough, or the simple API decides (404 here): never an exception.
    assert info.exists in {True, False}
    assert info.exists is True or fake_index.requests_for("odd") == 2


def test_parse_project_json_degrades_field_by_field() -> None:
    info = parse_project_json(
        "x",
        {
            "info": {"summary": None, "description": 3, "project_urls": {"Source": 5}},
            "releases": {"1.0": [], "2.0": [{"upload_time": "2021-01-01T00:00:00"}]},
        },
    )
    assert info is not None and info.exists is True
    assert info.versions == ("2.0",)  # a version without files was never installable
    assert info.summary == "" and not info.has_description and info.project_urls == {}
    assert info.first_release == "2021-01-01"
    assert parse_project_json("x", {"releases": {}}) is None
    # Without "releases" (the API may drop it): the latest version from "urls".
    latest = parse_project_json(
        "x",
        {"info": {"version": "3.1"}, "urls": [{"upload_time_iso_8601": "2024-02-03T04:05:06Z"}]},
    )
    assert latest is not None and latest.versions == ("3.1",)
    assert latest.first_release == "2024-02-03"


def test_gzip_answers_are_decoded(fake_index: FakeIndex) -> None:
    fake_index.gzip_names.add("requests")
    info = client(fake_index).lookup(["requests"])["requests"]
    assert info.exists is True and info.summary == "Python HTTP for Humans."


def test_oversized_answers_are_not_read_whole(fake_index: FakeIndex) -> None:
    # A gzip bomb: 64 KiB on the wire, more than the size limit once inflated.
    fake_index.gzip_names.add("huge")
    fake_index.projects["huge"] = {"padding": " " * (65 * 1024 * 1024)}
    info = client(fake_index).lookup(["huge"])["huge"]
    assert info.exists is True and not info.has_metadata  # a 200 from the JSON API


def test_invalid_names_are_not_sent(fake_index: FakeIndex) -> None:
    info = client(fake_index).lookup(["../../etc/passwd", "-bad"])
    assert all(i.exists is None and "not a valid" in (i.error or "") for i in info.values())
    assert fake_index.count == 0
    assert unverified_note(info) is None  # nothing there could be on any index


# -- resilience ---------------------------------------------------------------------------------


def test_flaky_answers_are_retried_with_backoff(fake_index: FakeIndex) -> None:
    fake_index.projects["flaky"] = project_json("flaky")
    fake_index.flaky["flaky"] = 2  # two 503s, then the answer
    info = client(fake_index).lookup(["flaky"])["flaky"]
    assert info.exists is True and info.has_metadata
    assert fake_index.paths.count("/pypi/flaky/json") == 3


def test_retry_after_is_honoured(fake_index: FakeIndex) -> None:
    fake_index.projects["busy"] = project_json("busy")
    fake_index.retry_after["busy"] = "0.3"
    started = time.monotonic()
    info = client(fake_index).lookup(["busy"])["busy"]
    assert info.exists is True
    assert time.monotonic() - started >= 0.3
    assert fake_index.paths.count("/pypi/busy/json") == 2


def test_server_errors_end_unverified_after_bounded_retries(fake_index: FakeIndex) -> None:
    fake_index.failing["broken"] = 500
    info = client(fake_index).lookup(["broken"])["broken"]
    assert info.exists is None  # never a silent "exists", never a crash
    assert "HTTP 500" in (info.error or "")
    # Three attempts on the JSON API, three on the simple API: bounded.
    assert fake_index.requests_for("broken") == 6
    note = unverified_note({"broken": info})
    assert note == (
        f"could not verify 1 name(s) on the package index: 1 {fake_index.url}: HTTP 500 (broken)"
    )


def test_client_errors_are_not_retried(fake_index: FakeIndex) -> None:
    fake_index.failing["forbidden"] = 403
    info = client(fake_index).lookup(["forbidden"])["forbidden"]
    assert info.exists is None and "HTTP 403" in (info.error or "")
    assert fake_index.requests_for("forbidden") == 2  # one per API


def test_timeouts_are_bounded(fake_index: FakeIndex) -> None:
    fake_index.projects["slow"] = project_json("slow")
    fake_index.slow.add("slow")
    info = IndexClient(settings_for(fake_index), None, backoff_s=0.02, attempts=2).lookup(["slow"])[
        "slow"
    ]
    # The slow endpoint would answer after SLOW_S: "timed out" proves the client gave up first.
    assert info.exists is None and "timed out" in (info.error or "")
    assert fake_index.requests_for("slow") == 4  # two attempts per API


def test_overall_budget_bounds_a_dead_index(fake_index: FakeIndex) -> None:
    names = [f"slow-{i}" for i in range(6)]
    fake_index.slow.update(names)
    settings = settings_for(fake_index, timeout_s=1.0)
    answers = IndexClient(settings, None, workers=2, budget_s=0.8).lookup(names)
    assert all(info.exists is None for info in answers.values())
    assert any("budget" in (info.error or "") for info in answers.values())


def test_lookups_run_concurrently(fake_index: FakeIndex) -> None:
    names = [f"pkg-{i}" for i in range(8)]
    for name in names:
        fake_index.projects[name] = project_json(name)
        fake_index.slow.add(name)
    settings = settings_for(fake_index, timeout_s=5.0)
    answers = IndexClient(settings, None).lookup(names)
    assert all(answers[name].exists is True for name in names)
    # Each answer takes SLOW_S: all eight requests (the default worker count) were in flight.
    assert fake_index.peak == 8


def test_unreachable_index_is_unverified(tmp_path: Path) -> None:
    # A port nothing listens on: connection refused, retried, then unverified with the reason.
    settings = DepsSettings(online=True, index_url="http://127.0.0.1:9/simple", timeout_s=0.5)
    info = IndexClient(settings, tmp_path, backoff_s=0.01).lookup(["requests"])["requests"]
    assert info.exists is None and "connection failed" in (info.error or "")
    assert not (tmp_path / "index" / CACHE_FILE).exists()  # errors are never cached


# -- the cache ----------------------------------------------------------------------------------


def test_second_lookup_is_answered_from_the_cache(fake_index: FakeIndex, tmp_path: Path) -> None:
    first = client(fake_index, tmp_path).lookup(["requests", "nope"])
    asked = fake_index.count
    second = client(fake_index, tmp_path).lookup(["requests", "nope"])
    assert fake_index.count == asked  # no request at all
    assert second["requests"].from_cache and second["nope"].from_cache
    assert second["requests"].exists is True and second["nope"].exists is False
    assert replace(second["requests"], from_cache=False) == first["requests"]
    cache_file = tmp_path / "index" / CACHE_FILE
    assert cache_file.is_file()
    assert not [p for p in cache_file.parent.iterdir() if p.name != CACHE_FILE]  # atomic


def _age_cache(cache_file: Path, name: str, hours: float) -> None:
    document = json.loads(cache_file.read_text())
    for entries in document["indexes"].values():
        entries[name]["stored"] = time.time() - hours * 3600
    cache_file.write_text(json.dumps(document))


def test_ttl_expiry_and_the_shorter_ttl_of_absence(fake_index: FakeIndex, tmp_path: Path) -> None:
    client(fake_index, tmp_path).lookup(["requests", "nope"])
    cache_file = tmp_path / "index" / CACHE_FILE
    _age_cache(cache_file, "requests", 2)
    _age_cache(cache_file, "nope", 2)
    asked = fake_index.count
    again = client(fake_index, tmp_path, cache_ttl_hours=24).lookup(["requests", "nope"])
    # Existence two hours old is fresh; absence two hours old is not (anyone may register it).
    assert again["requests"].from_cache and not again["nope"].from_cache
    assert fake_index.count == asked + 2
    _age_cache(cache_file, "requests", 30)
    expired = client(fake_index, tmp_path, cache_ttl_hours=24).lookup(["requests"])
    assert not expired["requests"].from_cache
    assert fake_index.paths[-1] == "/pypi/requests/json"


def test_offline_uses_only_the_cache(fake_index: FakeIndex, tmp_path: Path) -> None:
    client(fake_index, tmp_path).lookup(["requests"])
    _age_cache(tmp_path / "index" / CACHE_FILE, "requests", 24 * 20)  # far beyond the TTL
    asked = fake_index.count
    answers = client(fake_index, tmp_path, online=False).lookup(["requests", "unknown-one"])
    assert fake_index.count == asked  # no network at all
    assert answers["requests"].exists is True and answers["requests"].from_cache
    assert answers["unknown-one"].exists is None
    assert answers["unknown-one"].error == "offline: not in cache"
    note = unverified_note(answers)
    assert note == (
        "could not verify 1 name(s) on the package index: 1 offline and not in the cache"
        " (`prodready deps` asks the index) (unknown-one)"
    )


def test_old_answers_are_pruned_on_write(fake_index: FakeIndex, tmp_path: Path) -> None:
    client(fake_index, tmp_path).lookup(["requests", "nope"])
    cache_file = tmp_path / "index" / CACHE_FILE
    _age_cache(cache_file, "nope", 24 * 40)
    fake_index.projects["other"] = project_json("other")
    client(fake_index, tmp_path).lookup(["other"])
    entries = next(iter(json.loads(cache_file.read_text())["indexes"].values()))
    assert sorted(entries) == ["other", "requests"]


def test_corrupt_cache_is_ignored_and_replaced(fake_index: FakeIndex, tmp_path: Path) -> None:
    cache_file = tmp_path / "index" / CACHE_FILE
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text("{ not json")
    index = client(fake_index, tmp_path)
    assert index.lookup(["requests"])["requests"].exists is True
    assert index.problems and "unreadable" in index.problems[0]
    assert json.loads(cache_file.read_text())["format"] == 1


def test_cache_is_kept_per_index(fake_index: FakeIndex, tmp_path: Path) -> None:
    client(fake_index, tmp_path).lookup(["requests"])
    other = DepsSettings(online=False, index_url="https://private.example.com/simple")
    info = IndexClient(other, tmp_path).lookup(["requests"])["requests"]
    assert info.exists is None  # another index's answers are not this one's


# -- which index ----------------------------------------------------------------------------------


def test_pip_index_url_is_honoured(fake_index: FakeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", fake_index.url + "/")
    settings = DepsSettings(online=True, timeout_s=TIMEOUT_S)
    assert resolve_index_url(settings) == fake_index.url
    assert IndexClient(settings, None).lookup(["requests"])["requests"].exists is True
    assert fake_index.paths == ["/pypi/requests/json"]
    # The setting wins over the environment.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    assert resolve_index_url(replace(settings, index_url=fake_index.url)) == fake_index.url


def test_default_index_is_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    index = IndexClient(DepsSettings(), None)
    assert index.index_url == "https://pypi.org/simple" and index.authoritative
    assert index._json_api_url("requests") == "https://pypi.org/pypi/requests/json"


def test_credentials_are_sent_but_never_shown(fake_index: FakeIndex, tmp_path: Path) -> None:
    url = fake_index.url.replace("http://", "http://deploy:s3cr%40t@")
    fake_index.failing["broken"] = 500
    index = IndexClient(settings_for(fake_index, index_url=url), tmp_path, backoff_s=0.01)
    answers = index.lookup(["requests", "broken"])
    assert answers["requests"].exists is True
    assert fake_index.headers[0]["Authorization"] == "Basic ZGVwbG95OnMzY3JAdA=="  # deploy:s3cr@t
    assert "s3cr" not in (answers["broken"].error or "") and "***@" in (
        answers["broken"].error or ""
    )
    assert "s3cr" not in (tmp_path / "index" / CACHE_FILE).read_text()


def test_local_directory_index(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    (root / "pypi" / "requests").mkdir(parents=True)
    (root / "pypi" / "requests" / "json").write_text(json.dumps(project_json("requests")))
    (root / "simple" / "internal-lib").mkdir(parents=True)
    (root / "simple" / "internal-lib" / "index.html").write_text("<a href='x.whl'>x</a>")
    settings = DepsSettings(online=True, index_url=str(root / "simple"))
    answers = IndexClient(settings, tmp_path / "cache").lookup(["requests", "internal-lib", "no"])
    assert answers["requests"].exists is True and answers["requests"].has_metadata
    assert answers["internal-lib"].exists is True and not answers["internal-lib"].has_metadata
    assert answers["no"].exists is False
    assert not (tmp_path / "cache").exists()  # reading a directory needs no cache


# -- popular names and typosquats ---------------------------------------------------------------


def test_popular_list_is_shipped() -> None:
    names = popular_names()
    assert len(names) == 14985 and names[:2] == ("boto3", "packaging")
    assert is_popular("requests") and is_popular("Typing_Extensions")
    assert not is_popular("reqeusts")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("reqeusts", "requests"),  # transposition
        ("requets", "requests"),  # deletion
        ("urlib3", "urllib3"),
        ("djnago", "django"),
        ("colourama", "colorama"),  # insertion
        ("numpi", "numpy"),  # substitution, 5 letters
        ("matplotib", "matplotlib"),
        ("beautifulsop4", "beautifulsoup4"),
        ("scikit-lern", "scikit-learn"),
        ("sckit-lean", "scikit-learn"),  # two edits in a long name
        ("scikitlearn", "scikit-learn"),  # separators
        ("djang0", "django"),  # look-alike digit
        ("crypt0graphy", "cryptography"),
        ("python-requests", "requests"),  # decorations
        ("requests-py", "requests"),
        ("yaml", "pyyaml"),
        ("dateutil", "python-dateutil"),
        ("jeIlyfish", "jellyfish"),
        ("pyredis", "redis"),
    ],
)
def test_typosquats_are_recognised(name: str, target: str) -> None:
    assert typosquat_of(name) == target


@pytest.mark.parametrize(
    "name",
    [
        # popular projects themselves, in any spelling
        "requests",
        "Flask",
        "itsdangerous",
        "blinker",
        "anyio",
        "starlette",
        "python_dateutil",
        "types-requests",
        # different projects with similar names
        "pytest-shard-ci",
        "fabric3",  # a fork's name: a major version appended
        "tf-playwright-stealth-x",  # whole words added to a popular name
        "nose2x",
        "flsk",  # four letters: too many real names are one edit apart
        "my-company-orders-service",
    ],
)
def test_not_typosquats(name: str) -> None:
    assert typosquat_of(name) is None


def test_internal_service_names_are_not_typosquats() -> None:
    assert [typosquat_of(f"internal-service-{i}") for i in range(200)] == [None] * 200


def test_osa_distance() -> None:
    assert osa_distance("requests", "reqeusts", 2) == 1
    assert osa_distance("abc", "abc", 1) == 0
    assert osa_distance("kitten", "sitting", 5) == 3
    assert osa_distance("kitten", "sitting", 1) == 2  # stops early: beyond the limit


# -- suspicion signals ----------------------------------------------------------------------------


def _info(**values: Any) -> IndexInfo:
    base: dict[str, Any] = {
        "name": "x",
        "exists": True,
        "versions": ("1.0",),
        "first_release": "2015-01-01",
        "summary": "A real summary of the project.",
        "has_description": True,
        "project_urls": {"Source": "https://github.com/x/x"},
        "has_metadata": True,
    }
    base.update(values)
    return IndexInfo(**base)


TODAY = datetime(2026, 6, 1, tzinfo=UTC).date()


def test_suspicion_needs_youth_and_emptiness() -> None:
    placeholder = _info(
        first_release="2026-05-20", summary="placeholder", has_description=False, project_urls={}
    )
    reasons = suspicion_reasons(placeholder, TODAY)
    assert reasons == [
        "first release 12 days ago (2026-05-20)",
        "a single release (1.0)",
        'placeholder description "placeholder"',
        "no project links",
    ]
    empty = _info(summary="", has_description=False, project_urls={})
    assert suspicion_reasons(empty, TODAY) == [
        "a single release (1.0)",
        "no description",
        "no project links",
    ]
    # A healthy new project: recent and a single release, but described and linked.
    assert suspicion_reasons(_info(first_release="2026-05-20"), TODAY) == []
    # An old project without links or description but with a history.
    old = _info(versions=tuple(f"0.{i}" for i in range(12)), summary="", project_urls={})
    assert suspicion_reasons(replace(old, has_description=False), TODAY) == []
    # Names held without any release file.
    held = _info(versions=(), first_release=None, project_urls={})
    assert suspicion_reasons(held, TODAY) == ["no release with files", "no project links"]


def test_suspicion_without_metadata_needs_two_youth_signals() -> None:
    bare = _info(has_metadata=False, summary="", has_description=False, project_urls={})
    assert suspicion_reasons(replace(bare, first_release="2026-05-01"), TODAY) == [
        "first release 31 days ago (2026-05-01)",
        "a single release (1.0)",
    ]
    assert suspicion_reasons(bare, TODAY) == []  # old single release, nothing else known


# -- the rules, through a scan and through the command line -------------------------------------


def _project(root: Path, requirements: str, code: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    if code:
        (root / "app.py").write_text(code)
    return root


def test_rules_on_a_scanned_project(fake_index: FakeIndex, tmp_path: Path, run_scan) -> None:
    fake_index.projects["fastapi-auth-middleware"] = project_json(
        "fastapi-auth-middleware",
        {"0.0.1": _ago(12)},
        summary="test",
        description="",
        urls={},
    )
    fake_index.projects["reqeusts"] = project_json("reqeusts", {"2.32.3": _ago(40)})
    fake_index.projects["new-but-fine"] = project_json("new-but-fine", {"1.0.0": _ago(5)})
    root = _project(
        tmp_path / "svc",
        "requests>=2.31\n"
        "fastapi-auth-middleware>=0.0.1\n"
        "reqeusts>=2.32\n"
        "flask-jwt-auth-helpers>=1.2\n"
        "new-but-fine>=1.0\n",
        "import requests\nimport made_up_module_xyz\n",
    )
    config = Config(select=("DEP020", "DEP021", "DEP022"), deps=settings_for(fake_index))
    result = run_scan(root, config=config, cache_dir=tmp_path / "cache")
    found = sorted((f.rule, f.path, f.line) for f in result.findings)
    assert found == [
        ("DEP020", "app.py", 2),
        ("DEP020", "requirements.txt", 4),
        ("DEP021", "requirements.txt", 2),
        ("DEP022", "requirements.txt", 3),
    ]
    messages = {f.rule: f.message for f in result.findings if f.path == "requirements.txt"}
    assert "first release 12 days ago" in messages["DEP021"]
    assert 'placeholder description "test"' in messages["DEP021"]
    assert "resembles `requests`" in messages["DEP022"]
    assert not result.notes or not any("verify" in note for note in result.notes)


def test_typosquat_needs_a_young_or_obscure_name_and_a_required_import(
    fake_index: FakeIndex, tmp_path: Path, run_scan
) -> None:
    # A driver released since 2012 (ten releases) from before project links: a project of its
    # own, though its name is one letter from pymysql. An optional edition's module imported
    # inside try/except ImportError is no dependency. A young near miss imported for real is.
    fake_index.projects["cymysql"] = project_json(
        "cymysql", {f"0.{i}.0": f"{2012 + i}-03-01T12:00:00Z" for i in range(10)}, urls={}
    )
    fake_index.projects["pymysql"] = project_json("pymysql")
    fake_index.projects["stats"] = project_json("stats", {"0.0.1": _ago(20)}, urls={})
    fake_index.projects["reqeusts"] = project_json("reqeusts", {"2.32.3": _ago(40)})
    root = _project(
        tmp_path / "svc",
        "requests>=2.31\ncymysql>=0.9\n",
        "import cymysql\n"
        "import requests\n"
        "try:\n"
        "    import stats\n"
        "except ImportError:\n"
        "    stats = None\n"
        "import reqeusts\n",
    )
    config = Config(select=("DEP022",), deps=settings_for(fake_index))
    result = run_scan(root, config=config, cache_dir=tmp_path / "cache")
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("DEP022", "app.py", 7)]


def test_requirements_of_a_declared_distribution_from_the_index(
    fake_index: FakeIndex, tmp_path: Path, run_scan
) -> None:
    # Not installed here: the index's requires_dist (kept in the cache) says what it brings,
    # with the declared extra; an import nothing brings is still undeclared, and certain.
    document = project_json("acme-platform-skinny")
    document["info"]["requires_dist"] = [
        "pyyaml>=5",
        "cachetools; extra == 'cache'",
        "opentelemetry-api>=1.9",
    ]
    fake_index.projects["acme-platform-skinny"] = document
    for name in ("pyyaml", "cachetools", "opentelemetry-api"):
        fake_index.projects[name] = project_json(name)
    root = _project(
        tmp_path / "svc",
        "acme-platform-skinny[cache]==3.18.0\n",
        # opentelemetry.util is a module of opentelemetry-api (the namespace's table).
        "import yaml\nimport cachetools\nimport requests\nfrom opentelemetry.util import types\n",
    )
    config = Config(select=("DEP010",), deps=settings_for(fake_index))
    result = run_scan(root, config=config, cache_dir=tmp_path / "cache")
    assert [(f.path, f.line, f.severity) for f in result.findings] == [("app.py", 3, Severity.HIGH)]
    offline = Config(select=("DEP010",), deps=settings_for(fake_index, online=False))
    again = run_scan(root, config=offline, cache_dir=tmp_path / "cache")
    assert [(f.path, f.line, f.severity) for f in again.findings] == [("app.py", 3, Severity.HIGH)]


def test_an_offline_typosquat_is_low_confidence_and_an_optional_import_is_not_judged(
    tmp_path: Path, run_scan
) -> None:
    """Offline the index cannot say whether a near miss is young or obscure: declared or only
    imported, it is reported at low confidence (a mistyped or hallucinated import is what an
    attacker registers) -- unless the import is optional (another edition's module)."""
    code = (
        "import reqeusts_toolbelt\ntry:\n    import stats\nexcept ImportError:\n    stats = None\n"
    )
    root = _project(tmp_path / "svc", "reqeusts>=2.32\n", code)
    config = Config(select=("DEP022",), deps=DepsSettings(online=False))
    result = run_scan(root, config=config, cache_dir=tmp_path / "cache")
    assert [(f.path, f.line, f.confidence) for f in result.findings] == [
        ("app.py", 1, Confidence.LOW),
        ("requirements.txt", 1, Confidence.LOW),
    ]


def test_unverified_names_are_a_note_not_a_finding(tmp_path: Path, run_scan) -> None:
    root = _project(tmp_path / "svc", "flask-jwt-auth-helpers>=1.2\nrequests>=2.31\n")
    config = Config(select=("DEP020", "DEP021"), deps=DepsSettings(online=False))
    result = run_scan(root, config=config, cache_dir=tmp_path / "cache")
    assert result.findings == []
    notes = [note for note in result.notes if "could not verify" in note]
    assert notes == [
        "could not verify 2 name(s) on the package index: 2 offline and not in the cache"
        " (`prodready deps` asks the index) (flask-jwt-auth-helpers, requests)"
    ]


def test_deps_command_reports_a_nonexistent_package(fake_index: FakeIndex, tmp_path: Path) -> None:
    root = _project(
        tmp_path / "svc",
        "# service dependencies\nrequests>=2.31\n\nflask-jwt-auth-helpers>=1.2\n",
    )
    cache = tmp_path / "cache"
    args = ["deps", ".", "--format", "json", "--cache-dir", str(cache)]
    env = {k: v for k, v in os.environ.items() if k not in {"PIP_INDEX_URL", "PRODREADY_CACHE_DIR"}}
    result = run_cli([*args, "--index-url", fake_index.url], cwd=root, env=env)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    findings = [(f["rule"], f["path"], f["line"]) for f in document["findings"]]
    assert ("DEP020", "requirements.txt", 4) in findings
    assert [f for f in findings if f[0] in {"DEP021", "DEP022"}] == []
    deps = {d["name"]: d for d in document["dependencies"]}
    assert deps["flask-jwt-auth-helpers"]["exists"] is False
    assert deps["requests"]["exists"] is True
    assert (cache / "index" / CACHE_FILE).is_file()
    # Warm and offline: the same verdict from the cache, without asking the index.
    asked = fake_index.count
    offline = run_cli([*args, "--offline", "--index-url", fake_index.url], cwd=root, env=env)
    assert fake_index.count == asked
    assert ("DEP020", "requirements.txt", 4) in [
        (f["rule"], f["path"], f["line"]) for f in json.loads(offline.stdout)["findings"]
    ]


def test_a_local_index_in_a_config_file_is_relative_to_that_file(tmp_path: Path) -> None:
    from prodready.config import load_config

    config_file = tmp_path / "prodready.toml"
    (tmp_path / "mirror" / "simple").mkdir(parents=True)  # a local index must exist
    config_file.write_text('[deps]\nindex-url = "mirror/simple"\n')
    assert load_config(config_file).deps.index_url == str(tmp_path / "mirror" / "simple")
    config_file.write_text('[deps]\nindex-url = "https://pypi.example.com/simple"\n')
    assert load_config(config_file).deps.index_url == "https://pypi.example.com/simple"
