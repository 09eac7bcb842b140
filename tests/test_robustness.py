"""Bad input never crashes a scan: it becomes an entry in ``errors`` and the scan goes on."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodready.engine.analyze import FileAnalyzer, SourceFile
from prodready.engine.registry import Registry
from prodready.model import Config, FileKind, Profile

REGISTRY = Registry.default(plugins=False)
ANALYZER = FileAnalyzer(REGISTRY.select(Config()), Profile())

SEED = textwrap.dedent(
    """\
    import os, subprocess, requests, yaml, pickle, jwt, hashlib, time, asyncio
    from flask import Flask, request, jsonify
    from fastapi import FastAPI
    app = Flask(__name__)
    api = FastAPI()
    CACHE = {}
    PASSWORD = "hunter2hunter2"

    @app.route("/pay", methods=["POST"])
    def pay():
        data = request.get_json()
        CACHE[data["id"]] = data
        for item in data["items"]:
            try:
                r = requests.post(f"http://localhost/{item}", json=item)
                break
            except Exception:
                pass
        subprocess.run("echo " + data["x"], shell=True)
        cur.execute(f"SELECT * FROM t WHERE id = {data['id']}")
        return jsonify(ok=True)

    @api.get("/items/{item_id}")
    async def read(item_id: int):
        time.sleep(1)
        print(item_id)
        return yaml.load(open("x"))
    """
)


def _analyze(data: bytes, kind: FileKind = FileKind.PYTHON, name: str = "x.py"):
    return ANALYZER.analyze_bytes(data, name, kind)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_crashes(text: str) -> None:
    result = _analyze(text.encode("utf-8", "surrogatepass"))
    assert all(error.path == "x.py" for error in result.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_any_file_kind(data: bytes) -> None:
    for kind, name in [
        (FileKind.PYTHON, "x.py"),
        (FileKind.DOCKERFILE, "Dockerfile"),
        (FileKind.KUBERNETES, "k.yaml"),
        (FileKind.REQUIREMENTS, "requirements.txt"),
        (FileKind.PYPROJECT, "pyproject.toml"),
    ]:
        _analyze(data, kind, name)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_service_source_never_crashes(data: st.DataObject) -> None:
    lines = SEED.splitlines()
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        index = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "swap", "insert"]))
        if action == "delete" and len(lines) > 1:
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "truncate":
            cut = data.draw(st.integers(min_value=0, max_value=max(len(lines[index]), 0)))
            lines[index] = lines[index][:cut]
        elif action == "swap":
            other = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            lines.insert(index, data.draw(st.text(max_size=30)))
    result = _analyze("\n".join(lines).encode("utf-8", "surrogatepass"))
    for finding in result.findings:
        assert finding.line >= 1 and finding.column >= 1


def test_seed_is_valid_python_with_findings() -> None:
    ast.parse(SEED)
    assert _analyze(SEED.encode()).findings


def test_binary_and_undecodable_files(tmp_path: Path) -> None:
    result = _analyze(b"\x00\x01\x02import os\n")
    assert result.errors[0].message == "binary file (contains NUL bytes)"
    result = _analyze(b"x = '\xff\xfe'\n")
    assert result.errors[0].message.startswith("cannot decode") and result.errors[0].line == 1
    result = _analyze(b"# -*- coding: latin-1 -*-\nx = '\xe9'\n")
    assert result.errors == []
    result = _analyze(b"# coding: klingon\nx = 1\n")
    assert "unknown source encoding" in result.errors[0].message
    assert _analyze(b"\xef\xbb\xbfimport os\n").errors == []


def test_fifty_thousand_line_file() -> None:
    source = "import requests\n" + "".join(
        f"def f{i}(url):\n    return requests.get(url, timeout={i % 5 + 1})\n"
        for i in range(25_000)
    )
    result = _analyze(source.encode())
    assert result.errors == []
    assert source.count("\n") > 50_000


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 300 + "1" + ")" * 300 + "\n",  # beyond the parser's nesting limit
        "x = " + " + ".join(["a"] * 30_000) + "\n",  # a very deep left-leaning tree
        "x = " + "[" * 150 + "]" * 150 + "\n",
        "x = " + "-" * 50_000 + "1\n",
        "def f():\n"
        + "".join("    " * (i + 1) + "if x:\n" for i in range(99))
        + "    " * 100
        + "pass\n",
    ],
)
def test_deeply_nested_sources_become_errors_or_results(source: str) -> None:
    result = _analyze(source.encode())
    for error in result.errors:
        assert "nested" in error.message or "syntax error" in error.message


def test_a_file_that_vanished_is_an_error() -> None:
    result = ANALYZER.analyze(SourceFile("/nonexistent/gone.py", "gone.py", FileKind.PYTHON))
    assert result.errors[0].path == "gone.py" and "cannot read" in result.errors[0].message


def test_broken_documents_are_errors_with_lines() -> None:
    result = _analyze(b"apiVersion: v1\nkind: Pod\nspec: [\n", FileKind.KUBERNETES, "k.yaml")
    assert result.errors and result.errors[0].message.startswith("invalid YAML")
    result = _analyze(b"[project\nname = 1\n", FileKind.PYPROJECT, "pyproject.toml")
    assert result.errors and "invalid TOML" in result.errors[0].message
