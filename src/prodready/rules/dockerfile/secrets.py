"""Dockerfile: secrets baked into ENV/ARG (DKR004)."""

from __future__ import annotations

import re

from prodready.plugin import (
    Category,
    Confidence,
    Dockerfile,
    FileContext,
    FileKind,
    Instruction,
    Severity,
    file_rule,
)
from prodready.plugin.analysis import (
    credential_in_url,
    placeholder_value,
    secret_name,
    url_password,
)
from prodready.rules.dockerfile._shared import (
    _VARIABLE,
    _chain,
    _line_of,
    _pairs,
    _production_stage,
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
