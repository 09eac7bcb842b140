"""Configuration: settings that are right on a laptop and wrong in production, and the hygiene
of prodready's own configuration (suppressions)."""

from __future__ import annotations

import ast
import re

from prodready.engine.analysis import (
    EnvLookup,
    argument,
    constant_str,
    dotted,
    env_lookup,
    in_service_code,
    is_example_code,
    is_framework_source,
    is_script,
    keyword_value,
    loaded_names,
    log_call,
    module_value,
    runs_consumer,
)
from prodready.engine.documents import FileContext
from prodready.engine.python import ModuleEnd, PythonContext
from prodready.engine.registry import file_rule, python_rule
from prodready.engine.secrets import secret_name
from prodready.engine.suppress import Suppression
from prodready.model import Category, Confidence, Severity


@file_rule(
    kind=None,
    code="CFG900",
    name="suppression-without-reason",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    summary="A `# prodready: ignore` comment that does not say why",
    fix="Add the reason after the codes: # prodready: ignore[RES001] upstream enforces a deadline",
)
def suppression_without_reason(suppression: Suppression, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `# prodready: ignore[...]` comments that give no reason after the rule codes, and
    blanket `# prodready: ignore` comments that name no rule at all.

    ## Why it breaks production
    A suppression is a decision that a production risk is acceptable here. Without the reason,
    nobody reviewing the change -- or the incident it later causes -- can tell a considered
    exception from a silenced warning, and blanket suppressions hide every future finding on
    that line too.

    ## Example
    ```python
    resp = requests.get(url)  # prodready: ignore[RES001]
    ```

    ## Use instead
    ```python
    resp = requests.get(url)  # prodready: ignore[RES001] the session adapter sets a 5 s timeout
    ```
    """
    if not suppression.reason:
        ctx.report(
            suppression.line,
            "suppression without a reason: say why this finding is acceptable here",
        )
    elif not suppression.codes and suppression.whole_file:
        ctx.report(
            suppression.line,
            "file-level suppression names no rule and silences nothing: name the rule codes",
        )
    elif not suppression.codes:
        ctx.report(
            suppression.line,
            "blanket suppression silences every rule on this line: name the rule codes",
        )


@file_rule(
    kind=None,
    code="CFG901",
    name="unknown-rule-in-suppression",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    summary="A suppression names a rule code or name that does not exist",
    fix="Correct the code (`prodready rules` lists them): # prodready: ignore[RES001] reason",
)
def unknown_rule_in_suppression(suppression: Suppression, ctx: FileContext) -> None:
    """
    ## What it does
    Flags rule codes and names in `# prodready: ignore[...]` and `ignore-file[...]` comments
    that name no rule -- a typo such as `RES01` for `RES001` -- and suggests the closest one.
    Codes of another family are left alone: they may be a plugin's rules.

    ## Why it breaks production
    A suppression with a mistyped code suppresses nothing, so the finding it was meant for
    still shows -- or, worse, the author believes a decision is recorded that is not, and the
    next reviewer trusts a comment that does nothing.

    ## Example
    ```python
    resp = requests.get(url)  # prodready: ignore[RES01] the adapter sets a timeout
    ```

    ## Use instead
    ```python
    resp = requests.get(url)  # prodready: ignore[RES001] the adapter sets a timeout
    ```
    """
    for wanted, closest in suppression.unknown:
        hint = f"did you mean {closest}?" if closest else "`prodready rules` lists the rules"
        ctx.report(suppression.line, f"suppression names an unknown rule {wanted!r}: {hint}")


@file_rule(
    kind=None,
    code="CFG902",
    name="unused-suppression",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    summary="A suppression for a rule that reports nothing there",
    fix="Delete the suppression, or the codes in it that no longer match a finding",
)
def unused_suppression(suppression: Suppression, ctx: FileContext) -> None:
    """
    ## What it does
    Flags rule codes in `# prodready: ignore[...]` and `ignore-file[...]` comments for rules
    that ran and found nothing to suppress there (like Ruff's RUF100 for unused `noqa`).
    Rules that are not selected in this run, and rules that judge the whole project
    (dependency rules), are not judged.

    ## Why it breaks production
    A stale suppression is a hole waiting for a bug: when the code changes, the next real
    finding on that line is silenced without anyone deciding so. Unused suppressions also
    teach readers that suppressions are noise.

    ## Example
    ```python
    resp = requests.get(url, timeout=5)  # prodready: ignore[RES001] legacy client
    ```

    ## Use instead
    ```python
    resp = requests.get(url, timeout=5)
    ```
    """
    if suppression.unused:
        codes = ", ".join(suppression.unused)
        where = "in this file" if suppression.whole_file else "here"
        ctx.report(suppression.line, f"unused suppression: {codes} reports nothing {where}")


# -- shared -----------------------------------------------------------------------------------

_DEV_SETTINGS = re.compile(
    r"(^|[_.-])(local|dev|devel|development|test|tests|testing|ci|example|sample)([_.-]|$)"
)
_DEV_TEST = re.compile(r"debug|develop|\bdev\b|local|testing|\btest\b", re.IGNORECASE)


def _dev_only_file(ctx: PythonContext) -> bool:
    """``settings/local.py``, ``settings_dev.py``, ``config/test.py``, ``local_settings.py``:
    configuration that is, by its name, not the production one."""
    cached = ctx.module_state.get("CFG:dev-file")
    if cached is None:
        stem = ctx.path.rsplit("/", 1)[-1].removesuffix(".py").lower()
        cached = ctx.module_state["CFG:dev-file"] = bool(_DEV_SETTINGS.search(stem))
    return bool(cached)


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


# -- CFG001 -----------------------------------------------------------------------------------

_LOCAL_HOSTS = r"(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|0\.0\.0\.0|\[::1\])"
_LOCAL_URL = re.compile(
    rf"^[a-z][a-z0-9+.-]*://([^/@\s]*@)?{_LOCAL_HOSTS}(?=[:/?#]|$)", re.IGNORECASE
)
_LOCAL_DSN = re.compile(rf"(^|\s)host={_LOCAL_HOSTS}(\s|$)")
_BARE_HOST = re.compile(rf"^{_LOCAL_HOSTS}(:\d+)?$|^::1$", re.IGNORECASE)
_LOCAL_GATE = re.compile(r"localhost|127\.0\.0\.1|0\.0\.0\.0|::1")
# Clients whose host argument names a dependency (not a listen address).
_CLIENT_HOST_ARGS: dict[str, int | None] = {
    "redis.Redis": 0,
    "redis.StrictRedis": 0,
    "redis.asyncio.Redis": 0,
    "redis.ConnectionPool": None,
    "redis.asyncio.ConnectionPool": None,
    "psycopg2.connect": None,
    "psycopg.connect": None,
    "psycopg.AsyncConnection.connect": None,
    "asyncpg.connect": None,
    "asyncpg.create_pool": None,
    "aiomysql.connect": None,
    "aiomysql.create_pool": None,
    "pymysql.connect": None,
    "MySQLdb.connect": None,
    "mysql.connector.connect": None,
    "pymongo.MongoClient": 0,
    "motor.motor_asyncio.AsyncIOMotorClient": 0,
    "pika.ConnectionParameters": 0,
    "kafka.KafkaProducer": None,
    "kafka.KafkaConsumer": None,
    "aiokafka.AIOKafkaProducer": None,
    "aiokafka.AIOKafkaConsumer": None,
    "elasticsearch.Elasticsearch": 0,
    "smtplib.SMTP": 0,
    "smtplib.SMTP_SSL": 0,
    "pymemcache.client.base.Client": 0,
    "memcache.Client": 0,
    "cassandra.cluster.Cluster": 0,
    "clickhouse_driver.Client": 0,
}
_HOST_KEYWORDS = frozenset(
    {"host", "hosts", "hostname", "bootstrap_servers", "server", "servers", "contact_points"}
)
_HOST_KEYS = frozenset({"host", "HOST", "hostname", "bootstrap.servers", "bootstrap_servers"})
_DEPENDENCY_WORD = re.compile(
    r"^(db|database|postgres\w*|pg|mysql|maria\w*|redis|mongo\w*|rabbit\w*|amqp|kafka|broker"
    r"|cache|memcache\w*|elastic\w*|es|smtp|email|mail|celery|queue|mq|nats|cassandra"
    r"|clickhouse)$"
)
_HOST_WORDS = frozenset({"host", "hostname", "server", "servers", "addr", "address"})


def _dependency_host_name(name: str | None) -> bool:
    """``DB_HOST``, ``redis_host``, ``KAFKA_BOOTSTRAP_SERVERS``: the address of a dependency
    (``HOST`` alone is usually the listen address)."""
    tokens = [token for token in (name or "").lower().split("_") if token]
    if len(tokens) < 2 or tokens[-1] not in _HOST_WORDS:
        return False
    return any(_DEPENDENCY_WORD.match(token) for token in tokens[:-1])


# Where a localhost URL is a description or an allow-list entry, not a dependency.
_NOT_A_DEPENDENCY = re.compile(
    r"origin|cors|allowed_hosts|internal_ips|csrf|trusted|help|description|example|summary"
    r"|title|^docs?$|docs_url|message|msg",
    re.IGNORECASE,
)
_MESSAGE_CALLS = re.compile(
    r"(^|\.)(print|echo|secho|warn|warning|info|debug|error|exception|critical|log"
    r"|startswith|endswith|replace|split|strip|removeprefix|removesuffix|format|join|"
    r"[A-Za-z]*(Error|Exception|Warning))$"
)
_CONTAINERS = (
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.BinOp,
    ast.Starred,
)


class _LocalCandidate:
    __slots__ = ("bare", "node")

    def __init__(self, node: ast.Constant, bare: bool) -> None:
        self.node = node
        self.bare = bare


@python_rule(
    code="CFG001",
    name="hardcoded-localhost-url",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    summary="Dependency address hardcoded to localhost: wrong as soon as it runs in a container",
    nodes=(ast.Constant, ModuleEnd),
    fix="Read the address from configuration (an environment variable without a localhost "
    "default) and fail at startup when it is missing.",
)
def hardcoded_localhost_url(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags URLs and hosts that point at the local machine (`localhost`, `127.0.0.1`,
    `0.0.0.0`, `::1`) used as the address of a dependency: connection strings
    (`postgresql://user@localhost/db`, `redis://127.0.0.1:6379/0`), service base URLs, and
    `host="localhost"` given to database, cache and broker clients. As the default of an
    environment lookup or a settings field it is reported at low severity. Listen addresses
    (`app.run(host="127.0.0.1")`), CORS/allowed-host lists, log messages, docstrings,
    `__main__` blocks, scripts, tests and dev/local/test settings files are skipped.

    ## Why it breaks production
    In a container, `localhost` is the container itself: the database, Redis or sibling
    service is not there, so the service fails to connect -- or, worse, a silent fallback
    default makes a missing environment variable look like a connection problem at 3 a.m.
    rather than a configuration error at deploy time.

    ## Example
    ```python
    engine = create_engine("postgresql://app:app@localhost:5432/orders")
    cache = redis.Redis(host="localhost", port=6379)
    ```

    ## Use instead
    ```python
    engine = create_engine(os.environ["DATABASE_URL"])  # fails fast when unset
    cache = redis.Redis.from_url(os.environ["REDIS_URL"])
    ```
    """
    gate = ctx.module_state.get("CFG001:gate")
    if gate is None:
        gate = ctx.module_state["CFG001:gate"] = bool(_LOCAL_GATE.search(ctx.source))
    if not gate:
        return
    candidates: list[_LocalCandidate] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Constant):
        value = node.value
        if (
            isinstance(value, str)
            and len(value) < 300
            and (_BARE_HOST.match(value) or _LOCAL_URL.match(value) or _LOCAL_DSN.search(value))
        ):
            candidates.append(_LocalCandidate(node, bool(_BARE_HOST.match(value))))
        return
    # ModuleEnd: imports and routes are complete, so the module's kind is known.
    if not candidates:
        return
    if ctx.facts.is_test or is_script(ctx) or is_framework_source(ctx) or _dev_only_file(ctx):
        return
    if is_example_code(ctx):
        return
    parents = ctx.parents()
    for candidate in candidates:
        verdict = _localhost_use(candidate, parents, ctx)
        if verdict is None:
            continue
        text = str(candidate.node.value)
        if verdict == "fallback":
            ctx.report(
                candidate.node,
                f"'{text}' is a fallback default: when the setting is missing in production the "
                "service silently talks to localhost. Require the variable instead (fail at "
                "startup)",
                severity=Severity.LOW,
                confidence=Confidence.MEDIUM,
            )
        else:
            ctx.report(
                candidate.node,
                f"'{text}' is hardcoded: in a container localhost is the container itself, so "
                "this dependency is unreachable in production. Read it from configuration",
            )


def _localhost_use(
    candidate: _LocalCandidate, parents: dict[int, ast.AST], ctx: PythonContext
) -> str | None:
    """How a localhost literal is used: "hardcoded", "fallback", or None (not a dependency)."""
    child: ast.AST | None = candidate.node
    parent = parents.get(id(child))
    while True:
        if isinstance(parent, _CONTAINERS):
            pass
        elif isinstance(parent, ast.keyword) and _is_dict_call(parents.get(id(parent)), ctx):
            # dict(broker_url="redis://localhost"): a mapping entry, like a dict literal's
            if parent.arg is not None and _NOT_A_DEPENDENCY.search(parent.arg):
                return None
            if candidate.bare and parent.arg not in _HOST_KEYS:
                return None
            child, parent = parent, parents.get(id(parent))
        elif isinstance(parent, ast.IfExp):
            if child is parent.test or _dev_guard(parent.test, ctx):
                return None  # "a if DEBUG else b": a dev-only value
        elif isinstance(parent, ast.Dict) and child in parent.values:
            key = constant_str(parent.keys[parent.values.index(child)])
            if key is not None and _NOT_A_DEPENDENCY.search(key):
                return None
            if key in _HOST_KEYS:  # {"HOST": "localhost"}: a connection setting
                return _in_dev_branch(parent, parents, ctx, "hardcoded")
            if candidate.bare:
                return None
        else:
            break
        child, parent = parent, parents.get(id(parent))
    if parent is None or isinstance(parent, ast.Expr | ast.Compare | ast.Dict):
        return None  # docstring, comparison, dict key
    if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or):
        if parent.values and parent.values[-1] is child and env_lookup(parent.values[0], ctx):
            return _in_dev_branch(parent, parents, ctx, "fallback")
        return None
    if isinstance(parent, ast.keyword):
        call = parents.get(id(parent))
        if parent.arg is None or _NOT_A_DEPENDENCY.search(parent.arg):
            return None
        if not isinstance(call, ast.Call):
            return None
        return _call_use(call, child, parent.arg, candidate, parents, ctx)
    if isinstance(parent, ast.Call):
        if child is parent.func:
            return None  # "http://localhost".format(...): judged through the caller
        return _call_use(parent, child, None, candidate, parents, ctx)
    if isinstance(parent, ast.Assign | ast.AnnAssign):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        names = [dotted(target) or "" for target in targets]
        if any(_NOT_A_DEPENDENCY.search(name) for name in names):
            return None
        if candidate.bare and not any(_dependency_host_name(n) for n in names):
            return None
        owner = parents.get(id(parent))
        if isinstance(owner, ast.ClassDef) and any(
            (dotted(base) or "").endswith("Settings") for base in owner.bases
        ):
            return "fallback"  # a settings field default, overridable from the environment
        return _in_dev_branch(parent, parents, ctx, "hardcoded")
    if isinstance(parent, ast.arguments):
        return None if candidate.bare else "fallback"  # a parameter default
    if isinstance(parent, ast.Return) and not candidate.bare:
        return _in_dev_branch(parent, parents, ctx, "hardcoded")
    return None


