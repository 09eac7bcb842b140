"""YAML to plain data with the line of every key and item, for Kubernetes and Compose files.

Aliases are converted once and shared, and a document whose aliases repeat more than
:data:`MAX_ALIAS_EXPANSION` nodes is refused ("billion laughs").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prodready.engine.documents.errors import DocumentError


@dataclass(slots=True)
class YamlDocument:
    """One YAML document as plain data, with the line of every mapping key and sequence item."""

    data: Any
    line: int
    lines: dict[tuple[Any, ...], int]

    def line_of(self, *path: Any) -> int:
        """Line of the deepest known prefix of ``path``."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return self.line


def _scalar(node: Any) -> Any:
    tag: str = node.tag
    value: str = node.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return value.lower() in {"true", "yes", "on", "y"}
    if tag.endswith(":int"):
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    if tag.endswith(":float"):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return value
    return value


_MERGE_TAG = "tag:yaml.org,2002:merge"


# Nodes a document may repeat through aliases: Compose files that share a block of settings
# between a few dozen services stay far below it; a "billion laughs" document does not.
MAX_ALIAS_EXPANSION = 100_000


class _Converter:
    """Turns a composed YAML node graph into plain data and records the line of every key.

    An alias is converted once and shared (as PyYAML's own constructor does): converting it
    again at every use would let a few lines of nested aliases ("billion laughs") expand to
    millions of objects. Lines are recorded at the first use only; later uses fall back to the
    line of the key holding the alias. Merge keys (``<<: *defaults``) are resolved.

    Sharing keeps the conversion linear, but every rule that walks the data would still see the
    whole expanded graph, so the nodes that aliases repeat are counted and a document that
    repeats more than :data:`MAX_ALIAS_EXPANSION` of them is not analysed. Mapping keys that
    are not scalars (``? [a, b]``) are skipped: no manifest format uses them, and turning one
    into a string would expand every alias inside it.
    """

    def __init__(self, lines: dict[tuple[Any, ...], int]) -> None:
        self.lines = lines
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()
        self.sizes: dict[int, int] = {}  # node -> how many nodes it stands for, fully expanded
        self.expanded = 0  # nodes repeated through aliases so far
        # Where the value being converted is used: an alias node carries its anchor's line.
        self.use_line = 1

    def convert(self, node: Any, path: tuple[Any, ...], depth: int) -> Any:
        import yaml

        if depth > 200:
            raise DocumentError("YAML nesting is too deep", node.start_mark.line + 1)
        key = id(node)
        if key in self.done:
            self.expanded += self.sizes[key]
            if self.expanded > MAX_ALIAS_EXPANSION:
                raise DocumentError(
                    f"YAML alias expansion exceeds {MAX_ALIAS_EXPANSION} nodes", self.use_line
                )
            return self.done[key]
        if key in self.active:
            raise DocumentError("recursive YAML alias", node.start_mark.line + 1)
        result: Any
        if isinstance(node, yaml.MappingNode):
            self.active.add(key)
            result = self._mapping(node, path, depth)
            self.active.discard(key)
        elif isinstance(node, yaml.SequenceNode):
            self.active.add(key)
            items: list[Any] = []
            for position, item in enumerate(node.value):
                self.lines.setdefault((*path, position), item.start_mark.line + 1)
                self.use_line = node.start_mark.line + 1
                items.append(self.convert(item, (*path, position), depth + 1))
            self.active.discard(key)
            result = items
        else:
            result = _scalar(node)
        self.done[key] = result
        self.sizes[key] = 1 + sum(self.sizes.get(id(child), 0) for child in _children(node))
        return result

    def _mapping(self, node: Any, path: tuple[Any, ...], depth: int) -> dict[Any, Any]:
        import yaml

        result: dict[Any, Any] = {}
        merged: list[tuple[dict[Any, Any], int]] = []
        for key_node, value_node in node.value:
            if getattr(key_node, "tag", None) == _MERGE_TAG:
                line = key_node.start_mark.line + 1
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    self.use_line = line
                    value = self.convert(source, path, depth + 1)
                    if isinstance(value, dict):
                        merged.append((value, line))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            self.use_line = key_node.start_mark.line + 1
            key = self.convert(key_node, path, depth + 1)
            self.lines[(*path, key)] = self.use_line = key_node.start_mark.line + 1
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        for source, line in merged:  # explicit keys win, then earlier merged mappings
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    self.lines.setdefault((*path, key), line)
        return result


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def to_plain_data(
    node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], depth: int
) -> Any:
    return _Converter(lines).convert(node, path, depth)
