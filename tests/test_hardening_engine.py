"""Regression tests for the scan engine under abuse (issue 10): cache trust and shape, masked
secrets, local plugins, signals, symlinks and special files, bad baselines, --diff from
elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from prodready.model import Config

SERVICE = textwrap.dedent(
    """\
    import requests


    def fetch(url):
        return requests.get(url)


    def fetch_ok(url):
        return requests.get(url, timeout=5)
    """
)
ONLY = Config(select=("RES001", "CFG900"))


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment with a private user cache directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODREADY_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


# -- #2: a cache committed to the scanned tree is not trusted -----------------------------------


def test_a_cache_committed_in_the_tree_cannot_hide_findings(tmp_path: Path) -> None:
    project = tmp_path / "p"
    _write(project, {"api.py": SERVICE, "prodready.toml": 'select = ["RES001"]\n'})
    committed = project / ".prodready_cache"
    planted = run_cli(["scan", "--cache-dir", str(committed)], project, _env(tmp_path))
    assert planted.returncode == 1
    # What an attacker commits: the right key and content digest, no findings.
    for path in committed.glob("results-*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data["files"].values():
            entry["findings"] = []
        path.write_text(json.dumps(data), encoding="utf-8")

    done = run_cli(["scan", "--format", "json", "."], project, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [
        ("RES001", "api.py", 5)
    ]
    (user_cache,) = (tmp_path / "xdg" / "prodready").iterdir()
    assert len(list(user_cache.glob("results-*.json"))) == 1
    # An explicitly chosen cache directory is the user's decision, and is used.
    chosen = run_cli(["scan", "--cache-dir", str(committed)], project, _env(tmp_path))
    assert chosen.returncode == 0 and "1 from cache" in chosen.stdout


def test_default_cache_dir_is_keyed_by_the_resolved_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prodready.engine.cache import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    first = default_cache_dir(tmp_path / "a")
    assert first.parent == tmp_path / "xdg" / "prodready"
    assert default_cache_dir(tmp_path / "link") == first
    assert default_cache_dir(tmp_path / "b") != first
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir(tmp_path / "a").parent == tmp_path / "home" / ".cache" / "prodready"


# -- #16: a cache entry of the wrong shape is a miss ------------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def _first_finding(entry: dict[str, Any]) -> dict[str, Any]:
    finding: dict[str, Any] = entry["findings"][0]
    return finding


MALFORMED: dict[str, Mutation] = {
    "entry-is-a-list": lambda entry: [],
    "entry-is-a-string": lambda entry: "x",
    "findings-is-a-dict": lambda entry: {**entry, "findings": {"rule": "RES001"}},
    "finding-line-is-a-string": lambda entry: {
        **entry,
        "findings": [{**_first_finding(entry), "line": "5"}],
    },
    "finding-snippet-is-null": lambda entry: {
        **entry,
        "findings": [{**_first_finding(entry), "snippet": None}],
    },
    "finding-of-another-file": lambda entry: {
        **entry,
        "findings": [{**_first_finding(entry), "path": "other.py"}],
    },
    "error-message-is-a-number": lambda entry: {**entry, "errors": [{"message": 5, "line": 1}]},
    "facts-is-a-list": lambda entry: {**entry, "facts": []},
    "facts-imports-are-strings": lambda entry: {
        **entry,
        "facts": {**entry["facts"], "imports": ["requests"]},
    },
}


@pytest.mark.parametrize("mutation", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_cache_entry_of_the_wrong_shape_is_a_miss(
    tmp_path: Path, run_scan: Any, mutation: Mutation
) -> None:
    project = tmp_path / "p"
    _write(project, {"api.py": SERVICE, "other.py": SERVICE})
    cache_dir = tmp_path / "cache"
    config = Config()
    first = run_scan(project, config=config, use_cache=True, cache_dir=cache_dir)
    assert first.stats.cache_hits == 0 and len(first.findings) > 2
    (path,) = cache_dir.glob("results-*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"]["api.py"] = mutation(data["files"]["api.py"])
    path.write_text(json.dumps(data), encoding="utf-8")

    second = run_scan(project, config=config, use_cache=True, cache_dir=cache_dir)
    assert second.stats.cache_hits == 1 and second.stats.files_analyzed == 1
    assert [f.to_dict() for f in second.findings] == [f.to_dict() for f in first.findings]
    assert second.errors == first.errors


# -- #15: a baseline of the wrong shape is a usage error ----------------------------------------

BAD_BASELINES = {
    "fingerprint-is-a-number": (
        {"findings": [{"fingerprint": 12}]},
        "findings[0] has no string 'fingerprint'",
    ),
    "fingerprint-is-a-list": (
        {"findings": [{"fingerprint": "ab"}, {"fingerprint": ["x"]}]},
        "findings[1] has no string 'fingerprint'",
    ),
    "entry-is-a-string": ({"findings": ["ab"]}, "findings[0] has no string 'fingerprint'"),
    "findings-is-a-dict": (
        {"findings": {"fingerprint": "ab"}},
        "no 'findings' list (write one with --write-baseline)",
    ),
    "top-level-is-a-list": ([1, 2], "no 'findings' list (write one with --write-baseline)"),
}


@pytest.mark.parametrize(("content", "reason"), BAD_BASELINES.values(), ids=BAD_BASELINES.keys())
def test_a_baseline_of_the_wrong_shape_is_a_usage_error(
    tmp_path: Path, content: object, reason: str
) -> None:
    _write(tmp_path, {"api.py": SERVICE, "baseline.json": json.dumps(content)})
    done = run_cli(["scan", "--no-cache", "--baseline", "baseline.json", "."], tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"prodready: error: baseline baseline.json is invalid: {reason}\n"
    assert done.stdout == ""


# -- #18: --diff runs git in the scanned tree -------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def _repo_with_a_change(repo: Path) -> None:
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    _write(repo, {"api.py": SERVICE, "prodready.toml": 'select = ["RES001"]\n'})
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _write(repo, {"api.py": SERVICE + "\n\ndef added(url):\n    return requests.put(url)\n"})


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_of_a_repository_scanned_from_its_parent_directory(tmp_path: Path) -> None:
    _repo_with_a_change(tmp_path / "repo")
    done = run_cli(
        ["scan", "--no-cache", "--format", "json", "repo", "--diff", "HEAD"],
        tmp_path,
        _env(tmp_path),
    )
    assert done.stderr == ""
    report = json.loads(done.stdout)
    assert [(f["path"], f["line"]) for f in report["findings"]] == [("repo/api.py", 13)]
    assert done.returncode == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_errors_are_one_clean_line(tmp_path: Path) -> None:
    _repo_with_a_change(tmp_path / "repo")
    (tmp_path / "plain").mkdir()
    _write(tmp_path / "plain", {"api.py": SERVICE})
    env = _env(tmp_path, GIT_CEILING_DIRECTORIES=str(tmp_path))
    done = run_cli(["scan", "--no-cache", "plain", "--diff", "main"], tmp_path, env)
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr == "prodready: error: --diff needs a git repository: plain is not inside one\n"
    )
    done = run_cli(["scan", "--no-cache", "repo", "--diff", "no-such-ref"], tmp_path, env)
    assert (done.returncode, done.stdout) == (2, "")
    top = (tmp_path / "repo").resolve()
    assert done.stderr == (
        f"prodready: error: --diff no-such-ref: no merge-base of no-such-ref and HEAD in {top} "
        "(git: fatal: Not a valid object name no-such-ref)\n"
    )


# -- #14: symlink loops, symlinks out of the root, special files ------------------------------


def test_a_symlink_loop_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "LOOP").symlink_to("LOOP")
    done = run_cli(["scan", "--no-cache", "LOOP"], tmp_path, _env(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "prodready: error: path is a symlink loop: LOOP\n"


def _project_with_links_out(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    _write(outside, {"leak.py": SERVICE, "ignore-all": "*.py\n"})
    project = tmp_path / "project"
    _write(project, {"api.py": SERVICE, "prodready.toml": 'select = ["RES001"]\n'})
    (project / "leak.py").symlink_to(outside / "leak.py")
    (project / "linked").symlink_to(outside)
    (project / "LOOP").symlink_to("LOOP")
    os.mkfifo(project / "pipe.py")
    return project


def _found(done: subprocess.CompletedProcess[str]) -> list[tuple[str, int]]:
    assert done.stderr == "", done.stderr
    return [(f["path"], f["line"]) for f in json.loads(done.stdout)["findings"]]


def test_symlinks_out_of_the_root_and_special_files_are_not_followed(tmp_path: Path) -> None:
    project = _project_with_links_out(tmp_path)
    env = _env(tmp_path)
    scan = ["scan", "--no-cache", "--format", "json"]
    assert _found(run_cli([*scan, "."], project, env)) == [("api.py", 5)]
    # Named one by one, as a pre-commit hook does.
    named = run_cli([*scan, "api.py", "leak.py", "pipe.py"], project, env)
    assert _found(named) == [("api.py", 5)]
    assert _found(run_cli([*scan, "leak.py", "api.py"], project, env)) == [("api.py", 5)]
    linked = run_cli([*scan, "api.py", "linked"], project, env)
    assert (linked.returncode, linked.stdout) == (2, "")
    assert linked.stderr == (
        f"prodready: error: linked is a symlink out of the scan root {project.resolve()}: "
        f"name its target ({(tmp_path / 'outside').resolve()}) instead, or pass --root\n"
    )


def test_a_gitignore_symlink_or_fifo_is_not_read(tmp_path: Path) -> None:
    project = _project_with_links_out(tmp_path)
    (project / ".gitignore").symlink_to(tmp_path / "outside" / "ignore-all")
    sub = project / "sub"
    _write(sub, {"api.py": SERVICE})
    os.mkfifo(sub / ".gitignore")
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "scan", "--no-cache", "--format", "json", "."],
        cwd=project,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert _found(done) == [("api.py", 5), ("sub/api.py", 5)]


# -- #10: a killed parallel scan leaves no worker holding its pipes ---------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie holds no files; only its reaping is left


def _read_to_eof(stream: Any, seconds: float) -> bool:
    """Whether ``stream`` reached end of file within ``seconds``."""
    import select

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready and not os.read(stream.fileno(), 65536):
            return True
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_parallel_scan_leaves_no_worker_behind(tmp_path: Path, signum: int) -> None:
    tree = tmp_path / "tree"
    _write(tree, {f"pkg{i % 20}/mod{i}.py": SERVICE * 40 for i in range(600)})
    scan = subprocess.Popen(
        [sys.executable, "-m", "prodready", "scan", "-j", "2", "--no-cache", "."],
        cwd=tree,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline and scan.poll() is None:
            time.sleep(0.05)
            workers = _children(scan.pid)
        assert len(workers) == 2, "the scan ended before its workers were seen"
        time.sleep(0.3)  # the workers are analysing files now
        scan.send_signal(signum)
        assert scan.wait(timeout=10) == (-signum if signum == signal.SIGKILL else 143)
        assert scan.stdout is not None and scan.stderr is not None
        assert _read_to_eof(scan.stdout, 5.0), "a worker still holds stdout"
        assert _read_to_eof(scan.stderr, 5.0), "a worker still holds stderr"
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if _alive(pid)] == []
    finally:
        for pid in [scan.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        scan.wait(timeout=10)
