"""pyproject.toml: PEP 621 metadata, dependency groups, Poetry and PDM, and Poetry's
version constraints."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name

from prodready.deps.files import NOT_INSIDE, excerpt
from prodready.deps.manifests.requirements import _from_requirement, _group_name, _requirement_text
from prodready.deps.manifests.setup_files import _SetupReader
from prodready.deps.manifests.text import _dir, _join, _normalise, _TomlText
from prodready.deps.model import Declaration


class _PyprojectReader(_SetupReader):
    # -- pyproject.toml ----------------------------------------------------------------------
    def read_pyproject(self, path: str) -> None:
        text = self.text(path)
        if text is None:
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return  # a scan error of pyproject.toml already (the file rules parse it)
        toml = _TomlText(text)
        directory = _dir(path)
        project = data.get("project")
        declares = False
        if isinstance(project, dict):
            declares = True
            self.project_dirs.add(directory)
            name = project.get("name")
            if isinstance(name, str):
                self.project_names.add(name)
            requires = project.get("requires-python")
            if isinstance(requires, str):
                self.requires_python(requires, path, toml.key_line("project", "requires-python"), 0)
            dynamic = project.get("dynamic")
            if isinstance(dynamic, list) and "dependencies" in dynamic:
                self.dynamic_dependencies(data, path, directory, toml)
            self.pep508_list(project.get("dependencies"), path, toml, "project", "dependencies")
            optional = project.get("optional-dependencies")
            if isinstance(optional, dict):
                for extra, entries in optional.items():
                    self.pep508_list(
                        entries,
                        path,
                        toml,
                        "project.optional-dependencies",
                        str(extra),
                        group=f"optional:{extra}",
                        in_project=("project", "optional-dependencies"),
                    )
        groups = data.get("dependency-groups")
        if isinstance(groups, dict):
            declares = True
            for group, entries in groups.items():
                if isinstance(entries, list):
                    entries = [e for e in entries if not isinstance(e, dict)]  # include-group
                self.pep508_list(
                    entries, path, toml, "dependency-groups", str(group), group=_group_name(group)
                )
        build = data.get("build-system")
        if isinstance(build, dict):
            self.pep508_list(
                build.get("requires"), path, toml, "build-system", "requires", group="build"
            )
        tool = data.get("tool")
        if isinstance(tool, dict):
            poetry = tool.get("poetry")
            if isinstance(poetry, dict):
                declares = self.read_poetry(poetry, path, toml) or declares
            pdm = tool.get("pdm")
            if isinstance(pdm, dict):
                dev = pdm.get("dev-dependencies")
                if isinstance(dev, dict):
                    declares = True
                    for group, entries in dev.items():
                        self.pep508_list(
                            entries,
                            path,
                            toml,
                            "tool.pdm.dev-dependencies",
                            str(group),
                            group=_group_name(group, default="dev"),
                            checked=False,
                        )
            self.package_hints(tool, directory)
        if declares:
            self.project_dirs.add(directory)
            self.add_file(path)

    def dynamic_dependencies(
        self, data: dict[str, Any], path: str, directory: str, toml: _TomlText
    ) -> None:
        """``dynamic = ["dependencies"]``: from ``[tool.setuptools.dynamic]`` files, else from
        setup.py (read in ``finish``); if neither can be read, declarations are incomplete."""
        setuptools = data.get("tool", {}).get("setuptools", {})
        dynamic = setuptools.get("dynamic", {}) if isinstance(setuptools, dict) else {}
        spec = dynamic.get("dependencies") if isinstance(dynamic, dict) else None
        files = spec.get("file") if isinstance(spec, dict) else None
        if isinstance(files, str):
            files = [files]
        if isinstance(files, list) and files:
            for name in files:
                if isinstance(name, str):
                    target = _normalise(_join(directory, name))
                    if target is not None and self.refused(target):
                        line = toml.key_line("tool.setuptools.dynamic", "dependencies")
                        self.problem(path, line, f"`{excerpt(name)}`: {NOT_INSIDE}; not read")
                    elif target is not None and self.exists(target):
                        self.load_requirements(target, 1)
            return
        setup = _join(directory, "setup.py")
        if self.exists(setup):
            self.setup_dirs.add(directory)
            if self.read_setup_py(setup):
                return
        self.result.complete = False

    def pep508_list(
        self,
        entries: Any,
        path: str,
        toml: _TomlText,
        table: str,
        key: str,
        *,
        group: str = "runtime",
        in_project: tuple[str, str] | None = None,
        checked: bool = True,
    ) -> None:
        """A list of PEP 508 strings. ``checked``: DEP005 reports invalid entries already."""
        if not isinstance(entries, list):
            if entries is not None and not checked:
                self.problem(path, toml.key_line(table, key), f"{table}.{key} is not a list")
            return
        start = toml.key_line(table, key)
        if start == toml.header_line(table) and in_project is not None:
            start = toml.key_line(*in_project)
        for entry in entries:
            if not isinstance(entry, str):
                if not checked:
                    self.problem(path, start, f"{table}.{key} holds {entry!r}, not a string")
                continue
            line = toml.entry_line(table, start, entry)
            try:
                requirement = Requirement(entry)
            except InvalidRequirement as exc:
                if not checked:
                    message = str(exc).splitlines()[0]
                    self.problem(
                        path,
                        line,
                        f"`{excerpt(entry)}` is not a valid requirement ({excerpt(message, 80)})",
                    )
                continue
            self.declare(_from_requirement(requirement, entry, path, line, group))

    def read_poetry(self, poetry: dict[str, Any], path: str, toml: _TomlText) -> bool:
        declares = False
        name = poetry.get("name")
        if isinstance(name, str):
            self.project_names.add(name)
        packages = poetry.get("packages")
        if isinstance(packages, list):
            for item in packages:
                if isinstance(item, dict) and isinstance(item.get("include"), str):
                    self.project_names.add(item["include"].split("/")[0])
        extras_of: dict[str, list[str]] = {}
        extras = poetry.get("extras")
        if isinstance(extras, dict):
            for extra, members in extras.items():
                if isinstance(members, list):
                    for member in members:
                        if isinstance(member, str):
                            extras_of.setdefault(canonicalize_name(member), []).append(str(extra))
        tables: list[tuple[str, Any, str]] = [
            ("tool.poetry.dependencies", poetry.get("dependencies"), "runtime"),
            ("tool.poetry.dev-dependencies", poetry.get("dev-dependencies"), "dev"),
        ]
        groups = poetry.get("group")
        if isinstance(groups, dict):
            for group, body in groups.items():
                if isinstance(body, dict):
                    tables.append(
                        (
                            f"tool.poetry.group.{group}.dependencies",
                            body.get("dependencies"),
                            _group_name(group, default=str(group)),
                        )
                    )
        for table, body, group in tables:
            if body is None:
                continue
            declares = True
            if not isinstance(body, dict):
                self.problem(path, toml.header_line(table), f"[{table}] is not a table")
                continue
            for key, value in body.items():
                line = toml.poetry_line(table, str(key))
                if str(key).lower() == "python":
                    if group == "runtime" and isinstance(value, str):
                        spec = _poetry_specifier(value)
                        if spec is None:
                            self.problem(path, line, f"python = {value!r} is not a constraint")
                        else:
                            self.requires_python(spec, path, line, 1)
                    continue
                entry_group = group
                if group == "runtime":
                    optional = _poetry_optional(value)
                    if optional:
                        extra = extras_of.get(canonicalize_name(str(key)), ["poetry"])[0]
                        entry_group = f"optional:{extra}"
                self.poetry_entry(str(key), value, path, line, entry_group)
        return declares

    def valid_name(self, name: str, path: str, line: int) -> str | None:
        """The canonical form of a distribution name, or None after recording a problem."""
        try:
            return canonicalize_name(name, validate=True)
        except InvalidName:
            self.problem(path, line, f"`{name}` is not a valid distribution name")
            return None

    def poetry_entry(self, name: str, value: Any, path: str, line: int, group: str) -> None:
        canonical = self.valid_name(name, path, line)
        if canonical is None:
            return
        constraints = value if isinstance(value, list) else [value]
        for constraint in constraints:
            version: Any = constraint
            extras: tuple[str, ...] = ()
            marker: str | None = None
            url: str | None = None
            if isinstance(constraint, dict):
                version = constraint.get("version", "")
                raw_extras = constraint.get("extras")
                if isinstance(raw_extras, list):
                    extras = tuple(sorted(str(e) for e in raw_extras))
                markers = constraint.get("markers")
                python = constraint.get("python")
                if isinstance(markers, str):
                    marker = markers
                elif isinstance(python, str):
                    marker = f"python_version {python}"
                for source in ("git", "url", "path", "file"):
                    if isinstance(constraint.get(source), str):
                        url = constraint[source]
                        version = constraint.get("version", "")
                        break
            elif not isinstance(constraint, str):
                self.problem(path, line, f"`{name}` has an unreadable constraint {constraint!r}")
                continue
            specifier = _poetry_specifier(str(version)) if version is not None else ""
            if specifier is None:
                self.problem(
                    path,
                    line,
                    f"`{name} = {version!r}` is not a version constraint Poetry accepts",
                )
                continue
            raw = _requirement_text(name, extras, specifier)
            self.declare(
                Declaration(
                    name=canonical,
                    raw=raw if not url else f"{name} @ {url}",
                    specifier=specifier,
                    path=path,
                    line=line,
                    group=group,
                    marker=marker,
                    extras=extras,
                    url=url,
                    editable=isinstance(constraint, dict) and constraint.get("develop") is True,
                )
            )

    def package_hints(self, tool: dict[str, Any], directory: str) -> None:
        """Where the project keeps its packages (setuptools ``package-dir``/``where``, hatch)."""
        setuptools = tool.get("setuptools")
        if isinstance(setuptools, dict):
            package_dir = setuptools.get("package-dir")
            if isinstance(package_dir, dict) and isinstance(package_dir.get(""), str):
                self.package_dirs.add(_join(directory, package_dir[""]))
            packages = setuptools.get("packages")
            where = packages.get("find", {}).get("where") if isinstance(packages, dict) else None
            if isinstance(where, list):
                for item in where:
                    if isinstance(item, str):
                        self.package_dirs.add(_join(directory, item))
            elif isinstance(packages, list):
                for item in packages:
                    if isinstance(item, str):
                        self.project_names.add(item.split(".")[0])
        hatch = tool.get("hatch")
        if isinstance(hatch, dict):
            wheel = hatch.get("build", {}).get("targets", {}).get("wheel", {})
            packages = wheel.get("packages") if isinstance(wheel, dict) else None
            if isinstance(packages, list):
                for item in packages:
                    if isinstance(item, str):
                        self.project_names.add(PurePosixPath(item).name)


# -- Poetry constraints --------------------------------------------------------------------------

_POETRY_VERSION = re.compile(r"^\s*(\^|~(?!=)|)\s*([0-9][0-9A-Za-z.*+!-]*)\s*$")


def _poetry_specifier(value: str) -> str | None:
    """A Poetry constraint as a PEP 440 specifier: ``^1.2`` -> ``>=1.2,<2.0``, ``~1.2`` ->
    ``>=1.2,<1.3``, ``1.2.3`` -> ``==1.2.3``, ``*`` -> ``""``. None when it cannot be read
    (``||`` alternatives are kept only when every branch reads)."""
    value = value.strip()
    if value in {"", "*"}:
        return ""
    if "||" in value:
        branches = [_poetry_specifier(part) for part in value.split("||")]
        if any(branch is None for branch in branches):
            return None
        # PEP 440 has no "or": keep the loosest lower bound of the branches, unbounded above.
        return ""
    parts: list[str] = []
    for piece in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", value):
        piece = piece.strip()
        if not piece or piece == "*":
            continue
        translated = _poetry_single(piece)
        if translated is None:
            return None
        parts.extend(translated)
    specifier = ",".join(parts)
    try:
        SpecifierSet(specifier)
    except InvalidSpecifier:
        return None
    return specifier


def _poetry_single(piece: str) -> list[str] | None:
    if piece.startswith(("<", ">", "=", "!", "~=")):
        operator = re.match(r"^(~=|===|==|!=|<=|>=|<|>|=)", piece)
        if operator is None:
            return None
        op = operator.group(1)
        rest = piece[len(op) :].strip()
        return [("==" if op == "=" else op) + rest]
    match = _POETRY_VERSION.match(piece)
    if match is None:
        return None
    kind, version = match.groups()
    if "*" in version:
        return [f"=={version}"]
    numbers = version.split("+")[0]
    release = re.match(r"^(\d+(?:\.\d+)*)", numbers)
    if release is None:
        return None
    components = [int(part) for part in release.group(1).split(".")]
    if kind == "":
        return [f"=={version}"]
    if kind == "^":
        upper = _caret_upper(components)
    else:  # tilde: ~1.2.3 -> <1.3, ~1.2 -> <1.3, ~1 -> <2
        upper = [components[0] + 1] if len(components) == 1 else [components[0], components[1] + 1]
    return [f">={version}", "<" + ".".join(str(part) for part in upper)]


def _caret_upper(components: list[int]) -> list[int]:
    """^1.2.3 -> 2.0.0; ^0.2.3 -> 0.3.0; ^0.0.3 -> 0.0.4; ^0 -> 1; ^0.0 -> 0.1."""
    for index, part in enumerate(components):
        if part != 0 or index == len(components) - 1:
            if part == 0 and index == len(components) - 1 and len(components) > 1:
                # ^0.0 -> <0.1 ; ^0.0.0 -> <0.0.1
                upper = [*components[:index], 1]
                return upper
            return [*components[:index], part + 1]
    return [1]


def _poetry_optional(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("optional") is True
    if isinstance(value, list):
        return any(isinstance(item, dict) and item.get("optional") is True for item in value)
    return False
