"""State: a column the module caches in a shared cache, updated without touching the cached
copy (STA012)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import walk_body

_SELECT = re.compile(r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+(?P<table>[\w.\"]+)", re.I | re.S)
_UPDATE = re.compile(
    r"^\s*UPDATE\s+(?P<table>[\w.\"]+)\s+SET\s+(?P<sets>.+?)(?:\s+WHERE\b|$)",
    re.I | re.S,
)
_SET_COLUMN = re.compile(r"(?:^|,)\s*(?P<column>[\w\"]+)\s*=")
# Writes into a shared cache (Redis, memcached, Django's cache framework, cachetools-like
# clients) and the calls that drop or refresh an entry.
_CACHE_WRITES = frozenset({"set", "setex", "psetex", "set_many", "hset", "add", "mset"})
_CACHE_DROPS = frozenset({"delete", "delete_many", "unlink", "hdel", "expire", "invalidate"})
_CACHE_RECEIVER = re.compile(r"cache|redis|memcache|\brds\b|\br\b|kv", re.I)
_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


@dataclass(frozen=True, slots=True)
class _Cached:
    table: str
    columns: frozenset[str]
    prefix: str  # the key's constant start: "balance:"
    function: str
    line: int


def _name(text: str) -> str:
    return text.strip().strip('"').rsplit(".", 1)[-1].lower()


def _literal(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _cache_call(call: ast.Call, ctx: PythonContext, verbs: frozenset[str]) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in verbs:
        return False
    receiver = ctx.segment(func.value)
    qualname = ctx.qualname(func.value) or ""
    return bool(_CACHE_RECEIVER.search(receiver)) or qualname.startswith(
        ("redis", "django.core.cache", "pymemcache", "aiocache")
    )


def _key_prefix(key: ast.expr) -> str | None:
    """``f"balance:{member_id}"`` / ``"balance:" + str(id)``: the constant start of a key
    built per row ("balance:"); None for a constant key or one without a constant start."""
    if isinstance(key, ast.JoinedStr) and len(key.values) >= 2:
        first = key.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
            return first.value
    if isinstance(key, ast.BinOp) and isinstance(key.op, ast.Add):
        left = key.left
        if isinstance(left, ast.Constant) and isinstance(left.value, str) and left.value:
            return left.value
    return None


def _cached_columns(ctx: PythonContext) -> list[_Cached]:
    """Per function of the module: the columns it SELECTs and caches under a per-row key."""
    found: list[_Cached] = []
    for node in ctx.tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        selects: list[tuple[str, frozenset[str]]] = []
        prefixes: list[tuple[str, int]] = []
        for item in walk_body(node.body):
            if isinstance(item, _OPAQUE) or not isinstance(item, ast.Call):
                continue
            text = _literal(item)
            chosen = _SELECT.match(text) if text else None
            if chosen is not None:
                columns = frozenset(
                    _name(part.split()[-1]) for part in chosen.group("columns").split(",")
                )
                selects.append((_name(chosen.group("table")), columns))
            elif _cache_call(item, ctx, _CACHE_WRITES) and item.args:
                prefix = _key_prefix(item.args[0])
                if prefix is not None:
                    prefixes.append((prefix, item.lineno))
        for table, columns in selects:
            for prefix, line in prefixes:
                found.append(_Cached(table, columns, prefix, node.name, line))
    return found


_CACHED: ModuleMemo[list[_Cached]] = ModuleMemo("STA012:cached", _cached_columns)


def _touches(
    function: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, ctx: PythonContext
) -> bool:
    """The function drops or rewrites an entry under ``prefix`` (or calls a helper that does:
    one whose name says it invalidates or refreshes)."""
    for item in walk_body(function.body):
        if not isinstance(item, ast.Call):
            continue
        if (
            _cache_call(item, ctx, _CACHE_DROPS | _CACHE_WRITES)
            and item.args
            and prefix in ctx.segment(item.args[0])
        ):
            return True
        func = item.func
        last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if any(word in last.lower() for word in ("invalidat", "evict", "refresh_cache", "bust")):
            return True
    return False


@python_rule(
    code="STA012",
    name="cached-column-updated-without-invalidation",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="A column the module caches per row is updated without dropping the cached copy",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    fix="Delete (or rewrite) the cached entry in the same function that updates the column, "
    "after the write commits: cache.delete(f'balance:{member_id}').",
)
def cached_column_updated_without_invalidation(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags an `UPDATE table SET column = ...` run by a function of a module that also reads
    that column with `SELECT` and stores it in a shared cache (Redis, memcached, Django's
    cache) under a per-row key (`cache.set(f"balance:{member_id}", balance, ex=600)`), when
    the updating function neither deletes nor rewrites an entry under that key's prefix
    (nor calls a helper named for invalidating it).

    ## Why it breaks production
    The cached copy outlives the write: every reader served from the cache sees the old value
    until the entry expires -- a member sees points already redeemed (and can spend them
    again), a price change or a suspended account takes effect minutes later, and on every
    replica at once. Tests that never populate the cache, or run the read before the write,
    never see it.

    ## Example
    ```python
    def get_balance(member_id):
        cached = cache.get(f"balance:{member_id}")
        ...
        cur.execute("SELECT balance FROM members WHERE id = %s", (member_id,))
        cache.set(f"balance:{member_id}", balance, ex=600)

    def deduct(member_id, points):
        cur.execute("UPDATE members SET balance = balance - %s WHERE id = %s", (points, member_id))
    ```

    ## Use instead
    ```python
    def deduct(member_id, points):
        cur.execute("UPDATE members SET balance = balance - %s WHERE id = %s", (points, member_id))
        conn.commit()
        cache.delete(f"balance:{member_id}")
    ```
    """
    if ctx.facts.is_test:
        return
    cached = ctx.memo(_CACHED)
    if not cached:
        return
    for item in walk_body(node.body):
        if isinstance(item, _OPAQUE) or not isinstance(item, ast.Call):
            continue
        text = _literal(item)
        updated = _UPDATE.match(text) if text else None
        if updated is None:
            continue
        table = _name(updated.group("table"))
        columns = {_name(m.group("column")) for m in _SET_COLUMN.finditer(updated.group("sets"))}
        for entry in cached:
            if entry.function == node.name or entry.table != table:
                continue
            every = "*" in entry.columns
            hit = sorted(columns & entry.columns) or (sorted(columns) if every else [])
            if not hit or _touches(node, entry.prefix, ctx):
                continue
            ctx.report(
                item,
                f"{table}.{hit[0]} is cached under '{entry.prefix}...' by {entry.function}() "
                f"(line {entry.line}), and this UPDATE changes it without deleting or "
                "rewriting that entry: readers served from the cache get the old value until "
                "it expires. Delete the entry after the write commits",
            )
            return
