"""Known vulnerabilities: OSV matching, the local database and its cache index, online sources
that degrade to "advisories unavailable", and rule DEP030 end to end.

The real advisories come from the shared snapshot of the PyPA advisory database
(``../shared/advisory-db``, OSV YAML, CC-BY 4.0); online sources are pointed at a local HTTP
server -- nothing inside prodready is mocked.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED, run_cli

from prodready.catalog import default_registry
from prodready.config import load_config
from prodready.deps import advisories as advisories_module
from prodready.deps.advisories import (
    OSVDatabase,
    OSVQueryAdvisories,
    PyPIReleaseAdvisories,
    advisory_sources,
    compact_record,
    cvss2_base_score,
    cvss3_base_score,
    fixed_versions,
    in_range,
    is_affected,
    json_api_base,
    merge_aliases,
    record_severity,
    redact,
)
from prodready.deps.inventory import Dependency, Inventory
from prodready.deps.model import (
    AdvisoriesUnavailable,
    Advisory,
    Declaration,
    DependencyManifests,
    Locked,
)
from prodready.engine.project import ProjectFacts
from prodready.engine.project_run import run_project_rules
from prodready.model import Config, DepsSettings, Severity

SNAPSHOT = SHARED / "advisory-db"
needs_snapshot = pytest.mark.skipif(
    not (SNAPSHOT / "vulns").is_dir(), reason=f"advisory snapshot not found at {SNAPSHOT}"
)


def _ids(found: list[Advisory]) -> set[str]:
    return {name for advisory in found for name in (advisory.id, *advisory.aliases)}


# -- the shared snapshot ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("advisory-cache")


@pytest.fixture(scope="module")
def snapshot(snapshot_cache: Path) -> OSVDatabase:
    if not (SNAPSHOT / "vulns").is_dir():
        pytest.skip(f"advisory snapshot not found at {SNAPSHOT}")
    database = OSVDatabase(SNAPSHOT, snapshot_cache)
    database.load()
    return database


def test_snapshot_requests_2_19_0_has_known_advisories(snapshot: OSVDatabase) -> None:
    found = snapshot.lookup("requests", "2.19.0")
    ids = _ids(found)
    assert {"PYSEC-2018-28", "CVE-2018-18074", "GHSA-x84v-xcm2-53pg"} <= ids
    assert {"PYSEC-2023-74", "CVE-2023-32681"} <= ids
    leak = next(a for a in found if a.id == "PYSEC-2018-28")
    assert leak.fixed == ("2.20.0",)
    assert "Authorization" in leak.summary
    assert leak.url and leak.url.startswith("https://")
    assert next(a for a in found if a.id == "PYSEC-2023-74").fixed == ("2.31.0",)


def test_snapshot_pyyaml_5_3_has_known_advisories(snapshot: OSVDatabase) -> None:
    found = snapshot.lookup("PyYAML", "5.3")  # the declared spelling: names are canonicalised
    assert {"PYSEC-2020-96", "PYSEC-2021-142", "CVE-2020-1747", "CVE-2020-14343"} <= _ids(found)
    assert "PYSEC-2018-49" not in _ids(found)  # fixed in 5.1
    assert {a.id: a.fixed for a in found}["PYSEC-2020-96"] == ("5.3.1",)


def test_snapshot_current_releases_are_clean(snapshot: OSVDatabase) -> None:
    assert snapshot.lookup("requests", "2.32.5") == []
    assert snapshot.lookup("pyyaml", "6.0.2") == []
    assert snapshot.lookup("no-such-package-anywhere", "1.0") == []


def test_snapshot_index_is_complete_and_clean(snapshot: OSVDatabase) -> None:
    stats = snapshot.stats
    # The pinned snapshot in ../shared/advisory-db: 2,661 records for 660 packages.
    assert (stats.files, stats.records, stats.packages) == (2661, 2661, 660)
    assert stats.skipped == 0 and stats.withdrawn == 10
    assert snapshot.notes == []


def test_second_open_reads_only_the_index(
    snapshot: OSVDatabase, snapshot_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert snapshot.index_path is not None and snapshot.index_path.parent == snapshot_cache
    parsed: list[str] = []
    original = advisories_module._load_yaml

    def counting(text: str) -> Any:
        parsed.append(text[:20])
        return original(text)

    monkeypatch.setattr(advisories_module, "_load_yaml", counting)
    warm = OSVDatabase(SNAPSHOT, snapshot_cache)
    found = warm.lookup("requests", "2.19.0")
    assert parsed == []
    assert warm.stats.from_cache and warm.stats.parsed == 0
    assert warm.index_path == snapshot.index_path
    assert found == snapshot.lookup("requests", "2.19.0")


def test_snapshot_lookup_of_a_hundred_packages(snapshot: OSVDatabase) -> None:
    index = snapshot.load()
    names = sorted(index)[:100]
    found = [snapshot.lookup(name, "0.0.1") for name in names]
    assert len(names) == 100 and any(found)


# -- OSV range semantics ---------------------------------------------------------------------------

TWO_BRANCHES = [("introduced", "1.0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "2.3")]


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.9", False),
        ("1.0", True),
        ("1.1.5", True),
        ("1.2", False),
        ("1.9", False),
        ("2.0.0", True),
        ("2.2.9", True),
        ("2.3", False),
        ("3.0", False),
    ],
)
def test_multiple_introduced_fixed_pairs(version: str, affected: bool) -> None:
    assert is_affected(version, [TWO_BRANCHES]) is affected
    # Events are sorted before they are replayed (OSV evaluation), whatever the record's order.
    assert is_affected(version, [list(reversed(TWO_BRANCHES))]) is affected


def test_pep440_ordering_not_string_ordering() -> None:
    events = [("introduced", "0"), ("fixed", "2.10.0")]
    assert is_affected("2.9.0", [events])  # "2.9.0" > "2.10.0" as strings
    assert not is_affected("2.10", [events])  # 2.10 == 2.10.0
    prerelease = [("introduced", "5.1"), ("fixed", "5.2b1")]
    assert is_affected("5.2a1", [prerelease])
    assert not is_affected("5.2b1", [prerelease]) and not is_affected("5.2", [prerelease])
    assert is_affected("0.0.1.dev0", [[("introduced", "0")]])  # "0": before every version


def test_last_affected_and_limit() -> None:
    last = [("introduced", "0"), ("last_affected", "1.11.0")]
    assert is_affected("1.11.0", [last]) and not is_affected("1.11.1", [last])
    limited = [("introduced", "0"), ("limit", "2.0")]
    assert is_affected("1.9", [limited]) and not is_affected("2.0", [limited])
    assert is_affected("9.0", [[("introduced", "1.0"), ("limit", "*")]])
    two_limits = [("introduced", "0"), ("limit", "1.0"), ("limit", "3.0")]
    assert is_affected("2.0", [two_limits]) and not is_affected("3.0", [two_limits])


def test_explicit_versions_lists() -> None:
    listed = ["1.0", "0.8.0-alpha2", "weird.build+x"]
    assert is_affected("1.0.0", [], listed)  # PEP 440 equality
    assert is_affected("0.8.0a2", [], listed)  # normalised pre-release spelling
    assert is_affected("weird.build+x", [], listed)  # not PEP 440: exact string
    assert not is_affected("1.1", [], listed)
    # A version is affected when listed *or* in a range.
    assert is_affected("1.0", [[("introduced", "5.0")]], ["1.0"])


def test_invalid_versions_never_crash() -> None:
    assert not is_affected("not-a-version", [[("introduced", "0")]])
    assert is_affected("not-a-version", [], ["not-a-version"])
    unorderable = [("introduced", "0"), ("fixed", "0.2.0-n653")]  # from the snapshot
    assert in_range(parse("0.1"), unorderable) is None  # cannot be evaluated...
    assert is_affected("0.1", [unorderable], ["0.1"])  # ...the versions list still applies
    assert not is_affected("0.1", [unorderable])


def parse(text: str) -> Any:
    from packaging.version import Version

    return Version(text)


def test_first_fixed_version_is_the_one_closing_the_interval() -> None:
    assert fixed_versions("2.1", [TWO_BRANCHES]) == ["2.3"]
    assert fixed_versions("1.1", [TWO_BRANCHES]) == ["1.2"]
    assert fixed_versions("1.0", [[("introduced", "0"), ("last_affected", "1.0")]]) == []


def _record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "PYSEC-2099-1",
        "aliases": ["CVE-2099-0001"],
        "details": "Example Lib before 2.0 lets attackers do things.\n\nMore text.",
        "affected": [
            {
                "package": {"name": "Example_Lib", "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            }
        ],
    }
    record.update(overrides)
    return record


def test_compact_record_keeps_what_matching_needs() -> None:
    compact = compact_record(_record())
    assert list(compact) == ["example-lib"]
    entry = compact["example-lib"]
    assert entry["id"] == "PYSEC-2099-1" and entry["aliases"] == ["CVE-2099-0001"]
    assert entry["summary"] == "Example Lib before 2.0 lets attackers do things."
    assert entry["url"] == "https://osv.dev/vulnerability/PYSEC-2099-1"


def test_withdrawn_records_and_other_ecosystems_are_ignored() -> None:
    assert compact_record(_record(withdrawn="2024-01-01T00:00:00Z")) == {}
    npm = _record()
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    assert compact_record(npm) == {}


def test_semver_ranges_use_pep440_and_git_ranges_are_skipped() -> None:
    record = _record()
    record["affected"][0]["ranges"] = [
        {"type": "GIT", "repo": "https://example.com/x", "events": [{"introduced": "0"}]},
        {"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.4.0"}]},
    ]
    compact = compact_record(record)["example-lib"]
    assert compact["affected"][0]["ranges"] == [[("introduced", "1.0.0"), ("fixed", "1.4.0")]]


def test_listed_versions_already_in_a_range_are_dropped_from_the_index() -> None:
    record = _record()
    record["affected"][0]["versions"] = ["1.0", "1.5", "3.0", "odd-version"]
    compact = compact_record(record)["example-lib"]
    assert compact["affected"][0]["versions"] == ["3.0", "odd-version"]


def test_severity_from_the_advisory() -> None:
    assert record_severity({"database_specific": {"severity": "MODERATE"}}, []) == "medium"
    critical = {
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    }
    assert record_severity(critical, []) == "critical"
    assert record_severity({}, []) is None
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N") == 4.4
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N") == 6.1
    assert cvss3_base_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N") == 0.0
    assert cvss3_base_score("garbage") is None
    assert cvss2_base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P") == 7.5
    assert (
        record_severity(
            {"severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}, []
        )
        == "high"
    )


def test_aliased_records_merge_into_one_advisory() -> None:
    pysec = Advisory(
        "PYSEC-2021-142", ("CVE-2020-14343", "GHSA-8q59-q68h-6hv4"), "PyYAML...", ("5.4",)
    )
    ghsa = Advisory(
        "GHSA-8q59-q68h-6hv4", ("CVE-2020-14343",), "Improper input", ("5.4",), "critical"
    )
    other = Advisory("PYSEC-2020-96", ("CVE-2020-1747",), "Other", ("5.3.1",))
    merged = merge_aliases([ghsa, other, pysec])
    assert [a.id for a in merged] == ["PYSEC-2020-96", "PYSEC-2021-142"]
    assert merged[1].aliases == ("CVE-2020-14343", "GHSA-8q59-q68h-6hv4")
    assert merged[1].severity == "critical" and merged[1].fixed == ("5.4",)


# -- database formats, cache and broken records ----------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


YAML_RECORD = """\
id: PYSEC-2099-2
details: Example Lib 1.10 mishandles input.
affected:
- package:
    name: example-lib
    ecosystem: PyPI
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: 1.10
    - fixed: 1.10.3
