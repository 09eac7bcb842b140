"""Kubernetes: images tagged latest (K8S003)."""

from __future__ import annotations

from prodready.plugin import (
    Category,
    Confidence,
    FileContext,
    FileKind,
    Manifests,
    Severity,
    file_rule,
)
from prodready.rules.kubernetes._shared import _container_name, _containers, _label, _test_path

# -- K8S003 -----------------------------------------------------------------------------------


def _image_tag(image: str) -> str | None:
    last = image.rsplit("/", 1)[-1]
    return last.partition(":")[2] if ":" in last else None


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S003",
    name="image-tag-latest",
    category=Category.DEPLOYMENT,
    severity=Severity.MEDIUM,
    summary="Container image without a tag or with :latest: pods of one Deployment can differ",
    fix="Deploy an immutable tag (the release version or git SHA), ideally with its digest.",
)
def image_tag_latest(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags container images (init containers included) with no tag or the `latest` tag and no
    `@sha256:` digest. `imagePullPolicy` does not change the verdict. Templated images
    (`${IMAGE}`, `$(TAG)`) are skipped, and untagged images in kustomize `base/` directories,
    whose overlays set the tag.

    ## Why it breaks production
    A mutable tag means the manifest does not say what runs. Nodes that pulled `latest` at
    different times run different code in the same Deployment; a pod rescheduled after a
    node failure silently picks up whatever was pushed last; and rolling back the manifest
    rolls back nothing, because the previous revision names the same tag.

    ## Example
    ```yaml
    image: registry.example.com/api:latest
    ```

    ## Use instead
    ```yaml
    image: registry.example.com/api:1.4.2@sha256:<digest>
    ```
    """
    if _test_path(ctx.path):
        return
    directories = ctx.path.lower().split("/")[:-1]
    in_base = "base" in directories or "bases" in directories
    for obj in manifests.objects:
        for container, path in _containers(obj, init=True):
            image = str(container["image"]).strip()
            if "$" in image or "{{" in image or "@" in image:
                continue
            tag = _image_tag(image)
            if tag is not None and tag.lower() != "latest":
                continue
            if tag is None and in_base:
                continue
            what = "the `latest` tag" if tag is not None else "no tag (so `latest`)"
            ctx.report(
                obj.line_of(*path, "image"),
                f"image `{image}` of {_container_name(container)} in {_label(obj)} uses {what}: "
                "pods of the same workload can run different builds, a rescheduled pod picks up "
                "whatever was pushed last and rolling back the manifest changes nothing; deploy "
                "an immutable version tag or digest",
                confidence=None if tag is not None else Confidence.MEDIUM,
            )
