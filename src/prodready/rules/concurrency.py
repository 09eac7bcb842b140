"""Concurrency: races, duplicate side effects and blocked event loops under parallel load."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.engine.analysis import (
    calls_in,
    caught_names,
    django_query,
    dotted,
    has_keyword,
    has_star_kwargs,
    in_service_code,
    in_task,
    is_db_session,
    is_framework_source,
    is_script,
    keyword_value,
    log_call,
    module_value,
    orm_query,
    string_fragments,
)
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext
from prodready.engine.registry import python_rule
from prodready.model import Category, Confidence, Severity

# -- CON001 ---------------------------------------------------------------------------------------

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_BLOCKING_CALLS = (
    "time.sleep",
    *(f"requests.{verb}" for verb in _VERBS),
    *(f"requests.api.{verb}" for verb in _VERBS),
    "urllib.request.urlopen",
    *(f"httpx.{verb}" for verb in (*_VERBS, "stream")),
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "os.system",
    "psycopg2.connect",
    "pymysql.connect",
    "mysql.connector.connect",
    "MySQLdb.connect",
    "socket.create_connection",
    "socket.gethostbyname",
    "socket.getaddrinfo",
    "smtplib.SMTP",
    "smtplib.SMTP_SSL",
    "builtins.input",
)
# Instances whose methods do network I/O (``redis.Redis(...).get``, ``boto3.client("s3").put``).
_BLOCKING_CLIENTS = (
    "requests.Session",
    "requests.sessions.Session",
    "requests.session",
    "httpx.Client",
    "redis.Redis",
    "redis.StrictRedis",
    "redis.from_url",
    "redis.client.Redis",
    "smtplib.SMTP",
    "smtplib.SMTP_SSL",
    "boto3.client",
    "boto3.resource",
    "boto3.session.Session.client",
    "boto3.Session.client",
)
# Client methods that do no I/O.
_LOCAL_METHODS = frozenset(
    {"pipeline", "from_url", "lock", "pubsub", "register_script", "close", "mount"}
    | {"generate_presigned_url", "generate_presigned_post", "get_paginator", "get_waiter"}
    | {"can_paginate", "meta", "exceptions", "Bucket", "Object", "Table", "Queue", "Topic"}
    | {"get_adapter", "prepare_request", "merge_environment_settings", "build_request"}
    | {
        "headers",
        "cookies",
        "auth",
        "hooks",
        "params",
        "verify",
        "proxies",
        "set_response_callback",
    }
)
_ASYNC_ALTERNATIVE = {
    "time": "await asyncio.sleep(...)",
    "requests": "httpx.AsyncClient or aiohttp",
    "httpx": "httpx.AsyncClient",
    "urllib": "httpx.AsyncClient or aiohttp",
    "subprocess": "asyncio.create_subprocess_exec()",
    "os": "asyncio.create_subprocess_shell()",
    "redis": "redis.asyncio",
    "psycopg2": "asyncpg or psycopg's AsyncConnection",
    "pymysql": "aiomysql",
    "mysql": "aiomysql",
    "MySQLdb": "aiomysql",
    "smtplib": "aiosmtplib",
    "boto3": "aioboto3, or await asyncio.to_thread(...)",
    "socket": "asyncio.open_connection() / loop.getaddrinfo()",
    "builtins": "an async input source",
}


def _blocking_name(name: str) -> bool:
    if name in _BLOCKING_CALLS:
        return True
    for client in _BLOCKING_CLIENTS:
        if name.startswith(client + "."):
            rest = name[len(client) + 1 :].split(".")
            if rest[0] == "pipeline":
                return rest[-1] == "execute"
            return not any(part in _LOCAL_METHODS or part.startswith("_") for part in rest)
    return False


@python_rule(
    code="CON001",
    name="blocking-call-in-async",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Blocking I/O or sleep inside async def stalls the whole event loop",
    calls=(
        *_BLOCKING_CALLS,
        *(f"{client}.*" for client in _BLOCKING_CLIENTS),
    ),
    nodes=(ast.Lambda,),
    fix="Use the async equivalent (asyncio.sleep, httpx.AsyncClient, redis.asyncio, "
    "asyncio.create_subprocess_exec) or run it with await asyncio.to_thread(func, ...).",
)
def blocking_call_in_async(node: ast.Call | ast.Lambda, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags blocking calls made directly inside an `async def`: `time.sleep`, `requests` (and
    `requests.Session`) calls, `urllib.request.urlopen`, synchronous `httpx` calls and
    `httpx.Client` methods, `subprocess.run/call/check_output`, `os.system`, synchronous
    database drivers (`psycopg2.connect`, `pymysql.connect`), the synchronous `redis.Redis`
    client, `boto3` clients, `smtplib`, `socket.create_connection` and `input()`. Calls in
    nested synchronous functions and lambdas (handed to `asyncio.to_thread` or
    `run_in_executor`) are not flagged.

    ## Why it breaks production
    An event loop runs every request of the worker on one thread. A blocking call inside a
    coroutine freezes that thread: while one request waits 800 ms for a payment API, *every*
    other request on the worker -- health checks included -- waits too. Under load, latency
    multiplies, health checks time out and the orchestrator restarts pods that were merely
    stuck behind one slow upstream.

    ## Example
    ```python
    @app.get("/quotes/{symbol}")
    async def quote(symbol: str):
        resp = requests.get(f"{PRICES_URL}/{symbol}", timeout=5)
        time.sleep(0.2)  # crude rate limit
        return resp.json()
    ```

    ## Use instead
    ```python
    http = httpx.AsyncClient(timeout=5)

    @app.get("/quotes/{symbol}")
    async def quote(symbol: str):
        resp = await http.get(f"{PRICES_URL}/{symbol}")
        await asyncio.sleep(0.2)
        return resp.json()
    ```
    When no async client exists, `await asyncio.to_thread(blocking_func, *args)`; or declare the
    FastAPI endpoint with plain `def` so it runs in the threadpool.
    """
    if not ctx.in_async or ctx.facts.is_test:
        return
    assert ctx.function is not None
    in_lambdas: set[int] = ctx.rule_state(set)
    if isinstance(node, ast.Lambda):
        in_lambdas.update(id(n) for n in ast.walk(node.body) if isinstance(n, ast.Call))
        return
    if id(node) in in_lambdas:
        return
    name = ctx.call_name or ""
    if not _blocking_name(name):
        return
    if name == "time.sleep" and node.args and _is_zero(node.args[0]):
        return  # time.sleep(0) yields the GIL, it does not wait
    alternative = _ASYNC_ALTERNATIVE.get(name.split(".", 1)[0], "an async client")
    ctx.report(
        node,
        f"{name}() blocks the event loop inside async def {ctx.function.name}(): every other "
        f"request on this worker waits until it returns. Use {alternative}, or "
        "await asyncio.to_thread(...)",
        # A one-shot script's event loop usually has nothing else to run meanwhile.
        confidence=Confidence.MEDIUM if is_script(ctx) else None,
    )


