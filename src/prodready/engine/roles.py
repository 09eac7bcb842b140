"""What each scanned file is for -- its :class:`~prodready.model.Role` -- the one place the engine,
the rules and the reports ask.

A file's role comes, in this order, from the configuration (``[tool.prodready.roles]``: glob ->
role), from what other files say of it (a Dockerfile's ``HEALTHCHECK`` runs a probe script), from
its path (test directories and names, migrations, management commands, scripts, examples,
hidden and vendored directories, Dockerfiles named for a test runner), and for Python from its
content (a module importing ``pytest``, ``unittest`` or ``django.test`` is a test; a Django
migration says so in its header). Everything else is ``service``.

Paths are judged relative to the scanned project (``pipeline.role_prefix``): a project scanned
from its parent directory keeps the roles it has when scanned from inside.

A rule applies to the roles it declares (:attr:`prodready.model.Rule.applies_to`, by default its
category's); :func:`apply_roles` drops the findings of rules outside their roles and records on
every finding it keeps the role it was judged in.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from prodready.engine import console_scripts
from prodready.engine.discovery import classify, matches_glob
from prodready.model import FileKind, Finding, ProjectFact, Role, Rule, Severity

# -- by path ----------------------------------------------------------------------------------

TEST_DIRECTORIES = frozenset(
    {"tests", "test", "testing", "testutils", "test_utils", "e2e", "__tests__"}
)
FIXTURE_DIRECTORIES = frozenset({"fixtures", "testdata", "test_data"})
DOC_DIRECTORIES = frozenset({"doc", "docs", "docs_src", "documentation"})
TUTORIAL_WORDS = ("tutorial", "snippet", "cookbook")
# Code kept beside a project to show or try it, not deployed: examples, demos, sandboxes.
EXAMPLE_DIRECTORIES = frozenset(
    {"examples", "example", "samples", "sample", "demo", "demos", "sandbox", "playground"}
    | {"templates"}  # Python under templates/ is a project template (startproject, cookiecutter)
)
MIGRATION_DIRECTORIES = frozenset({"migrations", "alembic"})
SCRIPT_DIRECTORIES = frozenset(
    {"scripts", "script", "bin", "tools", "benchmarks", "benchmark", "bench"}
)
SCRIPT_FILES = frozenset({"manage.py", "setup.py", "noxfile.py", "fabfile.py"})
# Top-level directories of developer tooling kept beside the package (code generators, local
# helpers): only at the top, where no service package is named so.
TOP_SCRIPT_DIRECTORIES = frozenset({"dev"})
VENDORED_DIRECTORIES = frozenset({"vendor", "vendored", "_vendor", "third_party"})
# Hidden directories of CI systems and editors: what they hold builds, tests or develops the
# project. Any other hidden directory holds another tool's data (a linter's rule samples...).
DEV_INFRA_DIRECTORIES = frozenset(
    {".github", ".gitlab", ".circleci", ".buildkite", ".devcontainer", ".azure-pipelines"}
)
# Top-level directories of CI helper scripts and pipeline definitions.
CI_DIRECTORIES = frozenset({"ci", "ci_scripts", "ci-scripts"})
# Words in a Dockerfile's or compose file's name (``Dockerfile.playwright``, ``test.Dockerfile``,
# ``docker-compose.ci.yml``) that say the image or stack exists for tests, CI or development.
DEV_INFRA_WORDS = frozenset(
    {"test", "tests", "testing", "e2e", "playwright", "cypress", "selenium", "ci", "dev"}
    | {"devcontainer", "local", "debug"}
)
_TEST_SETTINGS_WORDS = frozenset({"test", "tests", "testing"})
_BUILD_SETTINGS_WORDS = frozenset({"build", "ci"})
_WORD = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=16384)  # asked per file by the pipeline and again by project rules
def path_role(path: str, kind: FileKind | None = FileKind.PYTHON) -> Role | None:
    """The role a path alone gives (``path`` relative to the project, POSIX); None: the path
    says nothing, the file is service code unless its content says otherwise."""
    parts = path.lower().split("/")
    directories, name = parts[:-1], parts[-1]
    for directory in directories:
        if directory.startswith(".") and directory not in {".", ".."}:
            # Not an importable package name: nothing in it is part of the service.
            return Role.DEV_INFRA if directory in DEV_INFRA_DIRECTORIES else Role.FIXTURE
    if any(directory in VENDORED_DIRECTORIES for directory in directories):
        return Role.VENDORED
    if directories and directories[0] in CI_DIRECTORIES:  # a project's own CI helpers
        return Role.DEV_INFRA
    if _test_path(directories, name):
        return Role.TEST
    if any(directory in FIXTURE_DIRECTORIES for directory in directories):
        return Role.FIXTURE
    if any(directory in MIGRATION_DIRECTORIES for directory in directories):
        return Role.MIGRATION
    if "management" in directories and "commands" in directories:
        return Role.MANAGEMENT_COMMAND
    if is_documentation_path(path) or any(d in EXAMPLE_DIRECTORIES for d in directories):
        return Role.EXAMPLE
    if kind in (FileKind.DOCKERFILE, FileKind.COMPOSE) and _dev_infra_name(name):
        # An image or stack named for development is dev infrastructure wherever it is kept
        # (beside the helper scripts of a top-level dev/ or scripts/ directory too).
        return Role.DEV_INFRA
    if name in SCRIPT_FILES or any(d in SCRIPT_DIRECTORIES for d in directories):
        return Role.SCRIPT
    if directories and directories[0] in TOP_SCRIPT_DIRECTORIES:
        return Role.SCRIPT
    if name.endswith(".py") and _settings_role(directories, name) is Role.DEV_INFRA:
        return Role.DEV_INFRA
    return None


# Roles of code that is not part of the deployed service: its imports need no runtime
# dependency. Migrations and management commands run against production, so they are.
NOT_SERVICE_CODE = frozenset(
    {Role.TEST, Role.FIXTURE, Role.EXAMPLE, Role.SCRIPT, Role.DEV_INFRA, Role.VENDORED}
)


def is_service_code(path: str) -> bool:
    """Whether a Python file (``path`` relative to the scanned project) runs in the deployed
    service by its path: the answer the dependency rules share with the engine's roles."""
    return path_role(path) not in NOT_SERVICE_CODE


