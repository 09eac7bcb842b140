"""Resilience: an async timeout around code that never awaits (RES021)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule

# Timeouts and cancel scopes of asyncio, trio and anyio: each cancels its body by raising at
# the body's next await; a body that never awaits is never interrupted.
_TIMEOUT_SCOPES = frozenset(
    {"asyncio.timeout", "asyncio.timeout_at", "asyncio.timeouts.timeout"}
    | {"trio.fail_after", "trio.fail_at", "trio.move_on_after", "trio.move_on_at"}
    | {"trio.CancelScope", "anyio.fail_after", "anyio.move_on_after", "anyio.CancelScope"}
)
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _checkpoints(nodes: list[ast.stmt]) -> bool:
    """The statements may suspend (await, async for/with, an async comprehension) or hand
    control to a caller who may (yield) -- not counting nested functions, which run later."""
    stack: list[ast.AST] = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith | ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.comprehension) and node.is_async:
            return True
        if isinstance(node, _NESTED_SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _scope_name(item: ast.withitem, ctx: PythonContext) -> str | None:
    call = item.context_expr
    if isinstance(call, ast.Call):
        name = ctx.qualname(call.func)
        if name in _TIMEOUT_SCOPES:
            return name
    return None


@python_rule(
    code="RES021",
    name="timeout-around-code-that-never-awaits",
    category=Category.RESILIENCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="asyncio/trio/anyio timeout whose body never awaits: it can never fire",
    nodes=(ast.With, ast.AsyncWith),
    fix="Put the awaited operation inside the timeout, or use an awaitable (async) client.",
)
def timeout_around_code_that_never_awaits(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `asyncio.timeout()`/`timeout_at()`, `trio.fail_after()`/`move_on_after()`/
    `fail_at()`/`move_on_at()`/`CancelScope()` and `anyio.fail_after()`/`move_on_after()`/
    `CancelScope()` whose body has no await, `async for`, `async with` or async comprehension
    (nor a context manager entered after it in the same `async with`, nor a `yield` that
    hands control to a caller who awaits).

    ## Why it breaks production
    These timeouts do not stop a running computation: they cancel the task at its next
    await. A body that never awaits cannot be interrupted -- the deadline the code relies on
    does not exist. Typically the body calls a blocking client (`requests.get`, a sync DB
    driver) where an async one was meant: the request hangs for as long as the remote side
    takes, and the whole event loop with it.

    ## Example
    ```python
    async def price(symbol: str) -> float:
        async with asyncio.timeout(2):
            response = requests.get(f"{QUOTES}/{symbol}")
        return response.json()["price"]
    ```

    ## Use instead
    ```python
    async def price(client: httpx.AsyncClient, symbol: str) -> float:
        async with asyncio.timeout(2):
            response = await client.get(f"{QUOTES}/{symbol}")
        return response.json()["price"]
    ```
    """
    if not isinstance(node, ast.With | ast.AsyncWith):
        return
    items = node.items
    for index, item in enumerate(items):
        name = _scope_name(item, ctx)
        if name is None:
            continue
        later = items[index + 1 :]
        # ``async with timeout(), TaskGroup():`` -- entering and leaving a later async context
        # manager awaits inside the timeout's scope.
        if isinstance(node, ast.AsyncWith) and any(_scope_name(i, ctx) is None for i in later):
            continue
        if _checkpoints(node.body):
            return
        ctx.report(
            item.context_expr,
            f"{name}() wraps code that never awaits: the timeout cancels at the next await "
            "and there is none, so it can never fire -- the body runs as long as it takes "
            "(a blocking call in it also blocks the event loop). Await the operation inside "
            "it (an async client), or drop the timeout",
        )
        return
