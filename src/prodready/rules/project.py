"""Project-level rules: judged once per scan from the facts of every file (a service without a
health endpoint, structured logging, request ids, metrics, SIGTERM handling or auth on its admin
routes). They run after the scan and point at the most useful place: the app object, the main
module.

Every rule here first asks whether the project *is* a deployable service: an application object
(FastAPI, Starlette, Flask, Quart, aiohttp, Sanic, Litestar, Falcon, Tornado, Connexion, a Django
``get_wsgi_application()``/``get_asgi_application()``) created in service code -- not in tests,
documentation, examples, scripts, benchmarks or a framework's own package. Libraries,
frameworks and command-line tools get no project finding. A Dockerfile, Kubernetes or Compose
manifest in the project confirms the service is deployed; without one the observability rules
report with low confidence.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prodready.engine.analysis import (
    constant_str,
    dotted,
    keyword_value,
    message_loop,
    receive_call,
    walk_body,
)
from prodready.engine.facts import ROUTE_DECORATOR_METHODS, resolve_relative
from prodready.engine.project import Collector, Evidence, ProjectContext, ProjectFacts
from prodready.engine.python import ModuleEnd, PythonContext
from prodready.engine.registry import project_rule
from prodready.model import Category, Confidence, FileKind, Severity

Found = list[tuple[str, int]]

# -- what a service is --------------------------------------------------------------------------

# Callees that create a web application object, and how to call it in messages.
_APP_FACTORIES: dict[str, str] = {
    "fastapi.FastAPI": "FastAPI",
    "fastapi.applications.FastAPI": "FastAPI",
    "starlette.applications.Starlette": "Starlette",
    "flask.Flask": "Flask",
    "flask.app.Flask": "Flask",
    "quart.Quart": "Quart",
    "aiohttp.web.Application": "aiohttp",
    "aiohttp.web_app.Application": "aiohttp",
    "sanic.Sanic": "Sanic",
    "litestar.Litestar": "Litestar",
    "falcon.App": "Falcon",
    "falcon.asgi.App": "Falcon",
    "falcon.API": "Falcon",
    "tornado.web.Application": "Tornado",
    "connexion.App": "Connexion",
    "connexion.FlaskApp": "Connexion",
    "connexion.AsyncApp": "Connexion",
    "django.core.wsgi.get_wsgi_application": "Django",
    "django.core.asgi.get_asgi_application": "Django",
}
_APP_CALLS = tuple(_APP_FACTORIES)
# Directories whose code is not the deployed service (tests and docs are facts of their own).
_NOT_RUNTIME_DIRS = frozenset(
    {"examples", "example", "samples", "sample", "demo", "demos", "benchmarks", "benchmark"}
    | {"bench", "playground", "sandbox", "migrations", "alembic", "templates", "fixtures"}
)
_NOT_SERVICE_DIRS = _NOT_RUNTIME_DIRS | {"scripts", "script", "tools", "bin"}
# A framework's own package: library code services import, not a service.
_FRAMEWORK_PACKAGES = frozenset(
    {"django", "rest_framework", "flask", "quart", "fastapi", "starlette", "aiohttp", "sanic"}
    | {"litestar", "tornado", "falcon", "werkzeug", "connexion", "uvicorn", "gunicorn"}
)
# Serverless adapters: the platform routes requests, probes and request ids.
_SERVERLESS_MODULES = (
    "mangum",
    "aws_lambda_powertools",
    "serverless_wsgi",
    "apig_wsgi",
    "awsgi",
    "aws_wsgi",
    "zappa",
    "chalice",
    "functions_framework",
)
_ENTRY_FILES = ("main.py", "app.py", "wsgi.py", "asgi.py", "server.py", "application.py")


def _in_dirs(path: str, excluded: frozenset[str]) -> bool:
    parts = path.lower().split("/")[:-1]
    return any(part in excluded or part in _FRAMEWORK_PACKAGES for part in parts)


@dataclass(frozen=True, slots=True)
class _App:
    path: str
    line: int
    kind: str

    @property
    def sort_key(self) -> tuple[bool, int, str, int]:
        name = self.path.rsplit("/", 1)[-1]
        return (name not in _ENTRY_FILES, self.path.count("/"), self.path, self.line)


def _apps(project: ProjectFacts, code: str) -> list[_App]:
    """The web applications created in service code, main modules first. A Django project
    without a ``wsgi.py``/``asgi.py`` is recognised by its settings (``ROOT_URLCONF``) and
    located at its root URLconf."""
    evidence = [
        item for item in project.evidence(code) if not _in_dirs(item.path, _NOT_SERVICE_DIRS)
    ]
    apps = {
        _App(item.path, item.line, _APP_FACTORIES[item.name])
        for item in evidence
        if item.name in _APP_FACTORIES
    }
    settings = _marks(evidence, "django-settings")
    if settings and not any(app.kind == "Django" for app in apps):
        where = _django_root_urls(project, evidence) or settings[0]
        apps.add(_App(where.path, where.line, "Django"))
    return sorted(apps, key=lambda app: app.sort_key)


def _django_root_urls(project: ProjectFacts, evidence: list[Evidence]) -> Evidence | None:
    """The ``urlpatterns`` of the module that ``ROOT_URLCONF`` names."""
    patterns = {item.path: item for item in _marks(evidence, "urlpatterns")}
    for setting in _marks(evidence, "django-settings"):
        urlconf = str(_data(setting).get("urlconf") or "")
        for path in sorted(patterns):
            module = project.modules.get(path, {}).get("module") or ""
            if urlconf and (module == urlconf or module.endswith("." + urlconf)):
                return patterns[path]
    return None


def _django_marks(module: ast.Module, ctx: PythonContext) -> Found:
    """A Django settings module (``ROOT_URLCONF = "shop.urls"``) and a URLconf's patterns."""
    source = ctx.source
    if "ROOT_URLCONF" not in source and "urlpatterns" not in source:
        return []
    found: Found = []
    for statement in module.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        if target.id == "ROOT_URLCONF" and constant_str(value):
            found.append(_mark("django-settings", statement.lineno, urlconf=constant_str(value)))
        elif target.id == "urlpatterns" and not any(m[0] == "@urlpatterns" for m in found):
            found.append(_mark("urlpatterns", statement.lineno))
    return found


def _with_django(collect: Collector) -> Collector:
    """A collector that also records the Django settings and URLconfs (see ``_apps``)."""

    def collect_with_django(node: Any, ctx: Any) -> Found | None:
        found = list(collect(node, ctx) or [])
        if isinstance(node, ast.Module):
            found.extend(_django_marks(node, ctx))
        return found

    return collect_with_django


def _evidence(project: ProjectFacts, code: str) -> list[Evidence]:
    """What rule ``code`` collected in the code that runs in production (not in tests, docs,
    examples or benchmarks)."""
    return [item for item in project.evidence(code) if not _in_dirs(item.path, _NOT_RUNTIME_DIRS)]


def _deployed(project: ProjectFacts) -> bool:
    """A Dockerfile, Kubernetes or Compose manifest: the project is shipped as a service."""
    kinds = (FileKind.DOCKERFILE, FileKind.KUBERNETES, FileKind.COMPOSE)
    return any(project.files_of_kind(kind) for kind in kinds)


def _serverless(project: ProjectFacts, ctx: ProjectContext, paths: Iterable[str]) -> bool:
    if getattr(ctx.profile, "runtime", None) == "serverless":
        return True
    return any(_imports(project, path, _SERVERLESS_MODULES) for path in paths)


def _server_apps(project: ProjectFacts, ctx: ProjectContext, code: str) -> list[_App]:
    """The applications that run behind a server of their own (not a serverless adapter)."""
    apps = _apps(project, code)
    if not apps:
        return []
    modules = _Modules(project)
    return [
        app
        for app, component in _app_components(apps, modules, project)
        if not _serverless(project, ctx, component)
    ]


