"""Bad input never crashes a scan: it becomes an entry in ``errors`` and the scan goes on.

An input error (the file cannot be decoded or parsed) is fine; an internal error of a rule is
not: the engine turns it into a scan error too, so every test here checks the errors are only
of the first kind."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodready.catalog import default_registry
from prodready.engine.pipeline import FileAnalyzer
from prodready.engine.python import PythonContext
from prodready.engine.records import SourceFile
from prodready.engine.registry import python_rule
from prodready.model import Category, Config, FileKind, Profile, ScanError, Severity

REGISTRY = default_registry(plugins=False)
EXAMPLES = 30  # per property: enough to catch a regression, cheap enough for every run
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


# What an input the engine cannot read or parse becomes; anything else is a bug.
INPUT_ERRORS = (
    "syntax error: ",
    "needs Python >= ",  # a file written for a newer Python than the one running the tests
    "cannot decode: ",
    "cannot parse: ",
    "cannot read: ",
    "binary file (contains NUL bytes)",
    "too deeply nested",
    "invalid YAML: ",
    "invalid TOML: ",
    "YAML nesting is too deep",
    "recursive YAML alias",
    "YAML alias expansion exceeds ",
    "Dockerfile has no FROM instruction",
)


def _rule_crashes(errors: list[ScanError]) -> list[tuple[str, int | None, str]]:
    """The errors that are not about the input: "internal error in rule X: ..." and the like."""
    return [(e.path, e.line, e.message) for e in errors if not e.message.startswith(INPUT_ERRORS)]


def _analyze(data: bytes, kind: FileKind = FileKind.PYTHON, name: str = "x.py"):
    result = ANALYZER.analyze_bytes(data, name, kind)
    assert _rule_crashes(result.errors) == []
    return result


def test_a_crashing_rule_fails_these_tests() -> None:
    @python_rule(
        code="TST900",
        name="always-crashes",
        category=Category.RESILIENCE,
        severity=Severity.LOW,
        summary="test",
        nodes=(ast.Call,),
    )
    def crash(node: ast.Call, ctx: PythonContext) -> None:
        raise KeyError("boom")

    result = FileAnalyzer([crash], Profile()).analyze_bytes(
        b"x = 1\nprint(x)\n", "x.py", FileKind.PYTHON
    )
    assert _rule_crashes(result.errors) == [
        ("x.py", 2, "internal error in rule TST900: KeyError: 'boom'")
    ]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_crashes(text: str) -> None:
    result = _analyze(text.encode("utf-8", "surrogatepass"))
    assert all(error.path == "x.py" for error in result.errors)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    assert source.count("\n") == 50_001


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


# -- YAML alias bombs (issue 10 #7) ----------------------------------------------------------

ALIAS_CAP = 100_000


def _alias_bomb(depth: int, width: int, as_key: bool) -> tuple[str, int]:
    """A manifest whose anchor ``a{n}`` lists ``a{n-1}`` ``width`` times, and how many nodes the
    aliases repeat (what the engine counts against its cap)."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    size = 1 + width  # nodes of a0, fully expanded
    repeated = 0
    for level in range(1, depth):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
        repeated += width * size
        size = 1 + width * size
    if as_key:
        lines.append(f"? *a{depth - 1}\n: boom")  # a non-scalar key is skipped, not expanded
    else:
        lines.append(f"top: *a{depth - 1}")
        repeated += size
    return "\n".join(lines) + "\n", repeated


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 12), st.integers(1, 12), st.booleans())
def test_yaml_alias_bombs_end_fast_with_an_error(depth: int, width: int, as_key: bool) -> None:
    text, repeated = _alias_bomb(depth, width, as_key)
    result = _analyze(text.encode(), FileKind.KUBERNETES, "k8s/bomb.yaml")
    messages = [error.message for error in result.errors]
    if repeated > ALIAS_CAP:
        assert messages == [f"YAML alias expansion exceeds {ALIAS_CAP} nodes"]
    else:
        assert messages == []


def test_the_reported_alias_key_bomb_through_the_runner(tmp_path: Path, run_scan) -> None:
    """The 437-byte document of the report: a key that is an alias to ten nested levels."""
    text, _ = _alias_bomb(10, 10, as_key=True)
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "configmap.yaml").write_text(text, encoding="utf-8")
    result = run_scan(tmp_path, config=Config())
    assert [(e.path, e.message, e.line) for e in result.errors] == [
        ("k8s/configmap.yaml", "YAML alias expansion exceeds 100000 nodes", 7)
    ]


