"""Concurrency: a value read from a shared store, changed in Python and written back as an
absolute value outside the ORM's field tracking (CON010): Redis ``GET`` then ``SET``, a raw SQL
``SELECT`` then ``UPDATE ... SET col = %s``, a project helper pair (``get_balance`` then
``set_balance(..., balance + n)``), a JSON/array column copied, changed and assigned back."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import is_example_code, is_framework_source, is_script, walk_body
from prodready.rules.concurrency.races import _loaded_object

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

# Redis (and cache) reads and the writes that set a key or a hash field to an absolute value.
_KV_READS = frozenset({"get", "hget"})
_KV_WRITES = frozenset({"set", "setex", "psetex", "hset", "hmset"})
_KV_LIBRARIES = ("redis.", "aioredis.", "django.core.cache.", "pymemcache.", "django_redis")
_KV_CLIENT = re.compile(r"redis|cache|memcache|^r$|^rds$|^kv$", re.I)
_KV_GUARDS = re.compile(r"\.watch\(|\.lock\(|\beval(sha)?\(|register_script|transaction\(", re.I)

_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+(?P<table>[\w.\"]+)(?P<rest>.*)$", re.I | re.S
)
_UPDATE = re.compile(
    r"^\s*UPDATE\s+(?P<table>[\w.\"]+)\s+SET\s+(?P<sets>.+?)(\s+WHERE\s+(?P<where>.*))?$",
    re.I | re.S,
)
_PLACEHOLDER = r"(%s|\?|\$\d+|:\w+|%\(\w+\)s)"
_SQL_GUARDS = re.compile(
    r"FOR\s+(NO\s+KEY\s+)?UPDATE|LOCK\s+TABLE|advisory|SERIALIZABLE|with_for_update", re.I
)
_FETCHES = frozenset(
    {"fetchone", "fetchall", "fetchmany", "fetchval", "fetchrow", "fetch", "scalar"}
    | {"scalar_one", "scalar_one_or_none", "first", "one", "one_or_none", "mappings"}
)

# Project helper pairs: ``get_balance(...)`` read, ``set_balance(..., balance + n)`` written.
_GETTERS = ("get_", "fetch_", "load_", "read_", "current_")
_SETTERS = ("set_", "update_", "save_", "write_", "store_", "put_")
_ATOMIC_SETTER_FACT = "concurrency:atomic-setter:"
_RELATIVE_SET = re.compile(r"\bSET\s+(\w+)\s*=\s*\1\s*[-+]", re.I)
_ATOMIC_KV = re.compile(r"\.(incr|incrby|decr|decrby|hincrby|hincrbyfloat|incrbyfloat)\(")

# Copies of a JSON/array field (``dict(obj.answers or {})``, ``list(obj.tags)``).
_COPIES = frozenset({"dict", "list", "set", "copy", "deepcopy"})


@dataclass(frozen=True, slots=True)
class _Read:
    kind: str  # "kv", "sql", "helper", "field"
    what: str  # key text, table, noun, "obj.attr"
    line: int
    columns: str = ""  # the SELECTed columns


def _method(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _kv_client(call: ast.Call, ctx: PythonContext) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    name = ctx.qualname(func) or ""
    if name.startswith(
        ("redis.", "aioredis.", "django.core.cache.", "pymemcache.", "django_redis")
    ):
        return True
    receiver = func.value
    text = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
    return bool(_KV_CLIENT.search(text))


def _unawaited(expr: ast.expr) -> ast.expr:
    return expr.value if isinstance(expr, ast.Await) else expr


def _literal(expr: ast.expr | None, ctx: PythonContext) -> str | None:
    if isinstance(expr, ast.Call) and _method(expr) == "text" and expr.args:
        expr = expr.args[0]  # SQLAlchemy ``text("SELECT ...")``
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def _names_in(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}


class _Flow:
    """Which local names carry a value read from a store, in the function's source order."""

    def __init__(self) -> None:
        self.carried: dict[str, frozenset[_Read]] = {}
        self.computed: set[str] = set()  # carried names computed from the read value
        self.cursor_reads: dict[str, _Read] = {}  # cursor name -> its last SELECT

    def source_of(self, expr: ast.AST) -> frozenset[_Read]:
        found: frozenset[_Read] = frozenset()
        for name in _names_in(expr):
            found |= self.carried.get(name, frozenset())
        return found

    def reads(self, kind: str) -> set[_Read]:
        return {read for reads in self.carried.values() for read in reads if read.kind == kind}


