"""Console-script entry points: the modules a project installs as commands, and which of them
are command-line bootstraps rather than the service itself.

A packaging manifest names the commands a project installs (``[project.scripts]`` and Poetry's
``[tool.poetry.scripts]`` in ``pyproject.toml``, ``console_scripts`` under
``[options.entry_points]`` in ``setup.cfg`` or in ``setup(entry_points=...)``). The module such a
command runs is a *script* (:mod:`prodready.engine.roles`) when it is a command-line bootstrap:
it reads its command line (imports a CLI library or reads ``sys.argv``) and serves nothing
itself -- no route handlers, no web application object at module level. Its code runs once per
command, in the operator's terminal: a check-then-create there has no concurrent caller, a
print() is the command's output. A command whose module *is* the web application (routes, a
``FastAPI()`` at module level) stays service code.
"""

from __future__ import annotations

import ast
import configparser
import tomllib
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from prodready.engine.facts import ROUTE_DECORATOR_METHODS

MANIFESTS = frozenset({"pyproject.toml", "setup.cfg", "setup.py"})
CLI_LIBRARIES = frozenset({"argparse", "click", "typer", "fire", "docopt", "optparse"})
# Classes whose instance created at module level is a web application the module serves.
_APPLICATION_CLASSES = frozenset(
    {"FastAPI", "Flask", "Starlette", "Quart", "Sanic", "Litestar", "Application", "App"}
    | {"get_wsgi_application", "get_asgi_application"}
)


def entry_modules(manifest: str, text: str) -> list[str]:
    """The dotted modules the console scripts a manifest declares run (``manifest``: its name
    or path; ``pkg.cli:main`` -> ``pkg.cli``); [] when it declares none or does not parse."""
    name = PurePosixPath(manifest).name
    if name == "pyproject.toml":
        references = _pyproject_scripts(text)
    elif name == "setup.cfg":
        references = _setup_cfg_scripts(text)
    elif name == "setup.py":
        references = _setup_py_scripts(text)
    else:
        return []
    modules: list[str] = []
    for reference in references:
        module = reference.split(":", 1)[0].strip()
        if module and all(part.isidentifier() for part in module.split(".")):
            modules.append(module)
    return modules


def _pyproject_scripts(text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeError):
        return []
    found: list[str] = []
    project = data.get("project")
    if isinstance(project, dict):
        found += _strings(project.get("scripts"))
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if isinstance(poetry, dict):  # "pkg.cli:main" or {reference = "pkg.cli:main", type = ...}
        scripts = poetry.get("scripts")
        if isinstance(scripts, dict):
            for value in scripts.values():
                if isinstance(value, dict) and value.get("type", "console") == "console":
                    value = value.get("reference")
                if isinstance(value, str):
                    found.append(value)
    return found


def _strings(table: Any) -> list[str]:
    if not isinstance(table, dict):
        return []
    return [value for value in table.values() if isinstance(value, str)]


def _setup_cfg_scripts(text: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        value = parser.get("options.entry_points", "console_scripts", fallback="")
    except configparser.Error:
        return []
    return [line.split("=", 1)[1] for line in value.splitlines() if "=" in line]


def _setup_py_scripts(text: str) -> list[str]:
    """The ``console_scripts`` of a dict literal in ``setup.py`` (``entry_points={...}``)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and key.value == "console_scripts"):
                continue
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else []
            found += [
                item.value.split("=", 1)[1]
                for item in items
                if isinstance(item, ast.Constant) and isinstance(item.value, str)
                if "=" in item.value
            ]
    return found


def module_paths(manifest: str, module: str, known: Iterable[str]) -> list[str]:
    """The project files (among ``known``) a dotted module names, from the manifest's
    directory: ``pkg/cli.py``, ``pkg/cli/__init__.py``, or the same under ``src/``."""
    base = PurePosixPath(manifest).parent
    relative = module.replace(".", "/")
    known = set(known)
    found = []
    for layout in ("", "src/"):
        for suffix in (".py", "/__init__.py"):
            candidate = (base / f"{layout}{relative}{suffix}").as_posix().removeprefix("./")
            if candidate in known:
                found.append(candidate)
    return found


def is_command_line_bootstrap(text: str) -> bool:
    """The module reads its command line -- it imports a CLI library or reads ``sys.argv`` --
    and serves nothing itself: no route handler, no web application created at module
    level."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    reads_command_line = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                if node.module == "sys" and any(a.name == "argv" for a in node.names):
                    reads_command_line = True
            if any(name.split(".")[0] in CLI_LIBRARIES for name in names):
                reads_command_line = True
        elif isinstance(node, ast.Attribute) and node.attr == "argv":
            if isinstance(node.value, ast.Name) and node.value.id == "sys":
                reads_command_line = True
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _route_decorator(decorator) for decorator in node.decorator_list
        ):
            return False
    return reads_command_line and not _creates_application(tree)


def _route_decorator(decorator: ast.expr) -> bool:
    """``@app.get("/x")``, ``@router.post(...)``, ``@bp.route(...)``."""
    target = decorator.func if isinstance(decorator, ast.Call) else None
    return isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATOR_METHODS


def _creates_application(tree: ast.Module) -> bool:
    for statement in tree.body:
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call):
            func = value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _APPLICATION_CLASSES:
                return True
    return False
