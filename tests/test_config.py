from __future__ import annotations

from pathlib import Path

import pytest

from prodready.config import config_to_toml, find_config, load_config, parse_config
from prodready.model import Confidence, ConfigError, Severity


def test_defaults_when_no_file() -> None:
    config = load_config(None)
    assert config.fail_on is Severity.HIGH
    assert config.select == ()


def test_full_table_parses() -> None:
    config = parse_config(
        {
            "select": ["RES", "security"],
            "ignore": ["OBS001"],
            "fail-on": "medium",
            "min-confidence": "medium",
            "exclude": ["migrations/"],
            "per-path-ignores": {"tests/**": ["security"]},
            "severity": {"RES001": "critical"},
            "profile": {"runtime": "kubernetes", "handles-payments": True, "data": "pii"},
        }
    )
    assert config.select == ("RES", "security")
    assert config.fail_on is Severity.MEDIUM
    assert config.min_confidence is Confidence.MEDIUM
    assert config.per_path_ignores == (("tests/**", ("security",)),)
    assert config.severity == (("RES001", Severity.CRITICAL),)
    assert config.profile.runtime == "kubernetes"
    assert config.profile.handles_payments is True
    assert config.profile.high_stakes is True


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"selct": ["RES"]}, "unknown key tool.prodready.selct (did you mean 'select'?)"),
        ({"fail-on": "urgent"}, "fail-on must be one of critical, high, medium, low"),
        ({"select": "RES001", "ignore": [1]}, "ignore must be a list of strings"),
        ({"profile": {"runtime": "mainframe"}}, "profile.runtime must be one of kubernetes"),
        (
            {"profile": {"handles-payments": "yes"}},
            "profile.handles-payments must be true or false",
        ),
        ({"profile": {"trafic": "high"}}, "did you mean 'profile.traffic'"),
        ({"severity": {"RES001": "severe"}}, "severity.RES001 must be one of"),
        ({"per-path-ignores": ["tests"]}, "per-path-ignores must be a table"),
    ],
)
def test_bad_keys_and_values_name_the_key(table: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(table)
    assert fragment in str(raised.value)


def test_prodready_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.prodready]\nfail-on = "low"\n')
    (tmp_path / "prodready.toml").write_text('fail-on = "critical"\n')
    nested = tmp_path / "src" / "app"
    nested.mkdir(parents=True)
    found = find_config(nested)
    assert found == tmp_path / "prodready.toml"
    assert load_config(found).fail_on is Severity.CRITICAL


def test_pyproject_without_our_table_is_skipped(tmp_path: Path) -> None:
    outer = tmp_path / "pyproject.toml"
    outer.write_text('[tool.prodready]\nfail-on = "low"\n')
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(inner) == outer


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "prodready.toml"
    path.write_text("select = [\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path)


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.prodready]\nfail_on = "low"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert str(path) in message and "tool.prodready.fail_on" in message and "fail-on" in message


def test_effective_config_round_trips_as_toml() -> None:
    import tomllib

    config = parse_config({"select": ["RES"], "profile": {"traffic": "high"}})
    rendered = tomllib.loads(config_to_toml(config))["tool"]["prodready"]
    assert parse_config(rendered).select == ("RES",)
    assert parse_config(rendered).profile.traffic == "high"
