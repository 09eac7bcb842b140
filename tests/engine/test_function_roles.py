"""Function roles (prodready.engine.function_roles): a service module's function that only
command-line code reaches is judged in that code's role."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ScanFn

from prodready.engine.function_roles import function_role_spans
from prodready.engine.project import project_facts
from prodready.model import Config

COMMAND = (
    "from django.core.management.base import BaseCommand\n\n"
    "from shop.seed import both, seed_rows, served\n\n\n"
    "class Command(BaseCommand):\n"
    "    def handle(self, *args, **options):\n"
    "        seed_rows(5)\n"
    "        both()\n"
    "        served()\n"
)
MIGRATION = (
    "from django.db import migrations\n\n"
    "from shop.repairs import relink\n"
    "from shop.seed import both\n\n\n"
    "def forwards(apps, schema_editor):\n"
    "    relink()\n"
    "    both()\n\n\n"
    "class Migration(migrations.Migration):\n"
    "    operations = [migrations.RunPython(forwards)]\n"
)
SEED = (
    "import requests\n\n"
    "from shop.models import Item\n\n\n"
    "def seed_rows(count):\n"
    "    for pk in range(count):\n"
    "        item = Item.objects.get(pk=pk)\n"
    "        requests.post('https://stock.example.com/sync', json={'id': item.pk})\n\n\n"
    "def both():\n"
    "    pass\n\n\n"
    "def served():\n"
    "    pass\n"
)
REPAIRS = (
    "from shop.models import Item\n\n\n"
    "@staticmethod\n"
    "def relink():\n"
    "    for item in Item.objects.all():\n"
    "        item.owner = Item.objects.filter(name=item.name).first()\n"
    "        item.save()\n"
)
MODELS = (
    "from django.db import models\n\n\n"
    "class Item(models.Model):\n"
    "    name = models.CharField(max_length=20)\n"
    "    owner = models.ForeignKey('self', null=True, on_delete=models.SET_NULL)\n"
)
VIEW = "from shop.seed import served\n\n\ndef page(request):\n    return served()\n"


def _project(root: Path) -> None:
    files = {
        "shop/__init__.py": "",
        "shop/models.py": MODELS,
        "shop/seed.py": SEED,
        "shop/repairs.py": REPAIRS,
        "shop/views.py": VIEW,
        "shop/management/__init__.py": "",
        "shop/management/commands/__init__.py": "",
        "shop/management/commands/seed_shop.py": COMMAND,
        "shop/migrations/__init__.py": "",
        "shop/migrations/0002_relink.py": MIGRATION,
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def test_functions_reached_only_from_command_lines_take_their_role(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """A helper only a management command calls is management-command code, one only a
    migration calls is migration code, one both call is judged as the command's (more rules
    judge it); one a view also calls stays service code (no span). Spans cover decorators."""
    _project(tmp_path)
    result = run_scan(tmp_path, config=Config(select=("DAT003",)))
    spans = function_role_spans(project_facts(tmp_path, dict(result.facts), {}))
    assert spans == [
        {"path": "shop/repairs.py", "start": 4, "end": 8, "role": "migration"},
        {"path": "shop/seed.py", "start": 6, "end": 9, "role": "management-command"},
        {"path": "shop/seed.py", "start": 12, "end": 13, "role": "management-command"},
    ]


@pytest.mark.parametrize(
    "select",
    [("PRF017", "RES001"), ("PRF017", "RES001", "DAT003")],
    ids=["file-rules-only", "with-project-pass"],
)
def test_findings_in_such_functions_are_judged_in_that_role(
    tmp_path: Path, run_scan: ScanFn, select: tuple[str, ...]
) -> None:
    """The query per loop iteration of a seeding helper (performance: service only) is
    dropped; its untimed HTTP call stays, judged as a management command's (resilience
    judges commands: a command talks to production services)."""
    _project(tmp_path)
    result = run_scan(tmp_path, config=Config(select=select))
    found = [(f.rule, f.path, f.line, f.role) for f in result.findings if f.rule != "DAT003"]
    assert found == [("RES001", "shop/seed.py", 9, "management-command")]
    assert result.stats.outside_roles == 2  # seed.py:8 and repairs.py:7 (PRF017)


def test_a_function_handed_to_a_call_runs_on_behalf_of_the_caller(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """``run_later(_recount, pk)``: the job never called by name runs for the function that
    passes it -- only a migration calls that one, so the job is migration code too; a job a
    view also hands over is not."""
    files = {
        "club/__init__.py": "",
        "club/jobs.py": "def run_later(function, *args):\n    function(*args)\n",
        "club/counters.py": "from club.jobs import run_later\n\n\n"
        "def _recount(pk):\n    pass\n\n\n"
        "def _shared(pk):\n    pass\n\n\n"
        "def recount_all():\n    run_later(_recount, 1)\n    run_later(function=_shared)\n",
        "club/views.py": "from club.counters import _shared\nfrom club.jobs import run_later\n\n\n"
        "def page(request):\n    run_later(_shared, 2)\n",
        "club/migrations/__init__.py": "",
        "club/migrations/0002_recount.py": "from club.counters import recount_all\n\n\n"
        "def forwards(apps, schema_editor):\n    recount_all()\n",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    result = run_scan(tmp_path, config=Config(select=("DAT003",)))
    spans = function_role_spans(project_facts(tmp_path, dict(result.facts), {}))
    assert spans == [
        {"path": "club/counters.py", "start": 4, "end": 5, "role": "migration"},
        {"path": "club/counters.py", "start": 12, "end": 14, "role": "migration"},
    ]


def test_a_decorated_function_is_registered_elsewhere_and_keeps_its_files_role(
    tmp_path: Path, run_scan: ScanFn
) -> None:
    """A Celery task a management command also runs by hand is still run by the scheduler:
    its project callers are not all its callers, so it stays service code."""
    files = {
        "mail/__init__.py": "",
        "mail/tasks.py": "from celery import shared_task\n\n\n"
        "@shared_task\ndef fetch_all():\n    pass\n\n\n"
        "def fetch_one():\n    pass\n",
        "mail/management/__init__.py": "",
        "mail/management/commands/__init__.py": "",
        "mail/management/commands/fetch.py": "from mail.tasks import fetch_all, fetch_one\n\n\n"
        "def handle():\n    fetch_all()\n    fetch_one()\n",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    result = run_scan(tmp_path, config=Config(select=("DAT003",)))
    spans = function_role_spans(project_facts(tmp_path, dict(result.facts), {}))
    assert spans == [{"path": "mail/tasks.py", "start": 9, "end": 10, "role": "management-command"}]
