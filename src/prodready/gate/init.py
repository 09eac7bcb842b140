"""``prodready init``: look at a project and write a starter ``prodready.toml`` for it.

Detection reuses the engine: file discovery (``.gitignore``, skipped directories, the content
check that tells a Kubernetes manifest from other YAML), the framework table of
:mod:`prodready.engine.facts`, and the manifest reader of ``prodready deps``. Python sources are
parsed for imports and app objects only, and at most :data:`MAX_PYTHON_FILES` of them,
shallowest (and the usual entry-point names) first.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import json
import os
import re
import shlex
import tempfile
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from prodready.engine.facts import (
    bind_import,
    framework_of,
    is_example_path,
    is_main_guard,
    is_test_path,
)
from prodready.gate.model import GateError

MAX_PYTHON_FILES = 400
MAX_FILE_BYTES = 1_000_000
CONFIG_NAME = "prodready.toml"

# Web frameworks, in the order one wins when a project imports several.
WEB_FRAMEWORKS = (
    "fastapi",
    "django",
    "flask",
    "aiohttp",
    "starlette",
    "litestar",
    "sanic",
    "tornado",
    "falcon",
)
FRAMEWORK_TITLES = {
    "fastapi": "FastAPI",
    "django": "Django",
    "flask": "Flask",
    "quart": "Quart",
    "aiohttp": "aiohttp",
    "starlette": "Starlette",
    "litestar": "Litestar",
    "sanic": "Sanic",
    "tornado": "Tornado",
    "falcon": "Falcon",
}

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
ENTRY_NAMES = ("main.py", "app.py", "asgi.py", "wsgi.py", "server.py", "api.py", "application.py")
APP_NAMES = ("app", "application", "api")

INTEGRATION_DIRS = (
    "tests/integration",
    "tests/integration_tests",
    "test/integration",
    "integration_tests",
    "tests_integration",
)
# Directories whose files illustrate or test the project rather than make it up.
INCIDENTAL_DIRS = frozenset(
    {"examples", "example", "samples", "sample", "fixtures", "corpus", "testdata", "test_data"}
    | {"docs", "doc", "documentation"}
)
TEST_DIRS = frozenset({"tests", "test", "testing"})
_DJANGO_SETTINGS = re.compile(r"""["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


@dataclass(frozen=True)
class AppEntry:
    """The object a server loads: ``module:attribute`` (a factory when ``factory``)."""

    framework: str
    interface: str  # asgi | wsgi | aiohttp
    path: str  # the file, relative to the project (POSIX)
    line: int
    module: str  # dotted, importable from ``import_root``
    attribute: str
    factory: bool = False
    factory_required: int = 0  # positional parameters a factory needs
    factory_takes_args: bool = False  # it accepts one (aiohttp's CLI passes argv)
    import_root: str = ""  # the directory to put on sys.path ("" = the project itself)
    main_guard: bool = False  # the file can also be run as a script
    reads_port: bool = False  # ...and names a PORT variable: the script serves on $PORT


@dataclass
class ProjectProfile:
    """What ``prodready init`` found in a project."""

    root: Path
    framework: str = "none"  # fastapi | django | flask | aiohttp | starlette | quart | ... | none
    frameworks: tuple[str, ...] = ()  # every web framework imported, by number of modules
    app: AppEntry | None = None
    serve_cmd: str | None = None  # the probe's cmd, with {port}
    serve_notes: tuple[str, ...] = ()  # caveats about serve_cmd (a dev server, ...)
    serve_source: str | None = None  # the Dockerfile serve_cmd was taken from, if any
    test_runner: str | None = None  # "pytest" or None
    tests_dir: str | None = None
    integration_dir: str | None = None
    pytest_cov: bool = False
    pytest_declared: bool = False
    ruff: bool = False  # declared or configured
    dockerfiles: tuple[str, ...] = ()
    kubernetes: tuple[str, ...] = ()
    compose: tuple[str, ...] = ()
    manifests: tuple[str, ...] = ()  # files that declare or lock dependencies
    dependencies: frozenset[str] = field(default_factory=frozenset)  # canonical names
    packaged: bool = False  # pyproject [project]/[tool.poetry], setup.py or setup.cfg
    python_files: int = 0
    parsed_files: int = 0

    @property
    def http_app(self) -> bool:
        return self.framework != "none"

    @property
    def project_type(self) -> str | None:
        if self.http_app or self.dockerfiles or self.kubernetes or self.compose:
            return "application"
        if self.packaged:
            return "library"
        return None


# -- detection ----------------------------------------------------------------------------------


def detect_project(root: Path) -> ProjectProfile:
    """Look at the project in ``root``: framework and app, tests, containers, manifests."""
    from prodready.engine.discovery import Discovery
    from prodready.model import FileKind, UsageError

    root = root.resolve()
    if not root.is_dir():
        raise GateError(f"{root}: not a directory")
    try:
        sources = Discovery(root).files([root])
    except UsageError as exc:
        raise GateError(str(exc)) from exc
    by_kind: dict[FileKind, list[str]] = {}
    for source in sources:
        by_kind.setdefault(source.kind, []).append(source.relpath)
    python = by_kind.get(FileKind.PYTHON, [])

    def deployed(kind: FileKind) -> tuple[str, ...]:
        return tuple(p for p in by_kind.get(kind, []) if not _incidental(p, tests=True))

    profile = ProjectProfile(
        root=root,
        dockerfiles=deployed(FileKind.DOCKERFILE),
        kubernetes=deployed(FileKind.KUBERNETES),
        compose=deployed(FileKind.COMPOSE),
        python_files=len(python),
    )
    manifest_kinds = (
        FileKind.REQUIREMENTS,
        FileKind.PYPROJECT,
        FileKind.SETUP_CFG,
        FileKind.PIPFILE,
        FileKind.LOCKFILE,
    )
    manifest_paths = [
        path
        for kind in manifest_kinds
        for path in by_kind.get(kind, [])
        if not _incidental(path, tests=False)
    ]
    _read_dependencies(profile, manifest_paths)
    pyproject = _read_toml(root / "pyproject.toml")
    profile.packaged = (
        "project" in pyproject
        or "poetry" in pyproject.get("tool", {})
        or (root / "setup.py").is_file()
        or (root / "setup.cfg").is_file()
    )
    profile.ruff = (
        "ruff" in profile.dependencies
        or "ruff" in pyproject.get("tool", {})
        or (root / "ruff.toml").is_file()
        or (root / ".ruff.toml").is_file()
    )
    _detect_web(profile, python)
    _detect_tests(profile, python, pyproject)
    return profile


def _incidental(relpath: str, *, tests: bool) -> bool:
    """A file that is not part of what the project deploys: examples, fixtures, documentation
    (and, with ``tests``, anything under a test directory)."""
    directories = PurePosixPath(relpath).parts[:-1]
    if any(part.lower() in INCIDENTAL_DIRS for part in directories):
        return True
    if is_example_path(relpath):
        return True
    return tests and any(part in TEST_DIRS for part in directories)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _read_dependencies(profile: ProjectProfile, paths: list[str]) -> None:
    from prodready.deps.manifests import read_manifests

    manifests = read_manifests(profile.root, paths)  # never raises for bad input
    profile.manifests = tuple(manifests.files)
    names = {declaration.name for declaration in manifests.declarations}
    names.update(locked.name for locked in manifests.locked)
    profile.dependencies = frozenset(names)
    profile.pytest_cov = "pytest-cov" in names
    profile.pytest_declared = "pytest" in names or profile.pytest_cov


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
    candidates = [p for p in paths if not is_test_path(p) and not _incidental(p, tests=True)]

    def rank(path: str) -> tuple[int, int, str]:
        parts = PurePosixPath(path).parts
        depth = len(parts) - (1 if parts[0] == "src" else 0)
        name = parts[-1]
        return (depth, ENTRY_NAMES.index(name) if name in ENTRY_NAMES else len(ENTRY_NAMES), path)

    return sorted(candidates, key=rank)[:MAX_PYTHON_FILES]


def _detect_web(profile: ProjectProfile, python: list[str]) -> None:
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
        sorted(counts, key=lambda name: (-counts[name], _preference(name), name))
    )
    app = _best_app(apps)
    if manage is not None and "django" in counts:
        profile.framework = "django"
        _django(profile, manage)
    elif app is not None:
        profile.app = app
        profile.framework = app.framework
        _serve(profile, app)
    else:
        web = [name for name in profile.frameworks if name in WEB_FRAMEWORKS]
        if web:
            profile.framework = min(web, key=_preference)
    if profile.http_app:
        # The image's own server command is what runs in production: the probe runs that.
        found = _dockerfile_command(profile)
        if found is not None:
            profile.serve_cmd, notes, profile.serve_source = found
            profile.serve_notes = tuple(notes)