def _imports(project: ProjectFacts, path: str, prefixes: tuple[str, ...]) -> bool:
    for item in project.modules.get(path, {}).get("imports", []):
        module = item["module"]
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return True
    return False


def _by_path(items: Iterable[Evidence]) -> dict[str, list[Evidence]]:
    grouped: dict[str, list[Evidence]] = {}
    for item in items:
        grouped.setdefault(item.path, []).append(item)
    return grouped


def _marks(items: Iterable[Evidence], *kinds: str) -> list[Evidence]:
    """Collected evidence of the given kinds (``@kind`` or ``@kind {json}``)."""
    wanted = {f"@{kind}" for kind in kinds}
    return [item for item in items if item.name.split(" ", 1)[0] in wanted]


def _data(item: Evidence) -> dict[str, Any]:
    _, _, payload = item.name.partition(" ")
    value = json.loads(payload) if payload else {}
    return value if isinstance(value, dict) else {}


def _mark(kind: str, line: int, /, **data: object) -> tuple[str, int]:
    name = f"@{kind} {json.dumps(data, sort_keys=True)}" if data else f"@{kind}"
    return name, line


class _Modules:
    """The import graph of the service modules (tests and docs excluded).

    Imports are matched generously -- ``from app import x`` reaches every module under a package
    ``app``, ``app.routers`` also matches ``backend/app/routers/...`` (a different sys.path) --
    so that code wired together is never taken for two separate services.
    """

    def __init__(self, project: ProjectFacts) -> None:
        self.paths: list[str] = []
        self.name_of: dict[str, str] = {}
        index: dict[str, set[str]] = {}
        for path, facts in project.service_modules():
            name = facts.get("module") or ""
            self.paths.append(path)
            self.name_of[path] = name
            parts = name.split(".") if name else []
            for start in range(len(parts)):
                for end in range(start + 1, len(parts) + 1):
                    index.setdefault(".".join(parts[start:end]), set()).add(path)
        self.index = index
        self.edges: dict[str, set[str]] = {}
        self.reverse_edges: dict[str, set[str]] = {path: set() for path in self.paths}
        for path, facts in project.service_modules():
            targets: set[str] = set()
            for item in facts.get("imports", []):
                targets |= self.resolve(item["module"], path)
            targets.discard(path)
            self.edges[path] = targets
            for target in targets:
                self.reverse_edges[target].add(path)

    def resolve(self, imported: str, importer: str) -> set[str]:
        """The project modules an import (absolute or relative) may refer to."""
        if imported.startswith("."):
            level = len(imported) - len(imported.lstrip("."))
            rest = imported[level:] or None
            current = self.name_of.get(importer, "")
            imported = resolve_relative(rest, level, current, importer.endswith("__init__.py"))
        return self.index.get(imported, set()) if imported else set()

    def exactly(self, dotted_name: str) -> set[str]:
        """The module named so (or so named under another sys.path root)."""
        return {
            path
            for path in self.index.get(dotted_name, set())
            if self.name_of[path] == dotted_name or self.name_of[path].endswith("." + dotted_name)
        }

    def modules_named(self, dotted_name: str) -> set[str]:
        """Modules a qualified name such as ``app.routers.admin.router`` lives in."""
        parts = dotted_name.split(".")
        while parts:
            found = self.index.get(".".join(parts))
            if found:
                return found
            parts = parts[:-1]
        return set()

    def _closure(self, starts: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
        seen = set(starts)
        stack = list(seen)
        while stack:
            for target in edges.get(stack.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    def importers(self, path: str) -> set[str]:
        """The module and every module that imports it, directly or not."""
        return self._closure([path], self.reverse_edges)

    def component(self, path: str) -> set[str]:
        """Everything wired to the module: what imports it, and all that those import."""
        return self._closure(self.importers(path), self.edges)


def _app_components(
    apps: list[_App], modules: _Modules, project: ProjectFacts
) -> list[tuple[_App, set[str]]]:
    """Each independent application with the modules wired to it. An app whose module belongs
    to another app's component (a mounted sub-application) is judged with that app. A Django
    project is wired by settings strings, not imports: its component is every module that
    uses Django plus the package of its WSGI/ASGI module (settings, urls). More than
    ``_MAX_APPS`` independent applications make a collection of examples, not a service."""
    django = {
        path for path, facts in project.service_modules() if "django" in facts.get("frameworks", [])
    }
    components: list[tuple[_App, set[str]]] = []
    for app in apps:
        if app.kind == "Django":
            package = app.path.rpartition("/")[0]
            siblings = {path for path in modules.paths if path.rpartition("/")[0] == package}
            components.append((app, django | siblings | {app.path}))
        else:
            components.append((app, modules.component(app.path)))
    kept: list[tuple[_App, set[str]]] = []
    for index, (app, component) in enumerate(components):
        covered = any(
            other != index
            and app.path in other_component
            and (other_app.path not in component or other < index)
            for other, (other_app, other_component) in enumerate(components)
        )
        if not covered:
            kept.append((app, component))
    return kept if len(kept) <= _MAX_APPS else []


_MAX_APPS = 10


def _confidence(project: ProjectFacts) -> Confidence | None:
    """Without a deployment artifact the project may not run as a service at all."""
    return None if _deployed(project) else Confidence.LOW


def _lowered(ctx: PythonContext) -> str:
    """The module's source in lower case, computed once for all the rules here."""
    key = "prodready.rules.project:lower"
    lower: str | None = ctx.module_state.get(key)
    if lower is None:
        lower = ctx.module_state[key] = ctx.source.lower()
    return lower


def _marker_words(ctx: PythonContext) -> frozenset[str]:
    """Which marker words of the project rules occur in the module: one pass over the source
    for all of them, so that the rules' own searches run only where one of their words is."""
    key = "prodready.rules.project:markers"
    present: frozenset[str] | None = ctx.module_state.get(key)
    if present is None:
        lower = _lowered(ctx)
        # Substring tests run in C; a regex alternation of the same words is slower.
        found = {word for word in _all_marker_words() if word in lower}
        present = ctx.module_state[key] = frozenset(found)
    return present


@functools.cache
def _all_marker_words() -> tuple[str, ...]:
    words = {
        *_STRUCTURED_LOGGING,
        "formatter",
        "json.dumps",
        "loguru",
        *_EXTERNAL_CONFIG_WORDS,
        *_REQUEST_ID_WORDS,
        *_METRICS,
    }
    return tuple(sorted(words))


@functools.cache
def _any_word(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pass over the source for any of the words (instead of one ``find`` per word)."""
    return re.compile("|".join(re.escape(word) for word in words))


def _source_marks(
    ctx: PythonContext, words: tuple[str, ...], kind: str, pattern: re.Pattern[str] | None = None
) -> Found | None:
    """One mark at the first line where one of the (lower-case) words occurs in the source,
    confirmed by a pattern over the lower-cased source when given. Plain substring search
    first: it costs next to nothing on the many modules that mention none of the words."""
    if _marker_words(ctx).isdisjoint(words):
        return None
    lower = _lowered(ctx)
    first = _any_word(words).search(lower)
    if first is None:
        return None
    at = first.start()
    if pattern is not None:
        match = pattern.search(lower)
        if match is None:
            return None
        at = match.start()
    return [_mark(kind, lower.count("\n", 0, at) + 1)]


# -- OBS002 -------------------------------------------------------------------------------------

# Calls that add routes besides decorators (their path strings are collected as text).
_ROUTE_CALLS = (
    "starlette.routing.Route",
    "starlette.routing.WebSocketRoute",
    "starlette.routing.Mount",
    "aiohttp.web.get",
    "aiohttp.web.post",
    "aiohttp.web.put",
    "aiohttp.web.delete",
    "aiohttp.web.route",
    "aiohttp.web.view",
    "django.urls.path",
    "django.urls.re_path",
    "django.conf.urls.url",
)
_ROUTE_METHODS = (
    "add_url_rule",
    "add_api_route",
    "add_route",
    "add_get",
    "add_post",
    "add_resource",
    "add_view",
)
_HEALTH_WORDS = re.compile(r"health|livez|readyz|liveness|readiness|heartbeat|watchman", re.I)
_PROBE_SEGMENTS = frozenset(
    {"ping", "_ping", "status", "_status", "ready", "live", "alive", "up", "__lbheartbeat__"}
)
_HEALTH_TEXT = ("health", "livez", "readyz", "liveness", "readiness", "heartbeat", "watchman")
# A quoted path with a probe segment: "/ping", "/api/status", "ready/".
_PROBE_TEXT = re.compile(
    r"""["'][^"'\s]*/_?(?:ping|status|ready|live|alive|up)\b|["']_?(?:ping|status|ready|live)/"""
)
# Packages that serve a health endpoint (django-health-check, fastapi-health, flask-healthz...)
# are matched by name; starlette-exporter is named by the catalog as sufficient too.
_HEALTH_PACKAGES = ("starlette_exporter",)


def _is_health_path(text: str | None) -> bool:
    if not text:
        return False
    if _HEALTH_WORDS.search(text):
        return True
    if "/" not in text:
        return False
    return any(segment.lower() in _PROBE_SEGMENTS for segment in text.strip("^$").split("/"))


def _health_marks(module: ast.AST, ctx: PythonContext) -> Found | None:
    """A probe path (``"/healthz"``, ``"ping/"``), or a name that says health (a view, a
    router, a health-check package): one mark per module is enough."""
    lower = _lowered(ctx)
    if not any(word in lower for word in _HEALTH_TEXT) and not (
        "/" in lower and _PROBE_TEXT.search(lower)
    ):
        return None
    for node in ast.walk(module):
        text: str | None = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            short = len(value) <= 200 and not any(char.isspace() for char in value)
            if short and _is_health_path(value):
                return [_mark("health", node.lineno)]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            text = node.name
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.alias):
            text = node.name
        elif isinstance(node, ast.ImportFrom):
            text = node.module
        if text and (_HEALTH_WORDS.search(text) or text.startswith(_HEALTH_PACKAGES)):
            return [_mark("health", getattr(node, "lineno", 1))]
    return None


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_health_marks),
    code="OBS002",
    name="missing-health-endpoint",
    category=Category.OBSERVABILITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Web service with routes but no health/readiness endpoint anywhere for probes",
    calls=(
        *_APP_CALLS,
        *_ROUTE_CALLS,
        *(f"*.{method}" for method in _ROUTE_METHODS),
    ),
    fix="Add a cheap GET /healthz (liveness) and a GET /readyz that checks dependencies.",
)
def missing_health_endpoint(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service -- a FastAPI, Starlette, Flask, Quart, aiohttp, Django... application
    created in service code -- when nothing wired to it (the modules it imports, the modules
    that import it, for Django the whole project) defines a health check: no route path with
    `health`, `healthz`, `livez`, `readyz`, `ping`, `status`, `ready` or `live`, no Django
    `path("healthz/", ...)`, no health-check package (`django-health-check`, `fastapi-health`,
    `flask-healthz`...). Reported once per application, at the app object. Libraries, tests,
    examples and serverless apps (Mangum, Lambda adapters) are skipped.

    ## Why it breaks production
    Orchestrators (Kubernetes, ECS, load balancers, PaaS routers) decide whether to restart an
    instance and whether to send it traffic from a probe. Without an endpoint made for that,
    probes hit a real page (slow, authenticated, touching the database) or only check the TCP
    port: a hung worker keeps receiving traffic, and a new instance gets requests before it
    can serve them.

    ## Example
    ```python
    app = FastAPI()
    app.include_router(orders.router)  # no /healthz in main.py, orders.py or anywhere else
    ```

    ## Use instead
    ```python
    app = FastAPI()
    app.include_router(orders.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"status": "ok"}  # liveness: the process serves requests

    @app.get("/readyz", include_in_schema=False)
    def readyz():
        db.execute(text("SELECT 1"))  # readiness: dependencies reachable
        return {"status": "ready"}
    ```
    """
    apps = _apps(project, "OBS002")
    if not apps:
        return
    collected = _evidence(project, "OBS002")
    evidence = _by_path(collected)
    urlconf = _django_root_urls(project, collected)
    for app, component in _app_components(apps, _Modules(project), project):
        if _serverless(project, ctx, component):
            continue
        routes = [
            route
            for path in sorted(component)
            for route in project.modules.get(path, {}).get("routes", [])
        ]
        added = [
            item
            for path in component
            for item in evidence.get(path, [])
            if item.name in _ROUTE_CALLS or item.name.rsplit(".", 1)[-1] in _ROUTE_METHODS
        ]
        if not routes and not added:
            continue  # no route known: nothing to judge
        if any(
            _is_health_path(route.get("path"))
            or (route.get("path") is None and route.get("framework") != "django")
            for route in routes
        ):
            continue  # a probe route, or a route whose path is computed (may be the probe)
        if any(_marks(evidence.get(path, []), "health") for path in component):
            continue
        count = len(routes) + len(added)
        # A Django project is told at its root URLconf, where the probe paths belong.
        where = (urlconf if app.kind == "Django" else None) or Evidence(app.path, "", app.line)
        ctx.report(
            where.path,
            where.line,
            f"this {app.kind} app serves {count} route(s) but the service defines no health "
            "endpoint anywhere: orchestrators cannot tell a hung or unready instance from a "
            "healthy one. Add GET /healthz (liveness) and GET /readyz (readiness)",
            confidence=_confidence(project),
        )


# -- OBS005 -------------------------------------------------------------------------------------

_STRUCTURED_LOGGING = (
    "structlog",
    "pythonjsonlogger",
    "python_json_logger",
    "jsonlogger",
    "json_log_formatter",
    "json_logging",
    "logging_json",
    "ecs_logging",
    "jsonrenderer",
    "logstash",
    "gelf",
    "google.cloud.logging",
    "google.cloud import logging",
    "cloudlogginghandler",
    "structuredloghandler",
    "aws_lambda_powertools",
    "opentelemetry.sdk._logs",
    "opentelemetry._logs",
    "logfmt",
)
_JSON_FORMATTER = re.compile(r"json\w*formatter|formatter\w*json")
_FORMATTER_CLASS = re.compile(r"class\s+\w+\s*\([\w.]*formatter\)")
_LOGURU_SERIALIZE = re.compile(r"serialize\s*=\s*true")
# Logging configured from a file the scan cannot read: its formatters are unknown.
_EXTERNAL_LOG_CONFIG = re.compile(
    r"fileconfig\s*\(|log_config\s*=\s*[\"']|logconfig\s*=\s*[\"']|--log-config"
)
_LOG_SETUP_CALLS = ("logging.basicConfig", "logging.config.dictConfig", "loguru.logger.add")


_EXTERNAL_CONFIG_WORDS = ("fileconfig", "log_config", "logconfig", "log-config")


def _logging_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    source = ctx.source
    found = (
        _source_marks(ctx, _STRUCTURED_LOGGING, "structured")
        or _source_marks(ctx, ("formatter",), "structured", _JSON_FORMATTER)
        or (
            _source_marks(ctx, ("json.dumps",), "structured", _FORMATTER_CLASS)
            if "Formatter" in source
            else None
        )
        or _source_marks(ctx, ("loguru",), "structured", _LOGURU_SERIALIZE)
        or []
    )
    found += _source_marks(ctx, _EXTERNAL_CONFIG_WORDS, "external", _EXTERNAL_LOG_CONFIG) or []
    if "dictConfig" in source:
        for call in (node for node in ast.walk(module) if isinstance(node, ast.Call)):
            if (dotted(call.func) or "").endswith("dictConfig") and call.args:
                config = call.args[0]
                visible = isinstance(config, ast.Dict | ast.Attribute) or (
                    isinstance(config, ast.Name) and config.id in ctx.facts.module_state
                )
                if not visible:  # loaded from YAML/JSON, or passed in: formatters unknown
                    found.append(_mark("external", call.lineno))
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "LOGGING" for target in statement.targets
        ):
            found.append(_mark("logging-setting", statement.lineno))
    return found


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_logging_marks),
    code="OBS005",
    name="no-structured-logging",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Web service that never configures structured (JSON) logging",
    calls=(*_APP_CALLS, *_LOG_SETUP_CALLS),
    fix="Configure a JSON formatter once at startup (python-json-logger, structlog).",
)
def no_structured_logging(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service in which no code configures structured logging: no `structlog`, no
    `python-json-logger` / `json-log-formatter` / `ecs-logging` formatter (imported, or named
    in a `dictConfig` / Django `LOGGING` dict), no custom `logging.Formatter` subclass that
    emits JSON, no `loguru` sink with `serialize=True`, no cloud logging handler. Reported at
    the logging setup (`basicConfig`, `dictConfig`, `LOGGING`) if there is one, else at the app
    object. Logging configured from a file (`fileConfig`, a YAML `dictConfig`, uvicorn
    `--log-config`) cannot be inspected and is given the benefit of the doubt.

    ## Why it breaks production
    Log pipelines (Loki, Elasticsearch, Cloud Logging, Datadog) index fields. Plain text lines
    cannot be filtered by level, logger, request id or user without fragile regexes,
    multi-line tracebacks are split into unrelated events, and the `extra={...}` context the
    code carefully attaches is dropped by the default formatter. During an incident nobody can
    answer "which requests of this customer failed".

    ## Example
    ```python
    logging.basicConfig(level=logging.INFO)
    app = FastAPI()
    ```

    ## Use instead
    ```python
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    app = FastAPI()
    ```
    """
    apps = [app for app, _ in _app_components(_apps(project, "OBS005"), _Modules(project), project)]
    if not apps:
        return
    evidence = _evidence(project, "OBS005")
    if _marks(evidence, "structured", "external"):
        return
    setups = [
        item
        for item in evidence
        if (item.name in _LOG_SETUP_CALLS or item.name == "@logging-setting")
        and not _in_dirs(item.path, _NOT_SERVICE_DIRS)
    ]
    where = setups[0] if setups else Evidence(apps[0].path, "", apps[0].line)
    ctx.report(
        where.path,
        where.line,
        "the service never configures structured logging: plain-text lines cannot be "
        "searched by level, request id or customer, and `extra` fields are dropped. Configure "
        "a JSON formatter once at startup (python-json-logger, structlog)",
        confidence=_confidence(project),
    )


# -- OBS006 -------------------------------------------------------------------------------------

_REQUEST_ID_WORDS = (
    "correlation",
    "request_id",
    "request-id",
    "requestid",
    "req_id",
    "req-id",
    "guid",
    "traceparent",
    "trace_id",
    "trace-id",
    "traceid",
    "x-amzn-trace-id",
    "x-cloud-trace-context",
    "opentelemetry",
    "ddtrace",
    "elasticapm",
    "newrelic",
    "aws_xray_sdk",
    "opencensus",
)
# Confirms the words above as names (not ``approval_request_id`` or ``guide``).
_REQUEST_ID = re.compile(
    r"correlation|(?<![a-z0-9_])(?:request|req|trace)[_-]?id(?![a-z0-9_])|requestid"
    r"|(?<![a-z0-9_])guid(?![a-z0-9])|django_guid|traceparent|x-amzn-trace-id"
    r"|x-cloud-trace-context|opentelemetry|ddtrace|elasticapm|newrelic|aws_xray_sdk|opencensus"
)


def _request_id_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    return _source_marks(ctx, _REQUEST_ID_WORDS, "request-id", _REQUEST_ID)


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_request_id_marks),
    code="OBS006",
    name="no-request-id",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Web service with no request/correlation id propagated into its logs",
    calls=_APP_CALLS,
    fix="Add request-id middleware (asgi-correlation-id, django-guid) and log the id.",
)
def no_request_id(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service with no request or correlation id anywhere: no middleware package
    (`asgi-correlation-id`, `django-guid`, `django-log-request-id`, `flask-request-id`,
    `starlette-context` plugins), no code that reads or sets an `X-Request-ID` /
    `X-Correlation-ID` / `traceparent` header or binds a `request_id`, and no tracing
    (OpenTelemetry, Datadog, New Relic, Elastic APM, X-Ray) that stamps trace ids. Detection is
    by name anywhere in service code, so a custom middleware is recognised by its header or
    `request_id` variable. Reported at the app object.

    ## Why it breaks production
    One user action fans out into many log lines across workers, retries and downstream
    services. Without an id that ties them together, debugging a failed request means
    guessing by timestamp in interleaved logs from concurrent requests; support cannot hand
    engineering an id from the error page, and a gateway's request id is lost at the first hop.

    ## Example
    ```python
    app = FastAPI()
    app.include_router(orders.router)
    ```

    ## Use instead
    ```python
    from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware

    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)  # reads/sets X-Request-ID
    handler.addFilter(CorrelationIdFilter())  # and puts it on every log record
    ```
    """
    apps = _server_apps(project, ctx, "OBS006")
    if not apps:
        return
    if _marks(_evidence(project, "OBS006"), "request-id"):
        return
    app = apps[0]
    ctx.report(
        app.path,
        app.line,
        f"this {app.kind} service never sets or propagates a request/correlation id: the log "
        "lines of one request cannot be tied together across workers and services. Add "
        "request-id middleware (asgi-correlation-id, django-guid) and include the id in logs",
        confidence=_confidence(project),
    )


# -- OBS007 -------------------------------------------------------------------------------------

_METRICS = (
    "prometheus",
    "statsd",
    "datadog",
    "ddtrace",
    "opentelemetry.metrics",
    "opentelemetry.sdk.metrics",
    "opentelemetry import metrics",
    "opentelemetry.instrumentation",
    "meterprovider",
    "get_meter(",
    "newrelic",
    "elasticapm",
    "scout_apm",
    "aws_embedded_metrics",
    "cloudwatch",
    "appdynamics",
    "instana",
    "beeline",
    "pyformance",
    "'/metrics",
    '"/metrics',
)


def _metrics_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    return _source_marks(ctx, _METRICS, "metrics")


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_metrics_marks),
    code="OBS007",
    name="no-metrics",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Web service with no metrics instrumentation (Prometheus, StatsD, OpenTelemetry)",
    calls=_APP_CALLS,
    fix="Instrument the app (prometheus-fastapi-instrumentator, django-prometheus, OTel).",
)
def no_metrics(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service with no metrics instrumentation anywhere: no `prometheus_client`,
    `prometheus-fastapi-instrumentator`, `starlette-exporter`, `django-prometheus`,
    `prometheus-flask-exporter`, `aioprometheus`, OpenTelemetry metrics or instrumentation,
    StatsD / Datadog, or APM agent (New Relic, Elastic APM), and no `/metrics` route. Error
    trackers such as Sentry do not count: they report exceptions, not rates and latencies.
    Reported at the app object.

    ## Why it breaks production
    Without request rate, error rate and latency per endpoint there is nothing to alert on
    before users complain, no way to tell whether a deploy made things slower, and no data to
    size autoscaling or capacity. Logs can be mined for some of it, expensively and late.

    ## Example
    ```python
    app = FastAPI()
    app.include_router(orders.router)
    ```

    ## Use instead
    ```python
    from prometheus_fastapi_instrumentator import Instrumentator

    app = FastAPI()
    app.include_router(orders.router)
    Instrumentator().instrument(app).expose(app)  # GET /metrics: rate, errors, latency
    ```
    """
    apps = _server_apps(project, ctx, "OBS007")
    if not apps:
        return
    if _marks(_evidence(project, "OBS007"), "metrics"):
        return
    if any(
        (route.get("path") or "").rstrip("/").endswith("/metrics") for _, route in project.routes()
    ):
        return
    app = apps[0]
    ctx.report(
        app.path,
        app.line,
        f"this {app.kind} service exports no metrics: there is no request rate, error rate or "
        "latency to alert on or to compare deploys with. Instrument it "
        "(prometheus-fastapi-instrumentator, django-prometheus, prometheus-flask-exporter, "
        "OpenTelemetry)",
        confidence=_confidence(project),
    )


# -- RES010 -------------------------------------------------------------------------------------

# Worker frameworks that install their own SIGTERM handling (warm shutdown).
_WORKER_FRAMEWORKS = (
    "celery",
    "dramatiq",
    "rq",
    "faust",
    "arq",
    "huey",
    "taskiq",
    "nameko",
    "aiorun",
)
# Web frameworks: a loop in their modules runs inside the server process (uvicorn, gunicorn).
_SERVED_FRAMEWORKS = frozenset(
    {"fastapi", "starlette", "flask", "aiohttp", "sanic", "litestar", "tornado", "falcon"}
    | {"celery"}
)
_SIGNAL_INSTALLERS = frozenset(
    {"signal", "add_signal_handler", "open_signal_receiver", "set_signal_handler"}
)


def _consumer_call(call: ast.Call, ctx: PythonContext) -> str | None:
    if ctx.qualname(call.func) == "schedule.run_pending":
        return "schedule.run_pending"
    return receive_call(call, ctx)


def _loop_marks(node: ast.AST, ctx: PythonContext) -> Found | None:
    """A consumer loop that runs until the process dies: ``while True`` around a receive (or a
    ``schedule.run_pending()``), or iteration over a consumer (see ``message_loop``)."""
    if isinstance(node, ast.While):
        test = node.test
        if not (isinstance(test, ast.Constant) and test.value in (True, 1)):
            return None
        for call in walk_body(node.body):
            if isinstance(call, ast.Call):
                name = _consumer_call(call, ctx)
                if name is not None:
                    return [_mark("loop", node.lineno, call=name)]
        return None
    if isinstance(node, ast.For | ast.AsyncFor):
        consumed = message_loop(node, ctx)
        if consumed is not None:
            return [_mark("loop", node.lineno, call=consumed)]
    return None


def _process_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    """Whether the module starts a process (``__main__``), and whether it handles SIGTERM."""
    found: Found = []
    if (
        ctx.facts.has_main_guard
        or ctx.path.endswith("__main__.py")
        or any(_runs_main(statement) for statement in module.body)
    ):
        found.append(_mark("entry", 1))
    source = ctx.source
    if "SIGTERM" in source:
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            method = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
            if method.rsplit(".", 1)[-1] not in _SIGNAL_INSTALLERS or not node.args:
                continue
            first = node.args[0]
            # signal.signal(signal.SIGTERM, ...), or a variable (a loop over signals that
            # include SIGTERM: the module names it) -- not signal.signal(SIGINT, ...)
            named = first.id if isinstance(first, ast.Name) else None
            if "SIGTERM" in ast.dump(first) or (named is not None and not named.startswith("SIG")):
                found.append(_mark("sigterm", node.lineno))
                break
    return found


def _runs_main(statement: ast.stmt) -> bool:
    """A top-level ``asyncio.run(main())``, ``main()``, ``channel.start_consuming()`` or loop:
    the module is run as a program."""
    if isinstance(statement, ast.While | ast.For | ast.AsyncFor):
        return True
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Call):
        return False
    name = dotted(statement.value.func) or ""
    return name in _MAIN_CALLS or name.rsplit(".", 1)[-1] in _BLOCKING_RUNS


_MAIN_CALLS = frozenset({"main", "asyncio.run", "anyio.run", "trio.run", "run"})
_BLOCKING_RUNS = frozenset(
    {"start_consuming", "run_forever", "run_until_complete", "serve_forever"}
)


def _collect_res010(node: ast.AST, ctx: PythonContext) -> Found | None:
    if isinstance(node, ast.Module):
        return _process_marks(node, ctx)
    return _loop_marks(node, ctx)


@project_rule(
    nodes=(
        ast.While,
        ast.For,
        ast.AsyncFor,
        ModuleEnd,
    ),
    collect=_with_django(_collect_res010),
    code="RES010",
    name="worker-without-sigterm-handling",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Long-running consumer loop in a process that never handles SIGTERM",
    calls=(*_APP_CALLS, "*.start_consuming"),
    fix="Install a SIGTERM handler that stops the loop, then ack/commit and close the consumer.",
)
def worker_without_sigterm_handling(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a long-running worker loop -- a `while True:` loop that polls a broker
    (`consumer.poll()`, `redis.blpop()`, `sqs.receive_message()`, `schedule.run_pending()`),
    iterating a `KafkaConsumer` / `AIOKafkaConsumer`, pika's `start_consuming()` -- in a
    project that never installs a SIGTERM handler (`signal.signal(signal.SIGTERM, ...)`,
    `loop.add_signal_handler(signal.SIGTERM, ...)`). The loop must run as a program of its own
    (a `__main__` module, or a project shipped with a Dockerfile / manifest). Loops inside web
    apps served by uvicorn/gunicorn and in Celery, Dramatiq, RQ, Faust, arq or huey workers
    are left alone: those servers handle SIGTERM.

    ## Why it breaks production
    Kubernetes, ECS and systemd stop a container with SIGTERM, then SIGKILL after the grace
    period. Python's default SIGTERM action kills the process on the spot: the message being
    processed is half done, its offset or ack was never committed, so it is processed again
    by the next consumer (double charge, duplicate email) -- or, with auto-commit, lost. Every
    deploy and every node drain does this.

    ## Example
    ```python
    consumer = Consumer(config)
    consumer.subscribe(["orders"])
    while True:
        msg = consumer.poll(1.0)
        if msg is not None:
            handle(msg)
            consumer.commit(msg)
    ```

    ## Use instead
    ```python
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    consumer = Consumer(config)
    consumer.subscribe(["orders"])
    while not stopping.is_set():
        msg = consumer.poll(1.0)
        if msg is not None:
            handle(msg)
            consumer.commit(msg)
    consumer.close()  # leave the group cleanly: partitions are reassigned at once
    ```
    """
    evidence = _evidence(project, "RES010")
    if _marks(evidence, "sigterm"):
        return
    loops = [
        item
        for item in evidence
        if (_marks([item], "loop") or item.name.endswith(".start_consuming"))
        and not _in_dirs(item.path, _NOT_RUNTIME_DIRS)
    ]
    if not loops:
        return
    modules = _Modules(project)
    served: set[str] = set()
    for app in _apps(project, "RES010"):
        if app.kind != "Django":  # Django's runserver/gunicorn do not run management commands
            served |= modules.component(app.path)
    entries = {item.path for item in _marks(evidence, "entry")}
    deployed = _deployed(project)
    reported: set[str] = set()
    for item in sorted(loops, key=lambda e: (e.path, not e.name.startswith("@"), e.line)):
        facts = project.modules.get(item.path, {})
        if item.path in reported or item.path in served:
            continue
        if set(facts.get("frameworks", [])) & _SERVED_FRAMEWORKS:
            continue
        if _imports(project, item.path, _WORKER_FRAMEWORKS):
            continue
        command = "/management/commands/" in f"/{item.path}"
        if not (deployed or command or modules.importers(item.path) & entries):
            continue  # library code: nothing says this loop runs as a process
        reported.add(item.path)
        ctx.report(
            item.path,
            item.line,
            "this consumer loop runs in a process that never handles SIGTERM: on every deploy "
            "or node drain the orchestrator's SIGTERM kills it mid-message, so the message is "
            "redelivered (processed twice) or lost. Install a SIGTERM handler that stops the "
            "loop, then ack/commit and close the consumer before exiting",
        )


# -- SEC030 -------------------------------------------------------------------------------------

_ADMIN_PATH = re.compile(
    r"(?:^|/)_*(admin|internal|manage|management|debug|ops)(?:$|[/_\-.])", re.IGNORECASE
)
# Admin areas' own entrances and probes must stay reachable without credentials.
_PUBLIC_PATH = re.compile(
    r"(?:^|/)_*(?:login|logout|sign-?in|sign-?up|register|password|forgot|callback|oauth"
    r"|token|health|livez|readyz|ping|metrics|static|favicon)",
    re.IGNORECASE,
)
_AUTH_NAME = re.compile(
    r"auth|login|logged|token|jwt|oauth|oidc|saml|sso|permission|perm_|_perm|role|scope"
    r"|api_?key|apikey|credential|verify|protect|require|user|principal|identity|staff"
    r"|superuser|admin|acl|bearer|basic|signature|signed|secret|guard|access|privilege"
    r"|only|restrict|allow|internal|whitelist",
    re.IGNORECASE,
)
_NOT_AUTH_DECORATORS = frozenset(
    {"require_POST", "require_GET", "require_safe", "require_http_methods", "api_view"}
    | {"csrf_exempt", "csrf_protect", "ensure_csrf_cookie", "requires_csrf_token"}
    | {"authentication_classes", "never_cache", "cache_page", "cache_control"}
)
_AUTH_CHECK = re.compile(
    r"current_user|is_authenticated|is_staff|is_superuser|is_admin|has_perm|permission"
    r"|authoriz|authenticat|api_?key|x-admin|admin_token|verify_|token|credential"
    r"|status_code\s*=\s*40[13]|HTTP_40[13]|abort\(\s*40[13]|PermissionDenied|Forbidden"
    r"|Unauthorized|NotAuthenticated|login|g\.user|request\.user|\bauth\b"
    r"|(?:check|require|ensure|assert)_\w*(?:admin|auth|user|token|perm|role|staff|access)",
    re.IGNORECASE,
)
_AUTH_ANNOTATION = re.compile(
    r"current|auth|token|principal|credential|claims|api_?key|identity|user|admin|permission"
    r"|scope|bearer|jwt",
    re.IGNORECASE,
)
_SCHEMA_SUFFIX = re.compile(
    r"(Create|Update|In|Out|Base|Schema|Request|Response|Payload|Body|Data|Input|Form|Params"
    r"|Query|Filter|Patch|List|Id|ID)\]*$"
)
# Parameters that carry the caller's identity or credentials (FastAPI injects them).
_AUTH_PARAM = re.compile(
    r"^(?:current_\w+|admin_user|principal|identity|claims|auth|me)$|token|api_?key"
    r"|authorization|credential|secret|signature",
    re.IGNORECASE,
)
_AUTH_MIDDLEWARE = re.compile(
    r"auth|login|jwt|token|oauth|oidc|keycloak|api_?key|permission|acl|basic|bearer|guard"
    r"|protect|access",
    re.IGNORECASE,
)
_ROUTER_FACTORIES = {
    "fastapi.APIRouter": False,
    "fastapi.routing.APIRouter": False,
    "flask.Blueprint": False,
    "quart.Blueprint": False,
    "sanic.Blueprint": False,
    "fastapi.FastAPI": True,
    "fastapi.applications.FastAPI": True,
}
_APP_TYPES = frozenset({"fastapi.FastAPI", "flask.Flask", "quart.Quart", "sanic.Sanic"})
_HOOKS = frozenset({"before_request", "before_app_request", "middleware"})
_DJANGO_URL_FUNCTIONS = frozenset({"path", "re_path", "url"})
_LOGIN_MIDDLEWARE = re.compile(r"LoginRequired\w*Middleware|login_required_middleware")
# Calls worth a walk of the module: routers, includes, middleware, DRF settings.
_SEC030_HINTS = (
    "Router",
    "Blueprint",
    "FastAPI",
    "include_router",
    "register_blueprint",
    "before_request",
    "before_app_request",
    "add_middleware",
    "Middleware(",
    "DEFAULT_PERMISSION_CLASSES",
)


def _auth_name(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    if last in ROUTE_DECORATOR_METHODS or last in _NOT_AUTH_DECORATORS:
        return False
    return bool(_AUTH_NAME.search(name))


def _auth_dependencies(expr: ast.expr | None, ctx: PythonContext) -> bool:
    """``dependencies=[Depends(require_admin)]``. Anything but a literal list of ``Depends()``
    on non-auth callables (``dependencies=AUTH``, ``[Admin]`` with ``Admin = Depends(...)``)
    is taken as auth: the facts cannot say otherwise."""
    if expr is None:
        return False
    if not isinstance(expr, ast.List | ast.Tuple):
        return True
    for element in expr.elts:
        if not (isinstance(element, ast.Call) and element.args):
            return True
        target = element.args[0]
        name = ctx.qualname(target.func if isinstance(target, ast.Call) else target) or ""
        if _auth_name(name):
            return True
    return False


def _text(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, ctx: PythonContext) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    last = getattr(node, "end_lineno", None) or node.lineno
    return "\n".join(ctx.lines[first - 1 : last])


def _route_marks(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> Found | None:
    """A route whose own definition authenticates: an auth decorator or dependency, an
    identity parameter (FastAPI), or a check in its body."""
    scope = ctx.function
    if scope is None or scope.node is not node or scope.route is None:
        return None
    route = scope.route
    if any(_auth_name(name) for name in route.dependencies):
        return [_mark("authed", node.lineno)]
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or ""
        if isinstance(decorator, ast.Call) and _auth_dependencies(
            keyword_value(decorator, "dependencies"), ctx
        ):
            return [_mark("authed", node.lineno)]
        if (
            name.endswith("permission_classes")
            and isinstance(decorator, ast.Call)
            and ("AllowAny" in ast.dump(decorator) or not _has_elements(decorator))
        ):
            return [_mark("allow-any", node.lineno)]
        if _auth_name(name):
            return [_mark("authed", node.lineno)]
    if route.framework in ("fastapi", "starlette"):
        for param in scope.params:
            annotation = ast.unparse(param.annotation) if param.annotation is not None else ""
            if _AUTH_PARAM.search(param.arg) or (
                _AUTH_ANNOTATION.search(annotation) and not _SCHEMA_SUFFIX.search(annotation)
            ):
                return [_mark("authed", node.lineno)]
    body = "\n".join(ctx.lines[node.body[0].lineno - 1 : node.end_lineno or node.lineno])
    if _AUTH_CHECK.search(body):
        return [_mark("authed", node.lineno)]
    return None


def _has_elements(call: ast.Call) -> bool:
    return any(not isinstance(arg, ast.List | ast.Tuple) or arg.elts for arg in call.args)


_VIEW_BASES = (
    "django.views",
    "rest_framework.views",
    "rest_framework.generics",
    "rest_framework.viewsets",
)


def _view_class(node: ast.ClassDef, ctx: PythonContext) -> tuple[str, int] | None:
    """A Django/DRF class-based view that does not authenticate by itself."""
    bases = [ctx.qualname(base) or dotted(base) or "" for base in node.bases]
    looks_like_view = any(base.startswith(_VIEW_BASES) for base in bases)
    if not looks_like_view or node.name.endswith("Mixin"):
        return None
    if not all(base.startswith(("django.", "rest_framework.")) for base in bases):
        return None  # a project base class may authenticate: we cannot see it from here
    drf = any(base.startswith("rest_framework") for base in bases)
    if any(_auth_name(base) and not base.endswith(("View", "ViewSet")) for base in bases):
        return None  # LoginRequiredMixin, PermissionRequiredMixin, UserPassesTestMixin...
    allow_any = False
    lines: list[str] = []
    for decorator in node.decorator_list:
        text = ast.unparse(decorator)
        for word in _NOT_AUTH_DECORATORS:
            text = text.replace(word, "")
        if _AUTH_NAME.search(text):
            return None  # @method_decorator(login_required, name="dispatch")
    for statement in node.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "permission_classes"
            for target in statement.targets
        ):
            value = statement.value
            empty = isinstance(value, ast.List | ast.Tuple) and not value.elts
            if empty or "AllowAny" in ast.dump(value):
                allow_any = True
                continue
            return None  # permission_classes = [IsAdminUser]
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.append(_text(statement, ctx))
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            lines.append(ast.unparse(statement))
    if _AUTH_CHECK.search("\n".join(lines)):
        return None
    name = f"{ctx.module}.{node.name}" if ctx.module else node.name
    return _mark("open-view", node.lineno, name=name, drf=drf, allow_any=allow_any)


def _url_marks(statement: ast.stmt, ctx: PythonContext) -> Found:
    """``urlpatterns = [path("internal/stats/", views.stats), path("ops/", include(...))]``."""
    found: Found = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AugAssign | ast.AnnAssign):
        targets = [statement.target]
    else:
        return found
    if not any(isinstance(t, ast.Name) and t.id == "urlpatterns" for t in targets):
        return found
    if statement.value is None:
        return found
    for node in ast.walk(statement.value):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        function = (dotted(node.func) or "").rsplit(".", 1)[-1]
        route = constant_str(node.args[0])
        if function not in _DJANGO_URL_FUNCTIONS or route is None:
            continue
        view = node.args[1]
        if isinstance(view, ast.Call) and (dotted(view.func) or "").endswith("include"):
            target = view.args[0] if view.args else None
            if isinstance(target, ast.Tuple) and target.elts:
                target = target.elts[0]
            module = constant_str(target) or (ctx.qualname(target) if target else None)
            if module:
                found.append(_mark("include-urls", node.lineno, path=route, module=module))
            continue
        kind = "function"
        if isinstance(view, ast.Call) and isinstance(view.func, ast.Attribute):
            if view.func.attr != "as_view":
                continue
            view, kind = view.func.value, "class"
        name = ctx.qualname(view)
        if name and "admin.site" not in name:
            found.append(_mark("url", node.lineno, path=route, view=name, kind=kind))
    return found


def _auth_hook(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """``@app.before_request`` / ``@app.middleware("http")`` that checks credentials."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (dotted(target) or "").rsplit(".", 1)[-1] in _HOOKS:
            return bool(_AUTH_CHECK.search(_text(node, ctx)))
    return False


def _structure_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    """Routers and their prefixes/dependencies, includes, auth middleware, Django URL
    patterns, global DRF/Django permission settings."""
    source = ctx.source
    found: Found = []
    if "urlpatterns" in source:
        for statement in module.body:
            found.extend(_url_marks(statement, ctx))
    if "Middleware" in source and _LOGIN_MIDDLEWARE.search(source):
        found.append(_mark("global", 1))
    if not any(hint in source for hint in _SEC030_HINTS):
        return found
    for node in ast.walk(module):
        if isinstance(node, ast.Call):
            found.extend(_call_marks(node, ctx))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if constant_str(key) == "DEFAULT_PERMISSION_CLASSES" and (
                    "AllowAny" not in ast.dump(value)
                ):
                    found.append(_mark("drf-global", node.lineno))
    return found


def _class_marks(node: ast.ClassDef, ctx: PythonContext) -> Found | None:
    """An authenticating middleware class, or a class-based view that does not authenticate."""
    if node.name.endswith("Middleware"):
        if _AUTH_CHECK.search(_text(node, ctx)):
            return [_mark("global", node.lineno)]
        return None
    view = _view_class(node, ctx)
    return [view] if view is not None else None


def _call_marks(node: ast.Call, ctx: PythonContext) -> Found:
    name = ctx.qualname(node.func) or ""
    method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    if name in _ROUTER_FACTORIES:
        prefix = constant_str(keyword_value(node, "prefix") or keyword_value(node, "url_prefix"))
        auth = _auth_dependencies(keyword_value(node, "dependencies"), ctx)
        return [_mark("router", node.lineno, prefix=prefix, auth=auth, app=_ROUTER_FACTORIES[name])]
    if method in ("include_router", "register_blueprint") and node.args:
        target = node.args[0]
        prefix = constant_str(keyword_value(node, "prefix") or keyword_value(node, "url_prefix"))
        auth = _auth_dependencies(keyword_value(node, "dependencies"), ctx)
        included = ctx.qualname(target) or dotted(target) or ""
        return [_mark("include", node.lineno, target=included, prefix=prefix, auth=auth)]
    if (method == "add_middleware" or name.endswith("middleware.Middleware")) and node.args:
        middleware = ctx.qualname(node.args[0]) or dotted(node.args[0]) or ""
        if _AUTH_MIDDLEWARE.search(middleware.rsplit(".", 1)[-1]):
            return [_mark("global", node.lineno)]
    if method in ("before_request", "before_app_request") and node.args:
        hook = dotted(node.args[0]) or ""
        if _AUTH_MIDDLEWARE.search(hook):
            return [_mark("global", node.lineno)]
    return []


def _collect_sec030(node: ast.AST, ctx: PythonContext) -> Found | None:
    if isinstance(node, ast.Module):
        return _structure_marks(node, ctx)
    if isinstance(node, ast.ClassDef):
        return _class_marks(node, ctx)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if node.decorator_list and _auth_hook(node, ctx):
            return [_mark("global", node.lineno)]
        return _route_marks(node, ctx)
    return None


@dataclass(slots=True)
class _Candidate:
    path: str
    line: int
    route: str
    framework: str


@project_rule(
    nodes=(
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ModuleEnd,
    ),
    collect=_with_django(_collect_sec030),
    code="SEC030",
    name="admin-route-without-auth",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Admin/internal/debug route with no authentication anywhere in its chain",
    calls=_APP_CALLS,
    cwe=306,
    fix="Require an authenticated, authorised caller: Depends(require_admin), @login_required, "
    "permission_classes.",
)
def admin_route_without_auth(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags routes whose path (with its router or blueprint prefix, or Django `include()`
    prefix) contains `admin`, `internal`, `manage`, `debug` or `ops` when nothing in their
    chain authenticates the caller:
    - FastAPI: no auth-looking `Depends`/`Security` (`get_current_user`, `verify_token`,
      `require_admin`, `oauth2_scheme`, an API-key header...) on the route, no identity
      parameter (`current_user: CurrentUser`), no `dependencies=` with auth on its `APIRouter`,
      on the `include_router(...)` that mounts it or on the app;
    - Flask: no `login_required` / `roles_required` / `jwt_required` / `auth.login_required`
      decorator, no auth check in a `before_request` hook;
    - Django: no `login_required` / `staff_member_required` / `permission_required` /
      `user_passes_test`, no auth mixin or DRF `permission_classes` on the view, no
      `DEFAULT_PERMISSION_CLASSES` or `LoginRequiredMiddleware` setting;
    - anywhere: no authentication middleware and no check of the user, a token or a 401/403
      in the handler itself.

    Precision first: whenever authentication may be established where the facts do not reach
    -- a router included from a module that cannot be resolved, dependencies built at run
    time, an auth middleware or hook anywhere in the project, a Django view that cannot be
    found or derives from a project base class -- the rule stays silent. Login pages, health
    and metrics paths are not flagged.

    ## Why it breaks production
    "Internal" endpoints are not internal once the service sits behind a public load balancer,
    an ingress, or a misconfigured network policy -- and scanners look for `/admin`,
    `/internal` and `/debug` first. An unauthenticated admin route lets anyone reset data,
    read other users' records, flush caches or dump configuration (CWE-306: missing
    authentication for a critical function).

    ## Example
    ```python
    router = APIRouter(prefix="/admin")

    @router.post("/users/{user_id}/reset-password")
    def reset_password(user_id: int, db: Session = Depends(get_db)): ...
    ```

    ## Use instead
    ```python
    router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])

    @router.post("/users/{user_id}/reset-password")
    def reset_password(user_id: int, db: Session = Depends(get_db)): ...
    ```
    """
    if not _apps(project, "SEC030"):
        return
    evidence = _evidence(project, "SEC030")
    if _marks(evidence, "global"):
        return  # an auth middleware or hook: requests may be authenticated before any route
    modules = _Modules(project)
    candidates = _web_candidates(project, evidence, modules) + _django_candidates(
        project, evidence, modules
    )
    for candidate in candidates:
        ctx.report(
            candidate.path,
            candidate.line,
            f"{candidate.route} is an admin/internal route with no authentication in its chain "
            f"(no {_AUTH_HINT.get(candidate.framework, _AUTH_HINT['fastapi'])}, no auth "
            "middleware): anyone who can reach the service can call it. Require an "
            "authenticated, authorised caller",
        )


_AUTH_HINT = {
    "fastapi": "auth dependency on the route, its router or include_router()",
    "flask": "login_required/jwt_required decorator or before_request check",
    "django": "login_required/permission_required, auth mixin or permission_classes",
}


def _web_candidates(
    project: ProjectFacts, evidence: list[Evidence], modules: _Modules
) -> list[_Candidate]:
    by_path = _by_path(evidence)
    routers: dict[str, list[dict[str, Any]]] = {}
    for item in _marks(evidence, "router"):
        routers.setdefault(item.path, []).append(_data(item))
    if any(
        router.get("app") and router.get("auth") for items in routers.values() for router in items
    ):
        return []  # FastAPI(dependencies=[auth]): every route of the app
    # Where routers are mounted: the prefix applies to the module that exactly defines the
    # included router; auth applies to any module the name may refer to (precision first).
    include_prefixes: dict[str, list[str]] = {}
    guarded: set[str] = {
        path for path, items in routers.items() if any(r.get("auth") for r in items)
    }
    for item in _marks(evidence, "include"):
        data = _data(item)
        target = _router_module(str(data.get("target") or ""))
        exact = modules.exactly(target) if target else {item.path}
        if data.get("auth"):
            broad = modules.modules_named(target) if target else {item.path}
            if not broad:
                return []  # auth on a router we cannot find: it may guard any route
            guarded |= broad | exact
        for path in exact:
            include_prefixes.setdefault(path, []).append(str(data.get("prefix") or ""))
    found: list[_Candidate] = []
    for path, route in project.routes():
        if route.get("framework") == "django" or _in_dirs(path, _NOT_SERVICE_DIRS):
            continue
        own = route.get("path")
        if own is None:
            continue
        authed = {item.line for item in _marks(by_path.get(path, []), "authed")}
        if route.get("line") in authed:
            continue
        # The module that defines the router the route is declared on (``from . import bp``).
        receiver = _router_module(str(route.get("receiver") or ""))
        if receiver and (modules.modules_named(receiver) & guarded):
            continue
        owners = (modules.exactly(receiver) if receiver else set()) or {path}
        if owners & guarded:
            continue
        prefix = ""
        local = [r for owner in owners for r in routers.get(owner, []) if not r.get("app")]
        if route.get("receiver") not in _APP_TYPES and local:
            prefixes = [str(r.get("prefix") or "") for r in local]
            if len(prefixes) == 1 or all(_ADMIN_PATH.search(p) for p in prefixes):
                prefix = prefixes[0]
        mounts = [p for owner in owners for p in include_prefixes.get(owner, [])] or [""]
        full_paths = [mount + prefix + own for mount in mounts]
        admin = [p for p in full_paths if _ADMIN_PATH.search(p) and not _PUBLIC_PATH.search(p)]
        if admin:
            framework = "flask" if route.get("framework") in ("flask", "quart") else "fastapi"
            methods = "/".join(route.get("methods") or ["ANY"])
            found.append(_Candidate(path, int(route["line"]), f"{methods} {admin[0]}", framework))
    return found


def _router_module(name: str) -> str:
    """The module an imported router/blueprint object lives in (``app.admin.router`` ->
    ``app.admin``); empty for a router built locally (its name is its type or a bare name)."""
    if not name or name in _ROUTER_FACTORIES or name in _APP_TYPES or "." not in name:
        return ""
    return name.rsplit(".", 1)[0]


def _django_candidates(
    project: ProjectFacts, evidence: list[Evidence], modules: _Modules
) -> list[_Candidate]:
    urls = _marks(evidence, "url")
    if not urls:
        return []
    drf_global = bool(_marks(evidence, "drf-global"))
    open_views = {str(_data(item)["name"]): _data(item) for item in _marks(evidence, "open-view")}
    by_path = _by_path(evidence)
    prefixes = _django_prefixes(_marks(evidence, "include-urls"), modules)
    found: list[_Candidate] = []
    for item in urls:
        if _in_dirs(item.path, _NOT_SERVICE_DIRS):
            continue
        data = _data(item)
        route = str(data.get("path") or "")
        full = [(prefix + route).replace("^", "") for prefix in prefixes.get(item.path, [""])]
        admin = [p for p in full if _ADMIN_PATH.search(p) and not _PUBLIC_PATH.search(p)]
        if not admin:
            continue
        view = str(data.get("view") or "")
        if data.get("kind") == "class":
            found_view = _lookup(open_views, view)
            if found_view is None:
                continue  # authenticated, or a view we cannot see
            if found_view.get("drf") and drf_global and not found_view.get("allow_any"):
                continue
        elif not _open_function_view(project, view, modules, by_path, drf_global):
            continue
        found.append(_Candidate(item.path, item.line, f"/{admin[0].lstrip('/')}", "django"))
    return found


def _django_prefixes(includes: list[Evidence], modules: _Modules) -> dict[str, list[str]]:
    """URL prefixes of included URLconf modules (``path("ops/", include("ops.urls"))``),
    nested includes followed a few levels deep."""
    prefixes: dict[str, list[str]] = {}
    for _ in range(3):
        changed = False
        for item in includes:
            data = _data(item)
            route = str(data.get("path") or "")
            for target in modules.exactly(str(data.get("module") or "")):
                for outer in prefixes.get(item.path, [""]):
                    combined = outer + route
                    if combined not in prefixes.setdefault(target, []):
                        prefixes[target].append(combined)
                        changed = True
        if not changed:
            break
    return prefixes


def _lookup(views: dict[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    if name in views:
        return views[name]
    for known, data in views.items():
        if known.endswith("." + name) or name.endswith("." + known):
            return data
    return None


def _open_function_view(
    project: ProjectFacts,
    view: str,
    modules: _Modules,
    by_path: dict[str, list[Evidence]],
    drf_global: bool,
) -> bool:
    """The function view is found among the routes and authenticates nowhere."""
    module, _, function = view.rpartition(".")
    if not module:
        return False
    for path in sorted(modules.exactly(module)):
        for route in project.modules.get(path, {}).get("routes", []):
            if route.get("function") != function:
                continue
            marks = by_path.get(path, [])
            if route.get("line") in {item.line for item in _marks(marks, "authed")}:
                return False
            allow_any = route.get("line") in {item.line for item in _marks(marks, "allow-any")}
            drf = any(name.endswith("api_view") for name in route.get("decorators", []))
            return not (drf and drf_global and not allow_any)
    return False
