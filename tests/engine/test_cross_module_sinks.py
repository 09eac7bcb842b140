"""Sinks inside project functions that a handler of another module feeds with request data: the
helper's module reports the sink naming the parameters another module would have to feed, the
handler's module states which imported parameters it feeds, the project pass keeps the finding
only when one matches -- at the sink line, in the helper's file."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ScanFn

from prodready.model import Config, ScanResult

SQL = Config(select=("SEC001",))

REPOSITORY = """import sqlite3

conn = sqlite3.connect("shop.db")


def search(term, order="name"):
    sql = f"SELECT * FROM items WHERE name = '{term}'"
    sql += f" ORDER BY {order}"
    return conn.execute(sql).fetchall()


def count():
    return conn.execute("SELECT count(*) FROM items").fetchone()
"""
# Reported where the statement is formatted (line 7), naming the line that runs it (9).
SEARCH_MESSAGE = (
    "SQL text is built here by string formatting from parameters `term`, `order` of "
    "`search()`, which another module of the project passes request data, and execute() on "
    "line 9 runs it: a quote in the value rewrites the query (SQL injection). Pass values as "
    'query parameters (execute("... WHERE x = %s", (value,))) and map identifiers through a '
    "whitelist"
)
FLASK_VIEWS = """from flask import Flask, request

from shop.repository import search

app = Flask(__name__)


