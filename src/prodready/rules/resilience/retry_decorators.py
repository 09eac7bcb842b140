"""Resilience: retry decorators that retry forever (RES004), task retries that repeat a side effect
(RES015), and retries of failures no retry can fix (RES017)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    ClassInfo,
    Confidence,
    PythonContext,
    Scope,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    calls_in,
    constant,
    constant_str,
    dotted,
    has_star_kwargs,
    is_false,
    is_none,
    is_true,
    keyword_value,
    task_decorator,
)
from prodready.rules.resilience._permanent_errors import (
    autoretry_catches_all,
    permanent_failure_source,
    retried_broadly,
    self_retry_handlers,
    tenacity_retries_everything,
)
from prodready.rules.resilience._shared import PRODUCTION_ROLES
from prodready.rules.resilience._task_side_effects import automatic_retries, repeated_side_effect
from prodready.rules.resilience.retry_loops import _retry_loop

# -- retry libraries (RES004) ----------------------------------------------------------------

_TENACITY = (
    "tenacity.retry",
    "tenacity.Retrying",
    "tenacity.AsyncRetrying",
    "tenacity.asyncio.AsyncRetrying",
)
_BACKOFF_DECORATORS = ("backoff.on_exception", "backoff.on_predicate")


@python_rule(
    code="RES004",
    name="retry-decorator-unbounded",
    category=Category.RESILIENCE,
    roles=PRODUCTION_ROLES,
    severity=Severity.MEDIUM,
    summary="tenacity/backoff/Celery retry that never stops, or retries without a growing wait",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    calls=(*_TENACITY, *_BACKOFF_DECORATORS, "*.retry"),
    fix="tenacity: pass stop=stop_after_attempt(5) and wait=wait_random_exponential(max=30); "
    "backoff: pass max_tries= or max_time=; Celery: keep max_retries finite and use "
    "retry_backoff=True (with retry_jitter) or an exponential countdown with jitter.",
)
def retry_decorator_unbounded(
    node: ast.Call | ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags tenacity `@retry`, `@retry(...)`, `Retrying(...)` and `AsyncRetrying(...)` without
    `stop=` (tenacity's default is to never stop) or without `wait=` (tenacity's default is to
    retry immediately), and `backoff.on_exception`/`on_predicate` without `max_tries=` or
    `max_time=` (backoff's default is to retry forever).

    Celery tasks too: `max_retries=None` on a task that retries (`self.retry(...)` in a bound
    task, or `autoretry_for=`), which retries forever; `self.retry(countdown=<constant>)`,
    which retries at a fixed interval without growth or jitter (`countdown=2 **
    self.request.retries`, `random.uniform(...)` or any computed delay is fine); and
    `autoretry_for=` without `retry_backoff`, which retries at the fixed `default_retry_delay`
    (low severity). Options passed as `**policy` are not judged.

    ## Why it breaks production
    Retry libraries are opt-in for limits. A bare `@retry` turns any permanent failure -- a bad
    credential, a 404, a schema change -- into an infinite loop that hangs the caller and keeps
    load on the dependency; without a wait it also retries in a tight loop, a retry storm
    against a dependency that is already struggling. A Celery task with `max_retries=None`
    re-queues a message that can never succeed forever, and fixed-interval retries bring every
    task that failed during an outage back at the same moment -- again and again, in lockstep --
    just as the dependency tries to recover.

    ## Example
    ```python
    @retry
    def fetch_exchange_rates():
        return requests.get(RATES_URL, timeout=5).json()

    @app.task(bind=True, max_retries=None)
    def send_receipt(self, order_id):
        try:
            mailer.send(order_id)
        except MailerError as exc:
            raise self.retry(exc=exc, countdown=5)
    ```

    ## Use instead
    ```python
    @retry(
        stop=stop_after_attempt(5) | stop_after_delay(30),
        wait=wait_random_exponential(multiplier=0.5, max=10),
        reraise=True,
    )
    def fetch_exchange_rates():
        return requests.get(RATES_URL, timeout=5).json()

    @app.task(
        autoretry_for=(MailerError,), max_retries=6, retry_backoff=2, retry_backoff_max=300
    )  # retry_jitter is on by default
    def send_receipt(order_id):
        mailer.send(order_id)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Call):
        name = ctx.call_name or ""
        if name in _BACKOFF_DECORATORS:
            if not has_star_kwargs(node):
                _check_backoff(node, name, ctx)
        elif name in _TENACITY:
            if not has_star_kwargs(node):
                _check_tenacity(node, name, ctx)
        else:
            _check_celery_retry_call(node, ctx)
        return
    _check_celery_task(node, ctx)
    for decorator in node.decorator_list:
        # ``@retry`` used bare; the call form is dispatched as a call.
        last = decorator.attr if isinstance(decorator, ast.Attribute) else None
        if isinstance(decorator, ast.Name):
            last = decorator.id
        if last is None or "retry" not in last:
            continue
        if ctx.qualname(decorator) == "tenacity.retry":
            ctx.report(
                decorator,
                f"@{last} without arguments retries forever and immediately (tenacity's "
                "defaults are stop_never and no wait): a permanent failure hangs the caller "
                "in a tight loop. Pass stop= and wait=.",
            )


def _keyword_named(node: ast.Call, name: str, *unbounded: str) -> ast.expr | None:
    """The keyword's value unless it explicitly means "no limit" (``None``, ``stop_never``)."""
    value = keyword_value(node, name)
    if value is None or is_none(value):
        return None
    text = dotted(value.func if isinstance(value, ast.Call) else value) or ""
    if text.rsplit(".", 1)[-1] in unbounded:
        return None
    return value


