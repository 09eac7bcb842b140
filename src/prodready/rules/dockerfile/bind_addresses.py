"""Dockerfile: a server that listens only on the container's loopback interface (DKR011)."""

from __future__ import annotations

from prodready.plugin import (
    Category,
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
    _pairs,
    _process,
    _production_stage,
    _segments,
    _words,
)

# -- DKR011 ---------------------------------------------------------------------------------------

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# server -> the options that set its listening address
_BIND_OPTIONS = {
    "gunicorn": ("-b", "--bind"),
    "uvicorn": ("--host",),
    "hypercorn": ("-b", "--bind"),
    "daphne": ("-b", "--bind"),
    "granian": ("--host",),
    "waitress-serve": ("--host", "--listen"),
}
# Servers whose default address is the loopback, and the environment variable that changes it
# (uvicorn and granian read UVICORN_HOST/GRANIAN_HOST; gunicorn may be bound by its config
# file, so its default is not judged).
_LOOPBACK_DEFAULTS = {"uvicorn": "UVICORN_HOST", "granian": "GRANIAN_HOST"}


def _option_value(words: list[str], options: tuple[str, ...]) -> str | None:
    for index, word in enumerate(words):
        for option in options:
            if word == option and index + 1 < len(words):
                return words[index + 1]
            if word.startswith(option + "="):
                return word.split("=", 1)[1]
    return None


def _host(address: str) -> str:
    address = address.split("://", 1)[-1]  # unix:/path or tcp://host:port
    if address.startswith("["):
        return address.split("]", 1)[0] + "]"
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _loopback_server(words: list[str], env: set[str]) -> str | None:
    """The server ``words`` start when it listens on loopback only, with how it was told to."""
    for segment in _segments(words):
        names = [_base(word) for word in segment]
        for server, options in _BIND_OPTIONS.items():
            if server not in names:
                continue
            value = _option_value(segment, options)
            if value is not None:
                if _host(value) in _LOOPBACK:
                    return f"`{server} {options[0]} {value}` listens on the loopback interface"
                continue
            variable = _LOOPBACK_DEFAULTS.get(server)
            if variable is not None and variable not in env:
                return f"`{server}` without {options[0]} listens on 127.0.0.1 (its default)"
        if "flask" in names and "run" in names[names.index("flask") + 1 :]:
            value = _option_value(segment, ("--host", "-h"))
            if (value is None and "FLASK_RUN_HOST" not in env) or (
                value is not None and _host(value) in _LOOPBACK
            ):
                return "`flask run` listens on 127.0.0.1 unless given --host 0.0.0.0"
        if any(name.startswith("runserver") for name in names):
            after = segment[names.index(next(n for n in names if n.startswith("runserver"))) + 1 :]
            address = next((word for word in after if not word.startswith("-")), None)
            if address is None or _host(address) in _LOOPBACK or address.isdigit():
                return "`manage.py runserver` listens on 127.0.0.1 unless given 0.0.0.0:PORT"
    return None


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR011",
    name="dockerfile-server-on-loopback",
    category=Category.DEPLOYMENT,
    severity=Severity.MEDIUM,
    summary="The image's server listens on 127.0.0.1: unreachable from outside the container",
    fix='Bind every interface: CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"] '
    "(uvicorn --host 0.0.0.0).",
)
def dockerfile_server_on_loopback(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags a final image whose CMD/ENTRYPOINT starts a server bound to the loopback interface:
    an explicit `127.0.0.1`/`localhost`/`::1` given to gunicorn/hypercorn/daphne `--bind`,
    uvicorn/granian `--host`, waitress `--listen`; and servers left on a loopback default --
    `uvicorn app:app` without `--host` (unless `UVICORN_HOST` is set), `flask run` without
    `--host` (unless `FLASK_RUN_HOST`), `manage.py runserver` without an address. Gunicorn
    without `--bind` is not judged (its config file may bind it). Dev containers are skipped.

    ## Why it breaks production
    Inside a container, 127.0.0.1 is the container itself. Docker's port publishing, the
    Kubernetes Service and the load balancer all connect to the container's own network
    interface, which nothing listens on: every request is refused, the readiness probe fails
    and the rollout stalls -- or, with no probe, the deploy "succeeds" and serves nothing.

    ## Example
    ```dockerfile
    CMD ["uvicorn", "app.main:app", "--port", "8000"]
    ```

    ## Use instead
    ```dockerfile
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    env = {name for stage in chain for item in stage.find("ENV") for name, _ in _pairs(item)}
    entrypoint, command = _process(chain)
    words = _words(entrypoint) + _words(command)
    problem = _loopback_server(words, env)
    where = command or entrypoint
    if problem is None or where is None:
        return
    ctx.report(
        where.line,
        f"{problem}: inside a container that is the container itself, so published ports, "
        "the Service and the load balancer reach nothing and every request is refused. "
        "Bind 0.0.0.0",
    )
