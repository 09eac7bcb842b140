"""What the probe learns about the service before the checks: its OpenAPI document, health
endpoints, the requests it can send, and which of those reach which dependency.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodready.probe.context import Outcome, ProbeContext
from prodready.probe.model import ProbeError, RequestSpec
from prodready.probe.settings import ProbeSettings

LIVENESS_PATHS = (
    "/healthz",
    "/livez",
    "/health/live",
    "/health/liveness",
    "/live",
    "/health",
    "/ping",
)
READINESS_PATHS = ("/readyz", "/ready", "/health/ready", "/health/readiness", "/readiness")
METRICS_PATHS = ("/metrics", "/prometheus", "/metrics/")
_INFRASTRUCTURE = re.compile(
    r"^/(healthz?|livez|readyz|ready|live|ping|metrics|prometheus|openapi\.json|docs|redoc)(/|$)"
)
_MUTATING = ("POST", "PUT", "PATCH", "DELETE")
_MAX_DISCOVERY_REQUESTS = 40
# Reading routes from a project's code: at most this many Python files.
_MAX_ROUTE_FILES = 2000
# Path parameters (Flask <id>, FastAPI {id}, regex groups): no request can be guessed for them.
_PATH_PARAMETER = re.compile(r"[<>{}()\[\]*?^$:\\]")
NO_TRAFFIC = "no request the service answers with 2xx: give --openapi or [probe] requests"


def no_traffic_reason(settings: ProbeSettings) -> str:
    """:data:`NO_TRAFFIC`, naming the probe table as it is spelt in the file in use."""
    return NO_TRAFFIC.replace("[probe]", f"[{settings.table()}]")


# Strings that satisfy the patterns APIs commonly put on fields (codes, ids, slugs, numbers).
_PATTERN_GUESSES = ("USD", "probe", "probe-1", "probe_1", "ab", "A1", "1", "a", "A")


def is_infrastructure(path: str) -> bool:
    """Health, metrics and documentation endpoints: not part of the service's own API."""
    return bool(_INFRASTRUCTURE.match(path)) or path.startswith("/health")


