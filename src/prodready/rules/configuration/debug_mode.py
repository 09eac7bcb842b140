"""Configuration: debug mode enabled in service code (CFG009, formerly SEC010)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import argument, constant_str, dotted, is_true, keyword_value
from prodready.rules.security._shared import _dev_settings_file

# -- CFG009 ------------------------------------------------------------------------------------

_APP_RUN = ("flask.Flask.run", "quart.Quart.run", "*.run")
_APP_FACTORIES = ("fastapi.FastAPI", "starlette.applications.Starlette", "starlette.Starlette")
_RUN_SIMPLE = ("werkzeug.run_simple", "werkzeug.serving.run_simple")
# A host only this machine can connect to (not 0.0.0.0, which is every interface).
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$")


_LAUNCHER_WITHOUT_RELOAD = ProjectFact(
    "uvicorn-launcher-without-reload", "a module of the project starts uvicorn without reload"
)


def _only_as_main(ctx: PythonContext) -> bool:
    """The call runs only when the module is executed as a script: under
    ``if __name__ == "__main__":`` or in a module-level function called from there."""
    if ctx.in_main_guard:
        return True
    scope = ctx.function
    while scope is not None and scope.parent is not None:
        scope = scope.parent
    if scope is None or not isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    called: set[str] = set()
    outside: set[str] = set()
    for statement in ctx.tree.body:
        guard = isinstance(statement, ast.If) and "__main__" in ast.unparse(statement.test)
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                (called if guard else outside).add(node.func.id)
    return scope.node.name in called and scope.node.name not in outside


def _settings_module(path: str) -> bool:
    parts = path.split("/")
    return parts[-1].startswith("settings") or (len(parts) > 1 and parts[-2] == "settings")


_FACTORY_NAMES = frozenset({"create_app", "make_app", "build_app", "get_app", "app_factory"})


def _flask_app(expr: ast.AST, ctx: PythonContext) -> bool:
    name = ctx.qualname(expr) or ""
    if name.startswith(("flask.Flask", "quart.Quart")):
        return True
    if isinstance(expr, ast.Call):  # create_app().run(...): the app a Flask factory builds
        factory = (dotted(expr.func) or "").rsplit(".", 1)[-1]
        return factory in _FACTORY_NAMES and "flask" in ctx.facts.frameworks
    return (dotted(expr) or "") in {"app", "application", "self.app"} and not name.startswith(
        ("fastapi.", "starlette.", "aiohttp.")
    )


@python_rule(
    code="CFG009",
    name="debug-mode-enabled",
    category=Category.CONFIGURATION,
    severity=Severity.HIGH,
    summary="Framework debug mode switched on in code that can run in production",
    calls=(*_APP_RUN, *_APP_FACTORIES, *_RUN_SIMPLE, "uvicorn.run", "*.update", "*.from_mapping"),
    nodes=(ast.Assign,),
    cwe=489,
    fix="Read it from the environment, default off: debug=os.getenv('APP_DEBUG') == '1'.",
)
def debug_mode_enabled(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags debug mode switched on in code: Flask `app.run(debug=True)`, `app.debug = True`,
    `app.config["DEBUG"] = True`; Django `DEBUG = True` in a settings module (not in
    `dev`/`local`/`test` settings files); `FastAPI(debug=True)` / `Starlette(debug=True)`;
    werkzeug `run_simple(..., use_debugger=True)`; and, with medium severity, the
    auto-reloading development server `uvicorn.run(..., reload=True)`. `app.run(debug=True)`
    under `if __name__ == "__main__":` is reported with medium confidence. Evidence tier:
    `app.run(debug=True, host="127.0.0.1")` (or `localhost`, `::1`) listens on the developer's
    own machine, where no one else reaches the debugger: reported low, confidence low, and the
    message says so; any other host, or one read at run time, keeps the rule's severity.

    ## Why it breaks production
    Flask/Werkzeug's debugger gives anyone who can trigger an error an interactive Python
    console in the server process -- remote code execution. Django and Starlette debug pages
    show source code, settings, environment variables and SQL to every visitor, and Django
    keeps every query in memory. The reloader watches the file system and restarts workers
    under load.

    ## Example
    ```python
    app = Flask(__name__)

    if __name__ == "__main__":
        app.run(host="0.0.0.0", port=8000, debug=True)
    ```

    ## Use instead
    ```python
    app = Flask(__name__)
    app.config["DEBUG"] = os.getenv("FLASK_DEBUG") == "1"
    # production: gunicorn -w 4 -b 0.0.0.0:8000 app:app
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Assign):
        _debug_assignment(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    func = node.func
    if name in _APP_FACTORIES:
        if is_true(keyword_value(node, "debug")):
            ctx.report(
                node,
                f"{name.rsplit('.', 1)[-1]}(debug=True) serves tracebacks with source code and "
                "local values to every client: read the flag from the environment, default off",
            )
        return
    if name in _RUN_SIMPLE:
        if is_true(keyword_value(node, "use_debugger")) or is_true(argument(node, 4, None)):
            ctx.report(
                node,
                "run_simple(use_debugger=True) exposes the Werkzeug debugger, an interactive "
                "Python console for anyone who triggers an error: remove it in production",
            )
        return
    if name == "uvicorn.run":
        if not is_true(keyword_value(node, "reload")):
            ctx.establish(_LAUNCHER_WITHOUT_RELOAD)
        else:
            ctx.report(
                node,
                "uvicorn.run(reload=True) starts the auto-reloading development server: it "
                "watches files, runs one worker and restarts on changes. Run `uvicorn app:app "
                "--workers N` (or gunicorn) in production and keep reload for local use",
                severity=Severity.MEDIUM,
                confidence=Confidence.MEDIUM,
                # run only as a script beside a launcher without reload: a developer runner
                unless=_LAUNCHER_WITHOUT_RELOAD if _only_as_main(ctx) else (),
            )
        return
    if not isinstance(func, ast.Attribute):
        return
    if func.attr == "run":
        if not is_true(keyword_value(node, "debug")) or not _flask_app(func.value, ctx):
            return
        host = constant_str(argument(node, 0, "host")) or ""
        if _LOOPBACK.match(host):
            # Evidence tier: the server listens on this machine only, so the debugger's
            # console is not reachable from the network -- a developer's launcher.
            ctx.report(
                node,
                f"app.run(debug=True) starts the interactive debugger, but bound to {host} it is "
                "reachable from this machine only: a developer's launcher, it seems. Make sure "
                "production serves with gunicorn, not with this script",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
        else:
            ctx.report(
                node,
                "app.run(debug=True) starts the development server with the interactive "
                "debugger, a Python console for anyone who triggers an error (remote code "
                "execution). Serve with gunicorn and read debug from the environment, default off",
                confidence=Confidence.MEDIUM if ctx.in_main_guard else Confidence.HIGH,
            )
        return
    if (
        func.attr in {"update", "from_mapping"}
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "config"
        and _flask_app(func.value.value, ctx)
        and is_true(keyword_value(node, "DEBUG"))
    ):
        ctx.report(
            node,
            "Flask config DEBUG=True enables the interactive debugger and tracebacks for "
            "every client: read it from the environment, default off",
        )


def _debug_assignment(node: ast.Assign, ctx: PythonContext) -> None:
    if not is_true(node.value):
        return
    for target in node.targets:
        if isinstance(target, ast.Name) and target.id == "DEBUG":
            if (
                ctx.function is None
                and not ctx.classes
                and _settings_module(ctx.path)
                and not _dev_settings_file(ctx.path)
            ):
                ctx.report(
                    node,
                    "DEBUG = True in a settings module: Django then shows settings, source and "
                    "SQL on every error page and keeps every query in memory. Read it from the "
                    "environment, default False",
                    confidence=Confidence.MEDIUM,
                )
        elif isinstance(target, ast.Attribute) and target.attr == "debug":
            if _flask_app(target.value, ctx):
                ctx.report(
                    node,
                    "app.debug = True enables the Werkzeug debugger (remote code execution for "
                    "anyone who triggers an error): read it from the environment, default off",
                )
        elif isinstance(target, ast.Subscript) and constant_str(target.slice) == "DEBUG":
            owner = target.value
            if (
                isinstance(owner, ast.Attribute)
                and owner.attr == "config"
                and _flask_app(owner.value, ctx)
            ):
                ctx.report(
                    node,
                    'app.config["DEBUG"] = True enables the interactive debugger and '
                    "tracebacks for every client: read it from the environment, default off",
                )
