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
    assert chosen.returncode == 0
    assert chosen.stdout.rstrip().splitlines()[-1].startswith("0 findings in 1 file, 1 from cache;")


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
}

# Stored facts are JSON text, decoded only when the project rules run: damaged text is a miss
# found then (the file is analysed again), and never read while the project results are reused.
DAMAGED_FACTS: dict[str, Callable[[str], str]] = {
    "facts-text-is-not-json": lambda text: text[:-1],
    "facts-imports-are-strings": lambda text: json.dumps(
        {**json.loads(text), "imports": ["requests"]}
    ),
}


@pytest.mark.parametrize("damage", DAMAGED_FACTS.values(), ids=DAMAGED_FACTS.keys())
@pytest.mark.parametrize("project_results_kept", [True, False], ids=["reused", "rerun"])
def test_damaged_stored_facts_are_a_miss_when_the_project_rules_read_them(
    tmp_path: Path, run_scan: Any, damage: Callable[[str], str], project_results_kept: bool
) -> None:
    project = tmp_path / "p"
    _write(project, {"api.py": SERVICE, "other.py": SERVICE})
    (project / ".git").mkdir()
    hour_ago = time.time_ns() - 3600 * 10**9  # old enough for timestamps to be trusted
    for written in (project / "api.py", project / "other.py", project / ".git", project):
        os.utime(written, ns=(hour_ago, hour_ago))
    cache_dir = tmp_path / "cache"
    first = run_scan(project, config=Config(), use_cache=True, cache_dir=cache_dir)
    assert (cache_dir / "project-results.json").is_file()
    (path,) = cache_dir.glob("results-*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"]["api.py"]["facts"] = damage(data["files"]["api.py"]["facts"])
    path.write_text(json.dumps(data), encoding="utf-8")
    if not project_results_kept:
        (cache_dir / "project-results.json").unlink()

    second = run_scan(project, config=Config(), use_cache=True, cache_dir=cache_dir)
    analysed_again = 0 if project_results_kept else 1
    assert (second.stats.cache_hits, second.stats.files_analyzed) == (
        2 - analysed_again,
        analysed_again,
    )
    assert [f.to_dict() for f in second.findings] == [f.to_dict() for f in first.findings]
    assert second.errors == first.errors
    assert second.facts["api.py"].imports == first.facts["api.py"].imports


