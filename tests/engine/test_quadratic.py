"""The inputs that used to take quadratic time (issue 10 #13) still resolve the same names.

The timings live in ``benchmarks/quadratic.py``; these tests pin only what the faster paths
must keep: the qualified name of every call in a method chain, and what function-local imports
tell the rules.
"""

from __future__ import annotations

import ast
import textwrap

from prodready.engine.analysis import is_script
from prodready.engine.facts import ModuleFacts
from prodready.engine.pipeline import FileAnalyzer
from prodready.engine.python import ModuleEnd, PythonAnalyzer, PythonContext
from prodready.engine.registry import Registry, python_rule
from prodready.model import Category, FileKind, Profile, Severity


def _names(source: str) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """For every call in walk order: the name the engine dispatched it with, the name a rule
    gets by asking ``qualname`` again; and the calls a ``requests.*`` prefix rule saw."""
    dispatched: list[str | None] = []
    asked: list[str | None] = []
    prefixed: list[str | None] = []

    @python_rule(
        code="TST001",
        name="record-calls",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        nodes=(ast.Call,),
    )
    def record(node: ast.Call, ctx: PythonContext) -> None:
        dispatched.append(ctx.call_name)
        asked.append(ctx.qualname(node))

    @python_rule(
        code="TST002",
        name="record-prefixed",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        calls=("requests.Session.*",),
    )
    def record_prefixed(node: ast.Call, ctx: PythonContext) -> None:
        prefixed.append(ctx.call_name)

    text = textwrap.dedent(source)
    PythonAnalyzer([record, record_prefixed]).analyze(
        text, ast.parse(text), "app/service.py", Profile()
    )
    return dispatched, asked, prefixed


def test_every_call_of_a_method_chain_keeps_its_qualified_name() -> None:
    dispatched, asked, prefixed = _names(
        """
        import requests

        client = requests.Session()
        result = client.get("u").json().items()

        async def fetch(http):
            return (await http.get("u")).json()
        """
    )
    chain = [
        "requests.Session.get.json.items",
        "requests.Session.get.json",
        "requests.Session.get",
    ]
    assert dispatched == ["requests.Session", *chain, "http.get.json", "http.get"]
    assert asked == dispatched
    assert prefixed == chain


def test_a_long_chain_names_each_link() -> None:
    links = [f"m{index}" for index in range(120)]
    source = "import requests\nclient = requests.Session()\nclient." + "().".join(links) + "()\n"
    dispatched, asked, prefixed = _names(source)
    expected = ["requests.Session." + ".".join(links[:count]) for count in range(len(links), 0, -1)]
    assert dispatched == ["requests.Session", *expected]
    assert asked == dispatched
    assert prefixed == expected


def test_a_rebound_name_is_resolved_afresh_after_a_chain() -> None:
    dispatched, _, _ = _names(
        """
        import requests, httpx

        def handler():
            s = requests.Session()
            s.get("u").json()
            s = httpx.Client()
            s.get("u").json()
        """
    )
    assert dispatched == [
        "requests.Session",
        "requests.Session.get.json",
        "requests.Session.get",
        "httpx.Client",
        "httpx.Client.get.json",
        "httpx.Client.get",
    ]


def test_import_index_grows_with_the_imports() -> None:
    facts = ModuleFacts(module="app")
    assert not facts.imports_any(("jwt",))
    facts.imports.append(("os.path", 1))
    assert facts.imports_any(("os",))
    assert not facts.imports_any(("jwt", "jose"))
    facts.imports.append(("jose.jwt", 2))
    assert facts.imports_any(("jwt", "jose"))
    facts.imports.append((".models", 3))
    assert not facts.imports_any(("models",))


def _codes(source: str, registry: Registry) -> list[str]:
    rule = registry.get("SEC004")
    assert rule is not None
    result = FileAnalyzer([rule], Profile()).analyze_bytes(
        textwrap.dedent(source).encode(), "app/service.py", FileKind.PYTHON
    )
    assert result.errors == []
    return [f"{finding.rule}:{finding.line}" for finding in result.findings]


def _is_script(source: str) -> bool:
    seen: list[bool] = []

    @python_rule(
        code="TST003",
        name="record-script",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        nodes=(ModuleEnd,),
    )
    def record(node: ast.AST, ctx: PythonContext) -> None:
        seen.append(is_script(ctx))

    text = textwrap.dedent(source)
    PythonAnalyzer([record]).analyze(text, ast.parse(text), "app/tool.py", Profile())
    return seen == [True]


def test_function_local_imports_still_inform_the_rules(registry: Registry) -> None:
    """SEC004 learns of ``jwt`` from an import in an earlier function; a function-local
    ``import argparse`` makes the module a script."""
    source = """
        def first():
            import json
            return json

        def second():
            import jwt
            return jwt

        def current_user(token):
            return jwt.decode(token, options={"verify_signature": False})
        """
    assert _codes(source, registry) == ["SEC004:11"]
    script = "def helper():\n    import json\n\ndef main():\n    import argparse\n"
    assert _is_script(script)
    assert not _is_script(script.replace("argparse", "pathlib"))
