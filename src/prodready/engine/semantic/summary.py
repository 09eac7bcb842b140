"""Per-function summaries: what one function does that the project-wide model reasons about.

The walk of a module fills them in (:mod:`.collect`); they are stored in the module's
:class:`~prodready.engine.module_record.ModuleRecord` and cached with it, so the project model
(:mod:`.model`) is built without parsing anything. They hold names and lines only, never AST.

The JSON shape is a short list per function (the common empty fields left out) because a warm
rescan of a large tree rebuilds every module's summaries.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from prodready.engine.json_shapes import strings, text_line_pairs, tuple_new

# Flags of a function (``FunctionSummary.flags``).
OPENS_TRANSACTION = "tx"  # opens one itself: ``with transaction.atomic()``, ``session.begin()``
ATOMIC = "atomic"  # its whole body runs in one: ``@transaction.atomic`` (on it, its class or an
# enclosing function)
CONTEXT_MANAGER = "cm"  # ``@contextlib.contextmanager`` (or the async one)
LOCKS_ROWS = "locks"  # ``select_for_update()``: Django allows it only inside a transaction
NEEDS_TRANSACTION = "needs-tx"  # raises unless called inside one (``if not
# connection.in_atomic_block: raise``, ``assert connection.in_atomic_block``)
ENTRY_POINT = "top"  # an HTTP handler or a background task: nothing in the project calls it
SCRIPT = "script"  # defined in a script, a management command or a migration
INDEPENDENT = "indep"  # no two of its writes that can both run depend on each other
# (:mod:`.dependency`): a partial write leaves states each write alone makes

OUTBOUND = "out@"  # prefix of a flag giving the line of a call to another system
IN_HANDLER = "handler@"  # prefix of a flag giving the line of a call in an ``except`` block
# Decorated by something that may register it to be called from outside the project's calls
# (``@shared_task``, ``@app.route``, ``@receiver``): not builtins, functools or transactions.
REGISTERED = "registered"
# Prefix of a flag naming a project function passed to a call (``executor.submit(f)``,
# ``enqueue(job, ...)``): the callee runs it on this function's behalf.
PASSES = "passes:"
# Prefix of a call target named only by its method (``?.copy_data_from``): a method called on a
# value whose class the walk cannot tell; the model resolves it when one project class alone
# defines a method of that name.
UNTYPED_RECEIVER = "?."
# ``paid-first@<line>><line>``: a payment provider moved money (the first line) before the
# function wrote anything, and the first row recording it is created after (the second line).
MONEY_BEFORE_RECORD = "paid-first@"
AROUND_CALL = "around-call"  # its writes that can both run are split by a call to another
# system (``out@<line>`` flags): a pending row committed, the call made, the result committed
# A call made lexically inside a ``with`` that opens a transaction (``CallSite.guard``).
IN_TRANSACTION = "tx"


# How a statement of an autocommit driver reads as a write (``conn.execute(UPDATE events)``).
_AUTOCOMMIT_STATEMENT = re.compile(r"\((?:INSERT|UPDATE|DELETE) [^)]*\)$")


class Write(NamedTuple):
    """A database write: what it looks like (``Order.objects...create()``) and its line."""

    what: str
    line: int


class CallSite(NamedTuple):
    """A call to a function that may be the project's, by qualified name (``pkg.mod.f``,
    ``pkg.mod.Class.method``). ``guard``: ``"tx"`` when made inside a ``with`` that opens a
    transaction; else the context managers around it (qualified names joined by ``|``), which
    the model checks for project wrappers that open one; "" when none."""

    target: str
    line: int
    guard: str = ""

    @property
    def untyped(self) -> bool:
        """Named by its method alone (``?.copy_data_from``): called on a value whose class the
        walk could not tell."""
        return self.target.startswith(UNTYPED_RECEIVER)


class SignalReceiver(NamedTuple):
    """A function connected to a signal (``@receiver(post_delete)``, ``signal.connect(f)``)."""

    signal: str  # qualified name of the signal (``django.db.models.signals.post_delete``)
    target: str  # qualified name of the receiver
    line: int


class ClassSummary(NamedTuple):
    """A class of a module: its qualified name inside the module and the qualified names of its
    bases (a method called on ``self`` may be defined in one of them)."""

    name: str
    line: int
    bases: tuple[str, ...] = ()
    # ``form=pkg.forms.LampForm``: class attributes that may name a project class
    # (:mod:`.class_attributes`).
    attributes: tuple[str, ...] = ()

    def to_json(self) -> list[object]:
        shape: list[object] = [self.name, self.line, list(self.bases)]
        if self.attributes:
            shape.append(list(self.attributes))
        return shape


class FunctionSummary(NamedTuple):
    """One function (or method, or nested function) of a module.

    ``name``: its qualified name inside the module (``Class.method``, ``outer.inner``);
    ``writes``: its database writes in source order; ``pair``: the indexes in ``writes`` of the
    first two that can both run (not on exclusive branches) -- the first dependent two when
    some are (:mod:`.dependency`) --, ``()`` when none can -- or when it
    does not matter: the function opens a transaction or locks rows itself, or is a script's;
    ``managers``/``decorators``: the qualified names of the context managers it enters and of
    its decorators that are not known transaction openers (project wrappers may be).
    """

    name: str
    line: int
    flags: tuple[str, ...] = ()
    writes: tuple[Write, ...] = ()
    pair: tuple[int, ...] = ()
    calls: tuple[CallSite, ...] = ()
    managers: tuple[str, ...] = ()
    decorators: tuple[str, ...] = ()

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def short_name(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def entry_point(self) -> bool:
        """An HTTP handler or a background task (known only for functions with two writes
        that can both run)."""
        return ENTRY_POINT in self.flags

    @property
    def in_script(self) -> bool:
        """Defined in a script, command or migration (known as :attr:`entry_point` is)."""
        return SCRIPT in self.flags

    @property
    def writes_independent(self) -> bool:
        """Its writes that can both run do not depend on each other (see :attr:`pair`)."""
        return INDEPENDENT in self.flags

    @property
    def split_around_call(self) -> bool:
        """Its writes that can both run are split by a call to another system on purpose."""
        return AROUND_CALL in self.flags

    def outbound_lines(self) -> list[int]:
        """The lines of its calls to other systems (HTTP, payment, messaging)."""
        return sorted(int(f[len(OUTBOUND) :]) for f in self.flags if f.startswith(OUTBOUND))

    def money_before_record(self) -> tuple[int, int] | None:
        """The line of a call that moved money before the function wrote anything, and the
        line of the first row recording it, created after (None: no such call)."""
        for flag in self.flags:
            if flag.startswith(MONEY_BEFORE_RECORD):
                paid, _, recorded = flag[len(MONEY_BEFORE_RECORD) :].partition(">")
                if paid.isdigit() and recorded.isdigit():
                    return int(paid), int(recorded)
        return None

    def in_handler(self, line: int) -> bool:
        """The call on ``line`` is made in an ``except`` block (a retry, a compensation)."""
        return f"{IN_HANDLER}{line}" in self.flags

    @property
    def commits_alone(self) -> bool:
        """It commits what it writes itself (``session.commit()``, a DB-API connection's
        ``commit()``, a statement of an autocommit driver), outside any transaction of its
        own: two calls of it are two transactions."""
        if self.has(OPENS_TRANSACTION) or self.has(ATOMIC) or self.has(LOCKS_ROWS):
            return False
        return any(
            write.what.endswith(".commit()") or _AUTOCOMMIT_STATEMENT.search(write.what)
            for write in self.writes
        )

    def writes_together(self) -> tuple[Write, Write] | None:
        """The first two writes that can both run (not on exclusive branches), if any."""
        if len(self.pair) != 2:
            return None
        return self.writes[self.pair[0]], self.writes[self.pair[1]]

    def to_json(self) -> list[object]:
        """``[name, line, flags, writes, pair, calls, managers, decorators]`` without the
        empty fields at the end (most functions write nothing and wrap nothing)."""
        stored: list[object] = [
            self.name,
            self.line,
            list(self.flags),
            [[write.what, write.line] for write in self.writes],
            list(self.pair),
            [_call_json(call) for call in self.calls],
            list(self.managers),
            list(self.decorators),
        ]
        while len(stored) > 2 and not stored[-1]:
            stored.pop()
        return stored

    @classmethod
    def from_json(cls, item: object) -> FunctionSummary | None:
        """The summary ``to_json`` wrote, or None when ``item`` is not of its shape."""
        if not isinstance(item, list) or not 2 <= len(item) <= 8:
            return None
        if len(item) < 8:
            item = [*item, *_EMPTY[len(item) :]]
        name, line, flags, writes, pair, calls, managers, decorators = item
        flag_names = strings(flags)
        manager_names = strings(managers)
        decorator_names = strings(decorators)
        write_items = text_line_pairs(writes, Write)
        call_items = _calls(calls)
        if (
            not isinstance(name, str)
            or type(line) is not int
            or flag_names is None
            or write_items is None
            or not isinstance(pair, list)
            or any(type(index) is not int for index in pair)
            or call_items is None
            or manager_names is None
            or decorator_names is None
        ):
            return None
        values = (name, line, flag_names, write_items, tuple(pair))
        built: FunctionSummary = tuple_new(
            cls, (*values, call_items, manager_names, decorator_names)
        )
        return built


def signals_json(signals: tuple[SignalReceiver, ...]) -> list[list[object]]:
    return [[item.signal, item.target, item.line] for item in signals]


def signals_from_json(items: object) -> tuple[SignalReceiver, ...] | None:
    if not isinstance(items, list):
        return None
    found: list[SignalReceiver] = []
    for item in items:
        if not isinstance(item, list) or len(item) != 3:
            return None
        signal, target, line = item
        if not isinstance(signal, str) or not isinstance(target, str) or type(line) is not int:
            return None
        found.append(tuple_new(SignalReceiver, item))
    return tuple(found)


def classes_from_json(items: object) -> tuple[ClassSummary, ...] | None:
    if not isinstance(items, list):
        return None
    found: list[ClassSummary] = []
    for item in items:
        if not isinstance(item, list) or len(item) not in (3, 4):
            return None
        name, line, bases = item[:3]
        base_names = strings(bases)
        attributes = strings(item[3]) if len(item) == 4 else ()
        if not isinstance(name, str) or type(line) is not int or base_names is None:
            return None
        if attributes is None:
            return None
        found.append(tuple_new(ClassSummary, (name, line, base_names, attributes)))
    return tuple(found)


def functions_from_json(items: object) -> tuple[FunctionSummary, ...] | None:
    if not isinstance(items, list):
        return None
    found: list[FunctionSummary] = []
    for item in items:
        summary = FunctionSummary.from_json(item)
        if summary is None:
            return None
        found.append(summary)
    return tuple(found)


_EMPTY: list[object] = [None, None, [], [], [], [], [], []]


def _call_json(call: CallSite) -> list[object]:
    if call.guard:
        return [call.target, call.line, call.guard]
    return [call.target, call.line]


def _calls(items: object) -> tuple[CallSite, ...] | None:
    if not isinstance(items, list):
        return None
    found: list[CallSite] = []
    for item in items:
        if not isinstance(item, list):
            return None
        if len(item) == 2:
            target, line = item
            guard = ""
        elif len(item) == 3:
            target, line, guard = item
            if not isinstance(guard, str) or not guard:
                return None
        else:
            return None
        if not isinstance(target, str) or type(line) is not int:
            return None
        found.append(tuple_new(CallSite, (target, line, guard)))
    return tuple(found)