"""


def test_json_directory_database(tmp_path: Path) -> None:
    _write_json(tmp_path / "db" / "a" / "PYSEC-2099-1.json", _record())
    # A file holding a list of records (some exports do).
    _write_json(tmp_path / "db" / "batch.json", [_record(id="GHSA-aaaa-bbbb-cccc", aliases=[])])
    database = OSVDatabase(tmp_path / "db", tmp_path / "cache")
    assert {a.id for a in database.lookup("example-lib", "1.0")} == {
        "PYSEC-2099-1",
        "GHSA-aaaa-bbbb-cccc",
    }
    assert database.lookup("Example.Lib", "2.0") == []


def test_yaml_values_stay_strings(tmp_path: Path) -> None:
    """``introduced: 1.10`` unquoted must not become the float 1.1."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "PYSEC-2099-2.yaml").write_text(YAML_RECORD, encoding="utf-8")
    database = OSVDatabase(tmp_path / "db", None)
    assert [a.id for a in database.lookup("example-lib", "1.10.2")] == ["PYSEC-2099-2"]
    assert database.lookup("example-lib", "1.2") == []


def test_zip_database(tmp_path: Path) -> None:
    archive = tmp_path / "osv.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("PYSEC-2099-1.json", json.dumps(_record()))
        handle.writestr("yaml/PYSEC-2099-2.yaml", YAML_RECORD)
        handle.writestr("README.txt", "not a record")
    database = OSVDatabase(archive, tmp_path / "cache")
    assert [a.id for a in database.lookup("example-lib", "1.10.0")] == [
        "PYSEC-2099-1",
        "PYSEC-2099-2",
    ]
    assert database.stats.files == 2 and not database.stats.from_cache
    again = OSVDatabase(archive, tmp_path / "cache")
    assert again.lookup("example-lib", "1.10.0") == database.lookup("example-lib", "1.10.0")
    assert again.stats.from_cache and again.stats.parsed == 0


