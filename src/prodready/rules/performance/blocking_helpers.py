"""Performance: blocking I/O reached through the project's own synchronous helpers from an
``async def`` (PRF008)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    Mark,
    ModuleEnd,
    ModuleMemo,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import (
    ProjectFunction,
    SemanticModel,
    is_script,
    semantic_model,
    walk_body,
)
from prodready.rules.performance._blocking_calls import (
    blocking_call,
    database_call,
    file_call,
    files_opened_for_writing,
)

# How many synchronous helpers deep a blocking call is looked for.
MAX_DEPTH = 4
# Async functions run before the server accepts requests or after it stops: blocking there
# delays startup or shutdown, not other requests.
_LIFECYCLE_WORDS = ("lifespan", "startup", "shutdown")
_OFFLOADERS = frozenset(
    {"to_thread", "run_in_executor", "run_in_threadpool", "run_sync", "sync_to_async"}
    | {"database_sync_to_async"}
)
# The first name of every qualified name ``blocking_call`` can accept (PRF016's blocking calls
# and clients, the DB-API drivers, SQLAlchemy; ``builtins.input``). A qualified name starts with
# a name written in the module (an import, an assignment, a parameter annotation, an unbound
# name kept as written), ``builtins`` for a builtin such as ``input``, or the module's own
# package for a relative import; ``_uses_sqlalchemy`` needs an import of SQLAlchemy. Where
# none of these words occurs, no call of the module's synchronous functions can block.
# (The lookahead on the words' first letters lets the regex engine skip the other offsets.)
_BLOCKING_ROOTS = re.compile(
    r"(?=[MPbfhimoprstuw])\b(?:time|requests|urllib|httpx|subprocess|os|psycopg|pymysql|mysql"
    r"|MySQLdb|socket|smtplib|input|builtins|redis|boto3|sqlalchemy|sqlmodel|flask_sqlalchemy"
    r"|open|shutil|pathlib|Path|write_bytes|write_text|objects)"
)


def _may_block(ctx: PythonContext) -> bool:
    # A non-ASCII identifier is NFKC-normalised by the parser: its text may not match.
    source = ctx.source
    return (
        not source.isascii()
        or _BLOCKING_ROOTS.search(source) is not None
        or _BLOCKING_ROOTS.search(ctx.module) is not None
    )


_MAY_BLOCK: ModuleMemo[bool] = ModuleMemo("PRF008:may-block", _may_block)


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    """Evidence per function: a synchronous one's first blocking call ("blocks"); an async
    one's lines of the calls it makes itself, outside lambdas and calls handed to a thread
    ("async")."""
    if ctx.facts.is_test:
        return None
    if isinstance(node, ast.Module):
        return _instances(node, ctx)
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    if isinstance(node, ast.FunctionDef):
        if any(_memoizes(decorator, ctx) for decorator in node.decorator_list):
            # Runs its body once per arguments (a settings loader, a client factory): the
            # wait is paid by the first call, not by every request.
            return [Mark.of("cached", node.lineno)]
        if not ctx.memo(_MAY_BLOCK):
            return None
        # A network or database wait is reported before a disk write (the worse stall).
        on_disk: Mark | None = None
        opened = files_opened_for_writing(node, ctx)
        for inner in walk_body(node.body):
            if isinstance(inner, ast.Call):
                blocked_on = blocking_call(inner, ctx)
                if blocked_on is not None:
                    return [Mark.of("blocks", node.lineno, call=blocked_on, at=str(inner.lineno))]
                written = file_call(inner, ctx, opened) if on_disk is None else None
                if written is not None:
                    on_disk = Mark.of(
                        "blocks", node.lineno, call=written, at=str(inner.lineno), disk=True
                    )
        return [on_disk] if on_disk is not None else None
    if is_script(ctx) or any(word in node.name.lower() for word in _LIFECYCLE_WORDS):
        return None
    handler = ctx.route is not None
    offloaded: set[int] = set()
    lines: set[int] = set()
    found: list[Mark] = []
    database: list[tuple[int, str]] = []
    disk: list[tuple[int, str]] = []
    opened = files_opened_for_writing(node, ctx) if ctx.memo(_MAY_BLOCK) else {}
    for inner in walk_body(node.body):
        if not isinstance(inner, ast.Call) or id(inner) in offloaded:
            continue
        func = inner.func
        last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if last in _OFFLOADERS:
            offloaded.update(id(n) for n in ast.walk(inner) if n is not inner)
            continue
        lines.add(inner.lineno)
        # A database call the coroutine makes itself without awaiting it: the client is a
        # synchronous one (an async session's or driver's methods return awaitables).
        if not isinstance(ctx.parent(inner), ast.Await | ast.withitem):
            blocked_on = database_call(inner, ctx)
            if blocked_on is not None:
                database.append((inner.lineno, blocked_on))
            written = file_call(inner, ctx, opened)
            if written is not None:
                disk.append((inner.lineno, written))
    if database:
        # One finding per coroutine, on its def: the fix (a plain ``def`` the framework runs
        # in its threadpool, or an async session) is decided for the whole function.
        found.append(
            Mark.of(
                "direct",
                node.lineno,
                call=database[0][1],
                lines=",".join(str(line) for line, _ in database),
                handler=handler,
                name=node.name,
            )
        )
    if disk:
        found.append(
            Mark.of(
                "disk",
                disk[0][0],
                call=disk[0][1],
                lines=",".join(str(line) for line, _ in disk),
                handler=handler,
                name=node.name,
            )
        )
    if lines:
        found.append(
            Mark.of("async", node.lineno, lines=",".join(map(str, sorted(lines))), handler=handler)
        )
    return found or None


_MEMOIZERS = frozenset(
    {"functools.lru_cache", "functools.cache", "cachetools.cached", "cachetools.func.ttl_cache"}
    | {"cachetools.func.lru_cache", "async_lru.alru_cache"}
)


def _memoizes(decorator: ast.expr, ctx: PythonContext) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (ctx.qualname(target) or "") in _MEMOIZERS


def _instances(module: ast.Module, ctx: PythonContext) -> list[Mark]:
    """Module-level objects (``payments = PaymentClient()``): their methods are called as
    ``payments.charge(...)``, here and wherever the object is imported."""
    found: list[Mark] = []
    for statement in module.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
        ):
            made = ctx.qualname(statement.value.func)
            if made:
                found.append(
                    Mark.of("instance", statement.lineno, name=statement.targets[0].id, cls=made)
                )
    return found


class _Blocking:
    """Which synchronous project functions block, directly or through the ones they call."""

    def __init__(self, model: SemanticModel, direct: dict[str, tuple[str, int]]) -> None:
        self.model = model
        self.direct = direct
        self.asynchronous: set[str] = set()
        self._known: dict[str, list[str] | None] = {}

    def chain(self, qualname: str, depth: int = 0) -> list[str] | None:
        """The helpers from ``qualname`` down to the one that blocks, or None."""
        if qualname in self._known:
            return self._known[qualname]
        if qualname in self.asynchronous or depth > MAX_DEPTH:
            return None
        self._known[qualname] = None  # a cycle does not block by itself
        found: list[str] | None = [qualname] if qualname in self.direct else None
        if found is None:
            for callee in self.model.callees(qualname):
                below = self.chain(callee, depth + 1)
                if below is not None:
                    found = [qualname, *below]
                    break
        self._known[qualname] = found
        return found


@project_rule(
    code="PRF008",
    name="blocking-helper-in-async",
    category=Category.PERFORMANCE,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="async def calls a synchronous project helper that does blocking I/O",
    nodes=(FunctionEnd, ModuleEnd),
    collect=_collect,
    fix="Make the helper async (httpx.AsyncClient, asyncpg, redis.asyncio, AsyncSession), or "
    "call it with `await asyncio.to_thread(helper, ...)` / `run_in_threadpool`.",
)
def blocking_helper_in_async(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a call, inside an `async def` (a FastAPI/Starlette endpoint or websocket, an aiohttp
    handler, a consumer coroutine), of a synchronous function of the project -- in the same
    module or imported from another -- that does blocking I/O itself or through the helpers
    it calls: `requests`/sync `httpx`, a DB-API driver (`psycopg2`, `pymysql`) cursor or
    commit, a synchronous SQLAlchemy session or engine, the synchronous Redis client, boto3,
    `subprocess`, `time.sleep`, or a synchronous write of data to disk (`shutil.copyfileobj`,
    `Path.write_bytes`, the `write()` of a file opened for writing -- an upload saved with
    `open()` -- medium). The coroutine's own calls of a synchronous SQLAlchemy session are one
    finding on its `def` (the whole function needs the fix); its own disk writes one finding
    at the first. Calls handed to a thread (`asyncio.to_thread(helper, ...)`,
    `loop.run_in_executor`, `run_in_threadpool`), `aiofiles`/`anyio` files and
    lifespan/startup hooks are not flagged.
    Tiers: high in a request handler, medium in another coroutine; low (confidence low) for
    the async variant of a method whose only blocking call is its synchronous twin of the same
    class (`async def agenerate(...): return self.generate(...)`): an adapter for a framework
    offering both modes, which the rule cannot tell a serving loop awaits.
    PRF016 covers blocking calls written in the `async def` itself.

    ## Why it breaks production
    The helper hides the I/O, but it runs on the event loop's one thread: while it waits on
    the database or a payment provider, every other request, websocket and health check of
    the worker waits too. Latency of all clients follows the slowest upstream call, and a
    hung upstream freezes the whole worker until the orchestrator kills it.

    ## Example
    ```python
    # shop/payments.py
    def charge(order_id, amount):
        return requests.post(PAYMENTS_URL, json={"order": order_id, "amount": amount},
                             timeout=10).json()

    # shop/api.py
    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: int):
        return payments.charge(order_id, await order_total(order_id))
    ```

    ## Use instead
    ```python
    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: int):
        total = await order_total(order_id)
        return await asyncio.to_thread(payments.charge, order_id, total)
    ```
    Or make the helper async with an async client, or declare the endpoint with plain `def`
    so the framework runs it in its threadpool.
    """
    model = semantic_model(project)
    at: dict[tuple[str, int], ProjectFunction] = {
        (function.path, function.summary.line): function for function in model.functions.values()
    }
    direct: dict[str, tuple[str, int]] = {}
    callers: list[tuple[ProjectFunction, set[int], bool]] = []
    asynchronous: set[str] = set()
    instances: dict[str, str] = {}
    on_disk: set[str] = set()
    memoized: set[str] = set()
    for evidence in project.evidence("PRF008"):
        if evidence.kind == "instance":
            module = project.module_name(evidence.path)
            made = evidence.text("cls")
            instances[f"{module}.{evidence.name}"] = made if "." in made else f"{module}.{made}"
            continue
        if evidence.kind == "direct":
            reported = evidence.flag("handler")
            ctx.report(
                evidence.path,
                evidence.line,
                f"async def {evidence.name}() calls {evidence.text('call')}"
                f"{_on_lines(evidence.text('lines'))}: each call blocks the event loop (it is not "
                "awaited: the client is synchronous), and every other request on this worker "
                "waits. Declare it with plain def (the framework runs it in its threadpool), use "
                "the async client (AsyncSession, asyncpg, psycopg's AsyncConnection, Django's "
                "aget()/acreate()/acount()) or await "
                "asyncio.to_thread(...)",
                severity=None if reported else Severity.MEDIUM,
            )
            continue
        if evidence.kind == "disk":
            more = [n for n in evidence.text("lines").split(",")[1:] if n]
            also = f" (and on line{'s' if len(more) > 1 else ''} {', '.join(more)})"
            ctx.report(
                evidence.path,
                evidence.line,
                f"{evidence.text('call')} writes to disk synchronously in async def "
                f"{evidence.name}(){also if more else ''}: the event loop waits on the disk for "
                "as long as the data takes to write (a whole upload), and every other request "
                "on this worker waits. Use aiofiles/anyio.open_file, or await "
                "asyncio.to_thread(...)",
                severity=Severity.MEDIUM,
            )
            continue
        function = at.get((evidence.path, evidence.line))
        if function is None:
            continue
        if evidence.kind == "cached":
            memoized.add(function.qualname)
        elif evidence.kind == "blocks":
            line = int(evidence.text("at") or 0)
            direct[function.qualname] = (evidence.text("call"), line)
            if evidence.flag("disk"):
                on_disk.add(function.qualname)
        elif evidence.kind == "async":
            asynchronous.add(function.qualname)
            lines = {int(n) for n in evidence.text("lines").split(",") if n}
            callers.append((function, lines, evidence.flag("handler")))
    if not direct:
        return
    blocking = _Blocking(model, direct)
    blocking.asynchronous = asynchronous | memoized
    for caller, lines, handler in callers:
        # One finding per async function, at its first blocking call: the fix (a thread, or
        # async helpers) is decided for the function, and its other such calls are listed.
        found: list[tuple[int, list[str]]] = []
        module = caller.qualname[: -len(caller.summary.name) - 1]
        for call in caller.summary.calls:
            if call.line not in lines or any(line == call.line for line, _ in found):
                continue
            for target in _targets(model, call.target, module, instances):
                chain = blocking.chain(target)
                if chain is not None:
                    found.append((call.line, chain))
                    break
        if found:
            line, chain = found[0]
            others = sorted({other for other, _ in found[1:]})
            if not handler and not others and _sync_twin(caller, chain[0]):
                ctx.report(
                    caller.path,
                    line,
                    _message(model, caller, chain, direct, others)
                    + ". It only adapts its synchronous twin for a framework offering both "
                    "modes: prodready could not tell whether a serving loop awaits it",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )
                continue
            ctx.report(
                caller.path,
                line,
                _message(model, caller, chain, direct, others),
                # A request handler stalls every request of the worker; another coroutine
                # (a helper, an adapter of an async API) stalls whatever shares its loop.
                # A local disk write stalls it for less than a remote peer can.
                severity=None if handler and chain[-1] not in on_disk else Severity.MEDIUM,
            )


