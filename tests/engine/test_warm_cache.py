"""Warm rescans (issue 11, part 8): cache entries are validated by a stat signature first, as
git's index and Ruff do, and the content digest decides whenever the signature changed or
cannot be trusted (a file modified within a timestamp's granularity of the scan: "racy git")."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from prodready.model import Config

FETCH_BAD = "def fetch(url):\n    return requests.get(url)\n"
FETCH_OK = "def fetch_ok(url):\n    return requests.get(url, timeout=5)\n"
# Two versions of one file, of the same size: the call without a timeout on line 4 or line 7.
FIRST = f"import requests\n\n{FETCH_BAD}\n{FETCH_OK}"
SWAPPED = f"import requests\n\n{FETCH_OK}\n{FETCH_BAD}"
HOUR_AGO_NS = time.time_ns() - 3_600 * 1_000_000_000
ONLY_RES001 = Config(select=("RES001",))


def _project(tmp_path: Path, mtime_ns: int | None = HOUR_AGO_NS) -> Path:
    project = tmp_path / "p"
    project.mkdir()
    (project / "api.py").write_text(FIRST, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(project / "api.py", ns=(mtime_ns, mtime_ns))
    return project


def _scan(run_scan: Any, project: Path, cache_dir: Path) -> tuple[int, int, list[tuple[str, int]]]:
    """(cache hits, files analysed, [(rule, line)]) of a cached scan."""
    result = run_scan(project, config=ONLY_RES001, use_cache=True, cache_dir=cache_dir)
    findings = [(f.rule, f.line) for f in result.findings]
    return result.stats.cache_hits, result.stats.files_analyzed, findings


def _replace_keeping_mtime(path: Path, text: str) -> None:
    """New content of the same size, written in place, with the old modification time back:
    size, mtime and inode are as they were, only the content (and ctime) differs."""
    before = path.stat()
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _entry(cache_dir: Path) -> dict[str, Any]:
    (path,) = cache_dir.glob("results-*.json")
    entry: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["files"]["api.py"]
    return entry


def test_a_warm_rescan_of_an_unchanged_file_reads_no_content(tmp_path: Path, run_scan: Any) -> None:
    project = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 4)])
    status = (project / "api.py").stat()
    assert _entry(cache_dir)["stat"] == [status.st_size, status.st_mtime_ns, status.st_ino]

    # Had the file been read, the finding would have moved to line 7. As in git, a content
    # change that keeps size, mtime and inode is not seen until the timestamp moves.
    _replace_keeping_mtime(project / "api.py", SWAPPED)
    assert _scan(run_scan, project, cache_dir) == (1, 0, [("RES001", 4)])

    later = HOUR_AGO_NS + 1_000_000_000
    os.utime(project / "api.py", ns=(later, later))
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 7)])


_OPENED: list[str] | None = None  # the paths opened while a test listens, else None


def _record_opens(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_record_opens)  # audit hooks cannot be removed: this one records only on demand


def test_a_warm_rescan_opens_no_file_of_the_tree(tmp_path: Path, run_scan: Any) -> None:
    global _OPENED
    project = tmp_path / "p"
    for index in range(30):
        path = project / f"pkg{index % 3}" / f"mod{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(FIRST, encoding="utf-8")
        os.utime(path, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    cache_dir = tmp_path / "cache"
    options = {"use_cache": True, "cache_dir": cache_dir, "project_rules": False}
    first = run_scan(project, config=ONLY_RES001, **options)
    assert (first.stats.cache_hits, first.stats.files_analyzed, len(first.findings)) == (0, 30, 30)
    _OPENED = []
    try:
        second = run_scan(project, config=ONLY_RES001, **options)
        opened = _OPENED
    finally:
        _OPENED = None
    assert (second.stats.cache_hits, second.stats.files_analyzed) == (30, 0)
    assert [f.to_dict() for f in second.findings] == [f.to_dict() for f in first.findings]
    (cache_file,) = cache_dir.glob("results-*.json")
    # The root's .gitignore looked for (discovery), then the cache in one read: no scanned file.
    assert opened == [str(project / ".gitignore"), str(cache_file)]


def test_a_touched_file_is_hashed_and_its_new_signature_recorded(
    tmp_path: Path, run_scan: Any
) -> None:
    project = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 4)])
    later = HOUR_AGO_NS + 1_000_000_000
    os.utime(project / "api.py", ns=(later, later))
    # The content digest is unchanged: a hit, and the entry now holds the new signature ...
    assert _scan(run_scan, project, cache_dir) == (1, 0, [("RES001", 4)])
    assert _entry(cache_dir)["stat"][1] == later
    # ... which the next scan trusts without reading the file.
    _replace_keeping_mtime(project / "api.py", SWAPPED)
    assert _scan(run_scan, project, cache_dir) == (1, 0, [("RES001", 4)])


def test_a_file_replaced_by_another_inode_is_read_again(tmp_path: Path, run_scan: Any) -> None:
    project = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 4)])
    # An editor that saves by rename: same size, same mtime, another inode.
    replacement = tmp_path / "api.py.new"
    replacement.write_text(SWAPPED, encoding="utf-8")
    os.utime(replacement, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    os.replace(replacement, project / "api.py")
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 7)])


def test_a_same_size_change_with_a_new_mtime_is_re_analysed(tmp_path: Path, run_scan: Any) -> None:
    project = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 4)])
    (project / "api.py").write_text(SWAPPED, encoding="utf-8")
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 7)])


def test_a_modification_within_the_same_timestamp_is_caught_next_run(
    tmp_path: Path, run_scan: Any
) -> None:
    # Written just now: a later edit could keep this very modification time ("racy git").
    project = _project(tmp_path, mtime_ns=None)
    cache_dir = tmp_path / "cache"
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 4)])
    assert _entry(cache_dir)["stat"] is None  # smudged: the next scan must hash the file
    # An edit in the same timestamp tick: size, mtime and inode unchanged.
    _replace_keeping_mtime(project / "api.py", SWAPPED)
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 7)])
    assert _entry(cache_dir)["stat"] is None  # still too recent to be trusted


def test_a_signature_of_the_wrong_shape_falls_back_to_the_digest(
    tmp_path: Path, run_scan: Any
) -> None:
    project = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    assert _scan(run_scan, project, cache_dir) == (0, 1, [("RES001", 4)])
    (path,) = cache_dir.glob("results-*.json")
    for broken in ("x", [1, 2], {"size": 1}, None):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["files"]["api.py"]["stat"] = broken
        path.write_text(json.dumps(data), encoding="utf-8")
        # Read and hashed: the digest matches, so a hit, and the signature is written again.
        assert _scan(run_scan, project, cache_dir) == (1, 0, [("RES001", 4)])
        status = (project / "api.py").stat()
        assert _entry(cache_dir)["stat"] == [status.st_size, status.st_mtime_ns, status.st_ino]


def test_entries_of_deleted_files_go_and_of_unscanned_files_stay(
    tmp_path: Path, run_scan: Any
) -> None:
    project = _project(tmp_path)
    (project / "sub").mkdir()
    for name in ("sub/kept.py", "gone.py"):
        (project / name).write_text(FIRST, encoding="utf-8")
    cache_dir = tmp_path / "cache"
    run_scan(project, config=ONLY_RES001, use_cache=True, cache_dir=cache_dir)
    (project / "gone.py").unlink()
    (project / "api.py").write_text(SWAPPED, encoding="utf-8")  # a change: the cache is written
    # A scan of the root's files only: sub/kept.py is not scanned, and not forgotten.
    result = run_scan(
        project / "api.py", root=project, config=ONLY_RES001, use_cache=True, cache_dir=cache_dir
    )
    assert (result.stats.cache_hits, result.stats.files_analyzed) == (0, 1)
    (path,) = cache_dir.glob("results-*.json")
    assert sorted(json.loads(path.read_text(encoding="utf-8"))["files"]) == [
        "api.py",
        "sub/kept.py",
    ]


def _opens_of(path: Path, scan: Any) -> int:
    """How many times ``scan()`` opened ``path``."""
    global _OPENED
    _OPENED = []
    try:
        scan()
        opened = _OPENED
    finally:
        _OPENED = None
    return opened.count(str(path))


def test_a_cache_miss_reads_the_file_once(tmp_path: Path, run_scan: Any) -> None:
    """Issue 11: a file to analyse is read (and hashed) once -- not once to look it up in the
    cache and again to analyse it."""
    project = _project(tmp_path)
    cache_dir = tmp_path / "cache"
    api = project / "api.py"

    def scan() -> None:
        assert (
            len(run_scan(project, config=ONLY_RES001, use_cache=True, cache_dir=cache_dir).findings)
            == 1
        )

    assert _opens_of(api, scan) == 1  # no entry yet: nothing to compare a digest with
    api.write_text(SWAPPED, encoding="utf-8")  # an entry, a new signature, a new content
    assert _opens_of(api, scan) == 1
    assert _scan(run_scan, project, cache_dir) == (1, 0, [("RES001", 7)])
