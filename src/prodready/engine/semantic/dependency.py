"""Whether two database writes of a function depend on each other -- the evidence that a
partial write (the first committed, the second not) leaves a state no code path produces.

Two writes that can both run are dependent when:

- the later one uses the row the earlier one wrote: it passes that object (or its key) as a
  value -- ``Project(owner=user)`` after ``user.save()``, ``Line.objects.create(order=order)``
  after ``order = Order.objects.create(...)`` or ``Order.objects.filter(id=order.id).update()``
  -- directly or through locals, not through what a call makes of it (a write to the same row
  again is not: it is a later state of one row; the count an update returns is no row);
- one selects the rows that belong to the object the other writes (``Member.objects.filter(
  user=user).delete()`` and ``user.save()``);
- one moves data out of the row the other deletes or changes by key (``kept.quantity +=
  line.quantity; kept.save(); line.delete()``);
- their written values carry the same input of the function (a parameter other than
  ``self``/``request``): ``source.balance -= amount`` and ``target.balance += amount``, a status
  and the cascaded status of its lines;
- they select rows of different models by one computed value (``ids`` of the rows the function
  unlinks from one table and deletes from another): one aggregate -- not two updates by the
  key the function is given (a parcel marked handed over, its tracking marked closed), which
  are two states of one object, each valid alone;
- they delete rows of one model and create its rows again in a loop: a set replaced row by
  row (one row created in the place of the deleted ones is not: a failure leaves no row, the
  state before the first creation, which the next run repairs);
- they write one model's rows in parts, one creating and a bulk statement among them (the
  existing rows updated in bulk and the missing ones created; a set deleted and created again
  in bulk): a failure between leaves part of the new set;
- the later saves a row built from (or reached from) the row the earlier deletes (``app, _ =
  install(job)``; ``job.delete()``; ``app.save()``): the job gone, what it built half made;
- the later copies a field the function set on the row the earlier saved into a row reached
  from it (``event.reference = ref``; ``event.save()``; ``item = event.transaction``;
  ``item.reference = event.reference``; ``item.save()``);
- one is a formset's ``save()`` (a row per form, which Django does not wrap in a transaction);
- or the function rejects the request after a write (``raise ValidationError``, a Django REST
  framework view's ``super().update()`` that validates): the rejected request leaves the write.

A write in an exception handler is a compensating step, not part of the unit of the writes
made before its ``try``. Names only (no AST) leave this module: the summary records the result.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prodready.engine.analysis.literals import dotted
from prodready.engine.analysis.orm import django_query
from prodready.engine.semantic import child_sets
from prodready.engine.semantic.branches import Branch, branch_paths, exclusive, pinned_values
from prodready.engine.semantic.value_flow import Flow, reached_from, references, walk_body

# Receivers that are the ambient context of a function, not an input of the change it makes.
_AMBIENT = frozenset({"self", "cls", "request", "self.request"})
# Exceptions that reject a request (Django, Django REST framework, Starlette/FastAPI, Werkzeug).
_REJECTIONS = frozenset(
    {
        "ValidationError",
        "PermissionDenied",
        "Http404",
        "NotFound",
        "BadRequest",
        "SuspiciousOperation",
        "ParseError",
        "HTTPException",
        "NotAuthenticated",
        "AuthenticationFailed",
    }
)
# Methods of a Django REST framework view that validate the request (serializer.is_valid(
# raise_exception=True)) before saving.
_VALIDATING_VIEW_METHODS = frozenset({"create", "update", "partial_update"})
_CREATES = frozenset({"create", "bulk_create", "get_or_create", "update_or_create", "acreate"})
_COUNTS = frozenset({"update", "delete", "aupdate", "adelete", "bulk_update"})
_UPDATES = frozenset({"update", "aupdate"})


@dataclass(slots=True)
class _Write:
    call: ast.Call
    model: str | None  # ``Model.objects...`` writes
    terminal: str  # create, update, delete, save...
    receiver: str | None  # ``x`` of ``x.save()`` (``self`` for ``super().save()``)
    products: set[str] = field(default_factory=set)  # names the written row goes by after it
    data: set[str] = field(default_factory=set)  # references in what it writes
    selectors: set[str] = field(default_factory=set)  # references in how it selects rows
    formset: bool = False
    loops: frozenset[int] = frozenset()  # ids of the loops it is made in


def _describe(call: ast.Call, flow: Flow) -> _Write:
    chain = django_query(call)
    func = call.func
    if not isinstance(func, ast.Attribute):
        # ``query("UPDATE ...", (status, key))``: a project helper running a statement.
        written = _Write(call, None, "execute", None)
        written.data = references(ast.Tuple(list(call.args)))
        return written
    if chain is not None:
        written = _Write(call, chain.model, chain.terminal, None)
        written.data = references(ast.Tuple([*call.args, *(k.value for k in call.keywords)]))
        for step in chain.calls[1:]:
            written.selectors |= references(step)
        if chain.terminal in {"update", "aupdate"}:
            written.products |= _keys(call)  # ``filter(id=order.id).update()`` writes ``order``
        if chain.terminal in {"bulk_update", "abulk_update"} and call.args:
            # ``bulk_update(orders, ...)`` with ``orders = Order.objects.filter(pk__in=ids)``:
            # the rows it writes are selected as that queryset selects them.
            for value in flow.values.get(dotted(call.args[0]) or "", ()):
                query = django_query(value)
                if query is not None and query.terminal not in _CREATES:
                    for step in query.calls:
                        written.selectors |= references(step)
    else:
        receiver = dotted(func.value)
        if receiver is None:  # super().save()
            receiver = "self"
        written = _Write(call, None, func.attr, receiver)
        written.formset = "formset" in receiver.rsplit(".", 1)[-1].lower()
        if func.attr in {"save", "asave"}:
            written.products.add(receiver)
        # A local queryset (``stale = Stats.objects.filter(...)``; ``stale.delete()``).
        for value in flow.values.get(receiver, ()):
            query = django_query(value)
            if query is not None:
                written.model = query.model
                if query.terminal not in _CREATES:  # a queryset: how it selects its rows
                    for step in query.calls:
                        written.selectors |= references(step)
            elif isinstance(value, ast.Call) and receiver not in flow.iterated:
                written.data |= references(value)  # ``user = User(email=email)``
        for value in flow.attributes.get(receiver, ()):
            written.data |= references(value)
        written.data |= references(ast.Tuple(list(call.args)))
    result = flow.results.get(id(call))
    if result is not None and written.terminal not in _COUNTS:
        written.products.add(result)  # a created or saved row, not a count of changed rows
    return written


_CLOCKS = frozenset({"now", "utcnow", "today", "time"})


def _stamps_time(written: _Write) -> bool:
    """``filter(...).update(modified=timezone.now())``: a query update whose every value is
    the current time (rows touched, nothing of another write carried)."""
    if written.terminal not in _UPDATES or written.model is None or written.call.args:
        return False
    values = [keyword.value for keyword in written.call.keywords]
    return bool(values) and all(
        isinstance(value, ast.Call)
        and not value.args
        and (dotted(value.func) or "").rsplit(".", 1)[-1] in _CLOCKS
        for value in values
    )


def _keys(call: ast.Call) -> set[str]:
    """The objects a query selects by their key: ``filter(id=n.id)``, ``filter(pk=obj.pk)``."""
    found: set[str] = set()
    for step in ast.walk(call):
        if isinstance(step, ast.Call):
            for keyword in step.keywords:
                if keyword.arg in {"id", "pk"}:
                    found |= references(keyword.value)
    return found


def _rows(written: _Write) -> set[str]:
    """The objects whose own row a write deletes or changes: the receiver of ``x.delete()``,
    the rows a query selects by key (``filter(id=other.id).update(...)``)."""
    if written.receiver is not None:
        return {written.receiver} if written.terminal in {"delete", "adelete"} else set()
    return _keys(written.call) if written.terminal in {"update", "delete"} else set()


def _same_row(earlier: _Write, later: _Write) -> bool:
    """``later`` writes a row ``earlier`` wrote: its receiver is the earlier one's product, or
    both select one model's rows by the same key (``filter(id=task.id)`` twice)."""
    later_rows = {later.receiver} if later.receiver else set()
    if later.model is not None:
        later_rows |= _keys(later.call)
    if earlier.products & later_rows:
        return True
    if earlier.model is not None and earlier.model == later.model:
        return bool(_keys(earlier.call) & _keys(later.call))
    return False


