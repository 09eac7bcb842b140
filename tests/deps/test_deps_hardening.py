"""Issue 10, dependency validation under abuse: manifests that point outside the project (#1),
index and advisory servers that trickle (#12), bad index URLs and advisory databases (#17), and
a DEP011 that stays linear in the number of dependencies (#13)."""

from __future__ import annotations

import http.server
import json
import os
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ScanFn, run_cli

from prodready.deps.advisories import OSVQueryAdvisories, PyPIReleaseAdvisories
from prodready.deps.files import excerpt, requirement_error
from prodready.deps.index import IndexClient, redact
from prodready.deps.manifests import read_manifests
from prodready.deps.model import AdvisoriesUnavailable, ManifestProblem
from prodready.model import Config, DepsSettings

SECRET = "sekrit-123"


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODREADY_", "PIP_INDEX"))}
    env.update(PRODREADY_TEST_SECRET=SECRET, NO_COLOR="1", **extra)
    return env


def _hostile_project(root: Path) -> Path:
    (root / "requirements.txt").write_text(
        "requests==2.31.0\n-r extra.txt\n-r passwd.txt\n-c constraints/pins.txt\n",
        encoding="utf-8",
    )
    (root / "extra.txt").symlink_to("/proc/self/environ")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "constraints").symlink_to("/etc")  # a directory symlink leaving the project
    (root / "app.py").write_text("import requests\n", encoding="utf-8")
    return root


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_symlinked_includes_outside_the_project_are_never_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _hostile_project(root)
    env = _environment()
    runs = {
        "scan-json": ["scan", ".", "--no-cache", "--isolated", "--format", "json"],
        "scan-text": ["scan", ".", "--no-cache", "--isolated"],
        "deps-json": ["deps", ".", "--offline", "--isolated", "--no-cache", "--format", "json"],
        "deps-sarif": ["deps", ".", "--offline", "--isolated", "--no-cache", "--format", "sarif"],
    }
    for label, args in runs.items():
        result = run_cli(args, root, env=env)
        for output in (result.stdout, result.stderr):
            assert SECRET not in output, label
            assert "root:x:" not in output, label
            assert "PRODREADY_TEST_SECRET" not in output, label
    report = json.loads(run_cli(runs["deps-json"], root, env=env).stdout)
    dep015 = sorted(
        (f["path"], f["line"], f["message"], f["snippet"])
        for f in report["findings"]
        if f["rule"] == "DEP015"
    )
    tail = ": installers stop at what they cannot read, so the build and every deploy fail; "
    assert dep015 == [
        (
            "requirements.txt",
            2,
            f"`-r extra.txt`: not a regular file inside the project; not read{tail}fix the entry",
            "-r extra.txt",
        ),
        (
            "requirements.txt",
            3,
            f"`-r passwd.txt`: not a regular file inside the project; not read{tail}fix the entry",
            "-r passwd.txt",
        ),
        (
            "requirements.txt",
            4,
            f"`-c constraints/pins.txt` includes a file that does not exist{tail}fix the entry",
            "-c constraints/pins.txt",
        ),
    ]


