"""Calls bounded by their callers' timeouts, across modules, as project facts.

A coroutine whose own outbound call has no timeout is still bounded when every caller in the
project awaits it under a deadline (``asyncio.wait_for(f(), 30)``, ``async with
asyncio.timeout(30)``, anyio's ``fail_after``/``move_on_after``, trio's): the caller cancels it.
Each module states, for the awaited calls of its coroutines (named as :func:`callee_key` names
them), whether each is made under such a deadline:

- ``taint:reach:bounded-await:<key>:0`` -- a call made under a deadline;
- ``taint:reach:unbounded-call:<key>:0`` -- a call made without one, in a function anyone may
  call (a public one: a route handler, a task, another module);
- ``taint:reach:job-limited:<key>:0`` -- a call made in a background job with a hard time
  limit (RQ ``@job(..., timeout=30)``, Celery ``time_limit``, Dramatiq ``time_limit``): the
  worker kills the job, so a hang lasts until the limit (findings drop to low, not away);
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
UNBOUNDED_KIND = "unbounded-call"
JOB_LIMITED_KIND = "job-limited"
CALLER_BOUNDED = "caller-bounded:"
CALLER_JOB_LIMITED = "caller-job-limited:"


def _fact(kind: str, key: str) -> str:
    return f"{REACH}:{kind}:{key}:0"


def bounded_fact(key: str) -> str:
    return _fact(BOUNDED_KIND, key)


def unbounded_fact(key: str) -> str:
    return _fact(UNBOUNDED_KIND, key)


def job_limited_fact(key: str) -> str:
    return _fact(JOB_LIMITED_KIND, key)


def inherited_facts(key: str, caller: str) -> tuple[str, ...]:
    """A call of ``key`` from the private coroutine ``caller``: bounded or not as its callers
    call it."""
    return tuple(
        implication(fact(key), fact(caller))
        for fact in (bounded_fact, unbounded_fact, job_limited_fact)
    )


def caller_bounded(key: str, coroutine: bool) -> str:
    """The ``unless`` fact of a finding inside the function named ``key``: a coroutine can be
    cancelled at a caller's deadline; a plain function only ends with its job."""
    return (CALLER_BOUNDED if coroutine else CALLER_JOB_LIMITED) + key


def _keys(unless: Iterable[str], prefix: str) -> list[str]:
    return [fact[len(prefix) :] for fact in unless if fact.startswith(prefix)]


def bounded_by_callers(unless: Iterable[str], held: set[str]) -> bool:
    """A ``caller-bounded:<key>`` fact of ``unless`` whose coroutine is awaited under a
    deadline somewhere in the project and never without one (nor only in a job)."""
    return any(
        bounded_fact(key) in held
        and unbounded_fact(key) not in held
        and job_limited_fact(key) not in held
        for key in _keys(unless, CALLER_BOUNDED)
    )


def limited_by_jobs(unless: Iterable[str], held: set[str]) -> bool:
    """The function of the finding is called in the project only inside jobs with a hard time
    limit (and, for a coroutine, under deadlines): a hang lasts until the job is killed."""
    keys = [*_keys(unless, CALLER_BOUNDED), *_keys(unless, CALLER_JOB_LIMITED)]
    return any(job_limited_fact(key) in held and unbounded_fact(key) not in held for key in keys)