def _check_tenacity(node: ast.Call, name: str, ctx: PythonContext) -> None:
    short = name.rsplit(".", 1)[-1]
    if _keyword_named(node, "stop", "stop_never") is None:
        ctx.report(
            node,
            f"tenacity {short}() has no stop=: tenacity retries forever by default, so a "
            "permanent failure hangs the caller. Pass stop=stop_after_attempt(n) or "
            "stop_after_delay(seconds).",
        )
        return
    if _keyword_named(node, "wait", "wait_none") is None:
        ctx.report(
            node,
            f"tenacity {short}() has no wait=: attempts follow each other immediately and "
            "hammer a failing dependency. Pass wait=wait_random_exponential(max=...).",
            severity=Severity.LOW,
        )


def _check_backoff(node: ast.Call, name: str, ctx: PythonContext) -> None:
    for limit in ("max_tries", "max_time"):
        value = keyword_value(node, limit)
        if value is not None and not is_none(value):
            return
    ctx.report(
        node,
        f"{name}() has neither max_tries= nor max_time=: backoff retries forever by default, "
        "so a permanent failure hangs the caller. Pass max_tries= and/or max_time=.",
    )


# Celery (RES004): a bound task's ``self.retry(...)`` and the task's retry options.

_CELERY_RETRY_FIX = (
    "Grow the delay and add jitter: countdown=min(300, 2 ** self.request.retries * 5) + "
    "random.uniform(0, 5), or declare autoretry_for=... with retry_backoff=True (retry_jitter "
    "is on by default)."
)


def _celery_task_class(owner: ClassInfo | None, ctx: PythonContext) -> bool:
    """A ``celery.Task`` subclass (``class BaseTask(Task)`` in a module that uses Celery)."""
    if owner is None:
        return False
    return any(
        (base.startswith("celery.") and base.endswith(".Task"))
        or (base.rsplit(".", 1)[-1].endswith("Task") and "celery" in ctx.facts.frameworks)
        for base in owner.bases
    )


def _bound_self(scope: Scope, ctx: PythonContext) -> str | None:
    """The name of the task instance -- the receiver of ``.retry(...)`` -- in a bound task
    (``@app.task(bind=True)``) or a method of a ``Task`` subclass; ``None`` elsewhere."""
    params = scope.node.args.posonlyargs + scope.node.args.args
    if not params:
        return None
    decorator = task_decorator(scope.node, ctx)
    if decorator is not None:
        bound = isinstance(decorator, ast.Call) and is_true(keyword_value(decorator, "bind"))
        return params[0].arg if bound else None
    return params[0].arg if _celery_task_class(scope.class_info, ctx) else None


def _self_retries(body: list[ast.stmt], self_name: str) -> list[ast.Call]:
    return [
        call
        for call in calls_in(body)
        if isinstance(call.func, ast.Attribute)
        and call.func.attr == "retry"
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == self_name
    ]