def _preference(framework: str) -> int:
    return WEB_FRAMEWORKS.index(framework) if framework in WEB_FRAMEWORKS else len(WEB_FRAMEWORKS)


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
            ENTRY_NAMES.index(name) if name in ENTRY_NAMES else len(ENTRY_NAMES),
            len(PurePosixPath(app.path).parts),
            _preference(app.framework),
            app.path,
        )

    return min(apps, key=rank) if apps else None


def _find_manage_py(python: list[str]) -> str | None:
    found = [
        p for p in python if PurePosixPath(p).name == "manage.py" and not _incidental(p, tests=True)
    ]
    return min(found, key=lambda p: (len(PurePosixPath(p).parts), p)) if found else None


# -- how to serve it ----------------------------------------------------------------------------


def _serve(profile: ProjectProfile, app: AppEntry) -> None:
    """The command that starts the app on ``{port}``, with the server the project declares."""
    deps = profile.dependencies
    target = f"{app.module}:{app.attribute}"
    callable_factory = app.factory and app.factory_required == 0
    notes: list[str] = []
    cmd: str | None = None
    if app.reads_port:
        # The module's own __main__ block serves on $PORT: the way its authors run it (with
        # their server settings and signal handling).
        cmd = f"python {app.path}"
    elif app.interface == "asgi" and (callable_factory or not app.factory):
        if "hypercorn" in deps and "uvicorn" not in deps and not app.import_root:
            loaded = f"{target}()" if app.factory else target
            cmd = f"hypercorn '{loaded}' --bind 127.0.0.1:{{port}}"
        else:
            cmd = f"uvicorn {target} --port {{port}}"
            if app.factory:
                cmd += " --factory"
            if app.import_root:
                cmd += f" --app-dir {app.import_root}"
            if "uvicorn" not in deps:
                notes.append("uvicorn is not among the declared dependencies")
    elif app.interface == "wsgi" and (callable_factory or not app.factory):
        loaded = f"'{target}()'" if app.factory else target
        if "gunicorn" in deps:
            cmd = f"gunicorn {loaded} --bind 127.0.0.1:{{port}}"
            if app.import_root:
                cmd += f" --pythonpath {app.import_root}"
        elif "waitress" in deps and not app.import_root:
            call = " --call" if app.factory else ""
            cmd = f"waitress-serve --listen=127.0.0.1:{{port}}{call} {target}"
        elif app.framework == "flask":
            cmd = f"flask --app {target} run --port {{port}}"
            notes.append(
                "`flask run` is Flask's development server: use the production server "
                "(gunicorn, waitress, ...) here once the service has one"
            )
            if app.import_root:
                notes.append(f"the package under {app.import_root}/ must be installed")
    elif app.interface == "aiohttp":
        if app.factory and app.factory_takes_args and app.factory_required <= 1:
            if not app.import_root:
                cmd = f"python -m aiohttp.web -H 127.0.0.1 -P {{port}} {target}"
        elif "gunicorn" in deps and not app.factory:
            cmd = (
                f"gunicorn {target} --bind 127.0.0.1:{{port}} "
                "--worker-class aiohttp.GunicornWebWorker"
            )
            if app.import_root:
                cmd += f" --pythonpath {app.import_root}"
    if cmd is None and app.main_guard:
        cmd = f"python {app.path}"
        notes.append("the service must listen on the port the probe passes in $PORT")
    profile.serve_cmd = cmd
    profile.serve_notes = tuple(notes)


