"""Error handling: analysis several error-handling rules share (what a handler does with the
exception it caught)."""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext, Role
from prodready.plugin.analysis import (
    dependency_call,
    in_service_code,
    is_framework_source,
    is_script,
    path_role,
)


def _production_path(node: ast.Try, ctx: PythonContext) -> bool:
    """The ``try`` runs where a hidden failure costs: in an HTTP handler, in a module of a
    service, or around a call to another service. Library and tool code that absorbs a failed
    local step (introspection, a cache file, a terminal probe) on purpose is left alone."""
    if ctx.route is not None:
        return True
    if is_script(ctx) or is_framework_source(ctx):
        # A Django management command is the exception among scripts: cron and release steps
        # run it in the deployed environment, so a lost call to a service there is lost there.
        return (
            path_role(ctx.path) is Role.MANAGEMENT_COMMAND
            and dependency_call(node.body, ctx) is not None
        )
    return in_service_code(ctx) or dependency_call(node.body, ctx) is not None
