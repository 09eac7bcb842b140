"""Intra-procedural taint tracking from request inputs to sinks."""

from __future__ import annotations

import ast
import textwrap

import pytest

from prodready.engine.python import PythonAnalyzer, PythonContext
from prodready.engine.registry import python_rule
from prodready.engine.taint import tainted
from prodready.model import Category, Profile, Severity


def _sink_sources(
    source: str, *, path: str = "app/views.py", **options: object
) -> list[str | None]:
    seen: list[str | None] = []

    @python_rule(
        code="TST200",
        name="record-sink",
        category=Category.SECURITY,
        severity=Severity.LOW,
        summary="test",
        calls=("*.execute", "builtins.open"),
    )
    def sink(node: ast.Call, ctx: PythonContext) -> None:
        seen.append(tainted(node.args[0] if node.args else None, ctx, **options))  # type: ignore[arg-type]

    text = textwrap.dedent(source)
    PythonAnalyzer([sink]).analyze(text, ast.parse(text), path, Profile())
    return seen


FLASK = """\
from flask import Flask, request, abort
from werkzeug.utils import secure_filename
import sys
app = Flask(__name__)
ALLOWED = {"name", "created"}

def build(q):
    text = "SELECT * FROM t WHERE name = '" + q + "'"
    return text

def constant_query(q):
    return "SELECT 1"

@app.route("/search")
def search():
    term = request.args.get("q", "")
    cur.execute(f"SELECT * FROM t WHERE name = '{term}'")      # 0 tainted
    cur.execute("SELECT * FROM t WHERE name = %s", (term,))    # 1 constant
    cur.execute(f"SELECT * FROM t WHERE id = {int(term)}")     # 2 sanitised
    cur.execute(build(term))                                   # 3 through a helper
    cur.execute(constant_query(term))                          # 4 helper ignores it
    order = request.args["order"]
    if order not in ALLOWED:
        abort(400)
    cur.execute(f"SELECT * FROM t ORDER BY {order}")           # 5 allow-listed
    cur.execute(f"SELECT * FROM t WHERE x = '{sys.argv[1]}'")  # 6 not a web source
    open(secure_filename(request.files["f"].filename))         # 7 sanitised for paths
    open("/srv/uploads/" + request.files["f"].filename)        # 8 path traversal
"""


def test_flask_flows() -> None:
    results = _sink_sources(FLASK, sanitizers=frozenset({"werkzeug.utils.secure_filename"}))
    flags = [r is not None for r in results]
    assert flags == [True, False, False, True, False, False, False, False, True]
    assert results[0] is not None and results[0].startswith("request data")


def test_fastapi_parameters_by_type() -> None:
    results = _sink_sources(
        """\
        from fastapi import FastAPI, Depends
        from uuid import UUID
        app = FastAPI()

        @app.get("/items/{name}")
        async def read(name: str, item_id: int, ref: UUID, db=Depends(get_db)):
            cur.execute(f"SELECT * FROM items WHERE name = '{name}'")
            cur.execute(f"SELECT * FROM items WHERE id = {item_id}")
            cur.execute(f"SELECT * FROM items WHERE ref = '{ref}'")
            cur.execute(f"SELECT * FROM items WHERE db = '{db}'")

        def not_a_handler(name: str):
            cur.execute(f"SELECT * FROM items WHERE name = '{name}'")
        """,
        path="app/api.py",
    )
    assert [r is not None for r in results] == [True, False, False, False, False]
    assert results[0] == "route parameter `name`"


def test_django_and_starlette_requests() -> None:
    django = _sink_sources(
        """\
        from django.db import connection
        from django.http import JsonResponse

        def orders(request):
            status = request.GET.get("status")
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM orders WHERE status = '%s'" % status)
                cursor.execute("SELECT * FROM orders WHERE status = %s", [status])
        """,
        path="shop/views.py",
    )
    assert [r is not None for r in django] == [True, False]
    starlette = _sink_sources(
        """\
        from starlette.requests import Request

        async def handler(request: Request):
            payload = await request.json()
            cur.execute("DELETE FROM t WHERE id = " + payload["id"])
        """,
    )
    assert starlette[0] is not None


@pytest.mark.parametrize("web_only", [True, False])
def test_second_order_sources_are_optional(web_only: bool) -> None:
    results = _sink_sources(
        """\
        import requests

        def sync():
            body = requests.get("https://partner.example/feed", timeout=5).text
            cur.execute("INSERT INTO feed VALUES ('" + body + "')")
        """,
        web_only=web_only,
    )
    assert (results[0] is None) is web_only
