"""Project-level rules: evidence gathered during the single walk, cached, weighed after the scan."""

from __future__ import annotations

import ast
import shutil
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from prodready.engine.module_record import Mark
from prodready.engine.project import ProjectContext, ProjectFacts
from prodready.engine.python import ModuleEnd, PythonContext
from prodready.engine.registry import Registry, RulePack, project_rule
from prodready.engine.runner import ScanOptions, scan
from prodready.model import Category, Config, Severity


@project_rule(
    code="TST100",
    name="no-health-route-anywhere",
    category=Category.OBSERVABILITY,
    severity=Severity.MEDIUM,
    summary="test rule",
    calls=("fastapi.FastAPI", "flask.Flask"),
)
def no_health_route_anywhere(project: ProjectFacts, ctx: ProjectContext) -> None:
    """## What it does\n## Why it breaks production\n## Example\n## Use instead"""
    apps = project.evidence("TST100")
    paths = [route.path or "" for _, route in project.routes()]
    if apps and not any("health" in path for path in paths):
        ctx.report(apps[0].path, apps[0].line, f"{apps[0].name}() app has no health route")


REGISTRY = Registry([RulePack("test", [no_health_route_anywhere])])

MAIN = textwrap.dedent(
    """\
    from fastapi import FastAPI
    from app.routes import router

    app = FastAPI()
    app.include_router(router)
    """
)
ROUTES = textwrap.dedent(
    """\
    from fastapi import APIRouter

    router = APIRouter()


    @router.get("/orders")
    def orders():
        return []
    """
)


