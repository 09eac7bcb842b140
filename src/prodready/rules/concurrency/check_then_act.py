"""Concurrency: a limit or a state checked, then acted on, with nothing holding it (CON009)."""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from dataclasses import dataclass

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Role,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import dotted, in_task, is_script, walk_body
from prodready.rules.concurrency._flag_sweeps import flag_sweep
from prodready.rules.concurrency._row_claims import actor_value, claimed_by_new_row
from prodready.rules.concurrency._sql_inserts import built_insert, core_selected
from prodready.rules.concurrency._sql_state_claims import sql_state_then_effect
from prodready.rules.concurrency._state_claims import method_name, state_then_effect
from prodready.rules.concurrency.races import _loaded_object

# -- CON009 ---------------------------------------------------------------------------------------

# Anything in the function that holds the row or makes the write conditional.
_GUARDS = re.compile(
    r"select_for_update|with_for_update|FOR\s+UPDATE|FOR\s+NO\s+KEY\s+UPDATE|__lte?=|__gte?=|"
    r"_for_update\(|"
    r"LOCK\s+TABLE|advisory|\block\b|_lock\b|\.lock\(|Lock\(|SERIALIZABLE|on_conflict|"
    r"ON\s+CONFLICT|IntegrityError|\bversion\b",
    re.I,
)
_LIMIT_WORDS = re.compile(
    r"capacity|^max_|_max$|limit|quota|seats|available|remaining|^stock$|inventory|max_\w+",
    re.I,
)
_COUNT_CALLS = re.compile(
    r"count|available|remaining|capacity|sold|booked|taken|used|balance|credit|points|stock|"
    r"quota|_left$|^left_|vacanc",
    re.I,
)
_WRITE_NAMES = frozenset(
    {"create", "acreate", "add", "add_all", "save", "asave", "commit", "bulk_create", "insert"}
)
_WRITE_PREFIXES = (
    "create_",
    "insert_",
    "add_",
    "book",
    "reserve",
    "register",
    "redeem",
    "deduct",
    "debit",
    "withdraw",
    "decrement",
    "spend",
    "consume",
    "charge",
    "transfer",
)
# A project helper whose statement writes only while the limit holds (``UPDATE ... SET
# balance = balance - %s WHERE id = %s AND balance >= %s``, a row count checked).
_CONDITIONAL_WRITER_FACT = "concurrency:conditional-writer:"
_CONDITIONAL_SQL = re.compile(
    r"\bUPDATE\b[^;]*\bWHERE\b[^;]*(>=|<=|<|>)|rowcount|FOR\s+UPDATE|__gte?=|__lte?=", re.I | re.S
)
# A word one of which every match of _CONDITIONAL_SQL contains (lowercased).
_CONDITIONAL_WORDS = ("update", "rowcount", "__gt", "__lt")
_STATEMENT = re.compile(r"^\s*(INSERT|UPDATE)\b", re.I)
# A word one of which every match of _GUARDS contains (lowercased): a function none of whose
# lines holds one cannot match, and its text need not be searched.
_GUARD_WORDS = re.compile(
    "update|__lt|__gt|lock|advisory|serializable|conflict|integrityerror|version"
)
# _GUARD_WORDS's alternatives, plain words: a line matches it when it holds one of them.
_GUARD_TEXTS = tuple(_GUARD_WORDS.pattern.split("|"))
_ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


@dataclass(frozen=True, slots=True)
class _Check:
    test: ast.If
    what: str  # how the checked value reads in the message
    claim: tuple[str, str] | None  # (object, attribute) of a state check, None for a limit


def _exits(body: list[ast.stmt]) -> bool:
    last = body[-1] if body else None
    if isinstance(last, ast.Return | ast.Raise):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return (dotted(last.value.func) or "").rsplit(".", 1)[-1] in {"abort", "abort_with"}
    return False


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The function's own nodes (nested functions and classes left out), in source order."""
    return [node for node in walk_body(function.body) if not isinstance(node, _OPAQUE)]


