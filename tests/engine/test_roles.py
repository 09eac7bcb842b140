"""Code roles (engine/roles.py): what each file is for, detected from its path, its imports, its
header and what other files say of it, overridden by configuration; a rule judges only the roles
it applies to, and every finding it keeps says which role it was judged in."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest
from conftest import ScanFn, run_cli

from prodready.config import parse_config
from prodready.engine.console_scripts import entry_modules, is_command_line_bootstrap
from prodready.engine.project import project_facts
from prodready.engine.roles import (
    RoleMap,
    content_role,
    detect,
    healthcheck_scripts,
    is_test_path,
    path_role,
    referenced_roles,
)
from prodready.engine.semantic.command_line import command_line_only
from prodready.model import Category, Config, ConfigError, FileKind, Role, Rule, Severity
from prodready.report import renderer

# A module-level HTTP call without a timeout (RES001, resilience: service only) and a shell
# command built from input (SEC: security also judges scripts).
CALL = "import requests\n\n\ndef fetch(url):\n    return requests.get(url)\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("app/api.py", None),
        ("tests/test_api.py", Role.TEST),
        ("app/api_test.py", Role.TEST),
        ("hc/test.py", Role.TEST),  # a project's test-support module (TestCase base class)
        ("app/tests.py", Role.TEST),
        ("conftest.py", Role.TEST),
        ("src/shop/testutils/settings.py", Role.TEST),
        ("shop/settings_testing.py", Role.TEST),
        ("shop/test_settings.py", Role.TEST),
        ("shop/settings/test.py", Role.TEST),
        ("src/shop/_build_settings.py", Role.DEV_INFRA),  # settings only a build selects
        ("shop/settings/ci.py", Role.DEV_INFRA),
        ("shop/settings/production.py", None),
        ("shop/migrations/0002_auto.py", Role.MIGRATION),
        ("shop/management/commands/prune.py", Role.MANAGEMENT_COMMAND),
        ("scripts/backfill.py", Role.SCRIPT),
        ("manage.py", Role.SCRIPT),
        ("docs/quickstart.py", Role.EXAMPLE),
        ("examples/client.py", Role.EXAMPLE),
        ("sandbox/apps/importer.py", Role.EXAMPLE),
        ("fixtures/payload.py", Role.FIXTURE),
        (".semgrep/rules/bad_sql.py", Role.FIXTURE),  # another linter's deliberately bad sample
        (".github/scripts/release.py", Role.DEV_INFRA),
        ("ci/upload_coverage.py", Role.DEV_INFRA),
        ("shop/ci/models.py", None),  # an app of the service named ci (continuous integration)
        ("shop/vendor/lib.py", Role.VENDORED),
        ("dev/codegen/gen_client.py", Role.SCRIPT),  # developer tooling beside the package
        ("shop/dev/views.py", None),  # an app of the service named dev
    ],
)
def test_path_role(path: str, role: Role | None) -> None:
    assert path_role(path) is role


@pytest.mark.parametrize(
    ("name", "kind", "role"),
    [
        ("frontend/Dockerfile.playwright", FileKind.DOCKERFILE, Role.DEV_INFRA),
        ("test.Dockerfile", FileKind.DOCKERFILE, Role.DEV_INFRA),
        ("docker-compose.ci.yml", FileKind.COMPOSE, Role.DEV_INFRA),
        ("Dockerfile", FileKind.DOCKERFILE, None),
        ("backend/Dockerfile.prod", FileKind.DOCKERFILE, None),
        ("compose.yml", FileKind.COMPOSE, None),
        # named for development: dev-infra also beside the scripts of a top-level dev/
        ("dev/docker/Dockerfile.api.dev", FileKind.DOCKERFILE, Role.DEV_INFRA),
        ("dev/docker/docker-compose.dev.yml", FileKind.COMPOSE, Role.DEV_INFRA),
        ("tools/Dockerfile", FileKind.DOCKERFILE, Role.SCRIPT),
    ],
)
def test_dockerfile_and_compose_roles_by_name(name: str, kind: FileKind, role: Role | None) -> None:
    assert path_role(name, kind) is role


def test_is_test_path_ignores_the_precedence_of_other_roles() -> None:
    # A test under a hidden directory is a test too; a service module is not.
    assert is_test_path(".ci/tests/test_smoke.py") is True
    assert is_test_path("app/testimonials.py") is False
    assert is_test_path("app/contest.py") is False


def test_alembic_versions_beside_env_py_are_migrations() -> None:
    documents = [
        (path, path, "")
        for path in [
            "src/app/db/revisions/core/env.py",
            "src/app/db/revisions/core/versions/2023_ab12_add_column.py",
            "src/app/api/versions/v2.py",  # an API's versions/ (no env.py beside): service
            "versions/0001_first.py",
            "env.py",
        ]
    ]
    assert referenced_roles(documents) == {
        "src/app/db/revisions/core/versions/2023_ab12_add_column.py": Role.MIGRATION,
        "versions/0001_first.py": Role.MIGRATION,
    }
    # The project-wide findings of a revision (DAT003's) are judged as a migration's.
    roles = RoleMap(referenced=referenced_roles(documents))
    revision = "src/app/db/revisions/core/versions/2023_ab12_add_column.py"
    assert roles.role_of(revision) is Role.MIGRATION
    assert roles.role_of("src/app/api/versions/v2.py") is Role.SERVICE


def test_content_role_from_imports_definitions_and_header() -> None:
    def tree(source: str) -> ast.Module:
        return ast.parse(textwrap.dedent(source))

    case = tree("from django.test import TestCase\n\nclass BaseTestCase(TestCase):\n    pass\n")
    assert content_role(["django.test.TestCase"], tree=case) is Role.TEST
    functions = tree("import pytest\n\n@pytest.fixture\ndef client():\n    return 1\n")
    assert content_role(["pytest"], tree=functions) is Role.TEST
    named = tree("import unittest.mock\n\ndef test_fetch():\n    pass\n")
    assert content_role(["unittest.mock"], tree=named) is Role.TEST
    # A view that builds a request with the test client's factory is service code.
    view = tree(
        "from django.test import RequestFactory\n\n"
        "class TaskView:\n    def get(self, request):\n        return RequestFactory()\n"
    )
    assert content_role(["django.test.RequestFactory"], tree=view) is None
    # Test-looking definitions without a test framework say nothing.
    assert content_role(["django.db"], tree=named) is None
    header = "# Generated by Django 4.2.1 on 2023-05-01 10:00\n\nfrom django.db import migrations\n"
    assert content_role([], header) is Role.MIGRATION
    # An Alembic revision outside any migrations/ or alembic/ directory (db/revisions/x/versions/).
    revision_source = (
        "from alembic import op\n\n"
        'revision = "3b0f5b81376f"\ndown_revision = "d6438d754467"\n\n'
        "def upgrade():\n    op.add_column('t', None)\n\n"
        "def downgrade():\n    pass\n"
    )
    assert content_role(["alembic.op"], tree=tree(revision_source)) is Role.MIGRATION
    assert (
        detect(
            "src/app/db/revisions/core/versions/2023_ab12.py",
            FileKind.PYTHON,
            ["alembic.op"],
            tree=tree(revision_source),
        )
        is Role.MIGRATION
    )
    # The same identifiers without Alembic (a module that merely names a revision) say nothing.
    assert content_role(["app.models"], tree=tree(revision_source)) is None
    no_upgrade = tree('from alembic import op\n\nrevision = "a1"\ndown_revision = None\n')
    assert content_role(["alembic.op"], tree=no_upgrade) is None
    # The path wins over the content: a module in scripts/ that defines tests is a script.
    assert detect("scripts/check.py", FileKind.PYTHON, ["unittest"], tree=named) is Role.SCRIPT
    assert detect("app/api.py", FileKind.PYTHON, ["requests"]) is Role.SERVICE


def test_healthcheck_probe_found_through_the_copy_that_put_it_in_the_image() -> None:
    dockerfile = textwrap.dedent(
        """\
        FROM python:3.12-slim
        COPY docker/probe.py /opt/app/
        COPY --chown=app:app . /opt/app/
        HEALTHCHECK --interval=60s --retries=1 \\
            CMD ./probe.py
        CMD ["uwsgi", "app.ini"]
        """
    )
    known = ["docker/probe.py", "app/probe.py", "docker/Dockerfile"]
    assert healthcheck_scripts("docker/Dockerfile", dockerfile, known) == {"docker/probe.py"}
    exec_form = 'FROM python:3.12\nHEALTHCHECK CMD ["python", "health.py"]\n'
    assert healthcheck_scripts("svc/Dockerfile", exec_form, ["svc/health.py"]) == {"svc/health.py"}
    assert (
        healthcheck_scripts("Dockerfile", "FROM python:3.12\nCMD ./run.py\n", ["run.py"]) == set()
    )


def test_rule_roles_default_by_category_and_declared() -> None:
    def check(node: object, ctx: object) -> None: ...

    def rule(category: Category, **extra: object) -> Rule:
        extra.setdefault("kind", FileKind.DOCKERFILE)
        return Rule(
            code="ABC001",
            name="a-rule",
            category=category,
            severity=Severity.HIGH,
            summary="s",
            docs="d",
            check=check,
            **extra,  # type: ignore[arg-type]
        )

    assert rule(Category.RESILIENCE).applies_to == {Role.SERVICE}
    assert rule(Category.SECURITY).applies_to == {
        Role.SERVICE,
        Role.SCRIPT,
        Role.MANAGEMENT_COMMAND,
    }
    assert rule(Category.DEPENDENCIES).applies_to == set(Role)
    assert rule(Category.STATE, roles=frozenset({Role.TEST})).applies_to == {Role.TEST}
    assert rule(Category.STATE, kind=None).applies_to == set(Role)  # suppression events
    assert rule(Category.RESILIENCE).to_dict()["roles"] == ["service"]


def test_findings_outside_their_rules_roles_are_dropped_and_kept_ones_say_their_role(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    _write(
        tmp_path,
        {
            "app/api.py": CALL,
            "tests/test_api.py": CALL,
            "app/checks.py": "import unittest\n" + CALL + "\n\ndef test_fetch():\n    pass\n",
            "scripts/backfill.py": CALL,
            "shop/management/commands/prune.py": CALL,
            ".semgrep/samples/res001.py": CALL,
        },
    )
    result = run_scan(tmp_path, config=Config(select=("RES001",)))
    # A management command runs against production (a cron job that pays salaries): RES001
    # judges it like a service (76f8f8a); scripts/ keep the service-only default.
    assert [(f.path, f.role) for f in result.findings] == [
        ("app/api.py", "service"),
        ("shop/management/commands/prune.py", "management-command"),
    ]
    # RES001 itself leaves tests/ alone; the engine drops the other three.
    assert result.stats.outside_roles == 3
    summary = renderer("text")(result).splitlines()[-1]
    assert summary.startswith(
        "2 findings in 6 files, 3 in files outside their rules' roles; 0 errors;"
    )


def test_a_security_rule_still_judges_scripts_and_management_commands(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    query = "import requests\n\n\ndef get(url):\n"
    query += "    return requests.get(url, timeout=5, verify=False)\n"
    _write(
        tmp_path,
        {
            "app/api.py": query,
            "scripts/report.py": query,
            "shop/management/commands/report.py": query,
            "tests/test_report.py": query,
            "shop/migrations/0003_data.py": query,
        },
    )
    result = run_scan(tmp_path, config=Config(select=("security",)))
    found = sorted({(f.path, f.role) for f in result.findings})
    assert found == [
        ("app/api.py", "service"),
        ("scripts/report.py", "script"),
        ("shop/management/commands/report.py", "management-command"),
    ]


def test_a_healthcheck_probe_is_a_script_not_service_code(tmp_path: Path, run_scan: ScanFn) -> None:
    _write(
        tmp_path,
        {
            "docker/Dockerfile": "FROM python:3.12\nCOPY docker/probe.py /app/\n"
            "HEALTHCHECK CMD ./probe.py\n",
            "docker/probe.py": CALL,
            "app/api.py": CALL,
        },
    )
    result = run_scan(tmp_path, config=Config(select=("RES001",)))
    assert [(f.path, f.role) for f in result.findings] == [("app/api.py", "service")]
    assert result.stats.outside_roles == 1


def test_configured_roles_override_detection_last_glob_wins(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """A configured role decides which findings the engine keeps. (A rule that recognises a
    test by its path still leaves it alone: configuring tests/ as service does not make
    RES001 judge it; a test recognised by its imports only is judged when configured.)"""
    _write(
        tmp_path,
        {
            "app/api.py": CALL,
            "app/live_probe.py": "import unittest\n" + CALL + "\n\nclass TestLive:\n    pass\n",
            "tools/x.py": CALL,
        },
    )
    config = parse_config(
        {"select": ["RES001"], "roles": {"app/**": "script", "app/live_*.py": "service"}}
    )
    result = run_scan(tmp_path, config=config)
    assert [(f.path, f.role) for f in result.findings] == [("app/live_probe.py", "service")]
    config = parse_config({"select": ["RES001"], "roles": {"app/*.py": "example"}})
    result = run_scan(tmp_path, config=config)
    assert [(f.path, f.role) for f in result.findings] == []
    assert result.stats.outside_roles == 3  # the two in app/ and the script in tools/


def test_roles_are_judged_from_the_project_scanned_from_its_parent(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    # The project lives under examples/: scanned from the parent, its files keep their roles.
    project = tmp_path / "examples" / "shop"
    _write(project, {"pyproject.toml": "[project]\nname='shop'\n", "shop/api.py": CALL})
    result = run_scan(project, root=tmp_path, config=Config(select=("RES001",)))
    assert [(f.path, f.role) for f in result.findings] == [("examples/shop/shop/api.py", "service")]


def test_unknown_roles_in_configuration_are_one_error_each() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"roles": {"tools/**": "scrpt", "x/**": 3, "ok/**": "Test"}}, "prodready.toml")
    allowed = (
        "service, test, fixture, example, script, management-command, migration, dev-infra, "
        "vendored"
    )
    assert str(raised.value).splitlines() == [
        f"prodready.toml: roles.'tools/**' must be one of {allowed}; got 'scrpt' "
        "(did you mean 'script'?)",
        f"prodready.toml: roles.'x/**' must be one of {allowed}; got 3",
    ]
    config = parse_config({"roles": {"ok/**": "Test"}})
    assert config.roles == (("ok/**", Role.TEST),)
    assert config.to_dict()["roles"] == {"ok/**": "test"}


def test_cli_unknown_role_exits_2_and_json_carries_the_role(tmp_path: Path) -> None:
    _write(tmp_path, {"app/api.py": CALL, "prodready.toml": '[roles]\n"app/**" = "servce"\n'})
    done = run_cli(["scan", "--no-cache", "."], tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"prodready: error: {tmp_path / 'prodready.toml'}: roles.'app/**' must be one of "
        "service, test, fixture, example, script, management-command, migration, dev-infra, "
        "vendored; got 'servce' (did you mean 'service'?)\n"
    )
    (tmp_path / "prodready.toml").write_text('select = ["RES001"]\n', encoding="utf-8")
    done = run_cli(["scan", "--no-cache", "--format", "json", "."], tmp_path)
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [(f["rule"], f["path"], f["role"]) for f in findings] == [
        ("RES001", "app/api.py", "service")
    ]


def test_roles_apply_to_cached_results_and_follow_the_configuration(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """Roles are applied after the result cache: a warm scan keeps each finding's role, and a
    changed [roles] table takes effect without invalidating the cache."""
    project = tmp_path / "project"
    _write(project, {"app/api.py": CALL, "app/probe.py": CALL, "tests/helpers.py": CALL})
    cache = tmp_path / "cache"
    config = Config(select=("RES001",))
    cold = run_scan(project, config=config, use_cache=True, cache_dir=cache)
    warm = run_scan(project, config=config, use_cache=True, cache_dir=cache)
    assert warm.stats.cache_hits == 3
    expected = [("app/api.py", "service"), ("app/probe.py", "service")]
    assert [(f.path, f.role) for f in cold.findings] == expected
    assert [(f.path, f.role) for f in warm.findings] == expected
    configured = parse_config({"select": ["RES001"], "roles": {"app/probe.py": "script"}})
    again = run_scan(project, config=configured, use_cache=True, cache_dir=cache)
    assert again.stats.cache_hits == 3
    assert [(f.path, f.role) for f in again.findings] == [("app/api.py", "service")]
    assert again.stats.outside_roles == 1


def test_a_dockerfile_only_test_services_build_is_dev_infra(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    image = 'FROM python:3.12-slim\nCOPY . /app\nCMD ["python", "/app/run.py"]\n'
    _write(
        tmp_path,
        {
            "runner/Dockerfile": image,  # built only by the e2e service
            "api/Dockerfile": image,  # built by the api service and by a test service
            "worker/Dockerfile": image,  # in no compose file
            "compose.yml": textwrap.dedent(
                """\
                services:
                  api:
                    build: ./api
                  E2E-Tests:
                    build:
                      context: .
                      dockerfile: runner/Dockerfile
                  api-test:
                    build: {context: api}
                  remote:
                    build: https://github.com/example/app.git#main
                """
            ),
        },
    )
    result = run_scan(tmp_path, config=Config(select=("DKR001",)))
    assert [(f.path, f.role) for f in result.findings] == [
        ("api/Dockerfile", "service"),
        ("worker/Dockerfile", "service"),
    ]
    assert result.stats.outside_roles == 1


def test_a_dev_infra_finding_is_reported_at_low_and_says_why(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """An e2e test-runner image that pipes an installer into bash: the finding holds (a CI
    supply-chain risk) but its blast radius is CI, not production -- reported at low, with the
    reason in its message; the same line in the service's image stays high."""
    image = "FROM node:20\nRUN curl -fsSL http://get.example.dev/install | bash\n"
    _write(tmp_path, {"frontend/Dockerfile.playwright": image, "frontend/Dockerfile": image})
    result = run_scan(tmp_path, config=Config(select=("DKR008",)))
    service, runner = result.findings
    assert (service.path, service.role, service.severity) == (
        "frontend/Dockerfile",
        "service",
        Severity.HIGH,
    )
    assert (runner.path, runner.role, runner.severity) == (
        "frontend/Dockerfile.playwright",
        "dev-infra",
        Severity.LOW,
    )
    assert runner.message == service.message + (
        " [reported at low, not high: a dev-infra file -- it builds, tests or runs CI for the "
        "project and never runs in production]"
    )
    assert service.message.endswith("or install a pinned package instead")


