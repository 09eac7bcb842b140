"""Kubernetes: no graceful-shutdown configuration (K8S009)."""

from __future__ import annotations

import re
from typing import Any

from prodready.plugin import (
    Category,
    Confidence,
    FileContext,
    FileKind,
    Manifests,
    Severity,
    file_rule,
)
from prodready.rules.kubernetes._shared import (
    _container_name,
    _dev_path,
    _dict,
    _integer,
    _label,
    _list,
    _serving_containers,
    _test_path,
)

# -- K8S009 -----------------------------------------------------------------------------------

_MIN_GRACE_SECONDS = 10


def _pre_stop_sleep(pre_stop: dict[Any, Any]) -> int | None:
    """Seconds a preStop hook waits (``sleep.seconds`` or an exec of ``sleep N``), if known."""
    seconds = _integer(_dict(pre_stop.get("sleep")).get("seconds"))
    if seconds is not None:
        return seconds
    command = _dict(pre_stop.get("exec")).get("command")
    text = " ".join(str(word) for word in _list(command))
    match = re.search(r"\bsleep\s+(\d+)\b", text)
    return int(match.group(1)) if match else None


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S009",
    name="no-graceful-shutdown-config",
    category=Category.DEPLOYMENT,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="A serving container without a preStop drain delay: requests fail during rollouts",
    fix="Add lifecycle.preStop (sleep 5-10 s) and keep terminationGracePeriodSeconds above "
    "the sleep plus the longest request.",
)
def no_graceful_shutdown_config(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags serving containers of Deployments and StatefulSets (they declare `ports`, or are the
    only container of a pod a Service selects) that have no `lifecycle.preStop` hook while
    the pod's `terminationGracePeriodSeconds` is left at its default or set below 10
    seconds, and containers whose preStop sleep uses up the whole grace period. An explicit
    grace period of 10 s or more without a hook is taken as a deliberate choice (the app
    delays its own shutdown). Manifests under `dev/`, `local/` or `test/` are skipped.

    ## Why it breaks production
    When a pod is deleted -- every rollout, scale-down and node drain -- two things start at
    once: the kubelet sends SIGTERM, and the endpoints controller removes the pod from the
    Service. kube-proxy on every node, ingress controllers and cloud load balancers learn
    about the removal over the next seconds and keep sending new requests meanwhile. gunicorn
    and uvicorn stop accepting connections as soon as they get SIGTERM, so those requests fail
    with connection refused / 502: a burst of errors on every deploy. A preStop `sleep` keeps
    the pod serving until the routing has caught up; the grace period must cover that sleep
    plus the longest in-flight request, or the kubelet SIGKILLs the app mid-request.

    ## Example
    ```yaml
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: api
          ports: [{containerPort: 8000}]
    ```

    ## Use instead
    ```yaml
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: api
          ports: [{containerPort: 8000}]
          lifecycle:
            preStop:
              sleep: {seconds: 10}   # or exec: {command: ["sleep", "10"]}
    ```
    """
    if _dev_path(ctx.path) or _test_path(ctx.path):
        return
    for obj in manifests.objects:
        spec_path = obj.pod_spec_path
        if spec_path is None:
            continue
        raw_grace = obj.get(*spec_path, "terminationGracePeriodSeconds")
        grace = _integer(raw_grace)
        if raw_grace is not None and grace is None:
            continue  # a template expression or a value we cannot read
        for container, path in _serving_containers(manifests, obj):
            pre_stop = _dict(_dict(container.get("lifecycle")).get("preStop"))
            where = f"{_container_name(container)} of {_label(obj)}"
            if pre_stop:
                sleep = _pre_stop_sleep(pre_stop)
                if grace is None or sleep is None or sleep < grace:
                    continue
                ctx.report(
                    obj.line_of(*path),
                    f"the preStop hook of {where} sleeps {sleep} s but "
                    f"terminationGracePeriodSeconds is {grace}: the grace period runs out "
                    "during the hook, so the app is SIGKILLed without a chance to finish "
                    "in-flight requests; raise the grace period above the sleep plus the "
                    "longest request",
                )
                continue
            if grace is not None and grace >= _MIN_GRACE_SECONDS:
                continue
            problem = "has no preStop hook"
            if grace is not None:
                problem += f" and only {grace} s of terminationGracePeriodSeconds"
            ctx.report(
                obj.line_of(*path),
                f"{where} {problem}: on every rollout and scale-down the pod gets SIGTERM "
                "while kube-proxy, ingress controllers and load balancers still route new "
                "requests to it for a few seconds, and those fail with connection refused/502; "
                "add lifecycle.preStop with a 5-10 s sleep and keep "
                "terminationGracePeriodSeconds above the sleep plus the longest request",
            )
