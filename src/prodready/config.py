"""Reading and validating ``[tool.prodready]`` (pyproject.toml) or ``prodready.toml``.

Every key is checked: an unknown key or a bad value raises :class:`ConfigError` naming the file
and the key, with a suggestion when the key looks like a typo of a known one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodready.model import (
    Confidence,
    Config,
    ConfigError,
    DepsSettings,
    Profile,
    Role,
    Severity,
    parse_enum,
)
from prodready.tables import read_toml

if TYPE_CHECKING:
    from prodready.engine.registry import Registry

CONFIG_FILES = ("prodready.toml", "pyproject.toml")

PROFILE_VALUES: dict[str, tuple[str, ...] | type[bool]] = {
    "runtime": ("kubernetes", "serverless", "vm", "paas"),
    "traffic": ("low", "medium", "high"),
    "handles-payments": bool,
    "data": ("none", "internal", "pii", "phi", "pci"),
    "exposure": ("public", "internal"),
    "project-type": ("application", "library"),
}


def find_config(start: Path) -> Path | None:
    """The nearest prodready.toml, or pyproject.toml with a [tool.prodready] table, upwards."""
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory, *directory.parents):
        own = candidate_dir / "prodready.toml"
        if own.is_file():
            return own
        pyproject = candidate_dir / "pyproject.toml"
        if pyproject.is_file() and _has_tool_section(pyproject):
            return pyproject
    return None


def _has_tool_section(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    # Cheap pre-check before parsing: most pyproject files have no section of ours.
    return "tool.prodready" in text


def load_config(path: Path | None) -> Config:
    """Read a configuration file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    table = read_table(path)
    return parse_config(table, source=str(path))


def read_table(path: Path) -> dict[str, Any]:
    """The raw prodready table of a configuration file (may be empty)."""
    data = read_toml(path, ConfigError)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("prodready", {}) if isinstance(tool, dict) else {}
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.prodready] must be a table")
    return table


def _key(source: str | None, key: str) -> str:
    """How a key is named in messages: with its file, and as it is spelled in that file."""
    if source is None:
        return f"tool.prodready.{key}"
    if source.endswith("pyproject.toml"):
        return f"{source}: tool.prodready.{key}"
    return f"{source}: {key}"


def _unknown(source: str | None, key: str, known: Mapping[str, object]) -> ConfigError:
    hint = difflib.get_close_matches(key, list(known), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    allowed = ", ".join(sorted(known))
    return ConfigError(f"unknown key {_key(source, key)}{suggestion}; known keys: {allowed}")


def _string_list(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where} must be a list of strings; got {value!r}")
    return tuple(item.strip() for item in value if item.strip())


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false; got {value!r}")
    return value


def _severity(value: object, where: str) -> Severity:
    try:
        return parse_enum(Severity, value, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _confidence(value: object, where: str) -> Confidence:
    try:
        return parse_enum(Confidence, value, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table; got {value!r}")
    return value


def _parse_profile(value: object, source: str | None) -> Profile:
    table = _table(value, _key(source, "profile"))
    settings: dict[str, Any] = {}
    errors: list[str] = []
    for key, raw in table.items():
        try:
            settings[key.replace("-", "_")] = _profile_value(key, raw, source)
        except ConfigError as exc:
            errors.append(str(exc))
    _raise_all(errors)
    return Profile(**settings)


def _profile_value(key: str, raw: object, source: str | None) -> object:
    where = _key(source, f"profile.{key}")
    allowed = PROFILE_VALUES.get(key)
    if allowed is None:
        raise _unknown(source, f"profile.{key}", {f"profile.{k}": 1 for k in PROFILE_VALUES})
    if allowed is bool:
        return _boolean(raw, where)
    assert isinstance(allowed, tuple)
    if not isinstance(raw, str) or raw.lower() not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}; got {raw!r}")
    return raw.lower()


def _raise_all(errors: list[str]) -> None:
    """Every mistake at once, one per line: fixing them one run at a time is tedious."""
    if errors:
        raise ConfigError("\n".join(errors))


def parse_config(table: Mapping[str, Any], source: str | None = None) -> Config:
    """Validate a raw ``[tool.prodready]`` table into a :class:`Config`."""
    config = Config(source=source)
    parsers: dict[str, Callable[[object], dict[str, Any]]] = {
        "select": lambda v: {"select": _string_list(v, _key(source, "select"))},
        "ignore": lambda v: {"ignore": _string_list(v, _key(source, "ignore"))},
        "exclude": lambda v: {"exclude": _string_list(v, _key(source, "exclude"))},
        "fail-on": lambda v: {"fail_on": _severity(v, _key(source, "fail-on"))},
        "min-confidence": lambda v: {
            "min_confidence": _confidence(v, _key(source, "min-confidence"))
        },
        "respect-gitignore": lambda v: {
            "respect_gitignore": _boolean(v, _key(source, "respect-gitignore"))
        },
        "per-path-ignores": lambda v: {"per_path_ignores": _per_path(v, source)},
        "roles": lambda v: {"roles": _roles(v, source)},
        "severity": lambda v: {"severity": _severity_overrides(v, source)},
        "profile": lambda v: {"profile": _parse_profile(v, source)},
        "deps": lambda v: {"deps": _parse_deps(v, source)},
        # Read and validated by `prodready probe` (prodready.probe.settings), not by scans.
        "probe": lambda v: _ignored(_table(v, _key(source, "probe"))),
        # Read and validated by `prodready gate` (prodready.gate.settings).
        "gate": lambda v: _ignored(_table(v, _key(source, "gate"))),
        "policy": lambda v: _ignored(_table(v, _key(source, "policy"))),
    }
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in table.items():
        parser = parsers.get(key)
        try:
            if parser is None:
                raise _unknown(source, key, parsers)
            changes.update(parser(value))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors), partial=replace(config, **changes))
    return replace(config, **changes)


