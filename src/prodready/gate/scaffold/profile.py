"""What ``prodready init`` found in a project, and the tables its detection steps share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from prodready.engine.roles import is_documentation_path

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


# Directories whose files illustrate or test the project rather than make it up.
INCIDENTAL_DIRS = frozenset(
    {"examples", "example", "samples", "sample", "fixtures", "corpus", "testdata", "test_data"}
    | {"docs", "doc", "documentation"}
)
TEST_DIRS = frozenset({"tests", "test", "testing"})


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


def incidental(relpath: str, *, tests: bool) -> bool:
    """A file that is not part of what the project deploys: examples, fixtures, documentation
    (and, with ``tests``, anything under a test directory)."""
    directories = PurePosixPath(relpath).parts[:-1]
    if any(part.lower() in INCIDENTAL_DIRS for part in directories):
        return True
    if is_documentation_path(relpath):
        return True
    return tests and any(part in TEST_DIRS for part in directories)


def framework_preference(framework: str) -> int:
    return WEB_FRAMEWORKS.index(framework) if framework in WEB_FRAMEWORKS else len(WEB_FRAMEWORKS)
