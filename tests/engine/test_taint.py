"""Intra-procedural taint tracking from request inputs to sinks."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from conftest import ScanFn

from prodready.engine.python import PythonAnalyzer, PythonContext
from prodready.engine.registry import python_rule
from prodready.engine.taint import SAFE_REDIRECT_CHECK, URL_HOST_CHECK, tainted
from prodready.model import Category, Config, Profile, Severity


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


def test_reassignment_loops_and_lookups() -> None:
    results = _sink_sources(
        """\
        from fastapi import FastAPI, Depends, Query
        from typing import Annotated, Literal
        import enum
        app = FastAPI()
        COLUMNS = {"name": "name", "date": "created_at"}

        class Order(str, enum.Enum):
            ASC = "asc"
            DESC = "desc"

        @app.get("/search")
        def search(q: str, sort: str, tags: str, direction: Order, mode: Literal["a", "b"],
                   user: Annotated[dict, Depends(current_user)]):
            q = q.strip().lower()
            cur.execute(f"SELECT * FROM t WHERE name = '{q}'")                  # 0 reassigned
            cur.execute(f"SELECT * FROM t ORDER BY {COLUMNS.get(sort, 'name')}")  # 1 lookup
            for tag in tags.split(","):
                cur.execute(f"SELECT * FROM t WHERE tag = '{tag}'")             # 2 loop variable
            cur.execute(f"SELECT * FROM t ORDER BY x {direction}")              # 3 enum
            cur.execute(f"SELECT * FROM t WHERE mode = '{mode}'")               # 4 Literal
            cur.execute(f"SELECT * FROM t WHERE owner = '{user['name']}'")      # 5 dependency
        """,
        path="app/api.py",
    )
    assert [r is not None for r in results] == [True, False, True, False, False, False]


def test_sanitising_reads_and_request_filters() -> None:
    results = _sink_sources(
        """\
        import os
        from pathlib import Path
        from flask import Flask, request
        app = Flask(__name__)

        @app.post("/upload")
        def upload():
            f = request.files["doc"]
            open(Path(f.filename).name)                  # 0 attribute sanitiser
            open(os.path.splitext(f.filename)[1])        # 1 indexed call sanitiser
            open(os.path.splitext(f.filename)[0])        # 2 the stem keeps directories
            open(request.url)                            # 3 filtered request attribute
            open(request.args["next"])                   # 4
        """,
        sanitizers=frozenset({"pathlib.Path.name", "os.path.splitext[1]", "request.url"}),
    )
    assert [r is not None for r in results] == [False, False, True, False, True]
    assert results[2] is not None and "client-chosen file name" in results[2]


def test_check_markers() -> None:
    source = """\
        import os
        from urllib.parse import urlparse
        from flask import Flask, request, abort
        app = Flask(__name__)
        BASE = "/srv/files"
        ALLOWED_HOSTS = {"api.example.com"}

        @app.get("/a")
        def contained():
            full = os.path.realpath(os.path.join(BASE, request.args["f"]))
            if not full.startswith(BASE):
                abort(404)
            open(full)

        @app.get("/b")
        def host_checked():
            url = request.args["url"]
            if urlparse(url).hostname not in ALLOWED_HOSTS:
                abort(400)
            open(url)

        @app.get("/c")
        def relative_only():
            target = request.args["next"]
            if not target.startswith("/") or target.startswith("//"):
                abort(400)
            open(target)

        @app.get("/d/<name>")
        def segment(name):
            open(name)
    """
    from prodready.engine.taint import (
        PATH_CONTAINMENT_CHECK,
        SAFE_REDIRECT_CHECK,
        SEGMENT_PARAMETERS,
        URL_HOST_CHECK,
    )

    unchecked = _sink_sources(source)
    assert all(r is not None for r in unchecked)
    expected = {
        PATH_CONTAINMENT_CHECK: [True, False, False, False],
        URL_HOST_CHECK: [False, True, False, False],
        SAFE_REDIRECT_CHECK: [False, True, True, False],
        SEGMENT_PARAMETERS: [False, False, False, True],
    }
    for marker, cleaned in expected.items():
        results = _sink_sources(source, sanitizers=frozenset({marker}))
        assert [r is None for r in results] == cleaned, marker


def _deferred_reports(source: str, *, path: str = "app/views.py") -> list[tuple[int, str]]:
    from prodready.engine.python import ModuleEnd
    from prodready.engine.taint import report_deferred, sink_flow

    reports: list[tuple[int, str]] = []

    @python_rule(
        code="TST201",
        name="record-deferred-sink",
        category=Category.SECURITY,
        severity=Severity.LOW,
        summary="test",
        calls=("*.execute",),
        nodes=(ModuleEnd,),
    )
    def sink(node: ast.AST, ctx: PythonContext) -> None:
        if isinstance(node, ast.Module):
            report_deferred(ctx)
            return
        assert isinstance(node, ast.Call)
        line = node.lineno
        sink_flow(node.args[:1], ctx, lambda found: reports.append((line, found)))

    text = textwrap.dedent(source)
    PythonAnalyzer([sink]).analyze(text, ast.parse(text), path, Profile())
    return sorted(reports)


def test_sinks_in_helpers_report_when_a_handler_passes_request_data() -> None:
    reports = _deferred_reports(
        """\
        from flask import Flask, request
        app = Flask(__name__)

        def find_user(name):
            cur.execute(f"SELECT * FROM users WHERE name = '{name}'")  # line 5

        def count(table):
            cur.execute(f"SELECT COUNT(*) FROM {table}")  # line 8: constant callers

        def search(term):
            return find_user(term.strip())

        @app.get("/users")
        def users():
            count("users")
            return search(request.args["q"])

        def job():
            find_user("admin")
        """
    )
    # line 8 too, for the project pass: kept only if another module feeds ``count(table)``
    assert [line for line, _ in reports] == [5, 8]
    assert reports[1][1] == (
        "parameter `table` of `count()`, which another module of the project passes request data"
    )
    assert "passed to `search()`" in reports[0][1] and "passed to `find_user()`" in reports[0][1]


def test_helpers_that_read_the_request_themselves() -> None:
    results = _sink_sources(
        """\
        from django.http import JsonResponse

        def current_filter(request):
            return request.GET.get("filter", "")

        def orders(request):
            cur.execute(f"SELECT * FROM orders WHERE status = '{current_filter(request)}'")
        """,
        path="shop/views.py",
    )
    assert results[0] is not None and "read by `current_filter()`" in results[0]


def test_django_views_called_by_the_module_are_helpers() -> None:
    results = _sink_sources(
        """\
        from django.shortcuts import get_object_or_404

        def page(request, url):
            return render_page(request, get_object_or_404(Page, url=url))

        def render_page(request, page, template_name=None):
            cur.execute(f"SELECT * FROM t WHERE title = '{page.title}'")
            open(template_name)
        """,
        path="pages/views.py",
    )
    assert results == [None, None]


def test_werkzeug_type_conversion() -> None:
    results = _sink_sources(
        """\
        from flask import Flask, request
        app = Flask(__name__)

        @app.get("/items")
        def items():
            cur.execute(f"SELECT * FROM t LIMIT {request.args.get('n', 10, type=int)}")
            cur.execute(f"SELECT * FROM t WHERE x = '{request.args.get('x', type=str)}'")
        """
    )
    assert [r is not None for r in results] == [False, True]


def test_membership_sanitises_only_where_the_check_holds() -> None:
    """Issue 10 (new-user walk): ``if x in C: return ...`` then the query ran unreported."""
    results = _sink_sources(
        """\
        from fastapi import FastAPI
        app = FastAPI()
        ALLOWED = {"a", "b"}

        @app.get("/o/{order_id}")
        def get_order(order_id: str, flag: bool):
            if order_id in ALLOWED:
                cur.execute(f"SELECT {order_id}")               # 0 true branch
                return None
            cur.execute(f"SELECT {order_id}")                   # 1 the check failed
            if order_id not in ALLOWED:
                cur.execute(f"SELECT {order_id}")               # 2 inside `not in`
            elif flag:
                cur.execute(f"SELECT {order_id}")               # 3 elif: the check held
            if not order_id or order_id not in ALLOWED:
                raise ValueError(order_id)
            cur.execute(f"SELECT {order_id}")                   # 4 after a rejecting branch
            x = [cur.execute(f"SELECT {order_id}") for _ in range(2) if order_id in ALLOWED]
            order_id in ALLOWED and cur.execute(f"SELECT {order_id}")  # 6 after `and`
            order_id = order_id.strip()
            cur.execute(f"SELECT {order_id}")                   # 7 rebound from the checked value
        """,
        path="app/api.py",
    )
    assert [r is not None for r in results] == [
        False,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert results[1] == "route parameter `order_id`"


@pytest.mark.parametrize(
    ("container", "sanitises"),
    [
        ('("a", "b")', True),
        ('["a", "b"]', True),
        ("KEYS", True),
        ("FROZEN", True),
        ("COLUMNS", True),
        ("COLUMNS.keys()", True),
        ("Mode", True),
        ("Mode.__members__", True),
        ("{m.value for m in Mode}", True),
        ("local_allowed", True),
        ("CACHE", False),
        ("SEEN", False),
        ("EMPTY", False),
        ("REBOUND", False),
        ("IMPORTED", False),
        ("settings.ALLOWED", False),
        ("allowed", False),
        ("local_filled", False),
        ("{m.value for m in items}", False),
    ],
)
def test_membership_needs_a_constant_allow_list(container: str, sanitises: bool) -> None:
    results = _sink_sources(
        f"""\
        import enum
        from fastapi import FastAPI
        from .constants import IMPORTED
        app = FastAPI()
        KEYS = {{"a", "b"}}
        FROZEN = frozenset({{"a", "b"}})
        COLUMNS = {{"name": "name", "date": "created_at"}}
        CACHE = {{"a": 1}}
        SEEN = {{"a"}}
        EMPTY = {{}}
        REBOUND = ("a", "b")

        class Mode(str, enum.Enum):
            A = "a"

        def remember(key, value):
            global REBOUND
            CACHE[key] = value
            SEEN.add(key)
            REBOUND = REBOUND + (key,)

        @app.get("/o/{{name}}")
        def handler(name: str, allowed: str, items: str):
            local_allowed = ("a", "b")
            local_filled = {{"a"}}
            local_filled.update(items)
            if name not in {container}:
                return None
            cur.execute(f"SELECT {{name}}")
        """,
        path="app/api.py",
    )
    assert results == [None if sanitises else "route parameter `name`"]


def test_helper_checks_sanitise_its_return_value_only_where_they_hold() -> None:
    results = _sink_sources(
        """\
        from fastapi import FastAPI
        app = FastAPI()
        ALLOWED = ("asc", "desc")
        CACHE = {}

        def checked(sort):
            if sort not in ALLOWED:
                raise ValueError(sort)
            return sort

        def unchecked(sort):
            if sort in CACHE:
                return "asc"
            return sort

        def wrong_branch(sort):
            if sort in ALLOWED:
                return "asc"
            return sort

        @app.get("/items")
        def items(sort: str):
            cur.execute(f"SELECT * FROM t ORDER BY x {checked(sort)}")
            cur.execute(f"SELECT * FROM t ORDER BY x {unchecked(sort)}")
            cur.execute(f"SELECT * FROM t ORDER BY x {wrong_branch(sort)}")
        """,
        path="app/api.py",
    )
    assert [r is not None for r in results] == [False, True, True]


def test_host_membership_checks_hold_only_on_their_branch_and_for_constant_hosts() -> None:
    """``host = urlparse(url).hostname; if host not in ALLOWED_HOSTS: abort(400)`` makes ``url``
    safe for a URL sink; a cache of hosts, or the branch where the check failed, does not."""
    from prodready.engine.taint import URL_HOST_CHECK

    results = _sink_sources(
        """\
        from urllib.parse import urlparse
        from flask import Flask, request, abort
        app = Flask(__name__)
        ALLOWED_HOSTS = {"api.example.com"}
        SEEN_HOSTS = {}

        @app.get("/a")
        def allowed():
            url = request.args["url"]
            host = urlparse(url).hostname
            if host not in ALLOWED_HOSTS:
                abort(400)
            open(url)

        @app.get("/b")
        def cached():
            url = request.args["url"]
            host = urlparse(url).hostname
            if host not in SEEN_HOSTS:
                abort(400)
            open(url)

        @app.get("/c")
        def wrong_branch():
            url = request.args["url"]
            host = urlparse(url).hostname
            if host in ALLOWED_HOSTS:
                return open(url)
            open(url)
        """,
        sanitizers=frozenset({URL_HOST_CHECK}),
    )
    assert [r is not None for r in results] == [False, True, False, True]


def test_aiohttp_server_request_reads_are_request_data() -> None:
    """An aiohttp handler's ``request.read()/text()/json()`` is the client's body, not a
    response of another service: it counts for web-only sinks."""
    results = _sink_sources(
        """\
        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            raw = await request.read()
            text = await request.text()
            cur.execute("INSERT INTO hooks VALUES ('" + raw.decode() + "')")
            cur.execute("INSERT INTO hooks VALUES ('" + text + "')")
            async with session.get("https://partner.example/feed") as response:
                feed = await response.text()
            cur.execute("INSERT INTO feed VALUES ('" + feed + "')")
        """,
        web_only=True,
    )
    assert results == [
        "request data `request.read()`",
        "request data `request.text()`",
        None,
    ]


def test_augmented_assignment_keeps_the_earlier_value_and_adds_the_new_part() -> None:
    results = _sink_sources(
        """\
        from flask import Flask, request
        app = Flask(__name__)

        @app.get("/files")
        def files():
            path = "/srv/data/"
            path += request.args["name"]
            open(path)                          # 0 the added part is request data
            where = request.args["q"]
            where += " LIMIT 10"
            cur.execute(where)                  # 1 the earlier value is request data
            fixed = "/srv/data/"
            fixed += "index.txt"
            open(fixed)                         # 2 constant parts only
            path = "/srv/data/index.txt"
            open(path)                          # 3 rebound after the augmentation
        """
    )
    assert [r is not None for r in results] == [True, True, False, False]


def test_a_shell_command_grown_with_augmented_assignment_is_reported(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    (tmp_path / "tools.py").write_text(
        textwrap.dedent(
            """\
            import subprocess
            from flask import Flask, request

            app = Flask(__name__)


            @app.post("/convert")
            def convert():
                cmd = "convert "
                cmd += request.form["source"]
                subprocess.run(cmd, shell=True)
                fixed = "convert "
                fixed += "a.png b.jpg"
                subprocess.run(fixed, shell=True)  # ok: constant
                return "done"
            """
        ),
        encoding="utf-8",
    )
    result = run_scan(tmp_path, config=Config(select=("SEC008",)))
    assert [(f.path, f.line, f.rule) for f in result.findings] == [("tools.py", 11, "SEC008")]
    assert result.findings[0].message.startswith(
        "run() with shell=True runs a shell command built from request data `request.form`: "
    )


def test_anchored_allow_list_patterns_guard_redirects() -> None:
    redirect = frozenset({SAFE_REDIRECT_CHECK, URL_HOST_CHECK})
    results = _sink_sources(
        """\
        import re
        from flask import Flask, request
        app = Flask(__name__)
        LOCAL = re.compile(r"^/(?:account|orders)/[a-z0-9-]+$")
        LOOSE = re.compile(r"^/[\\w/.-]*$")

        @app.get("/a")
        def a(target: str):
            if LOCAL.match(target):
                open(target)                       # 0 anchored, local paths only

        @app.get("/b")
        def b(target: str):
            if re.fullmatch(r"https://partners\\.example\\.com/.*", target):
                open(target)                       # 1 a fixed scheme and host

        @app.get("/c")
        def c(target: str):
            if LOOSE.match(target):
                open(target)                       # 2 lets "//host" through

        @app.get("/d")
        def d(target: str):
            if re.search(r"/account/", target):
                open(target)                       # 3 unanchored search
        """,
        sanitizers=redirect,
    )
    assert [r is not None for r in results] == [False, False, True, True]


def test_a_parameter_named_req_is_a_request_only_where_the_facts_say_so(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    files = {
        # setuptools' installer: ``req`` is a packaging Requirement, ``req.url`` its own URL
        "installer.py": """\
            import subprocess
            import sys


            def fetch(dist, req):
                cmd = [sys.executable, "-m", "pip", "install"]
                cmd.append(req.url or str(req))
                subprocess.check_call(cmd)
            """,
        # a helper of a Django project that imports nothing of Django: request.GET says it
        "helpers.py": """\
            import subprocess


            def thumbnail(request):
                subprocess.run(["convert", request.GET["src"], "out.png"])
            """,
        # a helper of a Flask module: the module's requests are Flask's
        "proxy.py": """\
            import subprocess

            from flask import Flask

            app = Flask(__name__)


            def forward(req):
                subprocess.run(["curl", req.url])
            """,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    result = run_scan(tmp_path, config=Config(select=("SEC024",)))
    assert [(f.path, f.line) for f in result.findings] == [("helpers.py", 5), ("proxy.py", 9)]
