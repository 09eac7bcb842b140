"""Kubernetes: privileged containers, containers running as root, hostPath volumes
(K8S004, K8S007, K8S008)."""

from __future__ import annotations

import posixpath
from typing import Any

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
from prodready.rules.dockerfile.images import non_root_image
from prodready.rules.kubernetes._shared import (
    Container,
    _container_name,
    _containers,
    _dev_path,
    _dict,
    _integer,
    _label,
    _list,
    _test_path,
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
