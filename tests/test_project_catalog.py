"""The project-level catalog rules (OBS002, OBS005-OBS007, RES010, SEC030) on small projects:
each rule fires on a service that lacks what it checks for, and stays silent on one that has
it somewhere -- in another module, a settings string, a router of its own -- and on projects
that are not services at all (libraries, CLIs, example collections)."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from prodready.model import Config

CODES = ("OBS002", "OBS005", "OBS006", "OBS007", "RES010", "SEC030")


@pytest.fixture
def project(tmp_path: Path, run_scan):
    def scan(files: dict[str, str], *codes: str) -> list[tuple[str, str, int]]:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        result = run_scan(tmp_path, config=replace(Config(), select=codes or CODES))
        assert not result.errors, result.errors
        return sorted((f.rule, f.path, f.line) for f in result.findings)

    return scan


MAIN = textwrap.dedent(
    """\
    from fastapi import FastAPI

    from app.routers import orders

    app = FastAPI()
    app.include_router(orders.router)
    """
)
ORDERS = textwrap.dedent(
    """\
    from fastapi import APIRouter

    router = APIRouter(prefix="/orders")


    @router.get("/")
    def list_orders():
        return []
    """
)
HEALTH = textwrap.dedent(
    """\
    from fastapi import APIRouter

    router = APIRouter()


    @router.get("/readyz")
    def ready():
        return {"ok": True}
    """
)
SERVICE = {"app/__init__.py": "", "app/main.py": MAIN, "app/routers/orders.py": ORDERS}


# -- which projects are services ----------------------------------------------------------------


def test_a_bare_service_gets_every_observability_finding(project) -> None:
    assert project(SERVICE) == [
        ("OBS002", "app/main.py", 5),
        ("OBS005", "app/main.py", 5),
        ("OBS006", "app/main.py", 5),
        ("OBS007", "app/main.py", 5),
    ]


def test_a_library_gets_no_project_finding(project) -> None:
    # Routers, admin routes and consumer loops, but no application: a library (or a plugin).
    library = {
        "lib/__init__.py": "",
        "lib/routes.py": ORDERS.replace("/orders", "/admin"),
        "lib/consume.py": "def drain(consumer):\n    while True:\n"
        "        msg = consumer.poll(1.0)\n        if msg is None:\n            return\n",
    }
    assert project(library) == []


def test_apps_in_tests_examples_and_scripts_are_not_services(project) -> None:
    app = (
        "from flask import Flask\napp = Flask(__name__)\n\n"
        "@app.route('/x')\ndef x():\n    return ''\n"
    )
    files = {
        "tests/test_app.py": app,
        "examples/basic/app.py": app,
        "docs/app.py": app,
        "scripts/dev.py": app,
        "flask/app.py": app,
    }
    assert project(files) == []


def test_a_collection_of_example_apps_is_not_a_service(project) -> None:
    files = {f"tutorial{n:02}/main.py": MAIN.replace("app.routers", "x") for n in range(12)}
    assert project(files, "OBS002", "OBS005", "OBS007") == []


def test_deployment_artifacts_raise_confidence(tmp_path: Path, run_scan) -> None:
    for name, text in {**SERVICE, "Dockerfile": "FROM python:3.12\n"}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = run_scan(tmp_path, config=replace(Config(), select=("OBS002",)))
    assert [f.confidence.value for f in result.findings] == ["medium"]
    (tmp_path / "Dockerfile").unlink()
    result = run_scan(tmp_path, config=replace(Config(), select=("OBS002",)))
    assert [f.confidence.value for f in result.findings] == ["low"]


# -- OBS002 -------------------------------------------------------------------------------------


def test_obs002_health_route_in_an_included_router(project) -> None:
    files = {
        **SERVICE,
        "app/main.py": MAIN.replace("import orders", "import health, orders")
        + "app.include_router(health.router)\n",
        "app/routers/health.py": HEALTH,
    }
    assert project(files, "OBS002") == []


def test_obs002_health_route_registered_by_a_module_importing_the_app(project) -> None:
    files = {
        "svc/__init__.py": "from flask import Flask\n\napp = Flask(__name__)\n\n"
        "from svc import views\n",
        "svc/views.py": "from svc import app\n\n@app.route('/items')\n"
        "def items():\n    return ''\n",
        "svc/probes.py": "from svc import app\n\n@app.get('/ping')\n"
        "def ping():\n    return 'pong'\n",
    }
    assert project(files, "OBS002") == []


def test_obs002_each_independent_app_is_judged_on_its_own(project) -> None:
    files = {
        "orders/main.py": MAIN.replace("app.routers", "orders"),
        "orders/orders.py": ORDERS,
        "orders/health.py": HEALTH,
        "billing/main.py": MAIN.replace("app.routers", "billing"),
        "billing/orders.py": ORDERS,
    }
    files["orders/main.py"] += "from orders import health\napp.include_router(health.router)\n"
    assert project(files, "OBS002") == [("OBS002", "billing/main.py", 5)]


def test_obs002_mounted_sub_application_is_reported_once(project) -> None:
    files = {
        **SERVICE,
        "app/main.py": MAIN + "from app.admin import admin_app\napp.mount('/admin', admin_app)\n",
        "app/admin.py": "from fastapi import FastAPI\n\nadmin_app = FastAPI()\n\n"
        "@admin_app.get('/stats')\ndef stats():\n    return {}\n",
    }
    assert project(files, "OBS002") == [("OBS002", "app/main.py", 5)]


DJANGO = {
    "mysite/__init__.py": "",
    "mysite/wsgi.py": "from django.core.wsgi import get_wsgi_application\n\n"
    "application = get_wsgi_application()\n",
    "mysite/settings.py": 'INSTALLED_APPS = ["django.contrib.auth", "shop"]\n',
    "mysite/urls.py": "from django.urls import include, path\n\n"
    'urlpatterns = [path("", include("shop.urls"))]\n',
    "shop/urls.py": "from django.urls import path\n\nfrom shop import views\n\n"
    'urlpatterns = [path("orders/", views.orders)]\n',
    "shop/views.py": "from django.http import JsonResponse\n\n"
    "def orders(request):\n    return JsonResponse([], safe=False)\n",
}


def test_obs002_django_project(project) -> None:
    assert project(DJANGO, "OBS002") == [("OBS002", "mysite/wsgi.py", 3)]
    # With ROOT_URLCONF known, the finding goes where the probe path belongs.
    settings = DJANGO["mysite/settings.py"] + 'ROOT_URLCONF = "mysite.urls"\n'
    assert project({**DJANGO, "mysite/settings.py": settings}, "OBS002") == [
        ("OBS002", "mysite/urls.py", 3)
    ]


def test_obs002_django_project_without_wsgi_module(project) -> None:
    settings = DJANGO["mysite/settings.py"] + 'ROOT_URLCONF = "mysite.urls"\n'
    files = {name: text for name, text in DJANGO.items() if name != "mysite/wsgi.py"}
    assert project({**files, "mysite/settings.py": settings}, "OBS002", "OBS007") == [
        ("OBS002", "mysite/urls.py", 3),
        ("OBS007", "mysite/urls.py", 3),
    ]


def test_obs002_django_probe_path(project) -> None:
    urls = DJANGO["shop/urls.py"].replace(
        'path("orders/", views.orders)', 'path("orders/", views.orders), path("ping/", views.pong)'
    )
    assert project({**DJANGO, "shop/urls.py": urls}, "OBS002") == []


def test_obs002_django_health_check_package(project) -> None:
    settings = (
        'INSTALLED_APPS = ["django.contrib.auth", "shop", "health_check", "health_check.db"]\n'
    )
    assert project({**DJANGO, "mysite/settings.py": settings}, "OBS002") == []


def test_obs002_serverless_app_is_exempt(project) -> None:
    files = {
        **SERVICE,
        "app/lambda_handler.py": "from mangum import Mangum\n\nfrom app.main import app\n\n"
        "handler = Mangum(app)\n",
    }
    assert project(files, "OBS002") == []


# -- OBS005 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup",
    [
        "import structlog\n\n"
        "structlog.configure(processors=[structlog.processors.JSONRenderer()])\n",
        "import logging\n\nfrom pythonjsonlogger import jsonlogger\n\n"
        "handler = logging.StreamHandler()\nhandler.setFormatter(jsonlogger.JsonFormatter())\n",
        "import logging.config\n\nLOGGING = {'version': 1, 'formatters': {'json': {'()': "
        "'pythonjsonlogger.json.JsonFormatter'}}}\nlogging.config.dictConfig(LOGGING)\n",
        "import logging.config\n\nimport yaml\n\n"
        "logging.config.dictConfig(yaml.safe_load(open('logging.yaml')))\n",
        "import logging.config\n\nlogging.config.fileConfig('logging.ini')\n",
        "import sys\n\nfrom loguru import logger\n\nlogger.add(sys.stdout, serialize=True)\n",
        "import json\nimport logging\n\n\nclass Formatter(logging.Formatter):\n"
        "    def format(self, record):\n        return json.dumps({'msg': record.getMessage()})\n",
    ],
)
def test_obs005_structured_logging_configured_somewhere(project, setup: str) -> None:
    assert project({**SERVICE, "app/logging_setup.py": setup}, "OBS005") == []


def test_obs005_reports_at_the_logging_setup(project) -> None:
    setup = "import logging\n\n\ndef setup():\n    logging.basicConfig(level='INFO')\n"
    assert project({**SERVICE, "app/logging_setup.py": setup}, "OBS005") == [
        ("OBS005", "app/logging_setup.py", 5)
    ]


def test_obs005_django_logging_setting(project) -> None:
    settings = (
        "LOGGING = {\n    'version': 1,\n    'handlers': {'console': {'class': "
        "'logging.StreamHandler'}},\n}\n"
    )
    assert project({**DJANGO, "mysite/settings.py": settings}, "OBS005") == [
        ("OBS005", "mysite/settings.py", 1)
    ]
    json_settings = settings.replace(
        "'class': 'logging.StreamHandler'",
        "'class': 'logging.StreamHandler', 'formatter': 'json'}}, 'formatters': {'json': "
        "{'()': 'json_log_formatter.JSONFormatter'",
    )
    assert project({**DJANGO, "mysite/settings.py": json_settings}, "OBS005") == []


# -- OBS006 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        {"app/middleware.py": "from asgi_correlation_id import CorrelationIdMiddleware\n"},
        {
            "app/middleware.py": "import uuid\n\n\nasync def add_request_id(request, call_next):\n"
            "    rid = request.headers.get('X-Request-ID') or uuid.uuid4().hex\n"
            "    response = await call_next(request)\n"
            "    response.headers['X-Request-ID'] = rid\n    return response\n"
        },
        {
            "app/tracing.py": "from opentelemetry.instrumentation.fastapi "
            "import FastAPIInstrumentor\n"
        },
    ],
)
def test_obs006_request_ids_somewhere(project, files: dict[str, str]) -> None:
    assert project({**SERVICE, **files}, "OBS006") == []


def test_obs006_django_guid_middleware_setting(project) -> None:
    settings = "MIDDLEWARE = ['django_guid.middleware.guid_middleware']\n"
    assert project({**DJANGO, "mysite/settings.py": settings}, "OBS006") == []
    assert project({**DJANGO, "mysite/settings.py": "MIDDLEWARE = []\n"}, "OBS006") == [
        ("OBS006", "mysite/wsgi.py", 3)
    ]


# -- OBS007 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        {
            "app/metrics.py": "from prometheus_fastapi_instrumentator import Instrumentator\n\n"
            "def instrument(app):\n    Instrumentator().instrument(app).expose(app)\n"
        },
        {"app/metrics.py": "from datadog import statsd\n"},
        {"app/metrics.py": "from opentelemetry import metrics\n\nmeter = metrics.get_meter('x')\n"},
    ],
)
def test_obs007_metrics_somewhere(project, files: dict[str, str]) -> None:
    assert project({**SERVICE, **files}, "OBS007") == []


def test_obs007_sentry_is_not_metrics(project) -> None:
    files = {**SERVICE, "app/errors.py": "import sentry_sdk\n\nsentry_sdk.init()\n"}
    assert project(files, "OBS007") == [("OBS007", "app/main.py", 5)]
    settings = "INSTALLED_APPS = ['django_prometheus']\n"
    assert project({**DJANGO, "mysite/settings.py": settings}, "OBS007") == []


# -- RES010 -------------------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """\
    from kafka import KafkaConsumer

    from jobs.handlers import handle


    def main():
        consumer = KafkaConsumer("orders", group_id="billing")
        for message in consumer:
            handle(message)


    if __name__ == "__main__":
        main()
    """
)
JOBS = {
    "jobs/__init__.py": "",
    "jobs/worker.py": WORKER,
    "jobs/handlers.py": "def handle(m):\n    pass\n",
}


def test_res010_kafka_consumer_without_sigterm_handler(project) -> None:
    assert project(JOBS, "RES010") == [("RES010", "jobs/worker.py", 8)]


@pytest.mark.parametrize(
    "handler",
    [
        "import signal\nimport sys\n\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n",
        "import asyncio\nimport signal\n\n\ndef install(loop, stop):\n"
        "    for sig in (signal.SIGINT, signal.SIGTERM):\n"
        "        loop.add_signal_handler(sig, stop)\n",
    ],
)
def test_res010_sigterm_handled_elsewhere(project, handler: str) -> None:
    assert project({**JOBS, "jobs/shutdown.py": handler}, "RES010") == []


def test_res010_sigint_only_is_not_enough(project) -> None:
    handler = "import signal\n\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
    assert project({**JOBS, "jobs/shutdown.py": handler}, "RES010") == [
        ("RES010", "jobs/worker.py", 8)
    ]


def test_res010_worker_frameworks_and_web_apps_handle_sigterm(project) -> None:
    dramatiq = WORKER.replace(
        "from kafka import KafkaConsumer", "import dramatiq\nfrom kafka import KafkaConsumer"
    )
    assert project({**JOBS, "jobs/worker.py": dramatiq}, "RES010") == []
    poller = (
        "import time\n\nimport schedule\n\n\ndef run():\n    while True:\n"
        "        schedule.run_pending()\n        time.sleep(1)\n"
    )
    served = {**SERVICE, "app/main.py": MAIN + "from app import poller\n", "app/poller.py": poller}
    assert project(served, "RES010") == []
    standalone = poller + "\n\nif __name__ == '__main__':\n    run()\n"
    assert project({"cron/poller.py": standalone}, "RES010") == [("RES010", "cron/poller.py", 7)]


def test_res010_loop_in_a_library_runs_nowhere(project) -> None:
    library = {"jobs/worker.py": WORKER.split("\n\nif __name__")[0] + "\n"}
    assert project(library, "RES010") == []
    assert project({**library, "Dockerfile": "FROM python:3.12\n"}, "RES010") == [
        ("RES010", "jobs/worker.py", 8)
    ]


# -- SEC030 -------------------------------------------------------------------------------------

ADMIN = textwrap.dedent(
    """\
    from fastapi import APIRouter, Depends

    router = APIRouter(prefix="/admin")


    @router.delete("/users/{user_id}")
    def delete_user(user_id: int):
        return None
    """
)
ADMIN_SERVICE = {
    **SERVICE,
    "app/main.py": MAIN + "from app import admin\napp.include_router(admin.router)\n",
    "app/admin.py": ADMIN,
}


def test_sec030_admin_router_without_auth(project) -> None:
    assert project(ADMIN_SERVICE, "SEC030") == [("SEC030", "app/admin.py", 7)]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "app/admin.py",
            ADMIN.replace(
                'APIRouter(prefix="/admin")',
                'APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])',
            ),
        ),
        (
            "app/admin.py",
            ADMIN.replace("user_id: int)", "user_id: int, user=Depends(get_current_user))"),
        ),
        ("app/admin.py", ADMIN.replace("user_id: int)", "user_id: int, admin: CurrentAdmin)")),
        (
            "app/admin.py",
            ADMIN.replace(
                "return None",
                "if request.headers.get('X-Admin-Token') != TOKEN:\n"
                "            raise HTTPException(status_code=403)",
            ),
        ),
        (
            "app/main.py",
            MAIN
            + "from app import admin\n"
            + "app.include_router(admin.router, dependencies=[Depends(verify_token)])\n",
        ),
        (
            "app/main.py",
            MAIN.replace("FastAPI()", "FastAPI(dependencies=[Depends(api_key_auth)])")
            + "from app import admin\napp.include_router(admin.router)\n",
        ),
        ("app/auth.py", "from app.main import app\n\napp.add_middleware(JWTAuthMiddleware)\n"),
    ],
)
def test_sec030_auth_somewhere_in_the_chain(project, name: str, text: str) -> None:
    assert project({**ADMIN_SERVICE, name: text}, "SEC030") == []


FLASK = textwrap.dedent(
    """\
    from flask import Flask

    app = Flask(__name__)


    @app.route("/internal/flush", methods=["POST"])
    def flush():
        return ""
    """
)


def test_sec030_flask(project) -> None:
    assert project({"svc/app.py": FLASK}, "SEC030") == [("SEC030", "svc/app.py", 7)]
    decorated = FLASK.replace("def flush", "@roles_required('admin')\ndef flush")
    assert project({"svc/app.py": decorated}, "SEC030") == []
    hook = FLASK + (
        "\n\n@app.before_request\ndef check_auth():\n"
        "    if not request.headers.get('Authorization'):\n        abort(401)\n"
    )
    assert project({"svc/app.py": hook}, "SEC030") == []


DRF = {
    **DJANGO,
    "shop/urls.py": "from django.urls import path\n\nfrom shop import views\n\n"
    'urlpatterns = [path("internal/sync/", views.SyncView.as_view())]\n',
    "shop/views.py": "from rest_framework.views import APIView\n"
    "from rest_framework.response import Response\n\n\n"
    "class SyncView(APIView):\n    def post(self, request):\n"
    "        return Response({})\n",
}


def test_sec030_drf_view_and_global_permissions(project) -> None:
    assert project(DRF, "SEC030") == [("SEC030", "shop/urls.py", 5)]
    settings = (
        "REST_FRAMEWORK = {'DEFAULT_PERMISSION_CLASSES': "
        "['rest_framework.permissions.IsAuthenticated']}\n"
    )
    assert project({**DRF, "mysite/settings.py": settings}, "SEC030") == []
    own = DRF["shop/views.py"].replace(
        "    def post", "    permission_classes = [IsAdminUser]\n\n    def post"
    )
    assert project({**DRF, "shop/views.py": own}, "SEC030") == []
    open_view = DRF["shop/views.py"].replace(
        "    def post", "    permission_classes = [AllowAny]\n\n    def post"
    )
    files = {**DRF, "mysite/settings.py": settings, "shop/views.py": open_view}
    assert project(files, "SEC030") == [("SEC030", "shop/urls.py", 5)]


def test_sec030_django_login_required_middleware(project) -> None:
    settings = "MIDDLEWARE = ['django.contrib.auth.middleware.LoginRequiredMiddleware']\n"
    assert project({**DRF, "mysite/settings.py": settings}, "SEC030") == []


BLUEPRINT = {
    "svc/__init__.py": "from flask import Flask\n\n\ndef create_app():\n"
    "    app = Flask(__name__)\n    from svc.admin import bp\n\n"
    "    app.register_blueprint(bp)\n    return app\n",
    "svc/admin/__init__.py": "from flask import Blueprint\n\n"
    "bp = Blueprint('admin', __name__, url_prefix='/admin')\n\nfrom svc.admin import views\n",
    "svc/admin/views.py": "from flask import jsonify\n\nfrom svc.admin import bp\n\n\n"
    "@bp.route('/users/<int:uid>', methods=['DELETE'])\ndef delete_user(uid):\n"
    "    return jsonify(deleted=uid)\n",
}


def test_sec030_blueprint_prefix_from_the_module_that_defines_it(project) -> None:
    assert project(BLUEPRINT, "SEC030") == [("SEC030", "svc/admin/views.py", 7)]
    guarded = BLUEPRINT["svc/admin/__init__.py"] + (
        "\n\n@bp.before_request\ndef require_admin():\n"
        "    if not current_user.is_admin:\n        abort(403)\n"
    )
    assert project({**BLUEPRINT, "svc/admin/__init__.py": guarded}, "SEC030") == []


def test_sec030_route_on_a_router_guarded_where_it_is_defined(project) -> None:
    files = {
        **SERVICE,
        "app/main.py": MAIN + "from app.admin import api\napp.include_router(api.router)\n",
        "app/admin/__init__.py": "",
        "app/admin/api.py": "from fastapi import APIRouter, Depends\n\n"
        "router = APIRouter(dependencies=[Depends(require_staff)])\n\n"
        "from app.admin import users\n",
        "app/admin/users.py": "from fastapi import HTTPException\n\n"
        "from app.admin.api import router\n\n\n"
        "@router.get('/admin/users')\ndef users():\n    return []\n",
    }
    assert project(files, "SEC030") == []
    unguarded = files["app/admin/api.py"].replace("dependencies=[Depends(require_staff)]", "")
    assert project({**files, "app/admin/api.py": unguarded}, "SEC030") == [
        ("SEC030", "app/admin/users.py", 7)
    ]
