"""DEP011 unused-dependency. The analysis it reports from lives in the library,
:mod:`prodready.deps.declared`.
"""

from __future__ import annotations

import ast

from prodready.deps.declared import (
    Declared,
    ProjectView,
    project_view,
    runtime_declarations,
    strings_and_guards,
    usage_of,
)
from prodready.deps.imports import display_name
from prodready.deps.provenance import modules_unknown, unexplained_in
from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)

# Used without an import: servers, drivers loaded from URLs or settings, backends of other
# libraries, plugins, CLI tools, build backends.
_USED_WITHOUT_IMPORT = frozenset(
    # servers and workers, started from the command line
    {"gunicorn", "uvicorn", "hypercorn", "daphne", "waitress", "uwsgi", "granian", "gevent"}
    | {"eventlet", "meinheld", "bjoern", "uvloop", "httptools", "watchfiles", "websockets"}
    | {"gevent-websocket", "flower", "supervisor", "honcho", "setproctitle", "channels"}
    # database and cache drivers, loaded from a URL or a settings string
    | {"psycopg2", "psycopg2-binary", "psycopg", "psycopg-binary", "psycopg-c", "psycopg-pool"}
    | {"asyncpg", "aiosqlite", "pymysql", "mysqlclient", "aiomysql", "asyncmy", "cx-oracle"}
    | {"oracledb", "pyodbc", "pymssql", "mysql-connector-python", "pg8000", "psycopg2cffi"}
    | {"mariadb", "hiredis", "pylibmc", "pymemcache", "python-memcached", "librabbitmq"}
    # backends that frameworks load when installed
    | {"python-multipart", "email-validator", "python-dotenv", "brotli", "brotlicffi"}
    | {"zstandard", "certifi", "tzdata", "cryptography", "bcrypt", "argon2-cffi", "pillow"}
    | {"greenlet", "whitenoise", "tomli", "exceptiongroup", "backports-zoneinfo", "colorama"}
    | {"typing-extensions", "importlib-metadata", "importlib-resources", "six", "pywin32"}
    | {"dataclasses", "futures", "enum34"}
    # agents, CLIs, build backends, development tools
    | {"alembic", "newrelic", "ddtrace", "opentelemetry-distro", "pip", "setuptools", "wheel"}
    | {"pip-tools", "uv", "cython", "hatchling", "flit-core", "poetry-core", "pdm-backend"}
    | {"maturin", "setuptools-scm", "scikit-build", "meson-python", "mypy", "ruff", "black"}
    | {"flake8", "isort", "pylint", "pre-commit", "tox", "nox", "coverage", "ipython", "ipdb"}
    | {"jupyter", "notebook", "watchdog"}
)


# Used without an import when another declared distribution needs it: engines of pandas,
# backends of django-storages, brokers of Celery, extras of web frameworks.
_ENABLED_BY: dict[str, frozenset[str]] = {
    name: frozenset(parents)
    for name, parents in {
        "redis": {"celery", "django", "django-redis", "rq", "channels-redis", "flask-caching"}
        | {"flask-limiter", "fastapi-limiter", "dramatiq", "huey", "arq", "kombu"},
        "boto3": {"django-storages", "s3fs", "smart-open", "celery", "kombu", "dvc"},
        "google-cloud-storage": {"django-storages", "gcsfs", "smart-open"},
        "azure-storage-blob": {"django-storages", "adlfs", "smart-open"},
        "pyjwt": {"djangorestframework-simplejwt", "flask-jwt-extended", "fastapi-users"},
        "pyyaml": {"uvicorn", "celery", "fastapi"},
        "jinja2": {"fastapi", "starlette", "flask", "quart", "litestar", "aiohttp-jinja2"},
        "itsdangerous": {"fastapi", "starlette", "flask"},
        "orjson": {"fastapi", "starlette", "litestar", "structlog"},
        "ujson": {"fastapi", "starlette"},
        "openpyxl": {"pandas", "polars", "dask"},
        "xlrd": {"pandas"},
        "xlsxwriter": {"pandas", "polars"},
        "pyarrow": {"pandas", "polars", "dask"},
        "fastparquet": {"pandas", "dask"},
        "tables": {"pandas"},
        "odfpy": {"pandas"},
        "tabulate": {"pandas"},
        "lxml": {"pandas", "beautifulsoup4", "zeep"},
        "html5lib": {"pandas", "beautifulsoup4"},
        "fsspec": {"pandas", "dask", "polars", "xarray"},
        "s3fs": {"pandas", "dask", "polars", "xarray"},
        "gcsfs": {"pandas", "dask", "polars"},
        "adlfs": {"pandas", "dask", "polars"},
        "sqlalchemy": {"pandas", "alembic"},
        "kombu": {"celery"},
        "celery": {"django-celery-beat", "django-celery-results", "flower"},
    }.items()
}