def _is_zero(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value == 0


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


def _loaded_object(value: ast.expr, ctx: PythonContext) -> bool | None:
    """For an expression loading one ORM row: whether it takes a row lock (None: not a load)."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return None
    name = ctx.qualname(value.func) or ""
    if name.endswith(("get_object_or_404", "aget_object_or_404")) and value.args:
        return any(lock in ctx.segment(value.args[0]) for lock in _LOCKS)
    chain = orm_query(value, ctx)
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


def _self_update(target: ast.expr, value: ast.expr) -> bool:
    """``obj.f = obj.f - n`` / ``obj.f = n + obj.f``."""
    if not isinstance(value, ast.BinOp) or not isinstance(value.op, ast.Add | ast.Sub):
        return False
    wanted = ast.dump(target.value) if isinstance(target, ast.Attribute) else None
    for side in (value.left, value.right):
        if (
            isinstance(side, ast.Attribute)
            and isinstance(target, ast.Attribute)
            and side.attr == target.attr
            and ast.dump(side.value) == wanted
        ):
            return True
    return False


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
    `select_for_update()` / `with_for_update()` (or is a Django model's `self`).

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
                state.load_sites[target.id] = node
            elif state.loaded.get(target.id) is False and _only_on_some_paths(
                node, state.load_sites[target.id], ctx
            ):
                pass  # ``if obj is None: obj = Model.objects.create(...)``: may still be the row
            else:
                state.loaded.pop(target.id, None)
        elif _self_update(target, value):
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
        if any(at > line and (saved is None or saved == name) for at, saved in state.persists):
            ctx.report(
                statement,
                f"{name}.{attr} is read, changed in Python and written back: concurrent requests "
                "read the same value and one update is lost. Update it in the database "
                f"(F('{attr}'), or an UPDATE that sets {attr} from itself) or load the row "
                "with select_for_update()/with_for_update()",
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


# -- CON003 ---------------------------------------------------------------------------------------

_STRIPE_CALLS = frozenset(
    {"stripe.Charge.create", "stripe.PaymentIntent.create", "stripe.PaymentIntent.confirm"}
    | {"stripe.PaymentIntent.capture", "stripe.Refund.create", "stripe.Transfer.create"}
    | {"stripe.Payout.create", "stripe.Invoice.pay", "stripe.Subscription.create"}
)
_STRIPE_CLIENT_CALLS = frozenset(
    {"payment_intents.create", "payment_intents.confirm", "payment_intents.capture"}
    | {"charges.create", "refunds.create", "transfers.create", "payouts.create"}
    | {"invoices.pay", "subscriptions.create"}
)
_ADYEN_CALLS = frozenset(
    {"payments", "refund_captured_payment", "capture_authorised_payment", "payouts"}
)
_PAYMENT_PATHS = (
    "/charges",
    "/payments",
    "/payouts",
    "/transfers",
    "/refunds",
    "/payment_intents",
    "/captures",
)
_HTTP_POSTS = frozenset(
    {"requests.post", "requests.Session.post", "requests.sessions.Session.post"}
    | {"httpx.post", "httpx.Client.post", "httpx.AsyncClient.post"}
)


def _payment_call(name: str, node: ast.Call, ctx: PythonContext) -> str | None:
    """What kind of money-moving call this is: "stripe", "braintree", "adyen", "paypal",
    "http" (a POST to a payment API path), or None."""
    if name in _STRIPE_CALLS:
        return "stripe"
    if name.startswith("stripe.StripeClient."):
        tail = ".".join(name.split(".")[-2:])
        return "stripe" if tail in _STRIPE_CLIENT_CALLS else None
    if name.startswith("braintree.") and name.endswith("ransaction.sale"):
        return "braintree"
    if name.startswith(("Adyen.", "adyen.")) and name.rsplit(".", 1)[-1] in _ADYEN_CALLS:
        return "adyen"
    if name in {"paypalrestsdk.Payment.create", "paypalrestsdk.Payout.create"}:
        return "paypal"
    if name in _HTTP_POSTS and node.args:
        url = " ".join(string_fragments(node.args[0], ctx)).lower()
        if any(path in url for path in _PAYMENT_PATHS):
            return "http"
    return None


def _mentions_idempotency(ctx: PythonContext) -> bool:
    """The function reads an Idempotency-Key header, passes a key, or dedupes explicitly."""
    cache: dict[str, bool] = ctx.rule_state(dict)
    if "idempotency" not in cache:
        assert ctx.function is not None
        text = ctx.segment(ctx.function.node).lower()
        cache["idempotency"] = "idempoten" in text or "paypal-request-id" in text
    return cache["idempotency"]


@python_rule(
    code="CON003",
    name="side-effect-without-idempotency-key",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Payment call in a retried request/task without an idempotency key",
    calls=(
        *_STRIPE_CALLS,
        "stripe.StripeClient.*",
        "braintree.*",
        "Adyen.*",
        "adyen.*",
        "paypalrestsdk.Payment.create",
        "paypalrestsdk.Payout.create",
        *_HTTP_POSTS,
    ),
    fix="Accept an Idempotency-Key header (or derive a key from the order id) and pass it "
    "to the provider: stripe.PaymentIntent.create(..., idempotency_key=key).",
)
def side_effect_without_idempotency_key(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags calls that move money -- `stripe.Charge.create`, `stripe.PaymentIntent.create`,
    `stripe.Refund.create`, `stripe.Transfer.create`, `stripe.Payout.create` (and their
    `StripeClient` forms), Braintree `Transaction.sale`, Adyen payments, PayPal
    `Payment.create`, or an HTTP POST to a `/charges`, `/payments`, `/refunds`, `/payouts`,
    `/transfers` URL -- inside a state-changing HTTP handler or a background task, when no
    idempotency key is passed and the handler never reads an `Idempotency-Key` header.

    ## Why it breaks production
    Requests are retried: by the client after a timeout, by a proxy or load balancer after a
    502, by the user double-clicking "Pay", by the queue redelivering a task whose worker died.
    If the first attempt reached the provider but the response was lost, the retry charges the
    card a second time. The provider can deduplicate -- but only if every attempt carries the
    same idempotency key.

    ## Example
    ```python
    @app.post("/orders/{order_id}/pay")
    def pay(order_id: int):
        order = load_order(order_id)
        intent = stripe.PaymentIntent.create(amount=order.total_cents, currency="eur",
                                             customer=order.customer_ref, confirm=True)
        return {"status": intent.status}
    ```

    ## Use instead
    ```python
    @app.post("/orders/{order_id}/pay")
    def pay(order_id: int, idempotency_key: str = Header(...)):
        order = load_order(order_id)
        intent = stripe.PaymentIntent.create(amount=order.total_cents, currency="eur",
                                             customer=order.customer_ref, confirm=True,
                                             idempotency_key=f"pay-{order.id}-{idempotency_key}")
        return {"status": intent.status}
    ```
    """
    if ctx.function is None or ctx.facts.is_test:
        return
    route = ctx.route
    if route is not None:
        if not route.writes:
            return
    elif not in_task(ctx):
        return
    name = ctx.call_name or ""
    kind = _payment_call(name, node, ctx)
    if kind is None or has_star_kwargs(node):
        return
    if has_keyword(node, "idempotency_key", "idempotencyKey"):
        return
    options = keyword_value(node, "options") or keyword_value(node, "headers")
    if options is not None and "idempoten" in ctx.segment(options).lower():
        return
    if _mentions_idempotency(ctx):
        return
    where = "request handler" if route is not None else "task"
    retried = (
        "a retried request (client timeout, proxy retry, double click)"
        if route is not None
        else "a redelivered or retried task"
    )
    severity = Severity.CRITICAL if ctx.profile.handles_payments else None
    if kind == "http":
        message = (
            f"{name}() to a payment API in a {where} sends no Idempotency-Key header: "
            f"{retried} moves the money twice. Send a key that is stable across retries"
        )
    elif kind == "braintree":
        message = (
            f"{name}() in a {where} has no deduplication: {retried} charges twice. Braintree "
            "takes no idempotency key: record the transaction per order (or per client "
            "Idempotency-Key) and check it before calling sale()"
        )
    else:
        message = (
            f"{name}() in a {where} has no idempotency key: {retried} charges twice. Pass "
            "an idempotency key derived from the client's Idempotency-Key header or the order id"
        )
    ctx.report(node, message, severity=severity)


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
    `select_for_update` or `ON CONFLICT`.

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
        for checked, line, start, stop in state.checks:
            if checked == model and start <= call.lineno <= stop:
                ctx.report(
                    call,
                    f"{model} is created after checking that it does not exist (line {line}): "
                    "two concurrent requests both pass the check and both insert. Use a "
                    "unique constraint with get_or_create()/ON CONFLICT, or catch "
                    "IntegrityError",
                    confidence=confidence,
                )
                break


# -- CON005 ---------------------------------------------------------------------------------------

_KAFKA_CONSUMERS = frozenset(
    {"kafka.KafkaConsumer", "kafka.consumer.KafkaConsumer", "aiokafka.AIOKafkaConsumer"}
    | {"aiokafka.consumer.AIOKafkaConsumer"}
)
_CONFLUENT_CONSUMERS = frozenset(
    {"confluent_kafka.Consumer", "confluent_kafka.DeserializingConsumer"}
    | {"confluent_kafka.cimpl.Consumer"}
)
# Methods of a consumer that hand messages to the application.
_CONSUMER_READS = frozenset({"poll", "getmany", "getone", "consume"})
# pika ``basic_consume(queue, on_message_callback, auto_ack)``, ``basic_get(queue, auto_ack)``.
_AUTO_ACK_POSITIONS = {"basic_consume": 2, "basic_get": 1}
# Calls after an ack that are not the processing of the message.
_NOT_PROCESSING_PREFIXES = ("builtins.", "json.", "time.", "logging.", "datetime.", "uuid.")
_NOT_PROCESSING_METHODS = frozenset(
    {"decode", "encode", "loads", "get", "format", "inc", "observe", "labels", "strip", "split"}
    | {"basic_ack", "basic_nack", "basic_reject", "ack", "nack", "reject", "model_validate"}
)


@dataclass(slots=True)
class _ConsumerState:
    consumers: list[tuple[ast.Call, str]] = field(default_factory=list)
    read: bool = False  # the module iterates or polls a Kafka consumer


def _auto_commit_message(node: ast.Call, name: str, ctx: PythonContext) -> str | None:
    """Why a Kafka consumer commits offsets before the application processed the messages."""
    if has_star_kwargs(node) or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    if name in _KAFKA_CONSUMERS:
        group = keyword_value(node, "group_id")
        if group is None or _is_none(group):
            return None  # no consumer group: no offsets are committed at all
        flag = keyword_value(node, "enable_auto_commit")
        if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is True):
            return None
        short = name.rsplit(".", 1)[-1]
        return (
            f"{short} commits offsets automatically in the background (enable_auto_commit "
            "defaults to True): a message fetched but not yet processed is marked done, and a "
            "crash or deploy loses it. Pass enable_auto_commit=False and commit() after "
            "processing"
        )
    config = node.args[0] if node.args else keyword_value(node, "conf")
    if isinstance(config, ast.Name):
        config = module_value(config.id, ctx)
    if not isinstance(config, ast.Dict) or None in config.keys:
        return None
    settings = {
        key.value: value
        for key, value in zip(config.keys, config.values, strict=True)
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }
    if "group.id" not in settings:
        return None
    for key in ("enable.auto.commit", "enable.auto.offset.store"):
        value = settings.get(key)
        if value is not None and not (isinstance(value, ast.Constant) and value.value is True):
            return None  # offsets committed or stored by the application
    return (
        'Consumer config without "enable.auto.commit": False: offsets of polled messages are '
        "committed in the background before they are processed, so a crash or deploy loses "
        'them. Set "enable.auto.commit": False and commit(message) after processing'
    )


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def _auto_ack_flag(node: ast.Call, method: str) -> ast.expr | None:
    """The ``auto_ack=True``/``no_ack=True`` argument of a broker consume call, if any."""
    for item in node.keywords:
        if item.arg in {"auto_ack", "no_ack"} and isinstance(item.value, ast.Constant):
            if item.value.value is True:
                return item.value
            return None
    position = _AUTO_ACK_POSITIONS.get(method)
    if position is not None and position < len(node.args):
        value = node.args[position]
        if isinstance(value, ast.Constant) and value.value is True:
            return value
    return None


