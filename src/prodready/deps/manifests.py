"""Reading what a project declares: requirements files (with -r/-c includes), pyproject.toml
(PEP 621, dependency groups, Poetry, PDM), setup.cfg, setup.py (static literals only), Pipfile,
and the resolved versions of uv.lock, poetry.lock, Pipfile.lock, pdm.lock and pip-compile output.

Every entry keeps the line it is written on. TOML parsers keep no positions, so a TOML entry's
line is found by searching its text inside its table's region of the file.

``DependencyManifests.problems`` holds what cannot be read *and is not reported elsewhere*:
lines of discovered requirements files are checked by DEP003, PEP 621 lists and dependency
groups by DEP005, and a pyproject.toml that is not TOML is a scan error: none is repeated here.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name

from prodready.deps.files import (
    NOT_INSIDE,
    TooLarge,
    UnsafeFile,
    excerpt,
    exists_inside,
    inside,
    read_inside,
    requirement_error,
)
from prodready.deps.model import Declaration, DependencyManifests, Locked, ManifestProblem
from prodready.engine.documents import RequirementLine, parse_requirements

MAX_BYTES = 5_000_000
MAX_INCLUDE_DEPTH = 20

_TEST_WORDS = frozenset({"test", "tests", "testing", "pytest", "tox", "nox", "e2e"})
_DOCS_WORDS = frozenset({"doc", "docs", "documentation", "sphinx", "mkdocs"})
_BUILD_WORDS = frozenset({"build", "setup", "wheel", "packaging"})
_DEV_WORDS = frozenset(
    {"dev", "develop", "development", "lint", "linting", "typing", "types", "mypy", "ci"}
    | {"local", "tools", "tooling", "bench", "benchmark", "benchmarks", "github", "actions"}
    | {"style", "format", "precommit", "release", "min", "minimum", "lowest", "oldest"}
    | {"check", "checks", "qa", "debug", "profiling", "insiders", "notebook", "notebooks"}
)
_RUNTIME_WORDS = frozenset({"prod", "production", "base", "common", "main", "runtime", "core"})
# Directories whose requirements files belong to the project one level up.
_REQUIREMENTS_DIRS = frozenset({"requirements", "reqs", "requirement", "deps", "dependencies"})
_NON_PROJECT_DIRS = _REQUIREMENTS_DIRS | _DOCS_WORDS | {"test", "tests", "ci", ".github"}

# Names a scan root usually holds that are not importable project code.
_NOT_PACKAGES = frozenset(
    {"test", "tests", "docs", "doc", "examples", "example", "scripts", "tools", "build", "dist"}
    | {"benchmarks", "site", "node_modules", "venv", "env"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEADER = re.compile(r"^\s*\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_ARCHIVE = re.compile(r"/([A-Za-z0-9][A-Za-z0-9._]*?)-\d[^/]*?(\.whl|\.tar\.gz|\.zip|\.tgz)$")


def read_manifests(root: Path, paths: list[str]) -> DependencyManifests:
    """Read the manifests at ``paths`` (relative to ``root``, as discovery found them).

    A file or line that cannot be read becomes a ``ManifestProblem`` with its line; this
    function never raises for bad input. ``DependencyManifests.files`` lists the files that declare
    dependencies or resolve them (a pyproject.toml with only tool settings is not one).
    """
    reader = _Reader(root, set(paths))
    for path in sorted(paths):
        try:
            reader.read(path)
        except Exception as exc:  # noqa: BLE001 - a manifest must never stop the scan
            reader.problem(path, 1, f"cannot read {path}: {exc!r}")
    try:
        reader.finish()
    except Exception as exc:  # noqa: BLE001
        reader.problem(".", 1, f"cannot read the project's manifests: {exc!r}")
    return reader.result


# -- the reader ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _RequirementsFile:
    path: str
    lines: list[RequirementLine]
    includes: list[tuple[str, str, int]] = field(default_factory=list)  # (option, target, line)
    installs_project: bool = False  # ``-e .``: a development environment


@dataclass(slots=True)
class _PythonVersion:
    specifier: str
    path: str
    line: int
    rank: tuple[int, int]  # (directory depth, source preference): lower wins


class _Reader:
    def __init__(self, root: Path, discovered: set[str]) -> None:
        self.root = root
        self.discovered = discovered
        self.result = DependencyManifests()
        self.requirements: dict[str, _RequirementsFile | None] = {}
        self.constraints: set[str] = set()
        self.python: _PythonVersion | None = None
        self.project_names: set[str] = set()
        self.package_dirs: set[str] = set()  # directories (relative) holding project packages
        self.project_dirs: set[str] = set()  # directories holding a project manifest
        self.setup_dirs: set[str] = set()

    # -- helpers -------------------------------------------------------------------------------
    def problem(self, path: str, line: int, message: str) -> None:
        self.result.problems.append(ManifestProblem(path, max(line, 1), message))

    def text(self, path: str) -> str | None:
        """The file's text; None when it is missing, too large or not a regular file inside
        the scan root. Callers check references first (``exists``) and report a refused one
        where it is named: a problem *at* such a path would have its lines quoted."""
        try:
            data = read_inside(self.root, path, MAX_BYTES)
        except TooLarge:
            self.problem(path, 1, f"{path} is larger than {MAX_BYTES} bytes: not read")
            return None
        except (OSError, UnsafeFile):
            return None
        return data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        return exists_inside(self.root, path)

    def refused(self, path: str) -> bool:
        """Something is at ``path`` (a symlink out of the project, a device, a FIFO) but it is
        not a regular file inside the scan root."""
        try:
            inside(self.root, path)
        except UnsafeFile:
            return True
        except OSError:
            return False  # nothing there (a dangling symlink too): "does not exist"
        return False

    def add_file(self, path: str) -> None:
        if path not in self.result.files:
            self.result.files.append(path)

    def declare(self, declaration: Declaration) -> None:
        self.result.declarations.append(declaration)
        self.add_file(declaration.path)

    def lock(self, name: str, version: str, path: str, line: int) -> None:
        self.result.locked.append(Locked(canonicalize_name(name), version, path, max(line, 1)))
        self.add_file(path)

    def requires_python(self, specifier: str, path: str, line: int, preference: int) -> None:
        specifier = specifier.strip()
        if not specifier:
            return
        rank = (len(PurePosixPath(path).parts), preference)
        if self.python is None or rank < self.python.rank:
            self.python = _PythonVersion(specifier, path, max(line, 1), rank)

    def read(self, path: str) -> None:
        name = PurePosixPath(path).name.lower()
        if name == "pyproject.toml":
            self.read_pyproject(path)
        elif name == "setup.cfg":
            self.read_setup_cfg(path)
        elif name == "pipfile":
            self.read_pipfile(path)
        elif name == "pipfile.lock":
            self.read_pipfile_lock(path)
        elif name in {"uv.lock", "poetry.lock", "pdm.lock"}:
            self.read_toml_lock(path)
        else:
            self.load_requirements(path, 0)

    def finish(self) -> None:
        self.emit_requirements()
        directories = self.project_dirs | {project_dir(path) for path in self.discovered} | {""}
        for directory in sorted(directories):
            setup = _join(directory, "setup.py")
            if directory not in self.setup_dirs and self.exists(setup):
                self.setup_dirs.add(directory)
                self.read_setup_py(setup)
        if self.python is not None:
            self.result.requires_python = (
                self.python.specifier,
                self.python.path,
                self.python.line,
            )
        self.result.first_party = self.first_party()
        self.result.files.sort()

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

    # -- setup.cfg -----------------------------------------------------------------------------
    def read_setup_cfg(self, path: str) -> None:
        text = self.text(path)
        if text is None:
            return
        parser = configparser.ConfigParser(strict=False)
        try:
            parser.read_string(text, source=path)
        except configparser.Error as exc:
            # configparser's messages quote the offending lines: name the error only.
            line = getattr(exc, "lineno", 1) or 1
            self.problem(path, line, f"setup.cfg is not valid: {type(exc).__name__}")
            return
        ini = _IniText(text)
        directory = _dir(path)
        if parser.has_section("metadata"):
            name = parser.get("metadata", "name", raw=True, fallback=None)
            if name:
                self.project_names.add(name.strip())
        if not parser.has_section("options"):
            return
        self.project_dirs.add(directory)
        self.add_file(path)
        options = "options"
        package_dir = _ini_get(parser, options, "package_dir")
        if package_dir:
            for item in package_dir.splitlines():
                key, _, target = item.partition("=")
                if not key.strip() and target.strip():
                    self.package_dirs.add(_join(directory, target.strip()))
        requires = _ini_get(parser, options, "python_requires")
        if requires:
            self.requires_python(requires, path, ini.key_line(options, "python_requires"), 2)
        for key, group in (
            ("install_requires", "runtime"),
            ("tests_require", "test"),
            ("setup_requires", "build"),
        ):
            value = _ini_get(parser, options, key)
            if value is not None:
                self.cfg_list(value, path, ini, options, key, group, directory)
        extras = "options.extras_require"
        if parser.has_section(extras):
            for key in parser.options(extras):
                value = _ini_get(parser, extras, key)
                if value is not None:
                    self.cfg_list(value, path, ini, extras, key, f"optional:{key}", directory)

    def cfg_list(
        self,
        value: str,
        path: str,
        ini: _IniText,
        section: str,
        key: str,
        group: str,
        directory: str,
    ) -> None:
        start = ini.key_line(section, key)
        stripped = value.strip()
        if stripped.startswith("file:"):
            for name in stripped[5:].split(","):
                target = _normalise(_join(directory, name.strip()))
                if target is not None and self.refused(target):
                    shown = excerpt(name.strip())
                    self.problem(path, start, f"`{key} = file: {shown}`: {NOT_INSIDE}; not read")
                elif target is not None and self.exists(target):
                    self.load_requirements(target, 1)
                else:
                    self.problem(path, start, f"`{key} = {excerpt(stripped)}`: file not found")
            return
        for entry in _split_cfg_list(value):
            line = ini.entry_line(section, start, entry)
            try:
                requirement = Requirement(entry)
            except InvalidRequirement as exc:
                message = str(exc).splitlines()[0]
                self.problem(
                    path,
                    line,
                    f"`{excerpt(entry)}` in [{section}] {key} is not a valid requirement "
                    f"({excerpt(message, 80)})",
                )
                continue
            self.declare(_from_requirement(requirement, entry, path, line, group))

    # -- setup.py (literals only) ----------------------------------------------------------------
    def read_setup_py(self, path: str) -> bool:
        """Declarations of a ``setup(...)`` call whose arguments are literals (or names bound to
        literals at module level). False when ``install_requires`` is computed."""
        text = self.text(path)
        if text is None:
            return False
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return False  # a Python file: the scan reports syntax errors
        assignments: dict[str, ast.expr] = {}
        call: ast.Call | None = None
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    assignments.setdefault(target.id, node.value)
            elif isinstance(node, ast.Call) and call is None:
                function = node.func
                name = function.attr if isinstance(function, ast.Attribute) else None
                if isinstance(function, ast.Name):
                    name = function.id
                if name == "setup":
                    call = node
        if call is None:
            return True
        directory = _dir(path)
        self.project_dirs.add(directory)
        complete = True
        for keyword in call.keywords:
            value = keyword.value
            if isinstance(value, ast.Name) and value.id in assignments:
                value = assignments[value.id]
            if keyword.arg == "name" and isinstance(value, ast.Constant):
                self.project_names.add(str(value.value))
            elif keyword.arg == "python_requires" and isinstance(value, ast.Constant):
                self.requires_python(str(value.value), path, value.lineno, 3)
            elif keyword.arg in {"install_requires", "tests_require", "setup_requires"}:
                group = {"install_requires": "runtime", "tests_require": "test"}.get(
                    keyword.arg, "build"
                )
                if not self.setup_list(value, path, group) and keyword.arg == "install_requires":
                    complete = False
            elif keyword.arg == "extras_require":
                if isinstance(value, ast.Dict):
                    for key, item in zip(value.keys, value.values, strict=True):
                        if isinstance(key, ast.Constant) and isinstance(key.value, str):
                            if isinstance(item, ast.Name) and item.id in assignments:
                                item = assignments[item.id]
                            self.setup_list(item, path, f"optional:{key.value}")
            elif keyword.arg is None:
                complete = False  # setup(**kwargs): unknown
        if not complete:
            self.result.complete = False
        self.add_file(path)
        return complete

    def setup_list(self, value: ast.expr, path: str, group: str) -> bool:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            elements: list[ast.expr] = [value]
        elif isinstance(value, ast.List | ast.Tuple):
            elements = list(value.elts)
        else:
            return False
        for element in elements:
            if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
                return False
            for entry in _split_cfg_list(element.value):
                try:
                    requirement = Requirement(entry)
                except InvalidRequirement as exc:
                    message = str(exc).splitlines()[0]
                    self.problem(
                        path,
                        element.lineno,
                        f"`{excerpt(entry)}` is not valid ({excerpt(message, 80)})",
                    )
                    continue
                self.declare(_from_requirement(requirement, entry, path, element.lineno, group))
        return True

    # -- Pipfile -------------------------------------------------------------------------------
    def read_pipfile(self, path: str) -> None:
        text = self.text(path)
        if text is None:
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.problem(path, _error_line(str(exc)), f"Pipfile is not valid TOML: {exc}")
            return
        toml = _TomlText(text)
        self.project_dirs.add(_dir(path))
        self.add_file(path)
        requires = data.get("requires")
        if isinstance(requires, dict):
            for key, preference in (("python_full_version", 4), ("python_version", 5)):
                version = requires.get(key)
                if isinstance(version, str) and version.strip():
                    spec = f"=={version.strip()}" + (".*" if key == "python_version" else "")
                    self.requires_python(spec, path, toml.key_line("requires", key), preference)
                    break
        for table, body in data.items():
            if table in {"source", "requires", "scripts", "pipenv"} or not isinstance(body, dict):
                continue
            group = {"packages": "runtime", "dev-packages": "dev"}.get(
                table, _group_name(table, default=table)
            )
            for name, value in body.items():
                line = toml.poetry_line(table, str(name))
                self.pipfile_entry(str(name), value, path, line, group)

    def pipfile_entry(self, name: str, value: Any, path: str, line: int, group: str) -> None:
        canonical = self.valid_name(name, path, line)
        if canonical is None:
            return
        version: Any = value
        extras: tuple[str, ...] = ()
        marker: str | None = None
        url: str | None = None
        editable = False
        if isinstance(value, dict):
            version = value.get("version", "*")
            if isinstance(value.get("extras"), list):
                extras = tuple(sorted(str(e) for e in value["extras"]))
            if isinstance(value.get("markers"), str):
                marker = value["markers"]
            for source in ("git", "file", "path"):
                if isinstance(value.get(source), str):
                    url = value[source]
            editable = value.get("editable") is True
        if not isinstance(version, str):
            self.problem(path, line, f"`{name}` has an unreadable version {version!r}")
            return
        specifier = "" if version.strip() in {"", "*"} else version.strip()
        try:
            SpecifierSet(specifier)
        except InvalidSpecifier:
            self.problem(
                path,
                line,
                f'`{name} = "{version}"` is not a version specifier pipenv accepts',
            )
            return
        self.declare(
            Declaration(
                name=canonical,
                raw=_requirement_text(name, extras, specifier),
                specifier=specifier,
                path=path,
                line=line,
                group=group,
                marker=marker,
                extras=extras,
                url=url,
                editable=editable,
            )
        )

    # -- lock files -----------------------------------------------------------------------------
    def read_pipfile_lock(self, path: str) -> None:
        text = self.text(path)
        if text is None:
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem(path, exc.lineno, f"Pipfile.lock is not valid JSON: {exc.msg}")
            return
        if not isinstance(data, dict):
            self.problem(path, 1, "Pipfile.lock is not a JSON object")
            return
        self.add_file(path)
        self.project_dirs.add(_dir(path))
        lines = text.splitlines()
        for section in ("default", "develop"):
            body = data.get(section)
            if not isinstance(body, dict):
                continue
            start = _find_line(lines, f'"{section}"', 0)
            for name, entry in body.items():
                if not isinstance(entry, dict):
                    continue
                version = entry.get("version")
                if isinstance(version, str) and version.startswith("=="):
                    line = _find_line(lines, f'"{name}"', start) or start
                    self.lock(name, version[2:].strip(), path, line)

    def read_toml_lock(self, path: str) -> None:
        text = self.text(path)
        if text is None:
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.problem(
                path,
                _error_line(str(exc)),
                f"{PurePosixPath(path).name} is not valid TOML ({exc})",
            )
            return
        self.add_file(path)
        self.project_dirs.add(_dir(path))
        packages = data.get("package")
        if not isinstance(packages, list):
            return
        lines = text.splitlines()
        headers = [i for i, line in enumerate(lines) if line.strip() == "[[package]]"]
        for index, package in enumerate(packages):
            if not isinstance(package, dict):
                continue
            name, version = package.get("name"), package.get("version")
            if not isinstance(name, str) or not isinstance(version, str):
                continue
            source = package.get("source")
            if isinstance(source, dict) and ("editable" in source or "virtual" in source):
                continue  # uv.lock: the project itself
            start = headers[index] if index < len(headers) else 0
            line = _find_line(lines, f'name = "{name}"', start, start + 40) or start + 1
            self.lock(name, version, path, line)

    # -- first-party names ----------------------------------------------------------------------
    def first_party(self) -> set[str]:
        names: set[str] = set()
        for name in self.project_names:
            normalised = re.sub(r"[-.]+", "_", name.strip())
            if _IDENTIFIER.match(normalised):
                names.add(normalised)
                names.add(normalised.lower())
        directories = {""} | self.project_dirs | self.package_dirs
        for directory in list(directories):
            for extra in ("src", "lib"):
                candidate = _join(directory, extra)
                if (self.root / candidate).is_dir():
                    directories.add(candidate)
        for directory in sorted(directories):
            base = self.root / directory if directory else self.root
            names.update(_importable_names(base, package_dir=directory in self.package_dirs))
        return names


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


# -- locating entries in text --------------------------------------------------------------------


def _normalise_key(key: str) -> str:
    """``tool."poetry" . dependencies`` -> ``tool.poetry.dependencies``."""
    parts: list[str] = []
    current = ""
    quote: str | None = None
    for char in key:
        if quote is not None:
            if char == quote:
                quote = None
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return ".".join(parts)


class _SectionedText:
    """Line positions in a file of ``[section]`` headers (TOML tables, INI sections): the
    region of each section, and the lines of keys and entries inside it. Subclasses say how a
    header and a key look."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.regions: dict[str, tuple[int, int]] = {}
        current: str | None = None
        start = 0
        for index, line in enumerate(self.lines):
            name = self.header(line)
            if name is not None:
                if current is not None:
                    self.regions.setdefault(current, (start, index))
                current = name
                start = index
        if current is not None:
            self.regions.setdefault(current, (start, len(self.lines)))

    def header(self, line: str) -> str | None:
        raise NotImplementedError

    def key_pattern(self, key: str) -> re.Pattern[str]:
        raise NotImplementedError

    def region(self, section: str) -> tuple[int, int] | None:
        return self.regions.get(section)

    def key_line(self, section: str, key: str) -> int:
        region = self.region(section)
        if region is None:
            return 1
        pattern = self.key_pattern(key)
        for index in range(region[0] + 1, region[1]):
            if pattern.match(self.lines[index]):
                return index + 1
        return region[0] + 1

    def entry_line(self, section: str, start: int, entry: str) -> int:
        region = self.region(section)
        end = region[1] if region else len(self.lines)
        found = _find_entry(self.lines, entry, start - 1, end)
        return found or start


