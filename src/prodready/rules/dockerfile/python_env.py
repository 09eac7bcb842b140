"""Dockerfile: PYTHONUNBUFFERED missing (DKR010)."""

from __future__ import annotations

import re

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
    _global_args,
    _pairs,
    _process,
    _production_stage,
    _substitute,
    _words,
)

# -- DKR010 -----------------------------------------------------------------------------------

_PYTHON_PROGRAMS = frozenset(
    {
        "gunicorn",
        "uvicorn",
        "hypercorn",
        "daphne",
        "granian",
        "celery",
        "dramatiq",
        "flask",
        "fastapi",
        "waitress-serve",
        "rq",
        "arq",
        "huey_consumer",
        "huey_consumer.py",
        "faust",
    }
)
_PYTHON = re.compile(r"python[0-9.]*")


def _python_entrypoint_base(image: str) -> bool:
    """Base images whose own ENTRYPOINT is the Python interpreter (distroless python)."""
    name = image.lower().partition("@")[0].rsplit(":", 1)[0]
    return "distroless/python" in name


def _sets_unbuffered_base(image: str) -> bool:
    """Base images that set PYTHONUNBUFFERED themselves (Red Hat / SCL s2i Python images)."""
    name = image.lower()
    return (
        re.search(r"(^|/)(ubi\d*|rhel\d*|centos\d*|sclorg)/python-\d+", name) is not None
        or re.search(r"(^|/)python-\d+-(centos|rhel)\d*", name) is not None
    )


def _unbuffered_flag(arguments: list[str]) -> bool:
    """The interpreter options before the script or ``-m``/``-c`` include ``-u`` (``-uB``)."""
    position = 0
    while position < len(arguments):
        word = arguments[position]
        if not word.startswith("-") or word in {"-", "--", "-m", "-c"}:
            return False
        if word in {"-X", "-W", "-Q"}:
            position += 2
            continue
        if not word.startswith("--") and "u" in word[1:]:
            return True
        position += 1
    return False


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR010",
    name="dockerfile-python-unbuffered-missing",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A Python image without PYTHONUNBUFFERED: stdout logs arrive late and die with a crash",
    fix="ENV PYTHONUNBUFFERED=1 (or run python -u).",
)
def dockerfile_python_unbuffered_missing(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags a final image whose process is Python (`python`, `gunicorn`, `uvicorn`, `celery`...,
    or a distroless Python image's own interpreter) when no stage of its chain sets
    `ENV PYTHONUNBUFFERED` to a non-empty value and the command does not run `python -u`.
    Base images that set it themselves (Red Hat UBI / SCL Python images) are accepted; dev
    and test images are skipped.

    ## Why it breaks production
    When stdout is not a terminal -- always in a container -- Python block-buffers it in 8 KiB
    chunks. Everything the app `print`s or logs to stdout (uvicorn's access log, gunicorn's
    `--access-logfile -`, structlog's default output, `StreamHandler(sys.stdout)`) reaches
    `docker logs` and the log pipeline minutes late on a quiet service, out of order with
    stderr, and -- on an OOM kill, a SIGKILL at the end of the grace period or a segfault --
    not at all: the last lines before a crash, the ones needed to debug it, are lost with the
    buffer. (`logging`'s default handler writes to stderr, which is line-buffered: services
    that only log there lose less, hence medium confidence.)

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    ENV PYTHONUNBUFFERED=1 \\
        PYTHONDONTWRITEBYTECODE=1
    COPY . /app
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    variables = _global_args(document)
    base = _substitute(chain[0].image, variables) if "$" in chain[0].image else chain[0].image
    if base is None or _sets_unbuffered_base(base):
        return
    for stage in chain:
        for instruction in stage.find("ENV"):
            if any(name == "PYTHONUNBUFFERED" and value for name, value in _pairs(instruction)):
                return
    entrypoint, command = _process(chain)
    words = _words(entrypoint) + _words(command)
    if any(word.startswith("PYTHONUNBUFFERED=") and len(word) > 17 for word in words):
        return
    names = [_base(word) for word in words]
    interpreter = [name for name in names if _PYTHON.fullmatch(name)]
    if interpreter and _unbuffered_flag(words[names.index(interpreter[0]) + 1 :]):
        return
    runs_python = bool(interpreter) or any(name in _PYTHON_PROGRAMS for name in names)
    if not runs_python and entrypoint is None and _python_entrypoint_base(base):
        runs_python = command is not None
    if not runs_python:
        return
    process = command if command is not None else entrypoint
    if entrypoint is not None and any(
        _PYTHON.fullmatch(name) or name in _PYTHON_PROGRAMS
        for name in (_base(word) for word in _words(entrypoint))
    ):
        process = entrypoint
    assert process is not None
    ctx.report(
        process.line,
        "the image runs Python without PYTHONUNBUFFERED: stdout is block-buffered in a "
        "container, so logs written there (uvicorn access logs, print, structlog) show up "
        "late and the last lines before a crash or SIGKILL are lost; add "
        "ENV PYTHONUNBUFFERED=1 (or run python -u)",
    )
