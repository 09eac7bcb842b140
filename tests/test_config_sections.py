"""`prodready config` and `prodready gate` validate every section of the file in one run.

A new user's typos in ``[probe]`` and ``[gate]`` used to go unreported by `prodready config`
(printed back as valid, exit 0), and `prodready gate` reported the gate's but not the probe's.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli

KNOWN_PROBE = (
    "cmd, openapi, deps, only, skip, budget, startup-timeout, grace-period, request-timeout, "
    "env, workdir, isolate, health, slo, requests, invariants, load, rate-limit, limits, "
    "payload-size, fuzz-examples, dependency-budget, injected-latency"
)
KNOWN_STAGES = (
    "lint, scan, dependencies, unit, integration, performance, sandbox, approval, release, security"
)
KNOWN_LOAD = "users, spawn-rate, duration, warmup, throughput, workers, upstream-latency"


def _write(project: Path, text: str, name: str = "prodready.toml") -> Path:
    path = project / name
    path.write_text(text, encoding="utf-8")
    return path


def test_config_reports_every_section_mistake_at_once(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        'selct = ["RES"]\n'
        '[probe]\nbudjet = "10s"\ncmd = "python app.py"\n[probe.load]\nuser = 3\n'
        '[gate.stage.unt]\ncommand = "pytest"\n[gate.stage.unit]\ntimeout = "soon"\n'
        '[policy]\nfail-on = "hgh"\n',
    )
    done = run_cli(["config"], tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"prodready: error: unknown key {config}: selct (did you mean 'select'?); known keys: "
        "deps, exclude, fail-on, gate, ignore, min-confidence, per-path-ignores, policy, probe, "
        "profile, respect-gitignore, roles, select, severity",
        f"prodready: error: unknown key {config}: probe.budjet (did you mean 'budget'?); "
        f"known keys: {KNOWN_PROBE}",
        f"prodready: error: unknown key {config}: probe.load.user (did you mean 'users'?); "
        f"known keys: {KNOWN_LOAD}",
        f"prodready: error: unknown key {config}: gate.stage.unt (did you mean 'unit'?); "
        f"known keys: {KNOWN_STAGES}",
        f"prodready: error: {config}: gate.stage.unit.timeout must be a duration like 10, "
        "'500ms' or '2m'; got 'soon'",
        f"prodready: error: {config}: policy.fail-on must be one of critical, high, medium, low; "
        "got 'hgh'",
    ]


def test_config_names_pyproject_tables_as_spelt_there(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        '[tool.prodready.probe]\nbudjet = "10s"\n[tool.prodready.gate.stage.unt]\n'
        'command = "pytest"\n',
        "pyproject.toml",
    )
    done = run_cli(["config"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"prodready: error: unknown key {config}: tool.prodready.probe.budjet (did you mean "
        f"'budget'?); known keys: {KNOWN_PROBE}",
        f"prodready: error: unknown key {config}: tool.prodready.gate.stage.unt (did you mean "
        f"'unit'?); known keys: {KNOWN_STAGES}",
    ]


def test_config_says_every_section_was_validated(tmp_path: Path) -> None:
    config = _write(tmp_path, '[probe]\nbudget = "10s"\n[gate.stage.unit]\ncommand = "pytest"\n')
    done = run_cli(["config"], tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == (
        f"# effective configuration from: {config} (every section validated: scan settings, "
        "probe, gate, policy)"
    )


def test_gate_reports_probe_and_gate_mistakes_in_one_run(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        '[probe]\nbudjet = "10s"\nfuzz-examples = 0\n[gate.stage.unt]\ncommand = "pytest"\n',
    )
    done = run_cli(["gate", str(tmp_path), "--stages", "lint"], tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"prodready: error: unknown key {config}: probe.budjet (did you mean 'budget'?); "
        f"known keys: {KNOWN_PROBE}",
        f"prodready: error: {config}: probe.fuzz-examples must be an integer >= 1; got 0",
        f"prodready: error: unknown key {config}: gate.stage.unt (did you mean 'unit'?); "
        f"known keys: {KNOWN_STAGES}",
    ]


def test_scan_does_not_judge_the_probe_and_gate_sections(tmp_path: Path) -> None:
    _write(tmp_path, '[probe]\nbudjet = "10s"\n[gate.stage.unt]\ncommand = "pytest"\n')
    (tmp_path / "app.py").write_text("VALUE = 1\n", encoding="utf-8")
    done = run_cli(["scan", ".", "--no-cache", "--format", "concise"], tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