_USED_WITHOUT_IMPORT_PREFIXES = (
    "types-",
    "django-",
    "dj-",
    "djangorestframework",
    "drf-",
    "pytest",
    "flake8-",
    "mypy-",
    "sphinx",
    "mkdocs",
    "opentelemetry-instrumentation",
    "opentelemetry-exporter",
    "uvicorn-",
    "gunicorn-",
    "celery-",
    "sqlalchemy-",
    "pre-commit",
    "pylint-",
)


def _used_without_import(name: str) -> bool:
    return name in _USED_WITHOUT_IMPORT or name.startswith(_USED_WITHOUT_IMPORT_PREFIXES)


def _scope_has_code(project: ProjectFacts, view: ProjectView, scope: str) -> bool:
    return any(
        view.scope_of(path) == scope and not facts.is_test and not facts.is_example
        for path, facts in project.modules.items()
    )


@project_rule(
    nodes=(ModuleEnd, ast.Import, ast.ImportFrom, ast.If, ast.Try),
    collect=strings_and_guards,
    code="DEP011",
    name="unused-dependency",
    category=Category.DEPENDENCIES,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A runtime dependency that no scanned code imports or names",
    fix="Remove the dependency, or move it to the group that uses it.",
)
def unused_dependency(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags distributions declared as runtime dependencies that no scanned file imports or
    names (Django `INSTALLED_APPS`/`MIDDLEWARE` and backend paths, `import_module("x")` and
    SQLAlchemy URL drivers count as uses). Packages that are used without an import are not
    reported: servers (gunicorn, uvicorn), database drivers, backends of other libraries
    (python-multipart, email-validator, openpyxl for pandas), plugins (`django-*`,
    `pytest-*`), type stubs, build backends and CLI tools, as are distributions that come with
    another declared one (`botocore` with `boto3`) and resolver output (pip-compile files).
    A distribution that is not installed here and whose modules no table names is not
    reported when the code imports a module nothing explains: it may be that module's
    distribution (DEP010 asks), and calling it unused would contradict that.

    ## Why it breaks production
    Every installed package is attack surface and build time: it gets security advisories
    you must triage, it constrains the versions of everything else, and it ships in the image.
    An unused dependency is often the leftover of a library that was replaced -- the old one
    keeps receiving updates nobody tests.

    ## Example
    ```text
    # requirements.txt
    requests==2.32.3
    httpx==0.27.0     # the code only imports httpx
    ```

    ## Use instead
    ```text
    httpx==0.27.0
    ```
    """
    view = project_view(project, ctx)
    if not view.declaring:
        return
    usage = usage_of(project, view, "DEP011")
    used = set(usage.runtime) | set(usage.tests) | usage.other
    has_code: dict[str, bool] = {}
    siblings_in: dict[str, Declared] = {}
    for (scope, name), declaration in runtime_declarations(view, project.root):
        if name in used or _used_without_import(name) or declaration.url is not None:
            continue  # a URL/VCS requirement's import name is anyone's guess
        if scope not in siblings_in:
            siblings_in[scope] = Declared(d.name for d in view.by_scope.get(scope, []) if d.runtime)
        siblings = siblings_in[scope]
        if siblings.comes_with(name) is not None or siblings.names & _ENABLED_BY.get(name, set()):
            continue
        if scope not in has_code:
            has_code[scope] = _scope_has_code(project, view, scope)
        if not has_code[scope]:
            continue
        if modules_unknown(view, name) and scope in unexplained_in(view, project, "DEP011"):
            # Not installed here and named by no table: it may provide the module that the
            # code imports and nothing explains -- DEP010 says so; calling it unused too
            # would contradict that finding.
            continue
        ctx.report(
            declaration.path,
            declaration.line,
            f"`{display_name(name)}` is a runtime dependency but no scanned code imports it "
            "or names it: it still ships in every image, gets security advisories to triage "
            "and constrains the other versions; remove it (or move it to the group that uses "
            "it)",
        )
