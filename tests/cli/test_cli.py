"""The command line as users run it: real subprocesses, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

from conftest import run_cli

from prodready.catalog import default_registry

SERVICE = textwrap.dedent(
    """\
    import requests


    def fetch(url):
        return requests.get(url)
    """
)


def _summary(stdout: str) -> str:
    """The closing line of a text report, without its (variable) duration."""
    last = stdout.rstrip("\n").splitlines()[-1]
    return re.sub(r"; \d+\.\d\ds$", "", last)


def _project(tmp_path: Path, config: str | None = None) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "api.py").write_text(SERVICE)
    if config is not None:
        (tmp_path / "prodready.toml").write_text(config)
    return tmp_path


def test_version(tmp_path: Path) -> None:
    from prodready import __version__

    done = run_cli(["--version"], tmp_path)
    assert done.returncode == 0 and __version__ in done.stdout


def test_exit_codes_follow_fail_on(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["RES001"]\n')
    assert run_cli(["scan", "--no-cache"], project).returncode == 1
    assert run_cli(["scan", "--no-cache", "--fail-on", "critical"], project).returncode == 0
    (project / "prodready.toml").write_text('select = ["RES001"]\nfail-on = "critical"\n')
    assert run_cli(["scan", "--no-cache"], project).returncode == 0


def test_text_output_is_plain_when_not_a_terminal(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["RES001"]\n')
    done = run_cli(["scan", "--no-cache"], project)
    assert "\x1b[" not in done.stdout
    assert "app/api.py" in done.stdout
    assert "5:12" in done.stdout and "RES001" in done.stdout
    assert "return requests.get(url)" in done.stdout  # the code line
    assert _summary(done.stdout) == "1 finding in 1 file; 0 errors"
    coloured = run_cli(["scan", "--no-cache", "--color"], project)
    assert "\x1b[" in coloured.stdout


def test_json_report_to_file(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["RES001"]\n')
    (project / "app" / "broken.py").write_text("def broken(:\n")
    done = run_cli(["scan", "--no-cache", "--format", "json", "-o", "report.json"], project)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "could not be analysed" in done.stderr
    report = json.loads((project / "report.json").read_text())
    assert list(report) == ["tool", "version", "findings", "summary", "errors"]
    assert report["summary"]["files"] == 2 and report["summary"]["findings"] == 1
    assert report["summary"]["by_severity"] == {"critical": 0, "high": 1, "medium": 0, "low": 0}
    assert report["summary"]["by_category"] == {"resilience": 1}
    assert report["errors"] == [
        {"path": "app/broken.py", "message": "syntax error: invalid syntax", "line": 1}
    ]
    finding = report["findings"][0]
    for key in (
        "rule",
        "name",
        "category",
        "severity",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "fingerprint",
        "confidence",
        "cwe",
        "fix",
        "docs",
    ):
        assert key in finding


def test_strict_turns_analysis_errors_into_exit_2(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["RES001"]\nfail-on = "critical"\n')
    (project / "app" / "latin1.py").write_bytes(b"x = '\xe9t\xe9'\n")
    assert run_cli(["scan", "--no-cache"], project).returncode == 0
    done = run_cli(["scan", "--no-cache", "--strict"], project)
    assert done.returncode == 2
    assert "cannot decode" in done.stdout


def test_usage_and_config_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    project = _project(tmp_path, 'selct = ["RES"]\n')
    done = run_cli(["scan"], project)
    assert done.returncode == 2
    assert (
        "unknown key" in done.stderr
        and "selct" in done.stderr
        and "did you mean 'select'" in done.stderr
    )
    assert "Traceback" not in done.stderr
    (project / "prodready.toml").write_text('select = ["NOPE42"]\n')
    done = run_cli(["scan"], project)
    assert done.stderr == (
        "prodready: error: unknown rule 'NOPE42' in select (prodready.toml); "
        "`prodready rules` lists codes, names and categories\n"
    )
    assert done.returncode == 2
    done = run_cli(["scan", "--isolated", "missing-dir"], project)
    assert done.returncode == 2 and "path does not exist" in done.stderr
    done = run_cli(["scan", "--isolated", "--format", "xml"], project)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    done = run_cli(["scan", "--isolated", "--diff", "main"], project)
    assert done.returncode == 2 and "git" in done.stderr and "Traceback" not in done.stderr
    (project / "prodready.toml").write_text("select = [\n")
    done = run_cli(["scan"], project)
    assert done.returncode == 2 and "invalid TOML" in done.stderr


def test_write_baseline_then_scan_with_it(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["RES001"]\n')
    done = run_cli(["scan", "--no-cache", "--write-baseline", "baseline.json"], project)
    assert done.returncode == 0
    assert done.stderr == "prodready: wrote 1 findings to baseline baseline.json\n"
    done = run_cli(["scan", "--no-cache", "--baseline", "baseline.json"], project)
    assert done.returncode == 0
    assert done.stdout.count("\n") == 1
    assert _summary(done.stdout) == "0 findings in 1 file, 1 in baseline; 0 errors"


def test_cache_is_used_on_rescan(tmp_path: Path) -> None:
    project = _project(tmp_path, 'select = ["RES001"]\n')
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("PRODREADY_CACHE_DIR", None)
    first = run_cli(["scan", "--format", "json"], project, env)
    second = run_cli(["scan"], project, env)
    assert not (project / ".prodready_cache").exists()
    assert len(list((tmp_path / "xdg" / "prodready").glob("*/results-*.json"))) == 1
    assert _summary(second.stdout) == "1 finding in 1 file, 1 from cache; 0 errors"
    assert json.loads(first.stdout)["summary"]["findings"] == 1


def test_rules_and_explain(tmp_path: Path) -> None:
    done = run_cli(["rules", "--format", "json"], tmp_path)
    catalog = json.loads(done.stdout)
    assert [rule["code"] for rule in catalog] == sorted(default_registry(plugins=False).rules)
    assert len(catalog) == 198
    assert {"code", "name", "category", "severity", "summary", "docs"} <= set(catalog[0])
    table = run_cli(["rules", "--select", "RES"], tmp_path)
    assert "RES001" in table.stdout and "http-call-without-timeout" in table.stdout
    explained = run_cli(["explain", "RES001"], tmp_path)
    assert explained.returncode == 0
    for section in ("What it does", "Why it breaks production", "Example", "Use instead"):
        assert section in explained.stdout
    by_name = run_cli(["explain", "http-call-without-timeout"], tmp_path)
    assert by_name.stdout == explained.stdout
    missing = run_cli(["explain", "RES00"], tmp_path)
    assert missing.returncode == 2 and "did you mean" in missing.stderr


def test_config_command_prints_effective_configuration(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        'fail-on = "medium"\n[profile]\nruntime = "kubernetes"\nhandles-payments = true\n',
    )
    done = run_cli(["config"], project)
    assert done.returncode == 0
    assert "prodready.toml" in done.stdout
    assert 'fail-on = "medium"' in done.stdout
    assert 'runtime = "kubernetes"' in done.stdout and "handles-payments = true" in done.stdout
    (project / "prodready.toml").write_text('[profile]\nruntime = "mainframe"\n')
    bad = run_cli(["config"], project)
    assert bad.returncode == 2 and "profile.runtime" in bad.stderr