@app.route("/items")
def items():
    return {"rows": search(request.args["q"], order=request.args.get("order", "name"))}
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n", encoding="utf-8")
    for name, text in {"shop/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _found(result: ScanResult) -> list[tuple[str, int, str, str]]:
    assert result.errors == []
    return [(f.path, f.line, f.rule, f.message) for f in result.findings]


def test_a_flask_view_feeding_a_repository_function_reports_its_sql_sink(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    root = _project(tmp_path, {"shop/repository.py": REPOSITORY, "shop/views.py": FLASK_VIEWS})
    result = run_scan(root, config=SQL)
    assert _found(result) == [("shop/repository.py", 7, "SEC001", SEARCH_MESSAGE)]
    assert result.stats.moot == 0


def test_no_caller_of_another_module_passing_request_data_leaves_the_sink_unreported(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    views = """from flask import Flask, request

from shop.repository import search

app = Flask(__name__)


@app.route("/items")
def items():
    # constants and a conversion reach the helper: nothing the client chooses as text
    return {"rows": search("all", order=str(int(request.args["page"])))}
"""
    root = _project(tmp_path, {"shop/repository.py": REPOSITORY, "shop/views.py": views})
    assert _found(run_scan(root, config=SQL)) == []
    alone = _project(tmp_path / "alone", {"shop/repository.py": REPOSITORY})
    assert _found(run_scan(alone, config=SQL)) == []


def test_a_django_view_through_a_package_reexport_and_a_module_import(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    views = """from django.http import JsonResponse

from shop import search
from shop import repository


def items(request):
    rows = search(request.GET["q"])
    return JsonResponse({"rows": rows})


def ordered(request):
    return JsonResponse({"rows": repository.search("x", request.GET["order"])})
"""
    files = {
        "shop/__init__.py": "from shop.repository import search\n",
        "shop/repository.py": REPOSITORY,
        "shop/views.py": views,
    }
    root = _project(tmp_path, files)
    assert _found(run_scan(root, config=SQL)) == [
        ("shop/repository.py", 7, "SEC001", SEARCH_MESSAGE)
    ]


def test_a_fastapi_route_through_a_service_layer_into_an_async_helper(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    services = """from sqlalchemy import text


async def history(session, rider_id: int, sort: str):
    query = text(f"SELECT * FROM rides WHERE rider_id = :rider_id ORDER BY {sort}")
    return (await session.execute(query, {"rider_id": rider_id})).all()
"""
    api = """from fastapi import APIRouter, Depends

from shop.db import get_session
from shop.services import history

router = APIRouter()


@router.get("/riders/{rider_id}/rides")
async def rides(rider_id: int, sort: str = "created_at", session=Depends(get_session)):
    return await history(session, rider_id, sort)
"""
    db = "async def get_session():\n    yield None\n"
    files = {"shop/services.py": services, "shop/api.py": api, "shop/db.py": db}
    result = run_scan(_project(tmp_path, files), config=SQL)
    assert _found(result) == [
        (
            "shop/services.py",
            5,
            "SEC001",
            "SQL passed to text() is built by string formatting from parameter `sort` of "
            "`history()`, which another module of the project passes request data: a quote in "
            "the value rewrites the query (SQL injection). Pass values as query parameters "
            '(execute("... WHERE x = %s", (value,))) and map identifiers through a whitelist',
        )
    ]


def test_a_url_sent_through_a_dramatiq_actor_reaches_an_http_call(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    tasks = """import dramatiq
import requests

DEFAULT = "https://carrier.example.com/status"


def fetch_status(number, url=None):
    return requests.get(url or DEFAULT, params={"n": number}, timeout=5).json()


@dramatiq.actor
def refresh(number, url=None):
    fetch_status(number, url)
"""
    api = """from fastapi import FastAPI

from shop.tasks import refresh

app = FastAPI()


@app.post("/shipments/{number}/refresh")
async def refresh_shipment(number: str, callback: str | None = None):
    refresh.send(number, callback)
    return {"queued": True}
"""
    files = {"shop/tasks.py": tasks, "shop/api.py": api}
    result = run_scan(_project(tmp_path, files), config=Config(select=("SEC017",)))
    assert [(path, line, rule) for path, line, rule, _ in _found(result)] == [
        ("shop/tasks.py", 8, "SEC017")
    ]
    assert result.findings[0].message.startswith(
        "requests.get() fetches a URL taken from parameter `url` of `fetch_status()` (or "
        "through parameter `url` of `refresh()`), which another module of the project passes "
        "request data: "
    )


def test_a_path_sanitised_by_the_caller_does_not_reach_the_helper(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    storage = """from pathlib import Path

ROOT = Path("/srv/uploads")


def save(name, data):
    with open(ROOT / name, "wb") as handle:
        handle.write(data)
"""
    views = """from flask import Flask, request
from werkzeug.utils import secure_filename

from shop.storage import save

app = Flask(__name__)


@app.post("/upload")
def upload():
    item = request.files["file"]
    save(secure_filename(item.filename), item.read())
    return "ok"


@app.post("/upload-raw")
def upload_raw():
    item = request.files["file"]
    save(item.filename, item.read())
    return "ok"
"""
    files = {"shop/storage.py": storage, "shop/views.py": views}
    root = _project(tmp_path, files)
    path_rule = Config(select=("SEC014",))
    assert [(p, line, rule) for p, line, rule, _ in _found(run_scan(root, config=path_rule))] == [
        ("shop/storage.py", 7, "SEC014")
    ]
    (root / "shop/views.py").write_text(
        views.split('\n\n\n@app.post("/upload-raw")', maxsplit=1)[0] + "\n"
    )
    assert _found(run_scan(root, config=path_rule)) == []


def test_a_warm_rescan_after_editing_only_the_view_changes_the_verdict(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    quiet = FLASK_VIEWS.replace('request.args["q"]', '"all"').replace(
        'request.args.get("order", "name")', '"name"'
    )
    root = _project(tmp_path / "app", {"shop/repository.py": REPOSITORY, "shop/views.py": quiet})
    hour_ago = time.time_ns() - 3_600 * 1_000_000_000
    for path in [*root.rglob("*.py"), root / "shop", root]:
        os.utime(path, ns=(hour_ago, hour_ago))
    cache = tmp_path / "cache"

    def scan() -> ScanResult:
        return run_scan(root, config=SQL, use_cache=True, cache_dir=cache)

    cold = scan()
    assert (_found(cold), cold.stats.files_analyzed) == ([], 4)
    (root / "shop/views.py").write_text(FLASK_VIEWS, encoding="utf-8")
    warm = scan()
    assert _found(warm) == [("shop/repository.py", 7, "SEC001", SEARCH_MESSAGE)]
    assert (warm.stats.files_analyzed, warm.stats.cache_hits) == (1, 3)
    (root / "shop/views.py").write_text(quiet, encoding="utf-8")
    again = scan()
    assert (_found(again), again.stats.files_analyzed) == ([], 1)


def test_an_identifier_validated_before_it_names_a_file_does_not_reach_the_sink(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    sessions = """from pathlib import Path

SESSIONS = Path("/var/lib/shop/sessions")


def validate_session_id(session_id):
    if not session_id.isalnum():
        raise ValueError("bad session id")


def session_file(session_id):
    validate_session_id(session_id)
    return SESSIONS / f"{session_id}.json"


def read_session(session_id):
    return session_file(session_id).read_text()


def read_unchecked(session_id):
    return (SESSIONS / f"{session_id}.json").read_text()
"""
    api = """from fastapi import FastAPI

from shop.sessions import read_session, read_unchecked

app = FastAPI()


@app.get("/sessions")
async def show(session_id: str):
    return {"checked": read_session(session_id), "raw": read_unchecked(session_id)}
"""
    files = {"shop/sessions.py": sessions, "shop/api.py": api}
    result = run_scan(_project(tmp_path, files), config=Config(select=("SEC014",)))
    assert [(p, line, rule) for p, line, rule, _ in _found(result)] == [
        ("shop/sessions.py", 21, "SEC014")
    ]


def test_sql_built_from_a_list_of_clauses_in_a_helper_of_another_module(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    repository = """import psycopg2

conn = psycopg2.connect("")


def query(sql, params=None):
    cur = conn.cursor()
    cur.execute(sql, params)
    return cur.fetchall()


def shipment_filter(status=None, carrier=None):
    clauses = []
    if status:
        clauses.append(f"status = '{status}'")
    if carrier:
        clauses.append(f"carrier = '{carrier}'")
    where = " AND ".join(clauses) if clauses else "TRUE"
    return f"SELECT * FROM shipments WHERE {where}"


def find_shipments(status=None, carrier=None):
    return query(shipment_filter(status, carrier))
"""
    api = """from fastapi import FastAPI

from shop.repository import find_shipments, query

app = FastAPI()


@app.get("/shipments")
async def shipments(status: str | None = None, carrier: str | None = None):
    return find_shipments(status, carrier)


@app.get("/shipments/{number}")
async def shipment(number: str):
    return query("SELECT * FROM shipments WHERE number = %s", (number,))
"""
    files = {"shop/repository.py": repository, "shop/api.py": api}
    result = run_scan(_project(tmp_path, files), config=SQL)
    assert _found(result) == [
        (
            "shop/repository.py",
            15,  # where shipment_filter() formats the first clause
            "SEC001",
            "`shipment_filter()` builds SQL text here by string formatting from parameter `sql` "
            "of `query()` (or through parameters `status`, `carrier` of `find_shipments()`), "
            "which another module of the project passes request data, and execute() on line 8 "
            "runs it: a quote in the value rewrites the query (SQL injection). Pass values as "
            'query parameters (execute("... WHERE x = %s", (value,))) and map identifiers '
            "through a whitelist",
        )
    ]


def test_request_data_handed_on_by_a_service_layer_and_a_local_helper(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    services = """from shop import repository


def find_items(text, order="name"):
    return repository.search(text.strip(), order)


def find_one(text):
    return repository.search("fixed")
"""
    views = """from django.http import JsonResponse

from shop.services import find_items, find_one


def _lookup(query):
    return find_items(query)


def items(request):
    return JsonResponse({"rows": _lookup(request.GET["q"])})


def one(request):
    return JsonResponse({"rows": find_one(request.GET["q"])})
"""
    files = {
        "shop/repository.py": REPOSITORY,
        "shop/services.py": services,
        "shop/views.py": views,
    }
    root = _project(tmp_path, files)
    assert _found(run_scan(root, config=SQL)) == [
        ("shop/repository.py", 7, "SEC001", SEARCH_MESSAGE)
    ]
    # only find_one() is called with request data: it hands search() a constant
    (root / "shop/views.py").write_text(
        views.replace('_lookup(request.GET["q"])', '_lookup("all")'), encoding="utf-8"
    )
    assert _found(run_scan(root, config=SQL)) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_diff_adding_the_sink_is_judged_with_the_cached_facts_of_the_unchanged_view(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    before = REPOSITORY.split("\n\n\ndef search", maxsplit=1)[0] + "\n"
    root = _project(tmp_path / "repo", {"shop/repository.py": before, "shop/views.py": FLASK_VIEWS})
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "base"]):
        subprocess.run(
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=60,
        )
    cache = tmp_path / "cache"
    hour_ago = time.time_ns() - 3_600 * 1_000_000_000
    for path in [*root.rglob("*.py"), root / "shop", root]:
        os.utime(path, ns=(hour_ago, hour_ago))
    run_scan(root, config=SQL, use_cache=True, cache_dir=cache)  # the facts of every file
    (root / "shop/repository.py").write_text(REPOSITORY, encoding="utf-8")  # the PR
    result = run_scan(root, config=SQL, use_cache=True, cache_dir=cache, diff="main")
    assert _found(result) == [("shop/repository.py", 7, "SEC001", SEARCH_MESSAGE)]
    # Without the cached facts of the unchanged view nothing says who calls search().
    assert _found(run_scan(root, config=SQL, diff="main")) == []
