"""Requirements files with their -r/-c includes, and the helpers that turn a requirement line
into a declaration."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from prodready.deps.files import NOT_INSIDE, excerpt, requirement_error
from prodready.deps.manifests.base import MAX_INCLUDE_DEPTH, _ReaderBase, _RequirementsFile
from prodready.deps.manifests.text import (
    _ARCHIVE,
    _BUILD_WORDS,
    _DEV_WORDS,
    _DOCS_WORDS,
    _EGG,
    _NON_PROJECT_DIRS,
    _REQUIREMENTS_DIRS,
    _RUNTIME_WORDS,
    _TEST_WORDS,
    _join,
    _normalise,
)
from prodready.deps.model import Declaration
from prodready.engine.documents import RequirementLine, parse_requirements


class _RequirementsReader(_ReaderBase):
    # -- requirements files -----------------------------------------------------------------
    def load_requirements(self, path: str, depth: int) -> None:
        if path in self.requirements:
            return
        self.requirements[path] = None  # guards include cycles
        text = self.text(path)
        if text is None:
            return
        document = parse_requirements(text)
        parsed = _RequirementsFile(path, document.lines)
        directory = str(PurePosixPath(path).parent)
        for line in document.lines:
            option = line.option or ""
            if option in {"-r", "--requirement", "-c", "--constraint"} or option.startswith(
                ("--requirement", "--constraint")
            ):
                target = (line.option_value or "").strip()
                if not target or "://" in target:
                    continue
                included = _normalise(_join(directory if directory != "." else "", target))
                kind = "-c" if option.startswith(("-c", "--c")) else "-r"
                if included is not None and self.refused(included):
                    self.problem(
                        path, line.line, f"`{option} {excerpt(target)}`: {NOT_INSIDE}; not read"
                    )
                    continue
                if included is None or not self.exists(included):
                    self.problem(
                        path,
                        line.line,
                        f"`{option} {excerpt(target)}` includes a file that does not exist",
                    )
                    continue
                if depth >= MAX_INCLUDE_DEPTH:
                    self.problem(path, line.line, f"includes nested deeper than {depth}")
                    continue
                parsed.includes.append((kind, included, line.line))
                if kind == "-c":
                    self.constraints.add(included)
                self.load_requirements(included, depth + 1)
            elif option in {"-e", "--editable"}:
                target = (line.option_value or "").strip()
                if target == "." or target.startswith((".[", "./[")) or target in {"./", ".."}:
                    parsed.installs_project = True
            elif line.error and path not in self.discovered:
                # Lines of files only reached through an include: DEP003 does not see them.
                self.problem(path, line.line, requirement_error(line.error))
        self.requirements[path] = parsed

    def emit_requirements(self) -> None:
        included_by: dict[str, list[str]] = {}
        for parsed in self.requirements.values():
            if parsed is None:
                continue
            for kind, target, _ in parsed.includes:
                if kind == "-r":
                    included_by.setdefault(target, []).append(parsed.path)
        groups: dict[str, str] = {}

        def group_of(path: str, seen: frozenset[str] = frozenset()) -> str:
            if path in groups:
                return groups[path]
            parsed = self.requirements.get(path)
            named = _group_from_path(path)
            if named is None and parsed is not None and parsed.installs_project:
                named = "dev"
            if named is None and path not in self.discovered:
                # ``common.txt`` included only from ``requirements-dev.txt`` is development
                # too; a requirements file found on its own keeps its own (runtime) meaning.
                parents = [p for p in included_by.get(path, []) if p not in seen]
                parent_groups = {group_of(p, seen | {path}) for p in parents}
                named = (
                    parent_groups.pop()
                    if len(parent_groups) == 1 and "runtime" not in parent_groups
                    else "runtime"
                )
            groups[path] = named or "runtime"
            return groups[path]

        for path, parsed in sorted(self.requirements.items()):
            if parsed is None:
                continue
            self.project_dirs.add(project_dir(path))
            self.add_file(path)
            if path in self.constraints or _is_constraints_name(path):
                for line in parsed.lines:
                    if line.name and _pinned(line.specifier):
                        self.lock(line.name, _pinned(line.specifier) or "", path, line.line)
                continue
            group = group_of(path)
            requirements = [line for line in parsed.lines if line.name or line.url]
            for line in requirements:
                declaration = _requirement_declaration(line, path, group)
                if declaration is not None:
                    self.declare(declaration)
            named = [line for line in parsed.lines if line.name]
            if named and all(_pinned(line.specifier) for line in named):
                for line in named:
                    assert line.name is not None
                    self.lock(line.name, _pinned(line.specifier) or "", path, line.line)


# -- requirements helpers ------------------------------------------------------------------------


def _requirement_declaration(line: RequirementLine, path: str, group: str) -> Declaration | None:
    editable = line.option in {"-e", "--editable"}
    if line.name:
        return Declaration(
            name=canonicalize_name(line.name),
            raw=line.text.split(" --hash")[0].strip(),
            specifier=line.specifier,
            path=path,
            line=line.line,
            group=group,
            marker=line.marker,
            extras=line.extras,
            url=line.url,
            editable=editable,
            hashed=bool(line.hashes),
        )
    if line.url:
        name = _name_from_url(line.url)
        if name is None:
            return None
        return Declaration(
            name=canonicalize_name(name),
            raw=line.url,
            specifier="",
            path=path,
            line=line.line,
            group=group,
            url=line.url,
            editable=editable,
            hashed=bool(line.hashes),
        )
    return None


def _requirement_text(name: str, extras: tuple[str, ...], specifier: str) -> str:
    """``name[extra,...]specifier``, as a requirement line would say it."""
    return f"{name}{'[' + ','.join(extras) + ']' if extras else ''}{specifier}"


def _name_from_url(url: str) -> str | None:
    egg = _EGG.search(url)
    if egg:
        return egg.group(1).split("[")[0]
    archive = _ARCHIVE.search(url.split("#", 1)[0])
    if archive:
        return archive.group(1)
    return None


def _from_requirement(
    requirement: Requirement, raw: str, path: str, line: int, group: str
) -> Declaration:
    return Declaration(
        name=canonicalize_name(requirement.name),
        raw=raw.strip(),
        specifier=str(requirement.specifier),
        path=path,
        line=line,
        group=group,
        marker=str(requirement.marker) if requirement.marker else None,
        extras=tuple(sorted(requirement.extras)),
        url=requirement.url,
    )


def _pinned(specifier: str) -> str | None:
    spec = specifier.strip()
    for operator in ("===", "=="):
        if spec.startswith(operator) and "," not in spec and "*" not in spec:
            return spec[len(operator) :].strip()
    return None


def _words(text: str) -> set[str]:
    return {word for word in re.split(r"[^a-z0-9]+", text.lower()) if word}


def _group_from_path(path: str) -> str | None:
    """The environment a requirements file describes, from its name and directories."""
    parts = PurePosixPath(path.lower()).parts
    words = _words(PurePosixPath(parts[-1]).stem)
    words.discard("requirements")
    directories: set[str] = set()
    for part in parts[:-1]:
        directories |= _words(part)
    for candidate in (words, directories - _REQUIREMENTS_DIRS):
        if candidate & _TEST_WORDS:
            return "test"
        if candidate & _DOCS_WORDS:
            return "docs"
        if candidate & _DEV_WORDS:
            return "dev"
        if candidate & _BUILD_WORDS:
            return "build"
        if candidate & _RUNTIME_WORDS:
            return "runtime"
    return None


def _group_name(name: Any, default: str | None = None) -> str:
    words = _words(str(name))
    if words & _TEST_WORDS:
        return "test"
    if words & _DOCS_WORDS:
        return "docs"
    if words & _DEV_WORDS:
        return "dev"
    return default if default is not None else str(name)


def _is_constraints_name(path: str) -> bool:
    name = PurePosixPath(path.lower()).name
    return name.startswith("constraint") or "constraints" in _words(name)


def project_dir(path: str) -> str:
    """The project a manifest belongs to: its directory, or the parent of ``requirements/``,
    ``docs/``, ``tests/``..."""
    parts = list(PurePosixPath(path).parts[:-1])
    while parts and parts[-1].lower() in _NON_PROJECT_DIRS:
        parts.pop()
    return "/".join(parts)
