"""Whole scans: discovery, cache, parallelism, suppressions, baseline, diff, per-path settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from prodready.engine.discovery import Discovery
from prodready.engine.runner import ScanOptions, scan, write_baseline
from prodready.model import Config, FileKind, Severity, UsageError

SERVICE = textwrap.dedent(
    """\
    import requests


    def fetch(url):
        return requests.get(url)


    def fetch_ok(url):
        return requests.get(url, timeout=5)
    """
)


# Engine mechanics are tested with one rule (and the suppression rule) so that catalog growth
# cannot change these expectations.
ONLY = Config(select=("RES001", "CFG900"))


@pytest.fixture
def run(run_scan):
    def scan_with_default(target: Path, **kwargs: object):
        kwargs.setdefault("config", ONLY)
        return run_scan(target, **kwargs)

    return scan_with_default


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def test_discovery_kinds_gitignore_and_skips(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/main.py": SERVICE,
            "app/generated/big.py": "x = 1\n",
            "app/keep.log.py": "x = 1\n",
            ".gitignore": "generated/\n*.log.py\n",
            "app/.gitignore": "!keep.log.py\n",
            "Dockerfile": "FROM python:3.12\n",
            "deploy/app.Dockerfile": "FROM python:3.12\n",
            "deploy/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
            ".github/workflows/ci.yml": "on: push\njobs: {}\n",
            "docker-compose.yml": "services: {}\n",
            "requirements.txt": "requests\n",
            "requirements/dev-requirements.txt": "pytest\n",
            "pyproject.toml": "[project]\nname='x'\n",
            "node_modules/pkg/index.py": "x = 1\n",
            "venv-custom/pyvenv.cfg": "home = /usr\n",
            "venv-custom/lib/site.py": "x = 1\n",
            "build/lib/app.py": "x = 1\n",
            "stubs/types.pyi": "x: int\n",
            "notes.md": "# hi\n",
        },
    )
    files = {s.relpath: s.kind for s in Discovery(tmp_path).files([tmp_path])}
    assert files == {
        "app/main.py": FileKind.PYTHON,
        "app/keep.log.py": FileKind.PYTHON,
        "Dockerfile": FileKind.DOCKERFILE,
        "deploy/app.Dockerfile": FileKind.DOCKERFILE,
        "deploy/deployment.yaml": FileKind.KUBERNETES,
        "docker-compose.yml": FileKind.COMPOSE,
        "requirements.txt": FileKind.REQUIREMENTS,
        "requirements/dev-requirements.txt": FileKind.REQUIREMENTS,
        "pyproject.toml": FileKind.PYPROJECT,
    }


def test_a_virtualenv_is_skipped_unless_named(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app.py": "x = 1\n",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/site.py": "x = 1\n",
            "tools/env/pyvenv.cfg": "home = /usr\n",
            "tools/env/bin/run.py": "x = 1\n",
        },
    )
    found = [s.relpath for s in Discovery(tmp_path).files([tmp_path])]
    assert found == ["app.py"]
    # Named as the target, a virtualenv is what the user asked to scan; those inside it are not.
    (tmp_path / "env/inner").mkdir()
    (tmp_path / "env/inner/pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (tmp_path / "env/inner/x.py").write_text("x = 1\n", encoding="utf-8")
    found = [s.relpath for s in Discovery(tmp_path).files([tmp_path / "env"])]
    assert found == ["env/lib/site.py"]


def test_configured_exclude_and_explicit_files(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/main.py": SERVICE,
            "app/migrations/0001.py": SERVICE,
            "script": "#!/usr/bin/env python3\nprint(1)\n",
        },
    )
    discovery = Discovery(tmp_path, exclude=("migrations/",))
    assert [s.relpath for s in discovery.files([tmp_path])] == ["app/main.py"]
    # An explicitly named file is scanned unless configured out; a python shebang counts.
    assert [s.relpath for s in discovery.files([tmp_path / "script"])] == ["script"]
    assert discovery.files([tmp_path / "app/migrations/0001.py"]) == []
    with pytest.raises(UsageError, match="path does not exist"):
        discovery.files([tmp_path / "nope"])


def test_findings_have_every_field(tmp_path: Path, run) -> None:
    _write(tmp_path, {"svc/api.py": SERVICE})
    result = run(tmp_path)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert (finding.rule, finding.name, finding.category.value) == (
        "RES001",
        "http-call-without-timeout",
        "resilience",
    )
    assert (finding.path, finding.line, finding.column, finding.end_line, finding.end_column) == (
        "svc/api.py",
        5,
        12,
        5,
        29,
    )
    assert finding.severity is Severity.HIGH and finding.confidence.value == "high"
    assert "timeout" in finding.message and finding.fix
    assert finding.docs.endswith("#res001-http-call-without-timeout")
    assert len(finding.fingerprint) == 32
    assert finding.snippet == "return requests.get(url)"


def test_fingerprint_is_stable_across_line_shifts(tmp_path: Path, run) -> None:
    _write(tmp_path, {"api.py": SERVICE})
    before = run(tmp_path).findings[0]
    _write(tmp_path, {"api.py": "# a comment\n\n\n" + SERVICE.replace("    return", "    return ")})
    after = run(tmp_path).findings[0]
    assert after.line == before.line + 3
    assert after.fingerprint == before.fingerprint
    # A second identical offending line in the same file gets its own fingerprint.
    _write(tmp_path, {"api.py": SERVICE + "\n\ndef again(url):\n    return requests.get(url)\n"})
    fingerprints = [f.fingerprint for f in run(tmp_path).findings]
    assert len(set(fingerprints)) == 2


def test_columns_count_characters_not_bytes(tmp_path: Path, run) -> None:
    _write(tmp_path, {"api.py": 'import requests\nlabel = "é€"; requests.get("u")\n'})
    finding = run(tmp_path).findings[0]
    assert (finding.column, finding.end_column) == (15, 32)


def test_suppressions(tmp_path: Path, run) -> None:
    _write(
        tmp_path,
        {
            "api.py": textwrap.dedent(
                """\
                import requests
                requests.get("a")  # prodready: ignore[RES001] adapter sets a timeout
                # prodready: ignore[http-call-without-timeout] upstream is local
                requests.get("b")
                requests.get(  # prodready: ignore[RES001] multi-line call, reason given
                    "c",
                )
                requests.get("d")  # prodready: ignore[SEC001] wrong rule
                requests.get("e")  # prodready: ignore[RES001]
                """
            )
        },
    )
    result = run(tmp_path)
    assert [(f.rule, f.line) for f in result.findings] == [
        ("RES001", 8),
        ("CFG900", 9),
    ]
    ignored = run(tmp_path, config=Config(select=("RES001",)))
    assert [(f.rule, f.line) for f in ignored.findings] == [("RES001", 8)]


def test_per_path_ignores_severity_overrides_and_confidence(tmp_path: Path, run) -> None:
    _write(tmp_path, {"api.py": SERVICE, "scripts/tool.py": SERVICE})
    config = Config(
        select=("RES001",),
        per_path_ignores=(("scripts/**", ("resilience",)),),
        severity=(("resilience", Severity.LOW), ("RES001", Severity.CRITICAL)),
    )
    result = run(tmp_path, config=config)
    assert [(f.path, f.severity) for f in result.findings] == [("api.py", Severity.CRITICAL)]


def test_cache_skips_unchanged_files_and_notices_changes(tmp_path: Path, run) -> None:
    project = tmp_path / "p"
    _write(project, {f"mod{i}.py": SERVICE for i in range(5)})
    cache_dir = tmp_path / "cache"
    first = run(project, use_cache=True, cache_dir=cache_dir)
    assert first.stats.cache_hits == 0 and first.stats.files_analyzed == 5
    assert (cache_dir / "CACHEDIR.TAG").exists()
    second = run(project, use_cache=True, cache_dir=cache_dir)
    assert second.stats.cache_hits == 5 and second.stats.files_analyzed == 0
    assert [f.to_dict() for f in second.findings] == [f.to_dict() for f in first.findings]
    (project / "mod0.py").write_text(SERVICE.replace("timeout=5", ""), encoding="utf-8")
    third = run(project, use_cache=True, cache_dir=cache_dir)
    assert third.stats.cache_hits == 4 and third.stats.files_analyzed == 1
    assert len([f for f in third.findings if f.path == "mod0.py"]) == 2
    # A different rule selection is a different cache key.
    other = run(project, use_cache=True, cache_dir=cache_dir, config=Config(select=("CFG",)))
    assert other.stats.cache_hits == 0
    # A corrupt cache file is ignored, then rewritten.
    for path in cache_dir.glob("results-*.json"):
        path.write_text("{not json", encoding="utf-8")
    fourth = run(project, use_cache=True, cache_dir=cache_dir)
    assert fourth.stats.cache_hits == 0 and len(fourth.findings) == len(third.findings)


def test_parallel_equals_serial(tmp_path: Path, run) -> None:
    files = {f"pkg{i % 7}/mod{i}.py": SERVICE * (1 + i % 3) for i in range(80)}
    files["pkg0/broken.py"] = "def broken(:\n"
    _write(tmp_path, files)
    serial = run(tmp_path, jobs=1)
    parallel = run(tmp_path, jobs=2)
    assert parallel.stats.jobs == 2 and parallel.files == serial.files == 81
    assert [f.to_dict() for f in parallel.findings] == [f.to_dict() for f in serial.findings]
    assert parallel.errors == serial.errors and len(serial.errors) == 1


def test_baseline_reports_only_new_findings(tmp_path: Path, run) -> None:
    _write(tmp_path, {"api.py": SERVICE})
    baseline = tmp_path / "baseline.json"
    write_baseline(baseline, run(tmp_path).findings)
    stored = json.loads(baseline.read_text())
    assert stored["tool"] == "prodready" and len(stored["findings"]) == 1
    assert run(tmp_path, baseline=baseline).findings == []
    _write(
        tmp_path,
        {"api.py": "# moved\n" + SERVICE + "\n\ndef new(url):\n    return requests.post(url)\n"},
    )
    result = run(tmp_path, baseline=baseline)
    assert [(f.line, f.snippet) for f in result.findings] == [(14, "return requests.post(url)")]
    assert result.stats.suppressed_by_baseline == 1


def test_bad_baseline_is_a_usage_error(tmp_path: Path, run) -> None:
    _write(tmp_path, {"api.py": SERVICE, "baseline.json": "[1, 2]"})
    with pytest.raises(UsageError, match="no 'findings' list"):
        run(tmp_path, baseline=tmp_path / "baseline.json")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_reports_only_changed_lines(tmp_path: Path, run) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    _write(repo, {"api.py": SERVICE, "other.py": SERVICE})
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "feature")
    _write(repo, {"api.py": SERVICE + "\n\ndef added(url):\n    return requests.put(url)\n"})
    _git(repo, "commit", "-qam", "add call")
    # uncommitted and untracked changes count too
    _write(repo, {"new.py": SERVICE})
    result = run(repo, diff="main")
    assert sorted((f.path, f.line) for f in result.findings) == [("api.py", 13), ("new.py", 5)]
    assert result.files == 2  # only changed files are analysed
    with pytest.raises(UsageError, match="merge-base"):
        run(repo, diff="no-such-ref")


def test_diff_outside_git_is_a_usage_error(tmp_path: Path, run) -> None:
    _write(tmp_path, {"api.py": SERVICE})
    with pytest.raises(UsageError, match="git"):
        run(tmp_path, diff="main")


def test_scan_options_default_root_is_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry
) -> None:
    _write(tmp_path, {"src/app/api.py": SERVICE})
    monkeypatch.chdir(tmp_path)
    result = scan(
        ScanOptions(targets=[Path("src")], use_cache=False, jobs=1, plugins=False), ONLY, registry
    )
    assert result.findings[0].path == "src/app/api.py"


def test_an_explicitly_named_ignored_directory_is_scanned(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".gitignore": "vendored-copy/\n*.tmp.py\n",
            "vendored-copy/api.py": SERVICE,
            "vendored-copy/.gitignore": "skip.py\n",
            "vendored-copy/skip.py": SERVICE,
            "src/app.tmp.py": SERVICE,
            "src/app.py": SERVICE,
        },
    )
    discovery = Discovery(tmp_path)
    assert [s.relpath for s in discovery.files([tmp_path])] == ["src/app.py"]
    # Named explicitly, an ignored directory is scanned (its own .gitignore still applies) ...
    assert [s.relpath for s in discovery.files([tmp_path / "vendored-copy"])] == [
        "vendored-copy/api.py"
    ]
    # ... while the ancestors' patterns still apply inside a directory that is not ignored.
    assert [s.relpath for s in discovery.files([tmp_path / "src"])] == ["src/app.py"]


def test_suppression_text_inside_strings_is_not_a_suppression(tmp_path: Path, run) -> None:
    _write(
        tmp_path,
        {
            "api.py": textwrap.dedent(
                '''\
                """Docs: write `# prodready: ignore[RES001]` to silence a finding."""
                import requests
                HELP = "# prodready: ignore"
                requests.get("a")  # prodready: ignore[RES001] reason given
                requests.get("b", headers={"x": "# prodready: ignore[RES001] in a string"})
                '''
            )
        },
    )
    assert [(f.rule, f.line) for f in run(tmp_path).findings] == [("RES001", 5)]