def _read_of(value: ast.expr, flow: _Flow, ctx: PythonContext) -> frozenset[_Read]:
    """The store read an assigned value comes from (a call inside it, or a carried name)."""
    for node in ast.walk(value):
        if not isinstance(node, ast.Call):
            continue
        method = _method(node)
        if method in _KV_READS and node.args and _kv_client(node, ctx):
            key = ctx.segment(node.args[0])
            if method == "hget" and len(node.args) > 1:
                key += "|" + ctx.segment(node.args[1])
            return frozenset({_Read("kv", key, node.lineno)})
        sql = _literal(node.args[0], ctx) if node.args else None
        found = _SELECT.match(sql) if sql else None
        if found is not None and not _SQL_GUARDS.search(sql or ""):
            table = _table(found.group("table"))
            return frozenset({_Read("sql", table, node.lineno, found.group("columns"))})
        if method in _FETCHES and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in flow.cursor_reads:
                return frozenset({flow.cursor_reads[receiver.id]})
        noun = _helper_noun(method, _GETTERS)
        if noun is not None and node.args and not _request_receiver(node):
            # keyed by its first argument (``get_balance(member_id)``): the setter must write
            # the same key for the pair to be one stored value
            key = ctx.segment(node.args[0])
            return frozenset({_Read("helper", noun, node.lineno, key)})
    return flow.source_of(value)


def _request_receiver(call: ast.Call) -> bool:
    """``request.get_json()``, ``self.request.get_full_path()``: the request, not a store."""
    func = call.func
    return isinstance(func, ast.Attribute) and "request" in ast.unparse(func.value).lower()


def _table(text: str) -> str:
    return text.strip('"').rsplit(".", 1)[-1].lower()


def _helper_noun(method: str, prefixes: tuple[str, ...]) -> str | None:
    bare = method.lstrip("_")
    for prefix in prefixes:
        if bare.startswith(prefix) and len(bare) > len(prefix):
            return bare[len(prefix) :]
    return None


def _arithmetic_on(expr: ast.AST, names: set[str]) -> bool:
    """``balance + points``, ``int(free) - 1``: the written value computed from the read one."""
    for node in ast.walk(expr):
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add | ast.Sub)
            and _names_in(node) & names
        ):
            return True
    return False


def _derived_names(flow: _Flow, read: _Read) -> set[str]:
    return {name for name, sources in flow.carried.items() if read in sources}


def _computed_from(expr: ast.AST, flow: _Flow, read: _Read) -> bool:
    """The written value is computed from the read one: arithmetic on it here, or a name
    computed so earlier (``new_balance = balance + delta``)."""
    names = _derived_names(flow, read)
    return _arithmetic_on(expr, names) or bool(_names_in(expr) & names & flow.computed)