def is_test_name(name: str) -> bool:
    """A test module or test helper by its file name alone (``test_x.py``, ``x_test.py``,
    ``tests.py``, ``test.py``, ``conftest.py``, test settings ``x_testing.py``)."""
    if not name.endswith(".py"):
        return False
    stem = name[:-3]
    return (
        stem.startswith("test_")
        or stem.endswith(("_test", "_tests", "_testing"))
        or stem in {"test", "tests", "conftest", "testsettings"}
    )


def _is_test_directory(directory: str) -> bool:
    return directory in TEST_DIRECTORIES or directory.endswith("_tests")


def is_test_path(path: str) -> bool:
    """A test module by its path: in a test directory, named as one, or test settings."""
    parts = path.lower().split("/")
    return _test_path(parts[:-1], parts[-1])


def _test_path(directories: list[str], name: str) -> bool:
    if is_test_name(name) or any(_is_test_directory(d) for d in directories):
        return True
    return name.endswith(".py") and _settings_role(directories, name) is Role.TEST


def is_documentation_path(path: str) -> bool:
    """Code under a documentation or tutorial directory (``docs/``, ``docs_src/``,
    ``tutorials/``, ``snippets/``) illustrates an API; it is not a deployed service."""
    for part in path.lower().split("/")[:-1]:
        if part in DOC_DIRECTORIES or any(word in part for word in TUTORIAL_WORDS):
            return True
    return False


def _settings_role(directories: list[str], name: str) -> Role | None:
    """A settings module for tests (``test_settings.py``, ``settings/test.py``,
    ``settings_testing.py``) or for a build (``_build_settings.py``, ``settings/ci.py``):
    it configures no running service."""
    words = set(_WORD.findall(name[:-3]))
    if "settings" not in words and not (directories and directories[-1] == "settings"):
        return None
    if words & _TEST_SETTINGS_WORDS:
        return Role.TEST
    if words & _BUILD_SETTINGS_WORDS:
        return Role.DEV_INFRA
    return None


def _dev_infra_name(name: str) -> bool:
    words = set(_WORD.findall(name))
    words -= {"dockerfile", "containerfile", "docker", "compose", "yml", "yaml"}
    return bool(words & DEV_INFRA_WORDS)