def _django(profile: ProjectProfile, manage: str) -> None:
    deps = profile.dependencies
    base = str(PurePosixPath(manage).parent)
    base = "" if base == "." else base
    settings: str | None = None
    try:
        match = _DJANGO_SETTINGS.search((profile.root / manage).read_text(encoding="utf-8"))
        settings = match[1] if match else None
    except (OSError, UnicodeDecodeError):
        settings = None
    package = settings.rsplit(".", 1)[0] if settings and "." in settings else None

    def exists(module: str) -> bool:
        return (profile.root / base / (module.replace(".", "/") + ".py")).is_file()

    path_option = f" --pythonpath {base}" if base else ""
    notes: list[str] = []
    if package and "gunicorn" in deps and exists(f"{package}.wsgi"):
        cmd = f"gunicorn {package}.wsgi:application --bind 127.0.0.1:{{port}}{path_option}"
    elif package and "uvicorn" in deps and exists(f"{package}.asgi"):
        cmd = f"uvicorn {package}.asgi:application --port {{port}}"
        if base:
            cmd += f" --app-dir {base}"
    else:
        cmd = f"python {manage} runserver 127.0.0.1:{{port}} --noreload"
        notes.append(
            "`runserver` is Django's development server: use the production server "
            "(gunicorn, uvicorn, ...) here once the service has one"
        )
    profile.serve_cmd = cmd
    profile.serve_notes = tuple(notes)
    if package:
        profile.app = AppEntry(
            framework="django",
            interface="wsgi",
            path=manage,
            line=1,
            module=f"{package}.wsgi",
            attribute="application",
            import_root=base,
        )