class _TomlText(_SectionedText):
    """Line positions in a TOML file (tables by dotted header)."""

    def header(self, line: str) -> str | None:
        match = _HEADER.match(line)
        if match is None or line.lstrip().startswith("#"):
            return None
        return _normalise_key(match.group(1))

    def key_pattern(self, key: str) -> re.Pattern[str]:
        return re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=", re.IGNORECASE)

    def header_line(self, table: str) -> int:
        region = self.regions.get(table)
        return region[0] + 1 if region else 1

    def key_line(self, section: str, key: str) -> int:
        if section not in self.regions:
            parent, _, child = section.rpartition(".")
            if parent and parent in self.regions:
                # ``[project]`` with ``optional-dependencies.extra = [...]`` dotted keys
                return self.key_line(parent, f"{child}.{key}")
        return super().key_line(section, key)

    def poetry_line(self, table: str, key: str) -> int:
        """``key = ...`` in ``[table]``, or its own ``[table.key]`` header."""
        sub = self.regions.get(f"{table}.{key}")
        if sub is not None:
            return sub[0] + 1
        return self.key_line(table, key)


class _IniText(_SectionedText):
    """Line positions in an INI file (setup.cfg); section names are case-insensitive."""

    def header(self, line: str) -> str | None:
        match = re.match(r"^\[([^\]]+)\]\s*$", line.strip())
        return match.group(1).strip().lower() if match else None

    def key_pattern(self, key: str) -> re.Pattern[str]:
        return re.compile(r"^" + re.escape(key) + r"\s*[=:]", re.IGNORECASE)

    def region(self, section: str) -> tuple[int, int] | None:
        return self.regions.get(section.lower())


def _find_entry(lines: list[str], entry: str, start: int, end: int) -> int | None:
    """The line (1-based) of ``entry`` between lines ``start`` and ``end`` (0-based): the
    entry's text, else its requirement name as a word."""
    entry = entry.strip()
    for index in range(max(start, 0), min(end, len(lines))):
        if entry in lines[index]:
            return index + 1
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", entry)
    if match is None:
        return None
    word = re.compile(r"(^|[\s\"'])" + re.escape(match.group(1)) + r"($|[\s\"'\[<>=!~;@,])", re.I)
    for index in range(max(start, 0), min(end, len(lines))):
        if word.search(lines[index]):
            return index + 1
    return None


def _find_line(lines: list[str], needle: str, start: int, end: int | None = None) -> int:
    stop = len(lines) if end is None else min(end, len(lines))
    for index in range(max(start, 0), stop):
        if needle in lines[index]:
            return index + 1
    return 0


def _error_line(message: str) -> int:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else 1


def _split_cfg_list(value: str) -> Iterator[str]:
    """Entries of a setup.cfg list: one per line (or separated by ``;`` -- no: ``;`` starts
    a marker), comments dropped."""
    for raw in value.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        yield line


def _ini_get(parser: configparser.ConfigParser, section: str, key: str) -> str | None:
    if not parser.has_option(section, key):
        return None
    try:
        return parser.get(section, key)
    except (configparser.Error, ValueError):
        return parser.get(section, key, raw=True)


# -- paths ---------------------------------------------------------------------------------------


def _dir(path: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else parent


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _normalise(path: str) -> str | None:
    """``a/b/../c.txt`` -> ``a/c.txt``; None when it leaves the scan root."""
    parts: list[str] = []
    for part in PurePosixPath(path.replace("\\", "/")).parts:
        if part in {"", "."}:
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part == "/":
            return None
        else:
            parts.append(part)
    return "/".join(parts) if parts else None


def _importable_names(base: Path, *, package_dir: bool) -> set[str]:
    names: set[str] = set()
    try:
        entries = list(base.iterdir())
    except OSError:
        return names
    in_src = base.name in {"src", "lib"} or package_dir
    for entry in entries:
        name = entry.name
        if name.startswith((".", "_")) and name != "__init__.py":
            continue
        try:
            if entry.is_dir():
                if not _IDENTIFIER.match(name) or (name.lower() in _NOT_PACKAGES and not in_src):
                    continue
                if (entry / "__init__.py").is_file() or (
                    in_src and any(child.suffix == ".py" for child in entry.iterdir())
                ):
                    names.add(name)
            elif (
                name.endswith(".py")
                and _IDENTIFIER.match(name[:-3])
                and name not in {"setup.py", "conftest.py", "__init__.py"}
            ):
                names.add(name[:-3])
        except OSError:
            continue
    return names


LOCK_FILE_NAMES = frozenset({"uv.lock", "poetry.lock", "pipfile.lock", "pdm.lock"})
_GENERATED = re.compile(
    r"autogenerated by pip-compile|uv pip compile|pip-compile|^\s*#\s+via\b|poetry export"
    r"|generated by|pdm export|pipenv requirements",
    re.IGNORECASE | re.MULTILINE,
)


def is_lock_file(path: str) -> bool:
    return PurePosixPath(path).name.lower() in LOCK_FILE_NAMES


def is_generated(root: Path, path: str) -> bool:
    """A requirements file written by a resolver (pip-compile, uv, poetry export): it lists the
    transitive dependencies too, so "declared but not imported" says nothing there."""
    if not path.endswith(".txt"):
        return False
    try:
        head = read_inside(root, path, MAX_BYTES)[:20_000].decode("utf-8", errors="replace")
    except (OSError, UnsafeFile, TooLarge):
        return False
    return bool(_GENERATED.search(head))