def _depends(earlier: _Write, later: _Write, flow: Flow, parameters: set[str]) -> bool:
    if earlier.formset or later.formset:
        return True
    if _stamps_time(earlier) or _stamps_time(later):
        return False  # when, not what: failing leaves the other change and a stale timestamp
    if earlier.model is not None and earlier.model == later.model:
        # A set of rows replaced row by row: a failure mid-way leaves part of the new set.
        # One row created in the place of the deleted ones (a token rotated, a cache entry
        # regenerated) leaves, when it fails, no row -- the state before the first creation,
        # which the next run repairs.
        deleted = [w for w in (earlier, later) if w.terminal in {"delete", "adelete"}]
        created = [w for w in (earlier, later) if w.terminal in _CREATES]
        if deleted and created and created[0].loops - deleted[0].loops:
            return True  # created in a loop the delete is not in: row by row
        if created and _rewrites_set(earlier, later):
            return True
    if _same_row(earlier, later) or (
        earlier.receiver is not None and earlier.receiver == later.receiver
    ):
        return False  # the same row written twice: each write a state of that row
    if _built_from_deleted(earlier, later, flow) or _copies_written_field(earlier, later, flow):
        return True
    # Rows of two models marked by the key the function is given (a parcel handed over, its
    # tracking closed): two states of one object, each valid alone -- that key is no row
    # passed on, nor one aggregate selected.
    marks = earlier.terminal in _UPDATES and later.terminal in _UPDATES
    given = parameters if marks else set()
    # The row itself passed on (through values, not through what a call makes of it).
    passed_on = flow.closure(later.data | later.selectors, through_calls=False)
    if (earlier.products - given) & passed_on:
        return True
    for one, other in ((earlier, later), (later, earlier)):
        # One selects the rows that belong to the object the other writes (its children).
        receiver = one.receiver
        if receiver in other.selectors - _AMBIENT - _keys(other.call):
            return True
        # Data moved out of a row that the other deletes or changes.
        for row in _rows(other) - _AMBIENT:
            prefix = f"{row}."
            if one.receiver != row and any(
                name.startswith(prefix) for name in flow.closure(one.data)
            ):
                return True
    # The same input carried into both (through values, not through what a call returns).
    carried = [flow.closure(w.data, through_calls=False) for w in (earlier, later)]
    if (parameters - _AMBIENT) & carried[0] & carried[1]:
        return True
    if earlier.model is not None and later.model is not None and earlier.model != later.model:
        shared = (earlier.selectors & later.selectors) - _AMBIENT - given
        if any("." not in name for name in shared):
            return True
    return False


