"""Data access: several writes outside one transaction (DAT003)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    PythonContext,
    Scope,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    DJANGO_WRITE_METHODS,
    django_query,
    dotted,
    in_task,
    is_db_session,
    is_false,
    is_script,
    keyword_value,
    uses_django_orm,
)

# -- DAT003 ---------------------------------------------------------------------------------------

_TRANSACTION_CALLS = frozenset({"atomic", "begin", "begin_nested", "transaction", "atomic_tx"})


@dataclass(slots=True)
class _WriteState:
    writes: list[tuple[ast.Call, str]] = field(default_factory=list)
    transactional: bool = False


def _django_write(node: ast.Call, ctx: PythonContext) -> str | None:
    func = node.func
    assert isinstance(func, ast.Attribute)
    chain = django_query(node)
    if chain is not None:
        if chain.terminal in DJANGO_WRITE_METHODS and chain.calls[0] is node:
            return f"{chain.model}.objects...{chain.terminal}()"
        return None
    if func.attr not in {"save", "delete", "asave", "adelete"}:
        return None
    if any(not isinstance(a, ast.Starred) for a in node.args):
        return None  # img.save(path), cache.delete(key): not a model instance
    if is_false(keyword_value(node, "commit")):
        return None  # form.save(commit=False) builds the instance without writing
    receiver = dotted(func.value)
    if receiver is None:
        if not (isinstance(func.value, ast.Call) and dotted(func.value.func) == "super"):
            return None
        receiver = "super()"
    if receiver.split(".")[0] in {"request", "req", "response", "session"}:
        return None
    if not uses_django_orm(ctx):
        return None
    return f"{receiver}.{func.attr}()"


def _transaction_decorated(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    for decorator in decorators:
        text = ast.unparse(decorator)
        if "atomic" in text or "transaction" in text:
            return True
    return False


def _branch_paths(
    function: ast.FunctionDef | ast.AsyncFunctionDef, wanted: set[int]
) -> dict[int, tuple[tuple[int, str, bool], ...]]:
    """For each wanted node: the branches (if/else, try/except, match cases) it sits in, as
    ``(statement id, branch, branch ends in return/raise)``."""
    found: dict[int, tuple[tuple[int, str, bool], ...]] = {}

    def ends(block: list[ast.stmt]) -> bool:
        return bool(block) and isinstance(block[-1], ast.Return | ast.Raise)

    stack: list[tuple[ast.AST, tuple[tuple[int, str, bool], ...]]] = [
        (statement, ()) for statement in reversed(function.body)
    ]
    while stack:
        node, path = stack.pop()
        if id(node) in wanted:
            found[id(node)] = path
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        items: list[tuple[ast.AST, tuple[tuple[int, str, bool], ...]]] = []
        if isinstance(node, ast.If):
            items.append((node.test, path))
            body = (*path, (id(node), "body", ends(node.body)))
            orelse = (*path, (id(node), "else", ends(node.orelse)))
            items.extend((s, body) for s in node.body)
            items.extend((s, orelse) for s in node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            body = (*path, (id(node), "body", False))
            items.extend((s, body) for s in [*node.body, *node.orelse])
            for index, handler in enumerate(node.handlers):
                branch = (*path, (id(node), f"except{index}", ends(handler.body)))
                items.extend((s, branch) for s in handler.body)
            items.extend((s, path) for s in node.finalbody)
        elif isinstance(node, ast.Match):
            items.append((node.subject, path))
            for index, case in enumerate(node.cases):
                branch = (*path, (id(node), f"case{index}", ends(case.body)))
                items.extend((s, branch) for s in case.body)
        else:
            items.extend((child, path) for child in ast.iter_child_nodes(node))
        stack.extend(reversed(items))
    return found


def _exclusive(
    first: tuple[tuple[int, str, bool], ...], second: tuple[tuple[int, str, bool], ...]
) -> bool:
    """Two writes (``first`` before ``second`` in the source) that never both run."""
    for a, b in zip(first, second, strict=False):
        if a[0] == b[0] and a[1] != b[1]:
            return True
        if a != b:
            break
    return any(entry[2] and entry not in second for entry in first)


@python_rule(
    code="DAT003",
    name="multi-write-without-transaction",
    category=Category.DATA_ACCESS,
    severity=Severity.MEDIUM,
    summary="Several database writes in one function without a transaction",
    calls=tuple(
        f"*.{method}"
        for method in sorted(
            DJANGO_WRITE_METHODS | _TRANSACTION_CALLS | {"commit", "save", "asave", "adelete"}
        )
    ),
    nodes=(ast.With, ast.AsyncWith, FunctionEnd),
    fix="Wrap the writes in one transaction: @transaction.atomic / with transaction.atomic(), "
    "or with session.begin(): ... (one commit at the end).",
)
def multi_write_without_transaction(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags functions that perform two or more database writes that can both run, outside any
    transaction: Django `.save()`, `.delete()`, `Model.objects.create/update/delete/
    bulk_create/...` with no `@transaction.atomic` / `with transaction.atomic()`, and SQLAlchemy
    code that calls `session.commit()` more than once (each commit is its own transaction) with
    no `session.begin()` block. Writes in exclusive branches (`if`/`else`, an early `return`)
    are not counted together. Tests, migrations and scripts are skipped.

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
    if ctx.function is None or ctx.facts.is_test:
        return
    state: _WriteState = ctx.rule_state(_WriteState)
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Attribute) or state.transactional:
            return
        if func.attr in _TRANSACTION_CALLS:
            state.transactional = True  # explicit transaction handling (session.begin())
            return
        if func.attr == "commit":
            if not node.args and is_db_session(func.value, ctx):
                state.writes.append((node, f"{dotted(func.value) or 'session'}.commit()"))
            return
        what = _django_write(node, ctx)
        if what is not None:
            state.writes.append((node, what))
        return
    if isinstance(node, ast.With | ast.AsyncWith):
        for item in node.items:
            expr = item.context_expr
            call = expr.func if isinstance(expr, ast.Call) else expr
            text = dotted(call) or ""
            if text.rsplit(".", 1)[-1] in _TRANSACTION_CALLS:
                state.transactional = True
        return
    # FunctionEnd
    if state.transactional or len(state.writes) < 2 or is_script(ctx):
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    scope: Scope | None = ctx.function
    while scope is not None:
        if _transaction_decorated(scope.node):
            return
        if scope.class_info is not None and _transaction_decorated(scope.class_info.node):
            return
        scope = scope.parent
    writes = sorted(state.writes, key=lambda w: (w[0].lineno, w[0].col_offset))
    paths = _branch_paths(node, {id(call) for call, _ in writes})
    together: list[tuple[ast.Call, str]] = []
    for index, (call, what) in enumerate(writes):
        for other, other_what in writes[index + 1 :]:
            first, second = paths.get(id(call), ()), paths.get(id(other), ())
            if not _exclusive(first, second):
                together = [(call, what), (other, other_what)]
                break
        if together:
            break
    if not together:
        return
    (a, a_what), (b, b_what) = together
    # A helper may be called from inside a caller's transaction; a handler or task is the top.
    top_level = ctx.route is not None or in_task(ctx)
    ctx.report(
        node,
        f"{node.name}() writes to the database {len(writes)} times without a transaction "
        f"({a_what} line {a.lineno}, {b_what} line {b.lineno}): if a later write fails the "
        "earlier ones stay committed. Wrap them in transaction.atomic() / session.begin()",
        confidence=None if top_level else Confidence.MEDIUM,
    )
