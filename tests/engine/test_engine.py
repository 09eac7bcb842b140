"""The Python engine: name resolution, facts, dispatch, rule isolation."""

from __future__ import annotations

import ast
import textwrap
from typing import Any

from prodready.engine.pipeline import FileAnalyzer
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonAnalyzer, PythonContext
from prodready.engine.registry import Registry, RulePack, python_rule
from prodready.model import Category, FileKind, Profile, Severity


def _analyze(source: str, rules: list[Any], path: str = "app/service.py") -> PythonContext:
    text = textwrap.dedent(source)
    return PythonAnalyzer(rules).analyze(text, ast.parse(text), path, Profile())


def _call_names(source: str, path: str = "app/service.py") -> list[str | None]:
    seen: list[str | None] = []

    @python_rule(
        code="TST001",
        name="record-calls",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        nodes=(ast.Call,),
    )
    def record(node: ast.Call, ctx: PythonContext) -> None:
        seen.append(ctx.call_name)

    _analyze(source, [record], path)
    return seen


def test_import_aliases_resolve_to_qualified_names() -> None:
    names = _call_names(
        """
        import requests as r
        import os.path
        from requests import get as fetch
        from httpx import AsyncClient
        import xml.etree.ElementTree as ET

        r.get("u")
        fetch("u")
        os.path.join("a", "b")
        AsyncClient()
        ET.fromstring("<a/>")
        print("x")
        """
    )
    assert names == [
        "requests.get",
        "requests.get",
        "os.path.join",
        "httpx.AsyncClient",
        "xml.etree.ElementTree.fromstring",
        "builtins.print",
    ]


def test_instances_resolve_through_assignment_with_and_self() -> None:
    names = _call_names(
        """
        import requests, httpx

        class Client:
            def __init__(self):
                self.http = requests.Session()

            def ping(self):
                self.http.get("u")

        def run(client: httpx.Client):
            s = requests.Session()
            s.post("u")
            with httpx.Client() as c:
                c.get("u")
            client.delete("u")
        """
    )
    assert "requests.Session.get" in names
    assert "requests.Session.post" in names
    assert "httpx.Client.get" in names
    assert "httpx.Client.delete" in names


def test_a_call_is_checked_once_per_rule_with_the_constructed_type() -> None:
    """``redis.Redis.from_url(...)`` builds a ``redis.Redis``: its methods resolve to
    ``redis.Redis.get``, and a rule that subscribes to overlapping patterns runs once per call
    (PRF006 reported each read twice)."""
    seen: list[tuple[int, str | None]] = []

    @python_rule(
        code="TST002",
        name="record-redis-calls",
        category=Category.PERFORMANCE,
        severity=Severity.LOW,
        summary="test",
        calls=("redis.Redis.*", "redis.Redis.from_url.*", "redis.Redis.from_url.get", "*.get"),
    )
    def record(node: ast.Call, ctx: PythonContext) -> None:
        seen.append((node.lineno, ctx.call_name))

    _analyze(
        """
        import os, redis
        cache = redis.Redis.from_url(os.environ["REDIS_URL"])

        def view():
            local = redis.Redis.from_url(os.environ["REDIS_URL"])
            cache.get("a")
            local.hgetall("b")
            redis.Redis.from_url(os.environ["REDIS_URL"]).get("c")
        """,
        [record],
    )
    assert seen == [
        (3, "redis.Redis.from_url"),
        (6, "redis.Redis.from_url"),
        (7, "redis.Redis.get"),
        (8, "redis.Redis.hgetall"),
        (9, "redis.Redis.from_url.get"),
        (9, "redis.Redis.from_url"),
    ]


def test_shadowing_restores_the_raw_name() -> None:
    names = _call_names(
        """
        def print(*args):
            pass

        def run(open):
            print("x")
            open("f")
        """
    )
    assert names == ["print", "open"]


def test_relative_imports_resolve_against_the_module() -> None:
    names = _call_names(
        "from .models import Order\nfrom ..core import db\nOrder()\ndb.run()\n",
        path="src/shop/api/views.py",
    )
    assert names == ["shop.api.models.Order", "shop.core.db.run"]


