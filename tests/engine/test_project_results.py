"""Warm rescans reuse the project rules' results (issue 11, part 8) -- and only while none of
their inputs changed: the scanned files, files the rules read that are not scanned (a
requirements file included with ``-r``), the directories above the scan root, the installed
distributions, the configuration. ``--no-cache`` reuses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prodready.engine.project_results import STORE_NAME
from prodready.model import Config, DepsSettings

HOUR_AGO_NS = time.time_ns() - 3_600 * 1_000_000_000
ONLY_DEP010 = Config(select=("DEP010",))
UNDECLARED_REQUESTS = (
    "`requests` is imported here but `requests` is not declared in base.in: it only works where "
    "it happens to be installed, production fails with ModuleNotFoundError when this module is "
    "imported; add `requests` to base.in"
)


def _settle(*paths: Path, ns: int = HOUR_AGO_NS) -> None:
    """Files and directories written an hour ago: old enough for their timestamps to be
    trusted (see engine.cache: a change within a timestamp's granularity would go unseen)."""
    for path in paths:
        os.utime(path, ns=(ns, ns))


def _repository(tmp_path: Path) -> Path:
    """A repository whose app imports flask and requests, and whose requirements.txt includes
    base.in (not a scanned file), which declares flask only."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app.py").write_text("import flask\nimport requests\n", "utf-8")
    (repo / "requirements.txt").write_text("-r base.in\n", "utf-8")
    (repo / "base.in").write_text("flask==3.0.0\n", "utf-8")
    _settle(*repo.iterdir(), repo, tmp_path)
    return repo


def _findings(run_scan: Any, repo: Path, cache_dir: Path, **options: Any) -> list[tuple[Any, ...]]:
    result = run_scan(
        repo, config=options.pop("config", ONLY_DEP010), cache_dir=cache_dir, **options
    )
    return [(f.rule, f.path, f.line, f.message) for f in result.findings]


def _tamper(cache_dir: Path) -> None:
    """Change the stored message: a scan that shows it reused the stored results."""
    store = cache_dir / STORE_NAME
    document = json.loads(store.read_text("utf-8"))
    document["outcome"]["findings"][0]["message"] = "stored"
    store.write_text(json.dumps(document), "utf-8")


def test_an_unchanged_tree_reuses_the_stored_results(tmp_path: Path, run_scan: Any) -> None:
    repo = _repository(tmp_path)
    cache_dir = tmp_path / "cache"
    fresh = [("DEP010", "app.py", 2, UNDECLARED_REQUESTS)]
    assert _findings(run_scan, repo, cache_dir, use_cache=True) == fresh
    _tamper(cache_dir)
    assert _findings(run_scan, repo, cache_dir, use_cache=True) == [
        ("DEP010", "app.py", 2, "stored")
    ]
    # --no-cache: computed again, and the store left alone.
    stored = (cache_dir / STORE_NAME).read_bytes()
    assert _findings(run_scan, repo, cache_dir, use_cache=False) == fresh
    assert (cache_dir / STORE_NAME).read_bytes() == stored


def test_an_edited_include_outside_the_scanned_files_is_seen(tmp_path: Path, run_scan: Any) -> None:
    repo = _repository(tmp_path)
    cache_dir = tmp_path / "cache"
    assert len(_findings(run_scan, repo, cache_dir, use_cache=True)) == 1
    _tamper(cache_dir)
    # base.in is no scanned file: its digest is not in the per-file cache, the rules read it.
    (repo / "base.in").write_text("flask==3.0.0\nrequests==2.32.3\n", "utf-8")
    _settle(repo / "base.in")
    assert _findings(run_scan, repo, cache_dir, use_cache=True) == []


def test_an_edited_requirements_file_is_seen(tmp_path: Path, run_scan: Any) -> None:
    repo = _repository(tmp_path)
    cache_dir = tmp_path / "cache"
    assert len(_findings(run_scan, repo, cache_dir, use_cache=True)) == 1
    _tamper(cache_dir)
    (repo / "requirements.txt").write_text("-r base.in\nrequests\n", "utf-8")
    assert _findings(run_scan, repo, cache_dir, use_cache=True) == []


def test_a_manifest_added_above_the_scan_root_is_seen(tmp_path: Path, run_scan: Any) -> None:
    """Scanning src/ only, in a repository without manifests: DEP010 says nothing is declared.
    A manifest added in the repository root (which the scan does not see) means the project's
    declarations are out of view: nothing can be judged."""
    repo = tmp_path / "repo"
    src = repo / "src"
    (repo / ".git").mkdir(parents=True)
    src.mkdir()
    (src / "tool.py").write_text("import requests\n", "utf-8")
    _settle(src / "tool.py", src, repo, tmp_path)
    cache_dir = tmp_path / "cache"
    [(rule, path, line, message)] = _findings(run_scan, src, cache_dir, use_cache=True)
    assert (rule, path, line) == ("DEP010", "tool.py", 1)
    assert message.startswith("the project declares no dependencies")
    _tamper(cache_dir)
    (repo / "pyproject.toml").write_text('[project]\nname = "tool"\n', "utf-8")
    _settle(repo / "pyproject.toml", repo, ns=HOUR_AGO_NS + 1_000_000_000)
    assert _findings(run_scan, src, cache_dir, use_cache=True) == []


def test_another_configuration_does_not_reuse_the_results(tmp_path: Path, run_scan: Any) -> None:
    repo = _repository(tmp_path)
    cache_dir = tmp_path / "cache"
    assert len(_findings(run_scan, repo, cache_dir, use_cache=True)) == 1
    _tamper(cache_dir)
    other = Config(select=("DEP010",), deps=DepsSettings(cache_ttl_hours=1.0))
    assert _findings(run_scan, repo, cache_dir, use_cache=True, config=other) == [
        ("DEP010", "app.py", 2, UNDECLARED_REQUESTS)
    ]


def test_results_read_from_an_advisory_database_are_never_stored(
    tmp_path: Path, run_scan: Any
) -> None:
    repo = _repository(tmp_path)
    database = tmp_path / "osv"
    database.mkdir()
    config = Config(select=("DEP010",), deps=DepsSettings(advisory_db=str(database)))
    cache_dir = tmp_path / "cache"
    assert len(_findings(run_scan, repo, cache_dir, use_cache=True, config=config)) == 1
    assert not (cache_dir / STORE_NAME).exists()


# -- the installed distributions: a fresh interpreter per scan (the map is kept per process) --


def _scan_with_site(repo: Path, cache_dir: Path, site: Path) -> list[tuple[Any, ...]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "prodready", "scan", ".", "--isolated", "--select", "DEP010"),
            *("--cache-dir", str(cache_dir), "--format", "json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    return [(f["rule"], f["line"], f["message"].split(":")[0]) for f in report["findings"]]


def test_installing_a_distribution_is_seen(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    (repo / "app.py").write_text("import flask\nimport foo\n", "utf-8")
    _settle(repo / "app.py")
    site = tmp_path / "site"
    site.mkdir()
    cache_dir = tmp_path / "cache"
    nothing_provides = [
        ("DEP010", 2, "`foo` is imported here but no declared distribution provides it")
    ]
    assert _scan_with_site(repo, cache_dir, site) == nothing_provides
    assert _scan_with_site(repo, cache_dir, site) == nothing_provides  # reused
    dist_info = site / "foo-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n")
    (dist_info / "top_level.txt").write_text("foo\n")
    (dist_info / "RECORD").write_text("foo/__init__.py,,\n")
    (site / "foo").mkdir()
    (site / "foo" / "__init__.py").write_text("")
    installed = [("DEP010", 2, "`foo` is imported here but `foo` is not declared in base.in")]
    assert _scan_with_site(repo, cache_dir, site) == installed


def test_a_consulted_fifo_is_never_opened(tmp_path: Path) -> None:
    """A named pipe included as a requirements file: nobody writes to it, so opening it to
    record its state would block the scan forever (run with a deadline)."""
    repo = _repository(tmp_path)
    (repo / "requirements.txt").write_text("-r base.in\n-r pipe.in\n", "utf-8")
    os.mkfifo(repo / "pipe.in")
    _settle(repo / "requirements.txt", repo)
    cache_dir = tmp_path / "cache"
    for _ in range(2):  # computed and stored, then reused
        done = subprocess.run(
            [
                *(sys.executable, "-m", "prodready", "scan", ".", "--isolated"),
                *("--select", "DEP010", "--cache-dir", str(cache_dir), "--format", "json"),
            ],
            capture_output=True,
            text=True,
            cwd=repo,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        findings = json.loads(done.stdout)["findings"]
        assert [(f["rule"], f["path"], f["line"]) for f in findings] == [("DEP010", "app.py", 2)]
    stored = json.loads((cache_dir / STORE_NAME).read_text("utf-8"))
    assert stored["files"][str(repo / "pipe.in")] == f"{repo / 'pipe.in'}: mode 10000"
