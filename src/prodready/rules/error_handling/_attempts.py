"""Error handling: what the block a broad handler guards can lose when it fails (ERR001).

A swallowed failure costs what the block was doing. Three kinds, from the calls in the block:

- ``LOCAL``: it only computes, parses, or reads the local installation -- a bundled file, a
  locale catalog, package metadata, the URL routing table. What can fail is an optional piece
  being absent or malformed, and the handler's fallback is the answer for that.
- ``READ``: it also reads from another service or a store (``store.get_user(name)``,
  ``client.get_entry(id)``, ``conn.execute(q).scalar()``), writing nothing. A failure there
  may be "not found" or an outage; the handler decides which one the caller sees.
- ``EFFECT``: it writes, sends, or calls something whose effect is unknown (``order.charge()``,
  ``requests.post(...)``, ``store.save_user(...)``): a failure there is lost work.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from enum import Enum

from prodready.plugin import PythonContext
from prodready.plugin.analysis import calls_in, constant_str, dependency_call, walk_body


class Attempt(Enum):
    LOCAL = "local"
    READ = "read"
    EFFECT = "effect"


# Standard-library and framework modules whose functions read the local installation or
# compute in memory: locale catalogs, package metadata and resources, paths, the URLconf,
# file formats read from an open handle.
_LOCAL_MODULES = (
    "gettext.",
    "locale.",
    "importlib.metadata.",
    "importlib.resources.",
    "importlib.util.find_spec",
    "pkgutil.",
    "mimetypes.",
    "os.path.",
    "os.environ.",
    "os.getenv",
    "pathlib.",
    "glob.",
    "fnmatch.",
    "platform.",
    "sysconfig.",
    "json.load",
    "ujson.load",
    "simplejson.load",
    "yaml.safe_load",
    "tomllib.load",
    "configparser.",
    # building an SQL statement runs nothing: what runs it is judged on its own
    "sqlalchemy.text",
    "sqlalchemy.select",
    "sqlalchemy.sql.",
    "psycopg2.sql.",
    "psycopg.sql.",
    "django.urls.",
    "django.utils.translation.",
    "hmac.compare_digest",
    "secrets.compare_digest",
    "struct.",
)
# Methods that read a local file or path object (``Path.read_text``, ``dist.read_text``).
_LOCAL_METHODS = frozenset(
    {"read_text", "read_bytes", "exists", "is_file", "is_dir", "readlines", "readline"}
)
# Verbs of calls that only look something up (first word of the name: ``get_user``,
# ``_authenticate_cached``, ``fetchone``); ``execute`` is one when its rows are read.
_READ_VERBS = frozenset(
    {
        "get", "fetch", "fetchone", "fetchall", "fetchmany", "find", "lookup", "load", "read",
        "list", "count", "exists", "search", "query", "retrieve", "describe", "resolve",
        "authenticate", "verify", "check", "scalar", "scalars", "first", "one", "all", "filter",
        "exclude", "select", "head", "urlopen", "iter", "has", "is", "info", "stat",
    }
)  # fmt: skip
_ROW_READS = frozenset({"scalar", "scalars", "one", "first", "all", "fetchone", "fetchall"})
# Names of calls that convert or check a value they are given (a parse attempt).
_CONVERTERS = frozenset({"to_python", "unsign", "verify_signature"})


def attempt_kind(
    attempt: list[ast.stmt],
    ctx: PythonContext,
    pure_call: Callable[[ast.Call, PythonContext], bool],
    parser: Callable[[str], bool],
) -> Attempt:
    """The kind of the guarded block (see the module docstring). ``pure_call(call, ctx)`` and
    ``parser(name)`` are the rule's own tests for in-memory computation and parse attempts."""
    kind = Attempt.LOCAL
    consumed = _consumed_results(attempt)
    for call in calls_in(attempt):
        name = ctx.qualname(call.func) or ""
        last = call.func.attr if isinstance(call.func, ast.Attribute) else name.rsplit(".")[-1]
        if pure_call(call, ctx) or parser(last) or last in _CONVERTERS:
            continue
        if _local_read(call, name, ctx):
            continue
        if _constructor(call, name):
            continue
        if _remote_read(call, last, consumed):
            kind = Attempt.READ
            continue
        return Attempt.EFFECT
    if kind is Attempt.LOCAL and _loads_related(attempt):
        return Attempt.READ  # ``order.customer.name``: a related object may load lazily
    return kind


# First words of call names that change something (``save_user``, ``store.create``,
# ``publish``): a block calling one is a write whatever the rule can see of the callee.
_WRITE_VERBS = frozenset(
    {
        "save", "create", "insert", "update", "upsert", "delete", "remove", "put", "post",
        "patch", "send", "publish", "write", "store", "charge", "add", "set", "submit", "commit",
        "enqueue", "push", "register", "persist",
    }
)  # fmt: skip


def calls_a_writer(attempt: list[ast.stmt]) -> bool:
    """The block calls a function or method named for changing something (``save_user``,
    ``repo.create``): its failure loses a write, not a lookup."""
    for call in calls_in(attempt):
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name.lstrip("_").split("_")[0].lower() in _WRITE_VERBS:
            return True
    return False


def _consumed_results(attempt: list[ast.stmt]) -> set[int]:
    """Calls whose result rows are read (``conn.execute(q).scalar()``): queries, not writes."""
    consumed: set[int] = set()
    for node in walk_body(attempt):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _ROW_READS
            and isinstance(node.func.value, ast.Call)
        ):
            consumed.add(id(node.func.value))
    return consumed


def _local_read(call: ast.Call, name: str, ctx: PythonContext) -> bool:
    if name == "builtins.open":
        mode = call.args[1] if len(call.args) > 1 else None
        for keyword in call.keywords:
            if keyword.arg == "mode":
                mode = keyword.value
        text = "r" if mode is None else constant_str(mode)
        return text is not None and not set(text) & set("wax+")
    if name.startswith(_LOCAL_MODULES):
        return True
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr in _LOCAL_METHODS
        and dependency_call([ast.Expr(value=call)], ctx) is None
    )


def _constructor(call: ast.Call, name: str) -> bool:
    """``CatalogClient()``, ``Path(root)``, ``Ticket()``: building an object does no I/O
    (clients of the network libraries connect in their constructors and are not exempt)."""
    last = name.rsplit(".", 1)[-1] if name else ""
    if not last[:1].isupper() or name.startswith(("smtplib.", "ftplib.", "socket.")):
        return False
    return not isinstance(call.func, ast.Attribute) or not isinstance(call.func.value, ast.Call)


def _remote_read(call: ast.Call, last: str, consumed: set[int]) -> bool:
    if id(call) in consumed:
        return True  # ``conn.execute(query).scalar()``
    verb = last.lower().lstrip("_").split("_", 1)[0]
    if verb not in _READ_VERBS:
        return False
    if verb == "urlopen":
        return len(call.args) < 2 and not any(k.arg == "data" for k in call.keywords)
    return True


def _loads_related(attempt: list[ast.stmt]) -> bool:
    called = {id(n.func) for n in walk_body(attempt) if isinstance(n, ast.Call)}
    return any(
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Attribute)
        and id(node) not in called
        for node in walk_body(attempt)
    )