def _ack_statement(statement: ast.stmt, params: set[str]) -> ast.Call | None:
    """``ch.basic_ack(...)`` / ``[await] message.ack()`` as a statement of its own."""
    if not isinstance(statement, ast.Expr):
        return None
    value = statement.value
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
        return None
    if value.func.attr == "basic_ack":
        return value
    receiver = value.func.value
    if value.func.attr == "ack" and isinstance(receiver, ast.Name) and receiver.id in params:
        return value
    return None


def _processing_call(statements: list[ast.stmt], ctx: PythonContext) -> ast.Call | None:
    for call in calls_in(statements):
        if log_call(call, ctx) is not None:
            continue
        name = ctx.qualname(call.func) or ""
        if name.startswith(_NOT_PROCESSING_PREFIXES):
            continue
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if method in _NOT_PROCESSING_METHODS:
            continue
        return call
    return None


@python_rule(
    code="CON005",
    name="consumer-auto-ack-before-processing",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Message acknowledged or committed before it is processed: a crash loses it",
    calls=(
        *sorted(_KAFKA_CONSUMERS | _CONFLUENT_CONSUMERS),
        "*.basic_consume",
        "*.basic_get",
        "*.consume",
        "*.iterator",
        *(f"*.{method}" for method in sorted(_CONSUMER_READS - {"consume"})),
    ),
    nodes=(ast.For, ast.AsyncFor, FunctionEnd, ModuleEnd),
    fix="Acknowledge after processing: auto_ack=False and ch.basic_ack(...) at the end of the "
    "callback; Kafka enable_auto_commit=False and commit() once the message is handled.",
)
def consumer_auto_ack_before_processing(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags message consumers that acknowledge a message before the application has processed it:
    pika `basic_consume(..., auto_ack=True)` / `basic_get(auto_ack=True)` (and `no_ack=True`,
    also aio-pika's `queue.consume(..., no_ack=True)`), kafka-python `KafkaConsumer` and aiokafka
    `AIOKafkaConsumer` in a consumer group without `enable_auto_commit=False` (when the module
    reads from it), confluent-kafka `Consumer({...})` with a `group.id` but without
    `"enable.auto.commit": False`, and callbacks that call `basic_ack()`/`message.ack()` as
    their first step and only then process the message.

    ## Why it breaks production
    Acknowledging tells the broker the message is done: it is deleted (RabbitMQ) or its offset
    is committed (Kafka). If the worker then crashes, is OOM-killed or is stopped by a deploy
    while processing -- or the processing raises -- the message is gone: an order never
    fulfilled, an email never sent, with nothing left to retry and nothing in a dead-letter
    queue. Auto-ack also removes backpressure: the broker pushes messages as fast as it can.

    ## Example
    ```python
    def on_order(ch, method, properties, body):
        fulfil(json.loads(body))

    channel.basic_consume(queue="orders", on_message_callback=on_order, auto_ack=True)
    ```

    ## Use instead
    ```python
    def on_order(ch, method, properties, body):
        fulfil(json.loads(body))  # idempotent: a redelivery after a crash is harmless
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(queue="orders", on_message_callback=on_order)
    ```
    With Kafka: `enable_auto_commit=False`, process, then `consumer.commit()`.
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    state: _ConsumerState = ctx.rule_state(_ConsumerState, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if state.read:
            for call, message in state.consumers:
                ctx.report(call, message, confidence=Confidence.MEDIUM)
        return
    if isinstance(node, ast.For | ast.AsyncFor):
        if ctx.qualname(node.iter) in _KAFKA_CONSUMERS:
            state.read = True
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        _check_early_ack(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name in _KAFKA_CONSUMERS or name in _CONFLUENT_CONSUMERS:
        found = _auto_commit_message(node, name, ctx)
        if found is not None:
            state.consumers.append((node, found))
        return
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    method = func.attr
    if method in _CONSUMER_READS:
        receiver = ctx.qualname(func.value) or ""
        if receiver in _KAFKA_CONSUMERS or receiver in _CONFLUENT_CONSUMERS:
            state.read = True
        if method != "consume":
            return
    if method not in {"basic_consume", "basic_get", "consume", "iterator"}:
        return
    flag = _auto_ack_flag(node, method)
    if flag is None:
        return
    if method in {"consume", "iterator"} and not any(k.arg == "no_ack" for k in node.keywords):
        return
    ctx.report(
        node,
        f"{method}() with automatic acknowledgement: the broker deletes each message as soon "
        "as it is delivered, so a crash, deploy or exception during processing loses it. "
        "Acknowledge explicitly after processing (basic_ack / message.ack())",
    )


def _check_early_ack(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> None:
    scope = ctx.function
    gate = ctx.module_state.get("CON005:ack")
    if gate is None:
        gate = ctx.module_state["CON005:ack"] = "ack(" in ctx.source
    if scope is None or not gate:
        return
    params = {param.arg for param in scope.params}
    body = node.body
    for index, statement in enumerate(body):
        ack = _ack_statement(statement, params)
        if ack is None:
            continue
        processing = _processing_call(body[index + 1 :], ctx)
        if processing is not None:
            ctx.report(
                ack,
                f"the message is acknowledged before it is processed (line "
                f"{processing.lineno}): if the worker crashes or the processing raises, the "
                "broker has already dropped it. Acknowledge after processing",
                confidence=Confidence.MEDIUM,
            )
        return


# -- CON006 ---------------------------------------------------------------------------------------

_LOCK_WORDS = ("lock", "mutex", "semaphore", "condition")


@dataclass(slots=True)
class _SharedWrite:
    node: ast.stmt
    key: str
    read_line: int
    read_step: int | None  # None: read, await and write are one statement
    step: int


@dataclass(slots=True)
class _AwaitState:
    step: int = 0  # order of the events seen in the function
    awaits: list[tuple[int, int]] = field(default_factory=list)  # (step, line)
    reads: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # local -> key, step, line
    writes: list[_SharedWrite] = field(default_factory=list)
    locks: list[tuple[int, int]] = field(default_factory=list)  # line ranges under a lock


def _shared_key(expr: ast.expr, ctx: PythonContext) -> str | None:
    """A text key for shared state: ``STATE[k]``, ``STATE.get(k)``, a ``global`` name,
    ``self.attr`` and ``self.attr[k]`` (None for anything else)."""
    scope = ctx.function
    assert scope is not None
    if isinstance(expr, ast.Call):
        func = expr.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and expr.args
            and not isinstance(expr.args[0], ast.Starred)
        ):
            container = _shared_key(func.value, ctx)
            if container is None or "[" in container:
                return None
            return f"{container}[{ast.dump(expr.args[0])}]"
        return None
    if isinstance(expr, ast.Subscript):
        container = _shared_key(expr.value, ctx)
        if container is None or "[" in container:
            return None
        return f"{container}[{ast.dump(expr.slice)}]"
    if isinstance(expr, ast.Name):
        if expr.id in scope.globals or ctx.is_module_state(expr.id):
            return expr.id
        return None
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == scope.self_name
        and expr.value.id is not None
        and not expr.attr.isupper()
    ):
        return f"self.{expr.attr}"
    return None


def _contains_await(expr: ast.AST) -> bool:
    return any(isinstance(node, ast.Await) for node in ast.walk(expr))


def _reads_key(expr: ast.AST, key: str, ctx: PythonContext) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Subscript | ast.Name | ast.Attribute | ast.Call) and (
            _shared_key(node, ctx) == key if not isinstance(node, ast.Name) else node.id == key
        ):
            return True
    return False


@python_rule(
    code="CON006",
    name="await-between-read-and-write-of-shared-state",
    category=Category.CONCURRENCY,
    severity=Severity.HIGH,
    summary="Shared state read, then an await, then written back: coroutines lose updates",
    nodes=(ast.Await, ast.Assign, ast.AugAssign, ast.With, ast.AsyncWith, FunctionEnd),
    fix="Hold an asyncio.Lock across the read, the await and the write (async with lock:), or "
    "re-read and update in one step after the await.",
)
def await_between_read_and_write(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `async def` functions that read a shared value -- an entry of a module-level
    container (`BALANCES[user]`, `STOCK.get(sku)`), a `global` name, or an attribute of
    `self` -- then `await` something, then write the value back computed from what they read
    (`BALANCES[user] = balance - amount`, `TOTALS[day] += await fetch()`), without holding an
    `asyncio.Lock` (`async with lock:`) across the three steps.

    ## Why it breaks production
    Coroutines on one event loop interleave at every `await`. Two requests for the same user
    both read the balance 100, both await the payment provider, both write `100 - 30`: one
    debit is lost. The code is correct in every test with one request at a time and loses
    updates under real concurrent traffic -- exactly where nobody looks for it.

    ## Example
    ```python
    async def withdraw(user_id: int, amount: int) -> None:
        balance = BALANCES[user_id]
        await payments.charge(user_id, amount)
        BALANCES[user_id] = balance - amount
    ```

    ## Use instead
    ```python
    balance_lock = asyncio.Lock()

    async def withdraw(user_id: int, amount: int) -> None:
        async with balance_lock:
            balance = BALANCES[user_id]
            await payments.charge(user_id, amount)
            BALANCES[user_id] = balance - amount
    ```
    Across several workers or replicas only the database (an atomic UPDATE, a row lock) or
    Redis (INCRBY, a Lua script) can make the update atomic.
    """
    scope = ctx.function
    if scope is None or not scope.is_async or ctx.facts.is_test:
        return
    state: _AwaitState = ctx.rule_state(_AwaitState)
    state.step += 1
    if isinstance(node, ast.Await):
        state.awaits.append((state.step, node.lineno))
        return
    if isinstance(node, ast.With | ast.AsyncWith):
        for item in node.items:
            text = ast.unparse(item.context_expr).lower()
            if any(word in text for word in _LOCK_WORDS):
                state.locks.append((node.lineno, node.end_lineno or node.lineno))
        return
    if isinstance(node, ast.AugAssign):
        key = _shared_key(node.target, ctx)
        if key is not None and not key.startswith("self.") and _contains_await(node.value):
            # The target's value is loaded before the awaited operand is evaluated.
            state.writes.append(_SharedWrite(node, key, node.lineno, None, state.step))
        return
    if isinstance(node, ast.Assign):
        _await_assign(node, ctx, state)
        return
    # FunctionEnd
    if not state.writes:
        return
    lines = ctx.lines[scope.node.lineno - 1 : scope.node.end_lineno]
    if any(".acquire(" in line for line in lines):
        return
    reported: set[str] = set()
    for write in state.writes:
        if write.key in reported or _locked(state, write.read_line, write.node.lineno):
            continue
        if write.read_step is None:
            inner = [n.lineno for n in ast.walk(write.node) if isinstance(n, ast.Await)]
        else:
            low, high = write.read_step, write.step
            inner = [line for at, line in state.awaits if low < at < high]
        if not inner:
            continue
        reported.add(write.key)
        key = write.key
        shown = key.split("[", 1)[0] + ("[...]" if "[" in key else "")
        ctx.report(
            write.node,
            f"{shown} is read (line {write.read_line}), the coroutine awaits (line {inner[0]}) "
            "and then writes it back from the stale value: a concurrent request changing it "
            "in between is lost. Hold an asyncio.Lock across the read, the await and the write",
            # An instance may belong to one request; module state is shared by all of them.
            confidence=Confidence.MEDIUM if key.startswith("self.") else None,
        )


def _locked(state: _AwaitState, first: int, last: int) -> bool:
    return any(start <= first and last <= end for start, end in state.locks)


def _await_assign(node: ast.Assign, ctx: PythonContext, state: _AwaitState) -> None:
    if len(node.targets) != 1:
        return
    target = node.targets[0]
    value = node.value
    if isinstance(target, ast.Name) and _shared_key(target, ctx) is None:
        key = _shared_key(value, ctx)
        if key is not None:
            state.reads[target.id] = (key, state.step, node.lineno)
        else:
            state.reads.pop(target.id, None)
        return
    key = _shared_key(target, ctx)
    if key is None:
        return
    used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    for name, (read_key, at, line) in state.reads.items():
        if read_key == key and name in used:
            state.writes.append(_SharedWrite(node, key, line, at, state.step))
            return
    if not key.startswith("self.") and _contains_await(value) and _reads_key(value, key, ctx):
        state.writes.append(_SharedWrite(node, key, node.lineno, None, state.step))


# -- CON007 ---------------------------------------------------------------------------------------

_TASK_FACTORIES = frozenset(
    {"asyncio.create_task", "asyncio.ensure_future", "asyncio.tasks.create_task"}
    | {"asyncio.tasks.ensure_future"}
)
_LOOP_FACTORIES = frozenset(
    {"asyncio.get_event_loop", "asyncio.get_running_loop", "asyncio.new_event_loop"}
    | {"asyncio.events.get_event_loop", "asyncio.events.get_running_loop"}
    | {"asyncio.AbstractEventLoop", "asyncio.events.AbstractEventLoop"}
)


def _spawned_task(call: ast.AST, ctx: PythonContext) -> str | None:
    """``asyncio.create_task(coro)`` / ``asyncio.ensure_future(coro())`` /
    ``loop.create_task(coro)``: what spawns the task, or None. A ``TaskGroup``'s
    ``create_task`` keeps its tasks; ``ensure_future`` of an existing future creates none."""
    if not isinstance(call, ast.Call) or not call.args:
        return None
    func = call.func
    name = ctx.qualname(func) or ""
    method = func.attr if isinstance(func, ast.Attribute) else name.rsplit(".", 1)[-1]
    if method not in {"create_task", "ensure_future"}:
        return None
    if method == "ensure_future" and not isinstance(call.args[0], ast.Call):
        return None
    if name in _TASK_FACTORIES:
        return f"{name}()"
    if not isinstance(func, ast.Attribute) or method != "create_task":
        return None
    receiver = ctx.qualname(func.value) or ""
    text = dotted(func.value) or ""
    if receiver in _LOOP_FACTORIES or text.rsplit(".", 1)[-1].lower().endswith("loop"):
        return f"{text or 'loop'}.create_task()"
    return None


@python_rule(
    code="CON007",
    name="task-without-reference",
    category=Category.CONCURRENCY,
    severity=Severity.MEDIUM,
    summary="Fire-and-forget asyncio task with no reference: may be garbage-collected mid-run",
    nodes=(ast.Expr, ast.Assign, ModuleEnd),
    fix="Keep a strong reference until the task is done (tasks.add(t); "
    "t.add_done_callback(tasks.discard)) or run it in an asyncio.TaskGroup.",
)
def task_without_reference(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `asyncio.create_task(...)`, `asyncio.ensure_future(coro())` and
    `loop.create_task(...)` calls whose result is thrown away (a bare expression statement or
    an assignment to `_`) in code that runs in a service or worker -- not in tests, scripts or
    a framework's own source. Tasks created by an `asyncio.TaskGroup` are not flagged.

    ## Why it breaks production
    The event loop holds only a weak reference to the tasks it runs. A task nobody else
    references can be garbage-collected while it is still waiting, so the background work
    (cache refresh, webhook delivery, audit write) silently stops half-way -- more often under
    memory pressure, which is when it matters. And since nobody awaits it, an exception in the
    task is never retrieved: at best a "Task exception was never retrieved" line appears when
    it is collected, with no request context, and no retry or alert ever happens.

    ## Example
    ```python
    async def refresh(request):
        symbols = await request.json()
        asyncio.create_task(refresh_quotes(symbols))
        return web.json_response({"status": "refreshing"}, status=202)
    ```

    ## Use instead
    ```python
    background_tasks: set[asyncio.Task] = set()

    def spawn(coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        background_tasks.add(task)
        task.add_done_callback(background_tasks.discard)
        task.add_done_callback(log_task_failure)  # calls task.exception() and logs it
        return task
    ```
    Or, when the caller can wait, `async with asyncio.TaskGroup() as tg: tg.create_task(...)`;
    for work that must survive a restart, a job queue.
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    found: list[tuple[ast.Call, str]] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Expr):
        value = node.value
    elif isinstance(node, ast.Assign):
        targets = node.targets
        if not (len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "_"):
            return
        value = node.value
    else:  # ModuleEnd
        if not found or is_script(ctx) or is_framework_source(ctx):
            return
        for call, what in found:
            ctx.report(
                call,
                f"the task {what} creates is not kept anywhere: the event loop holds only a "
                "weak reference, so it can be garbage-collected before it finishes, and its "
                "exception is never retrieved. Keep a reference until it is done (a set plus "
                "add_done_callback(set.discard)) or run it in an asyncio.TaskGroup",
            )
        return
    spawner = _spawned_task(value, ctx)
    if spawner is not None:
        assert isinstance(value, ast.Call)
        found.append((value, spawner))
