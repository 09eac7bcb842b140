"""Probe settings: ``[tool.prodready.probe]`` in pyproject.toml, or a probe TOML file.

Every key is validated; a wrong key or value raises :class:`ProbeError` naming the file and the
key (with a "did you mean"), never a traceback. SLOs are written the way k6 users write
thresholds: ``"p(99) < 300ms"``, ``"error_rate < 0.01"``, ``"memory_growth < 2MB"`` (per 1000
requests).
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from prodready import tables
from prodready.probe.collect import ErrorCollector
from prodready.probe.model import CHECK_IDS, ProbeError, RequestSpec
from prodready.tables import SIZE_UNITS, TableReader

_TIME_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_THRESHOLD = re.compile(
    r"^\s*(?P<metric>p\(\s*(?P<pct>[\d.]+)\s*\)|[a-z_]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[a-zA-Zµ%]*)\s*$"
)
_PERCENTILES = {"50": "p50_ms", "95": "p95_ms", "99": "p99_ms", "100": "max_ms"}
_METRICS = {
    "avg": "avg_ms",
    "med": "p50_ms",
    "max": "max_ms",
    "error_rate": "error_rate",
    "http_req_failed": "error_rate",
    "rps": "rps",
    "memory_growth": "memory_growth_bytes",
}


@dataclass(frozen=True)
class Threshold:
    """One SLO threshold; ``value`` is normalised (milliseconds, bytes, or a ratio)."""

    text: str
    metric: str  # a LoadStats-style key: p99_ms, error_rate, rps, memory_growth_bytes, ...
    op: str
    value: float

    def holds(self, observed: float) -> bool:
        return _COMPARATORS[self.op](observed, self.value)

    @classmethod
    def parse(cls, text: str, where: str) -> Threshold:
        match = _THRESHOLD.match(text)
        if match is None:
            raise ProbeError(
                f"{where}: cannot read threshold {text!r}; write it like 'p(99) < 300ms', "
                "'error_rate < 0.01' or 'memory_growth < 2MB'"
            )
        raw_metric, unit = match["metric"], match["unit"]
        value = float(match["value"])
        if match["pct"] is not None:
            pct = match["pct"].rstrip("0").rstrip(".") if "." in match["pct"] else match["pct"]
            if pct not in _PERCENTILES:
                raise ProbeError(
                    f"{where}: {raw_metric} is not measured; use p(50), p(95), p(99) or max"
                )
            metric = _PERCENTILES[pct]
        elif raw_metric in _METRICS:
            metric = _METRICS[raw_metric]
        else:
            known = ", ".join(["p(50)", "p(95)", "p(99)", *_METRICS])
            hint = difflib.get_close_matches(raw_metric, list(_METRICS), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ProbeError(f"{where}: unknown metric {raw_metric!r}{suggestion}; known: {known}")
        if metric.endswith("_ms"):
            factor = _TIME_UNITS.get(unit or "ms")
            if factor is None:
                raise ProbeError(f"{where}: {text!r}: time unit must be one of us, ms, s, m")
            value *= factor
        elif metric == "memory_growth_bytes":
            size = SIZE_UNITS.get(unit.lower()) if unit else None
            if size is None:
                raise ProbeError(f"{where}: {text!r}: give memory growth a unit (KB, MB, MiB, ...)")
            value *= size
        elif metric == "error_rate":
            if unit == "%":
                value /= 100
            elif unit:
                raise ProbeError(
                    f"{where}: {text!r}: an error rate is a ratio (0.01) or a percentage"
                )
        elif unit:
            raise ProbeError(f"{where}: {text!r}: rps takes no unit")
        return cls(text=text.strip(), metric=metric, op=match["op"], value=value)


@dataclass(frozen=True)
class ResponseTemplate:
    """How a fake upstream answers one path (and method)."""

    path: str = "*"
    method: str = "*"
    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DependencySpec:
    name: str
    env: str
    target: str | None = None  # "tcp://host:port" for a real dependency; None = fake HTTP upstream
    url: str | None = None  # template for what the service gets, with {host} and {port}
    responses: tuple[ResponseTemplate, ...] = ()

    @property
    def target_address(self) -> tuple[str, int] | None:
        if self.target is None:
            return None
        host, _, port = self.target.removeprefix("tcp://").rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Invariant:
    """N parallel ``action`` requests must change ``field`` (read by ``read``) by ``delta`` each."""

    name: str
    action: RequestSpec
    read: RequestSpec
    field: str
    delta: float
    parallel: int = 50
    setup: RequestSpec | None = None


@dataclass(frozen=True)
class LoadSettings:
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float = 10.0
    warmup_s: float = 3.0
    throughput_per_user: float | None = 10.0  # requests/s per user; None = as fast as possible
    workers: int = 0
    upstream_latency_ms: float = 0.0  # realistic latency on every dependency during load


@dataclass(frozen=True)
class RateLimitSettings:
    path: str | None = None
    users: int = 50
    duration_s: float = 4.0


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * 1024**3
    open_files: int = 4096
    cpu_seconds: int = 900


@dataclass(frozen=True)
class ProbeSettings:
    cmd: str | None = None
    openapi: str | None = None
    deps: tuple[DependencySpec, ...] = ()
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    budget_s: float = 300.0
    startup_timeout_s: float = 30.0
    grace_period_s: float = 10.0
    request_timeout_s: float = 10.0
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    isolate: bool = False
    liveness: str | None = None
    readiness: str | None = None
    metrics: str | None = None
    slo: tuple[Threshold, ...] = ()
    requests: tuple[RequestSpec, ...] = ()
    invariants: tuple[Invariant, ...] = ()
    load: LoadSettings = LoadSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    limits: Limits = Limits()
    payload_size: int = 8 * 1024**2
    fuzz_examples: int = 25
    dependency_budget_s: float = 3.0
    injected_latency_ms: float = 6000.0
    source: str | None = None

    def table(self, key: str = "") -> str:
        """A probe table as it is spelt in the file these settings came from."""
        return table_name(self.source, key)

    def selected(self) -> tuple[str, ...]:
        chosen = self.only or CHECK_IDS
        return tuple(check for check in CHECK_IDS if check in chosen and check not in self.skip)

    def slo_or_default(self) -> tuple[Threshold, ...]:
        return self.slo or default_slo()


DEFAULT_SLO = ("p(99) < 1000ms", "error_rate < 0.01", "memory_growth < 2MB")


def default_slo() -> tuple[Threshold, ...]:
    return tuple(Threshold.parse(text, "default SLO") for text in DEFAULT_SLO)


def parse_duration(value: object, where: str) -> float:
    """Seconds from ``10``, ``2.5``, ``"500ms"``, ``"10s"`` or ``"2m"``."""
    return tables.parse_duration(value, where, ProbeError)


def parse_size(value: object, where: str) -> int:
    """Bytes from ``1048576``, ``"64KiB"`` or ``"5MB"``."""
    return tables.parse_size(value, where, ProbeError)


def parse_dep_option(option: str) -> DependencySpec:
    """``NAME=ENVVAR`` (fake HTTP upstream) or ``NAME=ENVVAR=tcp://HOST:PORT`` (real server)."""
    parts = option.split("=", 2)
    if len(parts) < 2 or not all(part.strip() for part in parts):
        raise ProbeError(
            f"--dep {option!r}: write NAME=ENVVAR, or NAME=ENVVAR=tcp://HOST:PORT for a real server"
        )
    name, env = parts[0].strip(), parts[1].strip()
    _check_identifier(name, f"--dep {option!r}: dependency name")
    _check_env_name(env, f"--dep {option!r}: environment variable")
    target = _check_target(parts[2].strip(), f"--dep {option!r}") if len(parts) == 3 else None
    return DependencySpec(name=name, env=env, target=target)