@python_rule(
    code="CON010",
    name="read-modify-write-outside-orm",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="A value read from Redis, raw SQL or a store helper is written back as an absolute "
    "value (lost updates)",
    nodes=(FunctionEnd,),
    fix="Change the value where it is stored: INCRBY/DECRBY/HINCRBY (or WATCH/MULTI, a Lua "
    "script), UPDATE t SET x = x + %s (WHERE x >= %s for a limit, then check the row count), "
    "or hold the row (SELECT ... FOR UPDATE) while deciding.",
)
def read_modify_write_outside_orm(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a value read from a shared store, changed in Python and written back whole in the
    same function: a Redis key or hash field read with `GET`/`HGET` and written with
    `SET`/`HSET` from the read value (`free = int(r.get(k)); r.set(k, free - 1)`, redis and
    redis.asyncio, Django's cache); a column read by a raw SQL `SELECT` (psycopg2, asyncpg,
    sqlite3, SQLAlchemy `text()`) and written by `UPDATE t SET col = %s` with a value computed
    from it; a project helper pair of one noun (`balance = db.get_balance(id)` then
    `db.set_balance(id, balance + n)`) unless the setter is seen to update relatively (`SET
    balance = balance + %s`, `INCRBY`); and a JSON or array column of an ORM row copied,
    changed and assigned back (`answers = dict(s.answers); answers[q] = a; s.answers =
    answers`), or changed in place and marked with `flag_modified()`, then committed.
    Nothing is reported when the function holds the row (`FOR UPDATE`, a lock, `WATCH`, a Lua
    script, SERIALIZABLE) or the row was loaded with `select_for_update()`/`with_for_update()`.

    ## Why it breaks production
    Two requests (or two consumers of redelivered messages) read the same value, each computes
    its own result and each writes it: the second write erases the first. Free parking spots
    drift, loyalty points earned at the same time vanish, an answer saved from one browser tab
    is overwritten by the other tab's autosave. Tests run one request at a time and never see
    it.

    ## Example
    ```python
    free = int(await redis.get(f"free:{level}") or 0)
    await redis.set(f"free:{level}", free - 1)

    balance = db.get_balance(member_id)
    db.set_balance(member_id, balance + points)   # UPDATE members SET balance = %s
    ```

    ## Use instead
    ```python
    await redis.decr(f"free:{level}")

    cur.execute("UPDATE members SET balance = balance + %s WHERE id = %s", (points, member_id))
    ```
    For a JSON column: update the one key in the database (`jsonb_set`, a row per answer), or
    lock the row (`with_for_update()`, `select_for_update()`) before reading it.
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test:
        return
    if is_script(ctx) or is_example_code(ctx) or is_framework_source(ctx):
        return
    _establish_atomic_setters(ctx)
    function = scope.node
    text = ctx.segment(function)
    if _SQL_GUARDS.search(text):
        return
    kv_guarded = bool(_KV_GUARDS.search(text))
    flow = _Flow()
    loaded: dict[str, bool] = {}
    for item in walk_body(function.body):
        if isinstance(item, _OPAQUE):
            continue
        if isinstance(item, ast.Assign | ast.AnnAssign) and item.value is not None:
            targets: list[ast.expr] = (
                list(item.targets) if isinstance(item, ast.Assign) else [item.target]
            )
            _assign(targets, item.value, flow, loaded, ctx)
            field_write = _field_write_back(targets, item, flow, loaded, ctx)
            if field_write is not None:
                _report_field(item, field_write, ctx)
                return
        elif isinstance(item, ast.Call):
            _cursor_select(item, flow, ctx)
            found = _write_back(item, flow, kv_guarded, ctx)
            if found is not None:
                message, unless, confidence = found
                ctx.report(item, message, unless=unless, confidence=confidence)
                return
            if _method(item) == "flag_modified" and len(item.args) == 2:
                marked = _flagged_field(item, loaded, ctx)
                if marked is not None:
                    _report_field(item, marked, ctx)
                    return


def _assign(
    targets: list[ast.expr],
    value: ast.expr,
    flow: _Flow,
    loaded: dict[str, bool],
    ctx: PythonContext,
) -> None:
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    for target in targets:
        if isinstance(target, ast.Tuple):
            names += [e.id for e in target.elts if isinstance(e, ast.Name)]
    if not names:
        return
    plain = _unawaited(value)
    if isinstance(plain, ast.Call) and _method(plain) in {"cursor"}:
        return
    read = _read_of(value, flow, ctx)
    computed = _arithmetic_on(value, set(flow.carried)) or bool(_names_in(value) & flow.computed)
    locked = _loaded_object(value, ctx)
    for name in names:
        flow.carried.pop(name, None)
        if locked is not None:
            loaded[name] = locked
    copied = _copied_field(plain, loaded)
    if copied is not None:
        for name in names:
            flow.carried[name] = frozenset({_Read("field", copied, value.lineno)})
        return
    if not read:
        return
    sql = next((r for r in read if r.kind == "sql"), None)
    if sql is not None and isinstance(plain, ast.Call) and _method(plain) == "execute":
        # ``cur = conn.execute("SELECT ...")``: the rows come from the cursor it returns
        for name in names:
            flow.cursor_reads[name] = sql
    for name in names:
        flow.carried[name] = read
        if computed:
            flow.computed.add(name)
        else:
            flow.computed.discard(name)


def _cursor_select(call: ast.Call, flow: _Flow, ctx: PythonContext) -> None:
    """``cur.execute("SELECT balance FROM members ...")``: what ``cur.fetchone()`` returns."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return
    sql = _literal(call.args[0], ctx) if call.args else None
    found = _SELECT.match(sql) if sql else None
    if found is not None and not _SQL_GUARDS.search(sql or ""):
        read = _Read("sql", _table(found.group("table")), call.lineno, found.group("columns"))
        flow.cursor_reads[func.value.id] = read


def _copied_field(value: ast.expr, loaded: dict[str, bool]) -> str | None:
    """``dict(obj.answers or {})``, ``list(obj.tags)``, ``obj.meta.copy()``, ``deepcopy(
    obj.data)`` of a row loaded here without a lock: ``"obj.answers"``."""
    if not isinstance(value, ast.Call):
        return None
    method = _method(value)
    if method not in _COPIES:
        return None
    inner: ast.expr | None = value.args[0] if value.args else None
    if method == "copy" and isinstance(value.func, ast.Attribute) and not value.args:
        inner = value.func.value
    if isinstance(inner, ast.BoolOp):
        inner = inner.values[0]
    if (
        isinstance(inner, ast.Attribute)
        and isinstance(inner.value, ast.Name)
        and loaded.get(inner.value.id) is False
    ):
        return f"{inner.value.id}.{inner.attr}"
    return None


def _field_write_back(
    targets: list[ast.expr],
    statement: ast.stmt,
    flow: _Flow,
    loaded: dict[str, bool],
    ctx: PythonContext,
) -> str | None:
    """``obj.answers = answers`` where ``answers`` is a copy of ``obj.answers`` changed since,
    with a commit or save of the row after it."""
    value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
    if len(targets) != 1 or value is None:
        return None
    target = targets[0]
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
        return None
    field = f"{target.value.id}.{target.attr}"
    if not isinstance(value, ast.Name):
        return None
    read = next(
        (r for r in flow.carried.get(value.id, ()) if r.kind == "field" and r.what == field), None
    )
    if read is None:
        return None
    if not _changed_between(value.id, read.line, statement.lineno, ctx):
        return None
    return field if _persisted_after(target.value.id, statement.lineno, ctx) else None


def _changed_between(name: str, start: int, stop: int, ctx: PythonContext) -> bool:
    scope = ctx.function
    assert scope is not None
    for node in ast.walk(scope.node):
        line = getattr(node, "lineno", 0)
        if not start < line < stop:
            continue
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and _names_in(target.value) == {name}:
                    return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
            and node.func.attr in {"append", "extend", "update", "pop", "remove", "add", "insert"}
        ):
            return True
    return False


def _persisted_after(name: str, line: int, ctx: PythonContext) -> bool:
    scope = ctx.function
    assert scope is not None
    for node in ast.walk(scope.node):
        if isinstance(node, ast.Call) and getattr(node, "lineno", 0) > line:
            method = _method(node)
            if method in {"commit", "flush"}:
                return True
            if method in {"save", "asave"} and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                if isinstance(receiver, ast.Name) and receiver.id == name:
                    return True
    return False


def _flagged_field(call: ast.Call, loaded: dict[str, bool], ctx: PythonContext) -> str | None:
    """``flag_modified(obj, "tags")`` after ``obj.tags`` was changed in place, on a row loaded
    here without a lock, committed afterwards: the whole column is written back."""
    owner, attr = call.args
    if not (isinstance(owner, ast.Name) and loaded.get(owner.id) is False):
        return None
    if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
        return None
    field = f"{owner.id}.{attr.value}"
    scope = ctx.function
    assert scope is not None
    read_before = any(
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and node.attr == attr.value
        and isinstance(node.value, ast.Name)
        and node.value.id == owner.id
        and node.lineno < call.lineno
        for node in ast.walk(scope.node)
    )
    return field if read_before and _persisted_after(owner.id, call.lineno, ctx) else None


def _report_field(node: ast.AST, field: str, ctx: PythonContext) -> None:
    ctx.report(
        node,
        f"{field} (a JSON/array column) is read, changed in Python and written back whole: "
        "two concurrent saves (two tabs, an autosave and a submit) each write their own copy "
        "and one change is lost. Update the one key in the database (jsonb_set, a row per "
        "item) or lock the row while changing it (select_for_update()/with_for_update())",
        severity=Severity.MEDIUM,
    )


def _write_back(
    call: ast.Call, flow: _Flow, kv_guarded: bool, ctx: PythonContext
) -> tuple[str, tuple[ProjectFact, ...], Confidence | None] | None:
    method = _method(call)
    if method in _KV_WRITES and call.args and not kv_guarded and _kv_client(call, ctx):
        return _kv_write_back(call, method, flow, ctx)
    sql = _literal(call.args[0], ctx) if call.args else None
    found = _UPDATE.match(sql) if sql else None
    if found is not None:
        return _sql_write_back(call, found, flow, ctx)
    noun = _helper_noun(method, _SETTERS)
    if noun is None:
        return None
    arguments = [*call.args[1:], *(k.value for k in call.keywords)]
    key = ctx.segment(call.args[0]) if call.args else None
    for read in flow.reads("helper"):
        if read.what != noun or read.columns != key:
            continue
        if any(_computed_from(argument, flow, read) for argument in arguments):
            callee = ctx.segment(call.func)
            return (
                f"{noun} is read by a helper (line {read.line}), changed in Python and written "
                f"back by {callee}() as an absolute value: concurrent requests read the same "
                f"{noun} and one update is lost (or a limit checked on it is passed twice). "
                "Change it in the store (a statement that adds to the stored value, INCRBY) "
                "or hold the row while deciding",
                (ProjectFact(_ATOMIC_SETTER_FACT + method.lstrip("_"), ""),),
                Confidence.MEDIUM,
            )
    return None


def _kv_write_back(
    call: ast.Call, method: str, flow: _Flow, ctx: PythonContext
) -> tuple[str, tuple[ProjectFact, ...], Confidence | None] | None:
    key = ctx.segment(call.args[0])
    values: list[tuple[str, ast.expr]] = []
    if method in {"set"} and len(call.args) > 1:
        values.append((key, call.args[1]))
    elif method in {"setex", "psetex"} and len(call.args) > 2:
        values.append((key, call.args[2]))
    elif method in {"hset", "hmset"}:
        if len(call.args) > 2:
            values.append((key + "|" + ctx.segment(call.args[1]), call.args[2]))
        mapping = next((k.value for k in call.keywords if k.arg == "mapping"), None)
        if mapping is None and method == "hmset" and len(call.args) > 1:
            mapping = call.args[1]
        if isinstance(mapping, ast.Dict):
            for field_key, field_value in zip(mapping.keys, mapping.values, strict=True):
                if field_key is not None:
                    values.append((key + "|" + ctx.segment(field_key), field_value))
    for written, value in values:
        read = next(
            (r for r in flow.source_of(value) if r.kind == "kv" and r.what == written), None
        )
        if read is None or not _computed_from(value, flow, read):
            continue
        return (
            f"the key {written.split('|')[0]} is read (line {read.line}), changed in Python and "
            f"written back with {method.upper()}: two clients read the same value and one "
            "update is lost. Use INCRBY/DECRBY/HINCRBY (atomic in Redis), or WATCH/MULTI or a "
            "Lua script for a change that depends on the value",
            (),
            None,
        )
    return None


def _sql_write_back(
    call: ast.Call, found: re.Match[str], flow: _Flow, ctx: PythonContext
) -> tuple[str, tuple[ProjectFact, ...], Confidence | None] | None:
    table = _table(found.group("table"))
    sets, where = found.group("sets"), found.group("where") or ""
    parameters = [*call.args[1:], *(k.value for k in call.keywords)]
    for read in flow.reads("sql"):
        if read.what != table:
            continue
        for column in re.findall(r"(\w+)\s*=\s*" + _PLACEHOLDER, sets):
            column = column[0]
            if not _selected(column, read.columns):
                continue
            if re.search(rf"\b{column}\b|\bversion\b", where, re.I):
                continue  # compare-and-set: the write only lands on the value it read
            if any(_computed_from(parameter, flow, read) for parameter in parameters):
                return (
                    f"{table}.{column} is read by a SELECT (line {read.line}), changed in "
                    f"Python and written back as an absolute value (SET {column} = "
                    "<parameter>): concurrent requests read the same value and one update is "
                    f"lost. Change it in the statement (SET {column} = {column} + %s, with "
                    f"WHERE {column} >= %s for a limit) or SELECT ... FOR UPDATE first",
                    (),
                    None,
                )
    return None


def _selected(column: str, columns: str) -> bool:
    return columns.strip() == "*" or bool(re.search(rf"\b{re.escape(column)}\b", columns, re.I))


def _establish_atomic_setters(ctx: PythonContext) -> None:
    ctx.memo(_ATOMIC_SETTERS)


def _atomic_setters(ctx: PythonContext) -> bool:
    """State the module's setter helpers that change their value in the store (``SET x = x +
    %s``, ``INCRBY``): a ``set_x(..., x + n)`` call to one is not a lost update."""
    if ctx.facts.is_test:
        return False
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if _helper_noun(node.name, _SETTERS) is None:
            continue
        body = ctx.segment(node)
        if _RELATIVE_SET.search(body) or _ATOMIC_KV.search(body):
            ctx.establish(ProjectFact(_ATOMIC_SETTER_FACT + node.name.lstrip("_"), ""))
    return True


_ATOMIC_SETTERS: ModuleMemo[bool] = ModuleMemo("CON010:atomic-setters", _atomic_setters)
