"""Configuration: localhost URLs hard-coded in service code (CFG001)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    constant_str,
    dotted,
    env_lookup,
    is_example_code,
    is_false,
    is_framework_source,
    is_script,
    log_call,
    runs_consumer,
)
from prodready.rules.configuration._shared import _dev_guard, _dev_only_file
from prodready.rules.configuration._switches import outside_production, switched_off

# -- CFG001 -----------------------------------------------------------------------------------

_LOCAL_HOSTS = r"(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|0\.0\.0\.0|\[::1\])"
_LOCAL_URL = re.compile(
    rf"^[a-z][a-z0-9+.-]*://([^/@\s]*@)?{_LOCAL_HOSTS}(?=[:/?#]|$)", re.IGNORECASE
)
_LOCAL_DSN = re.compile(rf"(^|\s)host={_LOCAL_HOSTS}(\s|$)")
_BARE_HOST = re.compile(rf"^{_LOCAL_HOSTS}(:\d+)?$|^::1$", re.IGNORECASE)
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
# Words of a setting's name saying it holds the development value (``VITE_DEV_SERVER``).
_DEV_WORDS = frozenset({"dev", "development", "debug"})


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


# The source mentions a local host at all (most modules do not: the rule stops there).
# (What ``_LOCAL_GATE`` matches, as substring tests: a regex of alternatives tried at every
# offset of the source is several times slower.)
_LOCAL_HOST_TEXTS = ("localhost", "127.0.0.1", "0.0.0.0", "::1")  # noqa: S104 - searched for
_MENTIONS_LOCAL_HOST: ModuleMemo[bool] = ModuleMemo(
    "CFG001:gate", lambda ctx: any(host in ctx.source for host in _LOCAL_HOST_TEXTS)
)


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
    environment lookup or a settings field, a `default*=` or `fallback=` argument, a class's
    `DEFAULT_*` attribute, a dataclass field's default, the value a function returns when the
    parameter it parses is unset (`if raw is None: return "redis://localhost:6379"`), or the
    branch of a conditional taken when a setting is unset
    (`settings.HOST if settings.HOST else "http://localhost:8080"`, or an assignment that a
    following `if settings.HOST:` replaces with the setting) -- what configuration
    replaces -- it is reported at low severity; so is a localhost URL whose port a run-time
    value fills (`f"http://localhost:{self.port}/"`: a co-located process such as a sidecar
    may be what it means), and the address of a dependency the same
    module switches off with a hard-coded flag (`REDIS_ENABLED = False` beside
    `{"HOST": "localhost", "PORT": 6379}`), which nothing connects to unless another
    configuration turns it on. Code run only when a production flag is off
    (`if not settings.PRODUCTION:`) and a setting named as the development value
    (`VITE_DEV_SERVER`, `DEBUG_PROFILER_URL`) are development configuration, and so is a
    value chosen only when an opt-in flag read with a default of False is on
    (`"http://localhost:8010" if HOT_RELOAD else SITE_URL`). The `default` of a JSON-schema
    property (`{"type": "string", "default": "http://127.0.0.1:8123"}`) is what a settings
    form pre-fills, each saved configuration holding its own value: not reported. Listen addresses
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
    if isinstance(node, ast.Constant):
        # The hot path (every literal of the module): the cheapest tests first.
        value = node.value
        if (
            value.__class__ is str
            and len(value) < 300
            and ctx.memo(_MENTIONS_LOCAL_HOST)
            and (_BARE_HOST.match(value) or _LOCAL_URL.match(value) or _LOCAL_DSN.search(value))
        ):
            state: list[_LocalCandidate] = ctx.rule_state(list, module=True)
            state.append(_LocalCandidate(node, bool(_BARE_HOST.match(value))))
        return
    if not ctx.memo(_MENTIONS_LOCAL_HOST):
        return
    candidates: list[_LocalCandidate] = ctx.rule_state(list, module=True)
    # ModuleEnd: imports and routes are complete, so the module's kind is known.
    if not candidates:
        return
    if ctx.facts.is_test or is_script(ctx) or is_framework_source(ctx) or _dev_only_file(ctx):
        return
    if is_example_code(ctx):
        return
    parents = ctx.parents()
    reported: set[tuple[int, str]] = set()
    for candidate in candidates:
        verdict = _localhost_use(candidate, parents, ctx)
        if verdict is None:
            continue
        text = str(candidate.node.value)
        if (candidate.node.lineno, text) in reported:
            continue  # ``("redis://localhost", "redis://localhost")``: one address, one finding
        reported.add((candidate.node.lineno, text))
        if verdict == "fallback":
            ctx.report(
                candidate.node,
                f"'{text}' is a fallback default: when the setting is missing in production the "
                "service silently talks to localhost. Require the variable instead (fail at "
                "startup)",
                severity=Severity.LOW,
                confidence=Confidence.MEDIUM,
            )
        elif (switch := switched_off(candidate.node, parents, ctx)) is not None:
            ctx.report(
                candidate.node,
                f"'{text}' is the address of a dependency this module switches off ({switch}): "
                "prodready could not tell whether another configuration turns it on. If one "
                "does, read the address from configuration there",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
        elif _configured_port(candidate.node, parents, ctx):
            ctx.report(
                candidate.node,
                f"'{text}' names this host with a port chosen at run time: a process beside "
                "the service (in the same container or pod) is reachable there by design, one "
                "anywhere else is not -- prodready could not tell which this is; reported low. "
                "If it can run elsewhere, read the host from configuration too",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
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
            if child is parent.body and _opt_in_flag(parent.test, ctx):
                return None  # "a if HOT_RELOAD else b", the flag read with default False
            other = parent.body if child is parent.orelse else parent.orelse
            if _configured(other, ctx):
                # ``settings.HOST if settings.HOST else "http://localhost:..."``: the setting
                # wins, localhost is what an unset setting falls back to
                return _in_dev_branch(parent, parents, ctx, "fallback")
        elif isinstance(parent, ast.Dict) and child in parent.values:
            key = constant_str(parent.keys[parent.values.index(child)])
            if key is not None and _NOT_A_DEPENDENCY.search(key):
                return None
            if key in _SCHEMA_ANNOTATIONS and _schema_property(parent):
                return None  # {"type": "string", "default": ...}: a form field's pre-fill
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
        if (parent.arg.lower().startswith("default") or parent.arg == "fallback") and (
            not candidate.bare
        ):
            # default_base_url="http://localhost:11434", config.get(..., fallback=...):
            # configuration wins
            return "fallback"
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
        if any(_DEV_WORDS & set(name.lower().split("_")) for name in names):
            return None  # ``VITE_DEV_SERVER``: by its name, the development value
        if candidate.bare and not any(_dependency_host_name(n) for n in names):
            return None
        owner = parents.get(id(parent))
        if isinstance(owner, ast.ClassDef) and any(
            (dotted(base) or "").endswith("Settings") for base in owner.bases
        ):
            return "fallback"  # a settings field default, overridable from the environment
        if isinstance(owner, ast.ClassDef) and any(
            name.rpartition(".")[2].startswith("DEFAULT_") for name in names
        ):
            return "fallback"  # DEFAULT_API_BASE: what the class uses when nothing is configured
        if isinstance(parent, ast.AnnAssign) and _dataclass(owner, ctx):
            return "fallback"  # a field default: an argument of the generated constructor
        if _replaced_when_configured(parent, names, owner, ctx):
            return _in_dev_branch(parent, parents, ctx, "fallback")
        return _in_dev_branch(parent, parents, ctx, "hardcoded")
    if isinstance(parent, ast.arguments):
        return None if candidate.bare else "fallback"  # a parameter default
    if isinstance(parent, ast.Return) and not candidate.bare:
        if _unset_input_branch(parent, parents):
            return _in_dev_branch(parent, parents, ctx, "fallback")
        return _in_dev_branch(parent, parents, ctx, "hardcoded")
    return None


def _configured_port(
    literal: ast.Constant, parents: dict[int, ast.AST], ctx: PythonContext
) -> bool:
    """``f"http://localhost:{self.port}/..."``: the literal ends at the port, which a value
    computed at run time (not a constant) fills -- the address of a co-located process whose
    port is configured (a sidecar, a helper the service starts), not a fixed dependency."""
    owner = parents.get(id(literal))
    text = str(literal.value)
    if not isinstance(owner, ast.JoinedStr) or not text.endswith(":"):
        return False
    values = owner.values
    index = next((i for i, value in enumerate(values) if value is literal), -1)
    port = values[index + 1] if 0 <= index < len(values) - 1 else None
    if not isinstance(port, ast.FormattedValue):
        return False
    if isinstance(port.value, ast.Constant):
        return False
    if isinstance(port.value, ast.Name):
        bound = ctx.value_of(port.value.id)
        return not isinstance(bound, ast.Constant)
    return True


def _unset_input_branch(statement: ast.stmt, parents: dict[int, ast.AST]) -> bool:
    """``statement`` is in the body of an ``if`` that tests a parameter of its function for
    being unset (``if env_redis is None:``, ``if not url:``) -- the value returned there is what
    an absent setting handed to the function falls back to, and the function answers with the
    given value otherwise."""
    child: ast.AST = statement
    parent = parents.get(id(statement))
    tested: set[str] = set()
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(parent, ast.If) and child in parent.body:
            tested |= _unset_names(parent.test)
        child, parent = parent, parents.get(id(parent))
    if parent is None:
        return False
    arguments = parent.args
    params = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    return bool(tested & params)


def _unset_names(test: ast.expr) -> set[str]:
    """The names ``test`` finds unset: ``x is None``, ``not x``, ``x == ""``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return {test.operand.id} if isinstance(test.operand, ast.Name) else set()
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Is | ast.Eq)
        and isinstance(test.left, ast.Name)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value in (None, "")
    ):
        return {test.left.id}
    return set()