def _dict_entry(expr: ast.expr | None, key: str) -> ast.expr | None:
    if not isinstance(expr, ast.Dict):
        return None
    for name, value in zip(expr.keys, expr.values, strict=True):
        if constant_str(name) == key:
            return value
    return None


def _check_celery_task(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    decorator = task_decorator(node, ctx)
    if not isinstance(decorator, ast.Call) or has_star_kwargs(decorator):
        return
    params = node.args.posonlyargs + node.args.args
    bound = bool(params) and is_true(keyword_value(decorator, "bind"))
    retries = _self_retries(node.body, params[0].arg) if bound else []
    autoretry = keyword_value(decorator, "autoretry_for")
    if autoretry is not None and isinstance(autoretry, ast.Tuple | ast.List) and not autoretry.elts:
        autoretry = None
    if autoretry is None and not retries:
        return  # max_retries only matters to a task that retries
    limit = keyword_value(decorator, "max_retries")
    if limit is None:
        limit = _dict_entry(keyword_value(decorator, "retry_kwargs"), "max_retries")
    if limit is not None and is_none(limit):
        ctx.report(
            decorator,
            f"task {node.name}() has max_retries=None and retries"
            + (" on every listed exception" if autoretry is not None else "")
            + ": Celery then re-queues it forever, so a message that can never succeed (a "
            "4xx, bad data, a revoked credential) keeps a worker busy and load on the "
            "dependency indefinitely. Set max_retries to a small number and retry only "
            "transient errors.",
        )
        return
    if autoretry is None:
        return
    backoff = keyword_value(decorator, "retry_backoff")
    if backoff is not None and not is_false(backoff) and constant(backoff) != 0:
        return
    ctx.report(
        decorator,
        f"task {node.name}() retries automatically (autoretry_for=) without retry_backoff: "
        "every retry waits the same default_retry_delay with no jitter, so tasks that failed "
        "together during an outage retry together. Add retry_backoff=True "
        "(and retry_backoff_max=).",
        severity=Severity.LOW,
    )


def _fixed_number(expr: ast.expr | None, ctx: PythonContext, depth: int = 0) -> float | None:
    """The value of a delay that is the same on every attempt: a number, a constant name, or
    arithmetic on those. ``None`` when it is computed at run time (attempt count, randomness)."""
    if expr is None or depth > 4:
        return None
    if isinstance(expr, ast.Constant):
        value = expr.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if isinstance(expr, ast.Name):
        return _fixed_number(ctx.value_of(expr.id), ctx, depth + 1)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = _fixed_number(expr.operand, ctx, depth + 1)
        return None if inner is None else -inner
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Sub | ast.Mult):
        left = _fixed_number(expr.left, ctx, depth + 1)
        right = _fixed_number(expr.right, ctx, depth + 1)
        if left is None or right is None:
            return None
        if isinstance(expr.op, ast.Add):
            return left + right
        return left - right if isinstance(expr.op, ast.Sub) else left * right
    return None


def _check_celery_retry_call(node: ast.Call, ctx: PythonContext) -> None:
    """``self.retry(...)`` inside a bound Celery task (or a ``Task`` subclass's method)."""
    func = node.func
    scope = ctx.function
    if (
        scope is None
        or not isinstance(func, ast.Attribute)
        or not isinstance(func.value, ast.Name)
        or has_star_kwargs(node)
    ):
        return
    while scope.parent is not None and scope.class_info is None and not _is_task_scope(scope, ctx):
        scope = scope.parent  # a helper nested in the task closes over ``self``
    if func.value.id != _bound_self(scope, ctx):
        return
    limit = keyword_value(node, "max_retries")
    if limit is not None and is_none(limit):
        ctx.report(
            node,
            f"{func.value.id}.retry(max_retries=None) retries forever: a message that can never "
            "succeed keeps a worker busy and load on the dependency indefinitely. Pass a "
            "finite max_retries.",
        )
        return
    delay = _fixed_number(keyword_value(node, "countdown"), ctx)
    if delay is None:
        return
    ctx.report(
        node,
        f"{func.value.id}.retry(countdown={delay:g}) retries at a fixed interval with no "
        "backoff or jitter: every task that failed in the same outage retries at the same "
        "moment, again and again, against a dependency trying to recover. " + _CELERY_RETRY_FIX,
        severity=Severity.LOW if delay >= 60 else None,
    )


