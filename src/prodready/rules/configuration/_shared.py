"""Configuration: analysis several configuration rules share."""

from __future__ import annotations

import ast
import re

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.analysis import in_service_code, is_framework_source, is_script

# -- shared -----------------------------------------------------------------------------------

_DEV_SETTINGS = re.compile(
    r"(^|[_.-])(local|dev|devel|development|test|tests|testing|ci|example|sample)([_.-]|$)"
)
_DEV_TEST = re.compile(r"debug|develop|\bdev\b|local|testing|\btest\b", re.IGNORECASE)


def _dev_only_file(ctx: PythonContext) -> bool:
    """``settings/local.py``, ``settings_dev.py``, ``config/test.py``, ``local_settings.py``:
    configuration that is, by its name, not the production one."""
    return ctx.memo(_DEV_ONLY_FILE)


def _dev_settings_name(ctx: PythonContext) -> bool:
    stem = ctx.path.rsplit("/", 1)[-1].removesuffix(".py").lower()
    return bool(_DEV_SETTINGS.search(stem))


_DEV_ONLY_FILE: ModuleMemo[bool] = ModuleMemo("CFG:dev-file", _dev_settings_name)


def _dev_guard(test: ast.expr, ctx: PythonContext) -> bool:
    """``if DEBUG:``, ``if settings.DEBUG``, ``if ENV == "development"``: a dev-only branch."""
    return bool(_DEV_TEST.search(ctx.segment(test)))


_CONFIG_STEMS = re.compile(r"^(settings|config|conf|configuration|env|environment|constants)$")


def _config_or_service_code(ctx: PythonContext) -> bool:
    """Service code, or a configuration module (``settings.py``, ``config.py``,
    ``settings/production.py``) -- not a library, script or test."""
    if ctx.facts.is_test or is_script(ctx) or is_framework_source(ctx):
        return False
    if in_service_code(ctx):
        return True
    parts = ctx.path.lower().split("/")
    stem = parts[-1].removesuffix(".py")
    return bool(_CONFIG_STEMS.match(stem)) or any(p in {"settings", "config"} for p in parts[:-1])


_LOCAL_GATE = re.compile(r"localhost|127\.0\.0\.1|0\.0\.0\.0|::1")
