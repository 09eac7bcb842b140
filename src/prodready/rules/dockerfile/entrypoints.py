"""Dockerfile: dev servers and shell-form entrypoints (DKR003, DKR005)."""

from __future__ import annotations

from prodready.plugin import (
    Category,
    Confidence,
    Dockerfile,
    FileContext,
    FileKind,
    Severity,
    file_rule,
)
from prodready.rules.dockerfile._shared import (
    _base,
    _chain,
    _dev_dockerfile,
    _exec_form,
    _line_of,
    _pairs,
    _process,
    _production_stage,
    _segments,
    _split,
    _words,
)

# -- DKR003 -----------------------------------------------------------------------------------

_RELOAD_SERVERS = frozenset({"uvicorn", "hypercorn", "gunicorn", "granian", "daphne"})
_TRUE = frozenset({"1", "true", "yes", "on"})


def _dev_server(words: list[str]) -> str | None:
    """What is wrong with the development server ``words`` start, or None."""
    for segment in _segments(words):
        names = [_base(word) for word in segment]
        if "flask" in names and "run" in names[names.index("flask") + 1 :]:
            return (
                "`flask run` starts Werkzeug's development server, which Flask documents as "
                "unfit for production (little concurrency, no worker management, not "
                "hardened); serve the app with gunicorn or uWSGI"
            )
        if any(name.startswith("runserver") for name in names) and (
            "manage.py" in names or "django-admin" in names
        ):
            return (
                "`manage.py runserver` is Django's development server, which Django says is "
                "not security-audited or performance-tested; serve the WSGI/ASGI app with "
                "gunicorn or uvicorn"
            )
        if "fastapi" in names and "dev" in names[names.index("fastapi") + 1 :]:
            return (
                "`fastapi dev` runs uvicorn in development mode with auto-reload (one "
                "process restarted on file changes); use `fastapi run` or uvicorn/gunicorn "
                "with --workers"
            )
        server = next((name for name in names if name in _RELOAD_SERVERS), None)
        if server and any(name == "--reload" or name.startswith("--reload=") for name in names):
            return (
                f"`{server} --reload` is development auto-reload mode: one process that "
                "watches the filesystem and restarts on any change; drop --reload and set "
                "--workers"
            )
        if "-m" in names and "http.server" in names:
            return (
                "`python -m http.server` is a development file server the Python docs say "
                "is not for production; serve static files with nginx or a CDN"
            )
    return None


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR003",
    name="dockerfile-dev-server",
    category=Category.DEPLOYMENT,
    severity=Severity.HIGH,
    summary="The image starts a development server (flask run, runserver, --reload, debug mode)",
    fix='Run a production server: CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]',
)
def dockerfile_dev_server(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags a final image whose CMD/ENTRYPOINT starts a development server -- `flask run`,
    `python manage.py runserver`, `uvicorn/gunicorn/hypercorn --reload`, `fastapi dev`,
    `python -m http.server` -- or that sets `FLASK_DEBUG=1` / `FLASK_ENV=development`.
    Dev containers and test images (`.devcontainer/`, `Dockerfile.dev`) are skipped.

    ## Why it breaks production
    Development servers are single-process, unhardened and documented as unfit for
    production: Werkzeug and `runserver` handle a handful of concurrent requests and fall over
    under real traffic; auto-reload watches the filesystem, restarts on any file change and
    costs CPU; Flask debug mode serves the interactive debugger, which is remote code execution
    for anyone who can trigger an error page.

    ## Example
    ```dockerfile
    ENV FLASK_DEBUG=1
    CMD ["flask", "run", "--host=0.0.0.0"]
    ```

    ## Use instead
    ```dockerfile
    CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "app:app"]
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    entrypoint, command = _process(chain)
    reported = False
    for instruction in (entrypoint, command):
        if instruction is None:
            continue
        problem = _dev_server(_words(instruction))
        if problem is None and instruction is command and entrypoint is not None:
            problem = _dev_server(_words(entrypoint) + _words(command))
        if problem is not None and not reported:
            reported = True
            ctx.report(instruction.line, problem)
    runs_flask = any("flask" in _base(word) for word in _words(entrypoint) + _words(command))
    for stage in chain:
        for instruction in stage.find("ENV"):
            for name, value in _pairs(instruction):
                value = (value or "").strip().lower()
                if (name == "FLASK_DEBUG" and value in _TRUE) or (
                    name == "FLASK_ENV" and value == "development"
                ):
                    ctx.report(
                        _line_of(ctx, instruction, name),
                        f"`{name}={value}` turns on Flask debug mode in the image: the "
                        "interactive debugger executes code for anyone who triggers an error, "
                        "and reloading restarts workers; set it only in local development",
                        confidence=None if runs_flask or not command else Confidence.MEDIUM,
                    )


# -- DKR005 -----------------------------------------------------------------------------------


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR005",
    name="dockerfile-shell-form-entrypoint",
    category=Category.DEPLOYMENT,
    severity=Severity.MEDIUM,
    summary="CMD/ENTRYPOINT in shell form: /bin/sh is PID 1 and SIGTERM may not reach the app",
    fix='Use the exec (JSON) form: CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]',
)
def dockerfile_shell_form_entrypoint(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags a final image whose process is started by a shell-form `CMD` or `ENTRYPOINT`
    (`CMD gunicorn app:app`) instead of the exec (JSON array) form. Shell-form commands that
    `exec` the server are accepted.

    ## Why it breaks production
    Shell form runs `/bin/sh -c "<command>"`. When the shell stays PID 1 -- always for
    compound commands (`cd /app && gunicorn ...`), and for simple ones depending on the shell
    -- it does not forward SIGTERM to the app. On every deploy, scale-down or node drain the
    app never hears the stop signal, keeps accepting requests, and is SIGKILLed when the grace
    period ends: in-flight requests are dropped, transactions cut mid-way, and every rollout
    takes the full 30 s per pod.

    Evidence tier: a simple command that only starts a shell script (`CMD ./run.sh`,
    `CMD bash /start.sh`) is reported low, confidence low -- whether the stop signal reaches
    the app then depends on the script (an `exec` at its end, or a TERM trap), not on the
    Dockerfile; the message says so.

    ## Example
    ```dockerfile
    CMD cd /app && gunicorn --bind 0.0.0.0:8000 app:app
    ```

    ## Use instead
    ```dockerfile
    WORKDIR /app
    CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    entrypoint, command = _process(_chain(document, final))
    process = entrypoint or command
    if process is None or _exec_form(process) is not None or not process.value.strip():
        return
    if entrypoint is not None and process is entrypoint and not entrypoint.value.strip():
        return
    words = _split(process.value, comments=True)
    if not words or any(_base(word) == "exec" for word in words):
        return
    compound = len(_segments(words)) > 1 or any(word.endswith(";") for word in words)
    script = None if compound else _launched_script(words)
    if script is not None:
        ctx.report(
            process.line,
            f"{process.keyword} in shell form starts the script `{script}` under `/bin/sh -c`: "
            "whether SIGTERM reaches the app is decided by that script, which the Dockerfile "
            "does not show -- it must `exec` the server, or trap TERM and forward it (a script "
            "that backgrounds processes and `wait`s stops on nothing, in exec form too); "
            f'reported low. Use the exec form {process.keyword} ["..."] and `exec` the server '
            "at the end of the script",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        process.line,
        f"{process.keyword} in shell form runs under `/bin/sh -c`"
        + (", which stays PID 1 for this compound command" if compound else "")
        + ": the shell does not forward SIGTERM, so the app is SIGKILLed at the end of the "
        "grace period and drops in-flight requests on every deploy; use the exec form "
        f'{process.keyword} ["...", "..."] (or prefix the command with `exec`)',
        confidence=None if compound else Confidence.MEDIUM,
    )


_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})


def _launched_script(words: list[str]) -> str | None:
    """The shell script a simple command runs (``./run.sh``, ``bash /start.sh``), or None."""
    rest = [word for word in words if "=" not in word.split("/", 1)[0]]  # ``A=1 ./run.sh``
    if rest and _base(rest[0]) in _SHELLS:
        rest = [word for word in rest[1:] if not word.startswith("-")]
    if len(rest) >= 1 and _base(rest[0]).endswith((".sh", ".bash")):
        return rest[0]
    return None