# A command's module: uses the web framework (to set it up), reads its command line, prints a
# token it was given, calls out.
COMMAND = (
    "import sys\n\nimport flask\nimport requests\n\n\ndef main():\n    token = sys.argv[1]\n"
    '    print(f"token {token} rejected")\n    return requests.get(sys.argv[2])\n'
)


def test_a_console_script_bootstrap_is_a_script_and_a_served_application_is_not(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """The module a [project.scripts] command runs is a script when it reads its command line
    and serves nothing: RES001 (service only) is dropped and SEC018's print() -- the command's
    output on the operator's terminal -- is moot. A command whose module creates the web
    application, and the same code in no command, stay service code."""
    served = COMMAND + '\n\napp = flask.Flask("shop")\n'
    _write(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "shop"\n\n[project.scripts]\n'
            'shop = "shop.cli:main"\nshop-serve = "shop.web:main"\n',
            "src/shop/__init__.py": "",
            "src/shop/cli.py": COMMAND,
            "src/shop/web.py": served,
            "src/shop/helpers.py": COMMAND,
        },
    )
    result = run_scan(tmp_path, config=Config(select=("RES001", "SEC018")))
    assert sorted((f.path, f.rule, f.role) for f in result.findings) == [
        ("src/shop/helpers.py", "RES001", "service"),
        ("src/shop/helpers.py", "SEC018", "service"),
        ("src/shop/web.py", "RES001", "service"),
        ("src/shop/web.py", "SEC018", "service"),
    ]
    assert result.stats.outside_roles == 2  # cli.py: RES001 outside its roles, SEC018 moot


