"""Performance: the same remote call repeated in a loop (PRF006)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted, has_star_kwargs, walk_body
from prodready.rules.performance._shared import _short

# -- PRF006 ---------------------------------------------------------------------------------------

_READ_VERBS = ("get", "head")
_REMOTE_READS = frozenset(
    {
        *(f"requests.{verb}" for verb in _READ_VERBS),
        *(f"requests.Session.{verb}" for verb in _READ_VERBS),
        *(f"requests.sessions.Session.{verb}" for verb in _READ_VERBS),
        *(f"httpx.{verb}" for verb in _READ_VERBS),
        *(f"httpx.Client.{verb}" for verb in _READ_VERBS),
        *(f"httpx.AsyncClient.{verb}" for verb in _READ_VERBS),
        "aiohttp.ClientSession.get",
        "urllib.request.urlopen",
        "django.core.cache.cache.get",
        "django.core.cache.cache.get_many",
    }
)
_REDIS_CLIENT_TYPES = (
    "redis.Redis.",
    "redis.StrictRedis.",
    "redis.from_url.",
    "redis.Redis.from_url.",
    "redis.asyncio.Redis.",
    "redis.asyncio.from_url.",
    "redis.asyncio.Redis.from_url.",
)
_REDIS_READS = frozenset(
    {"get", "mget", "hget", "hgetall", "hmget", "exists", "smembers", "lrange", "zrange", "ttl"}
)
_BOTO_READS = frozenset(
    {"get_object", "head_object", "get_parameter", "get_parameters", "get_secret_value"}
    | {"get_item", "list_objects_v2", "get_queue_url", "get_caller_identity"}
)
_MUTATORS = frozenset(
    {"append", "extend", "update", "add", "pop", "insert", "setdefault", "clear", "remove"}
)


def _remote_read(node: ast.Call, ctx: PythonContext) -> str | None:
    name = ctx.call_name or ""
    if name in _REMOTE_READS:
        return name
    method = name.rsplit(".", 1)[-1]
    if method in _REDIS_READS and name.startswith(_REDIS_CLIENT_TYPES):
        return name
    if method in _BOTO_READS and name.startswith(("boto3.client.", "boto3.Session.client.")):
        return name
    return None


def _varying_names(loop: ast.AST, ctx: PythonContext) -> set[str] | None:
    """Names that change from one iteration of ``loop`` to the next (its targets, what its body
    assigns or mutates); None for loops that repeat on purpose (polling, retries, ranges)."""
    cache: dict[int, set[str] | None] = ctx.rule_state(dict)
    key = id(loop)
    if key in cache:
        return cache[key]
    names: set[str] | None = set()
    body: list[ast.AST] = []
    if isinstance(loop, ast.For | ast.AsyncFor):
        iterable = loop.iter
        if (
            isinstance(iterable, ast.Call)
            and ctx.qualname(iterable.func) in {"builtins.range", "itertools.count"}
        ) or (isinstance(loop.target, ast.Name) and loop.target.id == "_"):
            names = None  # repetition is the point: retries, polling, load generation
        else:
            names = _target_names(loop.target)
            body = list(loop.body)
    elif isinstance(loop, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        assert names is not None
        for generator in loop.generators:
            names |= _target_names(generator.target)
        body = [loop]
    else:
        names = None  # while loops poll and retry
    if names is not None:
        for node in walk_body(body):  # type: ignore[arg-type]
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, ast.Subscript | ast.Attribute) and not isinstance(
                node.ctx, ast.Load
            ):
                root = dotted(node.value) if isinstance(node, ast.Attribute) else None
                names.add((root or _root(node)).split(".")[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MUTATORS
            ):
                names.add(_root(node.func.value))
            elif isinstance(node, ast.Call) and (ctx.qualname(node.func) or "") in _SLEEPS:
                names = None  # paced repetition: polling
                break
    cache[key] = names
    return names


_SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "gevent.sleep", "trio.sleep", "anyio.sleep"})


def _root(expr: ast.AST) -> str:
    while isinstance(expr, ast.Attribute | ast.Subscript | ast.Call):
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    return expr.id if isinstance(expr, ast.Name) else ""


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


@python_rule(
    code="PRF006",
    name="repeated-remote-call-in-loop",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Identical remote read (HTTP GET, Redis, S3, SSM) repeated on every loop iteration",
    calls=(
        *sorted(_REMOTE_READS),
        *(f"{client}*" for client in _REDIS_CLIENT_TYPES),
        "boto3.client.*",
        "boto3.Session.client.*",
    ),
    fix="Make the call once before the loop and reuse the result (or cache it with a TTL).",
)
def repeated_remote_call_in_loop(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a remote read -- `requests`/`httpx`/`aiohttp` GET or HEAD, `urlopen`, a Redis read
    (`get`, `hgetall`, `smembers`...), Django's `cache.get`, boto3 reads such as
    `get_object`, `get_parameter`, `get_secret_value` -- made inside a loop over data when none
    of its arguments change from one iteration to the next: the same request is sent on every
    iteration. Loops that repeat on purpose (`while` polling, `for _ in range(n)` retries,
    loops that sleep) are not flagged.

    ## Why it breaks production
    The result is the same every time, but every iteration pays a network round trip: a loop
    over 2,000 order lines fetching the same exchange rate makes 2,000 HTTP calls, turning a
    20 ms endpoint into 20 seconds, multiplying load on the dependency by the size of the data
    and making the endpoint fail as soon as the dependency rate-limits you.

    ## Example
    ```python
    for line in order.lines:
        rate = requests.get(f"{FX_URL}/latest?base=EUR", timeout=3).json()["rates"]["USD"]
        line.total_usd = line.total * rate
    ```

    ## Use instead
    ```python
    rate = requests.get(f"{FX_URL}/latest?base=EUR", timeout=3).json()["rates"]["USD"]
    for line in order.lines:
        line.total_usd = line.total * rate
    ```
    """
    if not ctx.loops or ctx.function is None or ctx.facts.is_test:
        return
    name = _remote_read(node, ctx)
    if name is None:
        return
    if any(isinstance(a, ast.Starred) for a in node.args) or has_star_kwargs(node):
        return
    varying = _varying_names(ctx.loops[-1], ctx)
    if varying is None:
        return
    arguments: list[ast.AST] = [*node.args, *(k.value for k in node.keywords), node.func]
    used: set[str] = set()
    for argument in arguments:
        for child in ast.walk(argument):
            if isinstance(child, ast.Name):
                used.add(child.id)
            elif isinstance(child, ast.Call | ast.Await | ast.Lambda):
                return  # computed per call (a token, a timestamp, a cursor)
    if used & varying:
        return
    short = name.rsplit(".", 1)[-1]
    ctx.report(
        node,
        f"{_short(ctx, node)} sends the same {short} on every iteration of the loop (none of "
        "its arguments change): one network round trip per item for the same answer. Make "
        "the call once before the loop and reuse the result",
    )