def test_route_detection_across_frameworks() -> None:
    ctx = _analyze(
        """
        from fastapi import FastAPI, APIRouter
        from flask import Flask, Blueprint

        app = FastAPI()
        router = APIRouter()
        web = Flask(__name__)
        bp = Blueprint("b", __name__)

        @app.get("/items/{id}")
        async def read(id: int): ...

        @router.post("/orders")
        def create(): ...

        @web.route("/pay", methods=["POST", "PUT"])
        def pay(): ...

        @bp.route("/health")
        def health(): ...

        @app.api_route("/x", methods=["PATCH"])
        def x(): ...

        def helper(): ...
        """,
        [],
    )
    routes = {(r.function, r.methods, r.path, r.framework) for r in ctx.facts.routes}
    assert routes == {
        ("read", ("GET",), "/items/{id}", "fastapi"),
        ("create", ("POST",), "/orders", "fastapi"),
        ("pay", ("POST", "PUT"), "/pay", "flask"),
        ("health", ("GET",), "/health", "flask"),
        ("x", ("PATCH",), "/x", "fastapi"),
    }
    assert ctx.facts.async_functions == [("read", 11)]


def test_django_views_and_viewsets_are_routes() -> None:
    ctx = _analyze(
        """
        from django.http import JsonResponse
        from django.views import View
        from django.views.decorators.http import require_POST
        from rest_framework import viewsets

        def index(request):
            return JsonResponse({})

        @require_POST
        def submit(request): ...

        def _helper(x): ...

        class OrderView(View):
            def post(self, request): ...
            def helper(self): ...

        class OrderViewSet(viewsets.ModelViewSet):
            def create(self, request): ...
        """,
        [],
        path="shop/views.py",
    )
    routes = {(r.function, r.methods) for r in ctx.facts.routes}
    assert routes == {
        ("index", None),
        ("submit", ("POST",)),
        ("post", ("POST",)),
        ("create", ("POST",)),
    }


def test_module_facts() -> None:
    ctx = _analyze(
        """
        import argparse
        from collections import defaultdict
        SESSIONS = {}
        CARTS = defaultdict(list)
        LIMIT = 10
        if __name__ == "__main__":
            pass
        """,
        [],
    )
    assert set(ctx.facts.mutable_globals) == {"SESSIONS", "CARTS"}
    assert ctx.facts.has_main_guard
    assert "LIMIT" in ctx.facts.constants


def test_walk_context_loops_handlers_and_events() -> None:
    events: list[tuple[str, int, int, bool]] = []

    @python_rule(
        code="TST002",
        name="record-context",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        calls=("*.fetch",),
        nodes=(FunctionEnd, ModuleEnd),
    )
    def record(node: ast.AST, ctx: PythonContext) -> None:
        kind = type(node).__name__
        events.append((kind, len(ctx.loops), len(ctx.handlers), ctx.in_async))

    _analyze(
        """
        async def run(client, items):
            for item in items:
                client.fetch(item)
            try:
                pass
            except Exception:
                client.fetch(1)
            [client.fetch(i) for i in items]
        """,
        [record],
    )
    assert events == [
        ("Call", 1, 0, True),
        ("Call", 0, 1, True),
        ("Call", 1, 0, True),
        ("AsyncFunctionDef", 0, 0, True),
        ("Module", 0, 0, False),
    ]


def test_a_crashing_rule_becomes_an_error_and_others_still_report() -> None:
    @python_rule(
        code="TST003",
        name="always-crashes",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        calls=("builtins.print",),
    )
    def crash(node: ast.Call, ctx: PythonContext) -> None:
        raise KeyError("boom")

    @python_rule(
        code="TST004",
        name="reports-print",
        category=Category.OBSERVABILITY,
        severity=Severity.LOW,
        summary="test",
        calls=("builtins.print",),
    )
    def report(node: ast.Call, ctx: PythonContext) -> None:
        ctx.report(node, "print found")

    registry = Registry([RulePack("test", [crash, report])])
    analyzer = FileAnalyzer(list(registry), Profile())
    result = analyzer.analyze_bytes(b"print(1)\n", "x.py", FileKind.PYTHON)
    assert [f.rule for f in result.findings] == ["TST004"]
    assert len(result.errors) == 1
    assert "internal error in rule TST003" in result.errors[0].message
    assert result.errors[0].line == 1


def test_pack_clash_is_reported() -> None:
    @python_rule(
        code="RES001",
        name="other-rule",
        category=Category.STATE,
        severity=Severity.LOW,
        summary="x",
        nodes=(ast.Call,),
    )
    def clash(node: ast.Call, ctx: PythonContext) -> None: ...

    import pytest

    from prodready.catalog import PackLoadError, load_packs

    with pytest.raises(PackLoadError, match="clashes with RES001"):
        Registry([*load_packs(plugins=False), RulePack("acme", [clash])])


