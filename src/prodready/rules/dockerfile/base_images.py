"""Dockerfile: unpinned base images (DKR002)."""

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
from prodready.rules.dockerfile._shared import _global_args, _substitute

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
    default is unknown are skipped; an `ARG` default is expanded and checked. Evidence tier:
    when `latest` comes only from an `ARG` default (`ARG BASE_TAG=latest`), the argument is
    there for the build pipeline to set -- reported low, confidence low, saying so.

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
        from_argument = "$" in image
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
        if from_argument:
            ctx.report(
                stage.line,
                f"base image `{shown}` uses {what} only through a build argument's default: a "
                "release pipeline that passes --build-arg picks its own, which the Dockerfile "
                "does not show -- reported low. Builds without the argument pull whatever was "
                "pushed last; give the argument a pinned default",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            continue
        ctx.report(
            stage.line,
            f"base image `{shown}` uses {what}: each build can pull a different image, so "
            "builds of the same commit differ and rebuilding a release does not reproduce it; "
            "pin a version tag (and ideally its @sha256 digest)",
        )
