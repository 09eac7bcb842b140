"""Benchmark prodready against a parse floor, Bandit and Ruff on real open-source trees.

Usage::

    python benchmarks/run.py [--trees django,flask] [--repeat 3] [--workdir DIR] [--json FILE]

The pinned source distributions (Django, requests, Flask, httpx, FastAPI, SQLAlchemy) are
downloaded once from the package index (``PIP_INDEX_URL`` when set, else PyPI), checked against
the index's sha256 and extracted under ``benchmarks/.work/``; later runs reuse the trees.

Every number is the wall-clock time (``time.perf_counter`` around a subprocess, so interpreter
start-up and imports are included) of one tool on one tree, the median of ``--repeat`` runs. The
rounds are interleaved (every column once, then every column again, ...) so a burst of load from
elsewhere is spread over all columns instead of landing on one. The columns:

``parse floor``
    A fresh interpreter that walks the tree and ``ast.parse``-s every ``.py`` file in a single
    process, discarding each tree at once. No analysis tool written in Python that parses every
    file can beat this per core, so it is the yardstick for prodready's own overhead.
``prodready cold``
    ``prodready scan --no-cache`` with the default worker count (all cores).
``prodready cold -j1``
    The same in a single process: compare it with the parse floor per core.
``prodready warm``
    ``prodready scan`` with a result cache (in a temporary ``--cache-dir``) that an untimed run
    filled first, on an unchanged tree: the cost of re-running in CI or an editor.
``bandit``
    ``bandit -r`` with every default test (a Python, single-process AST security linter).
``ruff``
    ``ruff check --select ALL --no-cache`` (native code, all cores): a reference for what a
    compiled linter costs on the same tree, not a competitor.

Ratios are computed from medians measured in the same run, because this benchmark usually runs
on shared, noisy machines where absolute seconds drift between runs but tools measured side by
side drift together: ``bandit / cold`` (higher is better for prodready), ``cold / floor``,
``-j1 / floor`` and ``cold / ruff`` (lower is better). The targets, checked on Django, are
``bandit / cold >= 3x``, ``cold / floor <= 2.5x`` and ``warm <= 0.3 s``.

"Cold" means without prodready's result cache, not with a cold disk cache: an untimed run reads
every file before the timed rounds, so all columns see the files in the page cache.

Each tool runs in the tree's directory on ``.``, as a user would in their repository, with
configuration files ignored (``--isolated`` for prodready and Ruff) so the defaults are measured
whatever the tree or a parent directory configures. Ruff's report goes to ``/dev/null``.
prodready's and Bandit's JSON reports go to a temporary file (a few hundred kilobytes: noise next
to the analysis) because both exit 1 for "findings" and for an uncaught exception alike: a run
only counts when it left a report that covers some files. The reports, and Ruff's file list, also
show how many files each tool analysed; a warning follows the table when one saw much less than
the tree holds. A tool that is missing, fails or times out gets a message in its cell; the other
columns are still measured.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

DEFAULT_INDEX = "https://pypi.org/simple"
DEFAULT_WORKDIR = Path(__file__).resolve().parent / ".work"
DEFAULT_TIMEOUT = 1200.0
HTTP_TIMEOUT = 60.0
HTTP_ATTEMPTS = 4
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SEEN_WARNING_FRACTION = 0.9
STDERR_TAIL = 400


class BenchmarkError(Exception):
    """A tree could not be prepared (download, verification or extraction failed)."""


@dataclass(frozen=True)
class Sdist:
    key: str
    name: str
    version: str


SDISTS = (
    Sdist("requests", "requests", "2.32.3"),
    Sdist("flask", "Flask", "3.1.0"),
    Sdist("httpx", "httpx", "0.28.1"),
    Sdist("fastapi", "fastapi", "0.115.6"),
    Sdist("sqlalchemy", "SQLAlchemy", "2.0.36"),
    Sdist("django", "Django", "5.1.4"),
)
SDIST_BY_KEY = {sdist.key: sdist for sdist in SDISTS}

COLUMNS = {  # key: table header
    "floor": "floor",
    "cold": "cold",
    "cold_j1": "cold-j1",
    "warm": "warm",
    "bandit": "bandit",
    "ruff": "ruff",
}
LEGEND = (
    "seconds, median of {repeat} run(s): floor = ast.parse of every .py file (one process); "
    "cold = prodready --no-cache (all cores); cold-j1 = the same with -j1; warm = prodready with "
    "a filled result cache; bandit = bandit -r; ruff = ruff check --select ALL. Ratios compare "
    "medians measured side by side in this run."
)
RATIOS = {
    "bandit/cold": ("bandit", "cold"),
    "cold/floor": ("cold", "floor"),
    "j1/floor": ("cold_j1", "floor"),
    "cold/ruff": ("cold", "ruff"),
}
TARGET_TREE = "django"
TARGETS = (
    ("bandit / prodready cold", "bandit/cold", ">=", 3.0),
    ("prodready cold / parse floor", "cold/floor", "<=", 2.5),
    ("prodready warm (seconds)", "warm", "<=", 0.3),
)

FLOOR_SCRIPT = """\
import ast, os, sys
files = errors = 0
for directory, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith(".py"):
            files += 1
            with open(os.path.join(directory, name), "rb") as handle:
                source = handle.read()
            try:
                ast.parse(source)
            except (SyntaxError, ValueError):
                errors += 1
