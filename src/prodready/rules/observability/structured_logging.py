"""Observability: a service without structured logging (OBS005, project rule)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    Mark,
    ModuleEnd,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import dotted
from prodready.rules._service import (
    _APP_CALLS,
    _EXTERNAL_CONFIG_WORDS,
    _NOT_SERVICE_DIRS,
    _STRUCTURED_LOGGING,
    Found,
    _app_components,
    _apps,
    _confidence,
    _evidence,
    _in_dirs,
    _marks,
    _Modules,
    _source_marks,
    _with_django,
)

_JSON_FORMATTER = re.compile(r"json\w*formatter|formatter\w*json")
_FORMATTER_CLASS = re.compile(r"class\s+\w+\s*\([\w.]*formatter\)")
_LOGURU_SERIALIZE = re.compile(r"serialize\s*=\s*true")
# Logging configured from a file the scan cannot read: its formatters are unknown.
_EXTERNAL_LOG_CONFIG = re.compile(
    r"fileconfig\s*\(|log_config\s*=\s*[\"']|logconfig\s*=\s*[\"']|--log-config"
)
_LOG_SETUP_CALLS = ("logging.basicConfig", "logging.config.dictConfig", "loguru.logger.add")


def _logging_marks(module: ast.Module, ctx: PythonContext) -> Found | None:
    source = ctx.source
    found = (
        _source_marks(ctx, _STRUCTURED_LOGGING, "structured")
        or _source_marks(ctx, ("formatter",), "structured", _JSON_FORMATTER)
        or (
            _source_marks(ctx, ("json.dumps",), "structured", _FORMATTER_CLASS)
            if "Formatter" in source
            else None
        )
        or _source_marks(ctx, ("loguru",), "structured", _LOGURU_SERIALIZE)
        or []
    )
    found += _source_marks(ctx, _EXTERNAL_CONFIG_WORDS, "external", _EXTERNAL_LOG_CONFIG) or []
    if "dictConfig" in source:
        for call in (node for node in ast.walk(module) if isinstance(node, ast.Call)):
            if (dotted(call.func) or "").endswith("dictConfig") and call.args:
                config = call.args[0]
                visible = isinstance(config, ast.Dict | ast.Attribute) or (
                    isinstance(config, ast.Name) and config.id in ctx.facts.mutable_globals
                )
                if not visible:  # loaded from YAML/JSON, or passed in: formatters unknown
                    found.append(Mark.of("external", call.lineno))
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "LOGGING" for target in statement.targets
        ):
            found.append(Mark.of("logging-setting", statement.lineno))
    return found


@project_rule(
    nodes=(ModuleEnd,),
    collect=_with_django(_logging_marks),
    code="OBS005",
    name="no-structured-logging",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Web service that never configures structured (JSON) logging",
    calls=(*_APP_CALLS, *_LOG_SETUP_CALLS),
    fix="Configure a JSON formatter once at startup (python-json-logger, structlog).",
)
def no_structured_logging(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a web service in which no code configures structured logging: no `structlog`, no
    `python-json-logger` / `json-log-formatter` / `ecs-logging` formatter (imported, or named
    in a `dictConfig` / Django `LOGGING` dict), no custom `logging.Formatter` subclass that
    emits JSON, no `loguru` sink with `serialize=True`, no cloud logging handler. Reported at
    the logging setup (`basicConfig`, `dictConfig`, `LOGGING`) if there is one, else at the app
    object. Logging configured from a file (`fileConfig`, a YAML `dictConfig`, uvicorn
    `--log-config`) cannot be inspected and is given the benefit of the doubt.

    ## Why it breaks production
    Log pipelines (Loki, Elasticsearch, Cloud Logging, Datadog) index fields. Plain text lines
    cannot be filtered by level, logger, request id or user without fragile regexes,
    multi-line tracebacks are split into unrelated events, and the `extra={...}` context the
    code carefully attaches is dropped by the default formatter. During an incident nobody can
    answer "which requests of this customer failed".

    ## Example
    ```python
    logging.basicConfig(level=logging.INFO)
    app = FastAPI()
    ```

    ## Use instead
    ```python
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    app = FastAPI()
    ```
    """
    apps = [app for app, _ in _app_components(_apps(project, "OBS005"), _Modules(project), project)]
    if not apps:
        return
    evidence = _evidence(project, "OBS005")
    if _marks(evidence, "structured", "external"):
        return
    setups = [
        item
        for item in evidence
        if (item.name in _LOG_SETUP_CALLS or item.kind == "logging-setting")
        and not _in_dirs(item.path, _NOT_SERVICE_DIRS)
    ]
    where = setups[0] if setups else Evidence(apps[0].path, "", apps[0].line)
    ctx.report(
        where.path,
        where.line,
        "the service never configures structured logging: plain-text lines cannot be "
        "searched by level, request id or customer, and `extra` fields are dropped. Configure "
        "a JSON formatter once at startup (python-json-logger, structlog)",
        confidence=_confidence(project),
    )