def merge_deps(
    configured: tuple[DependencySpec, ...], given: tuple[DependencySpec, ...]
) -> tuple[DependencySpec, ...]:
    """Command-line deps override the configured one of the same name, keeping its answers."""
    merged = {dep.name: dep for dep in configured}
    for dep in given:
        base = merged.get(dep.name)
        merged[dep.name] = (
            replace(base, env=dep.env, target=dep.target or base.target) if base else dep
        )
    return tuple(merged.values())


def load_settings(path: Path | None, start: Path) -> ProbeSettings:
    """Settings from ``path`` (a probe TOML, prodready.toml or pyproject.toml), else from the
    ``[probe]`` table of ./prodready.toml or ``[tool.prodready.probe]`` of ./pyproject.toml."""
    if path is None:
        own = start / "prodready.toml"
        if own.is_file():
            table = _read(own).get("probe")
            if table is not None:
                return parse_settings(table, str(own))
        candidate = start / "pyproject.toml"
        if not candidate.is_file():
            return ProbeSettings()
        table = _read(candidate).get("tool", {}).get("prodready", {}).get("probe")
        return parse_settings(table, str(candidate)) if table is not None else ProbeSettings()
    document = _read(path)
    if path.name == "pyproject.toml":
        table = document.get("tool", {}).get("prodready", {}).get("probe", {})
    elif path.name == "prodready.toml":
        table = document.get("probe", {})  # the project's configuration: its [probe] table
    else:
        # A probe file holds the table at the top, or under [tool.prodready.probe] / [probe].
        nested = document.get("tool", {}).get("prodready", {}).get("probe")
        table = nested if nested is not None else document.get("probe", document)
    return parse_settings(table, str(path))


