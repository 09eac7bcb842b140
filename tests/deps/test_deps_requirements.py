"""Where an import's distribution comes from beyond the project's own declarations: source roots
(manage.py), the installed environment's Requires-Dist (transitively, with extras), the table of
extras, and what DEP010 says when a declared distribution is not installed here."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import ScanFn

from prodready.deps.environment import InstalledEnvironment, installed_environment
from prodready.deps.imports import map_imports, source_roots
from prodready.deps.model import DependencyManifests
from prodready.engine.module_record import Import, ModuleRecord
from prodready.model import Confidence, Config, Severity


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def test_requires_dist_closure_follows_extras_markers_and_requirements_of_requirements() -> None:
    environment = InstalledEnvironment(
        {},
        {
            "webapp-kit": (
                "corelib>=1",
                "fastjson; extra == 'speed'",
                "winonly; sys_platform == 'nonexistent-os'",
                "not a requirement ((",
            ),
            "corelib": ("tinyparse[strict]>=2",),
            "tinyparse": ("strictmode; extra == 'strict'", "docsonly; extra == 'docs'"),
            "fastjson": (),
        },
    )
    assert environment.brings("webapp-kit") == frozenset({"corelib", "tinyparse", "strictmode"})
    assert environment.brings("Webapp_Kit", ["speed"]) == frozenset(
        {"corelib", "tinyparse", "strictmode", "fastjson"}
    )
    assert environment.brings("not-installed-here") is None
    assert environment.installed("WEBAPP.KIT") is True


def test_the_running_interpreter_reads_requires_dist() -> None:
    # jsonschema is a development dependency of prodready: its metadata requires referencing.
    brought = installed_environment().brings("jsonschema")
    assert brought is not None and {"referencing", "rpds-py"} <= brought


def test_a_directory_holding_manage_py_is_a_source_root() -> None:
    def module(path: str, *imports: str) -> ModuleRecord:
        dotted = path[:-3].replace("/", ".").removesuffix(".__init__")
        return ModuleRecord(dotted, imports=tuple(Import(name, 1) for name in imports))

    modules = {
        "site/__init__.py": module("site/__init__.py"),
        "site/manage.py": module("site/manage.py"),
        "site/orders/__init__.py": module("site/orders/__init__.py"),
        "site/orders/views.py": module("site/orders/views.py", "orders.models", "billing"),
        "site/orders/models.py": module("site/orders/models.py"),
        "site/billing.py": module("site/billing.py"),
        "worker/tasks.py": module("worker/tasks.py", "orders", "shipping"),
    }
    assert source_roots(modules) == {"site"}
    uses = {(u.path, u.module): u.origin for u in map_imports(modules, DependencyManifests())}
    assert uses[("site/orders/views.py", "orders")] == "first-party"
    assert uses[("site/orders/views.py", "billing")] == "first-party"
    assert uses[("worker/tasks.py", "orders")] == "first-party"
    assert uses[("worker/tasks.py", "shipping")] == "unknown"


def test_an_import_that_an_uninstalled_declaration_may_bring_is_low_and_said_once(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    root = _project(
        tmp_path,
        {
            "requirements.txt": "acme-platform-skinny==3.18.0\nboto3==1.34.131\n",
            "app/__init__.py": "",
            "app/a.py": "import yaml\nimport boto3\n",
            "app/b.py": "import yaml\n",
        },
    )
    result = run_scan(root, config=Config(select=("DEP010",)))
    assert [(f.path, f.line, f.severity, f.confidence) for f in result.findings] == [
        ("app/a.py", 1, Severity.LOW, Confidence.LOW)
    ]
    assert result.findings[0].message == (
        "`yaml` is imported here but `PyYAML` is not declared in requirements.txt; it may come "
        "with the requirements of `acme-platform-skinny==3.18.0`, which are not installed "
        "here, so they could not be read: install the project's dependencies and scan again "
        "to check, or declare `PyYAML` directly if this code imports it (if nothing brings "
        "it, production fails with ModuleNotFoundError)"
    )


def test_an_undeclared_import_is_still_high_when_every_declaration_is_known(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    # boto3's requirements are in the companion table; jsonschema's are installed here.
    root = _project(
        tmp_path,
        {
            "requirements.txt": "jsonschema==4.26.0\nboto3==1.34.131\n",
            "app/__init__.py": "",
            "app/a.py": "import yaml\nimport referencing\nimport botocore\nimport boto3\n",
        },
    )
    result = run_scan(root, config=Config(select=("DEP010",)))
    assert [(f.path, f.line, f.severity) for f in result.findings] == [
        ("app/a.py", 1, Severity.HIGH)
    ]
