"""The command line as a new user meets it: clickable and CI formats, quiet stderr, safe
``--output``, narrow terminals, shell completion, progress (issue 10)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import xml.etree.ElementTree as ET  # parses only what prodready itself just wrote
from pathlib import Path

import pytest
from conftest import run_cli

from prodready.report.progress import DelayedProgress, StepProgress

SERVICE = textwrap.dedent(
    """\
    import requests


    def fetch(url):
        return requests.get(url)


    def post(url):
        return requests.post(url, json={})
    """
)
CLEAN = textwrap.dedent(
    """\
    import requests


    def fetch(url):
        return requests.get(url, timeout=5)
    """
)
WHY = (
    "has no timeout: requests waits forever by default, so a hung upstream blocks this worker "
    "indefinitely"
)
FIX = "Pass an explicit timeout, e.g. timeout=(3.05, 10) for (connect, read) seconds."
LINES = [
    f"app/api.py:5:12: RES001 [high] requests.get() {WHY}",
    f"app/api.py:9:12: RES001 [high] requests.post() {WHY}",
]


def _project(tmp_path: Path, source: str = SERVICE, config: str = 'select = ["RES001"]\n') -> Path:
    (tmp_path / "app").mkdir(parents=True)
    (tmp_path / "app" / "api.py").write_text(source)
    (tmp_path / "prodready.toml").write_text(config)
    return tmp_path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env.update(extra)
    return env


def _concise(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["scan", "--no-cache", "--format", "concise", *args], project)


def _xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - prodready's own report, written just now


# -- --output ---------------------------------------------------------------------------------


def test_output_onto_a_symlink_keeps_the_link_and_writes_its_target(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "reports").mkdir()
    target = project / "reports" / "real.json"
    target.write_text("old\n")
    (project / "report.json").symlink_to("reports/real.json")
    done = run_cli(["scan", "--no-cache", "--format", "json", "-o", "report.json"], project)
    assert done.returncode == 1 and done.stdout == "" and done.stderr == ""
    link = project / "report.json"
    assert link.is_symlink() and os.readlink(link) == "reports/real.json"
    assert json.loads(target.read_text())["summary"]["findings"] == 2
    assert sorted(p.name for p in (project / "reports").iterdir()) == ["real.json"]


def test_output_dash_is_standard_output(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = run_cli(["scan", "--no-cache", "--format", "json", "-o", "-"], project)
    assert done.returncode == 1 and done.stderr == ""
    assert json.loads(done.stdout)["summary"]["findings"] == 2
    assert not (project / "-").exists()


def test_output_onto_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "out.txt").symlink_to("made.txt")
    done = run_cli(["scan", "--no-cache", "--format", "concise", "-o", "out.txt"], project)
    assert done.returncode == 1
    assert (project / "out.txt").is_symlink()
    assert (project / "made.txt").read_text().count("RES001") == 2


def test_output_leaves_an_existing_tmp_file_alone(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "report.txt.tmp").write_text("someone else's\n")
    done = run_cli(["scan", "--no-cache", "--format", "concise", "-o", "report.txt"], project)
    assert done.returncode == 1
    assert (project / "report.txt.tmp").read_text() == "someone else's\n"
    assert (project / "report.txt").read_text().count("\n") == 2
    names = sorted(path.name for path in project.iterdir())
    assert names == ["app", "prodready.toml", "report.txt", "report.txt.tmp"]


def test_output_into_a_fifo_writes_through_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    fifo = project / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    done = run_cli(["scan", "--no-cache", "--format", "concise", "-o", "pipe"], project)
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert done.returncode == 1 and done.stderr == ""
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received[0].count(" RES001 [high] ") == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make device nodes")
def test_output_to_a_character_device_keeps_the_device(tmp_path: Path) -> None:
    # A private node of the null device (1, 3): the real /dev/null must never be at stake.
    project = _project(tmp_path)
    device = project / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    done = run_cli(["scan", "--no-cache", "--format", "json", "-o", "null"], project)
    assert done.returncode == 1 and done.stderr == ""
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert sorted(path.name for path in project.iterdir()) == ["app", "null", "prodready.toml"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/null")
def test_output_to_dev_null_as_root_keeps_the_device(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    try:
        done = run_cli(["scan", "--no-cache", "--format", "json", "-o", "/dev/null"], project)
        assert done.returncode == 1 and done.stderr == ""
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    finally:
        if not stat.S_ISCHR(os.lstat("/dev/null").st_mode):  # a regression: repair the machine
            os.unlink("/dev/null")
            os.mknod("/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chmod("/dev/null", 0o666)  # noqa: S103 - what /dev/null always is


def test_output_into_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    from prodready.report.output import write_report

    with pytest.raises(IsADirectoryError):
        write_report("x", tmp_path)


# -- concise, statistics, exit-zero, CI formats -------------------------------------------------


def test_concise_prints_one_clickable_line_per_finding(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = _concise(project)
    assert done.returncode == 1 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines == LINES


def test_concise_paths_open_from_the_current_directory(tmp_path: Path) -> None:
    project = _project(tmp_path / "svc")
    outside = run_cli(
        ["scan", "--no-cache", "--format", "concise", "--config", "svc/prodready.toml", "svc"],
        tmp_path,
    )
    assert outside.stdout.splitlines() == ["svc/" + line for line in LINES]
    rooted = _concise(project, "--root", "app", "app")
    assert rooted.stdout.splitlines() == LINES


def test_concise_lists_unanalysable_files_on_stderr(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "app" / "broken.py").write_text("def broken(:\n")
    done = _concise(project)
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr == "app/broken.py:1: error: syntax error: invalid syntax\n"


def test_statistics_count_findings_per_rule(tmp_path: Path) -> None:
    project = _project(tmp_path, config='select = ["RES001", "OBS"]\n')
    (project / "app" / "log.py").write_text("def f():\n    print('a')\n    print('b')\n")
    done = run_cli(["scan", "--no-cache", "--statistics"], project)
    assert done.returncode == 1 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "2 RES001 http-call-without-timeout"
    assert all(line.split()[0].isdigit() for line in lines)
    counts = [int(line.split()[0]) for line in lines]
    assert counts == sorted(counts, reverse=True)
    rejected = run_cli(["scan", "--statistics", "--format", "json"], project)
    assert rejected.returncode == 2 and rejected.stdout == ""
    assert rejected.stderr == (
        "prodready: error: --statistics prints counts per rule as text; "
        "it cannot make --format json\n"
    )


def test_exit_zero_reports_but_exits_0(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = _concise(project, "--exit-zero")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    assert run_cli(["scan", "--exit-zero", "--fail-on", "nope"], project).returncode == 2


def test_junit_is_valid_xml_with_one_failing_case_per_finding(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "app" / "broken.py").write_text("def broken(:\n")
    done = run_cli(["scan", "--no-cache", "--format", "junit"], project)
    assert done.returncode == 1
    root = _xml(done.stdout)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "2", "1")
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == [
        "RES001 http-call-without-timeout",
        "analysis errors",
    ]
    cases = suites[0].findall("testcase")
    assert [case.get("name") for case in cases] == ["app/api.py:5:12", "app/api.py:9:12"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "high"
    assert failure.text == LINES[0] + "\nFix: " + FIX
    error = suites[1].find("testcase/error")
    assert error is not None and error.get("message") == "syntax error: invalid syntax"


def test_junit_escapes_what_xml_cannot_carry(run_scan, tmp_path: Path) -> None:
    from dataclasses import replace

    from prodready.model import Config
    from prodready.report import renderer

    (tmp_path / "api.py").write_text(SERVICE)
    result = run_scan(tmp_path, config=Config(select=("RES001",)))
    result.findings[0] = replace(result.findings[0], message='<b> & "q" \x1b[31m \x00')
    root = _xml(renderer("junit")(result))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == '<b> & "q" \ufffd[31m \ufffd'


def test_gitlab_code_quality_report(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = run_cli(["scan", "--no-cache", "--format", "gitlab"], project)
    assert done.returncode == 1
    issues = json.loads(done.stdout)
    assert [issue["location"] for issue in issues] == [
        {"path": "app/api.py", "lines": {"begin": 5, "end": 5}},
        {"path": "app/api.py", "lines": {"begin": 9, "end": 9}},
    ]
    for issue in issues:
        assert issue["check_name"] == "RES001 http-call-without-timeout"
        assert issue["severity"] == "major" and issue["type"] == "issue"
    assert issues[0]["description"] == "RES001 " + LINES[0].split("[high] ")[1]
    assert len({issue["fingerprint"] for issue in issues}) == 2


def test_gitlab_fingerprints_stay_unique_for_repeated_code(tmp_path: Path) -> None:
    project = _project(tmp_path, source="import requests\nrequests.get(u)\nrequests.get(u)\n")
    issues = json.loads(run_cli(["scan", "--no-cache", "--format", "gitlab"], project).stdout)
    assert [issue["location"]["lines"]["begin"] for issue in issues] == [2, 3]
    assert len({issue["fingerprint"] for issue in issues}) == 2


def test_deps_speaks_the_same_formats(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import yaml\n")
    (tmp_path / "requirements.txt").write_text("requests\n")
    env = _env(tmp_path)
    done = run_cli(["deps", "--offline", "--isolated", "--format", "concise"], tmp_path, env)
    lines = done.stdout.splitlines()
    assert lines and all(line.split(": ", 1)[1].startswith("DEP") for line in lines)
    assert any(line.startswith("app.py:1:1: DEP") for line in lines)
    root = _xml(
        run_cli(["deps", "--offline", "--isolated", "--format", "junit"], tmp_path, env).stdout
    )
    assert int(root.get("failures") or 0) == len(lines)
    gitlab = run_cli(["deps", "--offline", "--isolated", "--format", "gitlab"], tmp_path, env)
    assert len(json.loads(gitlab.stdout)) == len(lines)


# -- quiet by default -------------------------------------------------------------------------


def test_scan_of_a_clean_tree_writes_nothing_to_stderr(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(CLEAN)
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    env = _env(tmp_path)
    env.pop("PRODREADY_ADVISORY_DB", None)
    done = run_cli(["scan", "--isolated"], tmp_path, env)
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.startswith("0 findings in 2 files; 0 errors; ")
    verbose = run_cli(["scan", "--isolated", "-v"], tmp_path, env)
    assert verbose.stderr.splitlines() == [
        "prodready: note: could not verify 1 name(s) on the package index: 1 offline and not in "
        "the cache (`prodready deps` asks the index) (requests)",
        "prodready: note: advisories unavailable: no advisory database configured "
        "(--advisory-db PATH or PRODREADY_ADVISORY_DB) and online lookups are off",
    ]


def test_deps_summarises_its_notes_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import requests\n")
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    env = _env(tmp_path)
    env.pop("PRODREADY_ADVISORY_DB", None)
    done = run_cli(["deps", "--offline", "--isolated"], tmp_path, env)
    assert done.stderr == "prodready: 2 notes (run with -v to see them)\n"
    verbose = run_cli(["deps", "--offline", "--isolated", "--verbose"], tmp_path, env)
    assert len(verbose.stderr.splitlines()) == 2
    assert all(line.startswith("prodready: note: ") for line in verbose.stderr.splitlines())


# -- wrapping and narrow terminals --------------------------------------------------------------


def test_text_report_wraps_long_messages_at_word_boundaries(tmp_path: Path) -> None:
    dockerfile = "FROM python:latest\nCOPY . /app\nCMD python app.py\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "prodready.toml").write_text('select = ["DKR001"]\n')
    done = run_cli(["scan", "--no-cache"], tmp_path, _env(tmp_path))
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    first = next(index for index, line in enumerate(lines) if "DKR001" in line)
    continued = []
    for line in lines[first + 1 :]:
        if not line.startswith(" " * 11) or line.strip().startswith("|"):
            break
        continued.append(line)
    assert continued and all(not line[11].isspace() for line in continued)
    concise = _concise(tmp_path).stdout.splitlines()[0]
    message = concise.split("[medium] ", 1)[1]
    wrapped = " ".join([lines[first].split("] ", 1)[1], *(line.strip() for line in continued)])
    assert wrapped == message
    narrow = run_cli(["scan", "--no-cache"], tmp_path, _env(tmp_path, COLUMNS="60"))
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60


def test_rules_table_fits_80_columns_without_blank_lines(tmp_path: Path) -> None:
    done = run_cli(["rules"], tmp_path, _env(tmp_path, COLUMNS="80"))
    lines = done.stdout.splitlines()
    assert done.returncode == 0
    assert max(len(line) for line in lines) <= 80
    assert "" not in lines
    assert lines[0].split() == ["code", "name", "severity", "category"]
    res001 = lines.index(next(line for line in lines if line.startswith("RES001 ")))
    assert lines[res001].split() == ["RES001", "http-call-without-timeout", "high", "resilience"]
    assert lines[res001 + 1].startswith("    Outbound HTTP call that can wait forever")
    wide = run_cli(["rules"], tmp_path, _env(tmp_path, COLUMNS="200")).stdout.splitlines()
    assert wide[0].split() == ["code", "name", "severity", "category", "confidence", "summary"]
    assert len(wide) == len([line for line in lines if not line.startswith("    ")])


# -- config, completion ---------------------------------------------------------------------


def test_config_command_prints_the_file_as_it_would_be_written(tmp_path: Path) -> None:
    import tomllib

    (tmp_path / "prodready.toml").write_text(
        '[probe]\ncmd = "python app.py"\n[gate.stage.unit]\ncommand = "pytest -q"\n'
    )
    done = run_cli(["config"], tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[1] == 'select = ["ALL"]'
    assert "[tool.prodready]" not in done.stdout
    document = tomllib.loads(done.stdout)
    assert document["probe"] == {"cmd": "python app.py"}
    assert document["gate"] == {"stage": {"unit": {"command": "pytest -q"}}}


def test_config_errors_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "prodready.toml").write_text('selct = ["RES"]\nfail-on = "urgent"\n')
    done = run_cli(["scan"], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("prodready: error: ") for line in lines)
    assert "selct" in lines[0] and "fail-on must be one of" in lines[1]


def test_unknown_rule_on_the_command_line(tmp_path: Path) -> None:
    done = run_cli(["scan", "--isolated", "--select", "RES001,NOPE42"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "prodready: error: unknown rule 'NOPE42' in select (command line); "
        "`prodready rules` lists codes, names and categories\n"
    )


def test_deps_names_the_file_of_an_unknown_rule(tmp_path: Path) -> None:
    (tmp_path / "prodready.toml").write_text('ignore = ["NOPE42"]\n')
    done = run_cli(["deps", "--offline"], tmp_path, _env(tmp_path))
    assert done.returncode == 2
    assert done.stderr == (
        "prodready: error: unknown rule 'NOPE42' in ignore (prodready.toml); "
        "`prodready rules` lists codes, names and categories\n"
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script(tmp_path: Path, shell: str) -> None:
    done = run_cli(["completion", shell], tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert "_PRODREADY_COMPLETE" in done.stdout
    assert f"_PRODREADY_COMPLETE={shell}_complete" in done.stdout


def test_completion_script_completes_commands_and_options(tmp_path: Path) -> None:
    script = run_cli(["completion", "bash"], tmp_path).stdout
    assert script.startswith("_prodready_completion() {")
    assert "complete -o nosort -F _prodready_completion prodready" in script
    env = {**os.environ, "_PRODREADY_COMPLETE": "bash_complete"}
    commands = run_cli([], tmp_path, {**env, "COMP_WORDS": "prodready sc", "COMP_CWORD": "1"})
    assert commands.stdout.split() == ["plain,scan"]
    formats = run_cli(
        [], tmp_path, {**env, "COMP_WORDS": "prodready scan --format con", "COMP_CWORD": "3"}
    )
    assert formats.stdout.split() == ["plain,concise"]
    rules = run_cli(
        [], tmp_path, {**env, "COMP_WORDS": "prodready explain RES00", "COMP_CWORD": "2"}
    )
    assert rules.stdout.split() == [f"plain,RES00{n}" for n in range(1, 10)]
    names = run_cli(
        [], tmp_path, {**env, "COMP_WORDS": "prodready explain http-call", "COMP_CWORD": "2"}
    )
    assert names.stdout.split() == ["plain,http-call-without-timeout"]
    bad = run_cli(["completion", "tcsh"], tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# -- progress -----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_appears_only_after_a_second() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bar = DelayedProgress("scanning", unit="files", enabled=True, stream=stream, clock=clock)
    clock.now += 0.5
    bar.update(10, 850)
    assert stream.getvalue() == "" and not bar.shown
    clock.now += 0.7
    bar.update(120, 850)
    assert bar.shown
    drawn = stream.getvalue()
    assert "scanning" in drawn and "120/850" in drawn and "files" in drawn
    assert "0:00:01" in drawn  # elapsed since the work began, not since the bar appeared
    clock.now += 0.01
    bar.update(121, 850)
    assert stream.getvalue() == drawn  # redrawn at most every 0.1 s
    clock.now += 0.2
    bar.update(850, 850)
    assert "850/850" in stream.getvalue()
    bar.close()


def test_progress_stays_silent_for_quick_or_disabled_work() -> None:
    clock, stream = FakeClock(), io.StringIO()
    quick = DelayedProgress("scanning", enabled=True, stream=stream, clock=clock)
    clock.now += 5
    quick.update(3, 3)  # already complete when it would first appear
    quick.close()
    off = DelayedProgress("scanning", enabled=False, stream=stream, clock=clock)
    clock.now += 5
    off.update(1, 3)
    off.close()
    assert stream.getvalue() == "" and not quick.shown and not off.shown


def test_progress_is_off_when_stderr_is_not_a_terminal() -> None:
    code = (
        "from prodready.report.progress import DelayedProgress;print(DelayedProgress('x').enabled)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout == "False\n"


def test_probe_and_gate_progress_counts_finished_steps() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bar = DelayedProgress("checks", unit="done", enabled=True, stream=stream, clock=clock)
    with StepProgress("probe", "check", 3, quiet=False, bar=bar) as steps:
        steps("service listening on http://127.0.0.1:8000")
        steps("check health")
        assert stream.getvalue() == (
            "prodready probe: service listening on http://127.0.0.1:8000\n"
            "prodready probe: check health\n"
        )
        clock.now += 2
        steps("check health: pass - ready in 0.2 s")
        assert steps.done == 1 and bar.shown
        assert "prodready probe: check health: pass - ready in 0.2 s" in stream.getvalue()
        assert "1/3" in stream.getvalue()
        steps("check request-id")
        clock.now += 1
        steps("check request-id: fail - no X-Request-ID: header")
        assert steps.done == 2 and "2/3" in stream.getvalue()


def test_quiet_probe_progress_prints_nothing() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bar = DelayedProgress("stages", unit="done", enabled=True, stream=stream, clock=clock)
    with StepProgress("gate", "stage", 2, quiet=True, bar=bar) as steps:
        clock.now += 5
        steps("stage lint")
        steps("stage lint: pass - clean")
    assert stream.getvalue() == "" and not bar.shown