@pytest.mark.parametrize("mutation", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_cache_entry_of_the_wrong_shape_is_a_miss(
    tmp_path: Path, run_scan: Any, mutation: Mutation
) -> None:
    project = tmp_path / "p"
    _write(project, {"api.py": SERVICE, "other.py": SERVICE})
    cache_dir = tmp_path / "cache"
    config = Config()
    first = run_scan(project, config=config, use_cache=True, cache_dir=cache_dir)
    assert first.stats.cache_hits == 0
    assert [(f.rule, f.path, f.line) for f in first.findings] == [
        ("DEP010", "api.py", 1),
        ("RES001", "api.py", 5),
        ("RES001", "other.py", 5),
    ]
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


# -- #3: detected secrets are masked in every report ------------------------------------------

SECRETS_PY = """\
import os

import requests

AWS_ACCESS_KEY_ID = "AKIAQ4J5ZP2MXR7TNB6W"
STRIPE_API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
DB_PASSWORD = "Tr0ub4dor&3horse"
JWT_SECRET = os.environ.get("JWT_SECRET", "s3cr3t-f4llb4ck-v4lue")
DATABASE_URL = "postgresql://app:Pa55w0rd-db-2024@db.internal:5432/orders"


def notify():
    return requests.get("https://deploy:Gh7kLm2pQ9xZ@ci.internal/hook")
"""
SECRETS_DOCKERFILE = """\
FROM python:3.12-slim
ENV DB_PASSWORD=Xk9mQ2vL7pR4tW8z
ENV BROKER_URL=amqp://app:Qm4nB8vC1xZ7@rabbit:5672/
"""
SECRETS_YAML = """\
apiVersion: v1
kind: Secret
metadata:
  name: api
stringData:
  api_token: Zr8Kq2Lm5Np9Wx3V
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: api
data:
  DB_PASSWORD: Hy6Tg3Vb9Nm2Qw5E
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: api:1.0
          env:
            - {name: SECRET_KEY, value: Lp0Oi9Uy8Tr7Ew6Q}
"""
PLANTED_SECRETS = (
    "AKIAQ4J5ZP2MXR7TNB6W",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "Tr0ub4dor&3horse",
    "s3cr3t-f4llb4ck-v4lue",
    "Pa55w0rd-db-2024",
    "Gh7kLm2pQ9xZ",
    "Xk9mQ2vL7pR4tW8z",
    "Qm4nB8vC1xZ7",
    "Zr8Kq2Lm5Np9Wx3V",
    "Hy6Tg3Vb9Nm2Qw5E",
    "Lp0Oi9Uy8Tr7Ew6Q",
)
MASKED_SNIPPETS = [
    ("Dockerfile", 2, "DKR004", "ENV DB_PASSWORD=Xk9m***(16 chars)"),
    ("Dockerfile", 3, "DKR004", "ENV BROKER_URL=amqp://app:Qm4***(12 chars)@rabbit:5672/"),
    ("deploy.yaml", 6, "K8S006", "api_token: Zr8K***(16 chars)"),
    ("deploy.yaml", 13, "K8S006", "DB_PASSWORD: Hy6T***(16 chars)"),
    ("deploy.yaml", 26, "K8S006", "- {name: SECRET_KEY, value: Lp0O***(16 chars)}"),
    ("settings.py", 5, "SEC002", 'AWS_ACCESS_KEY_ID = "AKIA***(20 chars)"'),
    ("settings.py", 6, "SEC002", 'STRIPE_API_KEY = "sk_l***(32 chars)"'),
    ("settings.py", 7, "SEC002", 'DB_PASSWORD = "Tr0u***(16 chars)"'),
    ("settings.py", 8, "CFG002", 'JWT_SECRET = os.environ.get("JWT_SECRET", "s3cr***(21 chars)")'),
    (
        "settings.py",
        9,
        "SEC002",
        'DATABASE_URL = "postgresql://app:Pa55***(16 chars)@db.internal:5432/orders"',
    ),
    (
        "settings.py",
        13,
        "RES001",
        'return requests.get("https://deploy:Gh7***(12 chars)@ci.internal/hook")',
    ),
    (
        "settings.py",
        13,
        "SEC002",
        'return requests.get("https://deploy:Gh7***(12 chars)@ci.internal/hook")',
    ),
]


def test_secrets_are_masked_in_every_format(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "settings.py": SECRETS_PY,
            "Dockerfile": SECRETS_DOCKERFILE,
            "deploy.yaml": SECRETS_YAML,
            "prodready.toml": 'select = ["SEC002", "CFG002", "DKR004", "K8S006", "RES001"]\n',
        },
    )
    env = _env(tmp_path)
    for fmt in ("json", "sarif", "text", "github", "concise", "junit", "gitlab"):
        done = run_cli(["scan", "--format", fmt, "."], tmp_path, env)
        assert done.returncode == 1, done.stderr
        for secret in PLANTED_SECRETS:
            assert secret not in done.stdout + done.stderr, (fmt, secret)
    report = json.loads(run_cli(["scan", "--format", "json", "."], tmp_path, env).stdout)
    snippets = [(f["path"], f["line"], f["rule"], f["snippet"]) for f in report["findings"]]
    assert snippets == MASKED_SNIPPETS
    sarif = json.loads(run_cli(["scan", "--format", "sarif", "."], tmp_path, env).stdout)
    texts = [
        result["locations"][0]["physicalLocation"]["region"]["snippet"]["text"]
        for result in sarif["runs"][0]["results"]
    ]
    assert sorted(texts) == sorted(snippet for *_, snippet in MASKED_SNIPPETS)
    # Fingerprints stay the same from run to run (and from the cache).
    again = json.loads(
        run_cli(["scan", "--no-cache", "--format", "json", "."], tmp_path, env).stdout
    )
    assert [f["fingerprint"] for f in again["findings"]] == [
        f["fingerprint"] for f in report["findings"]
    ]


def test_project_level_findings_mask_credentials_on_their_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "main.py": (
                "from fastapi import FastAPI\n\n"
                "app = FastAPI()  # deploy key AKIAQ4J5ZP2MXR7TNB6W\n\n\n"
                '@app.get("/items")\ndef items():\n    return []\n'
            ),
            "prodready.toml": 'select = ["OBS002"]\n',
        },
    )
    done = run_cli(["scan", "--no-cache", "--format", "json", "."], tmp_path, _env(tmp_path))
    assert "AKIAQ4J5ZP2MXR7TNB6W" not in done.stdout
    assert [(f["rule"], f["snippet"]) for f in json.loads(done.stdout)["findings"]] == [
        ("OBS002", "app = FastAPI()  # deploy key AKIA***(20 chars)")
    ]
