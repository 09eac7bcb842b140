"""Observability: a service without metrics (OBS007, project rule)."""

from __future__ import annotations

import ast

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
    _METRICS,
    Found,
    _confidence,
    _evidence,
    _marks,
    _server_apps,
    _source_marks,
    _with_django,
)


def _metrics_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    return _source_marks(ctx, _METRICS, "metrics")


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_metrics_marks),
    code="OBS007",
    name="no-metrics",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Web service with no metrics instrumentation (Prometheus, StatsD, OpenTelemetry)",
    calls=_APP_CALLS,
    fix="Instrument the app (prometheus-fastapi-instrumentator, django-prometheus, OTel).",
)
def no_metrics(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service with no metrics instrumentation anywhere: no `prometheus_client`,
    `prometheus-fastapi-instrumentator`, `starlette-exporter`, `django-prometheus`,
    `prometheus-flask-exporter`, `aioprometheus`, OpenTelemetry metrics or instrumentation,
    StatsD / Datadog, or APM agent (New Relic, Elastic APM), and no `/metrics` route. Error
    trackers such as Sentry do not count: they report exceptions, not rates and latencies.
    Reported at the app object.

    ## Why it breaks production
    Without request rate, error rate and latency per endpoint there is nothing to alert on
    before users complain, no way to tell whether a deploy made things slower, and no data to
    size autoscaling or capacity. Logs can be mined for some of it, expensively and late.

    ## Example
    ```python
    app = FastAPI()
    app.include_router(orders.router)
    ```

    ## Use instead
    ```python
    from prometheus_fastapi_instrumentator import Instrumentator

    app = FastAPI()
    app.include_router(orders.router)
    Instrumentator().instrument(app).expose(app)  # GET /metrics: rate, errors, latency
    ```
    """
    apps = _server_apps(project, ctx, "OBS007")
    if not apps:
        return
    if _marks(_evidence(project, "OBS007"), "metrics"):
        return
    if any((route.path or "").rstrip("/").endswith("/metrics") for _, route in project.routes()):
        return
    app = apps[0]
    ctx.report(
        app.path,
        app.line,
        f"this {app.kind} service exports no metrics: there is no request rate, error rate or "
        "latency to alert on or to compare deploys with. Instrument it "
        "(prometheus-fastapi-instrumentator, django-prometheus, prometheus-flask-exporter, "
        "OpenTelemetry)",
        confidence=_confidence(project),
    )
