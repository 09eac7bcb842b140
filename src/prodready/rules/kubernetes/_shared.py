"""Kubernetes: analysis several manifest rules share (workloads, containers, pod specs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prodready.plugin import FileKind, KubernetesObject, Manifests, Role
from prodready.plugin.analysis import path_role

Container = dict[str, Any]
KeyPath = tuple[Any, ...]

_SERVING_KINDS = frozenset({"Deployment", "StatefulSet"})
_DEV_DIRECTORIES = frozenset(
    {"dev", "development", "local", "test", "tests", "e2e", "kind", "minikube", "sandbox"}
)
# Manifests that test suites apply to throwaway clusters (engine.roles): operational rules do
# not apply.
_TEST_ROLES = frozenset({Role.TEST, Role.FIXTURE})


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
    return path_role(path, FileKind.KUBERNETES) in _TEST_ROLES


def _pod_labels(obj: KubernetesObject) -> dict[Any, Any]:
    spec_path = obj.pod_spec_path
    if spec_path is None:
        return {}
    return _dict(obj.get(*spec_path[:-1], "metadata", "labels"))


# -- containers that receive traffic (K8S002, K8S009) -----------------------------------------


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


# -- integer fields, also rendered by Helm as strings (K8S007, K8S009) ------------------------


def _integer(value: Any) -> int | None:
    """An integer field, also when a Helm value rendered it as a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