def test_changed_database_is_reindexed_and_the_old_index_dropped(tmp_path: Path) -> None:
    _write_json(tmp_path / "db" / "PYSEC-2099-1.json", _record())
    cache = tmp_path / "cache"
    first = OSVDatabase(tmp_path / "db", cache)
    assert first.lookup("example-lib", "1.0")
    (tmp_path / "db" / "PYSEC-2099-2.yaml").write_text(YAML_RECORD, encoding="utf-8")
    second = OSVDatabase(tmp_path / "db", cache)
    assert {a.id for a in second.lookup("example-lib", "1.10")} == {"PYSEC-2099-1", "PYSEC-2099-2"}
    assert not second.stats.from_cache and second.stats.parsed == 2
    assert [p.name for p in cache.iterdir()] == [second.index_path.name]  # type: ignore[union-attr]


def test_broken_records_are_skipped_counted_and_noted(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _write_json(db / "good.json", _record())
    (db / "broken.yaml").write_text("id: PYSEC-1\naffected: [\n  - oops: {", encoding="utf-8")
    _write_json(db / "no-affected.json", {"id": "PYSEC-2099-9", "details": "x"})
    _write_json(
        db / "bad-range.json",
        _record(
            id="PYSEC-2099-8",
            affected=[{"package": {"name": "x", "ecosystem": "PyPI"}, "ranges": ["nope"]}],
        ),
    )
    (db / "not-utf8.json").write_bytes(b"\xff\xfe\x00garbage")
    (db / "unrelated.yaml").write_text("key: value\n", encoding="utf-8")  # not a record: ignored
    database = OSVDatabase(db, tmp_path / "cache")
    assert [a.id for a in database.lookup("example-lib", "1.0")] == ["PYSEC-2099-1"]
    assert database.stats.skipped == 4 and database.stats.records == 1
    assert len(database.notes) == 1 and "skipped 4 unreadable record(s)" in database.notes[0]
    # The count survives in the index: a warm scan notes it too.
    warm = OSVDatabase(db, tmp_path / "cache")
    warm.lookup("example-lib", "1.0")
    assert warm.stats.from_cache and warm.notes == database.notes


def test_missing_or_empty_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(AdvisoriesUnavailable, match="the path does not exist"):
        OSVDatabase(tmp_path / "nowhere", None).lookup("requests", "2.19.0")
    (tmp_path / "empty").mkdir()
    empty = OSVDatabase(tmp_path / "empty", None)
    with pytest.raises(AdvisoriesUnavailable, match="no OSV records"):
        empty.lookup("requests", "2.19.0")
    with pytest.raises(AdvisoriesUnavailable):  # the same answer, without a second walk
        empty.lookup("pyyaml", "5.3")
    (tmp_path / "bad.zip").write_bytes(b"PK not really a zip")
    with pytest.raises(AdvisoriesUnavailable, match="cannot read"):
        OSVDatabase(tmp_path / "bad.zip", None).lookup("requests", "2.19.0")


def test_unwritable_cache_costs_only_speed(tmp_path: Path) -> None:
    _write_json(tmp_path / "db" / "PYSEC-2099-1.json", _record())
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x", encoding="utf-8")
    database = OSVDatabase(tmp_path / "db", blocker)
    assert database.lookup("example-lib", "1.0") and database.index_path is None


# -- which sources ---------------------------------------------------------------------------------


def test_advisory_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODREADY_ADVISORY_DB", raising=False)
    assert advisory_sources(DepsSettings(), None) == []
    local = advisory_sources(DepsSettings(advisory_db=str(tmp_path)), None)
    assert [type(s) for s in local] == [OSVDatabase]
    online = advisory_sources(DepsSettings(online=True, advisory_db=str(tmp_path)), None)
    assert [type(s) for s in online] == [OSVDatabase, PyPIReleaseAdvisories, OSVQueryAdvisories]
    monkeypatch.setenv("PRODREADY_ADVISORY_DB", str(tmp_path))
    (from_env,) = advisory_sources(DepsSettings(), None)
    assert isinstance(from_env, OSVDatabase) and from_env.path == tmp_path


def test_config_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "osv").mkdir()  # a configured database must exist
    (tmp_path / "prodready.toml").write_text('[deps]\nadvisory-db = "osv"\n', encoding="utf-8")
    assert load_config(tmp_path / "prodready.toml").deps.advisory_db == str(tmp_path / "osv")


