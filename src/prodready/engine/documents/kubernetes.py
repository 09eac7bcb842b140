"""Kubernetes and Compose files: their YAML documents, the Kubernetes objects among them, and the
test that tells a manifest from a Helm or Jinja template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prodready.engine.documents.errors import DocumentError
from prodready.engine.documents.yaml_loader import YamlDocument, to_plain_data

WORKLOAD_POD_SPECS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(slots=True)
class KubernetesObject:
    document: YamlDocument

    @property
    def data(self) -> dict[str, Any]:
        value = self.document.data
        return value if isinstance(value, dict) else {}

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        metadata = self.data.get("metadata")
        return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""

    def get(self, *path: Any) -> Any:
        value: Any = self.data
        for key in path:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
            else:
                return None
        return value

    def line_of(self, *path: Any) -> int:
        return self.document.line_of(*path)

    @property
    def pod_spec_path(self) -> tuple[str, ...] | None:
        return WORKLOAD_POD_SPECS.get(self.kind)

    def containers(self, *, init: bool = False) -> Iterator[tuple[dict[str, Any], tuple[Any, ...]]]:
        """Each container of a workload with its path (``init=True`` adds init containers)."""
        spec_path = self.pod_spec_path
        if spec_path is None:
            return
        keys = ("containers", "initContainers") if init else ("containers",)
        for key in keys:
            items = self.get(*spec_path, key)
            if isinstance(items, list):
                for position, container in enumerate(items):
                    if isinstance(container, dict):
                        yield container, (*spec_path, key, position)


def _is_object(data: Any) -> bool:
    return isinstance(data, dict) and "kind" in data and "apiVersion" in data


def _list_items(document: YamlDocument) -> list[YamlDocument]:
    """The items of a ``kind: List`` (or ``DeploymentList``...) document, each as a document of
    its own whose paths and lines are relative to the item (``kubectl get -o yaml`` output)."""
    data = document.data
    items = data.get("items")
    if not isinstance(items, list):
        return []
    list_kind = str(data.get("kind"))
    item_kind = list_kind[: -len("List")] if list_kind != "List" else ""
    item_lines: dict[int, dict[tuple[Any, ...], int]] = {}
    for path, line in document.lines.items():  # one pass, not one per item
        if len(path) >= 3 and path[0] == "items" and isinstance(path[1], int):
            item_lines.setdefault(path[1], {})[path[2:]] = line
    found: list[YamlDocument] = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        if "kind" not in item and item_kind:
            item = {**item, "kind": item_kind}  # typed lists leave the items' kind out
        if "apiVersion" not in item and "apiVersion" in data:
            item = {**item, "apiVersion": data["apiVersion"]}
        if not _is_object(item):
            continue
        line = document.lines.get(("items", position), document.line)
        found.append(YamlDocument(item, line, item_lines.get(position, {})))
    return found


@dataclass(slots=True)
class Manifests:
    """A Kubernetes or Compose file: its YAML documents."""

    documents: list[YamlDocument]
    _objects: list[KubernetesObject] | None = field(default=None, repr=False, compare=False)

    @property
    def objects(self) -> list[KubernetesObject]:
        """The Kubernetes objects of the file; the items of a ``kind: List`` are objects too."""
        if self._objects is None:
            found: list[KubernetesObject] = []
            for doc in self.documents:
                if not _is_object(doc.data):
                    continue
                kind = str(doc.data.get("kind"))
                if kind.endswith("List") and isinstance(doc.data.get("items"), list):
                    found.extend(KubernetesObject(item) for item in _list_items(doc))
                else:
                    found.append(KubernetesObject(doc))
            self._objects = found
        return self._objects


def parse_yaml(text: str) -> Manifests:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents: list[YamlDocument] = []
    try:
        for node in yaml.compose_all(text, Loader=loader):
            if node is None:
                continue
            lines: dict[tuple[Any, ...], int] = {}
            data = to_plain_data(node, (), lines, 0)
            documents.append(YamlDocument(data, node.start_mark.line + 1, lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DocumentError(f"invalid YAML: {problem}", line) from exc
    except RecursionError as exc:
        raise DocumentError("YAML nesting is too deep") from exc
    return Manifests(documents)


# Helm's own objects and functions: only a chart's templates mention them.
_HELM_TEMPLATE = re.compile(
    r"\{\{-?[^}\n]{0,200}?(?:\$?\.(?:Values|Release|Chart|Capabilities|Files|Template)\b"
    r"|\b(?:include|tpl|toYaml|nindent|indent|required|default)\s)"
)


_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'")


_BLOCK_SCALAR_START = re.compile(r"(?:^|\s)[|>][-+0-9]*$")


# ``{{``/``{%`` where a YAML node starts: a line, a list item or a mapping value.
_STRUCTURAL_TEMPLATE = re.compile(r"(?:^(?:-\s+)*|:\s+)\{[{%]")


# A whole quoted value that is a Jinja/Ansible variable (``image: "{{ image_tag }}"``,
# ``- "{{ replicas | int }}"``). Go templates that survive rendering refer to ``$labels`` or
# ``.Labels``, and Grafana legends (``{{pod}}``) sit inside larger strings.
_JINJA_VALUE = re.compile(
    r"(?:^(?:-\s+)*|:\s+)([\"'])\{\{-?\s*[A-Za-z_]\w*\s*(?:\|[^}\n]{0,80})?-?\}\}\1"
    r"\s*(?:#.*)?$"
)


def _templated(text: str) -> bool:
    """A Go or Jinja template (Helm chart, Ansible) rather than YAML. Rendered output may hold
    ``{{ ... }}`` in quoted strings and block scalars (Prometheus rules, Alertmanager
    templates), even in plain scalars (``description: Pod {{ $labels.pod }} restarts``): only
    template syntax where a YAML node starts, or a whole value that is a Jinja variable,
    counts."""
    if "{{" not in text and "{%" not in text:
        return False
    if _HELM_TEMPLATE.search(text):
        return True
    block_indent: int | None = None
    for raw in text.splitlines():
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue  # the body of a block scalar (``key: |``) is a string
            block_indent = None
        if not stripped or stripped.startswith("#"):
            continue
        if _JINJA_VALUE.search(stripped):
            return True
        bare = _QUOTED.sub("''", stripped)
        bare = re.sub(r"\s#.*$", "", bare).rstrip()
        if _STRUCTURAL_TEMPLATE.search(bare):
            return True
        if _BLOCK_SCALAR_START.search(bare):
            block_indent = indent
    return False


def looks_like_kubernetes(text: str) -> bool:
    """YAML that may hold Kubernetes objects; Helm chart templates (not YAML until rendered)
    are left out, ``helm template`` output is in."""
    return "apiVersion" in text and "kind" in text and not _templated(text)