def _read(path: Path) -> dict[str, Any]:
    return tables.read_toml(path, ProbeError, "probe configuration")


class _Reader(TableReader):
    error = ProbeError


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def table_name(source: str | None, key: str = "") -> str:
    """A probe table as it is spelt in the file it came from: ``tool.prodready.probe.<key>`` in
    pyproject.toml, ``probe.<key>`` in prodready.toml (and with no file, the prodready.toml form).
    """
    base = "tool.prodready.probe" if source and Path(source).name == "pyproject.toml" else "probe"
    return f"{base}.{key}" if key else base


def parse_settings(table: object, source: str | None) -> ProbeSettings:
    """Validate a probe table; every mistake is reported at once, one per line."""
    where = f"{source}: {table_name(source)}" if source else table_name(source)
    reader = _Reader(table, where)
    known = (
        "cmd", "openapi", "deps", "only", "skip", "budget", "startup-timeout", "grace-period",
        "request-timeout", "env", "workdir", "isolate", "health", "slo", "requests",
        "invariants", "load", "rate-limit", "limits", "payload-size", "fuzz-examples",
        "dependency-budget", "injected-latency",
    )  # fmt: skip
    errors = ErrorCollector(ProbeError)
    errors.unknown_keys(reader, known)
    checks: dict[str, tuple[str, ...]] = {}
    for key in ("only", "skip"):
        chosen = errors.get(partial(_checks, reader, key))
        if chosen is not None:
            checks[key] = chosen
    health = errors.get(lambda: _parse_health(reader))
    scalars = _present(
        cmd=errors.get(lambda: reader.string("cmd")),
        openapi=errors.get(lambda: reader.string("openapi")),
        budget_s=errors.get(lambda: reader.duration("budget")),
        startup_timeout_s=errors.get(lambda: reader.duration("startup-timeout")),
        grace_period_s=errors.get(lambda: reader.duration("grace-period")),
        request_timeout_s=errors.get(lambda: reader.duration("request-timeout")),
        workdir=errors.get(lambda: reader.string("workdir")),
        isolate=errors.get(lambda: reader.boolean("isolate")),
        payload_size=errors.get(lambda: reader.size("payload-size")),
        fuzz_examples=errors.get(lambda: reader.integer("fuzz-examples", minimum=1)),
        dependency_budget_s=errors.get(lambda: reader.duration("dependency-budget")),
        injected_latency_ms=errors.get(lambda: _ms(reader.duration("injected-latency"))),
    )
    settings = ProbeSettings(
        source=source,
        only=checks.get("only", ()),
        skip=checks.get("skip", ()),
        **scalars,
        **(health or {}),
    )
    parts: dict[str, Callable[[object, str], dict[str, Any]]] = {
        "env": lambda value, key: {"env": _parse_env(value, key)},
        "deps": lambda value, key: {"deps": _parse_deps(value, key)},
        "slo": lambda value, key: {"slo": _parse_slo(reader)},
        "requests": lambda value, key: {"requests": _parse_list(value, key)},
        "invariants": lambda value, key: {"invariants": _parse_invariants(value, key)},
        "load": lambda value, key: {"load": _parse_load(value, key)},
        "rate-limit": lambda value, key: {"rate_limit": _parse_rate_limit(value, key)},
        "limits": lambda value, key: {"limits": _parse_limits(value, key)},
    }
    changes: dict[str, Any] = {}
    for name, parse in parts.items():
        if name in reader.table:
            changes.update(errors.get(partial(parse, reader.table[name], reader.key(name))) or {})
    errors.raise_all()
    return replace(settings, **changes)


