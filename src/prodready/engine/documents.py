"""Parsers for the non-Python files prodready checks: Dockerfiles, Kubernetes and Compose YAML,
requirements files and pyproject.toml. Each gives rules a small document model with line numbers.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prodready.engine.location import RawFinding, line_location
from prodready.model import Confidence, FileKind, ProdreadyError, Profile, Rule, Severity


class DocumentError(ProdreadyError):
    """The file cannot be parsed; becomes a scan error with the line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


# -- Dockerfile -------------------------------------------------------------------------------


@dataclass(slots=True)
class Instruction:
    keyword: str
    value: str
    line: int
    end_line: int
    stage: int
    flags: dict[str, str] = field(default_factory=dict)
    # Every ``--name=value`` flag in order; ``flags`` keeps the last value of each name, this
    # keeps repeated ones too (``RUN --mount=... --mount=...``).
    flag_list: list[tuple[str, str]] = field(default_factory=list)

    def flag_values(self, name: str) -> list[str]:
        """The values of every occurrence of the flag ``--name``."""
        return [value for key, value in self.flag_list if key == name]

    def arguments(self) -> list[str]:
        """Exec-form (JSON array) or shell-form arguments."""
        text = self.value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
                return parsed
        try:
            return shlex.split(text, comments=False)
        except ValueError:
            return text.split()


@dataclass(slots=True)
class Stage:
    index: int
    image: str
    alias: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def find(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass(slots=True)
class Dockerfile:
    instructions: list[Instruction]
    stages: list[Stage]

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None


_FLAG = re.compile(r"^--([a-zA-Z-]+)(?:=(\S*))?\s*")
# A heredoc is a *word* of the instruction that starts with ``<<`` (BuildKit checks each word
# against ``^(\d*)<<(-?)([^<]*)$``), and only RUN, COPY and ADD take them.
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)([^<]+)$")
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_KEYWORD = re.compile(r"(\S+)\s*(.*)$", re.DOTALL)


def _heredoc_terminators(value: str) -> list[tuple[str, bool]]:
    """``(terminator, strip_tabs)`` for each heredoc the instruction opens, in order."""
    if "<<" not in value:
        return []
    try:
        words = shlex.split(value, comments=False, posix=False)
    except ValueError:
        words = value.split()
    found: list[tuple[str, bool]] = []
    for word in words:
        match = _HEREDOC_WORD.match(word)
        if match is None:
            continue
        name = match.group(3)
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]
        if name and re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            found.append((name, match.group(2) == "-"))
    return found


def parse_dockerfile(text: str) -> Dockerfile:
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:  # parser directives precede everything else
        match = re.match(r"^#\s*([A-Za-z]+)\s*=\s*(\S*)", raw.strip())
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2) in {"\\", "`"}:
            escape = match.group(2)
    instructions: list[Instruction] = []
    stages: list[Stage] = []
    index = 0
    while index < len(lines):
        raw = lines[index]
        stripped = raw.strip()
        start = index + 1
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        parts = [stripped]
        continued = stripped.endswith(escape)
        while continued and index < len(lines):
            parts[-1] = parts[-1][: -len(escape)]
            nxt = lines[index].strip()
            index += 1
            if not nxt or nxt.startswith("#"):
                # Empty lines and comments inside a continuation are dropped; it goes on.
                parts[-1] += escape
                continue
            parts.append(nxt)
            continued = nxt.endswith(escape)
        if continued and parts[-1].endswith(escape):
            parts[-1] = parts[-1][: -len(escape)]  # an escape on the file's last line
        joined = " ".join(p.strip() for p in parts if p.strip())
        split = _KEYWORD.match(joined)
        keyword, value = (split.group(1), split.group(2)) if split else (joined, "")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        flag_list: list[tuple[str, str]] = []
        value = value.strip()
        while True:
            flag = _FLAG.match(value)
            if not flag:
                break
            name = flag.group(1).lower()
            flags[name] = flag.group(2) or ""
            flag_list.append((name, flag.group(2) or ""))
            value = value[flag.end() :]
        if keyword in _HEREDOC_KEYWORDS:
            for terminator, strip_tabs in _heredoc_terminators(value):
                body: list[str] = []
                while index < len(lines):
                    candidate = lines[index].lstrip("\t") if strip_tabs else lines[index]
                    if candidate.rstrip() == terminator:
                        break
                    body.append(lines[index])
                    index += 1
                index += 1  # the terminator line
                value = value + "\n" + "\n".join(body)
            index = min(index, len(lines))
        if keyword == "FROM":
            words = value.split()
            image = words[0] if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(len(stages), image, alias, start))
        instruction = Instruction(
            keyword, value, start, index, max(len(stages) - 1, 0), flags, flag_list
        )
        instructions.append(instruction)
        if stages:
            stages[-1].instructions.append(instruction)
    if instructions and not stages:
        raise DocumentError("Dockerfile has no FROM instruction", instructions[0].line)
    return Dockerfile(instructions, stages)


# -- YAML (Kubernetes, Compose) ---------------------------------------------------------------


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


def _convert(
    node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], depth: int
) -> Any:
    return _Converter(lines).convert(node, path, depth)