# -- symlinks and special files in the scanned tree (issue 10 #1, #14) -----------------------

SECRET_OUTSIDE = "outside-secret-value-4711"
LINK_TARGETS = {
    "outside-file": "{outside}/leak.py",
    "outside-requirements": "{outside}/requirements.txt",
    "outside-dir": "{outside}",
    "environ": "/proc/self/environ",
    "passwd": "/etc/passwd",
    "dangling": "{root}/does-not-exist.py",
    "self": "{root}",
    "loop": "{link}",  # points at itself
}
LINK_NAMES = ["app.py", "extra.txt", "requirements.txt", "settings.py", "pkg", "k8s.yaml"]


def _build_tree(base: Path, links: list[tuple[str, str]], include: bool) -> Path:
    outside = base / "outside"
    outside.mkdir()
    (outside / "leak.py").write_text(f'API_TOKEN = "{SECRET_OUTSIDE}"\n', encoding="utf-8")
    (outside / "requirements.txt").write_text(f"{SECRET_OUTSIDE}==1.0\n", encoding="utf-8")
    root = base / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("import os\nprint(os.getcwd())\n", encoding="utf-8")
    requirements = "flask==3.0.0\n" + "".join(f"-r {name}\n" for name, _ in links)
    if include:  # the manifest itself may then not be one of the links
        (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    for name, target in links:
        link = root / name
        if os.path.lexists(link):
            continue
        link.symlink_to(target.format(outside=outside, root=root, link=link))
    return root


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(LINK_NAMES), st.sampled_from(sorted(LINK_TARGETS))),
        min_size=1,
        max_size=5,
        unique_by=lambda pair: pair[0],
    ),
    st.booleans(),
)
def test_symlinks_never_leak_or_crash(
    run_scan, links: list[tuple[str, str]], include: bool
) -> None:
    """Symlinks out of the tree, to /proc/self/environ, loops and dangling links: the scan
    finishes, reads nothing outside the project and echoes no environment value."""
    environment = {value for value in os.environ.values() if len(value) >= 12}
    with tempfile.TemporaryDirectory() as directory:
        root = _build_tree(Path(directory), [(n, LINK_TARGETS[t]) for n, t in links], include)
        result = run_scan(root, config=Config())
        assert _rule_crashes(result.errors) == []
        for finding in result.findings:
            shown = " ".join([finding.path, finding.message, finding.snippet, finding.fix or ""])
            assert SECRET_OUTSIDE not in shown
            assert not any(value in shown for value in environment), finding
            assert not finding.path.startswith(("/", ".."))
        for error in result.errors:
            assert "\n" not in error.message and SECRET_OUTSIDE not in error.message


def _fifo_tree(base: Path) -> Path:
    root = base / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text(
        "import requests\n\ndef fetch(url):\n    return requests.get(url)\n", encoding="utf-8"
    )
    (root / "requirements.txt").write_text("flask==3.0.0\n-r extra.txt\n", encoding="utf-8")
    (root / "sub").mkdir()
    for name in FIFO_NAMES:
        os.mkfifo(root / name)
    return root


# Each is opened by some part of a scan when it is a regular file: discovery reads .gitignore
# and peeks at files without an extension for a shebang, the manifest reader follows ``-r``.
FIFO_NAMES = (
    ".gitignore",
    "app.py",
    "app/settings.py",
    "Dockerfile",
    "k8s.yaml",
    "runserver",
    "extra.txt",
    "sub/requirements.txt",
)


@pytest.mark.parametrize("command", ["scan", "deps"])
def test_fifos_in_the_tree_do_not_block(tmp_path: Path, command: str) -> None:
    """Named pipes called .gitignore, app.py, Dockerfile, an included requirements file...:
    nobody writes to them, so opening one blocks forever. Run the real command line with a
    deadline."""
    root = _fifo_tree(tmp_path)
    args = [sys.executable, "-m", "prodready", command, ".", "--no-cache", "--format", "json"]
    if command == "deps":
        args.append("--offline")
    completed = subprocess.run(
        args, cwd=root, capture_output=True, text=True, timeout=30, check=False
    )
    assert completed.returncode in (0, 1), completed.stderr
    report = json.loads(completed.stdout)
    crashes = [e for e in report.get("errors", []) if not e["message"].startswith(INPUT_ERRORS)]
    assert crashes == []
    if command == "scan":
        assert [(f["rule"], f["path"]) for f in report["findings"] if f["rule"] == "RES001"] == [
            ("RES001", "app/main.py")
        ]
