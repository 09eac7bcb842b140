"""State: framework caches, sessions and rate limits configured to live in one process or on
the container's disk (STA008)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant_str, keyword_value

# -- STA008 ---------------------------------------------------------------------------------------

# Django cache backends whose entries live in the worker's memory or on its local disk.
_DJANGO_LOCAL_BACKENDS = {
    "django.core.cache.backends.locmem.LocMemCache": "in each worker's memory",
    "django.core.cache.backends.filebased.FileBasedCache": "on each container's local disk",
}
# Flask-Caching / cachelib types with the same property.
_FLASK_LOCAL_CACHE_TYPES = {
    "simple": "in each worker's memory",
    "simplecache": "in each worker's memory",
    "flask_caching.backends.simplecache": "in each worker's memory",
    "filesystem": "on each container's local disk",
    "filesystemcache": "on each container's local disk",
}
# Flask-Session types that keep the session server-side in the process or on local disk.
_FLASK_LOCAL_SESSION_TYPES = {"filesystem": "on each container's local disk"}
_LIMITERS = frozenset({"flask_limiter.Limiter", "flask_limiter.extension.Limiter"})
_LIMITERS |= {"slowapi.Limiter", "slowapi.extension.Limiter"}
_MEMORY_CACHES = frozenset(
    {"fastapi_cache.backends.inmemory.InMemoryBackend", "aiocache.SimpleMemoryCache"}
    | {"aiocache.backends.memory.SimpleMemoryCache", "cachetools_async.TTLCache"}
)

# A module that configures the rate limiter's storage for the whole application (Flask config
# RATELIMIT_STORAGE_URI, or init_app(storage_uri=...)).
LIMITER_STORAGE_CONFIGURED = ProjectFact(
    "state:limiter-storage-configured",
    "the application configures its rate limiter's storage (RATELIMIT_STORAGE_URI)",
)


# The project's own launcher starts the server as one process (``uvicorn.run(app)`` or
# ``uvicorn.Config(...)`` without ``workers``, outside a ``__main__`` block and not reloading):
# what one process keeps in memory is what the whole server keeps.
SINGLE_PROCESS_SERVER = ProjectFact(
    "launch:single-process-server",
    "the project's launcher starts its server as a single process (uvicorn without workers)",
)
_LAUNCHERS = frozenset(
    {"uvicorn.run", "uvicorn.main.run", "uvicorn.Config", "uvicorn.config.Config"}
)


def _single_process_launch(node: ast.Call, ctx: PythonContext) -> bool:
    workers = keyword_value(node, "workers")
    if workers is not None and not (isinstance(workers, ast.Constant) and workers.value == 1):
        return False
    reload = keyword_value(node, "reload")
    if isinstance(reload, ast.Constant) and reload.value is True:
        return False  # a development server
    if any(keyword.arg is None for keyword in node.keywords):
        return False  # ``**options``: the workers may be among them
    parent = ctx.parent(node)
    while parent is not None:
        if isinstance(parent, ast.If) and "__main__" in ctx.segment(parent.test):
            return False  # ``python app.py`` for a local run, not how it is deployed
        parent = ctx.parent(parent)
    return True


def _settings_key(node: ast.AST) -> str | None:
    """``CACHE_TYPE`` for ``CACHE_TYPE = ...``, ``app.config["CACHE_TYPE"] = ...``, a
    ``{"CACHE_TYPE": ...}`` dict entry (the caller passes the key node)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Subscript):
        return constant_str(node.slice)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


_LOCAL_SETTINGS_NAMES = ("dev", "local", "development", "debug")


def _conditional(node: ast.AST, ctx: PythonContext) -> bool:
    """The setting sits in an ``if`` or ``try`` branch (a fallback for one environment) or in
    a settings module for local runs (``settings/dev.py``, ``local_settings.py``)."""
    stem = ctx.path.rsplit("/", 1)[-1].removesuffix(".py").lower()
    if any(stem == word or stem.startswith(word + "_") for word in _LOCAL_SETTINGS_NAMES):
        return True
    parent = ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.Module):
        if isinstance(parent, ast.If | ast.Try | ast.IfExp):
            return True
        parent = ctx.parent(parent)
    return False


