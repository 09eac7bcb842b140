"""Route detection: which functions are web handlers (Flask, FastAPI, Django, aiohttp...)."""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from prodready.engine.facts import (
    DJANGO_METHOD_DECORATORS,
    HTTP_VERBS,
    ROUTE_DECORATOR_METHODS,
    ROUTER_TYPES,
    VIEWSET_ACTIONS,
    Route,
    framework_of,
)
from prodready.engine.python.module_context import PythonContext
from prodready.engine.python.scopes import ClassInfo, FunctionNode


def _all_args(node: FunctionNode) -> list[ast.arg]:
    arguments = node.args
    return [
        *arguments.posonlyargs,
        *arguments.args,
        *arguments.kwonlyargs,
        *(extra for extra in (arguments.vararg, arguments.kwarg) if extra),
    ]


def _is_views_module(relpath: str) -> bool:
    parts = relpath.split("/")
    return parts[-1] in {"views.py", "viewsets.py", "api.py"} or "views" in parts[:-1]


def _keyword(call: ast.Call | None, name: str) -> ast.expr | None:
    if call is None:
        return None
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _route_path(call: ast.Call | None) -> str | None:
    if call is None:
        return None
    candidate = call.args[0] if call.args else _keyword(call, "path") or _keyword(call, "rule")
    if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
        return candidate.value
    return None


def _string_list(node: ast.expr) -> tuple[str, ...]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return tuple(
            element.value.upper()
            for element in node.elts
            if isinstance(element, ast.Constant) and isinstance(element.value, str)
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value.upper(),)
    return ()


def _framework_of_router(receiver: str | None) -> str | None:
    if receiver is None:
        return None
    return framework_of(receiver)


_AIOHTTP_ROUTE_FUNCTIONS = {f"aiohttp.web.{verb}": verb.upper() for verb in HTTP_VERBS}


# A cheap look at the source before walking the module for registration calls.
REGISTERS_ROUTES = re.compile(
    r"\badd_(?:get|post|put|patch|delete|head|options|route)\(|\.(?:get|post|put|patch|delete|route)\(\s*['\"]/"
)


_AIOHTTP_ROUTER_METHODS = {f"add_{verb}": verb.upper() for verb in HTTP_VERBS}


def aiohttp_registrations(tree: ast.Module, ctx: PythonContext) -> dict[str, Route]:
    """Handlers that aiohttp registers by call, anywhere in the module (often inside a
    ``create_app()`` factory): ``app.router.add_get("/p", handler)``,
    ``app.router.add_route("POST", "/p", handler)``, ``web.post("/p", handler)`` and
    ``web.route("GET", "/p", handler)`` in ``app.add_routes([...])``. Only handlers given by
    the name of a module-level function are kept."""
    found: dict[str, Route] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        method: str | None = None
        args = node.args
        receiver: str | None = None
        if isinstance(func, ast.Attribute) and func.attr in _AIOHTTP_ROUTER_METHODS:
            method = _AIOHTTP_ROUTER_METHODS[func.attr]
            receiver = ctx.qualname(func.value)
        elif isinstance(func, ast.Attribute) and func.attr == "add_route" and len(args) >= 3:
            method = _constant_upper(args[0])
            args = args[1:]
            receiver = ctx.qualname(func.value)
        else:
            name = ctx.qualname(func) or ""
            if name in _AIOHTTP_ROUTE_FUNCTIONS:
                method = _AIOHTTP_ROUTE_FUNCTIONS[name]
            elif name == "aiohttp.web.route" and len(args) >= 3:
                method = _constant_upper(args[0])
                args = args[1:]
            else:
                continue
        if method is None or not isinstance(args[1], ast.Name):
            continue
        path = args[0].value if isinstance(args[0], ast.Constant) else None
        methods = None if method == "*" else (method,)
        found[args[1].id] = Route(
            args[1].id,
            node.lineno,
            "aiohttp",
            methods,
            path if isinstance(path, str) else None,
            receiver,
        )
    return found