def test_urls_in_messages_carry_no_credentials() -> None:
    assert (
        redact("https://user:s3cret@pypi.example.com/simple") == "https://pypi.example.com/simple"
    )
    assert json_api_base("https://pypi.org/simple/") == "https://pypi.org/pypi"
    source = PyPIReleaseAdvisories(DepsSettings(index_url="https://u:tok@idx.example.com/simple"))
    assert "tok" not in source.name and source.base.endswith("/pypi")


# -- online sources against a local server ---------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.hits: list[str] = []
        self.routes: dict[str, tuple[int, Any, float]] = {}  # path -> status, body, delay
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.hits.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = self.rfile.read(length) if length else b""
                key = self.path
                if self.command == "POST":
                    key = f"POST {json.loads(request)['package']['name']}"
                status, body, delay = owner.routes.get(key, (404, {"message": "Not Found"}, 0.0))
                if delay:
                    time.sleep(delay)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def count(self, fragment: str) -> int:
        return sum(fragment in hit for hit in self.hits)


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    running.thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def _pypi(server: _Server, **settings: Any) -> PyPIReleaseAdvisories:
    source = PyPIReleaseAdvisories(
        DepsSettings(online=True, index_url=f"{server.url}/simple", timeout_s=0.3, **settings)
    )
    source.backoff_s = 0.01
    return source