def _call_use(
    call: ast.Call,
    child: ast.AST | None,
    keyword_name: str | None,
    candidate: _LocalCandidate,
    parents: dict[int, ast.AST],
    ctx: PythonContext,
) -> str | None:
    callee = ctx.qualname(call.func) or dotted(call.func) or ""
    lookup = env_lookup(call, ctx)
    if lookup is not None:
        if child is not lookup.default:
            return None
        if candidate.bare and not _dependency_host_name(lookup.name):
            return None  # os.getenv("HOST", "0.0.0.0"): a listen address
        return _in_dev_branch(call, parents, ctx, "fallback")
    if _MESSAGE_CALLS.search(callee) or log_call(call, ctx) is not None:
        return None
    method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if method in {"get", "pop", "setdefault"} and len(call.args) > 1 and call.args[1] is child:
        return "fallback"  # config.get("url", "http://localhost:8000")
    if callee.rsplit(".", 1)[-1] == "Field":
        return "fallback"  # pydantic Field(default=...)
    if method in {"from_mapping", "update", "setdefault"} and _ENV_OVERRIDES.search(ctx.source):
        return "fallback"  # app.config defaults, then app.config.from_prefixed_env()
    if candidate.bare:
        position = _CLIENT_HOST_ARGS.get(callee, -1)
        if position == -1:
            return None
        by_keyword = keyword_name in _HOST_KEYWORDS
        by_position = position is not None and position < len(call.args)
        if not by_keyword and not (by_position and call.args[position or 0] is child):
            return None
    elif keyword_name in {"host", "bind", "listen", "servers"}:  # listen address, OpenAPI docs
        return None
    return _in_dev_branch(call, parents, ctx, "hardcoded")


