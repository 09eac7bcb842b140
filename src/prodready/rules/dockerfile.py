"""Dockerfile rules (deployment and security of the container image).

``non_root_image`` is shared with the Kubernetes rules.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex

from prodready.engine.documents import Dockerfile, FileContext, Instruction, Stage
from prodready.engine.registry import file_rule
from prodready.engine.secrets import (
    credential_in_url,
    placeholder_value,
    secret_name,
    url_password,
)
from prodready.model import Category, Confidence, FileKind, Severity

# -- Dockerfile helpers -----------------------------------------------------------------------

_DEV_WORDS = frozenset(
    {"dev", "develop", "development", "local", "test", "tests", "testing", "ci", "debug", "e2e"}
)
_DEV_DIRECTORIES = frozenset(
    {".devcontainer", "devcontainer", "dev", "local", "test", "tests", "e2e", "testdata"}
)


def _dev_dockerfile(path: str) -> bool:
    """Dev containers, test and CI images: production-only rules do not apply."""
    parts = path.lower().split("/")
    if any(part in _DEV_DIRECTORIES for part in parts[:-1]):
        return True
    words = set(re.split(r"[.\-_]", parts[-1])) - {"dockerfile", "containerfile"}
    return bool(words & _DEV_WORDS)


_DEV_STAGES = frozenset(
    {"dev", "develop", "development", "local", "test", "tests", "testing", "debug", "ci", "lint"}
)


def _production_stage(document: Dockerfile) -> Stage | None:
    """The stage that ships: the last one, unless it is a development target (``AS dev``)
    that builds select with ``--target``; then the last stage before it that is not."""
    for stage in reversed(document.stages):
        if not set(re.split(r"[-_.]", (stage.alias or "").lower())) & _DEV_STAGES:
            return stage
    return None


def _split(text: str, *, comments: bool = False) -> list[str]:
    try:
        return shlex.split(text, comments=comments)
    except ValueError:
        return text.split()


def _exec_form(instruction: Instruction) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, or None for shell form."""
    text = instruction.value.strip()
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return parsed
    return None


def _pairs(instruction: Instruction) -> list[tuple[str, str | None]]:
    """``(name, value)`` pairs of ENV or ARG (value None: ARG without default)."""
    text = instruction.value.strip()
    if not text:
        return []
    words = _split(text)
    if not words:
        return []
    if instruction.keyword == "ENV" and "=" not in words[0]:
        name, _, rest = text.partition(" ")  # legacy ``ENV NAME value``
        rest = rest.strip()
        if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
            rest = rest[1:-1]
        return [(name, rest)]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        if word.startswith("#"):
            break  # not Dockerfile syntax, but tolerate a trailing comment
        name, equals, value = word.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
            continue
        if instruction.keyword == "ENV" and not equals:
            continue
        pairs.append((name, value if equals else None))
    return pairs


_VARIABLE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def _substitute(text: str, variables: dict[str, str | None]) -> str | None:
    """Expand ``$NAME``/``${NAME}``/``${NAME:-default}``; None when a value is unknown."""
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group(1) or match.group(4)
        value = variables.get(name)
        operator, word = match.group(2), match.group(3)
        if operator == "-" and not value:
            return word or ""
        if operator == "+":
            return (word or "") if value else ""
        if value is None:
            unresolved = True
            return ""
        return value

    result = _VARIABLE.sub(replace, text)
    return None if unresolved else result


def _global_args(document: Dockerfile) -> dict[str, str | None]:
    first = document.stages[0].line if document.stages else 0
    found: dict[str, str | None] = {}
    for instruction in document.instructions:
        if instruction.line >= first:
            break
        if instruction.keyword == "ARG":
            found.update(_pairs(instruction))
    return found


def _chain(document: Dockerfile, stage: Stage) -> list[Stage]:
    """``stage`` and the earlier stages it is built ``FROM``, ancestors first."""
    chain = [stage]
    current = stage
    variables = _global_args(document)
    while True:
        image = current.image.lower()
        if "$" in image:
            image = (_substitute(current.image, variables) or "").lower()
        parent = next(
            (
                s
                for s in reversed(document.stages[: current.index])
                if s.alias and s.alias.lower() == image
            ),
            None,
        )
        if parent is None or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain[::-1]


def _process(chain: list[Stage]) -> tuple[Instruction | None, Instruction | None]:
    """The effective ENTRYPOINT and CMD of the last stage of ``chain``.

    A stage that sets ENTRYPOINT resets the CMD inherited from its base.
    """
    entrypoint: Instruction | None = None
    command: Instruction | None = None
    for stage in chain:
        entrypoints = stage.find("ENTRYPOINT")
        commands = stage.find("CMD")
        if entrypoints:
            entrypoint = entrypoints[-1]
            command = commands[-1] if commands else None
        elif commands:
            command = commands[-1]
    return entrypoint, command


def _words(instruction: Instruction | None) -> list[str]:
    """The words a CMD/ENTRYPOINT runs, ``sh -c "..."`` strings expanded."""
    if instruction is None:
        return []
    exec_form = _exec_form(instruction)
    if exec_form is None:
        return _split(instruction.value, comments=True)
    words: list[str] = []
    for item in exec_form:
        words.extend(_split(item) if " " in item.strip() else [item])
    return words