# -- by content (Python) ----------------------------------------------------------------------

# A module that imports one of these and defines tests (test functions, test case classes,
# pytest fixtures) is part of a test suite. The import alone is not enough: a view may build a
# request with django.test.RequestFactory, and stays service code.
TEST_MODULES = ("pytest", "unittest", "django.test", "rest_framework.test")
_MIGRATION_HEADER = re.compile(r"^#\s*Generated by Django [0-9.]+ on ", re.MULTILINE)


def content_role(
    imports: Iterable[str], head: str = "", tree: ast.Module | None = None
) -> Role | None:
    """The role a Python module's imports, definitions (``tree``) and first lines give: None
    says nothing."""
    if _MIGRATION_HEADER.search(head):
        return Role.MIGRATION
    if tree is not None and _alembic_revision(imports, tree):
        return Role.MIGRATION
    imports_tests = any(
        module == test or module.startswith(test + ".")
        for module in imports
        for test in TEST_MODULES
    )
    if imports_tests and tree is not None and defines_tests(tree):
        return Role.TEST
    return None


def _alembic_revision(imports: Iterable[str], tree: ast.Module) -> bool:
    """An Alembic revision module (``versions/<rev>_<slug>.py``, wherever the versions
    directory lives): it imports Alembic and defines, at module level, the ``revision`` and
    ``down_revision`` identifiers Alembic chains revisions by and the ``upgrade()`` it runs once
    (``alembic upgrade``), from a terminal or a deploy step."""
    if not any(module == "alembic" or module.startswith("alembic.") for module in imports):
        return False
    assigned: set[str] = set()
    upgrade = False
    for node in tree.body:
        if isinstance(node, ast.Assign):
            assigned.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            assigned.add(node.target.id)
        elif isinstance(node, ast.FunctionDef) and node.name == "upgrade":
            upgrade = True
    return upgrade and {"revision", "down_revision"} <= assigned


def defines_tests(tree: ast.Module) -> bool:
    """Top-level test functions (``test_*``), test case classes (``class TestX``, ``class
    X(TestCase)``) or pytest fixtures: what a test runner collects or a test suite shares."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("test_") or any(_fixture(d) for d in node.decorator_list):
                return True
        elif isinstance(node, ast.ClassDef):
            bases = [_last_name(base) for base in node.bases]
            if node.name.startswith("Test") or any(b.endswith("TestCase") for b in bases):
                return True
    return False


def _fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return _last_name(target) == "fixture"


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def detect(
    path: str,
    kind: FileKind,
    imports: Iterable[str] = (),
    head: str = "",
    tree: ast.Module | None = None,
) -> Role:
    """A file's role from its path and, for Python, its imports, definitions and first lines."""
    found = path_role(path, kind)
    if found is None and kind is FileKind.PYTHON:
        found = content_role(imports, head, tree)
    return found or Role.SERVICE


# -- what other files say ---------------------------------------------------------------------

