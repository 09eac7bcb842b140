"""Where an entry sits in a manifest's text (TOML parsers keep no positions, so a TOML entry's
line is found by searching its text inside its table's region), manifest paths, and the words
that name dependency groups and directories."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from prodready.engine.project_results import consulted_directory

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
    consulted_directory(base)
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
                consulted_directory(entry)  # its __init__.py, or its modules, may come and go
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
