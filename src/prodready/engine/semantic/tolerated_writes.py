"""A write the function lets fail: made in a ``try`` whose handlers neither re-raise nor raise
(``except IntegrityError: pass``). The code states that the writes before it stand without
it -- the evidence DAT003 weighs before calling the pair one change split in two."""

from __future__ import annotations

import ast
from collections.abc import Sequence

from prodready.engine.analysis.literals import dotted

# Flag prefix (``FunctionSummary.flags``): ``tolerated:<exception names>``, the later write of
# the function's pair is made in a ``try`` whose handlers swallow those exceptions.
TOLERATED = "tolerated:"


# What a failed write raises (Django's, SQLAlchemy's, DB-API's errors), named: a handler
# catching only others (``json.JSONDecodeError`` around parsing) lets the write's failure out,
# and one catching any ``Exception`` says nothing of the write (often an import or a lookup).
_WRITE_ERRORS = frozenset(
    {"IntegrityError", "DatabaseError", "DataError", "OperationalError", "ProgrammingError"}
    | {"SQLAlchemyError"}
)


def _swallowed(node: ast.Try | ast.TryStar) -> str | None:
    """The exceptions a ``try``'s handlers catch without raising (names joined by ``|``), or
    None when a handler raises, catches everything (a bare ``except``) or none catches what
    a failed write raises."""
    names: list[str] = []
    for handler in node.handlers:
        if handler.type is None or any(isinstance(n, ast.Raise) for n in ast.walk(handler)):
            return None
        caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names += [(dotted(c) or "?").rsplit(".", 1)[-1] for c in caught]
    return "|".join(names) if _WRITE_ERRORS.intersection(names) else None


def mark_tolerated(
    pair: tuple[int, int],
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    writes: Sequence[tuple[ast.Call, str]],
    flags: set[str],
) -> tuple[int, int]:
    """``pair`` unchanged; adds a ``tolerated:`` flag to ``flags`` when the later write of the
    pair is made in the body of a ``try`` (not holding the earlier one) whose handlers swallow
    what they catch."""
    earlier, later = writes[pair[0]][0], writes[pair[1]][0]
    for node in ast.walk(function):
        if not isinstance(node, ast.Try | ast.TryStar) or not node.handlers:
            continue
        inside = {id(n) for statement in node.body for n in ast.walk(statement)}
        if id(later) in inside and id(earlier) not in inside:
            swallowed = _swallowed(node)
            if swallowed is not None:
                flags.add(f"{TOLERATED}{swallowed}")
                break
    return pair
