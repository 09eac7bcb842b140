"""Security: admin routes without authentication (SEC030, project rule)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)
from prodready.rules._service import (
    _APP_CALLS,
    _NOT_SERVICE_DIRS,
    _ROUTER_FACTORIES,
    _apps,
    _by_path,
    _evidence,
    _in_dirs,
    _marks,
    _Modules,
    _with_django,
)
from prodready.rules.security._admin_auth_evidence import _collect_sec030

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
_APP_TYPES = frozenset({"fastapi.FastAPI", "flask.Flask", "quart.Quart", "sanic.Sanic"})


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
      on the `include_router(...)` that mounts it or on the app, no identity dependency as a
      class attribute (`user = Depends(get_admin_user)`) of its class-based controller or of
      a base class of it at any depth;
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
    routers: dict[str, list[Evidence]] = {}
    for item in _marks(evidence, "router"):
        routers.setdefault(item.path, []).append(item)
    if any(
        router.flag("app") and router.flag("auth") for items in routers.values() for router in items
    ):
        return []  # FastAPI(dependencies=[auth]): every route of the app
    # Where routers are mounted: the prefix applies to the module that exactly defines the
    # included router; auth applies to any module the name may refer to (precision first).
    include_prefixes: dict[str, list[tuple[str, str]]] = {}  # module -> (prefix, router name)
    guarded: set[str] = {
        path for path, items in routers.items() if any(r.flag("auth") for r in items)
    }
    for item in _marks(evidence, "include"):
        target = _router_module(item.text("target"))
        exact = modules.exactly(target) if target else {item.path}
        if item.flag("auth"):
            broad = modules.modules_named(target) if target else {item.path}
            if not broad:
                return []  # auth on a router we cannot find: it may guard any route
            guarded |= broad | exact
        for path in exact:
            mounted = item.text("target").rsplit(".", 1)[-1]
            include_prefixes.setdefault(path, []).append((item.text("prefix"), mounted))
    found: list[_Candidate] = []
    authed_classes = _authenticating_classes(evidence)
    for path, route in project.routes():
        if route.framework == "django" or _in_dirs(path, _NOT_SERVICE_DIRS):
            continue
        own = route.path
        if own is None:
            continue
        marks = by_path.get(path, [])
        authed = {item.line for item in _marks(marks, "authed")}
        authed |= {i.line for i in _marks(marks, "class-route") if i.name in authed_classes}
        if route.line in authed:
            continue
        # The module that defines the router the route is declared on (``from . import bp``).
        receiver = _router_module(route.receiver or "")
        if receiver and (modules.modules_named(receiver) & guarded):
            continue
        owners = (modules.exactly(receiver) if receiver else set()) or {path}
        if owners & guarded:
            continue
        prefix = ""
        local = [r for owner in owners for r in routers.get(owner, []) if not r.flag("app")]
        if route.receiver not in _APP_TYPES and local:
            prefixes = [r.text("prefix") for r in local]
            if len(prefixes) == 1 or all(_ADMIN_PATH.search(p) for p in prefixes):
                prefix = prefixes[0]
        mounts = _mounts(owners, include_prefixes, _route_objects(marks, route.line))
        full_paths = [mount + prefix + own for mount in mounts]
        admin = [p for p in full_paths if _ADMIN_PATH.search(p) and not _PUBLIC_PATH.search(p)]
        if admin:
            framework = "flask" if route.framework in ("flask", "quart") else "fastapi"
            methods = "/".join(route.methods or ["ANY"])
            found.append(_Candidate(path, route.line, f"{methods} {admin[0]}", framework))
    return found


def _route_objects(marks: list[Evidence], line: int) -> set[str]:
    return {item.name for item in _marks(marks, "route-on") if item.line == line}


def _mounts(
    owners: set[str], include_prefixes: dict[str, list[tuple[str, str]]], declared_on: set[str]
) -> list[str]:
    """The prefixes the route's router is mounted at: those of the includes of the very
    router/blueprint object the route is declared on when the module's includes name it (a
    module may define a public and an admin router mounted apart), else every mount of the
    module."""
    mounts = [mount for owner in owners for mount in include_prefixes.get(owner, [])]
    own = [prefix for prefix, mounted in mounts if mounted in declared_on]
    return own or [prefix for prefix, _ in mounts] or [""]


def _authenticating_classes(evidence: list[Evidence]) -> set[str]:
    """Controller classes whose routes need an authenticated caller: those declaring an
    identity dependency as a class attribute, and their subclasses at any depth (by bare
    name, precision first: a same-named class elsewhere counts too)."""
    authed = {item.name for item in _marks(evidence, "authed-class")}
    bases: dict[str, set[str]] = {}
    for item in _marks(evidence, "subclass"):
        bases.setdefault(item.name, set()).add(item.text("base"))
    grew = True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in authed and parents & authed:
                authed.add(name)
                grew = True
    return authed


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
    open_views = {item.name: item for item in _marks(evidence, "open-view")}
    by_path = _by_path(evidence)
    prefixes = _django_prefixes(_marks(evidence, "include-urls"), modules)
    found: list[_Candidate] = []
    for item in urls:
        if _in_dirs(item.path, _NOT_SERVICE_DIRS):
            continue
        route = item.text("path")
        full = [(prefix + route).replace("^", "") for prefix in prefixes.get(item.path, [""])]
        admin = [p for p in full if _ADMIN_PATH.search(p) and not _PUBLIC_PATH.search(p)]
        if not admin:
            continue
        view = item.text("view")
        if item.text("view_type") == "class":
            found_view = _lookup(open_views, view)
            if found_view is None:
                continue  # authenticated, or a view we cannot see
            if found_view.flag("drf") and drf_global and not found_view.flag("allow_any"):
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
            route = item.text("path")
            for target in modules.exactly(item.text("module")):
                for outer in prefixes.get(item.path, [""]):
                    combined = outer + route
                    if combined not in prefixes.setdefault(target, []):
                        prefixes[target].append(combined)
                        changed = True
        if not changed:
            break
    return prefixes


def _lookup(views: dict[str, Evidence], name: str) -> Evidence | None:
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
        facts = project.modules.get(path)
        for route in facts.routes if facts is not None else ():
            if route.function != function:
                continue
            marks = by_path.get(path, [])
            if route.line in {item.line for item in _marks(marks, "authed")}:
                return False
            allow_any = route.line in {item.line for item in _marks(marks, "allow-any")}
            drf = any(name.endswith("api_view") for name in route.decorators)
            return not (drf and drf_global and not allow_any)
    return False