_ASYNC_PREFIXES = ("async_", "a_", "a")


def _on_lines(lines: str) -> str:
    """`` (line 96)`` / `` (line 96; the session's calls on lines 108, 112 too)``."""
    first, *others = [n for n in lines.split(",") if n] or [""]
    if not others:
        return f" (line {first})"
    plural = "s" if len(others) > 1 else ""
    return f" (line {first}; its calls on line{plural} {', '.join(others)} too)"


def _sync_twin(caller: ProjectFunction, target: str) -> bool:
    """``caller`` is the async variant of the method ``target`` of the same class
    (``agenerate``/``a_generate``/``async_generate``/``generate_async`` -> ``generate``)."""
    owner, _, name = caller.qualname.rpartition(".")
    target_owner, _, target_name = target.rpartition(".")
    if owner != target_owner or not name or name == target_name:
        return False
    twins = {name.removesuffix("_async")} | {
        name.removeprefix(prefix) for prefix in _ASYNC_PREFIXES if name.startswith(prefix)
    }
    return target_name in twins


def _targets(model: SemanticModel, name: str, module: str, instances: dict[str, str]) -> list[str]:
    """The project functions a call runs, also when the collector named it relative to its
    module (``PaymentClient.charge``) or through a module-level instance (``app.services.
    payments.charge``, ``payments = PaymentClient()``)."""
    for candidate in (name, f"{module}.{name}"):
        found = model.call_targets(candidate)
        if found:
            return found
        owner, _, method = candidate.rpartition(".")
        made = instances.get(owner)
        if made is not None:
            found = model.call_targets(f"{made}.{method}")
            if found:
                return found
    return []


def _message(
    model: SemanticModel,
    caller: ProjectFunction,
    chain: list[str],
    direct: dict[str, tuple[str, int]],
    others: list[int],
) -> str:
    first = model.functions[chain[0]]
    last = model.functions[chain[-1]]
    blocked_on, line = direct[chain[-1]]
    through = (
        ""
        if len(chain) == 1
        else " through "
        + " -> ".join(f"{model.functions[q].summary.short_name}()" for q in chain[1:])
    )
    also = (
        f" (its calls on line{'s' if len(others) > 1 else ''} "
        f"{', '.join(map(str, others))} block it too)"
        if others
        else ""
    )
    return (
        f"{first.summary.short_name}() is synchronous and waits on {blocked_on} "
        f"({last.path}:{line}){through}: called from async def {caller.summary.short_name}() it "
        f"blocks the event loop{also}, and every other request on this worker waits. Make it async "
        "or call it with await asyncio.to_thread(...)"
    )