def _constant_upper(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value.upper()
    return None


def detect_route(
    ctx: PythonContext,
    node: FunctionNode,
    class_info: ClassInfo | None,
    registered: dict[str, Route],
) -> Route | None:
    """The route ``node`` handles, if it is a web handler (``registered``: the module's handlers
    that aiohttp registers by call)."""
    route = _route(ctx, node, class_info, registered)
    if route is not None:
        route.decorators = tuple(
            name
            for decorator in node.decorator_list
            if (name := ctx.qualname(decorator)) is not None
        )
        route.dependencies = tuple(_dependencies(ctx, node))
    return route


def _dependencies(ctx: PythonContext, node: FunctionNode) -> list[str]:
    """What FastAPI injects: ``Depends(f)``/``Security(f)`` in parameter defaults,
    ``Annotated[..., Depends(f)]`` and the decorator's ``dependencies=[...]``."""
    places: list[ast.AST] = list(node.args.defaults)
    places.extend(default for default in node.args.kw_defaults if default is not None)
    places.extend(arg.annotation for arg in _all_args(node) if arg.annotation is not None)
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            places.extend(k.value for k in decorator.keywords if k.arg == "dependencies")
    found: list[str] = []
    for place in places:
        for item in ast.walk(place):
            if not isinstance(item, ast.Call) or not item.args:
                continue
            injector = ctx.qualname(item.func) or ""
            if injector.endswith((".Depends", ".Security")) or injector in {
                "Depends",
                "Security",
            }:
                target = ctx.qualname(item.args[0])
                if target is not None:
                    found.append(target)
    return found


def _route(
    ctx: PythonContext,
    node: FunctionNode,
    class_info: ClassInfo | None,
    registered: dict[str, Route],
) -> Route | None:
    for decorator in node.decorator_list:
        route = route_from_decorator(ctx, node, decorator)
        if route is not None:
            return route
    if class_info is not None and class_info.is_view:
        method = node.name.lower()
        if method in HTTP_VERBS:
            return Route(node.name, node.lineno, "django", (method.upper(),), None)
        if method in VIEWSET_ACTIONS:
            return Route(node.name, node.lineno, "django", (VIEWSET_ACTIONS[method],), None)
        return None
    if ctx.function is None and class_info is None and node.name in registered:
        return replace(registered[node.name], line=node.lineno)
    if (
        ctx.function is None
        and class_info is None
        and "django" in ctx.facts.frameworks
        and _is_views_module(ctx.path)
    ):
        args = node.args.posonlyargs + node.args.args
        if args and args[0].arg == "request":
            return Route(node.name, node.lineno, "django", None, None)
    return None


def route_from_decorator(
    ctx: PythonContext, node: FunctionNode, decorator: ast.expr
) -> Route | None:
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call is not None else decorator
    qualified = ctx.qualname(target)
    if qualified is None:
        return None
    if qualified in DJANGO_METHOD_DECORATORS:
        return Route(node.name, node.lineno, "django", DJANGO_METHOD_DECORATORS[qualified], None)
    if call is not None and qualified in {
        "django.views.decorators.http.require_http_methods",
        "rest_framework.decorators.api_view",
    }:
        allowed = _string_list(call.args[0]) if call.args else ("GET",)
        return Route(node.name, node.lineno, "django", allowed, None)
    if not isinstance(target, ast.Attribute) or target.attr not in ROUTE_DECORATOR_METHODS:
        return None
    receiver = ctx.qualname(target.value)
    path = _route_path(call)
    framework = ctx.facts.framework
    known_router = receiver in ROUTER_TYPES
    if not known_router:
        # An imported app/router (``from .app import router``): trust the decorator shape
        # only in modules that use a web framework and with a literal path.
        if framework is None or path is None or not path.startswith("/"):
            return None
    else:
        framework = _framework_of_router(receiver) or framework
    method = target.attr
    methods: tuple[str, ...] | None
    if method in HTTP_VERBS:
        methods = (method.upper(),)
    elif method == "websocket":
        methods = ("GET",)
    else:
        listed = _keyword(call, "methods")
        methods = _string_list(listed) if listed is not None else ("GET",)
    return Route(node.name, node.lineno, framework or "unknown", methods, path, receiver)