_ENV_OVERRIDES = re.compile(r"\.from_prefixed_env\(|\.from_envvar\(")


def _is_dict_call(node: ast.AST | None, ctx: PythonContext) -> bool:
    return isinstance(node, ast.Call) and ctx.qualname(node.func) == "builtins.dict"


def _in_dev_branch(
    node: ast.AST, parents: dict[int, ast.AST], ctx: PythonContext, verdict: str
) -> str | None:
    """None when the statement sits in an ``if DEBUG:`` / ``if __name__ == "__main__"`` block."""
    child = node
    parent = parents.get(id(node))
    while parent is not None:
        if (
            isinstance(parent, ast.If)
            and child in parent.body
            and (_dev_guard(parent.test, ctx) or "__main__" in ctx.segment(parent.test))
        ):
            return None
        if (
            isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef)
            and parent.name in {"main", "cli"}
            and runs_consumer(parent.body, ctx) is None
        ):
            return None  # a command-line entry point -- unless it is the consumer's loop
        child, parent = parent, parents.get(id(parent))
    return verdict


# -- CFG002 -----------------------------------------------------------------------------------


_PLACEHOLDER_SECRETS = re.compile(r"^\s*$|^\$\{?\w+\}?$|^<[^>]*>$")


def _is_secret_name(name: str | None) -> bool:
    return name is not None and secret_name(name)


