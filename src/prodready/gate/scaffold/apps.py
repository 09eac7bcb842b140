"""The web framework a project is built on and the app object a server loads.

Python sources are parsed for imports and app objects only, and at most
:data:`MAX_PYTHON_FILES` of them, shallowest (and the usual entry-point names) first; the
framework of an import comes from the framework table of :mod:`prodready.engine.facts`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from prodready.engine.facts import bind_import, framework_of, is_main_guard
from prodready.engine.project import ENTRY_FILE_NAMES
from prodready.engine.roles import is_test_path
from prodready.gate.scaffold.profile import (
    WEB_FRAMEWORKS,
    AppEntry,
    ProjectProfile,
    framework_preference,
    incidental,
)
from prodready.gate.scaffold.serve import dockerfile_command, serve_app, serve_django

MAX_PYTHON_FILES = 400
MAX_FILE_BYTES = 1_000_000

# Constructors of app objects: qualified name -> (framework, interface).
APP_CONSTRUCTORS: dict[str, tuple[str, str]] = {
    "fastapi.FastAPI": ("fastapi", "asgi"),
    "fastapi.applications.FastAPI": ("fastapi", "asgi"),
    "starlette.applications.Starlette": ("starlette", "asgi"),
    "litestar.Litestar": ("litestar", "asgi"),
    "quart.Quart": ("quart", "asgi"),
    "falcon.asgi.App": ("falcon", "asgi"),
    "flask.Flask": ("flask", "wsgi"),
    "falcon.App": ("falcon", "wsgi"),
    "falcon.API": ("falcon", "wsgi"),
    "aiohttp.web.Application": ("aiohttp", "aiohttp"),
    "aiohttp.web_app.Application": ("aiohttp", "aiohttp"),
}
FACTORY_NAMES = frozenset(
    {"create_app", "make_app", "app_factory", "get_app", "build_app", "init_app"}
)
# File names an app object is usually defined in; they are read first.
APP_NAMES = ("app", "application", "api")


@dataclass
class _Module:
    relpath: str
    module: str
    import_root: str
    main_guard: bool
    reads_port: bool
    frameworks: set[str]
    apps: list[AppEntry]
    # Module-level ``name = factory(...)`` of a function named like an app factory:
    # (name, the factory's qualified name, line).
    factory_calls: list[tuple[str, str, int]] = field(default_factory=list)


def _reading_order(paths: list[str]) -> list[str]:
    """Service code only, the usual entry points and shallow files first, at most N."""
    candidates = [p for p in paths if not is_test_path(p) and not incidental(p, tests=True)]

    def rank(path: str) -> tuple[int, int, str]:
        parts = PurePosixPath(path).parts
        depth = len(parts) - (1 if parts[0] == "src" else 0)
        name = parts[-1]
        return (
            depth,
            ENTRY_FILE_NAMES.index(name) if name in ENTRY_FILE_NAMES else len(ENTRY_FILE_NAMES),
            path,
        )

    return sorted(candidates, key=rank)[:MAX_PYTHON_FILES]


def detect_web(profile: ProjectProfile, python: list[str]) -> None:
    counts: dict[str, int] = {}
    apps: list[AppEntry] = []
    modules: list[_Module] = []
    for relpath in _reading_order(python):
        module = _read_module(profile.root, relpath)
        if module is None:
            continue
        profile.parsed_files += 1
        modules.append(module)
        for framework in module.frameworks:
            counts[framework] = counts.get(framework, 0) + 1
        apps.extend(module.apps)
    # ``app = create_app()`` in a wsgi.py/main.py: the object a server loads directly.
    factories = {f"{app.module}.{app.attribute}": app for app in apps if app.factory}
    for module in modules:
        for name, called, line in module.factory_calls:
            factory = factories.get(called)
            if factory is not None:
                apps.append(
                    AppEntry(
                        framework=factory.framework,
                        interface=factory.interface,
                        path=module.relpath,
                        line=line,
                        module=module.module,
                        attribute=name,
                        import_root=module.import_root,
                        main_guard=module.main_guard,
                        reads_port=module.reads_port,
                    )
                )
    manage = _find_manage_py(python)
    if manage is not None and ("django" in counts or "django" in profile.dependencies):
        counts.setdefault("django", 1)
    profile.frameworks = tuple(
        sorted(counts, key=lambda name: (-counts[name], framework_preference(name), name))
    )
    app = _best_app(apps)
    if manage is not None and "django" in counts:
        profile.framework = "django"
        serve_django(profile, manage)
    elif app is not None:
        profile.app = app
        profile.framework = app.framework
        serve_app(profile, app)
    else:
        web = [name for name in profile.frameworks if name in WEB_FRAMEWORKS]
        if web:
            profile.framework = min(web, key=framework_preference)
    if profile.http_app:
        # The image's own server command is what runs in production: the probe runs that.
        found = dockerfile_command(profile)
        if found is not None:
            profile.serve_cmd, notes, profile.serve_source = found
            profile.serve_notes = tuple(notes)


def _read_module(root: Path, relpath: str) -> _Module | None:
    path = root / relpath
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        tree = ast.parse(path.read_bytes(), filename=relpath)
    except (OSError, SyntaxError, ValueError):
        return None
    import_root, module_name = _import_path(root, relpath)
    is_package = relpath.endswith("__init__.py")
    bindings: dict[str, str | None] = {}
    frameworks: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for imported in bind_import(node, bindings, module_name, is_package):
                found = framework_of(imported)
                if found is not None and found in WEB_FRAMEWORKS:
                    frameworks.add(found)
    main_guard = any(_is_main_guard(node) for node in tree.body)
    reads_port = main_guard and any(
        isinstance(node, ast.Constant) and node.value == "PORT" for node in ast.walk(tree)
    )
    apps: list[AppEntry] = []
    for node in tree.body:
        entry: tuple[str, str, bool, int, bool, int] | None = None
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if (
                len(targets) == 1
                and isinstance(targets[0], ast.Name)
                and isinstance(node.value, ast.Call)
            ):
                constructor = _qualified(node.value.func, bindings)
                if constructor in APP_CONSTRUCTORS:
                    entry = (targets[0].id, constructor, False, 0, False, node.lineno)
        elif (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in FACTORY_NAMES
        ):
            constructor = _constructs(node, bindings)
            if constructor is not None:
                positional = node.args.posonlyargs + node.args.args
                required = len(positional) - len(node.args.defaults)
                takes_args = bool(positional) or node.args.vararg is not None
                entry = (node.name, constructor, True, required, takes_args, node.lineno)
        if entry is None:
            continue
        name, constructor, factory, required_args, takes_args, line = entry
        framework, interface = APP_CONSTRUCTORS[constructor]
        apps.append(
            AppEntry(
                framework=framework,
                interface=interface,
                path=relpath,
                line=line,
                module=module_name,
                attribute=name,
                factory=factory,
                factory_required=required_args,
                factory_takes_args=takes_args,
                import_root=import_root,
                main_guard=main_guard,
                reads_port=reads_port,
            )
        )
    factory_calls: list[tuple[str, str, int]] = []
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
        ):
            func = node.value.func
            called = _qualified(func, bindings)
            if called is None and isinstance(func, ast.Name):
                called = f"{module_name}.{func.id}"  # a factory defined in this module
            if called is not None and called.rsplit(".", 1)[-1] in FACTORY_NAMES:
                factory_calls.append((node.targets[0].id, called, node.lineno))
    return _Module(
        relpath, module_name, import_root, main_guard, reads_port, frameworks, apps, factory_calls
    )


def _import_path(root: Path, relpath: str) -> tuple[str, str]:
    """The directory a module is imported from (the first one above its packages) and its
    dotted name from there: ``src/app/main.py`` in a package ``app`` -> ("src", "app.main")."""
    parts = list(PurePosixPath(relpath).parts)
    directory = len(parts) - 1  # the parts before the file name are directories
    while directory > 0 and (root.joinpath(*parts[:directory]) / "__init__.py").is_file():
        directory -= 1
    import_root = "/".join(parts[:directory])
    dotted = parts[directory:]
    dotted[-1] = dotted[-1].removesuffix(".py")
    if dotted[-1] == "__init__" and len(dotted) > 1:
        dotted = dotted[:-1]
    return import_root, ".".join(dotted)


def _qualified(node: ast.expr, bindings: dict[str, str | None]) -> str | None:
    if isinstance(node, ast.Name):
        return bindings.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, bindings)
        return f"{base}.{node.attr}" if base else None
    return None


def _constructs(
    function: ast.FunctionDef | ast.AsyncFunctionDef, bindings: dict[str, Any]
) -> str | None:
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            constructor = _qualified(node.func, bindings)
            if constructor in APP_CONSTRUCTORS:
                return constructor
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and is_main_guard(node)


def _best_app(apps: list[AppEntry]) -> AppEntry | None:
    """The app a server should load: a module-level object before a factory, the usual names
    and file names first, the web framework the project is built on before a sub-app's."""

    def rank(app: AppEntry) -> tuple[int, int, int, int, int, str]:
        name = PurePosixPath(app.path).name
        return (
            1 if app.factory else 0,
            0 if app.attribute in APP_NAMES or app.factory else 1,
            ENTRY_FILE_NAMES.index(name) if name in ENTRY_FILE_NAMES else len(ENTRY_FILE_NAMES),
            len(PurePosixPath(app.path).parts),
            framework_preference(app.framework),
            app.path,
        )

    return min(apps, key=rank) if apps else None


def _find_manage_py(python: list[str]) -> str | None:
    found = [
        p for p in python if PurePosixPath(p).name == "manage.py" and not incidental(p, tests=True)
    ]
    return min(found, key=lambda p: (len(PurePosixPath(p).parts), p)) if found else None