PYPI_VULNS = {
    "info": {"name": "requests", "version": "2.19.0"},
    "vulnerabilities": [
        {
            "id": "PYSEC-2018-28",
            "aliases": ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"],
            "details": "The Requests package before 2.20.0 sends an HTTP Authorization header...",
            "fixed_in": ["2.20.0"],
            "link": "https://osv.dev/vulnerability/PYSEC-2018-28",
            "source": "osv",
            "summary": None,
            "withdrawn": None,
        },
        {"id": "GHSA-x84v-xcm2-53pg", "aliases": ["CVE-2018-18074"], "fixed_in": ["2.20.0"]},
        {"id": "PYSEC-2000-1", "aliases": [], "withdrawn": "2020-01-01T00:00:00Z"},
    ],
}


def test_pypi_release_json_answers(server: _Server) -> None:
    server.routes["/pypi/requests/2.19.0/json"] = (200, PYPI_VULNS, 0.0)
    server.routes["/pypi/requests/2.32.5/json"] = (200, {"vulnerabilities": []}, 0.0)
    source = _pypi(server)
    (found,) = source.lookup("requests", "2.19.0")  # aliased GHSA merged, withdrawn dropped
    assert found.id == "PYSEC-2018-28" and found.fixed == ("2.20.0",)
    assert "CVE-2018-18074" in found.aliases and "Authorization" in found.summary
    assert source.lookup("requests", "2.32.5") == []


