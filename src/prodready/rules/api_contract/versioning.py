"""API contract: routes without a version prefix (API003)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    argument,
    constant_str,
    dotted,
    is_example_code,
    keyword_value,
    walk_body,
)

# -- API003 ---------------------------------------------------------------------------------------

_VERSION_SEGMENT = re.compile(
    r"^(v\d+([._]\d+)*|api-?v\d+|version-?\d+|\d{4}-\d{2}-\d{2}|[{<][^}>]*version[^}>]*[}>])$",
    re.IGNORECASE,
)
_UNVERSIONED_OK = re.compile(
    r"^/?(health\w*|livez|readyz|ready|live|ping|status|metrics|docs|redoc|openapi\.json|"
    r"swagger[\w./-]*|favicon\.ico|robots\.txt|\.well-known|static|version|webhooks?|"
    r"callback|oauth\w*|login|logout|auth)(/.*)?$",
    re.IGNORECASE,
)
_ROUTE_ADDERS = frozenset({"add_api_route", "add_url_rule", "add_route"})
_API_APPS = frozenset(
    {"fastapi.FastAPI", "fastapi.applications.FastAPI", "flask.Flask", "quart.Quart"}
)
_API_ROUTERS = frozenset(
    {"fastapi.APIRouter", "fastapi.routing.APIRouter", "flask.Blueprint", "quart.Blueprint"}
)
_HTML_MARKERS = ("render_template", "TemplateResponse", "HTMLResponse", "render", "redirect")


def _versioned(path: str) -> bool:
    return any(_VERSION_SEGMENT.match(segment) for segment in path.split("/") if segment)


class _Versioning:
    """Routes per receiver and what the module says about its prefixes."""

    __slots__ = ("html", "includes", "routes")

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[ast.AST, str]]] = {}
        # receiver name -> prefixes it is included/mounted under here (None: not literal)
        self.includes: dict[str, list[str | None]] = {}
        self.html: set[str] = set()  # handlers (function names) that render pages


_VERSIONING: ModuleMemo[_Versioning] = ModuleMemo("API003:versioning", lambda _: _Versioning())


@python_rule(
    code="API003",
    name="route-without-version-prefix",
    category=Category.API_CONTRACT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Public API routes without a version prefix (/v1/...): no way to evolve safely",
    calls=tuple(f"*.{m}" for m in (*_ROUTE_ADDERS, "include_router", "register_blueprint")),
    nodes=(FunctionEnd, ModuleEnd),
    fix='Serve the API under a version prefix, e.g. APIRouter(prefix="/v1").',
)
def route_without_version_prefix(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    For services whose profile says `exposure = "public"`, flags FastAPI/Flask apps, routers
    and blueprints created in the module whose API routes have no version segment (`/v1/`,
    `/api/v2/`) in the route path, the router's `prefix=`/`url_prefix=`, or the prefix they are
    included under. Probes, metrics, docs, auth callbacks, webhooks and HTML pages are exempt;
    routers included elsewhere (whose final prefix is unknown here) are not judged.

    ## Why it breaks production
    Public clients -- mobile apps that are never updated, partner integrations, SDKs -- keep
    calling the API for years. Without a version in the path, every breaking change (a renamed
    field, a stricter validation) breaks them all at once, and there is no way to run the old
    and the new contract side by side while clients migrate.

    ## Example
    ```python
    router = APIRouter(prefix="/orders")
    app.include_router(router)
    ```

    ## Use instead
    ```python
    router = APIRouter(prefix="/orders")
    app.include_router(router, prefix="/v1")
    ```
    """
    if ctx.profile.exposure != "public" or ctx.facts.is_test or is_example_code(ctx):
        return
    state = ctx.memo(_VERSIONING)
    if isinstance(node, ast.Call):
        _record_versioning_call(node, state)
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        _record_route(node, state, ctx)
    elif isinstance(node, ast.Module) and state.routes:
        _judge_versioning(node, state, ctx)


def _record_versioning_call(node: ast.Call, state: _Versioning) -> None:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    receiver = dotted(func.value)
    if receiver is None:
        return
    if func.attr in _ROUTE_ADDERS:
        path = constant_str(argument(node, 0, "path") or argument(node, 0, "rule"))
        if path is not None:
            state.routes.setdefault(receiver, []).append((node, path))
        return
    included = dotted(node.args[0]) if node.args else None
    if included is None:
        return
    prefix_expr = keyword_value(node, "prefix") or keyword_value(node, "url_prefix")
    prefix = "" if prefix_expr is None else constant_str(prefix_expr)
    state.includes.setdefault(included, []).append(prefix)


def _record_route(
    node: ast.FunctionDef | ast.AsyncFunctionDef, state: _Versioning, ctx: PythonContext
) -> None:
    scope = ctx.function
    if scope is None or scope.node is not node or scope.route is None:
        return
    for decorator in node.decorator_list:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            continue
        if decorator.func.attr == "websocket":
            return
        receiver = dotted(decorator.func.value)
        path = constant_str(argument(decorator, 0, "path") or argument(decorator, 0, "rule"))
        if receiver is None or path is None:
            continue
        if _renders_html(node, decorator, ctx):
            return
        state.routes.setdefault(receiver, []).append((decorator, path))
        return


def _renders_html(
    node: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.Call, ctx: PythonContext
) -> bool:
    response_class = dotted(keyword_value(decorator, "response_class")) or ""
    if "HTML" in response_class or "Redirect" in response_class:
        return True
    for item in walk_body(node.body):
        if isinstance(item, ast.Call):
            name = (dotted(item.func) or "").rsplit(".", 1)[-1]
            if name in _HTML_MARKERS:
                return True
    return False


def _constructions(tree: ast.Module, ctx: PythonContext) -> dict[str, ast.Call]:
    """Top-level ``name = FastAPI(...)`` / ``APIRouter(...)`` / ``Flask(...)`` / ``Blueprint``."""
    found: dict[str, ast.Call] = {}
    for statement in tree.body:
        if not isinstance(statement, ast.Assign | ast.AnnAssign):
            continue
        value = statement.value
        if not isinstance(value, ast.Call):
            continue
        kind = ctx.qualname(value.func)
        if kind not in _API_APPS and kind not in _API_ROUTERS:
            continue
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = value
    return found


def _judge_versioning(tree: ast.Module, state: _Versioning, ctx: PythonContext) -> None:
    built = _constructions(tree, ctx)
    for receiver, routes in state.routes.items():
        construction = built.get(receiver)
        if construction is None:
            continue  # an app/router from elsewhere: its final prefix is unknown here
        is_app = ctx.qualname(construction.func) in _API_APPS
        own_expr = keyword_value(construction, "prefix") or keyword_value(
            construction, "url_prefix"
        )
        own = "" if own_expr is None else constant_str(own_expr)
        if own is None or _versioned(own):
            continue
        includes = state.includes.get(receiver)
        if includes is None and not is_app:
            continue  # a router included elsewhere, maybe under /v1
        if includes and any(prefix is None or _versioned(prefix) for prefix in includes):
            continue
        unversioned = [
            path
            for _, path in routes
            if not _versioned(path) and path.strip("/") and not _UNVERSIONED_OK.match(path)
        ]
        if not unversioned:
            continue
        example = (own or "") + unversioned[0]
        ctx.report(
            construction,
            f"{len(unversioned)} public route(s) on '{receiver}' have no version prefix "
            f"(e.g. {example}): breaking changes will break every client at once. Serve them "
            'under /v1 (prefix="/v1" on the router or include_router)',
        )
