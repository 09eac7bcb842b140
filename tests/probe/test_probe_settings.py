"""Probe settings: k6-style thresholds, durations, sizes, deps, and clear errors for bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodready.probe.model import ProbeError
from prodready.probe.settings import (
    DependencySpec,
    ProbeSettings,
    Threshold,
    load_settings,
    merge_deps,
    parse_dep_option,
    parse_duration,
    parse_settings,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "metric", "value", "observed", "holds"),
    [
        ("p(99) < 300ms", "p99_ms", 300.0, 299.0, True),
        ("p(99) < 300ms", "p99_ms", 300.0, 300.0, False),
        ("p(95)<0.2s", "p95_ms", 200.0, 250.0, False),
        ("p(50) <= 10", "p50_ms", 10.0, 10.0, True),
        ("avg < 1s", "avg_ms", 1000.0, 20.0, True),
        ("error_rate < 0.01", "error_rate", 0.01, 0.02, False),
        ("error_rate < 1%", "error_rate", 0.01, 0.005, True),
        ("http_req_failed < 0.05", "error_rate", 0.05, 0.0, True),
        ("rps > 100", "rps", 100.0, 150.0, True),
        ("memory_growth < 2MB", "memory_growth_bytes", 2_000_000.0, 3_000_000.0, False),
        ("memory_growth < 1MiB", "memory_growth_bytes", 1024.0**2, 1000.0, True),
    ],
)
def test_thresholds_read_like_k6(
    text: str, metric: str, value: float, observed: float, holds: bool
) -> None:
    threshold = Threshold.parse(text, "slo")
    assert threshold.metric == metric
    assert threshold.value == pytest.approx(value)
    assert threshold.holds(observed) is holds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p(97) < 300ms", "not measured"),
        ("latency < 3", "unknown metric"),
        ("erorr_rate < 0.1", "did you mean 'error_rate'"),
        ("p(99) < 300 parsecs", "time unit"),
        ("memory_growth < 5", "give memory growth a unit"),
        ("p(99) 300ms", "cannot read threshold"),
    ],
)
def test_bad_thresholds_are_named(text: str, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        Threshold.parse(text, "probe.slo")


def test_durations_and_sizes() -> None:
    assert parse_duration("500ms", "x") == pytest.approx(0.5)
    assert parse_duration("2m", "x") == 120.0
    assert parse_duration(3, "x") == 3.0
    assert parse_size("64KiB", "x") == 65536
    assert parse_size("5MB", "x") == 5_000_000
    with pytest.raises(ProbeError, match="duration"):
        parse_duration("soon", "probe.budget")
    with pytest.raises(ProbeError, match="size"):
        parse_size("big", "probe.payload-size")


def test_dep_options() -> None:
    assert parse_dep_option("gateway=GATEWAY_URL") == DependencySpec("gateway", "GATEWAY_URL")
    real = parse_dep_option("db=DATABASE_URL=tcp://127.0.0.1:5432")
    assert real.target_address == ("127.0.0.1", 5432)
    for bad in ("gateway", "gateway=1BAD", "db=DB=http://x:1", "db=DB=tcp://host:99999"):
        with pytest.raises(ProbeError, match="--dep"):
            parse_dep_option(bad)


def test_command_line_deps_override_configured_ones_and_keep_their_answers() -> None:
    configured = parse_settings(
        {"deps": {"gateway": {"env": "OLD", "responses": [{"path": "/charges", "status": 201}]}}},
        "probe.toml",
    ).deps
    merged = merge_deps(configured, (DependencySpec("gateway", "GATEWAY_URL"),))
    assert merged[0].env == "GATEWAY_URL"
    assert merged[0].responses[0].status == 201


def test_unknown_keys_get_a_did_you_mean() -> None:
    with pytest.raises(ProbeError, match=r"unknown key probe\.toml: probe\.budgt.*'budget'"):
        parse_settings({"budgt": 10}, "probe.toml")
    with pytest.raises(ProbeError, match=r"load\.user.*'users'"):
        parse_settings({"load": {"user": 3}}, "probe.toml")
    with pytest.raises(ProbeError, match=r"unknown check 'readyness'.*'readiness'"):
        parse_settings({"only": ["readyness"]}, "probe.toml")
    with pytest.raises(ProbeError, match="env is required"):
        parse_settings({"deps": {"gateway": {}}}, "probe.toml")


def test_the_example_configuration_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "examples" / "services" / "production" / "prodready.toml", root)
    assert settings.deps[0].env == "GATEWAY_URL"
    assert settings.invariants[0].parallel == 50
    assert {t.metric for t in settings.slo} >= {"p99_ms", "error_rate", "memory_growth_bytes"}


def test_pyproject_table_and_selection(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.prodready]\nfail-on = "high"\n\n'
        '[tool.prodready.probe]\ncmd = "python app.py"\nskip = ["rate-limit"]\n'
        '[tool.prodready.probe.load]\nthroughput = "max"\n',
        encoding="utf-8",
    )
    settings = load_settings(None, tmp_path)
    assert settings.cmd == "python app.py"
    assert "rate-limit" not in settings.selected()
    assert settings.selected()[-1] == "graceful-shutdown"
    assert settings.load.throughput_per_user is None
    # The scan configuration accepts (and leaves to the probe) its table.
    from prodready.config import load_config

    assert load_config(tmp_path / "pyproject.toml").fail_on.value == "high"


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "probe.toml"
    broken.write_text("budget = [\n", encoding="utf-8")
    with pytest.raises(ProbeError, match="invalid TOML"):
        load_settings(broken, tmp_path)
    assert load_settings(None, tmp_path) == ProbeSettings()


def test_prodready_toml_in_the_current_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "prodready.toml").write_text(
        'fail-on = "high"\n\n[probe]\ncmd = "python app.py"\nbudget = "90s"\n', encoding="utf-8"
    )
    settings = load_settings(None, tmp_path)
    assert settings.cmd == "python app.py"
    assert settings.budget_s == 90.0
