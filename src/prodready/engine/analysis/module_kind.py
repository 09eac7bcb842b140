"""What a module is: service code, a script or CLI tool, a web framework's own source, or example
code. :data:`FRAMEWORK_PACKAGES` is the one table of framework packages (the project rules'
service detection uses it too)."""

from __future__ import annotations

import ast

from prodready.engine.analysis.literals import dotted
from prodready.engine.python import ModuleMemo, PythonContext
from prodready.engine.roles import path_role
from prodready.model import Role

# The roles (engine.roles) whose code runs from a command line, once or on demand.
_SCRIPT_ROLES = frozenset({Role.SCRIPT, Role.MANAGEMENT_COMMAND, Role.MIGRATION})


CLI_LIBRARIES = frozenset({"argparse", "click", "typer", "fire", "docopt", "optparse"})


def is_script(ctx: PythonContext) -> bool:
    """A command-line tool, one-off script or migration rather than code a service runs: it
    imports a CLI library and declares no routes, it uses no service framework and has a
    ``__main__`` block or runs its entry point at import (a top-level ``asyncio.run(main())``),
    or it lives where scripts live (``scripts/``, ``bin/``, Django management commands,
    migrations, ``manage.py``).

    Reads the imports seen so far: call it from ``ModuleEnd`` for a complete answer.
    """
    if path_role(ctx.path) in _SCRIPT_ROLES or ctx.path.rsplit("/", 1)[-1] == "conftest.py":
        return True
    facts = ctx.facts
    if facts.routes:
        return False
    if facts.imports_any(CLI_LIBRARIES):
        return True
    if facts.frameworks:
        return False
    if facts.has_main_guard:
        return True
    return ctx.memo(_RUNS_AT_IMPORT)  # a property of the whole tree: computed once per module


_RUNS_AT_IMPORT: ModuleMemo[bool] = ModuleMemo(
    "analysis:runs-at-import", lambda ctx: _runs_at_import(ctx.tree)
)


_SCRIPT_ENTRY_CALLS = frozenset({"asyncio.run", "trio.run", "anyio.run", "main", "async_main"})


def _runs_at_import(tree: ast.Module) -> bool:
    """A top-level ``asyncio.run(main())`` or ``main()``: the module does its work when run."""
    for statement in tree.body:
        value = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(value, ast.Call) and dotted(value.func) in _SCRIPT_ENTRY_CALLS:
            return True
    return False


# The packages of web frameworks and application servers: a module inside one of them is the
# framework's own source, library code services import, not a service. The one table: the project
# rules' service detection (``rules/_service.py``) uses it too.
FRAMEWORK_PACKAGES = frozenset(
    {"django", "rest_framework", "flask", "quart", "fastapi", "starlette", "aiohttp", "sanic"}
    | {"litestar", "tornado", "falcon", "werkzeug", "connexion", "uvicorn", "gunicorn"}
)


def is_framework_source(ctx: PythonContext) -> bool:
    """The module is part of a web framework's own package (``django/utils/archive.py``):
    library code that services import, not a service."""
    return any(part in FRAMEWORK_PACKAGES for part in ctx.path.split("/")[:-1])


def in_service_code(ctx: PythonContext) -> bool:
    """Code that runs inside a long-lived service: a module using a web/worker framework or
    declaring routes, whose path gives it no other role (engine.roles: not a test, example,
    migration...), that is not a script (see :func:`is_script`) nor part of a framework's own
    source."""
    facts = ctx.facts
    return (
        facts.is_service
        and not facts.is_test
        and not facts.is_example
        and path_role(ctx.path) is None
        and not is_script(ctx)
        and not is_framework_source(ctx)
    )


def is_example_code(ctx: PythonContext) -> bool:
    """The module lives under a documentation or tutorial directory (see
    :func:`prodready.engine.roles.is_documentation_path`): it illustrates an API and is not a
    deployed service."""
    return ctx.facts.is_example
