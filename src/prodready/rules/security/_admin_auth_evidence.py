"""Security: the evidence SEC030 gathers from each file as it is walked (routes, views, URL
confs, auth decorators, dependencies, hooks and middleware)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Mark, PythonContext
from prodready.plugin.analysis import ROUTE_DECORATOR_METHODS, constant_str, dotted, keyword_value
from prodready.rules._service import _ROUTER_FACTORIES, Found

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


def authenticating_class(node: ast.ClassDef, ctx: PythonContext) -> bool:
    """A class-based controller whose class attribute injects the caller's identity
    (``user: User = Depends(get_current_user)``): FastAPI class-based views (fastapi-utils
    ``@cbv`` and the like) resolve it for every route of the class and its subclasses."""
    for statement in node.body:
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        if not (isinstance(value, ast.Call) and value.args):
            continue
        if (ctx.qualname(value.func) or dotted(value.func) or "").rsplit(".", 1)[-1] not in (
            "Depends",
            "Security",
        ):
            continue
        target = value.args[0]
        name = ctx.qualname(target.func if isinstance(target, ast.Call) else target)
        if _auth_name((name or dotted(target) or "").rsplit(".", 1)[-1]):
            return True
    return False


def auth_dependencies(expr: ast.expr | None, ctx: PythonContext) -> bool:
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
        return [Mark.of("authed", node.lineno)]
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or ""
        if isinstance(decorator, ast.Call) and auth_dependencies(
            keyword_value(decorator, "dependencies"), ctx
        ):
            return [Mark.of("authed", node.lineno)]
        if (
            name.endswith("permission_classes")
            and isinstance(decorator, ast.Call)
            and ("AllowAny" in ast.dump(decorator) or not _has_elements(decorator))
        ):
            return [Mark.of("allow-any", node.lineno)]
        if _auth_name(name):
            return [Mark.of("authed", node.lineno)]
    if route.framework in ("fastapi", "starlette"):
        for param in scope.params:
            annotation = ast.unparse(param.annotation) if param.annotation is not None else ""
            if _AUTH_PARAM.search(param.arg) or (
                _AUTH_ANNOTATION.search(annotation) and not _SCHEMA_SUFFIX.search(annotation)
            ):
                return [Mark.of("authed", node.lineno)]
    body = "\n".join(ctx.lines[node.body[0].lineno - 1 : node.end_lineno or node.lineno])
    if _AUTH_CHECK.search(body):
        return [Mark.of("authed", node.lineno)]
    return None


_ROUTE_DECORATORS = frozenset(
    {"route", "api_route", "get", "post", "put", "patch", "delete", "head", "options"}
)


def _route_object(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The bare name of the router/blueprint a route is declared on (``bp`` of ``@bp.get``)."""
    for decorator in node.decorator_list:
        func = decorator.func if isinstance(decorator, ast.Call) else None
        if isinstance(func, ast.Attribute) and func.attr in _ROUTE_DECORATORS:
            return (dotted(func.value) or "").rsplit(".", 1)[-1]
    return ""


def _has_elements(call: ast.Call) -> bool:
    return any(not isinstance(arg, ast.List | ast.Tuple) or arg.elts for arg in call.args)


_VIEW_BASES = (
    "django.views",
    "rest_framework.views",
    "rest_framework.generics",
    "rest_framework.viewsets",
)


def _view_class(node: ast.ClassDef, ctx: PythonContext) -> Mark | None:
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
    return Mark.of("open-view", node.lineno, name=name, drf=drf, allow_any=allow_any)


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
                found.append(Mark.of("include-urls", node.lineno, path=route, module=module))
            continue
        kind = "function"
        if isinstance(view, ast.Call) and isinstance(view.func, ast.Attribute):
            if view.func.attr != "as_view":
                continue
            view, kind = view.func.value, "class"
        name = ctx.qualname(view)
        if name and "admin.site" not in name:
            found.append(Mark.of("url", node.lineno, path=route, view=name, view_type=kind))
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
        found.append(Mark.of("global", 1))
    if not any(hint in source for hint in _SEC030_HINTS):
        return found
    # the module's nodes in ast.walk order, listed once for every rule that walks it
    for node in ctx.nodes() if module is ctx.tree else ast.walk(module):
        if isinstance(node, ast.Call):
            found.extend(_call_marks(node, ctx))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if constant_str(key) == "DEFAULT_PERMISSION_CLASSES" and (
                    "AllowAny" not in ast.dump(value)
                ):
                    found.append(Mark.of("drf-global", node.lineno))
    return found


