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
from prodready.model import Confidence, FileKind, Profile, Rule, Severity


class DocumentError(Exception):
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
_HEREDOC = re.compile(r"<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")


def parse_dockerfile(text: str) -> Dockerfile:
    lines = text.splitlines()
    escape = "\\"
    for raw in lines[:5]:  # parser directives precede everything else
        match = re.match(r"^#\s*escape\s*=\s*(\S)", raw, re.IGNORECASE)
        if match:
            escape = match.group(1)
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
        while parts[-1].endswith(escape) and index < len(lines):
            parts[-1] = parts[-1][:-1]
            nxt = lines[index].strip()
            index += 1
            if nxt.startswith("#"):
                parts.append(escape)  # comments inside continuations are dropped
                continue
            parts.append(nxt)
        parts = [p for p in parts if p != escape]
        joined = " ".join(p.strip() for p in parts if p.strip())
        keyword, _, value = joined.partition(" ")
        heredoc = _HEREDOC.search(value)
        if heredoc and "<<<" not in value:
            terminator = heredoc.group(1)
            body: list[str] = []
            while index < len(lines) and lines[index].strip() != terminator:
                body.append(lines[index])
                index += 1
            index += 1
            value = value + "\n" + "\n".join(body)
        flags: dict[str, str] = {}
        value = value.strip()
        while True:
            flag = _FLAG.match(value)
            if not flag:
                break
            flags[flag.group(1).lower()] = flag.group(2) or ""
            value = value[flag.end() :]
        keyword = keyword.upper()
        if keyword == "FROM":
            words = value.split()
            image = words[0] if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(len(stages), image, alias, start))
        instruction = Instruction(keyword, value, start, index, max(len(stages) - 1, 0), flags)
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


@dataclass(slots=True)
class Manifests:
    """A Kubernetes or Compose file: its YAML documents."""

    documents: list[YamlDocument]

    @property
    def objects(self) -> list[KubernetesObject]:
        return [
            KubernetesObject(doc)
            for doc in self.documents
            if isinstance(doc.data, dict) and "kind" in doc.data and "apiVersion" in doc.data
        ]


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


def _convert(
    node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], depth: int
) -> Any:
    import yaml

    if depth > 200:
        raise DocumentError("YAML nesting is too deep", node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path, lines, depth + 1)
            if isinstance(key, list | dict):
                key = str(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*path, key), lines, depth + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for position, item in enumerate(node.value):
            lines[(*path, position)] = item.start_mark.line + 1
            items.append(_convert(item, (*path, position), lines, depth + 1))
        return items
    return _scalar(node)


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


def looks_like_kubernetes(text: str) -> bool:
    return "apiVersion" in text and "kind" in text and "{{" not in text


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
        hashes = tuple(_HASH.findall(" " + logical))
        logical = _HASH.sub("", " " + logical).strip()
        entry.hashes = hashes
        if logical.startswith("-"):
            option, _, value = logical.partition(" ") if " " in logical else logical.partition("=")
            entry.option = option
            entry.option_value = value.strip() or None
            if option in {"-e", "--editable"}:
                entry.url = entry.option_value
            result.append(entry)
            continue
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
    ) -> None:
        assert self.rule is not None, "report() called outside a rule"
        location = line_location(self.lines, max(line, 1), end_line)
        self.findings.append(RawFinding(self.rule, location, message, fix, severity, confidence))