_SET_WRITES = frozenset({"bulk_create", "bulk_update", "abulk_create", "abulk_update"})


def _rewrites_set(earlier: _Write, later: _Write) -> bool:
    """Two writes of one model's rows, one creating, the other updating or deleting, where the
    creation or the other is a bulk statement: a set written in parts (existing rows updated
    and the missing ones created, or the set deleted and created again). A failure between
    leaves part of the new set -- not the state before, nor the state after. (One row created
    in the place of deleted ones stays independent: see :func:`_depends`.)"""
    terminals = {earlier.terminal, later.terminal}
    bulk = terminals & _SET_WRITES
    if not bulk:
        return False
    changes = terminals & ({"update", "aupdate", "delete", "adelete"} | _SET_WRITES)
    return bool(changes - {"bulk_create", "abulk_create"}) and bool(
        terminals & (_CREATES | {"abulk_create"})
    )


def _built_from_deleted(earlier: _Write, later: _Write, flow: Flow) -> bool:
    """``later`` saves a row built from (or reached from) the row ``earlier`` deletes: ``app, _
    = install(job)``; ``job.delete()``; ``app.save()``. The deleted row was what the saved one
    is finished for (a job, a request): a failure between leaves the row half made and nothing
    left to retry it from."""
    source = earlier.receiver
    if earlier.terminal not in {"delete", "adelete"} or source is None or source in _AMBIENT:
        return False
    if later.terminal not in {"save", "asave"} or later.receiver is None:
        return False
    return reached_from(later.receiver, source, flow, ambient=_AMBIENT)