def _ignored(_table: dict[str, Any]) -> dict[str, Any]:
    return {}


def _parse_deps(value: object, source: str | None) -> DepsSettings:
    table = _table(value, _key(source, "deps"))
    known = {"online", "index-url", "advisory-db", "cache-ttl-hours", "timeout"}
    settings: dict[str, Any] = {}
    errors: list[str] = []
    for key, raw in table.items():
        try:
            settings.update(_deps_value(key, raw, source, known))
        except ConfigError as exc:
            errors.append(str(exc))
    _raise_all(errors)
    return DepsSettings(**settings)


def _deps_value(key: str, raw: object, source: str | None, known: set[str]) -> dict[str, Any]:
    where = _key(source, f"deps.{key}")
    if key not in known:
        raise _unknown(source, f"deps.{key}", {f"deps.{k}": 1 for k in known})
    if key == "online":
        return {"online": _boolean(raw, where)}
    if key in {"index-url", "advisory-db"}:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"{where} must be a non-empty string; got {raw!r}")
        value = raw.strip()
        if key == "advisory-db" and source is not None:
            # A path in a configuration file is relative to that file, not to the cwd.
            value = str(Path(source).parent / Path(value).expanduser())
        if key == "index-url" and source is not None and _is_local_index(value):
            # A local directory index (pip accepts one) too; URLs stay as they are.
            value = str(Path(source).parent / Path(value).expanduser())
        from prodready.deps.settings import advisory_db_problem, index_url_problem

        check = index_url_problem if key == "index-url" else advisory_db_problem
        checked = raw.strip() if key == "index-url" and "://" in raw else value
        if (problem := check(checked)) is not None:
            raise ConfigError(f"{where} = {raw.strip()!r}: {problem}")
        return {key.replace("-", "_"): value}
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise ConfigError(f"{where} must be a positive number; got {raw!r}")
    return {"cache_ttl_hours" if key == "cache-ttl-hours" else "timeout_s": float(raw)}


def _is_local_index(value: str) -> bool:
    """An index given as a directory path rather than an http(s)/file URL."""
    return not re.match(r"^(?:https?|file):", value, re.IGNORECASE)