# -- the Dockerfile's server command -----------------------------------------------------------

_SERVERS = ("gunicorn", "uvicorn", "hypercorn", "daphne", "waitress-serve", "flask")
# Per server: options that say where to listen (dropped), and what to say instead.
_LISTEN_OPTIONS: dict[str, tuple[frozenset[str], list[str]]] = {
    "gunicorn": (frozenset({"--bind", "-b"}), ["--bind", "127.0.0.1:{port}"]),
    "uvicorn": (frozenset({"--host", "--port", "--uds", "--fd"}), ["--port", "{port}"]),
    "hypercorn": (frozenset({"--bind", "-b"}), ["--bind", "127.0.0.1:{port}"]),
    "daphne": (frozenset({"--bind", "-b", "--port", "-p"}), ["-b", "127.0.0.1", "-p", "{port}"]),
    "waitress-serve": (frozenset({"--listen", "--host", "--port"}), ["--listen=127.0.0.1:{port}"]),
    "flask": (frozenset({"--host", "-h", "--port", "-p"}), ["--port", "{port}"]),
}
# Options with a value that only make sense inside the image (or are development settings).
_DROPPED_WITH_VALUE = frozenset(
    {"--chdir", "--reload-dir", "--pid", "--log-file", "--error-logfile"}
)
_DROPPED_FLAGS = frozenset({"--reload", "--daemon", "-D", "--debug", "--debugger"})
_SHELL = re.compile(r"[$&|;<>`]")
_TARGET = re.compile(r"^'?([A-Za-z_][\w.]*):[\w.()']+$")