def _copies_written_field(earlier: _Write, later: _Write, flow: Flow) -> bool:
    """``later`` saves a row reached from the row ``earlier`` saved (``item = event.
    transaction``) and copies into it a field the function set on that row (``event.reference
    = ref``; ``event.save()``; ``item.reference = event.reference``; ``item.save()``): a
    denormalised copy in a related row that must agree with its source -- a failure between
    leaves them apart. A field of the row the function did not set is no value the earlier
    write made; a copy into an unrelated row (a profile remembering what was typed) is a
    record of its own."""
    source = earlier.receiver
    if earlier.terminal not in {"save", "asave"} or source is None or source in _AMBIENT:
        return False
    if later.terminal not in {"save", "asave"} or later.receiver is None:
        return False
    if not reached_from(later.receiver, source, flow, ambient=_AMBIENT):
        return False
    for name in flow.closure(later.data, through_calls=False):
        owner, _, attr = name.rpartition(".")
        if not owner or attr in {"id", "pk"}:
            continue
        aliases = flow.closure([owner], through_calls=False)
        if source in aliases and f"{source}.{attr}" in flow.values:
            return True
    return False


def _loops_around(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[int, frozenset[int]]:
    """For the id of each call the function makes inside loops (``for``, ``while``, a
    comprehension) of its own body: the ids of those loops."""
    found: dict[int, set[int]] = {}
    for node in walk_body(function):
        if isinstance(node, _LOOPS):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    found.setdefault(id(inner), set()).add(id(node))
    return {call: frozenset(loops) for call, loops in found.items()}


_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.GeneratorExp)


def _rejects(node: ast.AST, drf_view: bool) -> bool:
    if isinstance(node, ast.Raise) and node.exc is not None:
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return (dotted(raised) or "").rsplit(".", 1)[-1] in _REJECTIONS
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    func = node.func
    if func.attr == "is_valid":
        return any(
            k.arg == "raise_exception" and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        )
    if drf_view and func.attr in _VALIDATING_VIEW_METHODS and isinstance(func.value, ast.Call):
        return dotted(func.value.func) == "super"
    return False


def _handler_of(path: tuple[Branch, ...]) -> int | None:
    """The ``try`` whose handler a statement sits in (the innermost), if any."""
    for entry in reversed(path):
        if entry[1].startswith("except"):
            return entry[0]
    return None


def dependent_pair(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    calls: Sequence[ast.Call],
    *,
    drf_view: bool = False,
) -> tuple[tuple[int, int] | None, bool]:
    """The first two of ``calls`` (writes, in source order) that can both run -- preferring a
    dependent pair -- and whether the pair is dependent. ``(None, False)`` when no two writes
    can both run."""
    flow = Flow(function)
    writes = [_describe(call, flow) for call in calls]
    terminals = {write.terminal for write in writes}
    if "delete" in terminals and terminals & _CREATES:  # a set replaced, or one row?
        loops = _loops_around(function)
        for write in writes:
            write.loops = loops.get(id(write.call), frozenset())
    rejections = [
        node
        for node in walk_body(function)
        if isinstance(node, ast.Raise | ast.Call) and _rejects(node, drf_view)
    ]
    paths = branch_paths(function, {id(node) for node in [*calls, *rejections]})
    pins = pinned_values(function)
    parameters = {
        argument.arg
        for argument in [
            *function.args.posonlyargs,
            *function.args.args,
            *function.args.kwonlyargs,
        ]
    }
    first_together: tuple[int, int] | None = None
    for index, earlier in enumerate(writes):
        earlier_path = paths.get(id(earlier.call), ())
        for later_index in range(index + 1, len(writes)):
            later = writes[later_index]
            later_path = paths.get(id(later.call), ())
            if exclusive(earlier_path, later_path, pins):
                continue
            if first_together is None:
                first_together = (index, later_index)
            handler = _handler_of(later_path)
            if handler is not None and all(entry[0] != handler for entry in earlier_path):
                continue  # a compensating step after a failure
            if _depends(earlier, later, flow, parameters):
                return (index, later_index), True
    if first_together is None:
        return None, False
    for rejection in rejections:
        rejected_path = paths.get(id(rejection), ())
        if _handler_of(rejected_path) is not None:
            continue
        for write in writes:
            if write.call.lineno <= rejection.lineno and not exclusive(
                paths.get(id(write.call), ()), rejected_path, pins
            ):
                return first_together, True
    return first_together, False


