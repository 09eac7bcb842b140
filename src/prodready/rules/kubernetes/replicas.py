"""Kubernetes: single-replica deployments (K8S005)."""

from __future__ import annotations

from prodready.plugin import (
    Category,
    Confidence,
    FileContext,
    FileKind,
    KubernetesObject,
    Manifests,
    Severity,
    file_rule,
)
from prodready.rules.kubernetes._shared import _SERVING_KINDS, _dev_path, _dict, _label, _test_path

# -- K8S005 -----------------------------------------------------------------------------------

_AUTOSCALERS = frozenset({"HorizontalPodAutoscaler", "ScaledObject"})


def _autoscaled(manifests: Manifests, obj: KubernetesObject) -> bool:
    for other in manifests.objects:
        if other.kind not in _AUTOSCALERS:
            continue
        target = _dict(other.get("spec", "scaleTargetRef"))
        name = target.get("name")
        if not name or name == obj.name:
            return True
    return False


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S005",
    name="single-replica-deployment",
    category=Category.DEPLOYMENT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A Deployment or StatefulSet pinned to one replica: every drain or rollout is downtime",
    fix="Run at least 2 replicas (with a PodDisruptionBudget) or add a HorizontalPodAutoscaler.",
)
def single_replica_deployment(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags Deployments and StatefulSets with an explicit `replicas: 1` and no
    HorizontalPodAutoscaler (or KEDA ScaledObject) for them in the same file. Deployments with
    `strategy: Recreate` (a deliberate singleton) and manifests under `dev/`, `local/` or
    `test/` directories are skipped.

    ## Why it breaks production
    With one pod there is no redundancy: a node drain for an upgrade, a node failure, an
    eviction or an OOM kill takes the service down until a new pod is scheduled, pulled and
    ready. A PodDisruptionBudget cannot help -- it would block the drain instead.

    ## Example
    ```yaml
    kind: Deployment
    spec:
      replicas: 1
    ```

    ## Use instead
    ```yaml
    kind: Deployment
    spec:
      replicas: 3
    ---
    kind: PodDisruptionBudget
    spec:
      minAvailable: 2
    ```
    """
    if _dev_path(ctx.path) or _test_path(ctx.path):
        return
    for obj in manifests.objects:
        if obj.kind not in _SERVING_KINDS:
            continue
        replicas = obj.get("spec", "replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas != 1:
            continue
        if _dict(obj.get("spec", "strategy")).get("type") == "Recreate":
            continue
        if _autoscaled(manifests, obj):
            continue
        ctx.report(
            obj.line_of("spec", "replicas"),
            f"{_label(obj)} runs a single replica: a node drain, node failure, eviction or "
            "OOM kill is downtime until a new pod is ready; run at least 2 replicas with a "
            "PodDisruptionBudget, or autoscale it",
            confidence=Confidence.LOW if obj.kind == "StatefulSet" else None,
        )
