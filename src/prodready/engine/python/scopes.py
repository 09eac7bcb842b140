"""What the walk knows about the class and function around a node."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from prodready.engine.facts import (
    DJANGO_VIEW_BASES,
    Route,
)

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(slots=True)
class ClassInfo:
    node: ast.ClassDef
    bases: tuple[str, ...]
    attributes: dict[str, str | None] = field(default_factory=dict)

    @property
    def is_view(self) -> bool:
        return any(base.startswith(DJANGO_VIEW_BASES) for base in self.bases)


@dataclass(slots=True, eq=False)
class Scope:
    """A function being walked."""

    node: FunctionNode
    parent: Scope | None
    class_info: ClassInfo | None
    route: Route | None
    bindings: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, ast.expr] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def self_name(self) -> str | None:
        """The name of ``self`` when this is a method of a class."""
        if self.class_info is None:
            return None
        args = self.node.args.posonlyargs + self.node.args.args
        if not args:
            return None
        for decorator in self.node.decorator_list:
            if isinstance(decorator, ast.Name) and decorator.id in {"staticmethod", "classmethod"}:
                return None
        return args[0].arg

    @property
    def params(self) -> list[ast.arg]:
        a = self.node.args
        extra = [arg for arg in (a.vararg, a.kwarg) if arg is not None]
        return [*a.posonlyargs, *a.args, *a.kwonlyargs, *extra]
