"""Kubernetes: containers without probes (K8S002)."""

from __future__ import annotations

from prodready.plugin import Category, FileContext, FileKind, Manifests, Severity, file_rule
from prodready.rules.kubernetes._shared import (
    _container_name,
    _label,
    _serving_containers,
    _test_path,
)


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S002",
    name="container-without-probes",
    category=Category.DEPLOYMENT,
    severity=Severity.HIGH,
    summary="A serving container without readiness and/or liveness probe",
    fix="Add a readinessProbe (e.g. GET /ready) and a livenessProbe (e.g. GET /healthz).",
)
def container_without_probes(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags serving containers of Deployments and StatefulSets that have no `readinessProbe`
    and/or no `livenessProbe`, naming what is missing. A container serves when it declares
    `ports`, or is the pod's only container and a Service in the file selects the pod.
    Sidecars without ports, Jobs and CronJobs are not checked.

    ## Why it breaks production
    Without a readiness probe, Kubernetes sends traffic to a pod as soon as its process
    starts -- before the app has loaded, warmed caches or connected to the database -- so every
    deploy and scale-up returns errors, and a pod that stops answering keeps receiving its
    share of requests. Without a liveness probe, a deadlocked or hung process is never
    restarted: the pod stays `Running` and the outage lasts until someone notices.

    ## Example
    ```yaml
    containers:
      - name: api
        image: registry.example.com/api:1.4.2
        ports: [{containerPort: 8000}]
    ```

    ## Use instead
    ```yaml
    containers:
      - name: api
        image: registry.example.com/api:1.4.2
        ports: [{containerPort: 8000}]
        readinessProbe:
          httpGet: {path: /ready, port: 8000}
          periodSeconds: 5
        livenessProbe:
          httpGet: {path: /healthz, port: 8000}
          initialDelaySeconds: 10
          periodSeconds: 10
    ```
    """
    if _test_path(ctx.path):
        return
    for obj in manifests.objects:
        for container, path in _serving_containers(manifests, obj):
            missing = [
                probe
                for probe in ("readinessProbe", "livenessProbe")
                if not isinstance(container.get(probe), dict) or not container[probe]
            ]
            if not missing:
                continue
            effects = []
            if "readinessProbe" in missing:
                effects.append("traffic reaches it before it is ready and while it hangs")
            if "livenessProbe" in missing:
                effects.append("a hung process is never restarted")
            ctx.report(
                obj.line_of(*path),
                f"{_container_name(container)} of {_label(obj)} has no "
                + " and no ".join(missing)
                + ": "
                + "; ".join(effects)
                + "; add "
                + " and ".join(missing)
                + " against a health endpoint",
            )