def _checks(reader: _Reader, key: str) -> tuple[str, ...] | None:
    chosen = reader.strings(key)
    return None if chosen is None else check_ids(chosen, reader.key(key))


def _parse_health(reader: _Reader) -> dict[str, Any]:
    health = _Reader(reader.table.get("health", {}), reader.key("health"))
    health.done(("liveness", "readiness", "metrics"))
    return _present(
        liveness=health.string("liveness"),
        readiness=health.string("readiness"),
        metrics=health.string("metrics"),
    )


def _parse_env(env: object, where: str) -> dict[str, str]:
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ProbeError(f"{where} must be a table of strings; got {env!r}")
    for name in env:
        _check_env_name(name, f"{where}.{name}")
    return dict(env)


def _parse_slo(reader: _Reader) -> tuple[Threshold, ...]:
    slo = reader.strings("slo") or ()
    return tuple(Threshold.parse(text, reader.key("slo")) for text in slo)


def _parse_rate_limit(value: object, where: str) -> RateLimitSettings:
    rate = _Reader(value, where)
    rate.done(("path", "users", "duration"))
    return replace(
        RateLimitSettings(),
        **_present(
            path=rate.string("path"),
            users=rate.integer("users", minimum=1),
            duration_s=rate.duration("duration"),
        ),
    )


