"""Project facts: a module establishes a fact for its whole project (RES001: a patch that gives
every requests call a default timeout) and findings elsewhere that name it are dropped -- cold,
warm from the cache, again when the patch is removed, and under --diff from the cached facts of
the files it does not analyse."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from prodready.model import Config, ScanResult

RES001_ONLY = Config(select=("RES001",))

PATCH = """from requests.adapters import HTTPAdapter

_send = HTTPAdapter.send


def send(self, request, timeout=None, **kwargs):
    if timeout is None:
        timeout = 10
    return _send(self, request, timeout=timeout, **kwargs)


HTTPAdapter.send = send
"""
# The same patch, edited to only log: it gives no timeout any more.
LOGGING_PATCH = PATCH.replace(
    "    if timeout is None:\n        timeout = 10\n", "    print(request)\n"
)
CALLER = """import requests


def rates(url):
    return requests.get(url).json()
"""
MESSAGE = (
    "requests.get() has no timeout: requests waits forever by default, so a hung upstream "
    "blocks this worker indefinitely"
)


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")


def _places(result: ScanResult) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.message) for f in result.findings]


def test_a_patch_module_makes_findings_of_other_modules_moot_cold_and_warm(
    tmp_path: Path, run_scan
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _write(project, {"patching.py": PATCH, "rates.py": CALLER})
    cache = tmp_path / "cache"

    def scan() -> ScanResult:
        return run_scan(project, config=RES001_ONLY, use_cache=True, cache_dir=cache)

    cold = scan()
    assert (_places(cold), cold.stats.moot, cold.stats.files_analyzed) == ([], 1, 2)
    warm = scan()
    assert (_places(warm), warm.stats.moot, warm.stats.cache_hits) == ([], 1, 2)
    assert warm.stats.files_analyzed == 0

    _write(project, {"patching.py": LOGGING_PATCH})  # the patch no longer sets a timeout
    edited = scan()
    assert _places(edited) == [("rates.py", 5, MESSAGE)]
    assert (edited.stats.moot, edited.stats.files_analyzed, edited.stats.cache_hits) == (0, 1, 1)
    # The finding that stays is the one a project without the patch module reports: same
    # fingerprint, and its JSON has the fields it always had (the moot facts are not shown).
    alone = tmp_path / "alone"
    alone.mkdir()
    _write(alone, {"rates.py": CALLER})
    (expected,) = run_scan(alone, config=RES001_ONLY).findings
    (finding,) = edited.findings
    assert finding.fingerprint == expected.fingerprint
    assert finding.to_dict() == expected.to_dict()
    assert "unless" not in finding.to_dict()


def test_a_patch_in_a_test_module_or_in_another_project_does_not_count(
    tmp_path: Path, run_scan
) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "pyproject.toml").write_text('[project]\nname = "billing"\n')
    _write(tmp_path, {"tests/conftest.py": PATCH, "rates.py": CALLER})
    _write(tmp_path / "billing", {"patching.py": PATCH, "charges.py": CALLER})
    result = run_scan(tmp_path, config=RES001_ONLY)
    # billing/ is a project of its own (its pyproject.toml): its patch covers its modules only.
    assert _places(result) == [("rates.py", 5, MESSAGE)]
    assert result.stats.moot == 1


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_uses_the_cached_facts_of_files_it_does_not_analyse(tmp_path: Path, run_scan) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    _write(repo, {"patching.py": PATCH, "rates.py": CALLER})
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _write(repo, {"rates.py": CALLER + "\n\ndef fees(url):\n    return requests.get(url)\n"})
    added = ("rates.py", 9, MESSAGE)
    cache = tmp_path / "cache"

    # No cache: patching.py is outside the diff and unknown, so the finding is kept.
    unknown = run_scan(repo, config=RES001_ONLY, diff="main")
    assert (_places(unknown), unknown.stats.moot) == ([added], 0)
    # Once a full scan cached patching.py's facts, the diff scan uses them.
    run_scan(repo, config=RES001_ONLY, use_cache=True, cache_dir=cache)
    known = run_scan(repo, config=RES001_ONLY, use_cache=True, cache_dir=cache, diff="main")
    assert (_places(known), known.stats.moot, known.files) == ([], 2, 1)
    # A cached entry of content that changed since is not used.
    _write(repo, {"patching.py": LOGGING_PATCH})
    _git(repo, "commit", "-qm", "log only", "--", "patching.py")  # outside the diff again
    stale = run_scan(repo, config=RES001_ONLY, use_cache=True, cache_dir=cache, diff="main")
    assert (_places(stale), stale.stats.moot) == ([added], 0)


def test_the_cache_keeps_established_facts_and_moot_facts_outside_the_report(
    tmp_path: Path, run_scan
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _write(project, {"patching.py": PATCH, "rates.py": CALLER})
    cache = tmp_path / "cache"
    run_scan(project, config=RES001_ONLY, use_cache=True, cache_dir=cache)
    (stored,) = cache.glob("results-*.json")
    entries = json.loads(stored.read_text(encoding="utf-8"))["files"]
    assert entries["patching.py"]["holds"] == {
        "facts": ["requests-default-timeout"],
        "role": "service",
    }
    # rates.py states only how it calls what may be a project method (RES001's caller facts)
    assert entries["rates.py"]["holds"] == {
        "facts": ["taint:reach:unbounded-call:.json:0"],
        "role": "service",
    }
    (finding,) = entries["rates.py"]["findings"]
    assert finding["unless"] == ["caller-job-limited:rates.rates", "requests-default-timeout"]