def _per_path(value: object, source: str | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    table = _table(value, _key(source, "per-path-ignores"))
    return tuple(
        (glob, _string_list(rules, _key(source, f"per-path-ignores.{glob!r}")))
        for glob, rules in table.items()
    )


def _roles(value: object, source: str | None) -> tuple[tuple[str, Role], ...]:
    """``"glob" = "role"``: the files matching a glob have that role, whatever detection says
    (the last matching glob wins). Every unknown role is reported, with a suggestion."""
    table = _table(value, _key(source, "roles"))
    roles: list[tuple[str, Role]] = []
    errors: list[str] = []
    allowed = [role.value for role in Role]
    for glob, raw in table.items():
        where = _key(source, f"roles.{glob!r}")
        if not glob.strip():
            errors.append(f"{where}: the glob is empty")
            continue
        if isinstance(raw, str) and raw.strip().lower() in allowed:
            roles.append((glob.strip(), Role(raw.strip().lower())))
            continue
        close = difflib.get_close_matches(str(raw).strip().lower(), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if isinstance(raw, str) and close else ""
        errors.append(f"{where} must be one of {', '.join(allowed)}; got {raw!r}{hint}")
    _raise_all(errors)
    return tuple(roles)


def _severity_overrides(value: object, source: str | None) -> tuple[tuple[str, Severity], ...]:
    table = _table(value, _key(source, "severity"))
    return tuple(
        (selector, _severity(level, _key(source, f"severity.{selector}")))
        for selector, level in table.items()
    )


# Sections other commands read (probe, gate); printed by `prodready config` as configured.
OTHER_SECTIONS = ("probe", "gate", "policy")


def check_sections(table: Mapping[str, Any], source: str | None) -> list[str]:
    """The mistakes in the ``probe``, ``gate`` and ``policy`` sections, one per line, found by
    the validators `prodready probe` and `prodready gate` use (scans do not read them)."""
    from prodready.gate.model import GateError
    from prodready.gate.settings import parse_gate_settings, table_prefix
    from prodready.probe.model import ProbeError
    from prodready.probe.settings import parse_settings

    errors: list[str] = []
    if isinstance(table.get("probe"), dict):
        try:
            parse_settings(table["probe"], source)
        except ProbeError as exc:
            errors.append(str(exc))
    # A section that is not a table at all is already reported by parse_config.
    gate_tables = {
        key: table[key] for key in ("gate", "policy") if isinstance(table.get(key), dict)
    }
    if gate_tables:
        try:
            parse_gate_settings(gate_tables, table_prefix(source), source)
        except GateError as exc:
            errors.append(str(exc))
    return errors


def config_to_toml(config: Config, sections: Mapping[str, Any] | None = None) -> str:
    """Render the effective configuration as TOML (for ``prodready config``).

    As it would be written in its file: under ``[tool.prodready]`` for pyproject.toml, at the
    top level for prodready.toml (and for the defaults). ``select = ["ALL"]`` when every rule
    is enabled. ``sections`` are the configured ``probe``/``gate``/``policy`` tables, as given.
    """
    pyproject = config.source is not None and Path(config.source).name == "pyproject.toml"
    prefix = "tool.prodready." if pyproject else ""
    data = config.to_dict()
    if not data["select"]:
        data["select"] = ["ALL"]
    lines = ["[tool.prodready]"] if pyproject else []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append("")
        lines.append(f"[{prefix}{name}]")
        for key, value in table.items():
            if value is None:
                lines.append(f"# {_toml_key(key)} is not set")
            else:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for name in OTHER_SECTIONS:
        section = (sections or {}).get(name)
        if isinstance(section, dict):
            _dump_table(lines, f"{prefix}{name}", section)
    return "\n".join(lines) + "\n"


def _dump_table(lines: list[str], name: str, table: Mapping[str, Any]) -> None:
    """A TOML table with its sub-tables and arrays of tables, in the order they were given."""
    nested = [(k, v) for k, v in table.items() if isinstance(v, dict) or _is_table_array(v)]
    scalars = [(k, v) for k, v in table.items() if (k, v) not in nested]
    if scalars or not nested:  # a table holding only tables needs no header of its own
        lines.extend(["", f"[{name}]"])
    for key, value in scalars:
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in nested:
        path = f"{name}.{_toml_key(key)}"
        if isinstance(value, dict):
            _dump_table(lines, path, value)
            continue
        for item in value:
            lines.extend(["", f"[[{path}]]"])
            for item_key, item_value in item.items():
                lines.append(f"{_toml_key(item_key)} = {_toml_value(item_value)}")


def _is_table_array(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) for i in value)


def check_selectors(config: Config, registry: Registry, origin: str | None = None) -> None:
    """Every rule selector of ``config`` names a rule; errors name the key and the file.

    ``origin`` says where the selectors came from (default: the configuration's file).
    """
    where = origin or _origin(config.source)
    pyproject = (
        origin is None and config.source is not None and config.source.endswith("pyproject.toml")
    )
    errors = [
        f"unknown rule {selector!r} in {'tool.prodready.' if pyproject else ''}{key}"
        f" ({where}){_rule_hint(selector, registry)}; `prodready rules` lists codes, names and"
        " categories"
        for key, selector in rule_selectors(config)
        if not any(registry.matches(selector, rule) for rule in registry)
    ]
    _raise_all(errors)


def rule_selectors(config: Config) -> list[tuple[str, str]]:
    """``(key, selector)`` for every rule selector ``config`` names, in the order of its keys."""
    keyed = [("select", selector) for selector in config.select]
    keyed += [("ignore", selector) for selector in config.ignore]
    keyed += [
        ("per-path-ignores", selector)
        for _, selectors in config.per_path_ignores
        for selector in selectors
    ]
    keyed += [("severity", selector) for selector, _ in config.severity]
    return keyed


def _rule_hint(selector: str, registry: Registry) -> str:
    """`` (did you mean ...?)`` for a misspelt code, name or category; empty when none is close."""
    names = {rule.code for rule in registry} | {rule.name for rule in registry}
    names |= {rule.category.value for rule in registry}
    wanted = selector.upper() if selector[:1].isupper() else selector.lower()
    close = difflib.get_close_matches(wanted, sorted(names), n=3, cutoff=0.75)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _origin(source: str | None) -> str:
    """The configuration file as the user would type it: relative to the cwd when below it."""
    if source is None:
        return "defaults"
    path = Path(source)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return source


def _toml_key(key: str) -> str:
    bare = key.replace("-", "").replace("_", "").isalnum()
    return key if bare else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