def _is_task_scope(scope: Scope, ctx: PythonContext) -> bool:
    return task_decorator(scope.node, ctx) is not None


# -- side effects repeated by a task's automatic retries (RES015) --------------------------------


@python_rule(
    code="RES015",
    name="side-effect-repeated-by-task-retries",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Auto-retried task sends or charges before a step that can fail: resent on each retry",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    fix="Make the side effect idempotent (an idempotency key the provider deduplicates on, or a "
    "sent-marker checked first and written in the same transaction), move it last, or split "
    "it into its own task that is retried alone.",
)
def side_effect_repeated_by_task_retries(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags background tasks that the worker retries on its own -- Dramatiq actors (20 retries
    unless `max_retries=0`), Celery tasks with `autoretry_for=`, Huey tasks with `retries=` --
    whose body first performs an effect outside the service (an HTTP POST/PUT/PATCH, a mail, a
    call named `send_*`, `notify_*`, `charge_*`, `publish_*`...) and then runs another step that
    can fail (a database write, another remote call), with no status or dedup check before the
    effect (`if record.notified: return`) and no idempotency key. When `autoretry_for=` lists only
    a third-party library's own errors (`(SendGridException,)`), only a later call into that
    library or another outward call can trigger the retry; a database write after the mail
    fails the task without re-running it.

    ## Why it breaks production
    A retry re-runs the whole task. When the step after the effect fails -- the database is
    briefly unavailable, a row lock times out, the worker is restarted -- the task is retried
    and the SMS, email or webhook goes out again, once per attempt: customers get the same
    message five times, a partner receives duplicate orders.

    ## Example
    ```python
    @shared_task(autoretry_for=(Exception,), max_retries=5, retry_backoff=True)
    def send_welcome(user_id):
        user = User.objects.get(pk=user_id)
        send_mail("Welcome!", render_welcome(user), None, [user.email])
        user.welcome_sent_at = timezone.now()
        user.save(update_fields=["welcome_sent_at"])
    ```

    ## Use instead
    ```python
    @shared_task(autoretry_for=(Exception,), max_retries=5, retry_backoff=True)
    def send_welcome(user_id):
        with transaction.atomic():
            user = User.objects.select_for_update().get(pk=user_id)
            if user.welcome_sent_at is not None:
                return  # a retry after the mail went out
            user.welcome_sent_at = timezone.now()
            user.save(update_fields=["welcome_sent_at"])
        send_mail("Welcome!", render_welcome(user), None, [user.email])
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    retries = automatic_retries(node, ctx)
    if retries is None:
        return
    found = repeated_side_effect(node, ctx)
    if found is None:
        return
    effect, name, later = found
    ctx.report(
        effect,
        f"{name}() has an effect outside the service, and the step after it (line "
        f"{later.lineno}) can still fail: {retries}, and each retry runs the task again and "
        "repeats the effect (a duplicate message, email or request). Check a sent-marker "
        "first, pass an idempotency key, or move the effect last",
    )


# -- retries of failures that no retry can fix (RES017) -------------------------------------------


@python_rule(
    code="RES017",
    name="retry-of-permanent-errors",
    category=Category.RESILIENCE,
    roles=PRODUCTION_ROLES,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Retry that catches 4xx/declines too (broad except around raise_for_status/Stripe)",
    nodes=(ast.For, ast.While, ast.FunctionDef, ast.AsyncFunctionDef),
    fix="Retry only what can succeed next time: timeouts, connection errors and 5xx/429 -- "
    "e.g. re-raise when 400 <= e.response.status_code < 500 and e.response.status_code != "
    "429, tenacity retry=retry_if_exception(is_transient), Celery autoretry_for=(Timeout, "
    "ConnectionError); never retry a card decline.",
)
def retry_of_permanent_errors(
    node: ast.For | ast.While | ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> None:
    """
    ## What it does
    Flags retries whose catch covers failures that will never succeed, when the retried code
    raises such failures: a hand-written retry loop whose handler catches `Exception`,
    `requests.RequestException`/`HTTPError`, `httpx.HTTPStatusError` or `stripe.error.StripeError`
    around `raise_for_status()` or a Stripe create/confirm without looking at the status or the
    error type; a Celery task with `autoretry_for=(Exception,)` (or `RequestException`) that
    calls `raise_for_status()`, or whose broad handler calls `self.retry()` around it; a
    tenacity `@retry(...)` without `retry=` (it retries every exception) on such a function.

    Evidence tier: a `while` loop whose attempt opens a streamed answer (`client.stream(...)`,
    `stream=True`) keeps a subscription open and reconnects after a pause by design; a 4xx
    there costs one request per pause, not a hammered operation: reported low, confidence low.

    ## Why it breaks production
    A 400, 401, 403, 404 or 422 -- and a declined card -- fails the same way on every attempt.
    Retrying it multiplies the load on the dependency, delays the real error by the whole
    backoff schedule, keeps a worker busy, and for payments re-submits a charge the bank has
    already refused (which card networks count and penalise).

    ## Example
    ```python
    for attempt in range(5):
        try:
            resp = httpx.post(f"{CRM_URL}/contacts", json=contact, timeout=5)
            resp.raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(2**attempt)
    ```

    ## Use instead
    ```python
    for attempt in range(5):
        try:
            resp = httpx.post(f"{CRM_URL}/contacts", json=contact, timeout=5)
            resp.raise_for_status()
            break
        except httpx.HTTPStatusError as e:
            if e.response.status_code < 500 and e.response.status_code != 429:
                raise  # our request is wrong: retrying cannot fix it
            time.sleep(2**attempt)
        except httpx.TransportError:
            time.sleep(2**attempt)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if isinstance(node, ast.For | ast.While):
        loop = _retry_loop(node, ctx)
        if loop is None:
            return
        source = permanent_failure_source(loop.attempt.body, ctx)
        found = retried_broadly(loop.attempt, loop.handlers, ctx) if source else None
        if found is None:
            return
        handler, caught = found
        if isinstance(node, ast.While) and _opens_stream(loop.attempt.body):
            ctx.report(
                handler,
                f"This handler catches {caught} and reopens the stream the loop keeps open, "
                f"including after {source}: a subscription reconnected after a pause by "
                "design, so a rejected request costs one attempt per pause until shutdown "
                "rather than hammering one operation -- re-raise 4xx (except 429) if the "
                "stream cannot come back: reported low",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
            return
        ctx.report(
            handler,
            f"This retry handler catches {caught}, which includes failures that never succeed "
            f"-- {source}: a bad request, a missing resource, a rejected card fails the same "
            "way on every attempt, so the loop only adds load and delay. Re-raise 4xx (except "
            "429) and declines; retry timeouts, connection errors and 5xx",
        )
        return
    source = permanent_failure_source(node.body, ctx)
    if source is None:
        return
    for attempt, handler, caught in self_retry_handlers(node, ctx):
        source = permanent_failure_source(attempt.body, ctx) or source
        ctx.report(
            handler,
            f"This handler calls self.retry() for every {caught}, including {source}: a bad "
            "request, a missing resource or a rejected card fails the same way on every "
            "attempt. Re-raise 4xx (except 429) and declines; retry only transient errors",
        )
    autoretry = autoretry_catches_all(task_decorator(node, ctx))
    target: ast.AST | None = None
    if autoretry is not None:
        what, target = autoretry, task_decorator(node, ctx)
    else:
        target = tenacity_retries_everything(node, ctx)
        what = "tenacity @retry without retry= (every exception)"
    if target is None:
        return
    ctx.report(
        target,
        f"{what} retries every failure of this function, including {source}: a bad request, "
        "a missing resource or a rejected card fails the same way on every attempt. Retry "
        "only transient errors (timeouts, connection errors, 5xx/429)",
    )


def _opens_stream(body: list[ast.stmt]) -> bool:
    """The attempt opens a streamed answer (``async with client.stream("GET", url) as s``,
    ``requests.get(url, stream=True)``): the loop keeps a subscription open."""
    for statement in body:
        for node in ast.walk(statement):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr == "stream":
                return True
            if any(k.arg == "stream" and is_true(k.value) for k in node.keywords):
                return True
    return False
