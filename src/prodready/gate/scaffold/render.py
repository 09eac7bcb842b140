"""The text of the starter ``prodready.toml``: commented, with the gate stages switched on
according to what detection found."""

from __future__ import annotations

import json
import textwrap

from prodready.gate.scaffold.profile import FRAMEWORK_TITLES, ProjectProfile


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def _line(assignment: str, comment: str | None = None, width: int = 32) -> str:
    if not comment:
        return assignment
    if len(assignment) < width:
        return f"{assignment:<{width}}# {comment}"
    return f"{assignment}  # {comment}"


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, width=94)]


def _list(items: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _summary(profile: ProjectProfile) -> list[str]:
    lines: list[str] = []
    if profile.http_app:
        title = FRAMEWORK_TITLES.get(profile.framework, profile.framework)
        where = ""
        if profile.app is not None and profile.framework != "django":
            where = f" (app: {profile.app.module}:{profile.app.attribute} in {profile.app.path})"
        elif profile.app is not None:
            where = f" (project: {profile.app.module.rsplit('.', 1)[0]})"
        lines.append(f"framework: {title}{where}")
    else:
        lines.append("framework: no web framework found (a library, a worker or a CLI)")
    if profile.test_runner:
        where = f" ({profile.tests_dir}/)" if profile.tests_dir else ""
        cov = ", pytest-cov" if profile.pytest_cov else ""
        lines.append(f"tests: {profile.test_runner}{where}{cov}")
    else:
        lines.append("tests: none found")
    if profile.dockerfiles:
        lines.append(f"Dockerfiles: {_list(profile.dockerfiles)}")
    if profile.kubernetes:
        lines.append(f"Kubernetes manifests: {_list(profile.kubernetes)}")
    if profile.compose:
        lines.append(f"Compose files: {_list(profile.compose)}")
    if profile.manifests:
        lines.append(f"dependency manifests: {_list(profile.manifests)}")
    return lines


def render_config(profile: ProjectProfile) -> str:
    """A commented ``prodready.toml`` for the project: scan settings, gate stages switched on
    according to what was found, the policy, and ``[probe]`` when a web app was found."""
    out: list[str] = [
        "# prodready configuration, written by `prodready init`. What it found:",
        *(f"#   {line}" for line in _summary(profile)),
        "# Every key is validated: a typo is an error (exit 2) that names the key.",
        "# `prodready config` prints the effective scan configuration.",
        "",
        "# -- prodready scan " + "-" * 60,
        _line('fail-on = "high"', "exit 1 at or above: critical | high | medium | low"),
        _line('# min-confidence = "low"', "drop findings less certain than this"),
        _line('# exclude = ["migrations/"]', "gitignore-style, added to .gitignore"),
        "",
        "[profile]                       # the production context: rules raise or lower severity",
    ]
    if profile.kubernetes:
        out.append(_line('runtime = "kubernetes"', "Kubernetes manifests found"))
    else:
        out.append(_line('# runtime = "kubernetes"', "kubernetes | serverless | vm | paas"))
    project_type = profile.project_type
    if project_type is not None:
        why = "a service" if project_type == "application" else "a package without a service"
        out.append(_line(f"project-type = {_toml(project_type)}", f"{why}; decides pinning"))
    else:
        out.append(_line('# project-type = "application"', "application | library"))
    out += [
        _line('# traffic = "high"', "low | medium | high"),
        _line('# exposure = "public"', "public | internal"),
        _line('# data = "pii"', "none | internal | pii | phi | pci"),
        _line("# handles-payments = true", "money moves: retries and idempotency matter more"),
        "",
        "# -- prodready gate " + "-" * 60,
        "[gate]",
        _line('# base = "origin/main"', "default: the merge-base with the default branch"),
        _line("keep-going = false", "true: run every stage after a required one failed"),
        "",
    ]
    out += _lint_stage(profile)
    out += [
        "[gate.stage.scan]               # prodready scan (every category but dependencies)",
        "required = true",
        "",
    ]
    out += _dependencies_stage(profile)
    out += _unit_stage(profile)
    out += _integration_stage(profile)
    out += _probe_stages(profile)
    out += [
        "[gate.stage.approval]           # a human sign-off, when the policy asks for one",
        f"file = {_toml('.prodready/approval.toml')}",
        "",
        "[policy]",
        _line('fail-on = "high"', "block the release at or above this severity"),
        "",
        "[policy.ai-assisted]            # stricter for changes from AI-assisted commits",
        _line('fail-on = "medium"'),
        _line("require-tests = true", "the change must come with tests"),
        _line("require-approval = false", f"true: needs {'.prodready/approval.toml'}"),
        "",
    ]
    out += _probe_table(profile)
    return "\n".join(out).rstrip("\n") + "\n"


def _lint_stage(profile: ProjectProfile) -> list[str]:
    lines = ["[gate.stage.lint]               # ruff check"]
    if profile.ruff:
        lines.append("required = true")
    else:
        lines.append(_line("required = false", "ruff is not declared or configured here yet"))
    lines += [_line('timeout = "5m"'), ""]
    return lines


def _dependencies_stage(profile: ProjectProfile) -> list[str]:
    lines = ["[gate.stage.dependencies]       # prodready deps: manifests, index, advisories"]
    if profile.manifests:
        lines.append("required = true")
    else:
        lines.append(_line("enabled = false", "no dependency manifest found"))
    lines += [_line("# offline = true", "only cached package-index answers, no network"), ""]
    return lines


def _unit_stage(profile: ProjectProfile) -> list[str]:
    lines = ["[gate.stage.unit]               # the gate adds --junitxml (and --cov) itself"]
    if profile.test_runner is None:
        lines += [
            _line("enabled = false", "no tests found: add some and switch this on"),
            _line('# command = "python -m pytest -q"'),
            "",
        ]
        return lines
    command = "python -m pytest -q"
    if profile.integration_dir:
        command += f" --ignore={profile.integration_dir}"
    lines.append(f"command = {_toml(command)}")
    if not profile.pytest_declared:
        lines.append(
            "# pytest is not among the declared dependencies: install it where the gate runs"
        )
    if profile.pytest_cov:
        lines.append(_line("coverage = 80", "minimum line coverage in percent (pytest-cov)"))
    else:
        lines.append(_line("# coverage = 80", "needs pytest-cov among the dependencies"))
    lines.append("")
    return lines


def _integration_stage(profile: ProjectProfile) -> list[str]:
    lines = ["[gate.stage.integration]"]
    if profile.integration_dir and profile.test_runner:
        lines.append("enabled = true")
        lines.append(f"command = {_toml(f'python -m pytest {profile.integration_dir} -q')}")
    else:
        lines += [
            _line("enabled = false", "no integration tests found"),
            _line('# command = "python -m pytest tests/integration -q"'),
        ]
    lines.append("")
    return lines


def _probe_ready(profile: ProjectProfile) -> bool:
    return profile.http_app and profile.serve_cmd is not None


def _probe_stages(profile: ProjectProfile) -> list[str]:
    if _probe_ready(profile):
        enabled = "enabled = true"
        why = "needs prodready's probe extra: `python -m pip install '/path/to/prodready[probe]'`"
    elif profile.http_app:
        enabled = "enabled = false"
        why = "set cmd under [probe] first"
    else:
        enabled = "enabled = false"
        why = "no web app found"
    return [
        "[gate.stage.performance]        # the probe's load checks against the SLO ([probe])",
        _line(enabled, why),
        "",
        "[gate.stage.sandbox]            # the full probe: faults, fuzzing, shutdown ([probe])",
        _line(enabled, why),
        "",
    ]


def _probe_table(profile: ProjectProfile) -> list[str]:
    header = "# -- prodready probe (docs/probe.md) " + "-" * 42
    if not profile.http_app:
        return [
            header,
            "# [probe]",
            '# cmd = "uvicorn app.main:app --port {port}"   # {port}: a free loopback port',
        ]
    lines = [header]
    if profile.serve_cmd is None:
        lines += [
            "# No app object was found to start: set the command that starts the service, then",
            "# enable the performance and sandbox stages above.",
            "# [probe]",
            '# cmd = "uvicorn app.main:app --port {port}"   # {port}: a free loopback port',
        ]
        return lines
    source = f"the CMD of {profile.serve_source}" if profile.serve_source else "the code"
    lines += [
        f"# The command starts the service (found from {source}); the probe replaces {{port}}",
        "# with a free loopback port, also passed in $PORT.",
        *(line for note in profile.serve_notes for line in _comment(f"Note: {note}.")),
        "[probe]",
        f"cmd = {_toml(profile.serve_cmd)}",
        _line('budget = "300s"', "caps the whole probe run"),
        _line(
            '# slo = ["p(95) < 150ms", "p(99) < 300ms", "error_rate < 0.01"]',
            "k6-style thresholds",
        ),
        "",
        "# Each outbound HTTP dependency gets a recording fake behind a fault proxy:",
        "# [probe.deps.gateway]",
        '# env = "GATEWAY_URL"            # the variable the service reads its base URL from',
        "# A real TCP server (database, cache) behind the fault proxy:",
        "# [probe.deps.db]",
        '# env = "DATABASE_URL"',
        '# target = "tcp://127.0.0.1:5432"',
    ]
    return lines