def _replaced_when_configured(
    statement: ast.stmt, names: list[str], block: ast.AST | None, ctx: PythonContext
) -> bool:
    """``self.endpoint = "http://127.0.0.1:8765"`` followed in its block by ``if
    settings.endpoint: self.endpoint = ...settings.endpoint...``: the literal is what an
    unset setting falls back to, as in ``settings.X if settings.X else "..."``."""
    body = getattr(block, "body", None)
    if not isinstance(body, list) or statement not in body:
        return False
    for later in body[body.index(statement) + 1 :]:
        if not isinstance(later, ast.If) or not _configured(later.test, ctx):
            continue
        for inner in later.body:
            if (
                isinstance(inner, ast.Assign)
                and any((dotted(target) or "") in names for target in inner.targets)
                and any(
                    isinstance(read, ast.expr) and _configured(read, ctx)
                    for read in ast.walk(inner.value)
                )
            ):
                return True
    return False


# A JSON-schema property's annotations: what a settings form shows or pre-fills for a field;
# each saved configuration holds its own value, and that is what gets connected to.
_SCHEMA_ANNOTATIONS = frozenset({"default", "examples", "example", "placeholder"})
_SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array"})


def _schema_property(mapping: ast.Dict) -> bool:
    """``{"type": "string", "default": "http://127.0.0.1:8123"}``: a JSON-schema property."""
    return any(
        constant_str(key) == "type" and constant_str(value) in _SCHEMA_TYPES
        for key, value in zip(mapping.keys, mapping.values, strict=True)
        if key is not None
    )


