"""Dockerfile: what a base image is known to be (``non_root_image`` is shared with the Kubernetes
rules)."""

from __future__ import annotations

import re


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
