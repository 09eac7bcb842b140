"""Project rules under --diff: they judge the facts of the whole project (changed files analysed
now, the others from the result cache or analysed when it has no entry for them), and only their
findings on changed lines are reported -- a PR is neither let off nor blamed for old code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from prodready.engine.project_results import STORE_NAME
from prodready.model import Config, ScanResult

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

# DAT003 is a project rule; RES001 a per-file rule (its findings in unchanged files stay out).
SELECTED = Config(select=("DAT003", "RES001"))

LEGACY = """import requests

from shop.models import Order, Stock


def close(order):
    Order.objects.filter(id=order.id).update(closed=True)
    Stock.objects.create(order=order, released=True)


def rates(url):
    return requests.get(url).json()
"""
HELPERS = """from shop.models import Invoice, Ledger


def book(invoice):
    invoice.status = "booked"
    invoice.save()
"""
# The PR: book() gains a parameter and a second write (its every caller, in the unchanged
# views.py, holds a transaction) and archive() is new, with two writes nobody guards.
HELPERS_CHANGED = """from shop.models import Invoice, Ledger


def book(invoice, amount=None):
    invoice.status = "booked"
    invoice.save()
    Ledger.objects.create(invoice=invoice, amount=amount or invoice.total)


def archive(invoice):
    Invoice.objects.filter(id=invoice.id).update(archived=True)
    Ledger.objects.filter(invoice=invoice).delete()
"""
VIEWS = """from django.db import transaction

from helpers import book


def confirm(invoice):
    with transaction.atomic():
        book(invoice)
"""
BROKEN = "def broken(:\n"  # an unchanged file that cannot be analysed

ARCHIVE = (
    "helpers.py",
    12,
    "DAT003",
    "archive() writes to the database 2 times without a transaction "
    "(Invoice.objects...update() line 11, Ledger.objects...delete() line 12): if a later write "
    "fails the earlier ones stay committed. Wrap them in transaction.atomic() / session.begin()",
)
CLOSE = (
    "legacy.py",
    8,
    "DAT003",
    "close() writes to the database 2 times without a transaction "
    "(Order.objects...update() line 7, Stock.objects...create() line 8): if a later write fails "
    "the earlier ones stay committed. Wrap them in transaction.atomic() / session.begin()",
)
RATES = (
    "legacy.py",
    12,
    "RES001",
    "requests.get() has no timeout: requests waits forever by default, so a hung upstream "
    "blocks this worker indefinitely",
)
STORED = (*ARCHIVE[:3], "stored")
FILES = 4  # helpers.py, views.py, legacy.py, broken.py


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")


def _pull_request(repo: Path) -> None:
    """main holds the old code; the working tree holds the PR's change to helpers.py."""
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    _write(
        repo, {"legacy.py": LEGACY, "helpers.py": HELPERS, "views.py": VIEWS, "broken.py": BROKEN}
    )
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _write(repo, {"helpers.py": HELPERS_CHANGED})


def _settle(*paths: Path) -> None:
    hour_ago = time.time_ns() - 3_600 * 1_000_000_000
    for path in paths:
        os.utime(path, ns=(hour_ago, hour_ago))


def _tamper(cache: Path, message: str, replacement: str) -> None:
    """Replace a message in the stored project results: a scan that shows it reused them."""
    store = cache / STORE_NAME
    document = json.loads(store.read_text("utf-8"))
    (finding,) = [f for f in document["outcome"]["findings"] if f["message"] == message]
    finding["message"] = replacement
    store.write_text(json.dumps(document), "utf-8")


def _found(result: ScanResult) -> list[tuple[str, int, str, str]]:
    return [(f.path, f.line, f.rule, f.message) for f in result.findings]


def test_a_new_function_with_two_unguarded_writes_is_reported_in_a_diff(
    tmp_path: Path, run_scan
) -> None:
    repo = tmp_path / "repo"
    _pull_request(repo)
    result = run_scan(repo, config=SELECTED, diff="main")
    # archive() is reported; book() is not (views.py, outside the diff, calls it inside a
    # transaction); close() in the unchanged legacy.py is an old finding, not the PR's.
    assert _found(result) == [ARCHIVE]
    assert result.stats.outside_diff == 1  # close()
    # Nothing of the unchanged files is reported: not RES001 in legacy.py, not broken.py.
    assert result.errors == []
    assert result.files == 1
    # Without a cache every file is analysed: the project rules need their facts.
    assert (result.stats.files_analyzed, result.stats.cache_hits) == (FILES, 0)


