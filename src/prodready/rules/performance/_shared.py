"""Performance: analysis several performance rules share."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext


def _short(ctx: PythonContext, node: ast.AST, limit: int = 60) -> str:
    text = " ".join(ctx.segment(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