# -- calls of helpers that commit (DAT003 across functions) ---------------------------------------

DEPENDENT_SITES = (
    "dep@"  # flag prefix: ``dep@<line>><line>``, the later call depends on the earlier
)
EXCLUSIVE_SITES = "excl@"  # flag prefix: ``excl@<line>><line>``, the two cannot both run
# Parts of a name (snake_case) that say it is the connection or session a helper is given, not
# data it writes: ``db_session``, ``conn``, ``self.session``.
_CONNECTION_WORDS = frozenset(
    {"session", "conn", "connection", "cursor", "cur", "db", "engine", "pool", "tx", "uow"}
)
_REQUEST_ROOTS = frozenset({"request", "self.request"})
_VALUE_TYPES = frozenset(
    {"int", "float", "str", "bool", "bytes", "Decimal", "None", "UUID", "date", "datetime"}
)


def site_relations(
    function: ast.FunctionDef | ast.AsyncFunctionDef, lines: Iterable[int]
) -> set[str]:
    """Flags saying which of the calls (and writes) made on ``lines`` cannot both run and which
    later one depends on an earlier one -- the facts DAT003 needs once it knows which of the
    called helpers commit on their own. A later call depends on an earlier one when it is given
    what the earlier one returned or created (``incident = create(...)``; ``escalate(incident=
    incident)``), or when the same input of the function is passed whole to both as data
    (``debit(source, amount)``, ``credit(target, amount)``; a value read from the request), or
    when the earlier is given, one by one, rows selected by the key the later is given (a
    member's role renounced, then a role added for that member: one child replaced), or when
    the two are given, one by one, items of the same relation of two objects (the stored
    row's children dropped, the requested row's children created: :mod:`.child_sets`). Not the
    session or connection both are given, nor an object both are about (``case``): each
    helper may record a valid state of it alone."""
    calls: dict[int, ast.Call] = {}
    products: dict[int, set[str]] = {}
    wanted = set(lines)
    if len(wanted) < 2:
        return set()  # one call site (or none): no pair to relate
    for node in walk_body(function):
        if isinstance(node, ast.Call) and node.lineno in wanted and node.lineno not in calls:
            calls[node.lineno] = node  # the outermost call of the line (walked first)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr):
            _bind_product(node, products)
    if len(calls) < 2:
        return set()
    flow = Flow(function)
    inputs = _inputs(function, flow)
    paths = branch_paths(function, {id(call) for call in calls.values()})
    pins = pinned_values(function)
    ordered = sorted(calls.items())
    # What each call is given, worked out once: the values it uses (through locals) and the
    # inputs it is passed whole.
    used = {
        line: flow.closure(
            references(ast.Tuple(_arguments(call)), through_calls=False), through_calls=False
        )
        for line, call in ordered
    }
    passed = {
        line: {ast.unparse(value) for value in _arguments(call) if _input_value(value, inputs)}
        for line, call in ordered
    }
    keys = {line: _keys_passed(call) for line, call in ordered}
    children = {line: _children_passed(call, flow) for line, call in ordered}
    walked = {line: child_sets.relations_iterated(call, flow) for line, call in ordered}
    flags: set[str] = set()
    for index, (first_line, first) in enumerate(ordered):
        made = products.get(id(first), set())
        prefixes = tuple(f"{name}." for name in made)
        for second_line, second in ordered[index + 1 :]:
            pair = f"{first_line}>{second_line}"
            if exclusive(paths.get(id(first), ()), paths.get(id(second), ()), pins):
                flags.add(EXCLUSIVE_SITES + pair)
            elif (
                passed[first_line] & passed[second_line]
                or children[first_line] & keys[second_line]
                or child_sets.same_relation_of_two(walked[first_line], walked[second_line])
                or any(name in made or name.startswith(prefixes) for name in used[second_line])
            ):
                flags.add(DEPENDENT_SITES + pair)
    return flags


