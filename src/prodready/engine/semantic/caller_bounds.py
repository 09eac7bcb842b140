"""Calls bounded by their callers' timeouts, across modules, as project facts.

A coroutine whose own outbound call has no timeout is still bounded when every caller in the
project awaits it under a deadline (``asyncio.wait_for(f(), 30)``, ``async with
asyncio.timeout(30)``, anyio's ``fail_after``/``move_on_after``, trio's): the caller cancels it.
Each module states, for the awaited calls of its coroutines (named as :func:`callee_key` names
them), whether each is made under such a deadline:

- ``taint:reach:bounded-await:<key>:0`` -- a call made under a deadline;
- ``taint:reach:unbounded-await:<key>:0`` -- a call made without one, in a coroutine anyone may
  call (a public one: a route handler, a task, another module);
- implications ``... <key> <= ... <caller's key>`` for both, from a private coroutine
  (``_name``), whose own callers decide -- so a deadline a couple of levels up covers it.

The facts use the ``reach`` family of :mod:`.guards` so that :func:`.guards.derive` closes them
under the implications and import prefixes. A finding inside a coroutine names
``caller-bounded:<key>`` among its ``unless`` facts; the project pass drops it when a bounded
call of the key holds and no unbounded one does (:func:`bounded_by_callers`).

What the names can tell: a method called on a value of unknown class (``backend.pay(...)``) is
known by its method name alone (``.pay``), so every project method of that name shares the
callers of each -- the shape of a base class's abstract method dispatched to the subclasses
that implement it. A coroutine nobody in the project awaits gets no bounded fact and keeps its
finding. Kept free of imports beyond the standard library: :mod:`prodready.engine.moot` uses it.
"""

from __future__ import annotations

from collections.abc import Iterable

from prodready.engine.semantic.guards import REACH, implication

BOUNDED_KIND = "bounded-await"
UNBOUNDED_KIND = "unbounded-await"
CALLER_BOUNDED = "caller-bounded:"


def _fact(kind: str, key: str) -> str:
    return f"{REACH}:{kind}:{key}:0"


def bounded_fact(key: str) -> str:
    return _fact(BOUNDED_KIND, key)


def unbounded_fact(key: str) -> str:
    return _fact(UNBOUNDED_KIND, key)


def inherited_facts(key: str, caller: str) -> tuple[str, str]:
    """A call of ``key`` from the private coroutine ``caller``: bounded or not as its callers
    call it."""
    return (
        implication(bounded_fact(key), bounded_fact(caller)),
        implication(unbounded_fact(key), unbounded_fact(caller)),
    )


def caller_bounded(key: str) -> str:
    """The ``unless`` fact of a finding inside the coroutine named ``key``."""
    return CALLER_BOUNDED + key


def bounded_by_callers(unless: Iterable[str], held: set[str]) -> bool:
    """A ``caller-bounded:<key>`` fact of ``unless`` whose coroutine is awaited under a
    deadline somewhere in the project and never without one."""
    for fact in unless:
        if fact.startswith(CALLER_BOUNDED):
            key = fact[len(CALLER_BOUNDED) :]
            if bounded_fact(key) in held and unbounded_fact(key) not in held:
                return True
    return False