def test_the_whole_project_reports_what_the_diff_leaves_out(tmp_path: Path, run_scan) -> None:
    repo = tmp_path / "repo"
    _pull_request(repo)
    result = run_scan(repo, config=SELECTED)
    assert _found(result) == [ARCHIVE, CLOSE, RATES]
    assert [(e.path, e.line) for e in result.errors] == [("broken.py", 1)]


def test_a_warm_diff_scan_reuses_the_cached_facts_of_every_file(tmp_path: Path, run_scan) -> None:
    repo = tmp_path / "repo"
    _pull_request(repo)
    cache = tmp_path / "cache"

    def scan(**options: object) -> ScanResult:
        return run_scan(repo, config=SELECTED, use_cache=True, cache_dir=cache, **options)

    _settle(*repo.iterdir(), repo)  # old enough to be trusted: the project results are stored
    cold = scan(diff="main")
    assert (_found(cold), cold.stats.files_analyzed, cold.stats.cache_hits) == ([ARCHIVE], 4, 0)
    warm = scan(diff="main")
    assert (_found(warm), warm.stats.files_analyzed, warm.stats.cache_hits) == ([ARCHIVE], 0, 4)
    assert warm.errors == []
    # The project results the diff scan stored are the whole project's, not the diff's: a full
    # scan with the same inputs reuses them (a stored message shows it) and reports close().
    _tamper(cache, ARCHIVE[3], "stored")
    full = scan()
    assert (_found(full), full.stats.files_analyzed) == ([STORED, CLOSE, RATES], 0)
    assert _found(scan(diff="main")) == [STORED]
    # The PR goes on: only the edited file is analysed again; views.py's cached facts still
    # cover book(), and the project rules run again (their input changed).
    _write(repo, {"helpers.py": HELPERS_CHANGED + "\n\ndef note(invoice):\n    invoice.save()\n"})
    edited = scan(diff="main")
    assert (_found(edited), edited.stats.files_analyzed, edited.stats.cache_hits) == (
        [ARCHIVE],
        1,
        3,
    )
    assert _found(scan()) == [ARCHIVE, CLOSE, RATES]


def test_without_project_rules_a_diff_scan_analyses_only_the_changed_files(
    tmp_path: Path, run_scan
) -> None:
    repo = tmp_path / "repo"
    _pull_request(repo)
    per_file = run_scan(repo, config=Config(select=("RES001",)), diff="main")
    assert (_found(per_file), per_file.stats.files_analyzed) == ([], 1)
    # Given files only (a pre-commit hook): no project rules, so no other file is read.
    hook = run_scan(repo, config=SELECTED, diff="main", project_rules=False)
    assert (_found(hook), hook.stats.files_analyzed, hook.errors) == ([], 1, [])


PATCH = """from requests.adapters import HTTPAdapter

_send = HTTPAdapter.send


def send(self, request, timeout=None, **kwargs):
    if timeout is None:
        timeout = 10
    return _send(self, request, timeout=timeout, **kwargs)


HTTPAdapter.send = send
"""


def test_facts_analysed_for_the_project_rules_also_make_findings_moot(
    tmp_path: Path, run_scan
) -> None:
    """Without a cache, the unchanged patching.py is analysed for the project rules: its
    established fact (every requests call gets a default timeout) is then known too."""
    repo = tmp_path / "repo"
    _pull_request(repo)
    _write(repo, {"patching.py": PATCH})
    _git(repo, "add", "patching.py")
    _git(repo, "commit", "-qm", "patch", "--", "patching.py")
    _write(
        repo,
        {"helpers.py": HELPERS_CHANGED + "\n\ndef fetch(url):\n    return requests.get(url)\n"},
    )
    result = run_scan(repo, config=SELECTED, diff="main")
    assert (_found(result), result.stats.moot) == (
        [ARCHIVE],
        1,
    )  # fetch(); rates() is not the diff's