def _touch(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def test_file_references_to_special_files_and_outside_targets_are_refused(
    tmp_path: Path,
) -> None:
    """setup.cfg ``file:`` lists and pyproject dynamic dependencies name files too: a FIFO
    (which would block the read forever) or a symlink out of the project is reported where it
    is named, never read; a symlink to a file inside the project is followed."""
    outside = tmp_path / "outside.txt"
    outside.write_text("leaked-package==1.0\n", encoding="utf-8")
    root = tmp_path / "repo"
    _touch(
        root / "setup.cfg",
        """
        [options]
        install_requires = file: requirements/fifo.txt
        tests_require = file: requirements/out.txt
        """,
    )
    _touch(
        root / "pyproject.toml",
        """
        [project]
        name = "demo"
        dynamic = ["dependencies"]

        [tool.setuptools.dynamic]
        dependencies = {file = ["requirements/out.txt", "requirements/linked.txt"]}
        """,
    )
    _touch(root / "requirements/real.txt", "flask==3.0.0\n")
    os.mkfifo(root / "requirements/fifo.txt")
    (root / "requirements/out.txt").symlink_to(outside)
    (root / "requirements/linked.txt").symlink_to("real.txt")
    manifests = read_manifests(root, ["pyproject.toml", "setup.cfg"])
    refused = "not a regular file inside the project; not read"
    assert sorted(manifests.problems, key=lambda p: (p.path, p.line)) == [
        ManifestProblem("pyproject.toml", 6, f"`requirements/out.txt`: {refused}"),
        ManifestProblem(
            "setup.cfg", 2, f"`install_requires = file: requirements/fifo.txt`: {refused}"
        ),
        ManifestProblem("setup.cfg", 3, f"`tests_require = file: requirements/out.txt`: {refused}"),
    ]
    assert sorted(d.name for d in manifests.declarations) == ["flask"]


def test_unparsable_lines_are_described_not_quoted(tmp_path: Path) -> None:
    """A line that is not a requirement is named by its first 40 printable characters and the
    parser's reason, whatever the file holds after that."""
    root = tmp_path / "repo"
    long_line = "token=" + "A" * 300 + "\x00SECOND=value"
    _touch(root / "requirements.txt", "-r nested.txt\n")
    (root / "nested.txt").write_text(f"{long_line}\n", encoding="utf-8")
    manifests = read_manifests(root, ["requirements.txt"])
    shown = "token=" + "A" * 34 + "..."
    assert manifests.problems == [
        ManifestProblem(
            "nested.txt",
            1,
            f"invalid requirement `{shown}`: Expected semicolon (after name with no version "
            "specifier) or end",
        )
    ]


def test_excerpt_and_requirement_error() -> None:
    assert excerpt("a\x00b\tc  d") == "a?b c d"
    assert excerpt("x" * 50) == "x" * 40 + "..."
    assert requirement_error("invalid requirement 'a b': Expected end\n  a b\n  ^") == (
        "invalid requirement `a b`: Expected end"
    )
    assert requirement_error("something else entirely") == "something else entirely"


# -- #12: a server that answers one byte at a time ---------------------------------------------


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Answers 200 with a JSON body that would take minutes to arrive: one byte per interval,
    each within the read timeout, so only a wall-clock deadline stops the client."""

    interval_s = 0.1
    in_headers = False  # drip the headers instead of the body

    def do_GET(self) -> None:
        self._drip()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self._drip()

    def _drip(self) -> None:
        body = b'{"vulnerabilities": [], "vulns": []}' + b" " * 2000
        try:
            if self.in_headers:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for byte in b"X-Slow: " + b"a" * 2000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(self.interval_s)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(self.interval_s)
        except OSError:
            return  # the client gave up: that is the point

    def log_message(self, format: str, *args: object) -> None:
        return


class _TrickleHeaders(_Trickle):
    in_headers = True


@pytest.fixture(params=[_Trickle, _TrickleHeaders], ids=["body", "headers"])
def trickling(request: pytest.FixtureRequest) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


TIMEOUT_S = 0.4  # per read; one request with its retries gets 3 x this of wall-clock time


def test_advisory_sources_give_up_on_a_trickling_server(trickling: str) -> None:
    settings = DepsSettings(online=True, index_url=f"{trickling}/simple", timeout_s=TIMEOUT_S)
    for source in (PyPIReleaseAdvisories(settings), OSVQueryAdvisories(settings, f"{trickling}/q")):
        # The whole body would take minutes to arrive: only the deadline ends the lookup.
        with pytest.raises(AdvisoriesUnavailable) as raised:
            source.lookup("requests", "2.19.0")
        assert str(raised.value) == (
            "timed out: no complete answer before the deadline "
            "(3 attempts, 0.4s timeout, 1.2s deadline)"
        )


def test_index_lookups_give_up_on_a_trickling_server(trickling: str) -> None:
    settings = DepsSettings(online=True, index_url=f"{trickling}/simple", timeout_s=TIMEOUT_S)
    client = IndexClient(settings, None, attempts=2, backoff_s=0.01, budget_s=1.0)
    answers = client.lookup(["requests"])
    assert answers["requests"].exists is None
    assert answers["requests"].error == f"{redact(trickling)}/simple: out of time budget"


# -- #17 and --advisory-db: settings that cannot be honoured -------------------------------------


def _small_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text("requests==2.31.0\n", encoding="utf-8")
    (root / "app.py").write_text("import requests\n", encoding="utf-8")
    return root


DEPS = ["deps", ".", "--offline", "--no-cache", "--format", "json"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "not a valid URL (Invalid IPv6 URL)"),
        (
            "ftp://mirror.example.com/simple",
            "unsupported scheme 'ftp': use an http(s) URL, a file: URL or a directory",
        ),
        ("https:///simple", "the URL has no host"),
        ("http://host:99999/simple", "not a valid URL (Port out of range 0-65535)"),
    ],
)
def test_a_bad_index_url_is_a_usage_error(tmp_path: Path, url: str, problem: str) -> None:
    root = _small_project(tmp_path / "repo")
    env = _environment()
    given = run_cli([*DEPS, "--isolated", "--index-url", url], root, env=env)
    assert (given.returncode, given.stdout) == (2, "")
    assert given.stderr == f"prodready: error: --index-url {url!r}: {problem}\n"
    from_env = run_cli([*DEPS, "--isolated"], root, env=_environment(PIP_INDEX_URL=url))
    assert (from_env.returncode, from_env.stdout) == (2, "")
    assert from_env.stderr == f"prodready: error: $PIP_INDEX_URL {url!r}: {problem}\n"
    (root / "prodready.toml").write_text(f'[deps]\nindex-url = "{url}"\n', encoding="utf-8")
    configured = run_cli(DEPS, root, env=env)
    assert (configured.returncode, configured.stdout) == (2, "")
    where = root / "prodready.toml"
    assert configured.stderr == f"prodready: error: {where}: deps.index-url = {url!r}: {problem}\n"


def test_a_scan_with_a_bad_pip_index_url_loses_no_findings(tmp_path: Path) -> None:
    """``scan`` does not ask the index online: it carries on without it, every rule runs."""
    root = _small_project(tmp_path / "repo")
    (root / "requirements.txt").write_text("requests==2.31.0\nflask==3.0.0\n", encoding="utf-8")
    env = _environment(PIP_INDEX_URL="http://[::1")
    result = run_cli(["scan", ".", "--no-cache", "--isolated", "--format", "json"], root, env=env)
    report = json.loads(result.stdout)
    assert report["errors"] == []
    assert [(f["rule"], f["line"]) for f in report["findings"] if f["rule"] == "DEP011"] == [
        ("DEP011", 2)
    ]


def test_an_advisory_db_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    root = _small_project(tmp_path / "repo")
    env = _environment()
    corrupt = tmp_path / "osv.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("README.md", "no records here")
    cases = {
        corrupt: "not a directory or zip of OSV records (the file is not a readable zip)",
        empty: "the zip holds no OSV records (*.json, *.yaml, *.yml)",
    }
    for database, problem in cases.items():
        given = run_cli([*DEPS, "--isolated", "--advisory-db", str(database)], root, env=env)
        assert (given.returncode, given.stdout) == (2, "")
        assert given.stderr == f"prodready: error: --advisory-db {database}: {problem}\n"
    (root / "prodready.toml").write_text('[deps]\nadvisory-db = "missing-db"\n', encoding="utf-8")
    configured = run_cli(DEPS, root, env=env)
    assert (configured.returncode, configured.stdout) == (2, "")
    where = root / "prodready.toml"
    assert configured.stderr == (
        f"prodready: error: {where}: deps.advisory-db = 'missing-db': it does not exist\n"
    )


# -- #13: DEP011 judges each declaration against its siblings, indexed once per scope ------------


def test_dep011_companions_and_prefix_families_are_not_unused(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    """What comes with a declared sibling (botocore with boto3, google-auth with a google-cloud
    package, azure-core with an azure package, openpyxl enabled by pandas) is not unused; a
    family prefix alone (google-auth without google-cloud-*) does not excuse itself."""
    root = tmp_path / "repo"
    _touch(
        root / "requirements.txt",
        """
        boto3==1.34.0
        botocore==1.34.0
        google-cloud-storage==2.16.0
        google-auth==2.29.0
        azure-storage-blob==12.19.0
        azure-core==1.30.0
        pandas==2.2.0
        openpyxl==3.1.2
        opentelemetry-api==1.24.0
        attrs==23.2.0
        """,
    )
    _touch(
        root / "app.py",
        """
        import boto3
        import pandas
        from azure.storage.blob import BlobClient
        import google.cloud.storage
        """,
    )
    result = run_scan(root, config=Config(select=("DEP011",)))
    assert not result.errors, result.errors
    assert [(f.rule, f.path, f.line) for f in result.findings] == [
        ("DEP011", "requirements.txt", 9),
        ("DEP011", "requirements.txt", 10),
    ]
