"""Error handling: analysis several error-handling rules share (what a handler does with the
exception it caught)."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import (
    dependency_call,
    in_service_code,
    is_framework_source,
    is_script,
)


def _production_path(node: ast.Try, ctx: PythonContext) -> bool:
    """The ``try`` runs where a hidden failure costs: in an HTTP handler, in a module of a
    service, or around a call to another service. Library and tool code that absorbs a failed
    local step (introspection, a cache file, a terminal probe) on purpose is left alone."""
    if ctx.route is not None:
        return True
    if is_script(ctx) or is_framework_source(ctx):
        return False
    return in_service_code(ctx) or dependency_call(node.body, ctx) is not None