def _opt_in_flag(test: ast.expr, ctx: PythonContext) -> bool:
    """``test`` is a module name bound to a flag read from configuration with a default of
    False (``get_bool_env("HOT_RELOAD", False)``, ``config.getboolean(..., fallback=False)``):
    the branch it selects runs only where someone turned the flag on."""
    if not isinstance(test, ast.Name):
        return False
    bound = [
        statement.value
        for statement in ctx.tree.body
        if isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == test.id for t in statement.targets)
    ]
    value = bound[-1] if len(bound) == 1 else None
    if not isinstance(value, ast.Call) or not value.args:
        return False
    defaults = [*value.args[1:2]]
    defaults += [k.value for k in value.keywords if k.arg in {"default", "fallback"}]
    return any(is_false(default) for default in defaults)


def _dataclass(owner: ast.AST | None, ctx: PythonContext) -> bool:
    """``@dataclass`` / ``@dataclasses.dataclass(...)`` / ``@attrs.define`` on the class."""
    if not isinstance(owner, ast.ClassDef):
        return False
    for decorator in owner.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = ctx.qualname(target) or dotted(target) or ""
        if name in _DATACLASS_DECORATORS:
            return True
    return False


_DATACLASS_DECORATORS = frozenset(
    {"dataclasses.dataclass", "attr.s", "attr.define", "attrs.define", "attrs.frozen"}
    | {"pydantic.dataclasses.dataclass", "attr.attrs", "attr.frozen", "attrs.mutable"}
)
_SETTINGS_ROOTS = frozenset({"settings", "config", "conf", "app.config", "current_app.config"})


def _configured(expr: ast.expr, ctx: PythonContext) -> bool:
    """A configuration read: an environment lookup or a settings value (``settings.HOST``,
    ``app.config["API_URL"]``)."""
    if env_lookup(expr, ctx) is not None:
        return True
    if isinstance(expr, ast.Subscript):
        expr = expr.value
    elif isinstance(expr, ast.Attribute):
        if (ctx.qualname(expr) or "").startswith("django.conf.settings."):
            return True
        expr = expr.value
    else:
        return False
    return (dotted(expr) or "") in _SETTINGS_ROOTS


def _call_use(
    call: ast.Call,
    child: ast.AST | None,
    keyword_name: str | None,
    candidate: _LocalCandidate,
    parents: dict[int, ast.AST],
    ctx: PythonContext,
) -> str | None:
    callee = ctx.qualname(call.func) or dotted(call.func) or ""
    if not callee and isinstance(call.func, ast.Attribute):
        # ``request.headers["Referer"].startswith(...)``: a method of a value no name holds
        callee = call.func.attr
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
        if isinstance(parent, ast.If) and outside_production(parent, child):
            return None  # ``if not settings.PRODUCTION:`` or the ``else`` of ``if PRODUCTION``
        if (
            isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef)
            and parent.name in {"main", "cli"}
            and runs_consumer(parent.body, ctx) is None
        ):
            return None  # a command-line entry point -- unless it is the consumer's loop
        child, parent = parent, parents.get(id(parent))
    return verdict