_HEALTHCHECK = re.compile(r"^\s*HEALTHCHECK\b(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE)
_COPY = re.compile(r"^\s*(?:COPY|ADD)\s+(?P<rest>.+)$", re.IGNORECASE | re.MULTILINE)
_SCRIPT_SUFFIXES = (".py",)


def healthcheck_scripts(dockerfile: str, text: str, known: Iterable[str]) -> set[str]:
    """The project files a Dockerfile's ``HEALTHCHECK`` runs (``dockerfile``: its path in the
    project; ``known``: the project's files): container probes, run by the container runtime
    with its own timeout, not code of the service. A probe named in the command is found by
    the ``COPY`` that put it in the image (``COPY docker/probe.py /app/``), else beside the
    Dockerfile or at the root of the build context."""
    known = set(known)
    joined = _joined_lines(text)
    wanted = {
        PurePosixPath(token).name
        for match in _HEALTHCHECK.finditer(joined)
        for token in _tokens(_command(match["rest"]))
        if token.endswith(_SCRIPT_SUFFIXES)
    }
    if not wanted:
        return set()
    base = PurePosixPath(dockerfile).parent
    found: set[str] = set()
    for match in _COPY.finditer(joined):
        sources = [t for t in _tokens(match["rest"]) if not t.startswith("--")][:-1]
        for source in sources:
            if PurePosixPath(source).name in wanted:
                found |= {_normal(source), _normal(f"{base}/{source}")} & known
    if not found:  # no COPY names it
        for name in wanted:
            found |= {_normal(f"{base}/{name}"), name} & known
    return found


def _command(rest: str) -> str:
    """The command of ``HEALTHCHECK [--option=value ...] CMD command`` (empty for NONE)."""
    match = re.search(r"\bCMD\b(.*)$", rest, re.IGNORECASE | re.DOTALL)
    return match.group(1) if match else ""


def _normal(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/").removeprefix("./")


def _joined_lines(text: str) -> str:
    return re.sub(r"\\\r?\n", " ", text)


def _tokens(command: str) -> list[str]:
    command = command.strip()
    if command.startswith("["):  # exec form: ["python", "probe.py"]
        return re.findall(r'"([^"]*)"', command)
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


# -- the roles of one scan --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleMap:
    """The roles of a scan's files: configured globs first, then what other files say, then
    detection (the role the file's analysis recorded on its findings, else its path).

    ``prefix``: where the project starts among report paths (``pipeline.role_prefix``)."""

    configured: tuple[tuple[str, Role], ...] = ()
    referenced: Mapping[str, Role] | None = None
    prefix: str = ""

    def role_of(self, path: str, detected: str | None = None) -> Role:
        """``path``: a report path; ``detected``: the role the file's analysis recorded."""
        for pattern, role in reversed(self.configured):  # the last matching glob wins
            if matches_glob(path, pattern):
                return role
        judged = path[len(self.prefix) :] if path.startswith(self.prefix) else path
        if self.referenced and judged in self.referenced:
            return self.referenced[judged]
        if detected is not None:
            return Role(detected)
        return path_role(judged, classify(judged.rsplit("/", 1)[-1])) or Role.SERVICE


def referenced_roles(
    documents: Sequence[tuple[str, str, str]], root: Path | None = None
) -> dict[str, Role]:
    """Roles other files give (``documents``: (project path, report path, text) of every
    scanned file; the text of Dockerfiles, compose files and packaging manifests only): the
    probe a Dockerfile's ``HEALTHCHECK`` runs is a script; a Dockerfile that only test or CI
    services of a compose file build (``playwright``, ``e2e``, ``test-runner``), or only
    compose files named for development (``docker-compose.dev.yml``), build is dev-infra;
    the module a console script runs is a script when it is a command-line bootstrap
    (:mod:`prodready.engine.console_scripts`; read under ``root``, where report paths are)."""
    known = {project_path for project_path, _, _ in documents}
    roles: dict[str, Role] = {}
    builders: dict[str, set[bool]] = {}  # Dockerfile -> whether each service building it is dev
    for project_path, _, text in documents:
        if not text:
            continue
        name = PurePosixPath(project_path).name
        if name in console_scripts.MANIFESTS:
            if root is not None:
                roles.update(_console_script_roles(project_path, text, documents, root))
        elif classify(name) is FileKind.DOCKERFILE:
            for script in healthcheck_scripts(project_path, text, known):
                roles[script] = Role.SCRIPT
        elif classify(name) is FileKind.COMPOSE:
            # A compose file named for development (docker-compose.dev.yml) makes every
            # service it builds a development one, whatever the service is called.
            dev_stack = _dev_infra_name(name.lower())
            for service, dockerfile in _compose_builds(project_path, text):
                if dockerfile in known:
                    dev_service = dev_stack or _dev_infra_name(service.lower())
                    builders.setdefault(dockerfile, set()).add(dev_service)
    for dockerfile, dev in builders.items():
        if dev == {True}:
            roles[dockerfile] = Role.DEV_INFRA
    roles.update(alembic_revisions(known))
    return roles


def alembic_revisions(paths: Iterable[str]) -> dict[str, Role]:
    """The modules of Alembic ``versions/`` directories: a ``versions/`` beside an ``env.py``
    is an Alembic script directory (``alembic init`` lays them out so, wherever it is put:
    ``db/revisions/core/versions/``), and each module in it is a revision ``alembic upgrade``
    runs once -- the project-wide findings in them are judged as a migration's, as the file's
    own findings are by its content (:func:`content_role`)."""
    known = set(paths)
    roles: dict[str, Role] = {}
    for path in known:
        parent = PurePosixPath(path).parent
        versions = path.endswith(".py") and parent.name == "versions"
        if versions and str(parent.parent / "env.py") in known:
            roles[path] = Role.MIGRATION
    return roles


def _console_script_roles(
    manifest: str, text: str, documents: Sequence[tuple[str, str, str]], root: Path
) -> dict[str, Role]:
    """The modules a manifest's console scripts run that are command-line bootstraps."""
    modules = console_scripts.entry_modules(manifest, text)
    if not modules:
        return {}
    report_paths = {project_path: report for project_path, report, _ in documents}
    roles: dict[str, Role] = {}
    for module in modules:
        for path in console_scripts.module_paths(manifest, module, report_paths):
            try:
                source = (root / report_paths[path]).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if console_scripts.is_command_line_bootstrap(source):
                roles[path] = Role.SCRIPT
    return roles


def _compose_builds(compose: str, text: str) -> list[tuple[str, str]]:
    """(service name, project path of the Dockerfile it builds) of a compose file."""
    from prodready.engine.documents import DocumentError, parse_yaml

    try:  # the engine's loader: aliases expand within its limits
        documents = parse_yaml(text).documents
    except DocumentError:
        return []
    data = documents[0].data if documents else None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return []
    base = PurePosixPath(compose).parent
    builds: list[tuple[str, str]] = []
    for service, spec in services.items():
        build = spec.get("build") if isinstance(spec, dict) else None
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        elif isinstance(build, dict):
            context = str(build.get("context", "."))
            dockerfile = str(build.get("dockerfile", "Dockerfile"))
        else:
            continue
        if "://" in context or context.startswith("git@"):
            continue  # a remote build context: no file of the project
        builds.append((str(service), _normal(f"{base}/{context}/{dockerfile}")))
    return builds


# Findings in dev-infra files (CI images, test-runner images, build settings) are real -- a CI
# image that runs a tampered installer leaks the CI's secrets -- but they land in CI and builds,
# not in production, which prodready's severities rank: every one is reported at low, and its
# message says why (the JSON carries the role and the lowered severity).
DEV_INFRA_SEVERITY = Severity.LOW
DEV_INFRA_NOTE = (
    " [reported at low, not {severity}: a dev-infra file -- it builds, tests or runs CI for the "
    "project and never runs in production]"
)


def apply_roles(
    findings: Iterable[Finding], rules: Mapping[str, Rule], roles: RoleMap
) -> tuple[list[Finding], int]:
    """The findings whose rule applies to their file's role, each with ``role`` set, and how
    many were dropped. A finding some role makes moot (``unless`` names :func:`runs_as` of
    its file's role) is dropped too; one in a dev-infra file is lowered to low."""
    kept: list[Finding] = []
    dropped = 0
    judged: dict[tuple[str, str | None], Role] = {}
    for finding in findings:
        key = (finding.path, finding.role)
        role = judged.get(key)
        if role is None:
            role = judged[key] = roles.role_of(finding.path, detected=finding.role)
        rule = rules.get(finding.rule)
        if rule is not None and role not in rule.applies_to:
            dropped += 1
            continue
        if finding.unless and runs_as(role).name in finding.unless:
            dropped += 1
            continue
        if finding.role != role.value:
            finding = replace(finding, role=role.value)
        if role is Role.DEV_INFRA and finding.severity > DEV_INFRA_SEVERITY:
            note = DEV_INFRA_NOTE.format(severity=finding.severity.value)
            finding = replace(finding, severity=DEV_INFRA_SEVERITY, message=finding.message + note)
        kept.append(finding)
    return kept, dropped


_ROLE_FACT_PREFIX = "role:"


def runs_as(role: Role) -> ProjectFact:
    """The fact that a file has ``role``: a rule names it on a finding that holds only outside
    it (``ctx.report(..., unless=runs_as(Role.SCRIPT))``: print() in a command-line program
    writes to the operator's terminal, not to logs) -- for files whose role the rule cannot see
    while it walks them (a console-script module, a configured role), the engine drops the
    finding once the role is known. No module establishes it."""
    return ProjectFact(_ROLE_FACT_PREFIX + role.value, f"the file is {role.value} code")
