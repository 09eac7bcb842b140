"""Kubernetes manifest rules (how the workload is run, probed and limited)."""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Iterator
from typing import Any

from prodready.engine.documents import FileContext, KubernetesObject, Manifests
from prodready.engine.registry import file_rule
from prodready.engine.secrets import credential_in_url, placeholder_value, secret_name, url_password
from prodready.model import Category, Confidence, FileKind, Severity
from prodready.rules.dockerfile import non_root_image

Container = dict[str, Any]
KeyPath = tuple[Any, ...]

_SERVING_KINDS = frozenset({"Deployment", "StatefulSet"})
_DEV_DIRECTORIES = frozenset(
    {"dev", "development", "local", "test", "tests", "e2e", "kind", "minikube", "sandbox"}
)
# Manifests that test suites apply to throwaway clusters: operational rules do not apply.
_TEST_DIRECTORIES = frozenset({"test", "tests", "e2e", "testdata", "fixtures"})


def _dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _label(obj: KubernetesObject) -> str:
    return f"{obj.kind} `{obj.name}`" if obj.name else obj.kind


def _containers(
    obj: KubernetesObject, *, init: bool = False
) -> Iterator[tuple[Container, KeyPath]]:
    """Containers of a workload, without the partial ones of kustomize patches (no image)."""
    for container, path in obj.containers(init=init):
        if isinstance(container.get("image"), str) and container["image"].strip():
            yield container, path


def _container_name(container: Container) -> str:
    name = container.get("name")
    return f"container `{name}`" if isinstance(name, str) and name else "a container"


def _dev_path(path: str) -> bool:
    return any(part in _DEV_DIRECTORIES for part in path.lower().split("/")[:-1])


def _test_path(path: str) -> bool:
    return any(part in _TEST_DIRECTORIES for part in path.lower().split("/")[:-1])


def _pod_labels(obj: KubernetesObject) -> dict[Any, Any]:
    spec_path = obj.pod_spec_path
    if spec_path is None:
        return {}
    return _dict(obj.get(*spec_path[:-1], "metadata", "labels"))


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


# -- K8S002 -----------------------------------------------------------------------------------


def _selected_by_service(manifests: Manifests, obj: KubernetesObject) -> bool:
    labels = _pod_labels(obj)
    if not labels:
        return False
    for other in manifests.objects:
        if other.kind != "Service":
            continue
        selector = _dict(other.get("spec", "selector"))
        if selector and all(labels.get(key) == value for key, value in selector.items()):
            return True
    return False


def _serving_containers(
    manifests: Manifests, obj: KubernetesObject
) -> Iterator[tuple[Container, KeyPath]]:
    """The containers of a Deployment or StatefulSet that receive traffic: those that declare
    ``ports``, or the pod's only container when a Service in the file selects the pod."""
    if obj.kind not in _SERVING_KINDS:
        return
    containers = list(_containers(obj))
    single = len(containers) == 1
    for container, path in containers:
        if _list(container.get("ports")) or (single and _selected_by_service(manifests, obj)):
            yield container, path


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


# -- K8S004 -----------------------------------------------------------------------------------

_DANGEROUS_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "CAP_SYS_ADMIN"})


