"""ModuleRecord: what the cache keeps of a Python module, and how a damaged entry is refused."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from typing import Any

import pytest

from prodready.engine.module_record import (
    Import,
    Mark,
    ModuleRecord,
    NamedLine,
    RouteRecord,
    as_mark,
)
from prodready.engine.python import ModuleEnd
from prodready.engine.registry import Registry, RulePack, project_rule
from prodready.engine.runner import ScanOptions, scan
from prodready.engine.semantic.summary import (
    CallSite,
    ClassSummary,
    FunctionSummary,
    SignalReceiver,
    Write,
)
from prodready.model import Category, Config, Severity

RECORD = ModuleRecord(
    module="app.api",
    frameworks=("django", "fastapi"),
    imports=(Import("fastapi", 1), Import(".models", 2)),
    routes=(
        RouteRecord("orders", 7, "fastapi", ("GET", "POST"), "/orders", "app", ("app.get",)),
        RouteRecord("view", 12, "django", None, None, None, (), ("get_user",)),
    ),
    syntax=(NamedLine("match", 20), NamedLine("walrus", 9)),
    evidence={
        "SEC030": (
            Mark("fastapi.FastAPI", 5),
            Mark.of("router", 6, prefix="/admin", auth=False, app=True),
            Mark("requests", 3, "guarded"),
        )
    },
    is_test=False,
    is_example=True,
    functions=(
        FunctionSummary(
            "Checkout.place",
            30,
            ("atomic",),
            (Write("order.save()", 31), Write("Line.objects...create()", 32)),
            (0, 1),
            (CallSite("app.db.locked", 33), CallSite("app.api.notify", 34, "tx")),
            ("app.db.locked",),
            ("app.db.audited",),
        ),
        FunctionSummary("notify", 40),
    ),
    signals=(SignalReceiver("django.db.models.signals.post_delete", "app.api.notify", 39),),
    classes=(ClassSummary("Checkout", 28, ("app.mixins.Saving",)),),
)


def _round_trip(record: ModuleRecord) -> ModuleRecord | None:
    return ModuleRecord.from_json(json.loads(json.dumps(record.to_json())))


def test_a_record_survives_the_json_round_trip() -> None:
    assert _round_trip(RECORD) == RECORD
    assert _round_trip(ModuleRecord("")) == ModuleRecord("")


def test_the_stored_shape_is_compact_pairs() -> None:
    stored = RECORD.to_json()
    assert stored["imports"] == [["fastapi", 1], [".models", 2]]
    assert stored["evidence"] == {
        "SEC030": [
            ["fastapi.FastAPI", 5],
            ["", 6, "router", {"app": True, "auth": False, "prefix": "/admin"}],
            ["requests", 3, "guarded"],
        ]
    }


def test_function_summaries_are_stored_without_their_empty_trailing_fields() -> None:
    stored = RECORD.to_json()
    assert stored["functions"] == [
        [
            "Checkout.place",
            30,
            ["atomic"],
            [["order.save()", 31], ["Line.objects...create()", 32]],
            [0, 1],
            [["app.db.locked", 33], ["app.api.notify", 34, "tx"]],
            ["app.db.locked"],
            ["app.db.audited"],
        ],
        ["notify", 40],
    ]
    assert stored["signals"] == [["django.db.models.signals.post_delete", "app.api.notify", 39]]
    assert stored["classes"] == [["Checkout", 28, ["app.mixins.Saving"]]]
    partial = FunctionSummary("f", 3, (), (Write("x.save()", 4),))
    assert partial.to_json() == ["f", 3, [], [["x.save()", 4]]]
    assert FunctionSummary.from_json(partial.to_json()) == partial


def test_marks_two_rules_share_are_stored_once() -> None:
    marks = (Mark("yaml", 3, "guarded"), Mark("lxml", 9, "lazy"))
    record = ModuleRecord("app", evidence={"DEP010": marks, "DEP011": (), "DEP014": marks})
    stored = record.to_json()
    assert stored["evidence"] == {
        "DEP010": [["yaml", 3, "guarded"], ["lxml", 9, "lazy"]],
        "DEP011": [],
        "DEP014": "DEP010",
    }
    rebuilt = _round_trip(record)
    assert rebuilt == record
    assert rebuilt is not None and rebuilt.evidence["DEP014"] is rebuilt.evidence["DEP010"]


def test_a_mark_reads_its_details_by_type() -> None:
    mark = Mark.of("include", 4, name="x", target="app.admin.router", prefix=None, auth=True)
    assert mark == Mark("x", 4, "include", (("auth", True), ("target", "app.admin.router")))
    assert (mark.text("target"), mark.text("prefix"), mark.text("auth")) == (
        "app.admin.router",
        "",
        "",
    )
    assert (mark.flag("auth"), mark.flag("prefix")) == (True, False)
    assert as_mark(("fastapi.FastAPI", 3)) == Mark("fastapi.FastAPI", 3)
    assert as_mark(mark) is mark


Damage = Callable[[dict[str, Any]], object]

DAMAGED: dict[str, Damage] = {
    "not-an-object": lambda facts: [facts],
    "module-missing": lambda facts: {k: v for k, v in facts.items() if k != "module"},
    "module-is-null": lambda facts: {**facts, "module": None},
    "frameworks-are-a-string": lambda facts: {**facts, "frameworks": "django"},
    "import-is-an-object": lambda facts: {**facts, "imports": [{"module": "x", "line": 1}]},
    "import-line-is-a-bool": lambda facts: {**facts, "imports": [["x", True]]},
    "import-line-is-a-string": lambda facts: {**facts, "imports": [["x", "1"]]},
    "import-of-three": lambda facts: {**facts, "imports": [["x", 1, 2]]},
    "route-too-short": lambda facts: {**facts, "routes": [facts["routes"][0][:7]]},
    "route-methods-a-string": lambda facts: {
        **facts,
        "routes": [[*facts["routes"][0][:3], "GET", *facts["routes"][0][4:]]],
    },
    "route-path-a-number": lambda facts: {
        **facts,
        "routes": [[*facts["routes"][0][:4], 5, *facts["routes"][0][5:]]],
    },
    "syntax-is-an-object": lambda facts: {**facts, "syntax": {"match": 20}},
    "is-test-is-a-number": lambda facts: {**facts, "is_test": 0},
    "evidence-is-a-list": lambda facts: {**facts, "evidence": []},
    "mark-of-one": lambda facts: {**facts, "evidence": {"X": [["a"]]}},
    "mark-kind-a-number": lambda facts: {**facts, "evidence": {"X": [["a", 1, 2]]}},
    "mark-details-empty": lambda facts: {**facts, "evidence": {"X": [["a", 1, "k", {}]]}},
    "mark-detail-a-list": lambda facts: {**facts, "evidence": {"X": [["a", 1, "k", {"v": []}]]}},
    "mark-detail-null": lambda facts: {**facts, "evidence": {"X": [["a", 1, "k", {"v": None}]]}},
    "marks-of-an-unknown-code": lambda facts: {**facts, "evidence": {"X": "SEC030"}},
    "marks-of-a-later-code": lambda facts: {**facts, "evidence": {"X": "Y", "Y": []}},
    "functions-missing": lambda facts: {k: v for k, v in facts.items() if k != "functions"},
    "function-of-one": lambda facts: {**facts, "functions": [["f"]]},
    "function-of-nine": lambda facts: {**facts, "functions": [[*facts["functions"][0], []]]},
    "function-line-a-bool": lambda facts: {**facts, "functions": [["f", True]]},
    "function-flag-a-number": lambda facts: {**facts, "functions": [["f", 1, [1]]]},
    "write-of-one": lambda facts: {**facts, "functions": [["f", 1, [], [["x.save()"]]]]},
    "pair-of-strings": lambda facts: {**facts, "functions": [["f", 1, [], [], ["0", "1"]]]},
    "call-guard-empty": lambda facts: {
        **facts,
        "functions": [["f", 1, [], [], [], [["g", 2, ""]]]],
    },
    "call-of-four": lambda facts: {
        **facts,
        "functions": [["f", 1, [], [], [], [["g", 2, "tx", 1]]]],
    },
    "manager-a-number": lambda facts: {**facts, "functions": [["f", 1, [], [], [], [], [3]]]},
    "signals-missing": lambda facts: {k: v for k, v in facts.items() if k != "signals"},
    "signal-of-two": lambda facts: {**facts, "signals": [["post_delete", "f"]]},
    "signal-line-a-string": lambda facts: {**facts, "signals": [["post_delete", "f", "3"]]},
    "classes-missing": lambda facts: {k: v for k, v in facts.items() if k != "classes"},
    "class-bases-a-string": lambda facts: {**facts, "classes": [["C", 1, "app.Base"]]},
    "class-of-two": lambda facts: {**facts, "classes": [["C", 1]]},
}


@pytest.mark.parametrize("damage", DAMAGED.values(), ids=DAMAGED.keys())
def test_facts_of_the_wrong_shape_are_refused(damage: Damage) -> None:
    stored = json.loads(json.dumps(RECORD.to_json()))
    assert ModuleRecord.from_json(stored) == RECORD
    assert ModuleRecord.from_json(damage(stored)) is None


# -- typed evidence through the scan and the cache ------------------------------------------------


def _routers(node: ast.AST, ctx: Any) -> list[Mark | tuple[str, int]]:
    assert isinstance(node, ast.Module)
    found: list[Mark | tuple[str, int]] = [("plain", 1)]
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and ctx.qualname(call.func) == "fastapi.APIRouter":
            prefix = call.keywords[0].value if call.keywords else None
            text = prefix.value if isinstance(prefix, ast.Constant) else None
            found.append(Mark.of("router", call.lineno, prefix=text, local=True))
    return found


@project_rule(
    nodes=(ModuleEnd,),
    collect=_routers,
    code="TST200",
    name="reads-typed-evidence",
    category=Category.SECURITY,
    severity=Severity.LOW,
    summary="test rule",
    calls=("fastapi.FastAPI",),
)
def reads_typed_evidence(project: Any, ctx: Any) -> None:
    """## What it does\n## Why it breaks production\n## Example\n## Use instead"""
    for item in project.evidence("TST200"):
        if item.kind == "router" and item.flag("local"):
            ctx.report(item.path, item.line, f"router at {item.text('prefix') or '/'}")
        elif item.kind == "":
            ctx.report(item.path, item.line, f"{item.name}()")


SOURCE = """\
from fastapi import APIRouter, FastAPI

app = FastAPI()
admin = APIRouter(prefix="/admin")
plain = APIRouter()
"""


def test_marks_reach_the_project_rule_cold_and_warm(tmp_path: Any) -> None:
    (tmp_path / "main.py").write_text(SOURCE, encoding="utf-8")
    registry = Registry([RulePack("test", [reads_typed_evidence])])
    options = ScanOptions(
        targets=[tmp_path], root=tmp_path, jobs=1, plugins=False, cache_dir=tmp_path / ".c"
    )
    cold = scan(options, Config(), registry)
    warm = scan(options, Config(), registry)
    assert warm.stats.cache_hits == 1
    for result in (cold, warm):
        assert result.errors == []
        assert [(f.line, f.message) for f in result.findings] == [
            (1, "plain()"),
            (3, "fastapi.FastAPI()"),
            (4, "router at /admin"),
            (5, "router at /"),
        ]
    assert warm.facts == cold.facts
