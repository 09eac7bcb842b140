"""Security: calls that log in with the credentials they are given.

A literal handed to one of them -- ``psycopg2.connect(password="password")`` -- is the
credential the service uses, whatever it reads like; it is never a marker for "no key set".
SEC002 reports it and the placeholder facts (``_placeholders``) do not count it as one.
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import constant_str, dotted, secret_name

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