def _write_call(node: ast.Call) -> bool:
    func = node.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if last in _WRITE_NAMES or last.lstrip("_").startswith(_WRITE_PREFIXES):
        return True
    if last in {"update", "aupdate"} and isinstance(func, ast.Attribute):
        return isinstance(func.value, ast.Call)  # ``Model.objects.filter(...).update(...)``
    if last in {"execute", "fetchrow", "fetchval", "fetch"} and node.args:
        first = node.args[0]
        return (
            isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and bool(_STATEMENT.match(first.value))
        )
    return False


def _claimed_by_someone(
    function: ast.FunctionDef | ast.AsyncFunctionDef, name: str, attr: str, check: _Check
) -> bool:
    """Besides the state, the function writes onto the row a value of this request (``ride.
    driver_id = driver_id``) or creates a row of this actor pointing at it: an actor claims
    the row, and a lost race hands it to two. A transition whose other fields are constants
    (pausing: ``last_start = None``) or what the row itself yields ends the same whoever runs
    it."""
    after = check.test.end_lineno or check.test.lineno
    for node in ast.walk(function):
        if not isinstance(node, ast.Assign) or node.lineno <= after or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == name
            and target.attr != attr
            and actor_value(node.value, function, name)
        ):
            return True
    return claimed_by_new_row(function, name, after)