def _scan(root: Path, **options: object):
    return scan(
        ScanOptions(targets=[root], root=root, jobs=1, plugins=False, **options),  # type: ignore[arg-type]
        Config(),
        REGISTRY,
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_project_rule_sees_routes_and_evidence_across_files(tmp_path: Path) -> None:
    _write(tmp_path, {"app/main.py": MAIN, "app/routes.py": ROUTES, "tests/test_app.py": MAIN})
    result = _scan(tmp_path, use_cache=False)
    assert [(f.rule, f.path, f.line, f.snippet) for f in result.findings] == [
        ("TST100", "app/main.py", 4, "app = FastAPI()")
    ]
    assert result.findings[0].message == "fastapi.FastAPI() app has no health route"
    assert result.facts["app/main.py"].evidence == {"TST100": (Mark("fastapi.FastAPI", 4),)}


def test_project_rule_is_satisfied_by_another_file(tmp_path: Path) -> None:
    health = ROUTES.replace('"/orders"', '"/healthz"')
    _write(tmp_path, {"app/main.py": MAIN, "app/routes.py": ROUTES, "app/health.py": health})
    assert _scan(tmp_path, use_cache=False).findings == []


def test_project_findings_survive_the_cache_and_suppressions(tmp_path: Path) -> None:
    _write(tmp_path, {"app/main.py": MAIN, "app/routes.py": ROUTES})
    cache = tmp_path / ".cache"
    cold = _scan(tmp_path, use_cache=True, cache_dir=cache)
    warm = _scan(tmp_path, use_cache=True, cache_dir=cache)
    assert warm.stats.files_analyzed == 0 and warm.stats.cache_hits == 2
    assert [f.to_dict() for f in warm.findings] == [f.to_dict() for f in cold.findings]
    suppressed = MAIN.replace(
        "app = FastAPI()", "app = FastAPI()  # prodready: ignore[TST100] gateway probes"
    )
    _write(tmp_path, {"app/main.py": suppressed})
    assert _scan(tmp_path, use_cache=True, cache_dir=cache).findings == []


def test_project_rules_are_skipped_for_diff_scans(tmp_path: Path) -> None:
    import subprocess

    _write(tmp_path, {"app/main.py": MAIN, "app/routes.py": ROUTES})
    for args in (["init", "-q", "-b", "main"], ["add", "."]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, timeout=60)
    subprocess.run(
        ["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "x"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    (tmp_path / "app" / "main.py").write_text(MAIN + "\n# touched\n")
    assert _scan(tmp_path, use_cache=False, diff="main").findings == []


def _while_true_lines(node: ast.AST, ctx: PythonContext) -> list[tuple[str, int]] | None:
    if isinstance(node, ast.While):
        return [("while", node.lineno)] if isinstance(node.test, ast.Constant) else None
    assert isinstance(node, ast.Module)  # ModuleEnd: the facts of the module are complete
    return [(f"routes={len(ctx.facts.routes)}", 1)]


@project_rule(
    nodes=(ast.While, ModuleEnd),
    collect=_while_true_lines,
    code="TST101",
    name="collects-nodes",
    category=Category.RESILIENCE,
    severity=Severity.LOW,
    summary="test rule",
    calls=("fastapi.FastAPI",),
)
def collects_nodes(project: ProjectFacts, ctx: ProjectContext) -> None:
    """## What it does\n## Why it breaks production\n## Example\n## Use instead"""
    for item in project.evidence("TST101"):
        if item.name == "while":
            ctx.report(item.path, item.line, "loop")


COLLECTING = Registry([RulePack("test", [collects_nodes])])
LOOP = textwrap.dedent(
    """\
    from fastapi import FastAPI

    app = FastAPI()


    def consume():
        while True:
            pass
    """
)


def test_project_rule_collects_evidence_from_nodes(tmp_path: Path) -> None:
    _write(tmp_path, {"app/main.py": LOOP, "app/routes.py": ROUTES})
    cache = tmp_path / ".cache"
    options = ScanOptions(targets=[tmp_path], root=tmp_path, jobs=1, plugins=False)
    cold = scan(replace(options, cache_dir=cache), Config(), COLLECTING)
    assert cold.facts["app/main.py"].evidence == {
        "TST101": (Mark("fastapi.FastAPI", 3), Mark("while", 7), Mark("routes=0", 1))
    }
    assert cold.facts["app/routes.py"].evidence == {"TST101": (Mark("routes=1", 1),)}
    assert [(f.path, f.line, f.message) for f in cold.findings] == [("app/main.py", 7, "loop")]
    warm = scan(replace(options, cache_dir=cache), Config(), COLLECTING)
    assert warm.stats.cache_hits == 2
    assert [f.to_dict() for f in warm.findings] == [f.to_dict() for f in cold.findings]


def test_collected_nodes_exclude_calls() -> None:
    with pytest.raises(ValueError, match="calls="):
        project_rule(
            code="TST102",
            name="collects-calls",
            category=Category.RESILIENCE,
            severity=Severity.LOW,
            summary="test",
            nodes=(ast.Call,),
            collect=_while_true_lines,
        )


# -- the same findings from any directory (issue 10) ---------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments-service"


def _findings_from(
    cwd: Path, target: str, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, int]]:
    """(rule, path relative to the scanned directory, line) of a scan run from ``cwd``."""
    monkeypatch.chdir(cwd)
    options = ScanOptions(targets=[Path(target)], jobs=1, use_cache=False, plugins=False)
    result = scan(options, Config(), registry)
    assert result.errors == []
    prefix = "" if target == "." else target.rstrip("/") + "/"
    assert all(f.path.startswith(prefix) for f in result.findings)
    return sorted((f.rule, f.path[len(prefix) :], f.line) for f in result.findings)


def test_same_findings_from_any_directory(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roles (tests, examples, scripts) are judged from the scanned project, not from the
    directory the scan runs in: the example scanned from the repository root used to lose the
    service-level observability findings, because its path started with ``examples/``."""
    inside = _findings_from(EXAMPLE, ".", registry, monkeypatch)
    from_root = _findings_from(
        EXAMPLE.parent.parent, "examples/payments-service", registry, monkeypatch
    )
    copy = tmp_path / "tests" / "examples" / "svc"
    shutil.copytree(EXAMPLE, copy)
    from_above = _findings_from(tmp_path, "tests/examples/svc", registry, monkeypatch)
    from_tests = _findings_from(tmp_path / "tests", "examples/svc", registry, monkeypatch)
    assert from_root == inside
    assert from_above == inside
    assert from_tests == inside
    at_the_app = [rule for rule, path, line in inside if (path, line) == ("app/main.py", 11)]
    assert at_the_app == ["CFG009", "OBS002", "OBS005", "OBS006", "OBS007"]


def test_a_marker_less_subdirectory_keeps_its_place_in_the_project(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scanning ``tests/`` of a project from the project root: the files are still tests."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'svc'\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text(
        "import requests\n\ndef fetch(url):\n    return requests.get(url)\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    options = ScanOptions(targets=[Path("tests")], jobs=1, use_cache=False, plugins=False)
    result = scan(options, Config(select=("RES001",)), registry)
    assert [(f.rule, f.path) for f in result.findings] == []
    assert result.facts["tests/helpers.py"].is_test is True


def test_published_paths_are_named_like_findings(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dependency inventory of a project scanned from its parent names files as findings
    do: from the directory the scan runs in."""
    monkeypatch.chdir(EXAMPLE.parent.parent)
    target = Path("examples/payments-service")
    options = ScanOptions(targets=[target], jobs=1, use_cache=False, plugins=False)
    result = scan(options, Config(select=("DEP",)), registry)
    fastapi = next(d for d in result.artifacts["dependencies"] if d["name"] == "fastapi")
    assert [d["path"] for d in fastapi["declared"]] == [
        "examples/payments-service/requirements.txt"
    ]
    assert [i["path"] for i in fastapi["imported_at"]] == ["examples/payments-service/app/main.py"]
