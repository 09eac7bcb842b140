"""Typed slots in the per-module cache: what several rules (or several calls of one rule) compute
once per module, declared once where it is computed.

A slot is declared at module level with the function that computes its first value::

    _SECRET_NAMES: ModuleMemo[frozenset[str]] = ModuleMemo("SEC013:secrets", _secret_names)

    def check(node: ast.Call, ctx: PythonContext) -> None:
        names = ctx.memo(_SECRET_NAMES)  # computed on first use in this module, then reused

The slot object itself is the key (its ``name`` only labels it in reprs), so two rules cannot
collide on a hand-built string key, and mypy knows the type of every value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from prodready.engine.python.module_context import PythonContext

T = TypeVar("T")


class ModuleMemo(Generic[T]):
    """A per-module value: ``compute(ctx)`` runs the first time a module asks for it."""

    __slots__ = ("compute", "name")

    def __init__(self, name: str, compute: Callable[[PythonContext], T]) -> None:
        self.name = name
        self.compute = compute

    def __repr__(self) -> str:
        return f"ModuleMemo({self.name!r})"