def _parse_limits(value: object, where: str) -> Limits:
    limits = _Reader(value, where)
    limits.done(("memory", "open-files", "cpu-time"))
    cpu = limits.duration("cpu-time")
    return replace(
        Limits(),
        **_present(
            memory_bytes=limits.size("memory"),
            open_files=limits.integer("open-files", minimum=64),
            cpu_seconds=int(cpu) if cpu is not None else None,
        ),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def check_ids(chosen: tuple[str, ...], where: str) -> tuple[str, ...]:
    for check in chosen:
        if check not in CHECK_IDS:
            hint = difflib.get_close_matches(check, CHECK_IDS, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ProbeError(
                f"{where}: unknown check {check!r}{suggestion}; checks: {', '.join(CHECK_IDS)}"
            )
    return chosen


def _check_identifier(value: str, where: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ProbeError(f"{where} must be letters, digits, '.', '_' or '-'; got {value!r}")


def _check_env_name(value: str, where: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ProbeError(f"{where} is not a valid environment variable name: {value!r}")


def _check_target(value: str, where: str) -> str:
    match = re.fullmatch(r"tcp://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})", value)
    if match is None or not 0 < int(match[2]) < 65536:
        raise ProbeError(f"{where}: target must look like tcp://127.0.0.1:5432; got {value!r}")
    return value


def _parse_deps(value: object, where: str) -> tuple[DependencySpec, ...]:
    if not isinstance(value, dict):
        raise ProbeError(f"{where} must be a table of dependencies; got {value!r}")
    deps = []
    for name, body in value.items():
        _check_identifier(name, f"{where}.{name}")
        reader = _Reader(body, f"{where}.{name}")
        reader.done(("env", "target", "url", "responses"))
        env = reader.string("env")
        if env is None:
            raise ProbeError(f"{reader.key('env')} is required: the variable that gets the URL")
        _check_env_name(env, reader.key("env"))
        target = reader.string("target")
        responses = []
        raw_responses = reader.table.get("responses", [])
        if not isinstance(raw_responses, list):
            raise ProbeError(f"{reader.key('responses')} must be a list of tables")
        for index, raw in enumerate(raw_responses):
            item = _Reader(raw, f"{reader.key('responses')}[{index}]")
            item.done(("path", "method", "status", "body", "headers"))
            status = item.integer("status", minimum=100)
            if status is not None and status > 599:
                raise ProbeError(f"{item.key('status')} must be an HTTP status; got {status}")
            responses.append(
                ResponseTemplate(
                    **_present(
                        path=item.string("path"),
                        method=(item.string("method") or "*").upper(),
                        status=status,
                        body=item.table.get("body"),
                        headers=_headers(item.table.get("headers"), item.key("headers")),
                    )
                )
            )
        deps.append(
            DependencySpec(
                name=name,
                env=env,
                target=_check_target(target, reader.key("target")) if target else None,
                url=reader.string("url"),
                responses=tuple(responses),
            )
        )
    return tuple(deps)


def _headers(value: object, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ProbeError(f"{where} must be a table of strings; got {value!r}")
    return dict(value)


def _parse_request(value: object, where: str) -> RequestSpec:
    reader = _Reader(value, where)
    reader.done(("name", "method", "path", "json", "headers", "idempotent"))
    method = (reader.string("method") or "GET").upper()
    path = reader.string("path")
    if path is None or not path.startswith("/"):
        raise ProbeError(f"{reader.key('path')} is required and must start with '/'")
    return RequestSpec(
        method=method,
        path=path,
        json=reader.table.get("json"),
        headers=_headers(reader.table.get("headers"), reader.key("headers")) or {},
        name=reader.string("name") or "",
        idempotent=bool(reader.boolean("idempotent")),
    )


def _parse_list(value: object, where: str) -> tuple[RequestSpec, ...]:
    if not isinstance(value, list):
        raise ProbeError(f"{where} must be a list of tables ([[...requests]])")
    return tuple(_parse_request(item, f"{where}[{index}]") for index, item in enumerate(value))


def _parse_invariants(value: object, where: str) -> tuple[Invariant, ...]:
    if not isinstance(value, list):
        raise ProbeError(f"{where} must be a list of tables ([[...invariants]])")
    invariants = []
    for index, raw in enumerate(value):
        reader = _Reader(raw, f"{where}[{index}]")
        reader.done(("name", "setup", "action", "read", "field", "delta", "parallel"))
        for required in ("action", "read", "field"):
            if required not in reader.table:
                raise ProbeError(f"{reader.key(required)} is required")
        setup = reader.table.get("setup")
        invariants.append(
            Invariant(
                name=reader.string("name") or f"invariant {index + 1}",
                setup=_parse_request(setup, reader.key("setup")) if setup is not None else None,
                action=_parse_request(reader.table["action"], reader.key("action")),
                read=_parse_request(reader.table["read"], reader.key("read")),
                field=reader.string("field") or "",
                delta=_signed(reader, "delta", default=-1.0),
                parallel=reader.integer("parallel", minimum=2) or 50,
            )
        )
    return tuple(invariants)


def _signed(reader: _Reader, key: str, *, default: float) -> float:
    value = reader.table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProbeError(f"{reader.key(key)} must be a number; got {value!r}")
    return float(value)


def _parse_load(value: object, where: str) -> LoadSettings:
    reader = _Reader(value, where)
    reader.done(
        ("users", "spawn-rate", "duration", "warmup", "throughput", "workers", "upstream-latency")
    )
    throughput: float | None = LoadSettings.throughput_per_user
    if "throughput" in reader.table:
        raw = reader.table["throughput"]
        if raw in ("max", "unlimited"):
            throughput = None
        else:
            throughput = reader.number("throughput", minimum=0.01)
    return replace(
        LoadSettings(throughput_per_user=throughput),
        **_present(
            users=reader.integer("users", minimum=1),
            spawn_rate=reader.number("spawn-rate", minimum=0.1),
            duration_s=reader.duration("duration"),
            warmup_s=reader.duration("warmup"),
            workers=reader.integer("workers", minimum=0),
            upstream_latency_ms=_ms(reader.duration("upstream-latency")),
        ),
    )