def test_pypi_404_everywhere_degrades_to_one_reason(server: _Server) -> None:
    source = _pypi(server)
    messages = set()
    for name in ("requests", "pyyaml", "flask", "django", "httpx"):
        with pytest.raises(AdvisoriesUnavailable) as caught:
            source.lookup(name, "1.0")
        messages.add(str(caught.value))
    assert len(messages) == 1 and "404" in messages.pop()
    assert server.count("/pypi/") == 3  # then it stops asking: the API is not served here


def test_pypi_server_errors_are_retried_then_unavailable(server: _Server) -> None:
    server.routes["/pypi/requests/2.19.0/json"] = (500, {"error": "boom"}, 0.0)
    source = _pypi(server)
    with pytest.raises(AdvisoriesUnavailable, match=r"HTTP 500 \(3 attempts"):
        source.lookup("requests", "2.19.0")
    assert server.count("/pypi/requests") == 3
    with pytest.raises(AdvisoriesUnavailable, match="HTTP 500"):
        source.lookup("pyyaml", "5.3")
    assert server.count("/pypi/") == 3  # the breaker: no more requests this scan


def test_slow_server_times_out_within_bounds(server: _Server) -> None:
    server.routes["/pypi/requests/2.19.0/json"] = (200, PYPI_VULNS, 2.0)
    source = _pypi(server)
    # The server would answer after 2 s: "timed out" proves the client did not wait for it.
    with pytest.raises(AdvisoriesUnavailable, match="timed out"):
        source.lookup("requests", "2.19.0")


def test_invalid_json_is_unavailable(server: _Server) -> None:
    server.routes["/pypi/requests/2.19.0/json"] = (200, b"<html>login</html>", 0.0)
    with pytest.raises(AdvisoriesUnavailable, match="invalid JSON"):
        _pypi(server).lookup("requests", "2.19.0")


def test_osv_query_api(server: _Server) -> None:
    record = _record()
    server.routes["POST example-lib"] = (200, {"vulns": [record]}, 0.0)
    server.routes["POST clean-lib"] = (200, {}, 0.0)
    source = OSVQueryAdvisories(
        DepsSettings(online=True, timeout_s=0.3), url=f"{server.url}/v1/query"
    )
    (found,) = source.lookup("Example_Lib", "1.5")
    assert found.id == "PYSEC-2099-1" and found.fixed == ("2.0",)
    assert source.lookup("clean-lib", "1.0") == []


