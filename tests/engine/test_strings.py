"""``engine.analysis.strings``: the text of strings built at run time, whatever their length."""

from __future__ import annotations

import ast

from prodready.engine.analysis import is_dynamic_string, string_fragments
from prodready.engine.python import PythonAnalyzer, PythonContext
from prodready.model import Profile

LONG_CHAIN = (
    '"SELECT id FROM orders WHERE status = \'" + status + "\'" + " AND a = 1" + " AND b = 2"'
    ' + " AND c = 3" + " AND d = 4" + " AND e = 5" + " AND f = 6" + " LIMIT 10"'
)


def _expression(source: str) -> tuple[ast.expr, PythonContext]:
    module = f"status = input()\nquery = {source}\n"
    tree = ast.parse(module)
    ctx = PythonAnalyzer([]).analyze(module, tree, "service/app.py", Profile())
    statement = tree.body[1]
    assert isinstance(statement, ast.Assign)
    return statement.value, ctx


def test_every_fragment_of_a_long_concatenation_is_read() -> None:
    """A chain of ten operands was cut after six levels: its head (the SELECT) was lost."""
    expr, ctx = _expression(LONG_CHAIN)
    assert list(string_fragments(expr, ctx)) == [
        "SELECT id FROM orders WHERE status = '",
        "'",
        " AND a = 1",
        " AND b = 2",
        " AND c = 3",
        " AND d = 4",
        " AND e = 5",
        " AND f = 6",
        " LIMIT 10",
    ]


def test_a_value_early_in_a_long_concatenation_makes_it_dynamic() -> None:
    """The non-constant operand sat deeper than the depth limit and the chain passed for static."""
    expr, ctx = _expression(LONG_CHAIN)
    assert is_dynamic_string(expr, ctx) is True


def test_a_long_concatenation_of_constants_is_static() -> None:
    expr, ctx = _expression(LONG_CHAIN.replace("+ status +", '+ "open" +'))
    assert is_dynamic_string(expr, ctx) is False
