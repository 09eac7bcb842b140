"""Renumbered rules keep answering to their old codes (the catalog's redirects, as Ruff's):
CON001 -> PRF016, DAT001 -> PRF017, DAT002 -> PRF018, DAT005 -> PRF019 moved to the performance
category. Every
place a user writes a code -- the command line, prodready.toml and pyproject.toml, suppression
comments, a baseline, ``prodready explain`` -- still works, and the command line warns once per
old code it is given."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from prodready.catalog import default_registry
from prodready.engine.registry import PackLoadError, Registry, RulePack
from prodready.rules import BUILTIN_MODULES

SERVICE = textwrap.dedent(
    """\
    import time

    from fastapi import Depends, FastAPI
    from sqlalchemy.orm import Session

    from .db import get_db
    from .models import Customer, Order

    app = FastAPI()


    @app.get("/orders")
    def list_orders(db: Session = Depends(get_db)):
        return db.query(Order).all()


    @app.get("/orders/customers")
    def order_customers(db: Session = Depends(get_db)):
        names = []
        for order in db.query(Order).limit(50):
            names.append(db.query(Customer).filter(Customer.id == order.customer_id).first())
        return names


    @app.get("/slow")
    async def slow():
        time.sleep(1)
        return {}
    """
)
# Written by `prodready scan --write-baseline` at f119659, before the three rules moved.
BASELINE_BEFORE_THE_MOVE = {
    "tool": "prodready",
    "version": "0.1.0",
    "findings": [
        {
            "fingerprint": "754bb887af0194f875f21fc8fc5a25d1",
            "rule": "DAT002",
            "path": "app/api.py",
            "line": 14,
        },
        {
            "fingerprint": "e1b28db4c4e58dc9b17072654d435435",
            "rule": "DAT001",
            "path": "app/api.py",
            "line": 21,
        },
        {
            "fingerprint": "fa6ed048fb562e607a01ab3d3d360b89",
            "rule": "CON001",
            "path": "app/api.py",
            "line": 27,
        },
    ],
}
UNBOUNDED = (
    "app/api.py:14:12: PRF018 [medium] db.query(Order).all() loads every Order row in this "
    "request: add .limit() (and an offset/cursor) with a capped page size"
)
N_PLUS_ONE = (
    "app/api.py:21:22: PRF017 [low] db.query(Customer).filter(Customer.id == order.customer_i... "
    "runs one query per loop iteration; the loop covers one slice or page "
    "(db.query(Order).limit(50)), so the queries are at most a page's worth: to make them one, "
    "load them before the loop with selectinload()/joinedload() or one "
    "select(...).where(X.id.in_(ids))"
)
BLOCKING = (
    "app/api.py:27:5: PRF016 [high] time.sleep() blocks the event loop inside async def slow(): "
    "every other request on this worker waits until it returns. Use await asyncio.sleep(...), "
    "or await asyncio.to_thread(...)"
)
WARN_CON001 = (
    "prodready: warning: CON001 is now PRF016 (blocking-call-in-async); use the new code\n"
)
WARN_DAT001 = "prodready: warning: DAT001 is now PRF017 (query-in-loop); use the new code\n"
WARN_DAT002 = (
    "prodready: warning: DAT002 is now PRF018 (unbounded-query-in-endpoint); use the new code\n"
)
CONCISE = ["scan", "--no-cache", "--format", "concise"]


def _project(tmp_path: Path, source: str = SERVICE) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "api.py").write_text(source)
    return tmp_path


def _lines(stdout: str) -> list[str]:
    return stdout.splitlines()


def test_old_codes_select_and_ignore_on_the_command_line(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = run_cli(
        [*CONCISE, "--isolated", "--select", "DAT001,con001", "--select", "DAT001"], project
    )
    assert done.returncode == 1
    assert _lines(done.stdout) == [N_PLUS_ONE, BLOCKING]
    assert done.stderr == WARN_DAT001 + WARN_CON001  # once per old code, however often given
    done = run_cli(
        [*CONCISE, "--isolated", "--select", "PERFORMANCE", "--ignore", "DAT002"], project
    )
    assert _lines(done.stdout) == [N_PLUS_ONE, BLOCKING]
    assert done.stderr == WARN_DAT002


def test_new_codes_need_no_warning(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = run_cli([*CONCISE, "--isolated", "--select", "PRF016,PRF017,PRF018"], project)
    assert _lines(done.stdout) == [UNBOUNDED, N_PLUS_ONE, BLOCKING]
    assert done.stderr == ""


def test_old_codes_in_prodready_toml(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "prodready.toml").write_text(
        textwrap.dedent(
            """\
            select = ["DAT001", "DAT002", "CON001"]
            ignore = ["DAT002"]

            [per-path-ignores]
            "legacy/**" = ["DAT001"]

            [severity]
            DAT001 = "critical"
            """
        )
    )
    (project / "legacy").mkdir()
    (project / "legacy" / "api.py").write_text(SERVICE)
    done = run_cli(CONCISE, project)
    assert done.returncode == 1
    assert _lines(done.stdout) == [
        N_PLUS_ONE.replace("[low]", "[critical]"),
        BLOCKING,
        BLOCKING.replace("app/", "legacy/"),
    ]
    assert done.stderr == WARN_DAT001 + WARN_DAT002 + WARN_CON001


def test_old_codes_in_pyproject_toml(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "1"\n\n'
        '[tool.prodready]\nselect = ["PRF"]\nignore = ["CON001", "dat002"]\n'
    )
    done = run_cli(CONCISE, project)
    assert _lines(done.stdout) == [N_PLUS_ONE]
    assert done.stderr == WARN_CON001 + WARN_DAT002
    done = run_cli(["config"], project)
    assert done.returncode == 0
    assert 'ignore = ["CON001", "dat002"]' in done.stdout
    assert done.stderr == WARN_CON001 + WARN_DAT002


def test_suppression_comments_naming_old_codes(tmp_path: Path) -> None:
    source = SERVICE.replace(
        "    time.sleep(1)\n",
        "    time.sleep(1)  # prodready: ignore[CON001] a one-second demo endpoint\n",
    ).replace(
        "import time\n",
        "# prodready: ignore-file[DAT002] the admin app lists a handful of orders\nimport time\n",
    )
    project = _project(tmp_path, source)
    # CFG901 (unknown rule) and CFG902 (unused suppression) judge the comments: the old codes
    # name rules and silence their findings, so neither reports.
    done = run_cli([*CONCISE, "--isolated", "--select", "PRF,CFG901,CFG902"], project)
    assert done.returncode == 0
    assert _lines(done.stdout) == [N_PLUS_ONE.replace(":21:", ":22:")]
    assert done.stderr == ""


def test_a_baseline_written_before_the_move_still_matches(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "baseline.json").write_text(json.dumps(BASELINE_BEFORE_THE_MOVE))
    select = ["--isolated", "--select", "PRF016,PRF017,PRF018"]
    done = run_cli(["scan", "--no-cache", *select, "--baseline", "baseline.json"], project)
    assert done.returncode == 0
    assert re.sub(r"; \d+\.\d\ds$", "", done.stdout.strip()) == (
        "0 findings in 1 file, 3 in baseline; 0 errors"
    )
    # A baseline written now records the new codes with the same fingerprints.
    done = run_cli(["scan", "--no-cache", *select, "--write-baseline", "now.json"], project)
    written = json.loads((project / "now.json").read_text())["findings"]
    assert [(entry["rule"], entry["fingerprint"]) for entry in written] == [
        ("PRF018", "754bb887af0194f875f21fc8fc5a25d1"),
        ("PRF017", "e1b28db4c4e58dc9b17072654d435435"),
        ("PRF016", "fa6ed048fb562e607a01ab3d3d360b89"),
    ]


def test_explain_and_rules_take_old_codes(tmp_path: Path) -> None:
    done = run_cli(["explain", "DAT001"], tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith(
        "PRF017 query-in-loop\n====================\n"
        "Database query inside a loop over rows (N+1 queries)\n"
        "category: performance   severity: medium   confidence: high   formerly: DAT001\n"
    )
    assert done.stderr == WARN_DAT001
    done = run_cli(["rules", "--select", "CON001", "--format", "json"], tmp_path)
    [rule] = json.loads(done.stdout)
    assert (rule["code"], rule["category"], rule["redirected_from"]) == (
        "PRF016",
        "performance",
        ["CON001"],
    )
    assert done.stderr == WARN_CON001


def test_sarif_names_the_old_code_as_a_deprecated_id(tmp_path: Path) -> None:
    """Code scanning keeps an alert raised under the old code: SARIF's deprecatedIds."""
    project = _project(tmp_path)
    done = run_cli(
        ["scan", "--no-cache", "--isolated", "--select", "PRF016", "--format", "sarif"], project
    )
    [descriptor] = json.loads(done.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert (descriptor["id"], descriptor["deprecatedIds"]) == ("PRF016", ["CON001"])


def test_findings_carry_the_new_code_and_category(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = run_cli(
        ["scan", "--no-cache", "--isolated", "--select", "DAT002", "--format", "json"], project
    )
    [finding] = json.loads(done.stdout)["findings"]
    assert (finding["rule"], finding["category"], finding["line"]) == ("PRF018", "performance", 14)


def test_a_redirect_must_name_a_rule_and_free_its_old_code() -> None:
    builtin = RulePack.from_modules("builtin", *BUILTIN_MODULES)
    with pytest.raises(PackLoadError) as missing:
        Registry([builtin, RulePack("acme", redirects={"ACM001": "ACM002"})])
    assert str(missing.value) == (
        "rule pack 'acme' redirects ACM001 to ACM002, but no rule has the code ACM002"
    )
    with pytest.raises(PackLoadError) as taken:
        Registry([builtin, RulePack("acme", redirects={"RES001": "PRF016"})])
    assert str(taken.value) == (
        "rule pack 'acme' redirects RES001 to PRF016, but rule RES001 still exists"
    )


def test_the_old_codes_name_no_rule_of_their_own() -> None:
    registry = default_registry(plugins=False)
    assert registry.redirects == {
        "CON001": "PRF016",
        "DAT001": "PRF017",
        "DAT002": "PRF018",
        "DAT005": "PRF019",
        "SEC010": "CFG009",
    }
    assert not {"CON001", "DAT001", "DAT002", "DAT005", "SEC010"} & set(registry.rules)
    assert registry.resolve("DAT001", "select") == {"PRF017"}
    # Only whole codes are redirected: the DAT prefix selects today's data-access rules.
    assert not {"PRF016", "PRF017", "PRF018", "PRF019"} & registry.resolve("DAT", "select")
    assert registry.resolve("DAT", "select") == registry.resolve("data-access", "select")
