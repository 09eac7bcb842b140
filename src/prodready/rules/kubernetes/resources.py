"""Kubernetes: containers without resource limits (K8S001)."""

from __future__ import annotations

from prodready.plugin import Category, FileContext, FileKind, Manifests, Severity, file_rule
from prodready.rules.kubernetes._shared import (
    _container_name,
    _containers,
    _dict,
    _label,
    _list,
    _test_path,
)

# -- K8S001 -----------------------------------------------------------------------------------


def _limit_range_sets_memory(manifests: Manifests) -> bool:
    for obj in manifests.objects:
        if obj.kind != "LimitRange":
            continue
        for item in _list(obj.get("spec", "limits")):
            item = _dict(item)
            if item.get("type", "Container") == "Container" and "memory" in _dict(
                item.get("default")
            ):
                return True
    return False


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S001",
    name="container-without-resource-limits",
    category=Category.DEPLOYMENT,
    severity=Severity.MEDIUM,
    summary="A container without a memory limit can exhaust its node and get neighbours killed",
    fix="Set resources.requests (cpu, memory) and resources.limits.memory on every container.",
)
def container_without_resource_limits(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags workload containers (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod...)
    without `resources.limits.memory`, and says when `resources.requests` are missing too.
    A `LimitRange` with a default memory limit in the same file counts. CPU limits are not
    required: they throttle more often than they protect.

    ## Why it breaks production
    Without a memory limit, a leak or a burst of large requests grows the container until
    the node runs out of memory; the kernel's OOM killer then picks victims across the node,
    taking down unrelated pods along with it. Without requests the pod is `BestEffort`:
    the scheduler places it without reserving anything, packs nodes too tightly, and evicts
    it first under pressure.

    ## Example
    ```yaml
    containers:
      - name: api
        image: registry.example.com/api:1.4.2
    ```

    ## Use instead
    ```yaml
    containers:
      - name: api
        image: registry.example.com/api:1.4.2
        resources:
          requests: {cpu: 250m, memory: 256Mi}
          limits: {memory: 512Mi}
    ```
    """
    if _test_path(ctx.path) or _limit_range_sets_memory(manifests):
        return
    for obj in manifests.objects:
        for container, path in _containers(obj):
            resources = _dict(container.get("resources"))
            limits = _dict(resources.get("limits"))
            if limits.get("memory") not in (None, ""):
                continue
            requests = _dict(resources.get("requests"))
            missing_requests = not requests.get("memory") and not requests.get("cpu")
            ctx.report(
                obj.line_of(*path),
                f"{_container_name(container)} of {_label(obj)} has no memory limit"
                + (" and no resource requests" if missing_requests else "")
                + ": a leak or traffic spike can exhaust the node and get neighbouring pods "
                "OOM-killed"
                + (
                    ", and the scheduler reserves nothing for it (BestEffort, evicted first)"
                    if missing_requests
                    else ""
                )
                + "; set resources.requests and resources.limits.memory",
            )
