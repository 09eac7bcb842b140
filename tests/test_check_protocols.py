"""The rule decorators are typed with the Check protocols of prodready.plugin: mypy --strict
rejects a rule function whose signature does not fit its rule kind, where it is declared."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api as mypy_api

# Each line marked ``# expect: <code>`` must get exactly that mypy error; no other line any.
RULES = """\
import ast

from prodready.plugin import Category as C
from prodready.plugin import (
    Dockerfile,
    FileContext,
    FileKind,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    file_rule,
    project_rule,
    python_rule,
)
from prodready.plugin import Severity as S


@python_rule(code="ACM001", name="a", category=C.STATE, severity=S.LOW, summary="s", calls=("x",))
def good_python(node: ast.Call, ctx: PythonContext) -> None: ...


@python_rule(  # expect: arg-type
    code="ACM002", name="b", category=C.STATE, severity=S.LOW, summary="s", calls=("x",)
)
def document_context(node: ast.Call, ctx: FileContext) -> None: ...


@python_rule(  # expect: arg-type
    code="ACM003", name="c", category=C.STATE, severity=S.LOW, summary="s", calls=("x",)
)
def returns_a_value(node: ast.Call, ctx: PythonContext) -> bool:
    return True


@python_rule(  # expect: type-var
    code="ACM004", name="d", category=C.STATE, severity=S.LOW, summary="s", calls=("x",)
)
def not_a_node(node: str, ctx: PythonContext) -> None: ...


@python_rule(  # expect: arg-type
    code="ACM005", name="e", category=C.STATE, severity=S.LOW, summary="s", calls=("x",)
)
def no_context(node: ast.Call) -> None: ...


@file_rule(kind=FileKind.DOCKERFILE, code="ACM006", name="f", category=C.STATE, severity=S.LOW,
           summary="s")
def good_document(dockerfile: Dockerfile, ctx: FileContext) -> None: ...


@file_rule(  # expect: arg-type
    kind=FileKind.DOCKERFILE, code="ACM007", name="g", category=C.STATE, severity=S.LOW,
    summary="s"
)
def python_context(dockerfile: Dockerfile, ctx: PythonContext) -> None: ...


@project_rule(code="ACM008", name="h", category=C.STATE, severity=S.LOW, summary="s")
def good_project(facts: ProjectFacts, ctx: ProjectContext) -> None: ...


@project_rule(code="ACM009", name="i", category=C.STATE, severity=S.LOW,  # expect: arg-type
              summary="s")
def python_signature(node: ast.Call, ctx: PythonContext) -> None: ...


def collect_names(node: ast.If, ctx: PythonContext) -> list[tuple[str, int]]:
    return []


def collect_a_count(node: ast.If, ctx: PythonContext) -> int:
    return 1


@project_rule(code="ACM010", name="j", category=C.STATE, severity=S.LOW, summary="s",
              nodes=(ast.If,), collect=collect_names)
def good_collected(facts: ProjectFacts, ctx: ProjectContext) -> None: ...


@project_rule(code="ACM011", name="k", category=C.STATE, severity=S.LOW, summary="s",
              nodes=(ast.If,),
              collect=collect_a_count)  # expect: arg-type
def bad_collector(facts: ProjectFacts, ctx: ProjectContext) -> None: ...
"""


def _expected(source: str) -> list[tuple[int, str]]:
    return [
        (number, found.group(1))
        for number, line in enumerate(source.splitlines(), start=1)
        if (found := re.search(r"# expect: ([a-z-]+)$", line))
    ]


def _reported(stdout: str, path: Path) -> list[tuple[int, str]]:
    """Every error mypy reported, as (line, code); notes are left out."""
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): error: .*\[([a-z-]+)\]$")
    errors = [line for line in stdout.splitlines() if ": error: " in line]
    return [
        (int(found.group(1)), found.group(2)) if (found := pattern.match(line)) else (0, line)
        for line in errors
    ]


def test_mypy_rejects_rule_functions_that_do_not_fit_their_rule_kind(tmp_path: Path) -> None:
    rules = tmp_path / "acme_rules.py"
    rules.write_text(RULES, encoding="utf-8")
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--python-version=3.11",
            "--no-error-summary",
            "--show-error-codes",
            "--config-file=",
            f"--cache-dir={tmp_path / 'cache'}",
            str(rules),
        ]
    )
    assert stderr == ""
    assert _reported(stdout, rules) == _expected(RULES), stdout
    assert status == 1