def _root_user(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def _container_privileges(container: Container) -> list[tuple[tuple[str, ...], str]]:
    """``(path below the container, description)`` of each privilege the container asks for."""
    context = _dict(container.get("securityContext"))
    found: list[tuple[tuple[str, ...], str]] = []
    if context.get("privileged") is True:
        found.append((("securityContext", "privileged"), "privileged: true"))
    if context.get("allowPrivilegeEscalation") is True:
        found.append(
            (("securityContext", "allowPrivilegeEscalation"), "allowPrivilegeEscalation: true")
        )
    if _root_user(context.get("runAsUser")):
        found.append((("securityContext", "runAsUser"), "runAsUser: 0"))
    added = _list(_dict(context.get("capabilities")).get("add"))
    dangerous = [str(cap) for cap in added if str(cap).upper() in _DANGEROUS_CAPABILITIES]
    if dangerous:
        found.append((("securityContext", "capabilities", "add"), f"capabilities.add: {dangerous}"))
    return found


def _pod_effect(issues: list[tuple[tuple[str, ...], str]]) -> str:
    shared = [path[0][4:] for path, _ in issues if path[0].startswith("host")]
    effects = []
    if shared:
        effects.append(f"it shares the node's {'/'.join(shared)} namespace")
    if any(path[-1] == "runAsUser" for path, _ in issues):
        effects.append("its containers run as root")
    return " and ".join(effects)


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S004",
    name="privileged-container",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=250,
    summary="Privileged container, privilege escalation, root UID or host namespaces",
    fix="Drop the privileges: runAsNonRoot: true, allowPrivilegeEscalation: false, no host*.",
)
def privileged_container(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags workloads that ask for more than an application needs: containers with
    `securityContext.privileged: true`, `allowPrivilegeEscalation: true`, `runAsUser: 0` or
    `capabilities.add: [ALL | SYS_ADMIN]`, and pods with `hostNetwork`, `hostPID` or
    `hostIPC: true` or a pod-level `runAsUser: 0`. Each privilege is named in the message.

    ## Why it breaks production
    A privileged container has every capability and all host devices: code execution in
    it is root on the node, with access to every other pod's secrets and volumes.
    `hostNetwork`/`hostPID`/`hostIPC` share the node's network stack and process table --
    sniffing other pods' traffic, signalling their processes. A remote-code-execution bug in
    one dependency becomes a cluster compromise, and Pod Security admission (`baseline`,
    `restricted`) rejects these pods.

    ## Example
    ```yaml
    spec:
      hostNetwork: true
      containers:
        - name: api
          securityContext:
            privileged: true
    ```

    ## Use instead
    ```yaml
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
      containers:
        - name: api
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
    ```
    """
    for obj in manifests.objects:
        spec_path = obj.pod_spec_path
        if spec_path is None:
            continue
        confidence = Confidence.MEDIUM if obj.kind == "DaemonSet" else None
        pod = _dict(obj.get(*spec_path))
        containers = list(_containers(obj, init=True))
        pod_issues: list[tuple[tuple[str, ...], str]] = [
            ((key,), f"{key}: true")
            for key in ("hostNetwork", "hostPID", "hostIPC")
            if pod.get(key) is True
        ]
        pod_context = _dict(pod.get("securityContext"))
        if _root_user(pod_context.get("runAsUser")) and any(
            "runAsUser" not in _dict(container.get("securityContext"))
            for container, _ in containers
        ):
            pod_issues.append((("securityContext", "runAsUser"), "runAsUser: 0"))
        if pod_issues:
            ctx.report(
                obj.line_of(*spec_path, *pod_issues[0][0]),
                f"the pod of {_label(obj)} sets "
                + ", ".join(description for _, description in pod_issues)
                + ": "
                + _pod_effect(pod_issues)
                + ", so one exploited bug reaches the node and its other pods; remove "
                "these settings and run as a non-root user",
                confidence=confidence,
            )
        for container, path in containers:
            issues = _container_privileges(container)
            if not issues:
                continue
            init = path[-2] == "initContainers"
            ctx.report(
                obj.line_of(*path, *issues[0][0]),
                f"{_container_name(container)} of {_label(obj)} sets "
                + ", ".join(description for _, description in issues)
                + ": code execution in it can become root on the node; drop the privilege "
                "(privileged: false, allowPrivilegeEscalation: false, runAsNonRoot: true, "
                "capabilities.drop: [ALL])",
                confidence=Confidence.MEDIUM if init else confidence,
            )


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


# -- K8S006 -----------------------------------------------------------------------------------


def _decoded(value: Any) -> str:
    text = str(value).strip()
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return text


def _secret_entry(key: str, value: str) -> bool:
    """A Secret key whose value is a real-looking credential."""
    if placeholder_value(value, key):
        return False
    lower = key.lower()
    return (
        secret_name(key)
        or credential_in_url(value)
        or "PRIVATE KEY-----" in value
        or lower.endswith((".key", ".dockerconfigjson", ".dockercfg"))
    )


def _secret_keys(obj: KubernetesObject) -> list[tuple[str, str, str]]:
    """``(section, key, value as written)`` of each real-looking credential in a Secret."""
    if "sops" in obj.data or str(obj.get("type") or "").endswith("service-account-token"):
        return []
    found: list[tuple[str, str, str]] = []
    for section in ("stringData", "data"):
        for key, value in _dict(obj.get(section)).items():
            if value is None or isinstance(value, dict | list):
                continue
            text = str(value) if section == "stringData" else _decoded(value)
            if text.startswith("ENC["):
                continue  # a SOPS-encrypted value
            if _secret_entry(str(key), text):
                found.append((section, str(key), str(value)))
    return found


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S006",
    name="secret-in-manifest-env",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=798,
    summary="A credential written into a manifest (env value, ConfigMap or committed Secret)",
    fix="Reference a Secret with valueFrom.secretKeyRef, and create the Secret from a secret "
    "manager (External Secrets, Sealed Secrets, SOPS) instead of committing it.",
)
def secret_in_manifest_env(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags credentials committed in Kubernetes manifests: container `env` entries with a
    secret-like name (`*_PASSWORD`, `*_TOKEN`, `SECRET_KEY`, `API_KEY`...) and a literal
    `value:`, URLs with an embedded password, the same in ConfigMap `data`, and `kind: Secret`
    manifests whose `data`/`stringData` hold real-looking credentials. Placeholders
    (`changeme`, `<token>`, `$(VAR)`), SOPS-encrypted files and SealedSecrets are ignored.

    ## Why it breaks production
    A literal in a manifest is in git history forever and in every clone, CI log and backup
    of the repository; a `value:` in a pod spec is also readable by anyone with `get` on the
    Deployment (no Secret RBAC needed) and shows up in `kubectl describe`. One leaked repo or
    over-broad read role exposes the production database or payment provider, and rotating
    means hunting down every copy. A committed `Secret` is only base64-encoded, not
    encrypted.

    ## Example
    ```yaml
    env:
      - name: DB_PASSWORD
        value: "s3cr3t-pr0d-pa55"
    ```

    ## Use instead
    ```yaml
    env:
      - name: DB_PASSWORD
        valueFrom:
          secretKeyRef: {name: api-secrets, key: db-password}
    ```
    """
    for obj in manifests.objects:
        if obj.kind == "Secret":
            keys = _secret_keys(obj)
            if keys:
                names = ", ".join(f"`{key}`" for _, key, _ in keys)
                section, key, written = keys[0]
                ctx.report(
                    obj.line_of(section, key),
                    f"Secret `{obj.name}` is committed with real-looking values ({names}): "
                    "base64 is not encryption, and the credentials are now in git history; "
                    "create the Secret from a secret manager (External Secrets, Sealed "
                    "Secrets, SOPS) and rotate these values",
                    secret=written,
                )
            continue
        if obj.kind == "ConfigMap":
            for key, value in _dict(obj.get("data")).items():
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    continue
                text = str(value)
                if (secret_name(str(key)) and not placeholder_value(text, str(key))) or (
                    credential_in_url(text)
                ):
                    ctx.report(
                        obj.line_of("data", key),
                        f"ConfigMap `{obj.name}` holds the credential `{key}` in plain text: "
                        "ConfigMaps are readable without Secret permissions and the value is "
                        "in git; move it to a Secret created from a secret manager",
                        secret=text,
                    )
            continue
        for container, path in _containers(obj, init=True):
            for position, entry in enumerate(_list(container.get("env"))):
                entry = _dict(entry)
                name, value = entry.get("name"), entry.get("value")
                if not isinstance(name, str) or "valueFrom" in entry:
                    continue
                if value is None or isinstance(value, bool | dict | list):
                    continue
                text = str(value)
                literal_secret = secret_name(name) and not placeholder_value(text, name)
                if not literal_secret and not credential_in_url(text):
                    continue
                what = "a literal credential" if literal_secret else "a URL with a password"
                ctx.report(
                    obj.line_of(*path, "env", position),
                    f"env `{name}` of {_container_name(container)} in {_label(obj)} is "
                    f"{what}: it is in git and readable by anyone who can read the "
                    "workload; use valueFrom.secretKeyRef to a Secret managed outside the repo",
                    secret=text if literal_secret else url_password(text),
                )


# -- K8S007 -----------------------------------------------------------------------------------


def _integer(value: Any) -> int | None:
    """An integer field, also when a Helm value rendered it as a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _effective(container: Container, pod: dict[Any, Any], key: str) -> Any:
    """A securityContext field: the container's own setting wins over the pod's."""
    own = _dict(container.get("securityContext"))
    if key in own:
        return own[key]
    return _dict(pod.get("securityContext")).get(key)


def _windows_pod(pod: dict[Any, Any]) -> bool:
    selector = _dict(pod.get("nodeSelector"))
    return (
        str(selector.get("kubernetes.io/os", "")).lower() == "windows"
        or "windowsOptions" in _dict(pod.get("securityContext"))
        or str(_dict(pod.get("os")).get("name", "")).lower() == "windows"
    )


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S007",
    name="container-runs-as-root",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    cwe=250,
    summary="A container that may run as root: no runAsNonRoot: true and no non-zero runAsUser",
    fix="Set securityContext.runAsNonRoot: true and runAsUser: 10001 (pod or container level).",
)
def container_runs_as_root(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags each workload container (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod...)
    whose effective security context -- the container's own, falling back to the pod's --
    neither sets `runAsNonRoot: true` nor a non-zero `runAsUser`. Containers that K8S004
    already reports (`runAsUser: 0`, `privileged: true`), init containers, Windows pods,
    images known to run as non-root (`distroless/*:nonroot`, Chainguard) and manifests under
    `dev/`, `local/` or `test/` directories are skipped. DaemonSets (node agents that often
    need root) are reported with medium confidence.

    ## Why it breaks production
    Without either setting the container runs as whatever user the image declares -- root for
    most images -- and nothing checks it: a rebuilt image that lost its `USER` line deploys
    silently as root. A process that is root in the container owns its filesystem, can
    modify the app's code and, after a container escape (runc and kernel CVEs recur), is root
    on the node with every other pod's secrets. Namespaces enforcing the `restricted` Pod
    Security Standard reject these pods outright, often first noticed at deploy time.

    ## Example
    ```yaml
    spec:
      containers:
        - name: api
          image: registry.example.com/api:1.4.2
    ```

    ## Use instead
    ```yaml
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
      containers:
        - name: api
          image: registry.example.com/api:1.4.2
          securityContext:
            allowPrivilegeEscalation: false
    ```
    """
    if _dev_path(ctx.path) or _test_path(ctx.path):
        return
    for obj in manifests.objects:
        spec_path = obj.pod_spec_path
        if spec_path is None:
            continue
        pod = _dict(obj.get(*spec_path))
        if _windows_pod(pod):
            continue
        for container, path in _containers(obj):
            user = _integer(_effective(container, pod, "runAsUser"))
            if user is not None:
                continue  # non-zero: not root; zero: K8S004 reports it
            if _effective(container, pod, "runAsNonRoot") is True:
                continue
            if _dict(container.get("securityContext")).get("privileged") is True:
                continue  # K8S004
            if non_root_image(str(container["image"])):
                continue
            explicit = _effective(container, pod, "runAsNonRoot") is False
            ctx.report(
                obj.line_of(*path),
                f"{_container_name(container)} of {_label(obj)} "
                + (
                    "sets runAsNonRoot: false and no runAsUser"
                    if explicit
                    else "sets neither runAsNonRoot: true nor a non-zero runAsUser"
                )
                + ": it runs as the image's user -- root for most images -- and nothing stops "
                "a root image from deploying, so an exploited bug is root in the container and "
                "after an escape on the node; set securityContext.runAsNonRoot: true and "
                "runAsUser: <non-zero UID> on the pod or the container",
                confidence=Confidence.MEDIUM if obj.kind == "DaemonSet" else None,
            )


# -- K8S008 -----------------------------------------------------------------------------------

# What a hostPath below these node paths hands to the pod.
_SENSITIVE_HOST_PATHS: dict[str, str] = {
    "/": "the node's whole filesystem",
    "/var/run/docker.sock": "the Docker socket (full control of every container on the node)",
    "/run/docker.sock": "the Docker socket (full control of every container on the node)",
    "/var/run/containerd": "the containerd socket (full control of every container)",
    "/run/containerd": "the containerd socket (full control of every container)",
    "/var/run/crio": "the CRI-O socket (full control of every container)",
    "/run/crio": "the CRI-O socket (full control of every container)",
    "/var/lib/kubelet": "the kubelet's state, with every pod's secrets and tokens",
    "/etc/kubernetes": "the node's Kubernetes credentials",
    "/var/lib/docker": "every container's filesystem",
    "/var/lib/containerd": "every container's filesystem",
    "/etc": "the node's configuration (users, SSH, systemd)",
    "/root": "root's home directory (SSH keys, credentials)",
    "/home": "users' home directories",
    "/boot": "the node's kernel and boot loader",
    "/dev": "the node's devices",
    "/proc": "every process on the node",
    "/sys": "the kernel's settings",
}
_RUNTIME_SOCKETS = ("docker.sock", "/containerd", "/crio")
# Node paths that log shippers and metrics agents read: fine for a DaemonSet, read-only.
_NODE_AGENT_PATHS = (
    "/var/log",
    "/var/lib/docker/containers",
    "/run/log/journal",
    "/proc",
    "/sys",
    "/etc/machine-id",
    "/etc/os-release",
)
_TIMEZONE_PATHS = ("/etc/localtime", "/etc/timezone", "/usr/share/zoneinfo")


def _under(path: str, prefixes: tuple[str, ...] | list[str]) -> str | None:
    """The first of ``prefixes`` that is ``path`` or a parent of it (``/`` only matches
    itself)."""
    for prefix in prefixes:
        if path == prefix or (prefix != "/" and path.startswith(prefix + "/")):
            return prefix
    return None


def _read_only_everywhere(obj: KubernetesObject, volume: str) -> bool:
    """Every mount of the volume is ``readOnly: true`` (and there is at least one)."""
    mounts = [
        _dict(mount)
        for container, _ in obj.containers(init=True)
        for mount in _list(container.get("volumeMounts"))
        if _dict(mount).get("name") == volume
    ]
    return bool(mounts) and all(mount.get("readOnly") is True for mount in mounts)


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S008",
    name="hostpath-volume",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=668,
    summary="A hostPath volume exposes the node's filesystem (or its container runtime) to a pod",
    fix="Use a PersistentVolumeClaim, emptyDir, ConfigMap or projected volume instead.",
)
def hostpath_volume(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `hostPath` volumes in pod specs, naming what the node path gives away (the
    container runtime socket, the kubelet's secrets, `/etc`...). DaemonSets -- node agents
    such as log shippers and metrics exporters -- may mount `/var/log`, `/proc`, `/sys` and
    container log directories read-only (`readOnly: true` on every mount) without a finding;
    their other hostPath volumes are reported with medium confidence, except a container
    runtime socket or a writable `/`. A read-only time-zone mount (`/etc/localtime`) in
    other workloads is reported as low severity. Manifests under `dev/`, `local/` or `test/`
    directories are skipped.

    ## Why it breaks production
    A hostPath volume is a hole in the container boundary: a pod that mounts
    `/var/run/docker.sock` can start a privileged container and own the node (read-only
    mounts do not help -- a socket is still writable), `/var/lib/kubelet` holds every pod's
    service-account tokens and secrets, a writable `/etc` or `/` means persistence on the
    node. Beyond security, data written to a hostPath stays on whichever node the pod
    happened to run on: it vanishes when the pod is rescheduled, and two replicas on one node
    corrupt each other's files. Pod Security admission (`baseline` and `restricted`) rejects
    hostPath volumes.

    ## Example
    ```yaml
    volumes:
      - name: docker
        hostPath:
          path: /var/run/docker.sock
    ```

    ## Use instead
    ```yaml
    volumes:
      - name: cache
        emptyDir: {sizeLimit: 1Gi}
      - name: data
        persistentVolumeClaim: {claimName: api-data}
    ```
    """
    if _dev_path(ctx.path) or _test_path(ctx.path):
        return
    for obj in manifests.objects:
        spec_path = obj.pod_spec_path
        if spec_path is None:
            continue
        daemon = obj.kind == "DaemonSet"
        for position, volume in enumerate(_list(obj.get(*spec_path, "volumes"))):
            volume = _dict(volume)
            host = volume.get("hostPath")
            if not isinstance(host, dict):
                continue
            raw = host.get("path")
            path = posixpath.normpath(str(raw)) if isinstance(raw, str) and raw else ""
            if path.startswith("//"):
                path = path[1:]
            name = str(volume.get("name", ""))
            read_only = _read_only_everywhere(obj, name)
            socket = any(part in path for part in _RUNTIME_SOCKETS)
            if daemon and read_only and not socket and _under(path, _NODE_AGENT_PATHS):
                continue  # a node agent reading logs or metrics
            sensitive = _under(path, sorted(_SENSITIVE_HOST_PATHS, key=len, reverse=True))
            severity: Severity | None = None
            confidence: Confidence | None = None
            if _under(path, _TIMEZONE_PATHS) and read_only:
                severity, confidence = Severity.LOW, Confidence.MEDIUM
                effect = (
                    "a time-zone file is harmless by itself, but Pod Security admission "
                    "(baseline) rejects any hostPath volume; set the TZ environment variable "
                    "or ship tzdata in the image"
                )
            else:
                if sensitive is not None:
                    effect = f"that is {_SENSITIVE_HOST_PATHS[sensitive]}, which " + (
                        "a compromised container can read"
                        if read_only and not socket
                        else "hands a compromised container the node"
                    )
                    if socket:
                        effect += " (read-only does not stop use of a socket)"
                elif daemon:
                    effect = "a compromised container can read and plant files on the node"
                else:
                    effect = (
                        "the data stays on whichever node the pod ran on (lost on "
                        "rescheduling, shared by replicas on one node) and a compromised "
                        "container can plant files on the node"
                    )
                effect += (
                    "; Pod Security admission (baseline) rejects hostPath volumes; use an "
                    "emptyDir, PersistentVolumeClaim, ConfigMap or projected volume"
                    + (" (or a CSI driver)" if daemon else "")
                )
            if daemon and severity is None and not (socket or (path == "/" and not read_only)):
                confidence = Confidence.MEDIUM
            shown = f"`{path}`" if path else "a node path"
            ctx.report(
                obj.line_of(*spec_path, "volumes", position),
                f"volume `{name}` of {_label(obj)} mounts {shown} from the node"
                + (" read-only" if read_only else "")
                + f": {effect}",
                severity=severity,
                confidence=confidence,
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