print(files, errors)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- downloading the trees ---------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    filename: str
    url: str
    sha256: str | None


class _LinkParser(HTMLParser):
    """The anchors of a PEP 503 simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links.append((data.strip(), self._href))
            self._href = None


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def index_url() -> str:
    return (os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def _retryable(error: Exception) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code == 429 or error.code >= 500
    return isinstance(error, urllib.error.URLError | TimeoutError | ConnectionError)


def fetch(url: str, accept: str = "*/*") -> tuple[bytes, str]:
    """The body and content type at ``url``, retrying transient failures with backoff."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https", "file"}:
        raise BenchmarkError(f"unsupported URL scheme: {url}")
    request = urllib.request.Request(url, headers={"Accept": accept})
    for attempt in range(1, HTTP_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == HTTP_ATTEMPTS or not _retryable(error):
                raise BenchmarkError(f"cannot fetch {url}: {error}") from error
            delay = 2.0 ** (attempt - 1)
            log(f"  {url}: {error}; retrying in {delay:g}s")
            time.sleep(delay)
    raise AssertionError("unreachable")


def _artifact(filename: str, page: str, href: str, sha256: str | None) -> Artifact:
    url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
    if sha256 is None and fragment.startswith("sha256="):
        sha256 = fragment.removeprefix("sha256=")
    return Artifact(filename, url, sha256)


def project_files(name: str) -> list[Artifact]:
    """Every file the index lists for a project (PEP 691 JSON, or PEP 503 HTML)."""
    page = f"{index_url()}/{normalize(name)}/"
    if page.startswith("file:"):
        page += "index.html"
    body, content_type = fetch(page, accept=f"{SIMPLE_JSON}, text/html;q=0.1")
    if "json" in content_type:
        entries = json.loads(body)["files"]
        return [
            _artifact(entry["filename"], page, entry["url"], entry.get("hashes", {}).get("sha256"))
            for entry in entries
        ]
    parser = _LinkParser()
    parser.feed(body.decode("utf-8", "replace"))
    return [_artifact(text, page, href, None) for text, href in parser.links]


def _is_sdist_of(filename: str, sdist: Sdist) -> bool:
    stem = filename.removesuffix(".tar.gz")
    return stem != filename and normalize(stem) == normalize(f"{sdist.name}-{sdist.version}")


def locate(sdist: Sdist) -> Artifact:
    for artifact in project_files(sdist.name):
        if _is_sdist_of(artifact.filename, sdist):
            return artifact
    raise BenchmarkError(f"{index_url()} lists no sdist of {sdist.name} {sdist.version}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify(data: bytes, artifact: Artifact) -> bool:
    if artifact.sha256 is None:
        log(f"  {artifact.filename}: the index gives no sha256; not verified")
        return True
    return _sha256(data) == artifact.sha256.lower()


def download(artifact: Artifact, workdir: Path) -> Path:
    archive = workdir / artifact.filename
    if archive.is_file() and _verify(archive.read_bytes(), artifact):
        return archive
    log(f"  downloading {artifact.url}")
    data, _ = fetch(artifact.url)
    if not _verify(data, artifact):
        raise BenchmarkError(f"{artifact.filename}: sha256 {_sha256(data)} != {artifact.sha256}")
    partial = archive.with_name(archive.name + ".part")
    partial.write_bytes(data)
    partial.replace(archive)
    return archive


def extract(archive: Path, workdir: Path) -> Path:
    """Unpack into a staging directory, then move the single top directory into place."""
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=workdir))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        tops = list(staging.iterdir())
        if len(tops) != 1 or not tops[0].is_dir():
            raise BenchmarkError(f"{archive.name}: expected one top-level directory")
        target = workdir / tops[0].name
        tops[0].rename(target)
        return target
    except (OSError, tarfile.TarError) as error:
        raise BenchmarkError(f"cannot extract {archive.name}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extracted(sdist: Sdist, workdir: Path) -> Path | None:
    wanted = normalize(f"{sdist.name}-{sdist.version}")
    for entry in sorted(workdir.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and normalize(entry.name) == wanted:
            return entry
    return None


def ensure_tree(sdist: Sdist, workdir: Path) -> Path:
    """The extracted source tree, downloaded and unpacked on first use."""
    workdir.mkdir(parents=True, exist_ok=True)
    existing = extracted(sdist, workdir)
    if existing is not None:
        return existing
    log(f"{sdist.key}: fetching {sdist.name} {sdist.version} from {index_url()}")
    return extract(download(locate(sdist), workdir), workdir)


# -- running the tools -------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    argv: tuple[str, ...]
    ok_codes: frozenset[int] = frozenset({0})
    capture: bool = False
    # A JSON report the run must leave behind. An uncaught exception also exits 1, which
    # prodready and Bandit use for "findings", so their exit code alone proves nothing.
    report: Path | None = None
    valid: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class Outcome:
    seconds: float | None
    stdout: str = ""
    error: str | None = None
    detail: str = ""


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the tool's worker processes too
    except (AttributeError, OSError):
        process.kill()


def tool_environment() -> dict[str, str]:
    """The environment tools run in: as users run them, with their bytecode cache. Where
    ``PYTHONDONTWRITEBYTECODE`` is set (some CI images, sandboxes), a tree imported from a fresh
    checkout would compile its ~300 modules on every run (~0.14 s of a warm rescan)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run_timed(job: Job, cwd: Path, timeout: float) -> Outcome:
    if job.report is not None:
        job.report.unlink(missing_ok=True)  # never read a previous run's report
    stdout = subprocess.PIPE if job.capture else subprocess.DEVNULL
    started = time.perf_counter()
    try:
        with subprocess.Popen(
            job.argv,
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=tool_environment(),
        ) as process:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                process.communicate()
                return Outcome(None, error=f"timeout (>{timeout:g}s)")
    except OSError as error:
        return Outcome(None, error=f"failed ({error.strerror or error})")
    elapsed = time.perf_counter() - started
    detail = err.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
    if process.returncode not in job.ok_codes:
        return Outcome(None, error=f"failed (exit {process.returncode})", detail=detail)
    if not _report_ok(job):
        message = f"failed (exit {process.returncode}, no valid report)"
        return Outcome(None, error=message, detail=detail)
    return Outcome(elapsed, stdout=(out or b"").decode("utf-8", "replace"))


def _report_ok(job: Job) -> bool:
    if job.report is None or job.valid is None:
        return True
    return job.valid(read_json(job.report))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prodready_files(report: Any) -> int | None:
    """The number of files in a prodready JSON report's summary (non-Python files included)."""
    summary = report.get("summary") if isinstance(report, dict) else None
    files = summary.get("files") if isinstance(summary, dict) else None
    return files if isinstance(files, int) and files > 0 else None


def bandit_files(report: Any) -> int | None:
    """The number of files in a Bandit JSON report's metrics (less the ``_totals`` entry)."""
    metrics = report.get("metrics") if isinstance(report, dict) else None
    return len(metrics) - 1 if isinstance(metrics, dict) and len(metrics) > 1 else None


def find_tool(name: str) -> str | None:
    """``name`` next to this interpreter (its virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@dataclass(frozen=True)
class Tools:
    prodready: tuple[str, ...] | None
    bandit: str | None
    ruff: str | None

    @classmethod
    def discover(cls) -> Tools:
        has_prodready = importlib.util.find_spec("prodready") is not None
        prodready = (sys.executable, "-P", "-m", "prodready") if has_prodready else None
        return cls(prodready, find_tool("bandit"), find_tool("ruff"))


MISSING = {
    "prodready": "missing (pip install -e .)",
    "bandit": "missing (pip install bandit)",
    "ruff": "missing (pip install ruff)",
}


ANY_FINDINGS = frozenset({0, 1})  # prodready and Bandit exit 1 when they report findings


def ruff_argv(ruff: str, *extra: str) -> tuple[str, ...]:
    return (ruff, "check", "--isolated", "--select", "ALL", "--no-cache", *extra, ".")


def prodready_jobs(prodready: tuple[str, ...], scratch: Path) -> dict[str, Job]:
    scan = (*prodready, "scan", ".", "--isolated", "--format", "json")
    options = {
        "cold": ("--no-cache",),
        "cold_j1": ("--no-cache", "-j", "1"),
        "warm": ("--cache-dir", str(scratch / "cache")),
    }
    jobs = {}
    for column, extra in options.items():
        report = scratch / f"{column}.json"
        argv = (*scan, *extra, "-o", str(report))
        jobs[column] = Job(argv, ANY_FINDINGS, report=report, valid=_has_prodready_files)
    return jobs


def _has_prodready_files(report: Any) -> bool:
    return prodready_files(report) is not None


def _has_bandit_files(report: Any) -> bool:
    return bandit_files(report) is not None


def plan(tools: Tools, scratch: Path) -> dict[str, Job | str]:
    """The timed command of every column (each runs in the tree), or why it cannot run."""
    jobs: dict[str, Job | str] = {
        "floor": Job((sys.executable, "-P", "-c", FLOOR_SCRIPT, "."), capture=True)
    }
    if tools.prodready is None:
        jobs.update(dict.fromkeys(("cold", "cold_j1", "warm"), MISSING["prodready"]))
    else:
        jobs.update(prodready_jobs(tools.prodready, scratch))
    if tools.bandit is None:
        jobs["bandit"] = MISSING["bandit"]
    else:
        report = scratch / "bandit.json"
        bandit = (tools.bandit, "-r", ".", "-f", "json", "-o", str(report), "-q")
        jobs["bandit"] = Job(bandit, ANY_FINDINGS, report=report, valid=_has_bandit_files)
    if tools.ruff is None:
        jobs["ruff"] = MISSING["ruff"]
    else:
        jobs["ruff"] = Job(ruff_argv(tools.ruff, "--exit-zero", "--output-format", "json"))
    return jobs


# -- measuring a tree --------------------------------------------------------------------------


@dataclass
class Cell:
    runs: list[float] = field(default_factory=list)
    error: str | None = None
    detail: str = ""

    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs and self.error is None else None

    def record(self, outcome: Outcome) -> None:
        if outcome.seconds is None:
            self.error, self.detail = outcome.error, outcome.detail
        else:
            self.runs.append(outcome.seconds)


@dataclass
class TreeResult:
    key: str
    label: str
    path: str
    files: int
    lines: int
    cells: dict[str, Cell]
    parse_errors: int | None = None
    files_seen: dict[str, int | None] = field(default_factory=dict)

    def seconds(self) -> dict[str, float | None]:
        return {column: self.cells[column].median() for column in COLUMNS}


def count_python(tree: Path) -> tuple[int, int]:
    """How many ``.py`` files the tree holds, and their lines."""
    files = lines = 0
    for directory, _, names in os.walk(tree):
        for name in names:
            if name.endswith(".py"):
                data = Path(directory, name).read_bytes()
                files += 1
                lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return files, lines


def prepare_warm(job: Job | str, tree: Path, timeout: float) -> Cell:
    """Fill the warm column's cache with an untimed run (which also reads every file once)."""
    cell = Cell()
    if isinstance(job, str):
        cell.error = job
        return cell
    outcome = run_timed(job, tree, timeout)
    if outcome.seconds is None:
        cell.record(outcome)
    return cell


def ruff_files(tools: Tools, tree: Path, timeout: float) -> int | None:
    if tools.ruff is None:
        return None
    job = Job(ruff_argv(tools.ruff, "--exit-zero", "--show-files"), capture=True)
    outcome = run_timed(job, tree, timeout)
    if outcome.seconds is None:
        return None
    return sum(1 for line in outcome.stdout.splitlines() if line.strip().endswith(".py"))


def files_seen(tools: Tools, tree: Path, scratch: Path, timeout: float) -> dict[str, int | None]:
    """How many files each tool's last report covered (prodready counts non-Python files too)."""
    return {
        "prodready": prodready_files(read_json(scratch / "cold.json")),
        "bandit": bandit_files(read_json(scratch / "bandit.json")),
        "ruff": ruff_files(tools, tree, timeout),
    }


def measure(sdist: Sdist, tree: Path, tools: Tools, repeat: int, timeout: float) -> TreeResult:
    files, lines = count_python(tree)
    log(f"{sdist.key}: {files} files, {lines} lines in {tree}")
    result = TreeResult(sdist.key, f"{sdist.name} {sdist.version}", str(tree), files, lines, {})
    with tempfile.TemporaryDirectory(prefix="prodready-bench-") as temp:
        scratch = Path(temp)
        jobs = plan(tools, scratch)
        result.cells = {column: Cell() for column in COLUMNS}
        result.cells["warm"] = prepare_warm(jobs["warm"], tree, timeout)
        for column, job in jobs.items():
            if isinstance(job, str):
                result.cells[column].error = job
        for round_number in range(1, repeat + 1):
            log(f"{sdist.key}: round {round_number}/{repeat}")
            run_round(jobs, tree, timeout, result)
        result.files_seen = files_seen(tools, tree, scratch, timeout)
    return result


def run_round(jobs: dict[str, Job | str], tree: Path, timeout: float, result: TreeResult) -> None:
    """Every column once, so that load from elsewhere is spread over all of them."""
    for column, job in jobs.items():
        cell = result.cells[column]
        if isinstance(job, str) or cell.error is not None:
            continue
        outcome = run_timed(job, tree, timeout)
        cell.record(outcome)
        if column == "floor" and outcome.seconds is not None:
            check_floor(outcome.stdout, result)


def check_floor(stdout: str, result: TreeResult) -> None:
    """The floor prints how many files it parsed and how many had syntax errors."""
    try:
        parsed, errors = (int(part) for part in stdout.split())
    except ValueError:
        log(f"  parse floor printed {stdout!r}")
        return
    result.parse_errors = errors
    if parsed != result.files:
        log(f"  parse floor parsed {parsed} files, expected {result.files}")


# -- reporting ---------------------------------------------------------------------------------


def ratios(seconds: dict[str, float | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, (top, bottom) in RATIOS.items():
        numerator, denominator = seconds[top], seconds[bottom]
        out[name] = numerator / denominator if numerator and denominator else None
    return out


def total_seconds(results: Sequence[TreeResult]) -> dict[str, float | None]:
    """Per column, the sum of the trees' medians (unknown when any tree's cell failed)."""
    totals: dict[str, float | None] = {}
    for column in COLUMNS:
        values = [result.seconds()[column] for result in results]
        totals[column] = None if any(v is None for v in values) else sum(v or 0.0 for v in values)
    return totals


def tool_version(executable: str, name: str) -> str:
    """The first line of ``executable --version``, without the tool's name."""
    outcome = run_timed(Job((executable, "--version"), capture=True), Path.cwd(), 60.0)
    lines = outcome.stdout.strip().splitlines()
    if outcome.seconds is None or not lines:
        return "unknown"
    return lines[0].removeprefix(f"{name} ").strip()


def machine(tools: Tools) -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    versions = {
        "prodready": _version("prodready") if tools.prodready else MISSING["prodready"],
        "bandit": tool_version(tools.bandit, "bandit") if tools.bandit else MISSING["bandit"],
        "ruff": tool_version(tools.ruff, "ruff") if tools.ruff else MISSING["ruff"],
    }
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "platform": platform.platform(),
        "load_average": _load(),
        "tools": versions,
    }


def _version(distribution: str) -> str:
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    source = _git_state(distribution)
    return f"{version} (git {source})" if source else version


def _git_state(package: str) -> str | None:
    """The commit of a package imported from a git checkout, ``-dirty`` with local edits."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None or shutil.which("git") is None:
        return None
    job = Job(("git", "describe", "--always", "--dirty"), capture=True)
    outcome = run_timed(job, Path(spec.origin).parent, 60.0)
    if outcome.seconds is None:
        return None
    return outcome.stdout.strip() or None


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _seconds_text(cell: Cell | None, value: float | None) -> str:
    if cell is not None and cell.error is not None:
        return cell.error
    return "n/a" if value is None else f"{value:.2f}"


def _ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


HEADER = (
    "tree",
    "files",
    "lines",
    *COLUMNS.values(),
    *RATIOS,
)


def table_row(
    label: str,
    files: int,
    lines: int,
    seconds: dict[str, float | None],
    cells: dict[str, Cell] | None,
) -> list[str]:
    ratio_values = ratios(seconds)
    return [
        label,
        str(files),
        str(lines),
        *(_seconds_text(cells[c] if cells else None, seconds[c]) for c in COLUMNS),
        *(_ratio_text(ratio_values[name]) for name in RATIOS),
    ]


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def target_lines(results: Sequence[TreeResult]) -> list[str]:
    target = next((result for result in results if result.key == TARGET_TREE), None)
    if target is None:
        return [f"targets apply to {TARGET_TREE}, which was not measured"]
    values: dict[str, float | None] = {**ratios(target.seconds()), **target.seconds()}
    checks: dict[str, Callable[[float, float], bool]] = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
    }
    lines = [f"targets on {target.label}:"]
    for title, key, operator, limit in TARGETS:
        value = values[key]
        verdict = (
            "n/a" if value is None else ("met" if checks[operator](value, limit) else "MISSED")
        )
        shown = "n/a" if value is None else f"{value:.2f}"
        lines.append(f"  {title}: {shown} (target {operator} {limit:g}) {verdict}")
    return lines


def warnings(results: Sequence[TreeResult]) -> list[str]:
    notes = []
    for result in results:
        for tool, seen in result.files_seen.items():
            if seen is not None and seen < SEEN_WARNING_FRACTION * result.files:
                notes.append(
                    f"warning: {tool} analysed {seen} of {result.files} files in {result.key}"
                )
        for column, cell in result.cells.items():
            if cell.detail:
                notes.append(f"{result.key} {COLUMNS[column]}: {cell.detail}")
    return notes


def report_text(results: Sequence[TreeResult], info: dict[str, Any], repeat: int) -> str:
    rows = [list(HEADER)]
    rows += [table_row(r.key, r.files, r.lines, r.seconds(), r.cells) for r in results]
    if len(results) > 1:
        files, lines = sum(r.files for r in results), sum(r.lines for r in results)
        rows.append(table_row("total", files, lines, total_seconds(results), None))
    tools = ", ".join(f"{name} {version}" for name, version in info["tools"].items())
    header = [
        f"machine: {info['cores']} cores ({info['usable_cores']} usable), {info['python']}, "
        f"{info['platform']}, load average {info['load_average']} -> {info['load_average_end']}",
        f"tools: {tools}",
        *textwrap.wrap(LEGEND.format(repeat=repeat), width=100),
        "",
    ]
    return "\n".join([*header, render_table(rows), "", *target_lines(results), *warnings(results)])


def report_json(results: Sequence[TreeResult], info: dict[str, Any], repeat: int) -> Any:
    def entry(result: TreeResult) -> dict[str, Any]:
        seconds = result.seconds()
        return {
            "tree": result.key,
            "project": result.label,
            "path": result.path,
            "files": result.files,
            "lines": result.lines,
            "parse_errors": result.parse_errors,
            "seconds": seconds,
            "runs": {column: cell.runs for column, cell in result.cells.items()},
            "errors": {c: cell.error for c, cell in result.cells.items() if cell.error},
            "ratios": ratios(seconds),
            "files_seen": result.files_seen,
        }

    totals = total_seconds(results)
    return {
        "machine": info,
        "repeat": repeat,
        "columns": COLUMNS,
        "trees": [entry(result) for result in results],
        "total": {
            "files": sum(r.files for r in results),
            "lines": sum(r.lines for r in results),
            "seconds": totals,
            "ratios": ratios(totals),
        },
        "targets": target_lines(results),
    }


# -- command line ------------------------------------------------------------------------------


def tree_list(text: str) -> list[Sdist]:
    keys = [key.strip().lower() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in SDIST_BY_KEY]
    if unknown or not keys:
        choices = ",".join(SDIST_BY_KEY)
        raise argparse.ArgumentTypeError(f"unknown tree(s) {unknown}; choose from {choices}")
    return [SDIST_BY_KEY[key] for key in keys]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=tree_list, default=list(SDISTS), help="comma-separated")
    parser.add_argument("--repeat", type=positive_int, default=3, help="timed runs per cell")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="sdists go here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per subprocess"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tools = Tools.discover()
    info = machine(tools)
    results: list[TreeResult] = []
    for sdist in args.trees:
        try:
            tree = ensure_tree(sdist, args.workdir.resolve())
        except BenchmarkError as error:
            log(f"{sdist.key}: skipped: {error}")
            continue
        results.append(measure(sdist, tree, tools, args.repeat, args.timeout))
    if not results:
        log("no tree could be prepared")
        return 1
    info["load_average_end"] = _load()
    print(report_text(results, info, args.repeat))
    if args.json:
        args.json.write_text(json.dumps(report_json(results, info, args.repeat), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