def _literal_secret(expr: ast.AST | None) -> str | None:
    value = constant_str(expr)
    if value is None and isinstance(expr, ast.Call) and expr.args:
        # SecretStr("..."), Field("..."), Field(default="...")
        value = constant_str(expr.args[0])
    if value is None and isinstance(expr, ast.Call):
        value = constant_str(keyword_value(expr, "default"))
    if value is None or _PLACEHOLDER_SECRETS.match(value):
        return None
    return value


@python_rule(
    code="CFG002",
    name="secret-with-insecure-default",
    category=Category.CONFIGURATION,
    severity=Severity.HIGH,
    summary="Secret read from the environment with a hardcoded fallback value",
    calls=(
        "os.getenv",
        "os.environ.get",
        "os.environ.setdefault",
        "decouple.*",
        "starlette.config.Config",
        "environ.Env",
        "environ.Env.*",
    ),
    nodes=(ast.AnnAssign, ast.BoolOp),
    fix='Require it: SECRET_KEY = os.environ["SECRET_KEY"] (fails at startup when missing).',
)
def secret_with_insecure_default(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags secrets -- variables named like `SECRET_KEY`, `JWT_SECRET`, `DB_PASSWORD`,
    `API_KEY`, `*_TOKEN` -- read from the environment with a non-empty literal fallback:
    `os.getenv("SECRET_KEY", "dev-secret")`, `os.environ.get(...)`, python-decouple
    `config("API_KEY", default="...")`, django-environ `env("SECRET_KEY", default="...")`,
    `os.getenv("JWT_SECRET") or "changeme"`, and pydantic `BaseSettings` fields such as
    `secret_key: str = "..."`. Dev/local/test settings files and tests are skipped.

    ## Why it breaks production
    When the variable is missing -- a typo in the manifest, a secret not mounted, a new
    environment -- the service does not fail: it starts and runs with a secret that is in the
    repository, in every fork and in the model that wrote it. Anyone can then forge session
    cookies, JWTs and password-reset tokens, or log into the database with the default password.

    ## Example
    ```python
    SECRET_KEY = os.getenv("SECRET_KEY", "django-insecure-dev-key")
    JWT_SECRET = os.environ.get("JWT_SECRET", "changeme")
    ```

    ## Use instead
    ```python
    SECRET_KEY = os.environ["SECRET_KEY"]  # KeyError at startup when missing

    class Settings(BaseSettings):
        jwt_secret: SecretStr  # required: validation fails when unset
    ```
    """
    if ctx.facts.is_test or _dev_only_file(ctx):
        return
    if isinstance(node, ast.Call):
        lookup = env_lookup(node, ctx)
        if lookup is None or not _is_secret_name(lookup.name):
            return
        value = _literal_secret(lookup.default) if lookup.default is not None else None
        if value is None or isinstance(lookup.default, ast.Call):
            return
        _report_secret_default(node, lookup.name or "", ctx, value)
        return
    if isinstance(node, ast.BoolOp):
        if not isinstance(node.op, ast.Or) or len(node.values) != 2:
            return
        lookup = env_lookup(node.values[0], ctx)
        if lookup is None or lookup.default is not None or not _is_secret_name(lookup.name):
            return
        fallback = _literal_secret(node.values[1])
        if constant_str(node.values[1]) is None or fallback is None:
            return
        _report_secret_default(node.values[1], lookup.name or "", ctx, fallback)
        return
    # A settings class field: ``secret_key: str = "..."``.
    if ctx.function is not None or not ctx.classes or not isinstance(node, ast.AnnAssign):
        return
    owner = ctx.classes[-1]
    if not any(base.endswith("BaseSettings") for base in owner.bases):
        return
    if not isinstance(node.target, ast.Name) or not secret_name(node.target.id):
        return
    default = _literal_secret(node.value)
    if default is None:
        return
    _report_secret_default(node, node.target.id, ctx, default)


def _report_secret_default(node: ast.AST, name: str, ctx: PythonContext, value: str) -> None:
    ctx.report(
        node,
        f"{name} falls back to a hardcoded value: if the variable is missing in production "
        "the service runs with a publicly known secret. Make it required and fail at startup",
        secret=value,
    )


# -- CFG003 -----------------------------------------------------------------------------------

_TRUSTED_HOST = (
    "starlette.middleware.trustedhost.TrustedHostMiddleware",
    "fastapi.middleware.trustedhost.TrustedHostMiddleware",
)


def _wildcard(expr: ast.AST | None, ctx: PythonContext) -> ast.AST | None:
    """The ``"*"`` in a host list (or in the default of an environment lookup building it)."""
    if expr is None:
        return None
    if isinstance(expr, ast.Constant):
        value = constant_str(expr)
        if value is not None and "*" in [part.strip() for part in value.split(",")]:
            return expr
        return None
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        for element in expr.elts:
            if constant_str(element) == "*":
                return element
        return None
    if isinstance(expr, ast.Call):
        lookup = env_lookup(expr, ctx)
        if lookup is not None:
            return _wildcard(lookup.default, ctx)
        if isinstance(expr.func, ast.Attribute):  # os.getenv("HOSTS", "*").split(",")
            return _wildcard(expr.func.value, ctx)
        if ctx.qualname(expr.func) in {"builtins.list", "builtins.tuple"} and expr.args:
            return _wildcard(expr.args[0], ctx)
    return None


@python_rule(
    code="CFG003",
    name="allowed-hosts-wildcard",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    summary='ALLOWED_HOSTS / TrustedHostMiddleware accepts any Host header ("*")',
    calls=(*_TRUSTED_HOST, "*.add_middleware", "starlette.middleware.Middleware"),
    nodes=(ast.Assign, ast.AnnAssign),
    fix='List the real hostnames: ALLOWED_HOSTS = os.environ["ALLOWED_HOSTS"].split(",")',
)
def allowed_hosts_wildcard(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags Django settings that set `ALLOWED_HOSTS` to a list containing `"*"` (directly or as
    the default of an environment lookup), and Starlette/FastAPI `TrustedHostMiddleware`
    configured with `allowed_hosts=["*"]`. Assignments in an `if DEBUG:` branch and
    dev/local/test settings files are skipped.

    ## Why it breaks production
    Django builds absolute URLs -- password-reset links, email verification links, redirects --
    from the request's Host header. With `"*"` any Host is accepted, so an attacker can make
    the site email users a reset link pointing at the attacker's domain, and poison caches
    keyed on the host. The host check is the protection; `"*"` switches it off.

    ## Example
    ```python
    DEBUG = False
    ALLOWED_HOSTS = ["*"]
    ```

    ## Use instead
    ```python
    ALLOWED_HOSTS = os.environ["ALLOWED_HOSTS"].split(",")  # e.g. "api.example.com"
    ```
    """
    if isinstance(node, ast.Assign | ast.AnnAssign) and (ctx.function is not None or ctx.classes):
        return
    if ctx.facts.is_test or _dev_only_file(ctx):
        return
    if isinstance(node, ast.Call):
        name = ctx.call_name or ""
        wrapped = name.endswith(".add_middleware") or name == "starlette.middleware.Middleware"
        if wrapped and (not node.args or ctx.qualname(node.args[0]) not in _TRUSTED_HOST):
            return
        star = _wildcard(keyword_value(node, "allowed_hosts"), ctx)
        if star is not None:
            ctx.report(
                star,
                'TrustedHostMiddleware with allowed_hosts=["*"] accepts any Host header and '
                "checks nothing: list the service's real hostnames",
            )
        return
    if ctx.function is not None or ctx.classes or not isinstance(node, ast.Assign | ast.AnnAssign):
        return
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not any(isinstance(t, ast.Name) and t.id == "ALLOWED_HOSTS" for t in targets):
        return
    value = node.value
    if isinstance(value, ast.IfExp) and _dev_guard(value.test, ctx):
        return
    star = _wildcard(value, ctx)
    if star is None or _under_dev_guard(node, ctx):
        return
    ctx.report(
        star,
        'ALLOWED_HOSTS contains "*": any Host header is accepted, so password-reset links and '
        "redirects can be pointed at an attacker's domain. List the real hostnames",
    )


def _under_dev_guard(node: ast.stmt, ctx: PythonContext) -> bool:
    """The module-level statement sits in an ``if DEBUG:`` (or dev environment) branch."""
    pending: list[tuple[ast.stmt, bool]] = [(s, False) for s in ctx.tree.body]
    while pending:
        statement, guarded = pending.pop()
        if statement is node:
            return guarded
        if isinstance(statement, ast.If):
            dev = _dev_guard(statement.test, ctx)
            pending.extend((s, guarded or dev) for s in statement.body)
            pending.extend((s, guarded) for s in statement.orelse)
        elif isinstance(statement, ast.Try | ast.With):
            pending.extend((s, guarded) for s in statement.body)
    return False


# -- CFG004 -----------------------------------------------------------------------------------

_FLAG_NAME = re.compile(
    r"^(DEBUG|TESTING|VERBOSE|DRY_?RUN|MAINTENANCE|OFFLINE)$"
    r"|(^|_)(ENABLE|ENABLED|DISABLE|DISABLED|USE|FEATURE|FLAG|ALLOW|SKIP|IS)(_|$)"
    r"|_(MODE|ON|OFF|DEBUG)$",
    re.IGNORECASE,
)
_CONVERTERS = frozenset(
    {"builtins.str", "builtins.int", "builtins.float", "json.loads", "ast.literal_eval"}
)
_CONVERTER_METHODS = frozenset(
    {"lower", "upper", "strip", "casefold", "strtobool", "str2bool", "to_bool", "parse_bool"}
)


def _env_subscript(expr: ast.AST | None, ctx: PythonContext) -> str | None:
    """``os.environ["X"]`` -> ``"X"``."""
    if isinstance(expr, ast.Subscript) and ctx.qualname(expr.value) == "os.environ":
        return constant_str(expr.slice) or "?"
    return None


def _env_read(expr: ast.AST | None, ctx: PythonContext) -> tuple[str, EnvLookup | None] | None:
    """An uncast read of an environment variable (a string): its name and lookup."""
    if isinstance(expr, ast.Call):
        lookup = env_lookup(expr, ctx)
        if lookup is None or lookup.cast is not None:
            return None
        return lookup.name or "?", lookup
    name = _env_subscript(expr, ctx)
    return (name, None) if name is not None else None


@python_rule(
    code="CFG004",
    name="env-flag-parsed-as-truthy",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    summary='Environment flag tested for truthiness: "false" and "0" are true strings',
    calls=(
        "builtins.bool",
        "os.getenv",
        "os.environ.get",
        "decouple.*",
        "starlette.config.Config",
        "environ.Env",
        *_CONVERTERS,
        *(f"*.{method}" for method in _CONVERTER_METHODS),
    ),
    nodes=(ast.Compare, ast.If, ast.IfExp),
    fix='Parse it explicitly: os.getenv("FLAG", "false").lower() in {"1", "true", "yes"}',
)
def env_flag_parsed_as_truthy(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags environment variables used as booleans without parsing: `bool(os.getenv("X"))`,
    `os.getenv("DEBUG", False)` (a bool default for a string value), `os.getenv("X") == True`,
    and `if os.getenv("ENABLE_X"):` / `if os.environ.get("DISABLE_AUTH"):` for flag-like
    names. `os.getenv("X", "false").lower() in ("1", "true")` and typed readers
    (`env.bool()`, `config(..., cast=bool)`) are fine.

    ## Why it breaks production
    Environment variables are strings. `DEBUG=false`, `DEBUG=0` and `DEBUG=no` are non-empty
    strings, so they are all *true*: the flag meant to turn debug mode or a feature off turns it
    on -- exposing tracebacks and settings, or enabling a half-finished feature -- and a
    `False` default hides the bug until someone sets the variable. `== True` is never true
    for a string, so that flag can never be switched on.

    ## Example
    ```python
    DEBUG = os.getenv("DEBUG", False)
    ENABLE_SIGNUP = bool(os.environ.get("ENABLE_SIGNUP"))
    ```

    ## Use instead
    ```python
    def env_flag(name: str, default: bool = False) -> bool:
        value = os.getenv(name)
        return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}

    DEBUG = env_flag("DEBUG")
    ```
    """
    if ctx.facts.is_test:
        return
    parsed: set[int] = ctx.module_state.setdefault("CFG004:parsed", set())
    if isinstance(node, ast.Call):
        name = ctx.call_name or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name in _CONVERTERS or method in _CONVERTER_METHODS:
            parsed.update(id(arg) for arg in node.args if isinstance(arg, ast.Call))
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
                parsed.add(id(node.func.value))
            return
        if name == "builtins.bool":
            read = _env_read(node.args[0], ctx) if len(node.args) == 1 else None
            if read is not None and _config_or_service_code(ctx):
                parsed.add(id(node.args[0]))
                ctx.report(
                    node,
                    f"bool() of environment variable {read[0]} is True for any non-empty "
                    'string, including "false" and "0": parse the value explicitly',
                )
            return
        if id(node) in parsed:
            return
        lookup = env_lookup(node, ctx)
        if lookup is None or lookup.cast is not None:
            return
        default = lookup.default
        if isinstance(default, ast.Constant) and isinstance(default.value, bool):
            ctx.report(
                node,
                f"{lookup.name or 'this variable'} defaults to {default.value} but is a string "
                f'when set, and "false" is truthy: parse it into a bool explicitly',
            )
        return
    if isinstance(node, ast.Compare):
        if not any(
            isinstance(c, ast.Constant) and isinstance(c.value, bool) for c in node.comparators
        ):
            parsed.update(id(part) for part in (node.left, *node.comparators))
            return
        for part in (node.left, *node.comparators):
            read = _env_read(part, ctx)
            if read is not None:
                parsed.add(id(part))
                ctx.report(
                    node,
                    f"environment variable {read[0]} is a string and never equals True/False: "
                    "parse it into a bool explicitly",
                )
                return
        return
    if isinstance(node, ast.If | ast.IfExp):
        test = node.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test = test.operand
        read = _env_read(test, ctx)
        if read is None or not _FLAG_NAME.search(read[0]) or not _config_or_service_code(ctx):
            return
        lookup = read[1]
        default = lookup.default if lookup is not None else None
        if default is not None and constant_str(default) is None:
            return  # a non-string default: reported at the lookup
        parsed.add(id(test))
        ctx.report(
            node.test,
            f'flag {read[0]} is tested for truthiness: "false" and "0" are non-empty strings and '
            "count as set. Parse it explicitly",
            confidence=Confidence.MEDIUM,
        )


# -- CFG005 -----------------------------------------------------------------------------------

# S3 methods -> position of a positional bucket argument (None: keyword ``Bucket=`` only).
_BUCKET_METHODS: dict[str, int | None] = {
    "put_object": None,
    "get_object": None,
    "head_object": None,
    "delete_object": None,
    "delete_objects": None,
    "copy_object": None,
    "list_objects": None,
    "list_objects_v2": None,
    "upload_file": 1,
    "upload_fileobj": 1,
    "download_file": 0,
    "download_fileobj": 0,
    "Bucket": 0,
    "Object": 0,
}
_QUEUE_METHODS = frozenset(
    {"send_message", "send_message_batch", "receive_message", "delete_message"}
    | {"delete_message_batch", "change_message_visibility", "get_queue_attributes"}
)
_TOPIC_METHODS = frozenset({"publish", "publish_batch"})
_BROKER_CLIENTS: dict[str, tuple[str, int | None]] = {
    # callee -> (keyword, position) of the address argument
    "kafka.KafkaProducer": ("bootstrap_servers", None),
    "kafka.KafkaConsumer": ("bootstrap_servers", None),
    "kafka.KafkaAdminClient": ("bootstrap_servers", None),
    "aiokafka.AIOKafkaProducer": ("bootstrap_servers", None),
    "aiokafka.AIOKafkaConsumer": ("bootstrap_servers", None),
    "pika.ConnectionParameters": ("host", 0),
    "pika.URLParameters": ("url", 0),
    "aio_pika.connect": ("url", 0),
    "aio_pika.connect_robust": ("url", 0),
    "kombu.Connection": ("hostname", 0),
    "celery.Celery": ("broker", None),
    "nats.connect": ("servers", 0),
}
_CONFLUENT_CLIENTS = frozenset(
    {"confluent_kafka.Producer", "confluent_kafka.Consumer", "confluent_kafka.SerializingProducer"}
    | {"confluent_kafka.DeserializingConsumer", "confluent_kafka.admin.AdminClient"}
)
_AWS_NAME = re.compile(r"^https://sqs\.[a-z0-9-]+\.amazonaws\.com/\d+/|^arn:aws:(sqs|sns):")
_PLACEHOLDER = re.compile(r"^\$\{|^<.*>$|^\s*$")


def _infra_literal(expr: ast.AST | None, ctx: PythonContext) -> list[ast.Constant]:
    """The literal strings (direct, in a list, or through a module constant) an address or
    resource name argument is made of; empty when any part comes from configuration."""
    if isinstance(expr, ast.Name):
        expr = module_value(expr.id, ctx)
    if isinstance(expr, ast.List | ast.Tuple):
        parts = [element for element in expr.elts if isinstance(element, ast.Constant)]
        return parts if len(parts) == len(expr.elts) else []
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr]
    return []


def _hardcoded(parts: list[ast.Constant]) -> ast.Constant | None:
    for part in parts:
        text = str(part.value)
        if _PLACEHOLDER.search(text) or _LOCAL_GATE.search(text):
            return None  # a placeholder, or localhost (CFG001)
    return parts[0] if parts else None


@python_rule(
    code="CFG005",
    name="hardcoded-infrastructure-name",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Bucket, queue URL, topic ARN or broker address written into service code",
    calls=(
        *(f"*.{method}" for method in sorted(_BUCKET_METHODS)),
        *(f"*.{method}" for method in sorted(_QUEUE_METHODS | _TOPIC_METHODS)),
        *sorted(_BROKER_CLIENTS),
        *sorted(_CONFLUENT_CLIENTS),
    ),
    nodes=(ModuleEnd,),
    fix='Read it from configuration: Bucket=settings.orders_bucket / os.environ["ORDERS_BUCKET"].',
)
def hardcoded_infrastructure_name(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags infrastructure names written as literals in service code: S3 bucket names given to
    boto3 (`Bucket="prod-orders-data"`, `s3.Bucket("...")`, `upload_file(path, "bucket",
    key)`), SQS queue URLs and SNS/SQS ARNs (`QueueUrl="https://sqs.eu-west-1.amazonaws.com/
    .../orders"`, `TopicArn="arn:aws:sns:..."`), and broker addresses in client constructors
    (Kafka `bootstrap_servers`, confluent-kafka `"bootstrap.servers"`, RabbitMQ hosts and AMQP
    URLs, Celery `broker=`). Localhost addresses are CFG001.

    ## Why it breaks production
    The same code runs in development, staging and production, each with its own buckets,
    queues and clusters. A literal name means staging writes into the production bucket (or
    production into a test one), the account id and region are pinned in code, and moving a
    cluster or renaming a queue needs a code change and a redeploy instead of a configuration
    change -- usually discovered during an incident.

    ## Example
    ```python
    s3.put_object(Bucket="acme-prod-invoices", Key=key, Body=pdf)
    producer = KafkaProducer(bootstrap_servers="kafka-1.prod.internal:9092")
    ```

    ## Use instead
    ```python
    s3.put_object(Bucket=settings.invoices_bucket, Key=key, Body=pdf)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    ```
    """
    pending: dict[int, tuple[ast.Constant, str]] = ctx.rule_state(dict, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if not pending or _dev_only_file(ctx) or not _config_or_service_code(ctx):
            return
        for literal, what in pending.values():
            ctx.report(
                literal,
                f"{what} '{literal.value!s}' is hardcoded: every environment (dev, staging, "
                "production) gets the same one, and changing it needs a redeploy. Read it "
                "from configuration",
            )
        return
    if ctx.facts.is_test or ctx.facts.is_example or ctx.in_main_guard:
        return
    assert isinstance(node, ast.Call)
    found = _infrastructure_argument(node, ctx)
    if found is not None:
        literal, what = found
        pending.setdefault(id(literal), (literal, what))


def _infrastructure_argument(node: ast.Call, ctx: PythonContext) -> tuple[ast.Constant, str] | None:
    name = ctx.call_name or ""
    if name in _BROKER_CLIENTS:
        keyword_name, position = _BROKER_CLIENTS[name]
        literal = _hardcoded(_infra_literal(argument(node, position, keyword_name), ctx))
        return (literal, "broker address") if literal is not None else None
    if name in _CONFLUENT_CLIENTS:
        config = node.args[0] if node.args else keyword_value(node, "conf")
        if isinstance(config, ast.Name):
            config = module_value(config.id, ctx)
        if not isinstance(config, ast.Dict):
            return None
        for key, value in zip(config.keys, config.values, strict=True):
            if constant_str(key) == "bootstrap.servers":
                literal = _hardcoded(_infra_literal(value, ctx))
                return (literal, "broker address") if literal is not None else None
        return None
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    if method in _BUCKET_METHODS:
        position = _BUCKET_METHODS[method]
        receiver = ctx.qualname(func.value) or ""
        if not receiver.startswith(("boto3.", "aioboto3.", "aiobotocore.")):
            position = None  # only the keyword form is boto3's alone
        literal = _hardcoded(_infra_literal(argument(node, position, "Bucket"), ctx))
        return (literal, "S3 bucket") if literal is not None else None
    if method in _QUEUE_METHODS or method in _TOPIC_METHODS:
        keyword_name = "QueueUrl" if method in _QUEUE_METHODS else "TopicArn"
        literal = _hardcoded(_infra_literal(keyword_value(node, keyword_name), ctx))
        if literal is None or not _AWS_NAME.search(str(literal.value)):
            return None
        return literal, ("SQS queue URL" if method in _QUEUE_METHODS else "SNS topic ARN")
    return None


# -- CFG006 -----------------------------------------------------------------------------------

# Names of settings a service cannot run without, and of ones that are optional by design.
_REQUIRED_SETTING = re.compile(
    r"(^|_)(URL|URI|HOST|HOSTNAME|KEY|TOKEN|SECRET|PASSWORD|PASSWD|USER|USERNAME|BUCKET|QUEUE"
    r"|TOPIC|ENDPOINT|DATABASE|DB|REGION|ACCOUNT|ID|ARN|SERVERS|BROKER|WEBHOOK)(_|$)",
    re.IGNORECASE,
)
_OPTIONAL_SETTING = re.compile(
    r"PROXY|SENTRY|DSN|DEBUG|LOG|VERBOSE|OPTIONAL|FLAG|ENABLE|DISABLE|EXTRA|OVERRIDE|TEST"
    r"|DEV|LOCAL|SENTINEL|FALLBACK|DEFAULT|MOCK|FAKE|PROFILE|TRACE|OTEL",
    re.IGNORECASE,
)


@python_rule(
    code="CFG006",
    name="env-read-at-import-without-validation",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Required setting read at import with os.getenv() and used later unchecked (None)",
    nodes=(ast.Assign, ast.AnnAssign, ModuleEnd),
    fix='Fail at startup: X = os.environ["X"], or a pydantic BaseSettings field without a default.',
)
def env_read_at_import_without_validation(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags module-level `X = os.getenv("X")` / `os.environ.get("X")` without a default in
    service code, for settings a service needs (URLs, hosts, keys, tokens, buckets, ids...),
    when functions of the module use `X` and nothing checks it (no `if not X: raise`, no
    `assert X`, no comparison, not handed to a validating call at import). Optional settings
    (proxies, Sentry DSNs, debug and feature flags) are skipped; `os.environ["X"]` is the fix,
    not a finding.

    ## Why it breaks production
    `os.getenv` returns `None` for a missing variable and the service starts anyway. The
    mistake -- a typo in the manifest, a secret not mounted -- surfaces later, inside a
    request: `"Bearer " + None` raises `TypeError`, `f"Bearer {TOKEN}"` sends `Bearer None`
    and gets a 401, a client connects to a default host. Instead of a pod that refuses to
    start (and a rollout that stops), you get a healthy-looking deployment failing some of its
    requests with a confusing error.

    ## Example
    ```python
    PAYMENTS_TOKEN = os.getenv("PAYMENTS_TOKEN")

    def charge(amount: int):
        headers = {"Authorization": "Bearer " + PAYMENTS_TOKEN}
        return http.post(PAYMENTS_URL, json={"amount": amount}, headers=headers, timeout=5)
    ```

    ## Use instead
    ```python
    PAYMENTS_TOKEN = os.environ["PAYMENTS_TOKEN"]  # KeyError at startup when missing
    ```
    Or declare it in a pydantic `BaseSettings` class without a default, loaded at startup.
    """
    pending: dict[str, ast.Call] = ctx.rule_state(dict, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if pending and in_service_code(ctx):
            _report_unchecked_settings(pending, ctx)
        return
    if ctx.function is not None or ctx.classes or ctx.facts.is_test:
        return
    if isinstance(node, ast.Assign):
        if len(node.targets) != 1:
            return
        target = node.targets[0]
    else:
        assert isinstance(node, ast.AnnAssign)
        annotation = ctx.segment(node.annotation)
        if "None" in annotation or "Optional" in annotation:
            return  # declared optional
        target = node.target
    if not isinstance(target, ast.Name) or node.value is None:
        return
    lookup = env_lookup(node.value, ctx)
    if (
        lookup is None
        or lookup.default is not None
        or lookup.cast is not None
        or not lookup.callee.startswith("os.")
        or lookup.name is None
    ):
        pending.pop(target.id, None)
        return
    if not _REQUIRED_SETTING.search(target.id) or _OPTIONAL_SETTING.search(target.id):
        return
    if _OPTIONAL_SETTING.search(lookup.name):
        return
    pending[target.id] = lookup.call


_TEST_FIELDS: dict[type, tuple[str, ...]] = {
    ast.If: ("test",),
    ast.While: ("test",),
    ast.Assert: ("test",),
    ast.IfExp: ("test",),
    ast.BoolOp: ("values",),
    ast.Compare: ("left", "comparators"),
    ast.comprehension: ("ifs",),
}


def _report_unchecked_settings(pending: dict[str, ast.Call], ctx: PythonContext) -> None:
    """One pass over the module (only for modules with candidates): a candidate is reported
    when a function uses it and nothing tests it, reassigns it or hands it to a call at import."""
    wanted = set(pending)
    checked: set[str] = set()
    used_later: set[str] = set()
    for statement in ctx.tree.body:
        deferred = isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        for child in ast.walk(statement):
            fields = _TEST_FIELDS.get(child.__class__)
            if fields is not None:
                for name in fields:
                    value = getattr(child, name)
                    for part in value if isinstance(value, list) else [value]:
                        checked |= loaded_names(part) & wanted
                continue
            if isinstance(child, ast.Name) and child.id in wanted:
                if not isinstance(child.ctx, ast.Load):
                    if child is not _assigned_name(statement):
                        checked.add(child.id)  # reassigned somewhere: not just the lookup
                elif deferred:
                    used_later.add(child.id)
            elif isinstance(child, ast.Call) and not deferred:
                arguments = [*child.args, *(k.value for k in child.keywords)]
                for argument_node in arguments:
                    if isinstance(argument_node, ast.Name) and argument_node.id in wanted:
                        checked.add(argument_node.id)  # validated or fails fast at import
            elif isinstance(child, ast.JoinedStr) and not deferred:
                used_later |= loaded_names(child) & wanted  # "Bearer None" built at import
    for name, call in pending.items():
        if name in used_later and name not in checked:
            variable = constant_str(call.args[0]) or name
            ctx.report(
                call,
                f"{name} is read with {dotted(call.func)}() at import and used later without a "
                "check: when the variable is missing the service starts anyway and fails "
                f"inside a request on None. Use os.environ['{variable}'] (or a validated "
                "settings class) so it fails at startup",
            )


def _assigned_name(statement: ast.stmt) -> ast.expr | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return statement.targets[0]
    if isinstance(statement, ast.AnnAssign):
        return statement.target
    return None