def parse_yaml(text: str) -> Manifests:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents: list[YamlDocument] = []
    try:
        for node in yaml.compose_all(text, Loader=loader):
            if node is None:
                continue
            lines: dict[tuple[Any, ...], int] = {}
            data = _convert(node, (), lines, 0)
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


# -- requirements files -----------------------------------------------------------------------


@dataclass(slots=True)
class RequirementLine:
    line: int
    text: str
    name: str | None = None
    specifier: str = ""
    marker: str | None = None
    url: str | None = None
    extras: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()
    option: str | None = None  # -r, -c, -e, --index-url, ...
    option_value: str | None = None
    error: str | None = None

    @property
    def pinned(self) -> bool:
        spec = self.specifier.strip()
        return (spec.startswith("==") and "*" not in spec and "," not in spec) or spec.startswith(
            "==="
        )


@dataclass(slots=True)
class RequirementsFile:
    lines: list[RequirementLine]

    @property
    def requirements(self) -> list[RequirementLine]:
        return [line for line in self.lines if line.name is not None]


_HASH = re.compile(r"\s--hash[=\s]+(\S+)")
_COMMENT = re.compile(r"(^|\s)#.*$")
_OPTION = re.compile(r"(--[A-Za-z0-9][\w-]*|-[A-Za-z])\s*=?\s*(.*)$", re.DOTALL)


def _split_options(line: str) -> tuple[str, str]:
    """pip's ``break_args_options``: the requirement, then per-requirement options such as
    ``--hash=...`` or ``--config-settings=...`` from the first word that starts with ``-``."""
    words = line.split(" ")
    for position, word in enumerate(words):
        if word.startswith("-"):
            return " ".join(words[:position]).strip(), " ".join(words[position:]).strip()
    return line.strip(), ""


def parse_requirements(text: str) -> RequirementsFile:
    from packaging.requirements import InvalidRequirement, Requirement

    result: list[RequirementLine] = []
    raw_lines = text.splitlines()
    index = 0
    while index < len(raw_lines):
        start = index + 1
        logical = _COMMENT.sub("", raw_lines[index])
        index += 1
        while logical.rstrip().endswith("\\") and index < len(raw_lines):
            logical = logical.rstrip()[:-1] + " " + _COMMENT.sub("", raw_lines[index])
            index += 1
        logical = logical.strip()
        if not logical:
            continue
        entry = RequirementLine(line=start, text=logical)
        if logical.startswith("-"):
            hashes = tuple(_HASH.findall(" " + logical))
            entry.hashes = hashes
            logical = _HASH.sub("", " " + logical).strip()
            option = _OPTION.match(logical)
            if option is not None:
                entry.option = option.group(1)
                entry.option_value = option.group(2).strip() or None
            else:
                entry.option = logical
            if entry.option in {"-e", "--editable"}:
                entry.url = entry.option_value
            result.append(entry)
            continue
        logical, options = _split_options(logical)
        entry.hashes = tuple(_HASH.findall(" " + options))
        try:
            requirement = Requirement(logical)
        except InvalidRequirement as exc:
            if "://" in logical or logical.startswith((".", "/")):
                entry.url = logical
            else:
                entry.error = f"invalid requirement {logical!r}: {exc}"
            result.append(entry)
            continue
        entry.name = requirement.name
        entry.specifier = str(requirement.specifier)
        entry.marker = str(requirement.marker) if requirement.marker else None
        entry.url = requirement.url
        entry.extras = tuple(sorted(requirement.extras))
        result.append(entry)
    return RequirementsFile(result)


# -- pyproject.toml ---------------------------------------------------------------------------


@dataclass(slots=True)
class Pyproject:
    data: dict[str, Any]
    text_lines: list[str]

    def line_of(self, needle: str) -> int:
        """First line containing ``needle`` (TOML parsers keep no positions)."""
        for number, text in enumerate(self.text_lines, start=1):
            if needle in text:
                return number
        return 1


def parse_pyproject(text: str) -> Pyproject:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise DocumentError(f"invalid TOML: {exc}", int(match.group(1)) if match else None) from exc
    return Pyproject(data, text.splitlines())


def parse_document(kind: FileKind, text: str) -> Any:
    if kind is FileKind.DOCKERFILE:
        return parse_dockerfile(text)
    if kind in (FileKind.KUBERNETES, FileKind.COMPOSE):
        return parse_yaml(text)
    if kind is FileKind.REQUIREMENTS:
        return parse_requirements(text)
    if kind is FileKind.PYPROJECT:
        return parse_pyproject(text)
    raise ValueError(f"no document parser for {kind}")


# -- rule context -----------------------------------------------------------------------------


class FileContext:
    """What a rule over a non-Python document sees: the file and a way to report."""

    def __init__(self, relpath: str, source: str, kind: FileKind, profile: Profile) -> None:
        self.path = relpath
        self.source = source
        self.kind = kind
        self.profile = profile
        self.lines = source.splitlines()
        self.rule: Rule | None = None
        self.findings: list[RawFinding] = []

    def report(
        self,
        line: int,
        message: str,
        *,
        end_line: int | None = None,
        fix: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        secret: str | None = None,
    ) -> None:
        assert self.rule is not None, "report() called outside a rule"
        location = line_location(self.lines, max(line, 1), end_line)
        self.findings.append(
            RawFinding(self.rule, location, message, fix, severity, confidence, secret)
        )
