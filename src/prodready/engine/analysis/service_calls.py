"""Calls to other services: HTTP clients, databases, caches, brokers and cloud SDKs."""

from __future__ import annotations

import ast

from prodready.engine.analysis.walking import calls_in
from prodready.engine.python import PythonContext

# Client libraries whose calls cross the network to another service (HTTP, databases, caches,
# queues, mail, cloud and vendor APIs).
DEPENDENCY_MODULES = frozenset(
    {
        "requests", "httpx", "aiohttp", "urllib3", "httplib2", "http.client", "urllib.request",
        "boto3", "botocore", "aiobotocore", "aioboto3", "google.cloud", "azure",
        "redis", "aioredis", "pymemcache", "memcache",
        "psycopg2", "psycopg", "asyncpg", "pymysql", "MySQLdb", "mysql", "aiomysql",
        "pymongo", "motor", "sqlalchemy", "elasticsearch", "opensearchpy", "cassandra",
        "smtplib", "aiosmtplib", "pika", "aio_pika", "kombu", "kafka", "aiokafka",
        "confluent_kafka", "nats", "celery", "grpc", "zmq", "paramiko", "ftplib", "socket",
        "websockets", "stripe", "twilio", "sendgrid", "openai", "anthropic", "slack_sdk",
        "hvac", "ldap3", "zeep",
    }
)  # fmt: skip


# Methods that talk to a remote peer whatever the client (``self.api.charge(...)``).
DEPENDENCY_METHODS = frozenset(
    {
        "request", "urlopen", "post", "put", "patch", "send", "sendall", "send_message",
        "sendmail", "send_mail", "publish", "basic_publish", "produce", "commit", "execute",
        "executemany", "exec_driver_sql", "fetchall", "fetchone", "connect", "invoke",
        "call_api", "charge", "refund", "capture", "upload", "upload_file", "download",
        "download_file", "put_object", "get_object", "delete_object", "notify", "enqueue",
        "delay", "apply_async", "send_task", "bulk_create", "bulk_update", "save",
    }
)  # fmt: skip


# Receivers whose name says they stand for a remote peer: any method on them is a remote call.
# Matched against the words of the name (``http_client``, ``apiSession``, ``db``).
DEPENDENCY_RECEIVER_WORDS = frozenset(
    {
        "client", "session", "api", "http", "conn", "connection", "cursor", "redis", "cache",
        "db", "database", "s3", "sqs", "sns", "queue", "producer", "channel", "broker", "smtp",
        "mailer", "stub", "gateway", "service", "rpc",
    }
)  # fmt: skip


# ...unless another word makes it local data about that peer (``cache_dir``, ``db_path``).
_LOCAL_RECEIVER_WORDS = frozenset(
    {"dir", "directory", "path", "file", "files", "folder", "key", "keys", "name", "config"}
    | {"settings", "lock", "size", "ttl", "url", "info", "id", "data", "stats"}
)


def _name_words(name: str) -> set[str]:
    """``http_client`` -> {http, client}; ``apiSession`` -> {api, session}."""
    spaced = "".join(
        f"_{char}" if char.isupper() and index and name[index - 1].islower() else char
        for index, char in enumerate(name)
    )
    return {word for word in spaced.lower().split("_") if word}


def dependency_call(statements: list[ast.stmt], ctx: PythonContext) -> ast.Call | None:
    """The first call in a block that reaches another service over the network: a client
    library (``requests.get``, ``boto3...``, ``redis...``), an ORM query (``Model.objects``),
    a remote-sounding method (``.post``, ``.execute``, ``.publish``, ``.charge``) or any method
    of a receiver named like a remote peer (``self.client.x()``, ``db.y()``). ``None`` when the
    block only computes, parses or touches local files.
    """
    for call in calls_in(statements):
        func = call.func
        name = ctx.qualname(func) or ""
        if name.startswith("builtins."):
            continue
        root = name.split(".", 1)[0]
        if root in DEPENDENCY_MODULES or any(
            name.startswith(module + ".") for module in DEPENDENCY_MODULES if "." in module
        ):
            return call
        if ".objects." in name:
            return call  # the Django ORM
        if not isinstance(func, ast.Attribute):
            continue
        if func.attr in DEPENDENCY_METHODS:
            return call
        receiver = func.value
        while isinstance(receiver, ast.Call | ast.Await):
            receiver = receiver.func if isinstance(receiver, ast.Call) else receiver.value
        last = receiver.attr if isinstance(receiver, ast.Attribute) else None
        if isinstance(receiver, ast.Name):
            last = receiver.id
        if last is not None:
            words = _name_words(last)
            if words & DEPENDENCY_RECEIVER_WORDS and not words & _LOCAL_RECEIVER_WORDS:
                return call
    return None
