"""Security: calls that log in with the credentials they are given.

A literal handed to one of them -- ``psycopg2.connect(password="password")`` -- is the
credential the service uses, whatever it reads like; it is never a marker for "no key set".
SEC002 reports it and the placeholder facts (``_placeholders``) do not count it as one.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import constant_str, dotted, secret_name
from prodready.rules.security._shared import _target_name

# Drivers' connect(), clients of databases, caches, brokers and mail servers, and their
# credential objects.
_AUTHENTICATING_CALLS = frozenset(
    {"connect", "connect_async", "create_pool", "create_engine", "create_async_engine"}
    | {"Connection", "ConnectionPool", "Redis", "StrictRedis", "RedisCluster", "MongoClient"}
    | {"AsyncIOMotorClient", "PlainCredentials", "ConnectionParameters", "SMTP", "SMTP_SSL"}
    | {"login", "authenticate", "Elasticsearch", "AsyncElasticsearch", "Minio", "FTP"}
    | {"KafkaProducer", "KafkaConsumer", "AIOKafkaProducer", "AIOKafkaConsumer"}
)
_DRIVER_PACKAGES = frozenset(
    {"psycopg", "psycopg2", "psycopg_pool", "asyncpg", "pymysql", "MySQLdb", "mysql", "aiomysql"}
    | {"aiopg", "redis", "aioredis", "pymongo", "motor", "pika", "aio_pika", "kombu", "ldap3"}
    | {"paramiko", "smtplib", "aiosmtplib", "ftplib", "cx_Oracle", "oracledb", "pyodbc"}
    | {"pymssql", "clickhouse_driver", "clickhouse_connect", "cassandra", "hvac", "snowflake"}
)


def authenticates(call: ast.Call, ctx: PythonContext) -> bool:
    """``call`` logs in to a server with the credentials it is given."""
    qualname = ctx.qualname(call.func) or dotted(call.func) or ""
    return (
        qualname.rsplit(".", 1)[-1] in _AUTHENTICATING_CALLS
        or qualname.split(".", 1)[0] in _DRIVER_PACKAGES
    )


def login_keywords(ctx: PythonContext) -> frozenset[int]:
    """The ids of the credential literals the module's calls that log in are given as
    keywords (``connect(password="pw")``)."""
    found: set[int] = set()
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Call) or not node.keywords:
            continue
        literals = [
            keyword
            for keyword in node.keywords
            if keyword.arg and secret_name(keyword.arg) and constant_str(keyword.value)
        ]
        if literals and authenticates(node, ctx):
            found.update(id(keyword) for keyword in literals)
    return frozenset(found)


# Keys of a connection settings dictionary (Django's ``DATABASES``, a driver's kwargs).
_CONNECTION_SETTINGS_KEYS = frozenset({"ENGINE", "engine", "HOST", "host", "dsn", "DSN"})


def logs_in_with(where: ast.AST, ctx: PythonContext) -> bool:
    """``where`` (a keyword, an argument, or a key of a dictionary) hands a value to a call
    that logs in (``psycopg2.connect(password=...)``, ``smtp.login(user, "pw")``, ``auth=(user,
    "pw")``, ``create_engine(..., connect_args={"password": ...})``) or to a connection
    settings dictionary naming its server (Django's ``DATABASES``)."""
    parents = ctx.parents()
    if isinstance(where, ast.keyword):
        call = parents.get(id(where))
        return isinstance(call, ast.Call) and authenticates(call, ctx)
    holder = parents.get(id(where))
    if isinstance(holder, ast.Call):  # ``smtp.login(user, "pw")``
        return password_argument(holder) is where
    if isinstance(holder, ast.Tuple):  # ``auth=(user, "pw")``
        keyword = parents.get(id(holder))
        return isinstance(keyword, ast.keyword) and auth_tuple_password(keyword) is where
    mapping = holder
    if not isinstance(mapping, ast.Dict):
        return False
    if any(constant_str(key) in _CONNECTION_SETTINGS_KEYS for key in mapping.keys if key):
        return True
    holder = parents.get(id(mapping))
    if isinstance(holder, ast.keyword):
        holder = parents.get(id(holder))
    return isinstance(holder, ast.Call) and authenticates(holder, ctx)


def compared_name(expr: ast.expr) -> str | None:
    """The credential a comparison checks: a name, an attribute, a subscript, or a lookup
    by key (``request.form.get("password")``, ``headers.get("X-Api-Key", "")``)."""
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get"
        and expr.args
    ):
        return constant_str(expr.args[0])
    return _target_name(expr)


def refused_literal(where: ast.AST, ctx: PythonContext) -> bool:
    """``if password == "password": raise ...``: the code refuses a known-bad value (a
    deny-list check), it does not log in with it."""
    if not (isinstance(where, ast.Compare) and isinstance(where.ops[0], ast.Eq)):
        return False
    parents = ctx.parents()
    test: ast.AST = where
    statement = parents.get(id(where))
    # ``if not key or key == "change-me": raise``: a disjunct that alone makes it refuse
    while isinstance(statement, ast.BoolOp) and isinstance(statement.op, ast.Or):
        test, statement = statement, parents.get(id(statement))
    return (
        isinstance(statement, ast.If)
        and statement.test is test
        and any(isinstance(inner, ast.Raise) for inner in statement.body)
    )


# Calls that take a user name and then a password as their first two arguments.
CREDENTIAL_CALLS = (
    *("*.login", "*.simple_bind_s", "*.PlainCredentials", "*.HTTPBasicAuth", "*.BasicAuth"),
    *("requests.auth.HTTPBasicAuth", "requests.auth.HTTPDigestAuth", "httpx.BasicAuth"),
    *("httpx.DigestAuth", "aiohttp.BasicAuth", "aiohttp.helpers.BasicAuth"),
    *("pika.PlainCredentials", "pika.credentials.PlainCredentials"),
)


def password_argument(call: ast.Call) -> ast.Constant | None:
    """The literal password of ``smtp.login(user, "pw")``, ``HTTPBasicAuth("svc", "pw")``,
    ``pika.PlainCredentials("app", "pw")``: the second positional argument."""
    if len(call.args) < 2 or any(isinstance(a, ast.Starred) for a in call.args[:2]):
        return None
    password = call.args[1]
    return password if isinstance(password, ast.Constant) and constant_str(password) else None


def auth_tuple_password(keyword: ast.keyword) -> ast.Constant | None:
    """The literal password of ``requests.get(url, auth=("svc", "pw"))``."""
    value = keyword.value
    if keyword.arg != "auth" or not isinstance(value, ast.Tuple) or len(value.elts) != 2:
        return None
    password = value.elts[1]
    return password if isinstance(password, ast.Constant) and constant_str(password) else None


def parameter_defaults(arguments: ast.arguments) -> list[tuple[str | None, ast.expr, ast.AST]]:
    """(parameter, default, default) for each parameter whose default is a string literal."""
    positional = [*arguments.posonlyargs, *arguments.args]
    first = len(positional) - len(arguments.defaults)
    defaulted = zip(positional[first:], arguments.defaults, strict=True)
    keyword_only = zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    return [
        (parameter.arg, default, default)
        for parameter, default in (*defaulted, *keyword_only)
        if default is not None and default.__class__ is ast.Constant
    ]
