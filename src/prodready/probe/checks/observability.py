"""``request-id``, ``metrics`` and ``structured-logs``: can this service be operated at 3 a.m.?"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from prodready.probe.checks.base import failed, passed
from prodready.probe.context import ProbeContext
from prodready.probe.endpoints import METRICS_PATHS, find_endpoint
from prodready.probe.model import PROBE_EXTRA_HINT, CheckResult, ProbeError, RequestSpec

_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl")
_MESSAGE_KEYS = ("message", "msg", "event", "text")
_TIME_KEYS = ("time", "timestamp", "ts", "@timestamp", "asctime", "datetime", "date")
_STRUCTURED_SHARE = 0.95


def _probe_request(ctx: ProbeContext) -> RequestSpec:
    for spec in ctx.candidates:
        if spec.method == "GET":
            return spec
    return RequestSpec("GET", ctx.liveness or ctx.readiness or "/")


def request_id(ctx: ProbeContext) -> CheckResult:
    spec = _probe_request(ctx)
    marker = f"probe-{uuid.uuid4().hex}"
    start_line = ctx.service.line_count
    tagged = ctx.send(spec, headers={"X-Request-ID": marker}, timeout=5.0)
    echoed = tagged.headers.get("x-request-id")
    logged = _wait_for_log(ctx, start_line, marker, 2.0)
    untagged = ctx.send(spec, timeout=5.0)
    generated = untagged.headers.get("x-request-id")
    evidence: dict[str, Any] = {
        "request": f"{spec.method} {spec.path}",
        "sent": marker,
        "echoed": echoed,
        "logged": logged,
        "generated_when_absent": generated,
    }
    problems = []
    if tagged.status is None:
        return failed("request-id", f"no answer: {tagged.brief()}", **evidence)
    if echoed != marker:
        problems.append("the X-Request-ID sent was not echoed in the response")
    if not logged:
        problems.append("the request id does not appear in the service's logs")
    if not generated:
        problems.append("no X-Request-ID is generated when the client sends none")
    if problems:
        return failed("request-id", "; ".join(problems), **evidence)
    return passed("request-id", "echoed, logged, and generated when absent", **evidence)


def _wait_for_log(ctx: ProbeContext, start_line: int, marker: str, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while True:
        if any(marker in line.text for line in ctx.service.output_since(start_line)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def metrics(ctx: ProbeContext) -> CheckResult:
    path = find_endpoint(ctx, ctx.settings.metrics, METRICS_PATHS)
    if path is None:
        return failed(
            "metrics",
            "no Prometheus endpoint: no request rate, errors or latency to alert on",
            tried=list(METRICS_PATHS),
        )
    # Generate a little traffic first so request metrics have samples.
    ctx.send(_probe_request(ctx), timeout=5.0)
    try:
        text = ctx.fetch_text(path)
        families = _parse_prometheus(text)
    except ProbeError as exc:
        return failed("metrics", str(exc), endpoint=path)
    counters = [
        name
        for name, kind in families.items()
        if kind == "counter" and any(word in name for word in ("request", "http"))
    ]
    latencies = [
        name
        for name, kind in families.items()
        if kind in ("histogram", "summary")
        and any(word in name for word in ("duration", "latency", "seconds", "time"))
    ]
    evidence = {
        "endpoint": path,
        "families": len(families),
        "request_counters": counters[:5],
        "latency_metrics": latencies[:5],
    }
    missing = []
    if not counters:
        missing.append("a request counter (counter named *request*/*http*)")
    if not latencies:
        missing.append("a latency histogram or summary (*duration*/*latency*/*seconds*)")
    if missing:
        return failed("metrics", f"{path} has no {' and no '.join(missing)}", **evidence)
    return passed(
        "metrics",
        f"{path}: {counters[0]} and {latencies[0]} among {len(families)} families",
        **evidence,
    )


def _parse_prometheus(text: str) -> dict[str, str]:
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:
        raise ProbeError(f"the metrics check needs prometheus-client: {PROBE_EXTRA_HINT}") from exc
    try:
        return {family.name: family.type for family in text_string_to_metric_families(text)}
    except ValueError as exc:
        raise ProbeError(f"not the Prometheus text format: {exc}") from exc


def structured_logs(ctx: ProbeContext) -> CheckResult:
    lines = [line for line in ctx.service.output_since(0) if line.text.strip()]
    if not lines:
        return failed(
            "structured-logs",
            "the service wrote no log lines at all while serving the probe's requests",
        )
    missing: dict[str, int] = {"level": 0, "message": 0, "time": 0}
    unstructured = []
    structured = 0
    for line in lines:
        record = _json_object(line.text)
        if record is None:
            unstructured.append(line.text[:200])
            continue
        lacks = [
            name
            for name, keys in (
                ("level", _LEVEL_KEYS),
                ("message", _MESSAGE_KEYS),
                ("time", _TIME_KEYS),
            )
            if not any(key in record for key in keys)
        ]
        for name in lacks:
            missing[name] += 1
        if lacks:
            unstructured.append(line.text[:200])
        else:
            structured += 1
    share = structured / len(lines)
    evidence: dict[str, Any] = {
        "lines": len(lines),
        "structured": structured,
        "share": round(share, 3),
        "missing_fields": {key: value for key, value in missing.items() if value},
        "examples": unstructured[:3],
    }
    if share < _STRUCTURED_SHARE:
        return failed(
            "structured-logs",
            f"{len(lines) - structured} of {len(lines)} lines are not JSON with level, message "
            "and time: a log pipeline cannot filter or alert on them",
            **evidence,
        )
    return passed(
        "structured-logs",
        f"{structured} of {len(lines)} lines are JSON with level, message and time",
        **evidence,
    )


def _json_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
