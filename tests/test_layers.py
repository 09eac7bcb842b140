"""The direction of the imports: the engine never reaches the rules, only the composition root
(``prodready.catalog``) loads them, and reports never build a registry."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "prodready"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement of the file names (``from a import b`` names ``a`` and
    ``a.b``: b may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _names(imported: set[str], package: str) -> set[str]:
    return {name for name in imported if name == package or name.startswith(package + ".")}


def _src_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_importing_the_engine_never_imports_the_rules() -> None:
    engine = sorted(_module_name(path) for path in (PACKAGE / "engine").rglob("*.py"))
    assert "prodready.engine.registry" in engine
    program = (
        "import importlib, json, sys\n"
        f"for name in {engine!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[:2] == "
        "['prodready', 'rules'] or m == 'prodready.catalog')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_only_the_composition_root_imports_the_rules() -> None:
    rules = PACKAGE / "rules"
    importers = {
        _module_name(path)
        for path in _src_modules()
        if rules not in path.parents and _names(_imported_modules(path), "prodready.rules")
    }
    assert importers == {"prodready.catalog"}


def test_the_engine_never_imports_the_composition_root() -> None:
    importers = {
        _module_name(path)
        for path in (PACKAGE / "engine").rglob("*.py")
        if _names(_imported_modules(path), "prodready.catalog")
    }
    assert importers == set()


def test_the_builtin_pack_is_declared_through_its_own_entry_point() -> None:
    from prodready.catalog import BUILTIN_PACK_REF, _builtin_pack, _declared_references

    assert BUILTIN_PACK_REF in _declared_references()
    # Without the entry-point metadata (a source tree not installed) the same pack still loads.
    assert _builtin_pack(()) is _builtin_pack((BUILTIN_PACK_REF,))


def test_reports_never_build_a_registry() -> None:
    report = PACKAGE / "report"
    importers = {
        _module_name(path): sorted(
            _names(imported, "prodready.engine.registry") | _names(imported, "prodready.catalog")
        )
        for path in report.rglob("*.py")
        if (imported := _imported_modules(path))
    }
    assert {name: found for name, found in importers.items() if found} == {}


def test_the_dependency_library_declares_no_rules() -> None:
    """``prodready.deps`` is analysis only; its rules live in ``prodready.rules.dependencies``."""
    declaring = {
        _module_name(path)
        for path in (PACKAGE / "deps").rglob("*.py")
        if _names(_imported_modules(path), "prodready.engine.registry")
    }
    assert declaring == set()


def test_a_spawned_worker_rebuilds_its_rules_through_the_composition_roots_loader() -> None:
    """The engine cannot build a registry itself: a worker started fresh (the ``spawn`` start
    method) gets the picklable loader the composition root attached to the registry."""
    import pickle

    from prodready.catalog import default_registry

    loader = default_registry(plugins=False).loader
    assert loader is not None
    program = (
        "import os, pickle, sys\n"
        "from prodready.engine import runner\n"
        "from prodready.model import Profile\n"
        "loader = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
        "runner._init_worker(('DEP010', 'RES001'), Profile(), loader, os.getppid())\n"
        "worker = runner._WORKER\n"
        "print([rule.code for rule in worker.rules], len(worker.catalog))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, pickle.dumps(loader).hex()],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    builtin = len(default_registry(plugins=False).rules)
    assert done.stdout == f"['DEP010', 'RES001'] {builtin}\n"


# Built-in rules get everything they use from the engine through ``prodready.plugin`` (its
# declaration API, ``prodready.plugin.analysis`` and ``prodready.plugin.taint``), as a third-party
# pack does, so the public API is the one the project's own rules prove. ``prodready.model`` is
# re-exported there too; the dependency library (``prodready.deps``) is a library above the
# engine that the DEP rules call into.
_PLUGIN_SOURCES = ("prodready.model", "prodready.engine")


def test_built_in_rules_import_the_engine_only_through_the_public_plugin_api() -> None:
    bypassing = {
        _module_name(path): sorted(
            name for source in _PLUGIN_SOURCES for name in _names(imported, source)
        )
        for path in (PACKAGE / "rules").rglob("*.py")
        if (imported := _imported_modules(path))
    }
    assert {module: names for module, names in bypassing.items() if names} == {}


def _top_level_imports(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports when it is itself imported (function-local imports and
    ``if TYPE_CHECKING:`` blocks run later or never, so they cannot close a cycle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found & known


def test_no_import_cycle_between_modules() -> None:
    paths = {_module_name(path): path for path in _src_modules()}
    known = set(paths)
    graph = {name: _top_level_imports(path, known) - {name} for name, path in paths.items()}
    cycles: list[list[str]] = []
    visiting: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str) -> None:
        state[name] = 1
        visiting.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*visiting[visiting.index(target) :], target])
            elif target not in state:
                visit(target)
        visiting.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []
