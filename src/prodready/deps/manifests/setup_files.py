"""setup.cfg (options and extras) and setup.py (static literals only)."""

from __future__ import annotations

import ast
import configparser

from packaging.requirements import InvalidRequirement, Requirement

from prodready.deps.files import NOT_INSIDE, excerpt
from prodready.deps.manifests.requirements import _from_requirement, _RequirementsReader
from prodready.deps.manifests.text import (
    _dir,
    _ini_get,
    _IniText,
    _join,
    _normalise,
    _split_cfg_list,
)


class _SetupReader(_RequirementsReader):
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