def test_osv_query_api_failures(server: _Server) -> None:
    server.routes["POST example-lib"] = (503, {}, 0.0)
    source = OSVQueryAdvisories(
        DepsSettings(online=True, timeout_s=0.3), url=f"{server.url}/v1/query"
    )
    source.backoff_s = 0.01
    with pytest.raises(AdvisoriesUnavailable, match="HTTP 503"):
        source.lookup("example-lib", "1.0")
    server.httpd.shutdown()
    server.httpd.server_close()
    closed = OSVQueryAdvisories(
        DepsSettings(online=True, timeout_s=0.3), url=f"{server.url}/v1/query"
    )
    closed.backoff_s = 0.01
    with pytest.raises(AdvisoriesUnavailable, match=r"cannot connect: .*\(3 attempts"):
        closed.lookup("example-lib", "1.0")


# -- rule DEP030 -----------------------------------------------------------------------------------


def _rule_findings(built: Inventory, root: Path) -> list[Any]:
    registry = default_registry(plugins=False)
    facts = ProjectFacts(root, {})
    facts.memo("deps:inventory", lambda: built)
    findings, errors, _ = run_project_rules([registry.rules["DEP030"]], facts, Config())
    assert not errors
    return findings


def test_rule_reports_pins_and_lock_entries_with_ids_and_fixes(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.19.0\npytest==3.0\n", encoding="utf-8")
    (tmp_path / "uv.lock").write_text(
        '[[package]]\nname = "urllib3"\nversion = "1.24"\n', encoding="utf-8"
    )
    requests = Dependency(
        "requests",
        declared=[Declaration("requests", "requests==2.19.0", "==2.19.0", "requirements.txt", 1)],
        resolved="2.19.0",
        advisories=[
            Advisory(
                "PYSEC-2018-28",
                ("CVE-2018-18074", "GHSA-x84v-xcm2-53pg"),
                "Leaks credentials",
                ("2.20.0",),
            ),
            Advisory(
                "PYSEC-2023-74",
                ("CVE-2023-32681",),
                "Leaks proxy credentials",
                ("2.31.0",),
                "medium",
            ),
        ],
    )
    urllib3 = Dependency(
        "urllib3",
        declared=[Declaration("urllib3", "urllib3>=1.20", ">=1.20", "requirements.txt", 9)],
        resolved="1.24",
        advisories=[Advisory("PYSEC-2019-1", (), "Something", (), "critical")],
    )
    pytest_dep = Dependency(
        "pytest",
        declared=[
            Declaration("pytest", "pytest==3.0", "==3.0", "requirements.txt", 2, group="dev")
        ],
        resolved="3.0",
        advisories=[Advisory("PYSEC-2022-1", (), "Critical thing", ("7.2.0",), "critical")],
    )
    manifests = DependencyManifests(locked=[Locked("urllib3", "1.24", "uv.lock", 2)])
    built = Inventory(
        manifests, [], {"requests": requests, "urllib3": urllib3, "pytest": pytest_dep}
    )
    findings = {(f.path, f.line): f for f in _rule_findings(built, tmp_path)}
    assert sorted(findings) == [("requirements.txt", 1), ("requirements.txt", 2), ("uv.lock", 2)]
    pinned = findings[("requirements.txt", 1)]
    assert pinned.rule == "DEP030" and pinned.cwe == 1395
    assert pinned.severity is Severity.HIGH  # an unrated advisory counts as high
    for text in (
        "PYSEC-2018-28",
        "CVE-2018-18074",
        "GHSA-x84v-xcm2-53pg",
        "PYSEC-2023-74",
        "2.20.0",
    ):
        assert text in pinned.message
    assert "requests>=2.31.0, which fixes all of them" in pinned.message
    locked = findings[("uv.lock", 2)]  # reported at the lock entry, not at the open range
    assert (
        locked.severity is Severity.CRITICAL
        and "No fixed release is named for PYSEC-2019-1" in locked.message
    )
    assert findings[("requirements.txt", 2)].severity is Severity.MEDIUM  # dev-only: capped


# -- end to end ------------------------------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"PRODREADY_ADVISORY_DB", "PIP_INDEX_URL"}
    }
    env["PRODREADY_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _project(tmp_path: Path, requirements: str) -> Path:
    project = tmp_path / "service"
    project.mkdir()
    (project / "requirements.txt").write_text(requirements, encoding="utf-8")
    (project / "app.py").write_text("import requests\nimport yaml\n", encoding="utf-8")
    return project


@needs_snapshot
def test_cli_deps_reports_vulnerable_pins_from_the_snapshot(tmp_path: Path) -> None:
    project = _project(tmp_path, "requests==2.19.0\nPyYAML==5.3\n")
    args = ["deps", "--offline", "--advisory-db", str(SNAPSHOT), "--format", "json", "."]
    done = run_cli(args, cwd=project, env=_env(tmp_path))
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    vulnerable = {f["line"]: f for f in report["findings"] if f["rule"] == "DEP030"}
    assert sorted(vulnerable) == [1, 2]
    assert {f["path"] for f in vulnerable.values()} == {"requirements.txt"}
    assert (
        "PYSEC-2018-28" in vulnerable[1]["message"] and "CVE-2018-18074" in vulnerable[1]["message"]
    )
    assert (
        "PYSEC-2020-96" in vulnerable[2]["message"] and "PYSEC-2021-142" in vulnerable[2]["message"]
    )
    listed = {d["name"]: d for d in report["dependencies"]}
    assert {a["id"] for a in listed["requests"]["advisories"]} >= {"PYSEC-2018-28", "PYSEC-2023-74"}
    assert not any("advisories unavailable" in note for note in report["notes"])
    # Warm: the index is reused from the cache directory.
    assert list((tmp_path / "cache").glob("advisories-*.json"))
    again = run_cli(args, cwd=project, env=_env(tmp_path))
    assert json.loads(again.stdout)["findings"] == report["findings"]


@needs_snapshot
def test_cli_deps_clean_pins_report_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path, "requests==2.32.5\nPyYAML==6.0.2\n")
    args = ["deps", "--offline", "--advisory-db", str(SNAPSHOT), "--format", "json", "."]
    done = run_cli(args, cwd=project, env=_env(tmp_path))
    report = json.loads(done.stdout)
    assert [f for f in report["findings"] if f["rule"] == "DEP030"] == []
    assert all(d["advisories"] == [] for d in report["dependencies"])