@python_rule(
    code="STA008",
    name="per-process-framework-store",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Framework cache, session or rate-limit storage kept in one process or on local disk",
    calls=(
        "flask_limiter.Limiter",
        "flask_limiter.extension.Limiter",
        "slowapi.Limiter",
        "slowapi.extension.Limiter",
        "fastapi_cache.backends.inmemory.InMemoryBackend",
        "aiocache.SimpleMemoryCache",
        "aiocache.backends.memory.SimpleMemoryCache",
        *_LAUNCHERS,
    ),
    nodes=(ast.Assign, ast.Dict),
    fix="Point the store at a shared service: Django CACHES at Redis or Memcached, "
    "CACHE_TYPE='RedisCache', SESSION_TYPE='redis', Limiter(storage_uri='redis://...').",
)
def per_process_framework_store(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags the framework settings that keep shared data inside one worker process or on the
    container's local disk: Django `CACHES` with `LocMemCache` or `FileBasedCache`, Flask-Caching
    `CACHE_TYPE` `SimpleCache`/`FileSystemCache`, Flask-Session `SESSION_TYPE = "filesystem"`,
    a Flask-Limiter or slowapi `Limiter` with no `storage_uri` (its default is `memory://`) or
    an explicit `memory://`, fastapi-cache's `InMemoryBackend` and aiocache's
    `SimpleMemoryCache`. A setting inside an `if`/`try` (a fallback for local runs) is low.
    Not reported when the project's own launcher starts its server as one process
    (`uvicorn.run(...)`/`uvicorn.Config(...)` without `workers`, not reloading, outside a
    `__main__` block): one process's memory is then the server's.

    ## Why it breaks production
    Production runs several worker processes on several replicas. A rate limit kept in memory
    is enforced per process: with 4 workers on 3 pods, "5 login attempts per minute" allows
    60. Django's default cache also backs DRF throttling, cached sessions and
    `cache.add()`-based locks and deduplication -- each worker has its own, so locks lock
    nothing and a user's cached session exists on one worker only. Invalidating a cached
    value on one worker leaves the others serving the stale copy, and everything is lost on
    each deploy. File-based stores have the same problem per container.

    ## Example
    ```python
    limiter = Limiter(get_remote_address, app=app, default_limits=["100/hour"])

    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ```

    ## Use instead
    ```python
    limiter = Limiter(get_remote_address, app=app, storage_uri=os.environ["REDIS_URL"])

    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
    }
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.Call):
        _check_call(node, ctx)
    elif isinstance(node, ast.Assign):
        _check_assignment(node, ctx)
    else:
        assert isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True):
            if key is not None:
                _check_setting(_settings_key(key), value, ctx)


def _check_call(node: ast.Call, ctx: PythonContext) -> None:
    name = ctx.call_name or ""
    if name in _LAUNCHERS:
        if _single_process_launch(node, ctx):
            ctx.establish(SINGLE_PROCESS_SERVER)
        return
    if name in _LIMITERS:
        storage = keyword_value(node, "storage_uri")
        if storage is None:
            if "RATELIMIT_STORAGE" in ctx.source:
                ctx.establish(LIMITER_STORAGE_CONFIGURED)
                return
            _report(
                node,
                "a rate Limiter without storage_uri (its default is memory://)",
                "in each worker's memory",
                ctx,
                unless=LIMITER_STORAGE_CONFIGURED,
            )
        elif (constant_str(storage) or "").startswith("memory://"):
            _report(storage, "a rate Limiter on memory://", "in each worker's memory", ctx)
    elif name in _MEMORY_CACHES:
        _report(node, f"{name.rsplit('.', 1)[-1]}()", "in each worker's memory", ctx)


def _check_assignment(node: ast.Assign, ctx: PythonContext) -> None:
    for target in node.targets:
        key = _settings_key(target)
        if key in {"RATELIMIT_STORAGE_URI", "RATELIMIT_STORAGE_URL"}:
            if (constant_str(node.value) or "").startswith("memory://"):
                _report(node.value, "a rate limit storage on memory://", "", ctx)
            else:
                ctx.establish(LIMITER_STORAGE_CONFIGURED)
        elif key == "CACHES" and isinstance(node.value, ast.Dict):
            for alias in node.value.values:
                if isinstance(alias, ast.Dict):
                    for setting, value in zip(alias.keys, alias.values, strict=True):
                        if setting is not None and constant_str(setting) == "BACKEND":
                            _django_backend(value, ctx)
        else:
            _check_setting(key, node.value, ctx)


def _django_backend(value: ast.expr, ctx: PythonContext) -> None:
    backend = constant_str(value)
    where = _DJANGO_LOCAL_BACKENDS.get(backend or "")
    if backend is not None and where is not None:
        short = backend.rsplit(".", 1)[-1]
        _report(value, f"the Django cache {short}", where, ctx)


def _check_setting(key: str | None, value: ast.expr, ctx: PythonContext) -> None:
    text = (constant_str(value) or "").lower()
    if not text:
        return
    if key == "CACHE_TYPE" and text in _FLASK_LOCAL_CACHE_TYPES:
        _report(value, f"CACHE_TYPE {constant_str(value)!r}", _FLASK_LOCAL_CACHE_TYPES[text], ctx)
    elif key == "SESSION_TYPE" and text in _FLASK_LOCAL_SESSION_TYPES:
        where = _FLASK_LOCAL_SESSION_TYPES[text]
        _report(value, f"SESSION_TYPE {constant_str(value)!r}", where, ctx)


def _report(
    node: ast.AST,
    what: str,
    where: str,
    ctx: PythonContext,
    *,
    unless: ProjectFact | tuple[ProjectFact, ...] = (),
) -> None:
    place = where or "in each worker's memory"
    low = _conditional(node, ctx)
    given = unless if isinstance(unless, tuple) else (unless,)
    ctx.report(
        node,
        f"{what} keeps its entries {place}: every worker and replica has its own copy "
        "(rate limits multiply by the number of workers, sessions and locks exist on one "
        "worker only, invalidation misses the others) and a deploy loses them. Use Redis or "
        "Memcached" + (" (this looks like a local-run fallback)" if low else ""),
        severity=Severity.LOW if low else None,
        unless=(*given, SINGLE_PROCESS_SERVER),
    )
