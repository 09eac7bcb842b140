"""Concurrency: read-modify-write and check-then-create races (CON002, CON004)."""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    DJANGO_MANAGERS,
    QueryChain,
    caught_names,
    django_query,
    has_keyword,
    in_service_code,
    in_task,
    is_db_session,
    method_chain,
    orm_query,
)
from prodready.rules.concurrency._local_copies import update_through_copy
from prodready.rules.concurrency._related_rows import related_row
from prodready.rules.concurrency._running_totals import kept_row, own_attempt_counter, self_update
from prodready.rules.concurrency._unique_columns import (
    UNIQUE_SETS,
    establish_unique_sets,
    moot_unless,
)

# -- CON002 ---------------------------------------------------------------------------------------

_SINGLE_ROW = frozenset(
    {"get", "first", "last", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none"}
    | {"get_one", "get_or_404", "first_or_404", "one_or_404", "aget", "afirst", "alast"}
    | {"get_or_create", "aget_or_create"}
)
_LOCKS = ("select_for_update", "with_for_update", "FOR UPDATE", "for_update")


@dataclass(slots=True)
class _RaceState:
    loaded: dict[str, bool] = field(default_factory=dict)  # name -> loaded with a row lock
    load_sites: dict[str, ast.stmt] = field(default_factory=dict)  # name -> its load statement
    updates: list[tuple[ast.stmt, str, str]] = field(default_factory=list)
    persists: list[tuple[int, str | None]] = field(default_factory=list)  # (line, name|None)
    unit_of_work: set[str] = field(default_factory=set)  # rows a SQLAlchemy session tracks


def _loaded_object(value: ast.expr, ctx: PythonContext) -> bool | None:
    """For an expression loading one ORM row: whether it takes a row lock (None: not a load)."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return None
    name = ctx.qualname(value.func) or ""
    if name.endswith(("get_object_or_404", "aget_object_or_404")) and value.args:
        return any(lock in ctx.segment(value.args[0]) for lock in _LOCKS)
    chain = orm_query(value, ctx) or _class_query(value, ctx)
    if chain is None or not (set(chain.steps) & _SINGLE_ROW):
        return None
    if chain.orm == "sqlalchemy" and chain.steps[0] == "get":
        return has_keyword(chain.calls[-1], "with_for_update")
    text = ctx.segment(value)
    if chain.statement is not None:
        first = chain.calls[-1].args[0] if chain.calls[-1].args else None
        if isinstance(first, ast.Name):
            statement = ctx.value_of(first.id)
            text += ctx.segment(statement) if statement is not None else ""
    return any(lock in text for lock in _LOCKS)


def _session_tracked(value: ast.expr, ctx: PythonContext) -> bool:
    """A row loaded through a SQLAlchemy session: a change to it is written by the session's
    next commit, made here or by the caller (``Coupon.query.filter_by(...).first()``)."""
    if isinstance(value, ast.Await):
        value = value.value
    chain = orm_query(value, ctx) if isinstance(value, ast.Call) else None
    return chain is not None and chain.orm == "sqlalchemy"


def _class_query(value: ast.Call, ctx: PythonContext) -> QueryChain | None:
    """``cls.objects.get_or_create(...)`` in a classmethod of a Django model: a query on the
    model itself (``cls`` is the class, written in lower case, so it is not read as a model)."""
    scope = ctx.function
    if scope is None or not _is_django_model_method(ctx):
        return None
    decorators = {d.id for d in scope.node.decorator_list if isinstance(d, ast.Name)}
    positional = scope.node.args.posonlyargs + scope.node.args.args
    if "classmethod" not in decorators or not positional:
        return None
    base, steps = method_chain(value)
    if not (isinstance(base, ast.Name) and base.id == positional[0].arg and steps):
        return None
    if steps[0][0] not in DJANGO_MANAGERS:
        return None
    assert scope.class_info is not None
    named = copy.deepcopy(value)  # the same chain on the class's own name; the tree is shared
    named_base, _ = method_chain(named)
    assert isinstance(named_base, ast.Name)
    named_base.id = scope.class_info.node.name
    return orm_query(named, ctx)


def _is_django_model_method(ctx: PythonContext) -> bool:
    scope = ctx.function
    if scope is None or scope.class_info is None:
        return False
    return any(
        base.endswith(("models.Model", "db.models.Model")) for base in scope.class_info.bases
    )


@python_rule(
    code="CON002",
    name="read-modify-write-race",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Field updated from its own value in Python and saved back (lost updates)",
    nodes=(ast.Assign, ast.AugAssign, FunctionEnd),
    calls=("*.save", "*.asave", "*.commit"),
    fix="Update atomically in the database (F('stock') - n / UPDATE ... SET x = x - :n) or "
    "lock the row first (select_for_update() / with_for_update() in a transaction).",
)
def read_modify_write_race(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a field of an ORM object updated from its own value in Python -- `obj.balance -=
    amount`, `obj.stock = obj.stock - qty`, `obj.views += 1` -- and then saved (`obj.save()`,
    `session.commit()`), when the object was loaded in the same function without
    `select_for_update()` / `with_for_update()` (or is a Django model's `self`). A row loaded
    through a SQLAlchemy session needs no save in the function: the session's next commit
    writes it, made here or by the caller (a helper bumping `coupon.uses` for the view that
    commits).

    A running total kept beside the rows it totals -- the same function also inserts the change
    as a row of its own through a relation of the object (`card.movements.create(amount=n)`,
    or a helper of the model doing so; any row when the total counts by one) -- is reported
    low with low confidence: a lost update leaves the total behind rows that are all kept, and
    the rule cannot tell whether the total is relied on. It stays high when the function
    compares the total (it decides something) or the module ever subtracts from that field (a
    balance spent down, where a lost update is a double spend). A foreign key to a parent does
    not lower it: a row hanging from an item or a rule is still written by every request that
    reaches the parent.

    ## Why it breaks production
    Two requests load the row at the same time, both see `stock = 5`, both write `stock = 4`:
    one sale is lost, or the account is debited once for two withdrawals. Wrapping the code in
    `transaction.atomic()` alone does not help -- under the default READ COMMITTED isolation
    both transactions still read the same value. It never shows in tests and surfaces as
    overselling, negative balances and numbers that don't reconcile.

    ## Example
    ```python
    product = Product.objects.get(pk=product_id)
    product.stock -= quantity
    product.save()
    ```

    ## Use instead
    ```python
    updated = Product.objects.filter(pk=product_id, stock__gte=quantity).update(
        stock=F("stock") - quantity
    )
    if not updated:
        raise OutOfStock(product_id)
    ```
    Or lock the row: `Product.objects.select_for_update().get(pk=product_id)` inside
    `transaction.atomic()`; with SQLAlchemy `update(Product).values(stock=Product.stock - n)` or
    `select(...).with_for_update()`.
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    state: _RaceState = ctx.rule_state(_RaceState)
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute):
            return
        if func.attr == "commit":
            if is_db_session(func.value, ctx):
                state.persists.append((node.lineno, None))
        elif isinstance(func.value, ast.Name):
            state.persists.append((node.lineno, func.value.id))
        return
    if isinstance(node, ast.Assign):
        value = node.value
        if len(node.targets) != 1:
            return
        target = node.targets[0]
        if isinstance(target, ast.Tuple) and target.elts:
            target = target.elts[0]  # obj, created = X.objects.get_or_create(...)
        if isinstance(target, ast.Name):
            locked = _loaded_object(value, ctx)
            if locked is not None:
                state.loaded[target.id] = locked
                if _session_tracked(value, ctx):
                    state.unit_of_work.add(target.id)
                state.load_sites[target.id] = node
            elif related_row(value, state.loaded, ctx):
                state.loaded[target.id] = False  # a lazy relation load: never locked
                state.load_sites[target.id] = node
            elif state.loaded.get(target.id) is False and _only_on_some_paths(
                node, state.load_sites[target.id], ctx
            ):
                pass  # ``if obj is None: obj = Model.objects.create(...)``: may still be the row
            else:
                state.loaded.pop(target.id, None)
        elif self_update(target, value) or update_through_copy(target, value, ctx):
            _record_update(node, target, ctx, state)
        return
    if isinstance(node, ast.AugAssign):
        if isinstance(node.op, ast.Add | ast.Sub) and not (
            isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        ):
            _record_update(node, node.target, ctx, state)
        return
    # FunctionEnd
    for statement, name, attr in state.updates:
        line = statement.lineno
        tracked = name in state.unit_of_work  # flushed by whichever commit comes next
        if not tracked and not any(
            at > line and (saved is None or saved == name) for at, saved in state.persists
        ):
            continue
        remedy = (
            f"Update it in the database (F('{attr}'), or an UPDATE that sets {attr} from itself) "
            "or load the row with select_for_update()/with_for_update()"
        )
        kept = kept_row(statement, name, attr, ctx)
        if own_attempt_counter(statement, name, attr, state.load_sites.get(name), ctx):
            ctx.report(
                statement,
                f"{name}.{attr} counts this function's tries on the row it was asked to "
                "process and is read, changed in Python and written back: concurrent runs can "
                f"lose an increment, which under-counts {attr} by one and decides nothing here "
                f"(low). {remedy}",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
        elif kept is None:
            ctx.report(
                statement,
                f"{name}.{attr} is read, changed in Python and written back: concurrent requests "
                f"read the same value and one update is lost. {remedy}",
            )
        else:
            ctx.report(
                statement,
                f"{name}.{attr} is read, changed in Python and written back, so concurrent "
                "requests can lose an update, but the same change is also inserted as a row "
                f"(line {kept.lineno}) that is kept: a lost update leaves {attr} behind those "
                f"rows without losing one, and the rule cannot tell whether {attr} is relied "
                f"on or can be recomputed from them (low). {remedy}",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )


_BRANCHES = (ast.If, ast.Try, ast.TryStar, ast.For, ast.AsyncFor, ast.While, ast.Match)


def _only_on_some_paths(rebind: ast.stmt, load: ast.stmt, ctx: PythonContext) -> bool:
    """``rebind`` sits in a branch (``if``/``try``/loop body) that ``load`` is not in: after
    the branch the name may still hold the row loaded earlier."""
    scope = ctx.function
    assert scope is not None

    def branches(node: ast.AST) -> set[int]:
        found: set[int] = set()
        parent = ctx.parent(node)
        while parent is not None and parent is not scope.node:
            if isinstance(parent, _BRANCHES):
                found.add(id(parent))
            parent = ctx.parent(parent)
        return found

    return bool(branches(rebind) - branches(load))


def _record_update(node: ast.stmt, target: ast.expr, ctx: PythonContext, state: _RaceState) -> None:
    if not isinstance(target, ast.Attribute) or not isinstance(target.value, ast.Name):
        return
    name = target.value.id
    scope = ctx.function
    assert scope is not None
    if name in state.loaded:
        if state.loaded[name]:
            return
    elif not (name == scope.self_name and _is_django_model_method(ctx)):
        return
    state.updates.append((node, name, target.attr))


# -- CON004 ---------------------------------------------------------------------------------------

_EXISTENCE = frozenset(
    {"exists", "first", "count", "one_or_none", "scalar", "scalar_one_or_none", "last"}
    | {"aexists", "afirst", "acount", "alast"}
)
_SAFE_CALLS = frozenset(
    {"get_or_create", "update_or_create", "select_for_update", "with_for_update"}
    | {"on_conflict_do_nothing", "on_conflict_do_update", "on_duplicate_key_update"}
    | {"aget_or_create", "aupdate_or_create", "prefix_with"}
)
_UNIQUE_ERRORS = ("IntegrityError", "UniqueViolation", "DuplicateKeyError", "UniqueViolationError")


@dataclass(slots=True)
class _CheckState:
    names: dict[str, str] = field(default_factory=dict)  # name -> model of an existence query
    checks: list[tuple[str, int, int, int]] = field(default_factory=list)  # model, line, from, to
    creates: list[tuple[ast.Call, str]] = field(default_factory=list)
    safe: bool = False


def _existence_model(expr: ast.AST, ctx: PythonContext, state: _CheckState) -> str | None:
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Name):
        return state.names.get(expr.id)
    chain = orm_query(expr, ctx)
    if chain is None or chain.model is None:
        return None
    if chain.terminal in _EXISTENCE or (chain.orm == "django" and chain.terminal == "filter"):
        return chain.model
    return None


def _existence_test(
    test: ast.expr, ctx: PythonContext, state: _CheckState
) -> tuple[str, bool] | None:
    """(model, True when the test means "a row exists")."""
    negated = False
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        negated = not negated
        test = test.operand
    present = True
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        if isinstance(right, ast.Constant) and right.value is None:
            if isinstance(op, ast.Is | ast.Eq):
                present = False
            elif not isinstance(op, ast.IsNot | ast.NotEq):
                return None
        elif isinstance(right, ast.Constant) and right.value in (0, 1):
            if (isinstance(op, ast.Eq) and right.value == 0) or isinstance(op, ast.Lt):
                present = False
            elif not isinstance(op, ast.Gt | ast.NotEq | ast.GtE):
                return None
        else:
            return None
        test = test.left
    model = _existence_model(test, ctx, state)
    if model is None:
        return None
    return model, present != negated


def _created_model(node: ast.Call, ctx: PythonContext) -> str | None:
    """The model a call inserts: ``X.objects.create(...)``, ``session.add(X(...))``,
    ``X(...).save()`` / ``obj.save()`` with ``obj = X(...)``."""
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    chain = django_query(node)
    if chain is not None:
        if chain.calls[0] is node and chain.terminal.startswith(("create", "acreate")):
            return chain.model
        return None
    if func.attr == "add" and len(node.args) == 1 and is_db_session(func.value, ctx):
        return _constructed(node.args[0], ctx)
    if func.attr in {"save", "asave"} and not node.args:
        return _constructed(func.value, ctx)
    return None


def _constructed(expr: ast.expr, ctx: PythonContext) -> str | None:
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is None:
            return None
        expr = value
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        name = expr.func.id
        return name if name[:1].isupper() else None
    return None


def _protected(ctx: PythonContext) -> bool:
    for statement in ctx.trys:
        for handler in statement.handlers:
            names = caught_names(handler, ctx)
            if not names or any(
                n.endswith(_UNIQUE_ERRORS) or n in {"builtins.Exception", "builtins.BaseException"}
                for n in names
            ):
                return True
    return False


def _ends(block: list[ast.stmt]) -> bool:
    return bool(block) and isinstance(block[-1], ast.Return | ast.Raise | ast.Continue)


@python_rule(
    code="CON004",
    name="check-then-create-race",
    category=Category.CONCURRENCY,
    severity=Severity.MEDIUM,
    summary="Row created after checking it does not exist, without a unique-constraint guard",
    nodes=(ast.If, ast.Assign, FunctionEnd),
    calls=(
        "*.create",
        "*.acreate",
        "*.create_user",
        "*.add",
        "*.save",
        "*.asave",
        *(f"*.{name}" for name in sorted(_SAFE_CALLS)),
    ),
    fix="Let the database decide: a unique constraint plus get_or_create()/"
    "update_or_create(), INSERT ... ON CONFLICT, or catch IntegrityError around the create.",
)
def check_then_create_race(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags the check-then-act pattern: a query that checks whether a row exists
    (`.exists()`, `.first() is None`, `.count() == 0`, a SQLAlchemy `.first()`/
    `.one_or_none()`) followed by creating that model (`Model.objects.create(...)`,
    `session.add(Model(...))`, `Model(...).save()`), when the create is not inside a `try` that
    catches `IntegrityError` and the function uses no `get_or_create`, `update_or_create`,
    `select_for_update` or `ON CONFLICT`. A model of the project -- in any module, known by its
    class name -- that declares the created fields unique (`Meta.constraints =
    [UniqueConstraint(...)]`, `unique_together`, `unique=True`, SQLAlchemy's `__table_args__`
    `UniqueConstraint("a", "b")`, the composite primary key) is left alone: the database
    refuses the second insert. Evidence tier: a create that sets no field (`Config.objects.
    create()`, a singleton seeded on first use) is reported low, confidence low -- the two
    rows a race inserts are identical defaults, harmful only to code expecting exactly one.

    ## Why it breaks production
    Two concurrent requests -- a double-submitted form, a retried webhook, two workers
    consuming the same event -- both run the check before either inserts, both see "no row",
    and both create one. Without a unique constraint you get duplicate accounts, subscriptions
    or payouts; with one, the loser crashes with an unhandled IntegrityError (a 500).

    ## Example
    ```python
    if not Subscription.objects.filter(user=user, plan=plan).exists():
        Subscription.objects.create(user=user, plan=plan)
    ```

    ## Use instead
    ```python
    # with UniqueConstraint(fields=["user", "plan"]) on the model
    subscription, created = Subscription.objects.get_or_create(user=user, plan=plan)
    ```
    Or `try: ... create(...) except IntegrityError: ...`, or with SQLAlchemy
    `insert(...).on_conflict_do_nothing(index_elements=[...])`.
    """
    establish_unique_sets(ctx)
    if ctx.function is None or ctx.facts.is_test:
        return
    state: _CheckState = ctx.rule_state(_CheckState)
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute) or state.safe:
            return
        if func.attr in _SAFE_CALLS:
            state.safe = True
            return
        model = _created_model(node, ctx)
        if model is not None and not _protected(ctx):
            state.creates.append((node, model))
        return
    if isinstance(node, ast.Assign):
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            model = _existence_model(node.value, ctx, state)
            if model is not None and not isinstance(node.value, ast.Name):
                state.names[name] = model
            else:
                state.names.pop(name, None)
        return
    if isinstance(node, ast.If):
        found = _existence_test(node.test, ctx, state)
        if found is None:
            return
        model, present = found
        end = node.end_lineno or node.lineno
        if not present:
            body_end = node.body[-1].end_lineno or end
            state.checks.append((model, node.lineno, node.body[0].lineno, body_end))
        else:
            if node.orelse:
                state.checks.append(
                    (model, node.lineno, node.orelse[0].lineno, node.orelse[-1].end_lineno or end)
                )
            if _ends(node.body):
                function_end = ctx.function.node.end_lineno or end
                state.checks.append((model, node.lineno, end + 1, function_end))
        return
    # FunctionEnd
    if state.safe or not state.creates:
        return
    confidence: Confidence | None = None
    if ctx.route is None and not in_task(ctx):
        if not in_service_code(ctx):
            return  # library code, scripts, start-up hooks: no concurrent callers known
        confidence = Confidence.MEDIUM
    for call, model in state.creates:
        given = _created_columns(call, ctx)
        if given and any(fields <= given for fields in ctx.memo(UNIQUE_SETS).get(model, ())):
            continue  # the database rejects the duplicate: the race ends in an IntegrityError
        for checked, line, start, stop in state.checks:
            if checked == model and start <= call.lineno <= stop and _defaults_only(call, ctx):
                ctx.report(
                    call,
                    f"{model} is created after checking that it does not exist (line {line}), "
                    "but the create sets no field: two concurrent callers insert two identical "
                    "rows of defaults, harmless to a reader that takes the first one and an "
                    "error only where code expects exactly one (.get()); reported low. Use "
                    "get_or_create() or seed the row in a migration",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                break
            if checked == model and start <= call.lineno <= stop:
                ctx.report(
                    call,
                    f"{model} is created after checking that it does not exist (line {line}): "
                    "two concurrent requests both pass the check and both insert. Use a "
                    "unique constraint with get_or_create()/ON CONFLICT, or catch "
                    "IntegrityError",
                    confidence=confidence,
                    # a model of another module declaring the created columns unique
                    unless=moot_unless(model, given),
                )
                break


def _defaults_only(create: ast.Call, ctx: PythonContext) -> bool:
    """The create gives no value at all: ``Config.objects.create()``, ``session.add(Config())``
    -- the row it inserts holds only the model's defaults (a singleton seeded on first use)."""
    if create.args and not (isinstance(create.func, ast.Attribute) and create.func.attr == "add"):
        return False
    if create.keywords:
        return False
    if isinstance(create.func, ast.Attribute) and create.func.attr.startswith(
        ("create", "acreate")
    ):
        return True
    constructed = _constructor_call(create, ctx)
    return constructed is not None and not constructed.args and not constructed.keywords


def _created_columns(create: ast.Call, ctx: PythonContext) -> set[str]:
    """The columns a create sets (``team_id=`` also names the ``team`` field)."""
    given = {k.arg for k in create.keywords if k.arg}
    if not isinstance(create.func, ast.Attribute) or not create.func.attr.startswith(
        ("create", "acreate")
    ):
        constructed = _constructor_call(create, ctx)
        given = {k.arg for k in constructed.keywords if k.arg} if constructed else set()
    return given | {name.removesuffix("_id") for name in given}


def _constructor_call(call: ast.Call, ctx: PythonContext) -> ast.Call | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    expr: ast.expr | None = call.args[0] if func.attr == "add" and call.args else func.value
    if isinstance(expr, ast.Name):
        expr = _last_value_before(expr.id, call, ctx)
    return expr if isinstance(expr, ast.Call) else None


def _last_value_before(name: str, call: ast.Call, ctx: PythonContext) -> ast.expr | None:
    """What ``name`` holds at ``call``: its last assignment before the call in the function
    (``invoice = query(...).one_or_none()`` then ``invoice = Invoice(...)``, and a later
    ``invoice = query(...).one()`` in a handler), else the module's value for it."""
    if ctx.function is not None:
        earlier = [
            node.value
            for node in ast.walk(ctx.function.node)
            if isinstance(node, ast.Assign)
            and node.lineno < call.lineno
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        ]
        if earlier:
            return max(earlier, key=lambda value: value.lineno)
    return ctx.value_of(name)