def test_selection_by_code_prefix_name_and_category(registry: Registry) -> None:
    import pytest

    from prodready.model import Config, ConfigError

    assert {r.code for r in registry.select(Config(select=("RES001",)))} == {"RES001"}
    assert {r.code for r in registry.select(Config(select=("http-call-without-timeout",)))} == {
        "RES001"
    }
    assert all(
        r.category.value == "resilience" for r in registry.select(Config(select=("resilience",)))
    )
    assert all(r.code.startswith("RES") for r in registry.select(Config(select=("RES",))))
    chosen = registry.select(Config(select=("ALL",), ignore=("RES001",)))
    assert "RES001" not in {r.code for r in chosen} and chosen
    with pytest.raises(ConfigError, match="'NOPE999' names no rule"):
        registry.select(Config(select=("NOPE999",)))
    with pytest.raises(ConfigError, match="per-path-ignores"):
        registry.select(Config(per_path_ignores=(("tests/**", ("bogus",)),)))


def test_concrete_classes_with_deprecated_subclasses_dispatch() -> None:
    seen: list[object] = []

    @python_rule(
        code="TST005",
        name="record-constants",
        category=Category.SECURITY,
        severity=Severity.LOW,
        summary="test",
        nodes=(ast.Constant, ast.stmt),
    )
    def record(node: ast.AST, ctx: PythonContext) -> None:
        seen.append(node.value if isinstance(node, ast.Constant) else type(node).__name__)

    _analyze("x = 'secret'\nreturn_value = 3\n", [record])
    # Assignments are dispatched in evaluation order: the value first, then the statement.
    assert seen == ["secret", "Assign", 3, "Assign"]


def test_credential_names_are_recognised_the_same_way_everywhere() -> None:
    from prodready.engine.secrets import credential_in_url, placeholder_value, secret_name

    for name in ["DB_PASSWORD", "api_key", "clientSecret", "SECRET_KEY", "auth-token", "db_pass"]:
        assert secret_name(name), name
    for name in [
        "PASSWORD_FILE",
        "token_url",
        "SESSION_KEY",
        "csrf_token",
        "password_field",
        "JWT_SECRET_EXPIRE_MINUTES",
        "pass",
        "SECRET_KEY_ALGORITHM",
    ]:
        assert not secret_name(name), name
    assert placeholder_value("changeme") and placeholder_value("${DB_PASSWORD}")
    assert not placeholder_value("n8F2kq9Zr4Lw")
    assert credential_in_url("postgres://app:n8F2kq9Zr4Lw@db/app")
    assert not credential_in_url("postgres://app:${DB_PASSWORD}@db/app")


def test_credentials_in_connection_urls() -> None:
    from prodready.engine.secrets import loopback_host, url_credentials

    found = url_credentials("postgresql://inventory:S3cretPass@db.internal:5432/inventory")
    assert found is not None
    assert (found.user, found.password, found.host) == ("inventory", "S3cretPass", "db.internal")
    assert url_credentials("redis://:n8F2kq9Zr4Lw@cache:6379/0") is not None
    found = url_credentials("amqp://svc:Kq9-Zr4Lw@[::1]:5672/")
    assert found is not None and loopback_host(found.host)
    for placeholder in [
        "postgresql://user:pass@localhost/app",  # a placeholder password
        "postgresql://app:${DB_PASSWORD}@db/app",  # a reference
        "postgresql://app:changeme@db/app",
        "postgresql://{user}:{password}@{host}/app",  # a format template
        "postgresql://%s:%s@%s/app",
        "postgresql://app:app@localhost/app",  # the user name repeated: a dev default
        "postgresql://app@db/app",  # no password
        "https://example.com/a@b",  # no userinfo
    ]:
        assert url_credentials(placeholder) is None, placeholder
    assert loopback_host("127.0.0.1") and loopback_host("") and not loopback_host("db.internal")


def test_aiohttp_handlers_registered_by_call_are_routes() -> None:
    ctx = _analyze(
        """
        from aiohttp import web

        async def convert(request):
            return web.json_response(await request.json())

        async def quote(request): ...

        async def helper(request): ...

        def create_app():
            app = web.Application()
            app.router.add_post("/convert", convert)
            app.add_routes([web.get("/quote", quote)])
            return app
        """,
        [],
    )
    routes = {(r.function, r.methods, r.path) for r in ctx.facts.routes}
    assert routes == {("convert", ("POST",), "/convert"), ("quote", ("GET",), "/quote")}
