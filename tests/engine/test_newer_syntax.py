"""Files written for a newer Python than the one running prodready (issue 12, item 4).

Why a rewrite plus exact detection, not a parser for the newest grammar (measured on Python
3.11, Django 5.1.4's 2,788 files, 16.6 MiB; one process):

* ``ast.parse``: 2.4 s. LibCST 1.9's native parser: 28.4 s (11.6x), correct on every 3.12-3.14
  sample, but it yields LibCST nodes: a converter to ``ast`` would have to be written and kept,
  and 3.11's ``ast`` has no class for type parameters, ``type`` aliases or t-strings anyway.
  tree-sitter-python 0.25: 1.7 s for a tree that is not ``ast`` either, accepts the invalid
  ``except A, B as e:`` and rejects PEP 696 defaults. parso 0.8.7 (its 3.14 grammar): 23.7 s,
  and it reports errors on 11 of the 15 samples.
* So ``ast.parse`` stays the parser, and only a file it rejects is looked at again: what 3.11's
  ``ast`` can express is rewritten (same UTF-8 length per line, so positions stay exact) and
  analysed (PEP 758, PEP 695/696, PEP 701 nested quotes and comments); the rest (PEP 701
  backslashes and line breaks in replacement fields, PEP 750 t-strings) is reported with the
  construct, line, column and the Python version that parses it.

Correctness on real 3.12/3.13 code: the 21 files of CPython 3.13's standard library and test
suite that 3.11's ``ast.parse`` rejects (two are invalid on purpose): 16 are analysed with a
tree identical to 3.13's (every node's class and position, f-string literal parts and
type-parameter bounds aside), 3 are reported (a backslash or a line break in an f-string's
field), none gets a wrong error. Speed: the fallback runs only after a ``SyntaxError``;
Django's tree parses in the same CPU time through :func:`parse_source` as through
``ast.parse`` (2.32 s vs 2.26 s, best of 3 each, interleaved), the module imports in 0.6 ms.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ScanFn

from prodready.engine.newer_syntax import NewerSyntaxError, parse_source
from prodready.engine.pipeline import FileAnalyzer
from prodready.engine.python import PythonContext
from prodready.engine.registry import python_rule
from prodready.model import Category, FileKind, Profile, Severity

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


@python_rule(
    code="TST950",
    name="reports-requests-get",
    category=Category.RESILIENCE,
    severity=Severity.LOW,
    summary="test",
    calls=("requests.get",),
)
def _reports_get(node: ast.Call, ctx: PythonContext) -> None:
    ctx.report(node, "get")


ANALYZER = FileAnalyzer([_reports_get], Profile())


def _analyse(source: str) -> tuple[list[tuple[int, int]], list[tuple[str, int | None]]]:
    """(line, column) of each finding, and (message, line) of each error."""
    result = ANALYZER.analyze_bytes(
        textwrap.dedent(source).encode("utf-8"), "app/x.py", FileKind.PYTHON
    )
    findings = [(finding.line, finding.column) for finding in result.findings]
    return findings, [(error.message, error.line) for error in result.errors]


# --- analysed: the finding inside the construct keeps its exact line and column ------------


def test_pep758_except_list_without_parentheses_is_analysed() -> None:
    source = """\
        import requests

        def refresh(url):
            try:
                return decode(url)
            except ValueError, KeyError:
                return requests.get(url)
        """
    assert _analyse(source) == ([(7, 16)], [])


def test_pep758_except_list_is_the_tuple_python_314_builds() -> None:
    tree = parse_source("try:\n    pass\nexcept* Aé, b.C:\n    pass\n", "x.py")
    handler = tree.body[0].handlers[0]  # type: ignore[attr-defined]
    assert ast.dump(handler.type, include_attributes=True) == (
        "Tuple(elts=[Name(id='Aé', ctx=Load(), lineno=3, col_offset=8, end_lineno=3,"
        " end_col_offset=11), Attribute(value=Name(id='b', ctx=Load(), lineno=3,"
        " col_offset=13, end_lineno=3, end_col_offset=14), attr='C', ctx=Load(), lineno=3,"
        " col_offset=13, end_lineno=3, end_col_offset=16)], ctx=Load(), lineno=3,"
        " col_offset=8, end_lineno=3, end_col_offset=16)"
    )


def test_pep695_generic_function_is_analysed_on_its_own_line() -> None:
    source = """\
        import requests

        def naïve[T: (int, str), *Ts, **P](url: T) -> T: return requests.get(url)
        """
    assert _analyse(source) == ([(3, 57)], [])


def test_pep695_type_parameters_are_marked_as_on_python_312() -> None:
    tree = parse_source("class Box[\n    T: int,\n    **P,\n](Base):\n    pass\n", "x.py")
    box = tree.body[0]
    assert isinstance(box, ast.ClassDef)
    assert [
        (name.id, name.lineno, name.col_offset)
        for name in box.type_params  # type: ignore[attr-defined]
    ] == [("T", 2, 4), ("P", 3, 6)]
    assert [(base.lineno, base.col_offset) for base in box.bases] == [(4, 2)]


def test_pep695_multiline_generic_class_and_pep696_default_are_analysed() -> None:
    source = """\
        import requests

        class Client[
            T = str,
        ](Base):
            def fetch[U = int](self, url): return requests.get(url)
        """
    assert _analyse(source) == ([(6, 43)], [])


def test_pep695_type_alias_is_analysed_as_an_assignment() -> None:
    source = """\
        import requests

        type Pair[T] = tuple[T, T]; requests.get(URL)
        if True:
            type Handler = Callable[[str], None]
        """
    assert _analyse(source) == ([(3, 29)], [])
    tree = parse_source("type Pair[T] = tuple[T, T]\n", "x.py")
    assert ast.dump(tree.body[0], include_attributes=True).startswith(
        "Assign(targets=[Name(id='Pair', ctx=Store(), lineno=1, col_offset=5, end_lineno=1,"
        " end_col_offset=9)], value=Subscript(value=Name(id='tuple', ctx=Load(), lineno=1,"
        " col_offset=15,"
    )


def test_generic_definitions_are_rewritten_together_but_never_inside_a_string() -> None:
    # Rewritten ahead of the parser's errors (one parse, not one per definition); a line of
    # a string that looks like a generic definition keeps its text.
    source = 'def f():\n    """Usage:\ndef g[T](x): ...\n"""\n\ndef h[T](x): return x\n'
    tree = parse_source(source, "x.py")
    assert ast.literal_eval(tree.body[0].body[0].value) == "Usage:\ndef g[T](x): ...\n"  # type: ignore[attr-defined]
    assert [getattr(node, "type_params", None) is not None for node in tree.body] == [False, True]


def test_except_lists_are_rewritten_together_but_never_inside_a_string() -> None:
    source = 'try:\n    """\nexcept A, B:\n"""\nexcept A, B:\n    pass\nexcept* C, D:\n    pass\n'
    with pytest.raises(SyntaxError):  # except and except* in one try: an error on 3.14 too
        parse_source(source, "x.py")
    tree = parse_source(source.replace("except* C, D", "except C, D"), "x.py")
    assert ast.literal_eval(tree.body[0].body[0].value) == "\nexcept A, B:\n"  # type: ignore[attr-defined]
    assert [
        (handler.type.col_offset, handler.type.end_col_offset, len(handler.type.elts))
        for handler in tree.body[0].handlers  # type: ignore[attr-defined]
    ] == [(7, 11, 2), (7, 11, 2)]


def test_positions_after_a_rewrite_of_wide_characters_stay_exact() -> None:
    source = """\
        import requests

        def fetch[Té: "Ünïcode"](url): return requests.get(url)
        def again[Ü](url): return requests.get(url)
        """
    assert _analyse(source) == ([(3, 39), (4, 27)], [])


def test_dep014_sees_generics_on_any_python(tmp_path: Path, run_scan: ScanFn) -> None:
    # The rewritten definition keeps a type_params marker: the rule that compares the syntax
    # with requires-python judges the file as it does on 3.12.
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.10"\n'
    )
    (tmp_path / "util.py").write_text("def first[T](items: list[T]) -> T:\n    return items[0]\n")
    result = run_scan(tmp_path)
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("DEP014", "pyproject.toml", 4)]
    assert "util.py:1 uses PEP 695 type parameters" in result.findings[0].message
    assert result.errors == []


# --- reported: which construct, where, and the Python that parses it ------------------------


def _newer(construct: str, minor: int, line: int, column: int) -> tuple[str, int]:
    return (
        f"needs Python >= 3.{minor}: {construct} at line {line}, column {column} cannot be"
        f" parsed by Python {RUNNING}; run prodready on Python >= 3.{minor} to analyse it",
        line,
    )


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="t-strings parse on 3.14")
def test_pep750_t_string_is_reported_with_the_python_it_needs() -> None:
    source = """\
        import requests

        def page(name):
            return html(t"<p>{name}</p>")
        """
    assert _analyse(source) == ([], [_newer("t-string (PEP 750)", 14, 4, 17)])


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PEP 701 f-strings parse on 3.12")
def test_pep701_f_string_reusing_its_quote_is_analysed() -> None:
    # The nested strings take the other quote (same value, same length): 3.11 parses it, and
    # every expression inside keeps the position Python 3.12 gives it.
    source = """\
        import requests

        label = f"{user["name"]}: {f"{x}"}"; requests.get(f"{base["url"]}/x", timeout=t["s"])
        """
    assert _analyse(source) == ([(3, 38)], [])
    tree = parse_source('x = f"{d["k"]}"\n', "x.py")
    subscript = tree.body[0].value.values[0].value  # type: ignore[attr-defined]
    assert ast.dump(subscript, include_attributes=True) == (
        "Subscript(value=Name(id='d', ctx=Load(), lineno=1, col_offset=7, end_lineno=1,"
        " end_col_offset=8), slice=Constant(value='k', lineno=1, col_offset=9, end_lineno=1,"
        " end_col_offset=12), ctx=Load(), lineno=1, col_offset=7, end_lineno=1,"
        " end_col_offset=13)"
    )


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PEP 701 f-strings parse on 3.12")
def test_pep701_comment_in_a_triple_quoted_f_string_is_analysed() -> None:
    source = """\
        import requests

        page = f\"\"\"{
            requests.get(url)  # the user's page, é
        }\"\"\"
        """
    assert _analyse(source) == ([(4, 5)], [])


PEP701 = [
    ("label = f\"{'\\n'.join(names)}\"\n", "backslash in an f-string replacement field", 1, 13),
    ('\nlabel = f"{name\n   + last}"\n', "line break in an f-string replacement field", 2, 12),
    # f"{x=}" shows the field's own text: respelling its quotes would change the string
    ('label = f"{user["name"]=}"\n', "string reusing its enclosing f-string's quote", 1, 17),
    # three levels of one quote: no third quote to respell the innermost with
    ('label = f"{f"{f"{x}"}"}"\n', "string reusing its enclosing f-string's quote", 1, 12),
]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PEP 701 f-strings parse on 3.12")
@pytest.mark.parametrize(("source", "construct", "line", "column"), PEP701)
def test_pep701_f_string_is_reported_with_the_python_it_needs(
    source: str, construct: str, line: int, column: int
) -> None:
    assert _analyse(source) == ([], [_newer(f"{construct} (PEP 701)", 12, line, column)])


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="t-strings parse on 3.14")
def test_newer_construct_after_a_rewritten_one_is_reported() -> None:
    source = "def f[T](x: T):\n    return t'{x}'\n"
    with pytest.raises(NewerSyntaxError) as raised:
        parse_source(source, "x.py")
    assert (str(raised.value), raised.value.line) == _newer("t-string (PEP 750)", 14, 2, 12)


# --- a real syntax error keeps today's message ---------------------------------------------


def test_real_syntax_error_keeps_its_message() -> None:
    assert _analyse("def f(:\n    pass\n") == ([], [("syntax error: invalid syntax", 1)])


def test_except_list_with_as_stays_a_syntax_error_as_on_python_314() -> None:
    source = "try:\n    pass\nexcept A, B as e:\n    pass\n"
    message = "syntax error: multiple exception types must be parenthesized"
    assert _analyse(source) == ([], [(message, 3)])


def test_real_syntax_error_after_a_rewritten_construct_is_reported_at_its_line() -> None:
    source = "def f[T](x: T):\n    return x\n\nprint(1 +)\n"
    assert _analyse(source) == ([], [("syntax error: invalid syntax", 4)])


def test_a_t_string_after_a_real_syntax_error_does_not_explain_it() -> None:
    source = "print(1 +)\nx = t'{y}'\n"
    assert _analyse(source) == ([], [("syntax error: invalid syntax", 1)])


def test_valid_code_is_the_tree_ast_parse_builds() -> None:
    source = "import requests\nrequests.get(f'{a!r:>{w}}', timeout=3)\n"
    assert ast.dump(parse_source(source, "x.py"), include_attributes=True) == ast.dump(
        ast.parse(source), include_attributes=True
    )