def _dockerfile_command(profile: ProjectProfile) -> tuple[str, list[str], str] | None:
    """The server command of the project's main Dockerfile, made to listen on ``{port}``."""
    from prodready.engine.documents import DocumentError, parse_dockerfile

    dockerfiles = sorted(profile.dockerfiles, key=lambda p: (len(PurePosixPath(p).parts), p))
    for relpath in dockerfiles[:3]:
        try:
            parsed = parse_dockerfile((profile.root / relpath).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, DocumentError):
            continue
        stage = parsed.final_stage
        if stage is None:
            continue
        entrypoint = stage.find("ENTRYPOINT")
        cmd = stage.find("CMD")
        words: list[str] = []
        if entrypoint:
            if not entrypoint[-1].value.lstrip().startswith("["):
                continue  # shell form: CMD is ignored, and it is a script
            words = entrypoint[-1].arguments()
        if cmd:
            words = words + cmd[-1].arguments()
        rewritten = _rewrite_server(profile.root, words)
        if rewritten is not None:
            return rewritten[0], rewritten[1], relpath
    return None


def _rewrite_server(root: Path, words: list[str]) -> tuple[str, list[str]] | None:
    if not words or any(_SHELL.search(word) for word in words):
        return None
    words = [PurePosixPath(words[0]).name, *words[1:]]  # the image's absolute paths
    while words and words[0] in {"exec", "tini", "dumb-init", "--"}:  # init wrappers
        words = words[1:]
        if words:
            words = [PurePosixPath(words[0]).name, *words[1:]]
    if not words:
        return None
    prefix: list[str]
    if re.fullmatch(r"python[\d.]*", words[0]) and len(words) > 1:
        if words[1] == "-m" and len(words) > 2 and words[2] in _SERVERS:
            prefix, server, rest = words[:3], words[2], words[3:]
        elif PurePosixPath(words[1]).name == "manage.py" and "runserver" in words[2:]:
            return _rewrite_runserver(root, words)
        else:
            return None
    elif words[0] in _SERVERS:
        prefix, server, rest = words[:1], words[0], words[1:]
    else:
        return None
    if server == "flask" and "run" not in rest:
        return None
    listen, replacement = _LISTEN_OPTIONS[server]
    kept: list[str] = []
    notes: list[str] = []
    skip = False
    for index, word in enumerate(rest):
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in listen or name in _DROPPED_WITH_VALUE:
            skip = "=" not in word and index + 1 < len(rest)
            continue
        if word in _DROPPED_FLAGS:
            notes.append(f"the Dockerfile runs {server} with {word}: left out here")
            continue
        kept.append(word)
    target = next((m for w in kept if (m := _TARGET.match(w))), None)
    if server != "flask" and (target is None or not _importable(root, kept, target[1])):
        return None  # the image lays the code out differently: detect from the code instead
    if server == "flask":
        notes.append("`flask run` is Flask's development server")
    command = (
        [*prefix, *replacement, *kept] if server != "flask" else [*prefix, *kept, *replacement]
    )
    return _join(command), notes


def _rewrite_runserver(root: Path, words: list[str]) -> tuple[str, list[str]] | None:
    manage = words[1]
    if not (root / manage).is_file():
        manage = PurePosixPath(manage).name
        if not (root / manage).is_file():
            return None
    position = words.index("runserver")
    rest = [w for w in words[position + 1 :] if w not in {"--noreload", "--reload"}]
    if rest and not rest[0].startswith("-"):
        rest = rest[1:]  # the address
    command = [words[0], manage, "runserver", "127.0.0.1:{port}", "--noreload", *rest]
    notes = ["`runserver` is Django's development server (the Dockerfile runs it too)"]
    return _join(command), notes


def _join(words: list[str]) -> str:
    """Shell words with ``{port}`` left unquoted for the probe to fill in."""
    placeholder = "PRODREADYPORT"
    joined = shlex.join(word.replace("{port}", placeholder) for word in words)
    return joined.replace(placeholder, "{port}")