def load_openapi(ctx: ProbeContext, project_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The OpenAPI document and where it came from; ProbeError when a given one is unusable."""
    given = ctx.settings.openapi
    if given is None:
        try:
            document = _parse_document(ctx.fetch_text("/openapi.json"), "/openapi.json")
        except ProbeError:
            return None, None  # nothing usable served there: checks that need it skip
        return document, f"{ctx.base_url}/openapi.json"
    if given.startswith(("http://", "https://")):
        return _parse_document(_fetch(given), given), given
    local = Path(given) if Path(given).is_absolute() else project_dir / given
    if local.is_file():
        try:
            text = local.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProbeError(f"--openapi {given}: cannot read the file: {exc}") from exc
        return _parse_document(text, given), str(local)
    if given.startswith("/"):
        outcome = ctx.get(given, timeout=5.0)
        if outcome.status != 200:
            raise ProbeError(
                f"--openapi {given}: not a local file, and the service answered "
                f"{outcome.status or outcome.error} for it"
            )
        return _parse_document(ctx.fetch_text(given), given), f"{ctx.base_url}{given}"
    raise ProbeError(f"--openapi {given}: no such file, and not a URL or a path on the service")


def _fetch(url: str) -> str:
    import httpx

    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ProbeError(f"--openapi {url}: cannot fetch: {exc}") from exc
    if response.status_code != 200:
        raise ProbeError(f"--openapi {url}: the server answered {response.status_code}")
    return response.text


def _parse_document(text: str, source: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ProbeError(f"--openapi {source}: neither JSON nor YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ProbeError(f"--openapi {source}: not an OpenAPI document (no 'paths' table)")
    return document


def operations(document: dict[str, Any] | None) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation object) for every operation of the document."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    if document is None:
        return found
    for path, item in document.get("paths", {}).items():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE") and isinstance(
                operation, dict
            ):
                found.append((method.upper(), path, operation))
    return found


def find_endpoint(
    ctx: ProbeContext, configured: str | None, candidates: tuple[str, ...]
) -> str | None:
    """The configured path, or the first well-known one that the service answers with 200."""
    return search_endpoint(ctx, configured, candidates)[0]


def search_endpoint(
    ctx: ProbeContext, configured: str | None, candidates: tuple[str, ...]
) -> tuple[str | None, list[Outcome]]:
    """Like :func:`find_endpoint`, and when none answers 200, what the paths that are there
    answered: anything but a 404 (a 500, a timeout) is an endpoint that exists and fails,
    which a reader must not be told is missing."""
    if configured is not None:
        return configured, []
    documented = {path for _, path, _ in operations(ctx.openapi)}
    ordered = [path for path in candidates if path in documented] + [
        path for path in candidates if path not in documented
    ]
    failing: list[Outcome] = []
    for path in ordered:
        outcome = ctx.get(path, timeout=3.0)
        if outcome.status == 200:
            return path, []
        if (outcome.status is not None and outcome.status != 404) or outcome.error == "timeout":
            failing.append(outcome)
    return None, failing


def answered_text(outcomes: list[Outcome]) -> str:
    """``GET /health answered 500, GET /ping gave no answer (timeout)``."""
    return ", ".join(
        f"{o.method} {o.path} answered {o.status}"
        if o.status is not None
        else f"{o.method} {o.path} gave no answer ({o.error})"
        for o in outcomes
    )


def request_candidates(ctx: ProbeContext) -> list[RequestSpec]:
    """Configured request templates, then one synthesised request per simple API operation."""
    chosen = list(ctx.settings.requests)
    covered = {(spec.method, spec.path) for spec in chosen}
    for method, path, operation in operations(ctx.openapi):
        if "{" in path or is_infrastructure(path) or (method, path) in covered:
            continue
        body = _request_body_schema(operation, ctx.openapi or {})
        if method in _MUTATING and body is None and "requestBody" in operation:
            continue  # a body we cannot describe: leave it to templates and the fuzzer
        example = synthesise(body, ctx.openapi or {}) if body is not None else None
        chosen.append(RequestSpec(method=method, path=path, json=example))
    return chosen


@dataclass
class CodeRoutes:
    """The routes static analysis finds in a project: GETs it can send, and the rest."""

    usable: list[RequestSpec] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # "GET /orders/<customer>", "POST /x"

    @property
    def source(self) -> str:
        return "routes found in the code: " + ", ".join(spec.label for spec in self.usable)


def routes_in_code(project_dir: Path) -> CodeRoutes:
    """The HTTP routes ``prodready scan`` finds in the project's Python files (test modules
    left out): GETs without path parameters, other than health and metrics endpoints, are
    requests the probe can send without an OpenAPI document."""
    from prodready.engine.discovery import Discovery
    from prodready.engine.pipeline import FileAnalyzer
    from prodready.model import ConfigError, FileKind, Profile, UsageError

    found = CodeRoutes()
    try:
        sources = Discovery(project_dir).files([project_dir])
    except (OSError, UsageError, ConfigError):
        return found
    analyzer = FileAnalyzer([], Profile())  # no rules: only the facts, routes among them
    python = [source for source in sources if source.kind is FileKind.PYTHON]
    seen: set[tuple[str, str]] = set()
    for source in python[:_MAX_ROUTE_FILES]:
        facts = analyzer.analyze(source).facts
        if facts is None or facts.is_test:
            continue
        for route in facts.routes:
            path = route.path
            if not path:
                continue
            path = path if path.startswith("/") else f"/{path}"
            for method in route.methods or ["GET"]:
                if method not in ("GET", *_MUTATING) or (method, path) in seen:
                    continue
                if is_infrastructure(path):
                    continue
                seen.add((method, path))
                if method == "GET" and not _PATH_PARAMETER.search(path):
                    found.usable.append(RequestSpec(method="GET", path=path))
                else:
                    found.left_out.append(f"{method} {path}")
    return found


def choose_traffic(ctx: ProbeContext) -> None:
    """What the probe repeats where it sends many requests (load, a burst, requests in flight
    at shutdown): the candidates that answered 2xx and can be repeated; else a health endpoint
    that answers; else ``GET /`` if it answers 2xx. Nothing, with the reason, when no request
    is known that the service answers with 2xx: a 404 for a path the service never declared
    says nothing about its latency or its shutdown."""
    healthy = [spec for spec in ctx.candidates if spec in ctx.healthy]
    if healthy:
        ctx.traffic, ctx.traffic_from = healthy, ctx.requests_from
        return
    health = ctx.liveness or ctx.readiness
    unanswered = f"no request from {ctx.requests_from} answered 2xx" if ctx.candidates else ""
    if health is not None:
        kind = "liveness" if health == ctx.liveness else "readiness"
        ctx.traffic = [RequestSpec("GET", health)]
        ctx.traffic_from = f"the {kind} endpoint" + (f" ({unanswered})" if unanswered else "")
        return
    if ctx.get("/", timeout=3.0).ok:
        ctx.traffic = [RequestSpec("GET", "/")]
        ctx.traffic_from = "GET /, which answered 2xx" + (f" ({unanswered})" if unanswered else "")
        return
    ctx.traffic, ctx.traffic_from = [], ""
    reason = no_traffic_reason(ctx.settings)
    ctx.no_traffic = f"{reason} ({unanswered})" if unanswered else reason


def _request_body_schema(operation: dict[str, Any], document: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {})
    content = _resolve(content, document).get("content", {})
    media = content.get("application/json")
    if not isinstance(media, dict):
        return None
    return media.get("schema")


def _resolve(node: Any, document: dict[str, Any]) -> Any:
    for _ in range(20):  # bounded: a $ref chain may loop
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


def synthesise(schema: Any, document: dict[str, Any], depth: int = 0) -> Any:
    """A small valid instance: examples and defaults first, then the simplest value per type."""
    schema = _resolve(schema, document)
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list) and schema[combinator]:
            return synthesise(schema[combinator][0], document, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = schema.get("required", list(properties))
        return {
            name: synthesise(properties.get(name, {}), document, depth + 1)
            for name in required
            if name in properties
        }
    if kind == "array":
        minimum = int(schema.get("minItems", 0))
        return [synthesise(schema.get("items", {}), document, depth + 1) for _ in range(minimum)]
    if kind == "integer":
        return int(_number(schema, 1))
    if kind == "number":
        return float(_number(schema, 1.0))
    if kind == "boolean":
        return True
    if kind == "string":
        return _string(schema)
    return None


def _number(schema: dict[str, Any], fallback: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    if isinstance(low, int | float) and not isinstance(low, bool):
        return low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    high = schema.get("maximum")
    if isinstance(high, int | float) and not isinstance(high, bool) and high < fallback:
        return high
    return fallback


def _string(schema: dict[str, Any]) -> str:
    formats = {
        "email": "probe@example.com",
        "uuid": "00000000-0000-4000-8000-000000000000",
        "date": "2026-01-01",
        "date-time": "2026-01-01T00:00:00Z",
        "uri": "https://example.com/",
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]
    pattern = schema.get("pattern")
    value = "probe"
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None:
            matching = (word for word in _PATTERN_GUESSES if compiled.search(word))
            value = next(matching, value)
    minimum = int(schema.get("minLength", 1))
    maximum = int(schema.get("maxLength", max(minimum, len(value))))
    while len(value) < minimum:
        value += "x"
    return value[:maximum]


def discover_dependents(
    ctx: ProbeContext,
) -> tuple[dict[str, list[RequestSpec]], list[RequestSpec]]:
    """Send each candidate: which dependency each reaches, and which can be repeated.

    A write counts as repeatable when a second, fresh request (a new Idempotency-Key) also
    answers 2xx: creating a payment is, creating the account with a fixed id is not (409).
    Only repeatable requests are used where the probe sends many (load, shutdown).
    """
    dependent: dict[str, list[RequestSpec]] = {name: [] for name in ctx.deps}
    healthy: list[RequestSpec] = []
    for spec in ctx.candidates[:_MAX_DISCOVERY_REQUESTS]:
        before = ctx.upstream_requests()
        headers = ctx.idempotency_headers() if spec.method in _MUTATING else None
        ok = ctx.send(spec, headers=headers, timeout=5.0).ok
        if ok and spec.method in _MUTATING:
            ok = ctx.send(spec, headers=ctx.idempotency_headers(), timeout=5.0).ok
        if ok:
            healthy.append(spec)
        after = ctx.upstream_requests()
        for name, count in after.items():
            if count > before.get(name, 0):
                dependent[name].append(spec)
    return dependent, healthy
