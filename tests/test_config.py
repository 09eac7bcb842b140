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
    rendered = tomllib.loads(config_to_toml(config))
    assert parse_config(rendered).select == ("RES",)
    assert parse_config(rendered).profile.traffic == "high"
    pyproject = parse_config({"select": ["RES"]}, source="/p/pyproject.toml")
    text = config_to_toml(pyproject)
    assert text.startswith('[tool.prodready]\nselect = ["RES"]\n')
    assert "\n[tool.prodready.profile]\n" in text
    assert parse_config(tomllib.loads(text)["tool"]["prodready"]).select == ("RES",)


def test_all_rules_print_as_select_all_and_prodready_toml_has_no_header() -> None:
    text = config_to_toml(parse_config({}, source="/p/prodready.toml"))
    assert text.splitlines()[:2] == ['select = ["ALL"]', "ignore = []"]
    assert "[tool.prodready" not in text and "\n[profile]\n" in text


def test_probe_and_gate_sections_are_printed_as_configured() -> None:
    import tomllib

    table = {
        "fail-on": "medium",
        "probe": {"cmd": "python app.py", "deps": {"gw": {"env": "GW_URL"}}},
        "gate": {"stage": {"unit": {"command": "pytest -q"}}},
    }
    config = parse_config(table, source="/p/prodready.toml")
    text = config_to_toml(config, table)
    assert '\n[probe]\ncmd = "python app.py"\n\n[probe.deps.gw]\nenv = "GW_URL"\n' in text
    assert text.endswith('\n[gate.stage.unit]\ncommand = "pytest -q"\n')
    parsed = tomllib.loads(text)
    assert parsed["probe"] == table["probe"] and parsed["gate"] == table["gate"]
    requests = {"probe": {"requests": [{"name": "a", "json": {"x": 1}}]}}
    text = config_to_toml(parse_config(requests), requests)
    assert text.endswith('\n[[probe.requests]]\nname = "a"\njson = {x = 1}\n')
    assert tomllib.loads(text)["probe"] == requests["probe"]


def test_every_bad_key_is_reported_one_per_line() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(
            {
                "selct": ["RES"],
                "fail-on": "urgent",
                "profile": {"runtime": "mainframe", "trafic": "high"},
                "deps": {"timeout": -1, "online": "yes"},
            },
            source="prodready.toml",
        )
    assert str(raised.value).splitlines() == [
        "unknown key prodready.toml: selct (did you mean 'select'?); known keys: deps, exclude, "
        "fail-on, gate, ignore, min-confidence, per-path-ignores, policy, probe, profile, "
        "respect-gitignore, roles, select, severity",
        "prodready.toml: fail-on must be one of critical, high, medium, low; got 'urgent'",
        "prodready.toml: profile.runtime must be one of kubernetes, serverless, vm, paas; "
        "got 'mainframe'",
        "unknown key prodready.toml: profile.trafic (did you mean 'profile.traffic'?); known "
        "keys: profile.data, profile.exposure, profile.handles-payments, profile.project-type, "
        "profile.runtime, profile.traffic",
        "prodready.toml: deps.timeout must be a positive number; got -1",
        "prodready.toml: deps.online must be true or false; got 'yes'",
    ]


def test_unknown_rules_name_the_key_and_the_file(registry, tmp_path: Path, monkeypatch) -> None:
    from prodready.config import check_selectors

    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.prodready]\nselect = ["RES", "NOPE42"]\nignore = ["BAD1"]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        check_selectors(load_config(path), registry)
    hint = "; `prodready rules` lists codes, names and categories"
    assert str(raised.value).splitlines() == [
        f"unknown rule 'NOPE42' in tool.prodready.select (pyproject.toml){hint}",
        f"unknown rule 'BAD1' in tool.prodready.ignore (pyproject.toml){hint}",
    ]


def test_unknown_rules_are_reported_with_the_other_mistakes_in_one_run(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """A file with bad keys *and* misspelt rules: every mistake at once, rules with a hint."""
    from prodready.cli import main

    (tmp_path / "prodready.toml").write_text(
        'fail-on = "hihg"\nselect = ["resilence", "ALL"]\n'
        '[per-path-ignores]\n"scripts/**" = ["observabilty", "QQQ999"]\n'
    )
    (tmp_path / "app.py").write_text("VALUE = 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["scan", "."])
    assert exited.value.code == 2
    hint = "; `prodready rules` lists codes, names and categories"
    config = tmp_path / "prodready.toml"
    assert capsys.readouterr().err.splitlines() == [
        f"prodready: error: {config}: fail-on must be one of critical, high, medium, low; "
        "got 'hihg'",
        "prodready: error: unknown rule 'resilence' in select (prodready.toml) "
        f"(did you mean resilience?){hint}",
        "prodready: error: unknown rule 'observabilty' in per-path-ignores (prodready.toml) "
        f"(did you mean observability?){hint}",
        f"prodready: error: unknown rule 'QQQ999' in per-path-ignores (prodready.toml){hint}",
    ]
