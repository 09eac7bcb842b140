"""Observability: a service without a health endpoint (OBS002, project rule)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    FileKind,
    Mark,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import healthcheck_scripts, walk_nodes
from prodready.rules._service import (
    _APP_CALLS,
    Found,
    _app_components,
    _apps,
    _by_path,
    _confidence,
    _django_root_urls,
    _evidence,
    _lowered,
    _marks,
    _Modules,
    _serverless,
    _with_django,
)

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
                return [Mark.of("health", node.lineno)]
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
            return [Mark.of("health", getattr(node, "lineno", 1))]
    return None


def _health_and_factory_marks(module: ast.AST, ctx: PythonContext) -> Found | None:
    """The module's health marks, and the app factories it defines: a function that creates
    the web app (``def create_app(): app = Flask(__name__) ...``), marked at its ``def`` with
    the line of the app it creates."""
    found: list[Mark] = list(_health_marks(module, ctx) or [])
    # One pass over the calls in functions first: most modules create no app, and listing
    # every function with its nested functions again (each walked once per enclosing
    # function) cost a seventh of a scan. A module that does create one is walked as before.
    if not any(word in ctx.source for word in _APP_CALL_WORDS):
        return found  # no callee of the list can be named without its last name
    qualname = ctx.qualname
    if not any(qualname(call.func) in _APP_CALLS for call in _calls_in_functions(module)):
        return found
    for node in walk_nodes(module):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for call in walk_nodes(node):
            if isinstance(call, ast.Call) and ctx.qualname(call.func) in _APP_CALLS:
                found.append(Mark.of("app-factory", node.lineno, call=str(call.lineno)))
    return found


# The last names of the app factories, less those containing a shorter one ("App" is in
# "Application"): a module whose source has none of them calls none.
_APP_NAMES = {call.rsplit(".", 1)[-1] for call in _APP_CALLS}
_APP_CALL_WORDS = tuple(
    sorted(name for name in _APP_NAMES if not any(o != name and o in name for o in _APP_NAMES))
)
_STATEMENT_LIKE = (ast.stmt, ast.excepthandler, ast.match_case)


def _calls_in_functions(module: ast.AST) -> Iterator[ast.Call]:
    """The calls inside the module's functions: the outermost functions are found among the
    statements (a ``def`` is one), and each is listed by the shared ``walk_nodes`` (the
    function-end rules listed most of them already), nested functions included."""
    stack: list[ast.AST] = [module]
    while stack:
        for child in ast.iter_child_nodes(stack.pop()):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from (node for node in walk_nodes(child) if isinstance(node, ast.Call))
            elif isinstance(child, _STATEMENT_LIKE):
                stack.append(child)


def _factory_line(marks: list[Evidence], app_line: int) -> int:
    """Where to tell an app with no health endpoint: its factory's ``def`` when a factory
    creates it (the factory is what every worker runs), else the line creating it."""
    lines = [item.line for item in marks if item.text("call") == str(app_line)]
    return max(lines) if lines else app_line


_DOCKER_HEALTHCHECK = re.compile(r"^\s*HEALTHCHECK\b.*?\bCMD\b(?P<command>.*)$", re.I | re.M)
_DOCKER_COPY = re.compile(r"^\s*(?:COPY|ADD)\s+(?P<rest>.+)$", re.I | re.M)
# An HTTP request to the container's own server (``http://127.0.0.1:{port}/api/about``).
_LOCAL_URL = re.compile(r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])\b", re.I)


def _copied_script(token: str, joined: str, known: set[str]) -> str | None:
    """The project file a probe path of the image comes from through a directory ``COPY``
    (``COPY ./app $HOME/app`` puts ``app/probe.py`` at ``$HOME/app/probe.py``)."""
    for match in _DOCKER_COPY.finditer(joined):
        parts = [part for part in match["rest"].split() if not part.startswith("--")]
        if len(parts) < 2:
            continue
        destination = parts[-1].rstrip("/")
        if not token.startswith(destination + "/"):
            continue
        for source in parts[:-1]:
            candidate = source.strip("./") + token[len(destination) :]
            if candidate.lstrip("/") in known:
                return candidate.lstrip("/")
    return None


def _probing_images(project: ProjectFacts) -> list[list[str]]:
    """What each Dockerfile of the project whose ``HEALTHCHECK`` requests the service's own
    server over HTTP copies into its image (``COPY`` sources), in its command (``curl -f
    http://localhost:8000/about``) or in the probe script it runs: the container runtime then
    sees a hung server, whatever the route is called."""
    known = set(project.modules) | set(project.other_files)
    images: list[list[str]] = []
    for dockerfile in project.files_of_kind(FileKind.DOCKERFILE):
        try:
            text = (project.root / dockerfile).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        joined = re.sub(r"\\\r?\n", " ", text)
        commands = [match["command"] for match in _DOCKER_HEALTHCHECK.finditer(joined)]
        scripts = set(healthcheck_scripts(dockerfile, text, known))
        for token in (token for command in commands for token in command.split()):
            if token.endswith(".py"):
                scripts.add(_copied_script(token, joined, known) or "")
        sources = list(commands)
        for script in sorted(scripts - {""}):
            try:
                sources.append((project.root / script).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
        if any(_LOCAL_URL.search(source) for source in sources):
            images.append(_copy_sources(joined))
    return images


def _copy_sources(joined: str) -> list[str]:
    found: list[str] = []
    for match in _DOCKER_COPY.finditer(joined):
        parts = [part for part in match["rest"].split() if not part.startswith("--")]
        found.extend(part.strip("/").removeprefix("./").strip("/") for part in parts[:-1])
    return found


def _in_image(path: str, sources: list[str]) -> bool:
    """The application module is copied into the image (``COPY ./app /srv/app``, ``COPY .
    .``); the build context is not known, so a source matches any directory so named."""
    return any(not source or source == "." or f"/{source}/" in f"/{path}" for source in sources)


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_health_and_factory_marks),
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
    `flask-healthz`...), no Dockerfile `HEALTHCHECK` of the project that requests the server
    over HTTP on the container's own host (in its command or in the probe script it runs: a
    probe of `GET /api/app/about` is a health check under another name; one that only checks
    the process, `pgrep uvicorn`, is not). Reported once per application, at the app object.
    Libraries, tests, examples and serverless apps (Mangum, Lambda adapters) are skipped.

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
    probing: list[list[str]] | None = None  # read once, only when an app lacks a health route
    for app, component in _app_components(apps, _Modules(project), project):
        if _serverless(project, ctx, component):
            continue
        routes = [route for path in sorted(component) for route in project.modules[path].routes]
        added = [
            item
            for path in component
            for item in evidence.get(path, [])
            if item.name in _ROUTE_CALLS or item.name.rsplit(".", 1)[-1] in _ROUTE_METHODS
        ]
        if not routes and not added:
            continue  # no route known: nothing to judge
        if any(
            _is_health_path(route.path) or (route.path is None and route.framework != "django")
            for route in routes
        ):
            continue  # a probe route, or a route whose path is computed (may be the probe)
        if any(_marks(evidence.get(path, []), "health") for path in component):
            continue
        if probing is None:
            probing = _probing_images(project)
        if any(_in_image(app.path, sources) for sources in probing):
            continue  # its image's HEALTHCHECK requests the server: a health check by any name
        count = len(routes) + len(added)
        # A Django project is told at its root URLconf, where the probe paths belong.
        factories = _marks(evidence.get(app.path, []), "app-factory")
        app_line = _factory_line(factories, app.line)
        where = (urlconf if app.kind == "Django" else None) or Evidence(app.path, "", app_line)
        ctx.report(
            where.path,
            where.line,
            f"this {app.kind} app serves {count} route(s) but the service defines no health "
            "endpoint anywhere: orchestrators cannot tell a hung or unready instance from a "
            "healthy one. Add GET /healthz (liveness) and GET /readyz (readiness)",
            confidence=_confidence(project),
        )