_SEPARATORS = frozenset({"&&", "||", ";", "|", "&"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh"})


def _segments(words: list[str]) -> list[list[str]]:
    """Split shell words into simple commands at ``&&``, ``;``, ``|``..."""
    segments: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS:
            segments.append([])
            continue
        if word.endswith(";") and len(word) > 1:
            segments[-1].append(word[:-1])
            segments.append([])
            continue
        segments[-1].append(word)
    return [segment for segment in segments if segment]


def _shell_lines(instruction: Instruction) -> list[str]:
    """The shell command lines of a RUN: its (joined) text, one line per command of a heredoc
    body, or the words of an exec-form array (``["sh", "-c", "<script>"]`` gives the script)."""
    exec_form = _exec_form(instruction)
    if exec_form is not None:
        if len(exec_form) >= 3 and _base(exec_form[0]) in _SHELLS and exec_form[1] == "-c":
            return [exec_form[2]]
        return [" ".join(word if " " in word.strip() else shlex.quote(word) for word in exec_form)]
    lines: list[str] = []
    for raw in instruction.value.split("\n"):
        if lines and lines[-1].endswith("\\"):  # a continuation inside a heredoc body
            lines[-1] = lines[-1][:-1] + " " + raw.strip()
        else:
            lines.append(raw.strip())
    return [line for line in lines if line]


def _run_segments(instruction: Instruction) -> list[list[str]]:
    """The simple commands of a RUN, as shell words (comments dropped)."""
    segments: list[list[str]] = []
    for command_line in _shell_lines(instruction):
        segments.extend(_segments(_split(command_line, comments=True)))
    return segments


def _text_line(ctx: FileContext, instruction: Instruction, pattern: re.Pattern[str]) -> int:
    """The first line of a multi-line instruction that matches ``pattern`` (comment lines
    inside a continuation are skipped)."""
    for number in range(instruction.line, min(instruction.end_line, len(ctx.lines)) + 1):
        text = ctx.lines[number - 1]
        if not text.lstrip().startswith("#") and pattern.search(text):
            return number
    return instruction.line


def _line_of(ctx: FileContext, instruction: Instruction, name: str) -> int:
    """The line of a multi-line ENV/ARG that declares ``name``."""
    pattern = re.compile(rf"(^|[\s\\]){re.escape(name)}(=|\s|$)")
    for number in range(instruction.line, min(instruction.end_line, len(ctx.lines)) + 1):
        text = ctx.lines[number - 1]
        if number == instruction.line:
            text = text.strip().partition(" ")[2]
        if pattern.search(text):
            return number
    return instruction.line


def _base(word: str) -> str:
    return posixpath.basename(word.strip()).lower()


# -- DKR001 -----------------------------------------------------------------------------------

_ROOT_USERS = frozenset({"root", "0"})
_PRIVILEGE_DROPPERS = frozenset(
    {"gosu", "su-exec", "setpriv", "runuser", "chpst", "s6-setuidgid", "setuidgid", "su"}
)


def non_root_image(image: str) -> bool:
    """Images that set a non-root USER themselves (shared with the Kubernetes rules)."""
    lower = image.lower()
    name, _, _digest = lower.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if "nonroot" in tag or "non-root" in tag:
        return True  # gcr.io/distroless/python3-debian12:nonroot, *:debug-nonroot
    if ("cgr.dev/chainguard/" in name or name.startswith("chainguard/")) and not any(
        base in name for base in ("wolfi-base", "chainguard-base", "static")
    ):
        return True
    if "nginx-unprivileged" in name:
        return True
    if name.startswith(("public.ecr.aws/lambda/", "amazon/aws-lambda-")):
        return True  # Lambda runs the function as an unprivileged sandbox user
    return re.search(r"(^|/)ubi\d*/(python|nodejs|ruby|php|perl)-\d+", name) is not None


def _user_of(instruction: Instruction) -> str:
    words = instruction.value.split()
    return words[0].partition(":")[0] if words else ""


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR001",
    name="dockerfile-runs-as-root",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    cwe=250,
    summary="The image's final stage runs its process as root (no USER, or USER root)",
    fix="Create an unprivileged user and switch to it: RUN useradd --uid 10001 app; USER app",
)
def dockerfile_runs_as_root(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags a Dockerfile whose final stage never switches to an unprivileged user (no `USER`
    instruction in it or in the stages it is built from), or whose last `USER` is `root`/`0`.
    Base images that already run as a non-root user (`distroless/*:nonroot`, Chainguard images,
    Red Hat UBI language images, AWS Lambda images) and entrypoints that drop privileges
    (`gosu`, `su-exec`) are accepted. The final stage is the last one unless that is a
    development target (`AS dev`, `AS test`); dev containers and `Dockerfile.dev` are skipped.

    ## Why it breaks production
    A process running as root inside the container is root on the container's filesystem and,
    after any container escape (runc and kernel CVEs happen every year), root on the node: one
    remote-code-execution bug in the app or a dependency becomes a node compromise. Clusters
    that enforce the `restricted` Pod Security Standard (`runAsNonRoot: true`) refuse to start
    such images at all -- often discovered at the first production deploy.

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    RUN pip install --no-cache-dir -r /app/requirements.txt
    CMD ["gunicorn", "app:app"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    RUN useradd --create-home --uid 10001 app
    COPY --chown=app:app . /app
    RUN pip install --no-cache-dir -r /app/requirements.txt
    USER 10001
    CMD ["gunicorn", "app:app"]
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    users = [instruction for stage in chain for instruction in stage.find("USER")]
    if users:
        last = users[-1]
        user = _user_of(last)
        if "$" in user or user.lower() not in _ROOT_USERS:
            return
        line = last.line if last.stage == final.index else final.line
        ctx.report(
            line,
            f"the final image runs as `USER {last.value.split()[0]}`: the app is root in the "
            "container and after any escape on the node; switch back to an unprivileged user "
            "(USER app or a numeric UID) after the steps that need root",
        )
        return
    variables = _global_args(document)
    base = _substitute(chain[0].image, variables) if "$" in chain[0].image else chain[0].image
    if base is None or non_root_image(base):
        return
    entrypoint, command = _process(chain)
    if base.lower() == "scratch" and entrypoint is None and command is None:
        return  # an export stage (docker build --output), not a runnable image
    words = [_base(word) for word in _words(entrypoint) + _words(command)]
    if any(word in _PRIVILEGE_DROPPERS for word in words):
        return  # the entrypoint drops to an unprivileged user at run time
    if any(word in {"--user", "--uid"} or word.startswith(("--user=", "--uid=")) for word in words):
        return  # gunicorn --user / uwsgi --uid switch after binding
    script = any(word.endswith(".sh") or "entrypoint" in word for word in words)
    ctx.report(
        final.line,
        "the final stage has no USER instruction, so the container runs as root: an exploited "
        "bug is root in the container (and on the node after an escape), and clusters enforcing "
        "runAsNonRoot refuse the image; add a user and `USER <name or UID>` before CMD",
        confidence=Confidence.MEDIUM if script else None,
    )


# -- DKR002 -----------------------------------------------------------------------------------


def _tag_of(image: str) -> str | None:
    last = image.rsplit("/", 1)[-1]
    return last.partition(":")[2] if ":" in last else None


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR002",
    name="dockerfile-unpinned-base-image",
    category=Category.DEPLOYMENT,
    severity=Severity.MEDIUM,
    summary="FROM an image without a tag or with :latest: every build may get a different base",
    fix="Pin a version tag (python:3.12.4-slim-bookworm), ideally with its @sha256 digest.",
)
def dockerfile_unpinned_base_image(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `FROM` instructions whose image has no tag or the `latest` tag and no `@sha256:`
    digest. `FROM scratch`, references to earlier build stages and `${ARG}` images whose
    default is unknown are skipped; an `ARG` default is expanded and checked.

    ## Why it breaks production
    `latest` is whatever was pushed last. Two builds of the same commit -- yesterday's and
    today's hotfix -- get different base images: a new Python minor version, a new OpenSSL, a
    removed system package. The hotfix then breaks in ways unrelated to its change, and
    rebuilding an old release to roll back does not give back the old image.

    ## Example
    ```dockerfile
    FROM python:latest
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12.4-slim-bookworm
    # or, fully reproducible:
    FROM python:3.12.4-slim-bookworm@sha256:<digest>
    ```
    """
    variables = _global_args(document)
    for stage in document.stages:
        image = stage.image
        if not image or image.lower() == "scratch":
            continue
        earlier = {s.alias.lower() for s in document.stages[: stage.index] if s.alias}
        if image.lower() in earlier:
            continue
        shown = image
        if "$" in image:
            resolved = _substitute(image, variables)
            if resolved is None or not resolved or resolved.lower() in earlier:
                continue
            if resolved.lower() == "scratch":
                continue
            shown = f"{image} (= {resolved})"
            image = resolved
        if "@" in image:
            continue  # pinned by digest
        tag = _tag_of(image)
        if tag is not None and tag.lower() != "latest":
            continue
        what = "the `latest` tag" if tag is not None else "no tag (so `latest`)"
        ctx.report(
            stage.line,
            f"base image `{shown}` uses {what}: each build can pull a different image, so "
            "builds of the same commit differ and rebuilding a release does not reproduce it; "
            "pin a version tag (and ideally its @sha256 digest)",
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


# -- DKR004 -----------------------------------------------------------------------------------


def _uses_variable(text: str, name: str) -> bool:
    return re.search(rf"\$(?:{re.escape(name)}\b|\{{{re.escape(name)}\b)", text) is not None


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR004",
    name="dockerfile-secret-in-env",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=798,
    summary="A credential in ENV or ARG: baked into the image and its history, and into git",
    fix="Use a BuildKit secret (RUN --mount=type=secret,id=...) at build time and inject "
    "runtime secrets from the orchestrator (Kubernetes Secret, secret manager).",
)
def dockerfile_secret_in_env(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `ENV` and `ARG` instructions that give a secret-looking variable (`*_PASSWORD`,
    `*_SECRET`, `*_TOKEN`, `API_KEY`, `SECRET_KEY`, `PRIVATE_KEY`...) a literal value, and any
    `ENV` URL with an embedded password (`postgres://app:pw@db/app`). Placeholders (`changeme`,
    `<token>`, `${VAR}`, file paths) are ignored. In the final stage, an `ENV` that copies a
    build argument into a secret-named variable, and a secret-named `ARG` used by a `RUN`, are
    reported too (the value is persisted in the image config or history).

    ## Why it breaks production
    `ENV` values are stored in the image configuration and every layer's history: anyone who
    can pull the image -- a CI cache, a registry mirror, a contractor -- reads them with
    `docker inspect` or `docker history`, and the literal also sits in git forever. Rotating
    the credential means rebuilding and redeploying every image that baked it in.

    ## Example
    ```dockerfile
    ENV STRIPE_SECRET_KEY=sk_live_EXAMPLE51HhR2bKx9vQpLmN0aB3c
    ARG PIP_TOKEN
    RUN pip install --index-url https://__token__:${PIP_TOKEN}@pypi.example.com/simple app
    ```

    ## Use instead
    ```dockerfile
    # runtime secrets come from the orchestrator (Kubernetes Secret, Vault...)
    RUN --mount=type=secret,id=pip_token \\
        PIP_INDEX_URL="https://__token__:$(cat /run/secrets/pip_token)@pypi.example.com/simple" \\
        pip install --no-cache-dir app
    ```
    """
    final = _production_stage(document)
    final_chain = {stage.index for stage in _chain(document, final)} if final else set()
    for instruction in document.instructions:
        if instruction.keyword not in {"ENV", "ARG"}:
            continue
        for name, value in _pairs(instruction):
            if value is None:
                _check_bare_arg(document, instruction, name, final_chain, ctx)
                continue
            if secret_name(name) and not placeholder_value(value, name):
                what = "environment variable" if instruction.keyword == "ENV" else "build argument"
                ctx.report(
                    _line_of(ctx, instruction, name),
                    f"{what} `{name}` holds a literal credential: it is stored in the image "
                    "config and history (docker inspect/history) and in git; pass it at run "
                    "time from a secret store, or use RUN --mount=type=secret at build time",
                    secret=value,
                )
                break
            if credential_in_url(value):
                ctx.report(
                    _line_of(ctx, instruction, name),
                    f"`{name}` is a URL with an embedded password: it is stored in the image "
                    "and in git; inject the URL (or just the password) at run time from a "
                    "secret store",
                    secret=url_password(value),
                )
                break
            if (
                instruction.keyword == "ENV"
                and instruction.stage in final_chain
                and secret_name(name)
                and _copies_build_arg(document, instruction, value)
            ):
                ctx.report(
                    _line_of(ctx, instruction, name),
                    f"`ENV {name}` copies a build argument into the image configuration, so the "
                    "secret passed with --build-arg ships inside the image; read it at run "
                    "time instead, or use RUN --mount=type=secret during the build",
                    confidence=Confidence.MEDIUM,
                )
                break


def _copies_build_arg(document: Dockerfile, env: Instruction, value: str) -> bool:
    """``ENV NAME=$ARG`` where ``ARG`` is a build argument of the stage (or a global one)."""
    names = {match.group(1) or match.group(4) for match in _VARIABLE.finditer(value)}
    if not names:
        return False
    args = {
        name
        for instruction in document.instructions
        if instruction.keyword == "ARG"
        and instruction.line < env.line
        and (instruction.stage == env.stage or instruction.line < document.stages[0].line)
        for name, _ in _pairs(instruction)
    }
    return bool(names & args)


def _check_bare_arg(
    document: Dockerfile,
    instruction: Instruction,
    name: str,
    final_chain: set[int],
    ctx: FileContext,
) -> None:
    """A secret ``ARG`` without default that a RUN of the final image uses."""
    if not secret_name(name) or instruction.stage not in final_chain:
        return
    if document.stages and instruction.line < document.stages[0].line:
        return  # a global ARG is only in scope where a stage re-declares it
    used = any(
        later.keyword == "RUN"
        and later.line > instruction.line
        and _uses_variable(later.value, name)
        for later in document.stages[instruction.stage].instructions
    )
    if used:
        ctx.report(
            instruction.line,
            f"build argument `{name}` carries a secret into a RUN of the final image: build "
            "arguments are recorded in the image history and provenance; use "
            f"RUN --mount=type=secret,id={name.lower()} and read /run/secrets/{name.lower()}",
            severity=Severity.LOW,
            confidence=Confidence.MEDIUM,
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
    ctx.report(
        process.line,
        f"{process.keyword} in shell form runs under `/bin/sh -c`"
        + (", which stays PID 1 for this compound command" if compound else "")
        + ": the shell does not forward SIGTERM, so the app is SIGKILLed at the end of the "
        "grace period and drops in-flight requests on every deploy; use the exec form "
        f'{process.keyword} ["...", "..."] (or prefix the command with `exec`)',
        confidence=None if compound else Confidence.MEDIUM,
    )


# -- DKR006 -----------------------------------------------------------------------------------


def _installs_with_pip(segment: list[str]) -> bool:
    names = [_base(word) for word in segment]
    for position, name in enumerate(names):
        if re.fullmatch(r"pip(3(\.\d+)?)?", name):
            if position > 0 and names[position - 1] in {"uv", "pipx"}:
                return False
            return "install" in names[position + 1 :]
    return False


_PIP_INSTALL = re.compile(r"\bpip[0-9.]*\s+(?:[^&;|#]*\s)?install\b")


def _pip_line(ctx: FileContext, instruction: Instruction) -> int:
    """The line of a multi-line RUN with the pip install that keeps its cache."""
    for number in range(instruction.line, min(instruction.end_line, len(ctx.lines)) + 1):
        text = ctx.lines[number - 1]
        if _PIP_INSTALL.search(text) and "--no-cache" not in text:
            return number
    return instruction.line


def _cache_mount(instruction: Instruction) -> bool:
    for value in instruction.flag_values("mount"):
        options = dict(part.partition("=")[::2] for part in value.split(","))
        if options.get("type") == "cache":
            target = options.get("target") or options.get("dst") or options.get("destination") or ""
            if ".cache" in target or "pip" in target:
                return True
    return False


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR006",
    name="dockerfile-pip-cache-kept",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
    summary="pip install without --no-cache-dir keeps the wheel cache in the image layer",
    fix="pip install --no-cache-dir ..., or ENV PIP_NO_CACHE_DIR=1, or a BuildKit cache mount.",
)
def dockerfile_pip_cache_kept(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `RUN pip install ...` in the final image without `--no-cache-dir`, when no
    `PIP_NO_CACHE_DIR` is set, the RUN has no `--mount=type=cache` for the pip cache and does
    not remove `~/.cache/pip` itself. Builder stages whose files are copied out are not checked.

    ## Why it breaks production
    pip keeps every downloaded wheel in `~/.cache/pip`; inside a `RUN` that directory becomes
    part of the layer, often tens to hundreds of megabytes (numpy, grpc, torch). Every node
    pulls it on every deploy, scale-up and rollback: slower autoscaling when traffic spikes,
    slower recovery, more registry egress -- for files the container never reads.

    ## Example
    ```dockerfile
    RUN pip install -r requirements.txt
    ```

    ## Use instead
    ```dockerfile
    RUN pip install --no-cache-dir -r requirements.txt
    # or keep the cache out of the layer with BuildKit:
    RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    for instruction in document.instructions:
        if instruction.keyword in {"ENV", "ARG"} and any(
            name == "PIP_NO_CACHE_DIR" for name, _ in _pairs(instruction)
        ):
            return
    for stage in chain:
        for instruction in stage.find("RUN"):
            text = instruction.value
            if "pip" not in text or _cache_mount(instruction):
                continue
            lower = text.lower()
            if "pip cache purge" in lower or "pip cache remove" in lower:
                continue
            if re.search(r"\brm\s+-[a-z]*r[a-z]*\s+[^&;|]*\.cache", lower):
                continue
            segments = _run_segments(instruction)
            if any(
                _installs_with_pip(segment)
                and not any(word.startswith("--no-cache") for word in segment)
                for segment in segments
            ):
                ctx.report(
                    _pip_line(ctx, instruction),
                    "pip install without --no-cache-dir leaves pip's wheel cache in this layer, "
                    "making every pull on deploy, scale-up and rollback slower; add "
                    "--no-cache-dir (or ENV PIP_NO_CACHE_DIR=1, or a cache mount)",
                )


# -- DKR007 -----------------------------------------------------------------------------------

_WEB_SERVERS = frozenset(
    {
        "gunicorn",
        "uvicorn",
        "hypercorn",
        "daphne",
        "granian",
        "uwsgi",
        "waitress-serve",
        "nginx",
        "httpd",
        "apache2-foreground",
        "caddy",
        "traefik",
        "envoy",
    }
)
# Platforms that ignore the image's HEALTHCHECK (they probe the container themselves).
_OWN_HEALTH_CHECKS = frozenset({"kubernetes", "serverless", "paas"})


def _serves(chain: list[Stage], words: list[str]) -> bool:
    """The image is a network service: it EXPOSEs a port or starts a web server."""
    if any(instruction.value.strip() for stage in chain for instruction in stage.find("EXPOSE")):
        return True
    names = [_base(word) for word in words]
    if any(name in _WEB_SERVERS for name in names):
        return True
    if any(name.startswith("runserver") for name in names):
        return True
    return any(
        name in {"flask", "fastapi"} and names[position + 1 : position + 2] in (["run"], ["dev"])
        for position, name in enumerate(names)
    )


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR007",
    name="dockerfile-no-healthcheck",
    category=Category.DEPLOYMENT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A service image without HEALTHCHECK: Docker and Compose never notice a hung server",
    fix='HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "..."] against /healthz; '
    "on Kubernetes, configure probes instead.",
)
def dockerfile_no_healthcheck(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags the final stage of a service image -- one that `EXPOSE`s a port or starts a web
    server (gunicorn, uvicorn, uWSGI, nginx...) -- when neither it nor the stages it is built
    from declare a `HEALTHCHECK`. `HEALTHCHECK NONE` (an explicit opt-out), images without a
    server (workers, CLIs, builder stages), dev and test images are skipped, and so is every
    image when the profile says the service runs on Kubernetes, serverless or a PaaS
    (`[profile] runtime`), which ignore `HEALTHCHECK` and probe the container themselves.

    ## Why it breaks production
    Where the image runs under Docker itself -- `docker run --restart`, Compose, Swarm, a VM
    with a systemd unit -- the engine only knows whether the process is alive. A server that
    deadlocks, exhausts its worker pool or loses its database connection stays `Up` and keeps
    receiving traffic: nothing restarts it, Swarm keeps routing to it, Compose's
    `depends_on: condition: service_healthy` cannot wait for it. Kubernetes ignores
    `HEALTHCHECK` entirely -- liveness and readiness probes play that role there (see K8S002) --
    which is why this rule is low severity and stays silent with `runtime = "kubernetes"`.

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    EXPOSE 8000
    CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    COPY . /app
    EXPOSE 8000
    HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \\
        CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz')"]
    CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
    ```
    """
    if ctx.profile.runtime in _OWN_HEALTH_CHECKS:
        return
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    chain = _chain(document, final)
    if any(stage.find("HEALTHCHECK") for stage in chain):
        return  # a check, or HEALTHCHECK NONE: a decision either way
    entrypoint, command = _process(chain)
    if not _serves(chain, _words(entrypoint) + _words(command)):
        return
    ctx.report(
        final.line,
        "the final stage serves traffic but declares no HEALTHCHECK: under Docker, Compose or "
        "Swarm a hung or deadlocked server stays `Up` and is never restarted or taken out of "
        "rotation; add HEALTHCHECK CMD against a health endpoint (Kubernetes ignores "
        "HEALTHCHECK and uses probes: if the image only runs there, set "
        '[profile] runtime = "kubernetes" and configure liveness/readiness probes)',
        confidence=Confidence.HIGH if ctx.profile.runtime == "vm" else None,
    )


# -- DKR008 -----------------------------------------------------------------------------------

_FETCHERS = frozenset({"curl", "wget"})
_INTERPRETERS = re.compile(r"(?:ba|z|da|k)?sh|ash|python[0-9.]*|perl|ruby|node|php")
# Options that give the interpreter its program inline: stdin is then only data.
_INLINE_PROGRAM: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("sh", "bash", "zsh", "dash", "ash", "ksh"), ("-c",)),
    "python": ("-c", "-m"),
}
_RUN_PREFIXES = frozenset({"sudo", "env", "exec", "command", "nice", "nohup", "time"})
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# ``sh -c "$(curl ...)"``, ``bash <(wget -O- ...)``: a download executed without a pipe.
_SUBSTITUTED_DOWNLOAD = re.compile(
    r"(?<![\w.-])(?:(?:ba|z|da|k)?sh|python[0-9.]*|eval)\s+(?:-\S+\s+)*"
    r"(?:<\(|[\"']?\$\(|[\"']?`)\s*(?:curl|wget)\b"
)
_DOWNLOAD_WORD = re.compile(r"\b(?:curl|wget)\b")


def _pipeline_tokens(text: str) -> list[str]:
    """Shell tokens with the operators (``|``, ``&&``, ``;``, ``(``) split off even when they
    are not surrounded by spaces; a word starting with ``#`` ends the command line."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    tokens: list[str] = []
    try:
        for token in lexer:
            if token.startswith("#"):
                break
            tokens.append(token)
    except ValueError:  # an unbalanced quote: fall back to whitespace
        tokens = text.split()
    return tokens


def _command_name(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs (past ``sudo -E``, ``env X=1``...) and its arguments."""
    position = 0
    while position < len(words):
        word = words[position]
        name = _base(word)
        if name in _RUN_PREFIXES or (word.startswith("-") and position > 0):
            position += 1
            continue
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            position += 1  # VAR=value prefix
            continue
        return name, words[position + 1 :]
    return "", []


def _pipes_download_into_interpreter(text: str, depth: int = 0) -> bool:
    """``curl ... | sh``, ``wget -O- ... | sudo bash -``, ``curl ... | python3 -``, also inside
    ``sh -c "<script>"``."""
    if depth > 3 or not _DOWNLOAD_WORD.search(text):
        return False
    if _SUBSTITUTED_DOWNLOAD.search(text):
        return True
    commands: list[tuple[str | None, list[str]]] = []
    operator: str | None = None
    words: list[str] = []
    for token in _pipeline_tokens(text):
        if token and set(token) <= set("|&;()<>"):
            commands.append((operator, words))
            operator, words = token, []
        else:
            words.append(token)
    commands.append((operator, words))
    for position, (_, fetch) in enumerate(commands):
        name, arguments = _command_name(fetch)
        if name in _SHELLS and "-c" in arguments:
            script = arguments[arguments.index("-c") + 1 : arguments.index("-c") + 2]
            if script and _pipes_download_into_interpreter(script[0], depth + 1):
                return True
        if name not in _FETCHERS:
            continue
        for later_operator, later in commands[position + 1 :]:
            if later_operator not in {"|", "|&"}:
                break
            name, arguments = _command_name(later)
            if _INTERPRETERS.fullmatch(name) and not any(
                argument in _INLINE_PROGRAM.get(name[:6], ("-e", "-r")) for argument in arguments
            ):
                return True  # the downloaded text is the program, not data for `-c "..."`
    return False


_PIPED_DOWNLOAD_LINE = re.compile(r"\b(?:curl|wget)\b[^|]*\|")
_DOWNLOAD_COMMAND_LINE = re.compile(r"\b(?:curl|wget)\s+(?:-|https?:|[\"'$])")


def _download_line(ctx: FileContext, instruction: Instruction) -> int:
    """The line of a multi-line RUN with the download that is executed (not the line that
    installs curl with apt-get)."""
    for pattern in (_PIPED_DOWNLOAD_LINE, _SUBSTITUTED_DOWNLOAD, _DOWNLOAD_COMMAND_LINE):
        line = _text_line(ctx, instruction, pattern)
        if line != instruction.line or pattern.search(ctx.lines[line - 1]):
            return line
    return instruction.line


def _git_source(source: str) -> bool:
    lower = source.lower()
    if lower.startswith(("git@", "git://", "ssh://")):
        return True
    address = lower.partition("#")[0]
    return address.endswith(".git") or ".git/" in address


def _remote_add_problem(source: str, checksum: bool) -> tuple[str, Severity | None] | None:
    """What is wrong with ``ADD <source>``: a message part and a severity, or None."""
    if _git_source(source):
        reference = source.partition("#")[2].partition(":")[0]
        if checksum or _COMMIT.fullmatch(reference.lower()):
            return None
        what = f"`#{reference}`" if reference else "the default branch"
        return (
            f"`ADD {source}` clones {what}, a ref that can be moved or force-pushed: the build "
            "takes whatever the repository holds that day; pin the full commit SHA "
            "(`#<40-hex sha>`) or use ADD --checksum",
            None,
        )
    lower = source.lower()
    if not lower.startswith(("http://", "https://")) or checksum:
        return None
    plain = lower.startswith("http://")
    return (
        f"`ADD {source}` downloads a file into the image without verifying it"
        + (" -- over plain HTTP, so anyone on the path can swap it" if plain else "")
        + ": a compromised or re-published upstream file ships in the image unnoticed; add "
        "--checksum=sha256:<digest> (or download in a RUN and check sha256sum -c)",
        Severity.HIGH if plain else None,
    )


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR008",
    name="dockerfile-add-remote-url",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    cwe=494,
    summary="ADD of a URL or git ref without checksum, or a download piped into a shell",
    fix="ADD --checksum=sha256:<digest> <url>, pin git sources to a commit, and download "
    "installers to a file, verify them (sha256sum -c), then run them.",
)
def dockerfile_add_remote_url(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags code fetched into the image without an integrity check, in any stage: `ADD` of an
    `http(s)://` URL without `--checksum=`, `ADD` of a git repository at a branch or tag
    instead of a commit SHA, and `RUN` commands that pipe a download into an interpreter
    (`curl ... | sh`, `wget -qO- ... | sudo bash -`, `curl ... | python3 -`,
    `sh -c "$(curl ...)"`, `bash <(curl ...)`), the last reported as high severity. Piping
    into `python -c`/`-m` (parsing JSON) and downloads saved to a file are not flagged.

    ## Why it breaks production
    The build executes or ships whatever the remote server returns at build time. A
    compromised download server, a hijacked GitHub release, a moved tag or a
    man-in-the-middle on plain HTTP puts attacker code into the image -- and, through a
    builder stage, into every artifact it produces -- with no trace in the repository (the
    Codecov bash uploader compromise was exactly `curl | bash`). The same URL also returns
    different bytes on different days, so two builds of one commit differ, and a truncated
    download piped into a shell runs half a script.

    ## Example
    ```dockerfile
    ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
    RUN curl -sSL https://install.python-poetry.org | python3 -
    ```

    ## Use instead
    ```dockerfile
    ADD --checksum=sha256:93dcc18adc78c65a028a84799ecf8ad40c936fdfc5f2a57b1acda5a8117fa82c \\
        https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
    RUN pip install --no-cache-dir poetry==1.8.3
    ```
    """
    for instruction in document.instructions:
        if instruction.keyword == "ADD":
            arguments = instruction.arguments()
            checksum = bool(instruction.flags.get("checksum"))
            for source in arguments[:-1]:
                if source.startswith("#"):
                    break  # a comment after the instruction (not Dockerfile syntax)
                problem = _remote_add_problem(source, checksum)
                if problem is not None:
                    message, severity = problem
                    ctx.report(instruction.line, message, severity=severity)
                    break
        elif instruction.keyword == "RUN":
            for command_line in _shell_lines(instruction):
                if _pipes_download_into_interpreter(command_line):
                    ctx.report(
                        _download_line(ctx, instruction),
                        "this RUN executes a downloaded script unverified (`curl | sh`): "
                        "whatever the server returns at build time -- a compromised or "
                        "re-published script, a truncated download -- runs in the build, "
                        "usually as root; download to a file, verify its sha256 "
                        "(sha256sum -c), then run it -- or install a pinned package instead",
                        severity=Severity.HIGH,
                    )
                    break


# -- DKR009 -----------------------------------------------------------------------------------

_PIP_VALUE_OPTIONS = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "-t",
        "--target",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--root",
        "--prefix",
        "--src",
        "--upgrade-strategy",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--no-binary",
        "--only-binary",
        "--progress-bar",
        "--report",
        "-C",
        "--config-settings",
        "--global-option",
        "--trusted-host",
        "--cache-dir",
        "--log",
        "--proxy",
        "--retries",
        "--timeout",
        "--exists-action",
        "--cert",
        "--client-cert",
        "--python",
        "-p",
        "--keyring-provider",
        "--root-user-action",
        "--group",
        "--override",
        "--python-platform",
        "--index-strategy",
        "--resolution",
        "--prerelease",
        "--index",
        "--default-index",
        "-G",
        "-E",
        "--extras",
        "--source",
        "--markers",
    }
)
_CONSTRAINED = frozenset({"-c", "--constraint", "--override", "--no-index"})
_BOOTSTRAP = frozenset({"pip", "setuptools", "wheel"})
_CONSTRAINT_VARIABLES = frozenset({"PIP_CONSTRAINT", "UV_CONSTRAINT", "UV_OVERRIDE"})
_SPEC_END = re.compile(r"[\[@<>=~!;\s]")


def _installer(segment: list[str]) -> tuple[str, list[str]] | None:
    """``("pip" | "uv pip" | "poetry", arguments)`` of an install command, or None."""
    names = [_base(word) for word in segment]
    for position, name in enumerate(names):
        tool: str | None = None
        if re.fullmatch(r"pip(3(\.\d+)?)?", name):
            tool = "uv pip" if position > 0 and names[position - 1] == "uv" else "pip"
            if position > 0 and names[position - 1] == "pipx":
                return None
            subcommand = "install"
        elif name == "poetry":
            tool, subcommand = "poetry", "add"
        if tool is None:
            continue
        rest = position + 1
        while rest < len(segment) and segment[rest].startswith("-"):
            rest += 1  # global options (pip -q install, pip --no-cache-dir install)
        if rest < len(segment) and segment[rest] == subcommand:
            return tool, segment[rest + 1 :]
        return None
    return None


def _unpinned(tool: str, arguments: list[str]) -> list[str]:
    """The package specifiers of an install command that name a package without an exact
    version (paths, URLs, wheels, variables and the pip/setuptools/wheel bootstrap aside)."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: list[str] = []
    skip_next = False
    for position, word in enumerate(arguments):
        if skip_next:
            skip_next = False
            continue
        if word.startswith("#"):
            break
        if word.startswith("-"):
            option = word.partition("=")[0]
            if option in _CONSTRAINED:
                return []  # versions come from a constraints file or a local wheelhouse
            if option in _PIP_VALUE_OPTIONS and "=" not in word:
                skip_next = True
            continue
        if arguments[position + 1 : position + 2] == ["@"] or word == "@":
            skip_next = word == "@"
            continue  # a direct reference: ``name @ url``
        if (
            "$" in word
            or "/" in word
            or "\\" in word
            or word.startswith((".", "~"))
            or word.endswith((".whl", ".zip", ".tar.gz", ".tgz"))
        ):
            continue
        if tool == "poetry":
            name, at, version = word.partition("@")
            if at and re.fullmatch(r"=?=?\d[\w.+!-]*", version):
                continue  # poetry add name@1.2.3 is an exact version
            word = name if at else word
        try:
            requirement = Requirement(word)
        except InvalidRequirement:
            continue
        if requirement.url or requirement.name.lower() in _BOOTSTRAP:
            continue
        clauses = list(requirement.specifier)
        if len(clauses) == 1 and (
            clauses[0].operator == "===" or (clauses[0].operator == "==" and "*" not in word)
        ):
            continue
        found.append(word)
    return found


def _shipped_stages(document: Dockerfile, final: Stage) -> list[Stage]:
    """The final stage's chain and, transitively, the stages it copies files from."""
    by_name = {stage.alias.lower(): stage for stage in document.stages if stage.alias}
    shipped: list[Stage] = []
    pending = [final]
    while pending:
        for stage in _chain(document, pending.pop()):
            if stage in shipped:
                continue
            shipped.append(stage)
            for copy in stage.find("COPY"):
                source = copy.flags.get("from", "").lower()
                origin = by_name.get(source)
                if origin is None and source.isdigit() and int(source) < len(document.stages):
                    origin = document.stages[int(source)]
                if origin is not None and origin not in shipped:
                    pending.append(origin)
    return sorted(shipped, key=lambda stage: stage.index)


@file_rule(
    kind=FileKind.DOCKERFILE,
    code="DKR009",
    name="dockerfile-pip-install-unpinned",
    category=Category.DEPENDENCIES,
    severity=Severity.MEDIUM,
    summary="pip/uv/poetry installs a named package without an exact version into the image",
    fix="Pin it (gunicorn==22.0.0) or install from a locked requirements file "
    "(pip install -r requirements.txt, generated by pip-compile or uv pip compile).",
)
def dockerfile_pip_install_unpinned(document: Dockerfile, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `RUN pip install <package>` (also `python -m pip`, `uv pip install`, `poetry add`)
    that names packages without an exact `==` version, in the final stage, the stages it is
    built from and the builder stages it copies files from. Requirement files (`-r`), local
    projects and wheels (`.`, `-e .`, `/wheels/*.whl`), URLs, versions from build arguments
    (`gunicorn==${GUNICORN_VERSION}`), installs constrained by `-c constraints.txt` or
    `PIP_CONSTRAINT`, `--no-index` installs from a local wheelhouse and the
    `pip`/`setuptools`/`wheel` bootstrap are accepted. Dev and test images are skipped.

    ## Why it breaks production
    An unpinned install resolves to whatever is newest on PyPI when the image is built. The
    commit that passed CI yesterday builds a different image today: a major release of
    gunicorn, a `urllib3` 2.x with dropped TLS options or a `poetry` that no longer accepts
    your flags arrives in a hotfix build, unreviewed and untested, and rebuilding an old
    release to roll back does not give back the old dependency set. A malicious release of a
    popular package goes straight into the image.

    ## Example
    ```dockerfile
    RUN pip install --no-cache-dir gunicorn "uvicorn[standard]>=0.29"
    ```

    ## Use instead
    ```dockerfile
    COPY requirements.txt .
    # requirements.txt generated by `uv pip compile` / `pip-compile --generate-hashes`
    RUN pip install --no-cache-dir --require-hashes -r requirements.txt
    ```
    """
    final = _production_stage(document)
    if final is None or _dev_dockerfile(ctx.path):
        return
    stages = _shipped_stages(document, final)
    for stage in _chain(document, final):
        for instruction in stage.find("ENV"):
            if any(name in _CONSTRAINT_VARIABLES and value for name, value in _pairs(instruction)):
                return
    for stage in stages:
        for instruction in stage.find("RUN"):
            if "pip" not in instruction.value and "poetry" not in instruction.value:
                continue
            loose: list[str] = []
            tools: list[str] = []
            for segment in _run_segments(instruction):
                if any(word.partition("=")[0] in _CONSTRAINT_VARIABLES for word in segment):
                    continue
                install = _installer(segment)
                if install is None:
                    continue
                found = _unpinned(*install)
                if found:
                    loose.extend(found)
                    tools.append(install[0])
            if not loose:
                continue
            names = ", ".join(f"`{word}`" for word in loose)
            command = "poetry add" if tools[0] == "poetry" else f"{tools[0]} install"
            package = _SPEC_END.split(loose[0])[0]
            first = re.compile(rf"(?<![\w.-]){re.escape(package)}")
            ctx.report(
                _text_line(ctx, instruction, first),
                f"`{command}` of {names} without an exact version: every build resolves the "
                "newest matching release, so two builds of the same commit ship different "
                "code and a rollback rebuild does not restore the old dependencies; pin `==` "
                "versions or install from a locked requirements file (-r, or -c constraints.txt)",
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
