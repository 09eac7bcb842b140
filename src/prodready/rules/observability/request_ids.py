"""Observability: a service without request ids (OBS006, project rule)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.rules._service import (
    _APP_CALLS,
    _REQUEST_ID_WORDS,
    Found,
    _confidence,
    _evidence,
    _marks,
    _server_apps,
    _source_marks,
    _with_django,
)

# Confirms the words above as names (not ``approval_request_id`` or ``guide``).
_REQUEST_ID = re.compile(
    r"correlation|(?<![a-z0-9_])(?:request|req|trace)[_-]?id(?![a-z0-9_])|requestid"
    r"|(?<![a-z0-9_])guid(?![a-z0-9])|django_guid|traceparent|x-amzn-trace-id"
    r"|x-cloud-trace-context|opentelemetry|ddtrace|elasticapm|newrelic|aws_xray_sdk|opencensus"
)


def _request_id_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    return _source_marks(ctx, _REQUEST_ID_WORDS, "request-id", _REQUEST_ID)


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_request_id_marks),
    code="OBS006",
    name="no-request-id",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Web service with no request/correlation id propagated into its logs",
    calls=_APP_CALLS,
    fix="Add request-id middleware (asgi-correlation-id, django-guid) and log the id.",
)
def no_request_id(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service with no request or correlation id anywhere: no middleware package
    (`asgi-correlation-id`, `django-guid`, `django-log-request-id`, `flask-request-id`,
    `starlette-context` plugins), no code that reads or sets an `X-Request-ID` /
    `X-Correlation-ID` / `traceparent` header or binds a `request_id`, and no tracing
    (OpenTelemetry, Datadog, New Relic, Elastic APM, X-Ray) that stamps trace ids. Detection is
    by name anywhere in service code, so a custom middleware is recognised by its header or
    `request_id` variable. Reported at the app object.

    ## Why it breaks production
    One user action fans out into many log lines across workers, retries and downstream
    services. Without an id that ties them together, debugging a failed request means
    guessing by timestamp in interleaved logs from concurrent requests; support cannot hand
    engineering an id from the error page, and a gateway's request id is lost at the first hop.

    ## Example
    ```python
    app = FastAPI()
    app.include_router(orders.router)
    ```

    ## Use instead
    ```python
    from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware

    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)  # reads/sets X-Request-ID
    handler.addFilter(CorrelationIdFilter())  # and puts it on every log record
    ```
    """
    apps = _server_apps(project, ctx, "OBS006")
    if not apps:
        return
    if _marks(_evidence(project, "OBS006"), "request-id"):
        return
    app = apps[0]
    ctx.report(
        app.path,
        app.line,
        f"this {app.kind} service never sets or propagates a request/correlation id: the log "
        "lines of one request cannot be tied together across workers and services. Add "
        "request-id middleware (asgi-correlation-id, django-guid) and include the id in logs",
        confidence=_confidence(project),
    )