@pytest.mark.parametrize(
    ("manifest", "text"),
    [
        ("pyproject.toml", '[tool.poetry.scripts]\nshop = "shop.cli:main"\n'),
        (
            "pyproject.toml",
            '[tool.poetry.scripts]\nshop = { reference = "shop.cli:main", type = "console" }\n',
        ),
        ("setup.cfg", "[options.entry_points]\nconsole_scripts =\n    shop = shop.cli:main\n"),
        (
            "setup.py",
            "from setuptools import setup\n\nsetup(name='shop', entry_points={\n"
            "    'console_scripts': ['shop = shop.cli:main'],\n})\n",
        ),
    ],
)
def test_console_scripts_from_every_manifest(manifest: str, text: str) -> None:
    assert entry_modules(manifest, text) == ["shop.cli"]
    assert entry_modules(manifest, text.replace("shop.cli", "1shop")) == []


def test_a_command_line_bootstrap_reads_its_command_line_and_serves_nothing() -> None:
    assert is_command_line_bootstrap("import click\n\n@click.command()\ndef main():\n    pass\n")
    assert is_command_line_bootstrap("from sys import argv\n\ndef main():\n    run(argv)\n")
    assert not is_command_line_bootstrap("def main():\n    run()\n")  # no command line read
    routed = "import sys\n\n@router.get('/x')\ndef x():\n    return sys.argv\n"
    assert not is_command_line_bootstrap(routed)
    assert not is_command_line_bootstrap(
        "import argparse\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    )


def test_functions_only_command_line_code_calls_run_from_a_command_line(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """Through the call graph: a helper only a management command (or a helper of it) calls is
    command-line code; one a view calls too is not, nor is a method (its callers through
    instances are unknown) or a function nothing calls."""
    _write(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/management/__init__.py": "",
            "shop/management/commands/__init__.py": "",
            "shop/management/commands/backfill.py": "from shop.helpers import backfill, shared\n"
            "from shop.helpers import Importer\n\n\ndef handle():\n    backfill()\n"
            "    shared()\n    Importer().run()\n",
            "shop/helpers.py": "def backfill():\n    _one()\n\n\ndef _one():\n    pass\n\n\n"
            "def shared():\n    pass\n\n\ndef unused():\n    pass\n\n\nclass Importer:\n"
            "    def run(self):\n        pass\n",
            "shop/views.py": "from shop.helpers import shared\n\n\ndef page(request):\n"
            "    return shared()\n",
        },
    )
    result = run_scan(tmp_path, config=Config(select=("DAT003",)))
    facts = project_facts(tmp_path, dict(result.facts), {})
    assert sorted(command_line_only(facts)) == [
        "shop.helpers._one",
        "shop.helpers.backfill",
        "shop.management.commands.backfill.handle",
    ]