def _controller_marks(node: ast.ClassDef, ctx: PythonContext) -> Found:
    """A class whose class attribute injects the caller's identity, and the bases of each
    class (bare names: a base may be imported through a re-exporting package), so that the
    routes of a class-based controller inherit the authentication of its bases."""
    found: Found = []
    if authenticating_class(node, ctx):
        found.append(Mark.of("authed-class", node.lineno, name=node.name))
    for base in node.bases:
        name = (dotted(base) or "").rsplit(".", 1)[-1]
        if name and name != "object":
            found.append(Mark.of("subclass", node.lineno, name=node.name, base=name))
    return found


def _class_marks(node: ast.ClassDef, ctx: PythonContext) -> Found | None:
    """An authenticating middleware class, or a class-based view that does not authenticate."""
    controller = _controller_marks(node, ctx)
    marks = _middleware_or_view_marks(node, ctx)
    return [*controller, *(marks or [])] or None


def _middleware_or_view_marks(node: ast.ClassDef, ctx: PythonContext) -> Found | None:
    if node.name.endswith("Middleware"):
        if _AUTH_CHECK.search(_text(node, ctx)):
            return [Mark.of("global", node.lineno)]
        return None
    view = _view_class(node, ctx)
    return [view] if view is not None else None


def _call_marks(node: ast.Call, ctx: PythonContext) -> Found:
    name = ctx.qualname(node.func) or ""
    method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    if name in _ROUTER_FACTORIES:
        prefix = constant_str(keyword_value(node, "prefix") or keyword_value(node, "url_prefix"))
        auth = auth_dependencies(keyword_value(node, "dependencies"), ctx)
        app = _ROUTER_FACTORIES[name]
        return [Mark.of("router", node.lineno, prefix=prefix, auth=auth, app=app)]
    if method in ("include_router", "register_blueprint") and node.args:
        target = node.args[0]
        prefix = constant_str(keyword_value(node, "prefix") or keyword_value(node, "url_prefix"))
        auth = auth_dependencies(keyword_value(node, "dependencies"), ctx)
        included = ctx.qualname(target) or dotted(target) or ""
        return [Mark.of("include", node.lineno, target=included, prefix=prefix, auth=auth)]
    if (method == "add_middleware" or name.endswith("middleware.Middleware")) and node.args:
        middleware = ctx.qualname(node.args[0]) or dotted(node.args[0]) or ""
        if _AUTH_MIDDLEWARE.search(middleware.rsplit(".", 1)[-1]):
            return [Mark.of("global", node.lineno)]
    if method in ("before_request", "before_app_request") and node.args:
        hook = dotted(node.args[0]) or ""
        if _AUTH_MIDDLEWARE.search(hook):
            return [Mark.of("global", node.lineno)]
    return []


def _collect_sec030(node: ast.AST, ctx: PythonContext) -> Found | None:
    if isinstance(node, ast.Module):
        return _structure_marks(node, ctx)
    if isinstance(node, ast.ClassDef):
        return _class_marks(node, ctx)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if node.decorator_list and _auth_hook(node, ctx):
            return [Mark.of("global", node.lineno)]
        marks = _route_marks(node, ctx) or []
        declared_on = _route_object(node)
        if declared_on:
            # which of the module's routers/blueprints: each may be mounted at its own prefix
            marks.append(Mark.of("route-on", node.lineno, name=declared_on))
        scope = ctx.function
        if ctx.classes and scope is not None and scope.node is node and scope.route is not None:
            # a route method of a class-based controller: its class may authenticate it
            marks.append(Mark.of("class-route", node.lineno, name=ctx.classes[-1].node.name))
        return marks or None
    return None
