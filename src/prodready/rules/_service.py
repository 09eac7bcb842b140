"""What a deployable service is, for the project-level rules of every category: judged once per
scan from the facts of every file.

Every project rule first asks whether the project *is* a deployable service: an application object
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
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prodready.plugin import (
    ENTRY_FILE_NAMES,
    Confidence,
    Evidence,
    FileKind,
    Mark,
    ModuleMemo,
    ProjectCollector,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Role,
)
from prodready.plugin.analysis import (
    FRAMEWORK_PACKAGES,
    constant_str,
    path_role,
    resolve_relative,
)

Found = list[Mark]

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
# The roles (engine.roles) of code that is not the deployed service; a role is judged from the
# path (tests and docs are facts of their own, left out of the evidence already).
_NOT_RUNTIME_DIRS = frozenset(
    {Role.TEST, Role.FIXTURE, Role.EXAMPLE, Role.MIGRATION, Role.DEV_INFRA, Role.VENDORED}
)
_NOT_SERVICE_DIRS = _NOT_RUNTIME_DIRS | {Role.SCRIPT, Role.MANAGEMENT_COMMAND}
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


def _in_dirs(path: str, excluded: frozenset[Role]) -> bool:
    """The path has one of the ``excluded`` roles, or is in a framework's own package."""
    parts = path.lower().split("/")[:-1]
    return path_role(path) in excluded or any(part in FRAMEWORK_PACKAGES for part in parts)


@dataclass(frozen=True, slots=True)
class _App:
    path: str
    line: int
    kind: str

    @property
    def sort_key(self) -> tuple[bool, int, str, int]:
        name = self.path.rsplit("/", 1)[-1]
        return (name not in ENTRY_FILE_NAMES, self.path.count("/"), self.path, self.line)


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
        urlconf = setting.text("urlconf")
        for path in sorted(patterns):
            module = project.module_name(path)
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
            found.append(Mark.of("django-settings", statement.lineno, urlconf=constant_str(value)))
        elif target.id == "urlpatterns" and not any(m.kind == "urlpatterns" for m in found):
            found.append(Mark.of("urlpatterns", statement.lineno))
    return found


def _with_django(collect: ProjectCollector[Any]) -> ProjectCollector[Any]:
    """A collector that also records the Django settings and URLconfs (see ``_apps``)."""

    def collect_with_django(node: Any, ctx: Any) -> list[Mark | tuple[str, int]] | None:
        found: list[Mark | tuple[str, int]] = list(collect(node, ctx) or [])
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
    facts = project.modules.get(path)
    for item in facts.imports if facts is not None else ():
        module = item.module
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return True
    return False


def _by_path(items: Iterable[Evidence]) -> dict[str, list[Evidence]]:
    grouped: dict[str, list[Evidence]] = {}
    for item in items:
        grouped.setdefault(item.path, []).append(item)
    return grouped


def _marks(items: Iterable[Evidence], *kinds: str) -> list[Evidence]:
    """Collected evidence of the given kinds (see ``Mark.of``)."""
    return [item for item in items if item.kind in kinds]


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
            name = facts.module
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
            for item in facts.imports:
                targets |= self.resolve(item.module, path)
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
    django = {path for path, facts in project.service_modules() if "django" in facts.frameworks}
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


def _source_lowered(ctx: PythonContext) -> str:
    return ctx.source.lower()


# The module's source in lower case, computed once for all the rules here.
_LOWERED: ModuleMemo[str] = ModuleMemo("service:lowered-source", _source_lowered)


def _lowered(ctx: PythonContext) -> str:
    return ctx.memo(_LOWERED)


def _present_marker_words(ctx: PythonContext) -> frozenset[str]:
    lower = _lowered(ctx)
    # Substring tests run in C; a regex alternation of the same words is slower. A word is
    # looked for only where its group's gate (a part of the word) occurs: 27 searches of the
    # whole source instead of 63 on a module that mentions none of the gates.
    return frozenset(
        word
        for gate, words in _gated_marker_words()
        if gate in lower
        for word in words
        if word in lower
    )


# Parts shared by several marker words, each rare in source code.
_MARKER_GATES = ("opentelemetry", "json", "trace", "metric", "log", "req", "aws_")


@functools.cache
def _gated_marker_words() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The marker words grouped under the first gate each contains (a word without a gate is
    its own)."""
    groups: dict[str, list[str]] = {}
    for word in _all_marker_words():
        gate = next((gate for gate in _MARKER_GATES if gate in word), word)
        groups.setdefault(gate, []).append(word)
    return tuple((gate, tuple(words)) for gate, words in groups.items())


# Which marker words of the project rules occur in the module: one pass over the source for all
# of them, so that the rules' own searches run only where one of their words is.
_MARKERS: ModuleMemo[frozenset[str]] = ModuleMemo("service:marker-words", _present_marker_words)


def _marker_words(ctx: PythonContext) -> frozenset[str]:
    return ctx.memo(_MARKERS)


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
    return [Mark.of(kind, lower.count("\n", 0, at) + 1)]


# -- what OBS005 looks for: structured logging ------------------------------------------------

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


_EXTERNAL_CONFIG_WORDS = ("fileconfig", "log_config", "logconfig", "log-config")


# -- what OBS006 looks for: request ids -------------------------------------------------------

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


# -- what OBS007 looks for: metrics -----------------------------------------------------------

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
_ROUTER_FACTORIES = {
    "fastapi.APIRouter": False,
    "fastapi.routing.APIRouter": False,
    "flask.Blueprint": False,
    "quart.Blueprint": False,
    "sanic.Blueprint": False,
    "fastapi.FastAPI": True,
    "fastapi.applications.FastAPI": True,
}
