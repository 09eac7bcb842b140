"""Data access: several writes outside one transaction (DAT003).

Judged on the project-wide semantic model (``prodready.engine.semantic``): a function's writes
are covered by a transaction its callers, its wrappers or Django open, not only by its own.
"""

from __future__ import annotations

from prodready.plugin import (
    Category,
    Confidence,
    ProjectContext,
    ProjectFacts,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import (
    FunctionSummary,
    SemanticModel,
    Write,
    command_line_only,
    related_sites,
    semantic_model,
)

# -- DAT003 ---------------------------------------------------------------------------------------


def _deletes_only(writes: tuple[Write, ...]) -> bool:
    """Every write deletes (``obj.delete()``, ``Model.objects...delete()``): deleting is
    idempotent, so an interrupted run leaves a subset of the rows -- nothing half-created --
    and the next run finishes it (the cleanup job that deletes expired rows one by one)."""
    return all(write.what.endswith("delete()") for write in writes)


def _saves_own_row(function: FunctionSummary) -> bool:
    """A ``save()``/``delete()`` method whose first write is the base class's
    (``super().save()``): an override of the object's own save, called by whoever saves the
    object -- its transaction is the saver's."""
    name = function.short_name
    if name not in {"save", "delete"} or "." not in function.name or not function.writes:
        return False
    return function.writes[0].what.startswith(f"super().{name}(")


def _tolerated(function: FunctionSummary) -> str:
    """The exceptions swallowed around the later write of the function's pair (the engine's
    ``tolerated:`` flag, :mod:`prodready.engine.semantic.tolerated_writes`), or ""."""
    for flag in function.flags:
        if flag.startswith("tolerated:"):
            return flag.removeprefix("tolerated:")
    return ""


def _commit(write: Write) -> bool:
    """A session's or a DB-API connection's ``commit()``: the end of one transaction."""
    return write.what.endswith(".commit()")


def _raw(write: Write) -> bool:
    """A raw SQL statement or a DB-API connection's commit, not an ORM write."""
    what = write.what
    return (
        "(INSERT " in what
        or "(UPDATE " in what
        or "(DELETE " in what
        or (
            what.endswith(".commit()")
            and what.split(".")[-2].startswith(("conn", "cnx", "db_conn"))
        )
    )


def _report_split_around_call(
    path: str, function: FunctionSummary, together: tuple[Write, Write], ctx: ProjectContext
) -> None:
    first, second = together
    call = next(line for line in function.outbound_lines() if first.line < line < second.line)
    ctx.report(
        path,
        second.line,
        f"{function.short_name}() commits {first.what} (line {first.line}) before the call to "
        f"another system on line {call} and {second.what} after it: if the split is the "
        "pending -> call -> result pattern, each commit is a state to resume from and nothing "
        "is wrong; if not, a failure after the call leaves the first write alone. Make sure "
        "the pending state is reconciled (low)",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )


def _committing_helpers(
    model: SemanticModel,
    path: str,
    qualname: str,
    function: FunctionSummary,
    ctx: ProjectContext,
) -> None:
    """Two calls of project functions that each commit what they write (a repository helper
    with its own ``commit()``, a statement of an autocommit driver), or one such call and a
    write of the function itself, outside any transaction: one change in two transactions."""
    if function.writes and (len(function.writes) > 1 or not function.commits_alone):
        return  # its own ORM writes are judged above, with their branches
    sites: list[tuple[int, str]] = [(write.line, write.what) for write in function.writes]
    for call in function.calls:
        if model.call_in_transaction(qualname, call) or function.in_handler(call.line):
            continue
        if call.untyped:
            continue  # named by its method alone: good for the scope, not as evidence
        for target in model.call_targets(call.target):
            callee = model.functions[target].summary
            if target != qualname and callee.commits_alone:
                sites.append((call.line, f"{target.rpartition('.')[2]}()"))
                break
    if len(sites) < 2 or model.writes_covered(qualname, function) is not None:
        return
    sites.sort()
    dependent, exclusive = related_sites(function.flags)
    outs = function.outbound_lines()
    together: tuple[int, int] | None = None  # the first two that can both run
    for index, (first_line, _) in enumerate(sites):
        for later in range(index + 1, len(sites)):
            second_line = sites[later][0]
            if (first_line, second_line) in exclusive:
                continue
            if together is None:
                together = (index, later)
            if (first_line, second_line) in dependent and not any(
                first_line < line < second_line for line in outs
            ):
                _report_helpers(path, function, sites[index], sites[later], ctx, dependent=True)
                return
    if together is None:
        return
    (first_line, _), (second_line, _) = sites[together[0]], sites[together[1]]
    if any(first_line < line < second_line for line in outs):
        return  # pending -> call -> result: committed apart on purpose
    _report_helpers(path, function, sites[together[0]], sites[together[1]], ctx, dependent=False)


def _report_helpers(
    path: str,
    function: FunctionSummary,
    earlier: tuple[int, str],
    later: tuple[int, str],
    ctx: ProjectContext,
    *,
    dependent: bool,
) -> None:
    (first_line, first), (second_line, second) = earlier, later
    calls = (
        f"{function.short_name}() calls {first} (line {first_line}) and {second} (line "
        f"{second_line}), which commit each on their own"
    )
    if not dependent:
        ctx.report(
            path,
            second_line,
            f"{calls}, but the second is not seen to depend on the first (it is not given what "
            "the first returned, nor the same input as data): if each commit is a valid state "
            "alone (a flow of steps, an event logged after a change), a failure between them is "
            "harmless; if they must land together, open one transaction around both (low)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        path,
        second_line,
        f"{calls}: if the second fails, the first stays committed and the data is half-written. "
        "Open one transaction around both (and let the helpers take the connection or session "
        "instead of committing)",
        confidence=None if function.entry_point else Confidence.MEDIUM,
    )


def _money_before_record(path: str, function: FunctionSummary, ctx: ProjectContext) -> None:
    """A payment provider moved money before the function wrote anything, and the first row
    recording it is created only after."""
    found = function.money_before_record()
    if found is None:
        return
    paid, recorded = found
    ctx.report(
        path,
        recorded,
        f"{function.short_name}() moves money (line {paid}) before it has written anything, "
        f"and creates the first row that records it only on line {recorded}: if that write "
        "fails, the customer is charged and nothing in the database says so -- there is no "
        "pending record to reconcile. Commit a pending record first, call the provider with an "
        "idempotency key derived from it, then record the result",
        confidence=None if function.entry_point else Confidence.MEDIUM,
    )


@project_rule(
    code="DAT003",
    name="multi-write-without-transaction",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    summary="Several database writes in one function without a transaction",
    confidence=Confidence.HIGH,
    fix="Wrap the writes in one transaction: @transaction.atomic / with transaction.atomic(), "
    "or with session.begin(): ... (one commit at the end).",
)
def multi_write_without_transaction(facts: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags functions that perform two or more database writes that can both run, outside any
    transaction: Django `.save()`, `.delete()`, `Model.objects.create/update/delete/
    bulk_create/...` with no `@transaction.atomic` / `with transaction.atomic()`, and SQLAlchemy
    code that calls `session.commit()` more than once (each commit is its own transaction) with
    no `session.begin()` block. Writes in exclusive branches (`if`/`else`, an early `return`)
    are not counted together, nor are deletes alone (deleting is idempotent: an interrupted
    cleanup leaves a subset of the rows, and the next run finishes it). Tests, migrations and
    scripts are skipped, and so are the module-level functions only such code calls (a helper
    of a console-script bootstrap or of a migration runs once, from a terminal). The finding
    sits at the later write of the first pair that can run together: the write whose failure
    leaves the earlier one committed -- or, for two commits of a session or a connection, at
    the first commit: it is what splits the change (it makes the writes before it permanent
    alone), and removing it is the fix.

    Raw SQL counts too: a DB-API connection's `conn.commit()` (sqlite3, psycopg2, psycopg,
    PyMySQL...) ends a transaction as `session.commit()` does, and where statements commit by
    themselves -- asyncpg outside `async with conn.transaction()`, a connection in autocommit
    mode (`conn.autocommit = True`, `psycopg.connect(autocommit=True)`, sqlite3's
    `isolation_level=None`) -- every `INSERT`/`UPDATE`/`DELETE` is a write of its own, run by
    the driver or by a project helper given the SQL (`query("UPDATE ...", params)`).
    Across functions: two calls of project helpers that each commit what they write (a
    repository method ending in `session.commit()`, an asyncpg helper running one statement),
    or one such call and a committed write of the function itself, outside a transaction, are
    one change in two transactions -- reported at the second call. The same evidence tier
    holds (below): medium when the second call is given what the first returned or created
    (`ticket = create_ticket(...)`; `assign_owner(ticket, ...)`) or the same input of the
    function as data (`debit(source, amount)`; `credit(target, amount)`, a value read from the
    request), or when the first is given, one by one, rows selected by the key the second is
    given (`for role in roles_of(member_id=m.id): renounce(role)`; `add_role(member_id=m.id)`:
    one child replaced by another), or when the two are given, one by one, items of the same
    relation of two objects (`for t in dropped: remove_track(track_id=t.id)` over a stored
    playlist's `tracks`, then `for t in playlist_in.tracks: add_track(t)`: a child set
    reconciled); calls in the two branches of an `if`/`else` never both
    run. Two steps about one object (`mark_closed(case)`, then `log_event(case_id=case.id)`),
    the session both are given, are no such evidence: each step may be a valid state alone --
    low, low confidence.

    A split around a call to another system is deliberate: a pending row committed, the
    provider called (an HTTP client, a payment or messaging SDK, a function named for
    charging or sending), the result committed. When every pair of writes that can run
    together straddles such a call, the finding is low (it asks that the pending state be
    reconciled); two committing helpers around one are not reported (a Slack WebClient's or a
    Google API's call is one too).

    Money moved first is one change split between two systems too: a payment provider's
    charge (`stripe.PaymentIntent.create`, `stripe.Charge.create`, a braintree sale, a project
    helper named for charging or capturing) made before the function has written anything,
    without an idempotency key, with the first row recording it created only after
    (`Subscription(...)` added, `Invoice.objects.create(...)`): if that write fails, the
    customer is charged and nothing in the database says so. Reported medium at that row. A
    charge that completes a row written before (a pending payment updated with the result) is
    the pending -> call -> result pattern, not this.

    Writes are exclusive also when two `if` tests pin one value to values that cannot both
    hold (`if code.startswith("n."):` ... `if code.startswith("r."):`).

    The transaction may be opened elsewhere in the project, and then nothing is reported: by
    every function that calls this one (in any module, in a `with transaction.atomic()` block
    or under `@transaction.atomic`; a Django REST framework serializer's `create()`/`update()`
    is called by `serializer.save()` and by a view's `perform_create(serializer)`; a form's
    `save()` by the Django class-based view naming it in `form_class` -- through
    `super().form_valid(form)` or `form.save()` on the view's form; a form a generic view makes
    from a class attribute its concrete views set (`form = self.form(...)` saved inside the
    generic view's transaction, `form = LampForm` in a subclass -- also once the generic view
    hands the form to its own methods, `self.save_row(form)`, which call `form.save()`); a
    method called on a value the scan cannot type (`event.copy_data_from(other)`) by that
    call, when one project class alone defines a method of that name; a method by
    a subclass's `super().method()`; a method of each item of a parameter typed
    `list[Serializer]` by a loop over it), by the
    project's own context manager or decorator that opens one (`with locked_order():`,
    `@in_transaction`), by Django around a `pre_delete`/`post_delete` signal receiver, or
    required by the function itself (`select_for_update()` raises outside a transaction, as
    does a function that checks `connection.in_atomic_block` and raises).

    Evidence tier: a partial write is a defect when a later write depends on an earlier one --
    it uses the row the earlier one wrote (`Line(order=order)` after creating the order), moves
    data out of a row the other deletes, carries the same input of the function (an amount
    taken from one balance and added to another, a status cascaded to the lines), selects rows
    of another model by the same computed ids, deletes one model's rows and re-creates them one
    by one in a loop, writes one model's rows in parts with a bulk statement (existing rows
    updated in bulk and the missing ones created, a set deleted and bulk-created again), saves a
    row built from the row it deleted before (a job's product after the job), copies a field it
    set on a saved row into a row reached from it (a foreign key), or is a formset's `save()`
    (a row per form) -- or when the function rejects the request after a write (`raise
    ValidationError`, a REST framework view's `super().update()` that validates). Then it is
    reported at medium. When no such dependency
    is seen (independent fields of two rows, one row written twice, a pending row updated with
    the result of an external call, a compensating write in an exception handler, two updates
    marking rows found by the key the function is given, rows deleted and one row created in
    their place -- a token rotated, a cache entry regenerated: a failure leaves no row, which
    the next run creates; an update that only stamps the current time on rows,
    `update(modified=timezone.now())`: it records when, not what) each write may be a valid
    state alone: it is reported low, with low
    confidence, and the message says the scan could not tell. A `save()`/`delete()` override
    whose first write is its own row's (`super().save()`) is called by every code that saves
    the object (views, forms, serializers, the admin) and runs inside that code's transaction
    when it holds one: when the scan sees none of its callers (the object saved through a value
    it cannot type, or by the framework), its dependent writes are reported low, with low
    confidence, saying the scan could not tell whether every saver holds one. A receiver of a
    Django save signal (`post_save`, `pre_save`, `m2m_changed`) runs inside the transaction of
    the `save()` that sent the signal when that save holds one, and in none when it does not:
    its dependent writes are reported low, with low confidence, the message saying that the
    transaction depends on the saver.
    Several `session.commit()` calls are always dependent: each ends a transaction of what
    was added before it. When the later write of the pair is made in a `try` whose handlers
    swallow its failure (`except IntegrityError:` without a raise), the code states that the
    earlier writes stand without it: reported low, with low confidence, the message saying
    that only a failure the handlers do not catch splits them.

    ## Why it breaks production
    In autocommit mode every write commits on its own. When the second write fails -- a
    constraint violation, a deadlock, the pod being killed mid-request, a timeout -- the first
    one stays: the order exists but the stock was never reserved, the money left one account and
    never reached the other. These half-applied states are rare, silent, and found weeks later
    by reconciliation or by a customer.

    ## Example
    ```python
    def place_order(request, cart):
        order = Order.objects.create(customer=request.user, total=cart.total)
        for line in cart.lines:
            OrderLine.objects.create(order=order, product=line.product, qty=line.qty)
        cart.delete()
    ```

    ## Use instead
    ```python
    @transaction.atomic
    def place_order(request, cart):
        order = Order.objects.create(customer=request.user, total=cart.total)
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=line.product, qty=line.qty) for line in cart.lines
        )
        cart.delete()
    ```
    With SQLAlchemy: `with session.begin(): ...` (or add everything, then one `commit()`; use
    `flush()` when you need generated ids before the end).
    """
    model = semantic_model(facts)
    command_line = command_line_only(facts)  # a script's helpers: run once, from a terminal
    for path, record in sorted(facts.modules.items()):
        if record.is_test:
            continue
        prefix = f"{record.module}." if record.module else ""
        for function in record.functions:
            together = function.writes_together()
            if function.in_script or prefix + function.name in command_line:
                continue
            _money_before_record(path, function, ctx)
            if together is None:
                _committing_helpers(model, path, prefix + function.name, function, ctx)
                continue
            if _deletes_only(function.writes):
                continue
            if model.writes_covered(prefix + function.name, function) is not None:
                continue
            first, second = together
            if function.split_around_call:
                _report_split_around_call(path, function, together, ctx)
                continue
            lines = (
                f"{function.short_name}() writes to the database {len(function.writes)} times "
                f"without a transaction ({first.what} line {first.line}, {second.what} line "
                f"{second.line})"
            )
            if function.writes_independent:
                ctx.report(
                    path,
                    second.line,
                    f"{lines}, but no write is seen to depend on another (none uses a row an "
                    "earlier one wrote, replaces or moves rows, or carries the same input): if "
                    "each is a valid state alone, a partial write is harmless; if they must "
                    "land together, wrap them in transaction.atomic() / session.begin()",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            tolerated = _tolerated(function)
            if tolerated:
                ctx.report(
                    path,
                    second.line,
                    f"{lines}, but the code lets the later write fail: it is made in a try whose "
                    f"handlers swallow {tolerated.replace('|', ', ')} and go on, so the earlier "
                    "writes are meant to stand without it, and only a failure the handlers do "
                    "not catch (the database gone mid-request) splits them; could not tell "
                    "whether that state is valid: if not, wrap them in transaction.atomic() / "
                    "session.begin()",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            # A helper may be called from inside a caller's transaction the model cannot see
            # (through the framework); a handler or a task is the top.
            remedy = "Wrap them in transaction.atomic() / session.begin()"
            if _raw(first) or _raw(second):
                remedy = (
                    "Run them in one transaction: async with conn.transaction() (asyncpg), "
                    "with conn: (DB-API, autocommit off) and one commit"
                )
            line, consequence = (
                second.line,
                "if a later write fails the earlier ones stay committed",
            )
            if _commit(first) and _commit(second):
                # The first commit is what splits the change: it makes the writes before it
                # permanent alone (remove it, commit once at the end).
                line = first.line
                consequence = (
                    f"the commit on line {first.line} makes what was written before it "
                    "permanent on its own, so if a later write fails it stays committed"
                )
            if _saves_own_row(function) and not model.callers.get(prefix + function.name):
                # No saver in sight (``obj.save()`` on a value the scan cannot type, the
                # framework's own saves): a saver seen saving outside one keeps the finding.
                ctx.report(
                    path,
                    line,
                    f"{lines}, in a {function.short_name}() override that saves its own row "
                    f"first ({first.what}): it is called by every code that saves the object "
                    "(views, forms, serializers, the admin) and runs inside that code's "
                    "transaction when it holds one; the scan could not tell whether every saver "
                    "does. If one runs in autocommit, a failed later write leaves the earlier "
                    "ones committed: save in transaction.atomic() there, or wrap these writes "
                    "(low)",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            if prefix + function.name in model.save_receivers:
                ctx.report(
                    path,
                    line,
                    f"{lines}, in a receiver of a Django save signal: it runs inside the "
                    "transaction of the save() that sent the signal when that save is in one, "
                    "and the scan could not tell whether every code that saves the model holds "
                    "one. If a saver runs in autocommit, a failed later write leaves the earlier "
                    "ones committed: save in transaction.atomic() there, or wrap these writes "
                    "(low)",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            ctx.report(
                path,
                line,
                f"{lines}: {consequence}. {remedy}",
                confidence=None if function.entry_point else Confidence.MEDIUM,
            )