def related_sites(flags: Iterable[str]) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """The (earlier line, later line) pairs :func:`site_relations` recorded: the dependent
    pairs and the exclusive ones."""
    dependent: set[tuple[int, int]] = set()
    exclusive_pairs: set[tuple[int, int]] = set()
    for flag in flags:
        for prefix, found in ((DEPENDENT_SITES, dependent), (EXCLUSIVE_SITES, exclusive_pairs)):
            if flag.startswith(prefix):
                first, _, second = flag[len(prefix) :].partition(">")
                if first.isdigit() and second.isdigit():
                    found.add((int(first), int(second)))
    return dependent, exclusive_pairs


def _bind_product(
    node: ast.Assign | ast.AnnAssign | ast.NamedExpr, found: dict[int, set[str]]
) -> None:
    """What a call's result is bound to (``x = f()``, ``x = await f()``, ``a.b = f()``)."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif node.value is not None:
        targets, value = [node.target], node.value
    else:
        return
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return
    for target in targets:
        parts = target.elts[:1] if isinstance(target, ast.Tuple | ast.List) else [target]
        for part in parts:  # ``obj, created = get_or_create(...)``: the object
            text = dotted(part)
            if text is not None:
                found.setdefault(id(value), set()).add(text)


def _key_name(name: str) -> bool:
    attr = name.rpartition(".")[2]
    return "." in name and (attr in {"id", "pk"} or attr.endswith("_id"))


def _keys_passed(call: ast.Call) -> set[str]:
    """The keys a call is given whole as arguments (``participant_id=participant.id``)."""
    return {text for value in _arguments(call) if _key_name(text := ast.unparse(value))}


def _children_passed(call: ast.Call, flow: Flow) -> set[str]:
    """The keys by which the rows a call is given one by one were selected: ``for role in
    roles_of(owner_id=participant.id): renounce(role=role)`` -- a child row of the object
    whose key it names. A later call given that key (``add_role(participant_id=
    participant.id)``) writes a child of the same object: one child replaced by another."""
    found: set[str] = set()
    for value in _arguments(call):
        if isinstance(value, ast.Name) and value.id in flow.iterated:
            found |= {name for name in flow.closure([value.id]) if _key_name(name)}
    return found


def _connection_like(name: str) -> bool:
    last = name.rsplit(".", 1)[-1].lower()
    return bool(set(last.split("_")) & _CONNECTION_WORDS)


def _inputs(function: ast.FunctionDef | ast.AsyncFunctionDef, flow: Flow) -> set[str]:
    """The function's inputs that may be data it writes: its parameters (not ``self``, the
    request or a session) and the locals read from the request (``body = await
    request.json()``)."""
    arguments = function.args
    found = {
        argument.arg
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        if argument.arg not in _AMBIENT
        and not _connection_like(argument.arg)
        and _value_annotation(argument.annotation)
    }
    for name, values in flow.values.items():
        if "." not in name and any(
            dotted(node) in _REQUEST_ROOTS
            for value in values
            for node in ast.walk(value)
            if isinstance(node, ast.Name | ast.Attribute)
        ):
            found.add(name)
    return found - _AMBIENT


def _value_annotation(annotation: ast.expr | None) -> bool:
    """A parameter typed as a value (``amount: int``, ``note: str | None``) or not typed: data
    a helper may write. One typed with another class (``case: Case``) is an object both helpers
    are given to record states of -- one row written twice, as :func:`_depends` judges it."""
    if annotation is None:
        return True
    names = [
        (dotted(node) or "").rsplit(".", 1)[-1]
        for node in ast.walk(annotation)
        if isinstance(node, ast.Name | ast.Attribute)
    ]
    return all(name in _VALUE_TYPES for name in names if name not in {"Optional", "Union"})


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(keyword.value for keyword in call.keywords)]


def _input_value(value: ast.expr, inputs: set[str]) -> bool:
    """An argument that is an input itself, or an item or field of one (``body["room"]``,
    ``payload.room``) -- not its key (``case.id``: the row both are about)."""
    if isinstance(value, ast.Attribute) and (
        value.attr in {"id", "pk"} or value.attr.endswith("_id")
    ):
        return False
    while isinstance(value, ast.Subscript | ast.Attribute):
        value = value.value
    return isinstance(value, ast.Name) and value.id in inputs