def _drf_action(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A Django REST framework ``@action`` of a viewset: a request handler too."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (dotted(target) or "").rsplit(".", 1)[-1] == "action":
            return True
    return False


def _locking_helper(value: ast.expr) -> bool:
    """A project helper that says it locks what it returns (``_lock_slot(pk)``)."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    return "lock" in (dotted(value.func) or "").rsplit(".", 1)[-1].lower()


def _counted(value: ast.expr) -> bool:
    """A value read from the database as a number: ``.count()``, ``SELECT count(*)`` through
    ``fetchval``, or a project helper named for it (``seats_available(conn, event_id)``)."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if last in {"count", "acount", "scalar", "fetchval"}:
        return True
    return bool(_COUNT_CALLS.search(last))


_QUERY_COUNTS = frozenset({"count", "acount", "scalar", "fetchval"})


def _counted_in_test(side: ast.expr) -> bool:
    """A count taken in the test itself: a query's count (``qs.count()``, ``db.scalar(...)``)
    or a helper function given the row (``seats_left(tour)``). A method of a loaded row
    (``project.num_checks_available()``) is left out: it is the row's own accounting of its
    owner's plan quota, which only that owner's concurrent requests overshoot, by one."""
    if isinstance(side, ast.Await):
        side = side.value
    if not isinstance(side, ast.Call) or not _counted(side):
        return False
    func = side.func
    if isinstance(func, ast.Name):
        return True
    return isinstance(func, ast.Attribute) and func.attr in _QUERY_COUNTS


def _limit_check(
    test: ast.expr, loaded: dict[str, bool], counts: set[str], ctx: PythonContext
) -> str | None:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    if not isinstance(test.ops[0], _ORDER):
        return None
    sides = [test.left, test.comparators[0]]
    for side in sides:
        if (isinstance(side, ast.Name) and side.id in counts) or _counted_in_test(side):
            return ctx.segment(test)  # ``seats_left(venue) < party``: counted in the test
    attributes = [
        s for s in sides if isinstance(s, ast.Attribute) and isinstance(s.value, ast.Name)
    ]
    if not any(_LIMIT_WORDS.search(a.attr) for a in attributes):
        return None
    owners = {a.value.id for a in attributes if isinstance(a.value, ast.Name)}
    # A counter and its limit on one row (``slot.booked_count >= slot.capacity``), or a
    # limit read from a row loaded here without a lock.
    if any(loaded.get(owner) for owner in owners):
        return None  # loaded with a row lock
    if len(attributes) == 2 and len(owners) == 1:
        return ctx.segment(test)
    if any(loaded.get(owner) is False for owner in owners):
        return ctx.segment(test)
    return None


def _state_check(test: ast.expr, loaded: dict[str, bool]) -> tuple[str, str] | None:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left = test.left
    if not isinstance(test.ops[0], _EQUALITY) or not isinstance(left, ast.Attribute):
        return None
    if not isinstance(left.value, ast.Name) or loaded.get(left.value.id) is not False:
        return None
    right = test.comparators[0]
    if not isinstance(right, ast.Constant | ast.Attribute | ast.Tuple | ast.List | ast.Set):
        return None
    return left.value.id, left.attr


@python_rule(
    code="CON009",
    name="check-then-act-without-lock",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="A limit or a state checked, then written, with no lock or conditional write",
    nodes=(FunctionEnd,),
    roles=(Role.SERVICE, Role.MANAGEMENT_COMMAND),  # commands: only sweeps are judged there
    confidence=Confidence.MEDIUM,
    fix="Hold the row while deciding (select_for_update()/with_for_update()/SELECT ... FOR "
    "UPDATE in a transaction) or make the write conditional and check its row count "
    "(UPDATE ... SET n = n + 1 WHERE id = ? AND n < capacity; UPDATE ... WHERE status = 'open').",
)
def check_then_act_without_lock(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    In an HTTP handler or a background task, flags an `if` that rejects the request (returns,
    raises, aborts) when a limit read from the database is reached -- a counter compared with
    the capacity on the same row (`slot.booked_count >= slot.capacity`), a limit of a row loaded
    without a lock, a count (`.count()`, `fetchval("SELECT count(*) ...")`, a helper named
    `seats_available()`) -- when the function writes afterwards (creates, saves, commits,
    inserts, calls a `create_`/`reserve`/`book` helper). And an `if` that rejects when a row
    loaded without a lock is not in the expected state (`if ride.status != "requested":
    raise`), followed by setting that same field (`ride.status = "accepted"`) together with
    a value of this request on the same row (`ride.driver_id = driver_id`: an actor claims
    it; a transition whose other fields are constants ends the same whoever runs it). And,
    in raw SQL wherever it is (a storage helper too), a `SELECT ... FROM t` that found
    nothing (`if cur.fetchone() is None:`) followed by `INSERT INTO t` -- reported medium:
    the duplicate or the unique violation of the losing run.
    Nothing is reported when the function locks rows (`select_for_update`, `with_for_update`,
    `FOR UPDATE`, a lock), writes conditionally (a filter on the limit such as
    `booked__lt=F("capacity")`, `ON CONFLICT`, a version column) or handles `IntegrityError`;
    an `F()` increment alone is atomic but does not stop the overbooking. A state claim is
    reported medium: many state changes are made by one actor at a time.

    ## Why it breaks production
    The check and the write are separate steps. Two requests arrive together, both read "3 of
    4 seats taken", both pass the check and both book: the slot holds 5. Two drivers both see
    the ride as "requested" and both accept it. Tests run one request at a time and never
    see it; production sees it as overbooking, double acceptance and angry customers.

    ## Example
    ```python
    slot = Slot.objects.get(pk=slot_id)
    if slot.booked >= slot.capacity:
        return Response({"error": "full"}, status=409)
    Booking.objects.create(slot=slot, patient=request.user)
    Slot.objects.filter(pk=slot.pk).update(booked=F("booked") + 1)
    ```

    ## Use instead
    ```python
    with transaction.atomic():
        slot = Slot.objects.select_for_update().get(pk=slot_id)
        if slot.booked >= slot.capacity:
            return Response({"error": "full"}, status=409)
        Booking.objects.create(slot=slot, patient=request.user)
        Slot.objects.filter(pk=slot.pk).update(booked=F("booked") + 1)
    ```
    Or one conditional statement: `UPDATE slots SET booked = booked + 1 WHERE id = %s AND
    booked < capacity` -- zero rows updated means full.
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test:
        return
    ctx.memo(_CONDITIONAL_WRITERS)
    function = scope.node
    if flag_sweep(function, ctx):  # sweeps run from commands and cron too: before is_script
        return
    if (_may_guard(function, ctx) and _GUARDS.search(ctx.segment(function))) or is_script(ctx):
        return
    handler = ctx.route is not None or in_task(ctx) or _drf_action(function)
    # A double charge needs no route in sight: a service layer's method is called by one.
    if not ctx.facts.is_example and (
        state_then_effect(function, ctx) or sql_state_then_effect(function, ctx)
    ):
        return
    if not handler:
        _sql_check_then_insert(function, ctx)  # a storage helper: judged wherever it is
        return
    if _sql_check_then_insert(function, ctx):
        return
    loaded: dict[str, bool] = {}
    counts: set[str] = set()
    checks: list[_Check] = []
    for item in _own_nodes(function):
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
            if isinstance(target, ast.Name):
                locked = _loaded_object(item.value, ctx)
                if locked is not None:
                    loaded[target.id] = locked
                elif _locking_helper(item.value):
                    loaded[target.id] = True  # ``slot = _lock_slot(slot_id)``
                if _counted(item.value):
                    counts.add(target.id)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                for check in checks:
                    if (
                        check.claim == (target.value.id, target.attr)
                        and item.lineno > (check.test.end_lineno or check.test.lineno)
                        and _claimed_by_someone(function, target.value.id, target.attr, check)
                    ):
                        _report(check, item, ctx)
                        return
        elif isinstance(item, ast.If) and _exits(item.body):
            limit = _limit_check(item.test, loaded, counts, ctx)
            if limit is not None:
                checks.append(_Check(item, limit, None))
                continue
            claim = _state_check(item.test, loaded)
            if claim is not None:
                checks.append(_Check(item, ctx.segment(item.test), claim))
        elif isinstance(item, ast.Call) and _write_call(item):
            for check in checks:
                if check.claim is None and item.lineno > (check.test.end_lineno or 0):
                    _report(check, item, ctx, unless=_conditional_writer(item))
                    return


_SELECT_FROM = re.compile(r"^\s*SELECT\s+(?!count\s*\().+?\s+FROM\s+([\w.\"]+)", re.I | re.S)
_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+([\w.\"]+)", re.I)


def _select_lines(ctx: PythonContext) -> list[int]:
    # A line with other than ASCII may spell it with letters that match case-insensitively.
    return [
        number
        for number, line in enumerate(ctx.lines, 1)
        if "select" in line.lower() or not line.isascii()
    ]


# The lines of the module that may hold a literal SELECT, in order: a function without one
# among its lines needs no walk for one.
_SELECT_LINES: ModuleMemo[list[int]] = ModuleMemo("CON009:select", _select_lines)


def _guard_lines(ctx: PythonContext) -> list[int]:
    # A line with other than ASCII may spell a word with letters that match case-insensitively.
    source = ctx.source
    if source.isascii():
        lowered = source.lower()
        if not any(word in lowered for word in _GUARD_TEXTS):
            return []
        if "\r" not in source:
            # Where each word occurs in the whole text (substring searches, far cheaper than
            # the regex run on every line): no word spans a line.
            offsets: list[int] = []
            for word in _GUARD_TEXTS:
                at = lowered.find(word)
                while at != -1:
                    offsets.append(at)
                    at = lowered.find(word, at + 1)
            offsets.sort()
            found: list[int] = []
            line, previous = 1, 0
            for offset in offsets:
                line += lowered.count("\n", previous, offset)
                previous = offset
                if not found or found[-1] != line:
                    found.append(line)
            return found
    return [
        number
        for number, line in enumerate(ctx.lines, 1)
        if not line.isascii() or _GUARD_WORDS.search(line.lower()) is not None
    ]


# The lines of the module that may hold (a part of) a guard: a function without one among its
# lines has none, and its text is not searched.
_GUARD_LINES: ModuleMemo[list[int]] = ModuleMemo("CON009:guards", _guard_lines)


def _may_guard(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    lines = ctx.memo(_GUARD_LINES)
    first = bisect_left(lines, function.lineno)
    return first < len(lines) and lines[first] <= (function.end_lineno or function.lineno)


def _may_select(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    lines = ctx.memo(_SELECT_LINES)
    first = bisect_left(lines, function.lineno)
    return first < len(lines) and lines[first] <= (function.end_lineno or function.lineno)


def _literal_sql(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _absence_test(test: ast.expr) -> bool:
    """``row is None``, ``not row``, ``cur.fetchone() is None``: nothing was found."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Is | ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    )


def _sql_check_then_insert(
    function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """Raw SQL: ``SELECT ... FROM devices WHERE ...`` and, when nothing came back, ``INSERT
    INTO devices``: two runs both find nothing and both insert (or one dies on the unique
    key). Reported at the ``if``; True when reported."""
    if not _may_select(function, ctx):
        return False
    selected: set[str] = set()
    for item in _own_nodes(function):
        if isinstance(item, ast.Call):
            text = _literal_sql(item)
            found = _SELECT_FROM.match(text) if text else None
            if found is not None:
                selected.add(found.group(1).strip('"').lower())
            elif (core := core_selected(item)) is not None:
                selected.add(core)
            continue
        if not (selected and isinstance(item, ast.If) and _absence_test(item.test)):
            continue
        for inner in ast.walk(ast.Module(body=item.body, type_ignores=[])):
            if not isinstance(inner, ast.Call):
                continue
            text = _literal_sql(inner)
            inserted = _INSERT_INTO.match(text) if text else None
            row = f"a row of {inserted.group(1)}" if inserted else built_insert(inner, selected)
            if row is not None and (
                inserted is None or inserted.group(1).strip('"').lower() in selected
            ):
                ctx.report(
                    item,
                    f"{row} is inserted (line {inner.lineno}) after a "
                    "SELECT found none: two concurrent runs both find nothing and both insert "
                    "-- a duplicate, or a unique violation that fails one of them. Let the "
                    "database decide: INSERT ... ON CONFLICT DO NOTHING (INSERT IGNORE on "
                    "MySQL), or catch the unique violation",
                    severity=Severity.MEDIUM,
                )
                return True
    return False


def _report(
    check: _Check, write: ast.AST, ctx: PythonContext, unless: tuple[ProjectFact, ...] = ()
) -> None:
    line = getattr(write, "lineno", 0)
    if check.claim is None:
        ctx.report(
            check.test,
            f"`{check.what}` is checked, then written on line {line} with nothing holding "
            "the row in between: two concurrent requests both pass the check and both write "
            "(overbooking, limits exceeded). Lock the row while deciding (select_for_update()/"
            "with_for_update()/FOR UPDATE) or make the write conditional on the limit and "
            "check its row count",
            unless=unless,
        )
        return
    name, attr = check.claim
    ctx.report(
        check.test,
        f"`{check.what}` is checked on a row loaded without a lock and {name}.{attr} is set on "
        f"line {line}: two concurrent requests both pass the check and both change it (a ride "
        "accepted twice, an order paid twice). Make the change conditional (UPDATE ... WHERE "
        f"{attr} = <expected>, and check the row count) or lock the row while deciding",
        severity=Severity.MEDIUM,
    )


def _conditional_writer(call: ast.Call) -> tuple[ProjectFact, ...]:
    """The fact that makes a limit check before a helper write moot: the helper writes only
    while the limit holds (see :data:`_CONDITIONAL_WRITERS`)."""
    name = method_name(call).lstrip("_")
    return (ProjectFact(_CONDITIONAL_WRITER_FACT + name, ""),) if name else ()


def _conditional_sql(text: str) -> bool:
    """``_CONDITIONAL_SQL.search(text)``, not run on an ASCII text without one of its words."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in _CONDITIONAL_WORDS):
            return False
    return _CONDITIONAL_SQL.search(text) is not None


def _conditional_writers(ctx: PythonContext) -> bool:
    """State the module's functions whose writes hold only while a limit does (a conditional
    UPDATE, a row count checked, a row lock)."""
    if ctx.facts.is_test:
        return False
    lowered = ctx.source.lower()
    if not any(word in lowered for word in _CONDITIONAL_WORDS):
        return True  # no function's text can match: their texts need not be cut and searched
    for node in ctx.nodes():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _conditional_sql(
            ctx.segment(node)
        ):
            ctx.establish(ProjectFact(_CONDITIONAL_WRITER_FACT + node.name.lstrip("_"), ""))
    return True


_CONDITIONAL_WRITERS: ModuleMemo[bool] = ModuleMemo(
    "CON009:conditional-writers", _conditional_writers
)