def _importable(root: Path, words: list[str], module: str) -> bool:
    """The module exists in the project, relative to the root or to an --app-dir/--pythonpath
    the command names."""
    bases = [root]
    for index, word in enumerate(words[:-1]):
        if word in {"--app-dir", "--pythonpath"}:
            bases.append(root / words[index + 1])
    relative = module.replace(".", "/")
    return any(
        (base / f"{relative}.py").is_file() or (base / relative / "__init__.py").is_file()
        for base in bases
    )


# -- tests --------------------------------------------------------------------------------------


def _detect_tests(profile: ProjectProfile, python: list[str], pyproject: dict[str, Any]) -> None:
    root = profile.root
    for name in ("tests", "test"):
        if (root / name).is_dir():
            profile.tests_dir = name
            break
    for candidate in INTEGRATION_DIRS:
        if (root / candidate).is_dir():
            profile.integration_dir = candidate
            break
    configured = (
        "pytest" in pyproject.get("tool", {})
        or (root / "pytest.ini").is_file()
        or (root / "conftest.py").is_file()
        or _ini_has(root / "tox.ini", "pytest")
        or _ini_has(root / "setup.cfg", "tool:pytest")
    )
    test_files = any(is_test_path(p) and not _incidental(p, tests=False) for p in python)
    if profile.tests_dir or configured or test_files or profile.pytest_declared:
        profile.test_runner = "pytest"


def _ini_has(path: Path, section: str) -> bool:
    if not path.is_file():
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return False
    return parser.has_section(section)


# -- rendering ----------------------------------------------------------------------------------


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
        why = "needs `pip install 'prodready[probe]'`"
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


# -- writing ------------------------------------------------------------------------------------


def existing_config(root: Path) -> Path | None:
    """The project's own prodready configuration: prodready.toml, or pyproject.toml with a
    ``[tool.prodready]`` table."""
    own = root / CONFIG_NAME
    if own.exists():
        return own
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = pyproject.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if "tool" in text and "prodready" in text:
            try:
                tool = tomllib.loads(text).get("tool", {})
            except tomllib.TOMLDecodeError:
                # Not TOML: look for the header itself rather than guess.
                tool = {"prodready": {}} if "[tool.prodready" in text else {}
            if isinstance(tool, dict) and "prodready" in tool:
                return pyproject
    return None


def write_config(root: Path, *, force: bool) -> Path:
    """Detect the project in ``root`` and write ``root/prodready.toml`` atomically.

    Never replaces an existing configuration (prodready.toml, or a ``[tool.prodready]`` table
    in pyproject.toml) unless ``force``; raises :class:`GateError` naming the file instead.
    """
    root = root.resolve()
    target = root / CONFIG_NAME
    existing = existing_config(root)
    if existing is not None and not force:
        if existing.name == "pyproject.toml":
            raise GateError(
                f"{existing} already configures prodready ([tool.prodready]); "
                f"use --force to write {target} anyway (it takes precedence over pyproject.toml)"
            )
        raise GateError(f"{existing} already exists; use --force to overwrite it")
    text = render_config(detect_project(root))
    _atomic_write(target, text, replace=force)
    return target


def _atomic_write(target: Path, text: str, *, replace: bool) -> None:
    """Write to a temporary file beside ``target``, then move it into place: readers never
    see half a file. Without ``replace`` the move fails if ``target`` appeared meanwhile."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise GateError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        if replace:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)  # atomic, and fails when the target exists
            except FileExistsError as exc:
                raise GateError(f"{target} already exists; use --force to overwrite it") from exc
            except OSError:
                # No hard links on this file system: exclusive creation, then the content.
                with open(target, "x", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
    except FileExistsError as exc:
        raise GateError(f"{target} already exists; use --force to overwrite it") from exc
    except OSError as exc:
        raise GateError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