def test_cli_deps_without_any_source_says_so(tmp_path: Path) -> None:
    project = _project(tmp_path, "requests==2.19.0\nPyYAML==5.3\n")
    args = ["deps", "--offline", "-v", "--format", "json", "."]
    done = run_cli(args, cwd=project, env=_env(tmp_path))
    assert "advisories unavailable" in done.stderr  # notes reach stderr with -v
    report = json.loads(done.stdout)
    assert any("advisories unavailable" in note for note in report["notes"])
    assert [f for f in report["findings"] if f["rule"] == "DEP030"] == []
    failing = any(f["severity"] in {"critical", "high"} for f in report["findings"])
    assert done.returncode == (1 if failing else 0)


def test_fixture_database_is_self_contained() -> None:
    """The DEP030 fixture points at its own tiny database, relative to its prodready.toml."""
    directory = Path(__file__).parents[1] / "rules" / "dependencies" / "fixtures" / "DEP030"
    config = load_config(directory / "prodready.toml")
    database = OSVDatabase(Path(config.deps.advisory_db or ""), None)
    assert database.path == directory / "advisories"
    assert [a.id for a in database.lookup("pyyaml", "5.3")] == ["PYSEC-2021-142"]
    assert database.lookup("pyyaml", "5.3")[0].severity == "critical"  # GHSA's rating
    assert database.lookup("django", "4.2.13") and not database.lookup("django", "4.2.14")
    assert database.lookup("flask", "0.12") == []  # withdrawn
    assert replace(config, select=("DEP030",)).deps.advisory_db
