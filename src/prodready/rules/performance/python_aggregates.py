"""Performance: sums, averages and extremes computed in Python over every row of a query
(PRF012)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
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
    DJANGO_LAZY_METHODS,
    django_query,
    method_chain,
    same_dotted_name,
    semantic_model,
    walk_body,
)

# What the database computes for one row instead of shipping them all.
_AGGREGATES = frozenset(
    {"builtins.sum", "builtins.min", "builtins.max", "statistics.mean", "statistics.fmean"}
    | {"statistics.median", "math.fsum", "numpy.mean", "numpy.sum", "numpy.average"}
)
_COUNTS = frozenset({"builtins.len"})
# Steps of a SQLAlchemy query that bound what it returns.
_BOUNDING = frozenset({"limit", "first", "one", "one_or_none", "scalar", "get", "paginate"})
_BOUNDING |= frozenset({"scalar_one", "scalar_one_or_none", "slice", "fetch", "[]", "group_by"})
# Keywords of a call that bound the rows a helper returns.
_LIMIT_WORDS = ("limit", "page_size", "per_page", "max_rows", "max_results", "top")
_COMPREHENSIONS = (ast.ListComp, ast.GeneratorExp, ast.SetComp)


def whole_query(
    expr: ast.AST, ctx: PythonContext, assigned: dict[str, ast.expr] | None = None
) -> bool:
    """Every row of a query: ``cur.fetchall()``, an unsliced Django queryset, a SQLAlchemy
    ``...all()`` (``session.query``, ``session.scalars(select())``, ``Model.query``) without
    ``limit()``/``group_by()`` -- also in the statement or result a local name holds
    (``assigned``: the function's plain assignments)."""
    while isinstance(expr, ast.Await):
        expr = expr.value
    if not isinstance(expr, ast.Call):
        chain = django_query(expr)
        return chain is not None and not chain.sliced and chain.terminal in DJANGO_LAZY_METHODS
    func = expr.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "fetchall":
        return True
    chain = django_query(expr)
    if chain is not None:
        steps = set(chain.steps)
        return (
            not chain.sliced
            and chain.terminal in DJANGO_LAZY_METHODS
            and not steps & {"annotate", "aggregate"}
        )
    if func.attr != "all":
        return False
    _, chain_steps = method_chain(expr)
    if {name for name, _ in chain_steps} & _BOUNDING:
        return False
    text = ctx.segment(expr)
    pending: list[ast.AST] = [expr]
    for _ in range(3):  # stmt = select(...); result = session.execute(stmt); result.all()
        names = {n.id for node in pending for n in ast.walk(node) if isinstance(n, ast.Name)}
        pending = [value for name, value in (assigned or {}).items() if name in names]
        text += "".join(ctx.segment(value) for value in pending)
    return (".query" in text or "select(" in text or "scalars(" in text) and (
        ".limit(" not in text and "group_by(" not in text
    )


def _aggregate(call: ast.AST | None, ctx: PythonContext, names: frozenset[str]) -> bool:
    return isinstance(call, ast.Call) and (ctx.qualname(call.func) or "") in names


class _Uses:
    """Whether a name bound to rows is used for nothing but aggregates: directly
    (``sum(rows)``), through comprehensions over it (``[r.value for r in rows]`` assigned to
    another such name, or handed to an aggregate), a truthiness test (``if not rows``), or a
    loop whose body only accumulates (``for r in rows: total += r.amount``)."""

    def __init__(self, body: list[ast.stmt], ctx: PythonContext) -> None:
        self.ctx = ctx
        self.nodes = list(walk_body(body))
        self.summed = False

    def only_aggregated(self, name: str) -> bool:
        pending, seen = [name], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            for node in self.nodes:
                if not (isinstance(node, ast.Name) and node.id == current):
                    continue
                if isinstance(node.ctx, ast.Store):
                    continue
                verdict = self._use(node)
                if verdict is None:
                    return False
                if isinstance(verdict, str):
                    pending.append(verdict)
        return self.summed

    def _use(self, node: ast.Name) -> str | bool | None:
        """What one load of the name does: False (a harmless use), a name it flows into, True
        (an aggregate of it), None (anything else: the rows are used)."""
        ctx = self.ctx
        parent = ctx.parent(node)
        if _aggregate(parent, ctx, _AGGREGATES):
            self.summed = True
            return True
        if _aggregate(parent, ctx, _COUNTS):
            return False
        if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
            return False
        if isinstance(parent, (ast.If, ast.IfExp, ast.While)) and parent.test is node:
            return False
        if isinstance(parent, ast.comprehension) and parent.iter is node:
            comprehension = ctx.parent(parent)
            holder = ctx.parent(comprehension) if comprehension is not None else None
            if _aggregate(holder, ctx, _AGGREGATES):
                self.summed = True
                return True
            if (
                isinstance(holder, ast.Assign)
                and len(holder.targets) == 1
                and isinstance(holder.targets[0], ast.Name)
            ):
                return holder.targets[0].id
            return None
        if (
            isinstance(parent, ast.For)
            and parent.iter is node
            and not parent.orelse
            and all(isinstance(s, ast.AugAssign) for s in parent.body)
        ):
            self.summed = True
            return True
        return None


def _assigned_rows(
    body: list[ast.stmt], ctx: PythonContext
) -> list[tuple[ast.Assign, str, ast.expr]]:
    found = []
    for node in walk_body(body):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            found.append((node, node.targets[0].id, node.value))
    return found


def _returns_rows(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """The function hands back every row of a query (``return cur.fetchall()``, ``return
    session.scalars(select(X)).all()``, or a name assigned one)."""
    assigned = _assignments(function.body, ctx)
    returns = [n for n in walk_body(function.body) if isinstance(n, ast.Return) and n.value]
    if not returns:
        return False
    for statement in returns:
        value = statement.value
        assert value is not None
        if isinstance(value, ast.Name):
            value = assigned.get(value.id, value)
        if not whole_query(value, ctx, assigned):
            return False
    return True


def _assignments(body: list[ast.stmt], ctx: PythonContext) -> dict[str, ast.expr]:
    return {name: value for _, name, value in _assigned_rows(body, ctx)}


def _project_call(call: ast.Call, ctx: PythonContext) -> str | None:
    name = ctx.qualname(call.func)
    if name is None or name.startswith("builtins."):
        return None
    if any(item.arg and item.arg.lower() in _LIMIT_WORDS for item in call.keywords):
        return None  # the caller asks for a bounded page
    module = ctx.facts.module
    return f"{module}.{name}" if module and "." not in name else name


# A module that reads rows at all: it calls fetchall()/.all(), a Django manager, or a helper
# (any call) whose rows it may aggregate -- and aggregates something (a cheap test first).
_QUERY_TEXT = re.compile(r"fetchall\(|\.all\(|\.objects\b|\b(sum|min|max|mean|median)\(|\+=")
# Each match of ``_QUERY_TEXT`` contains one of these: without them it need not scan the source.
_QUERY_PARTS = ("all(", ".objects", "sum(", "min(", "max(", "mean(", "median(", "+=")


def _mentions_query(ctx: PythonContext) -> bool:
    source = ctx.source
    if not source.isascii():
        return True
    return any(part in source for part in _QUERY_PARTS) and _QUERY_TEXT.search(source) is not None


_MENTIONS_QUERY: ModuleMemo[bool] = ModuleMemo("PRF012:query", _mentions_query)


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    """Evidence per function: it returns every row of a query ("rows"); a name it binds to a
    whole query ("direct") or to a project call's result ("call") and uses only to compute
    aggregates."""
    if ctx.facts.is_test or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    if not ctx.memo(_MENTIONS_QUERY):
        return None
    found: list[Mark] = []
    if _returns_rows(node, ctx):
        found.append(Mark.of("rows", node.lineno))
    source = ctx.segment(node)
    if not any(word in source for word in ("sum(", "min(", "max(", "mean(", "median(", "+=")):
        return found or None
    uses = _Uses(node.body, ctx)
    assigned = _assignments(node.body, ctx)
    for assign, name, value in _assigned_rows(node.body, ctx):
        uses.summed = False
        call = value.value if isinstance(value, ast.Await) else value
        if whole_query(value, ctx, assigned):
            if uses.only_aggregated(name):
                found.append(Mark.of("direct", assign.lineno, name=ctx.segment(value)[:60]))
        elif isinstance(call, ast.Call):
            called = _project_call(call, ctx)
            if called is not None and uses.only_aggregated(name):
                found.append(Mark.of("call", assign.lineno, name=called))
    for inner in uses.nodes:
        # sum(o.total for o in Order.objects.filter(...)): the query in the comprehension
        if (
            isinstance(inner, _COMPREHENSIONS)
            and _aggregate(ctx.parent(inner), ctx, _AGGREGATES)
            and whole_query(inner.generators[0].iter, ctx, assigned)
        ):
            found.append(
                Mark.of("direct", inner.lineno, name=ctx.segment(inner.generators[0].iter)[:60])
            )
    return found or None


@project_rule(
    code="PRF012",
    name="aggregate-computed-in-python",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Every row of a query is loaded only to compute a sum, average, minimum or maximum",
    nodes=(FunctionEnd, ModuleEnd),
    collect=_collect,
    fix="Let the database aggregate: SELECT SUM/AVG/MIN/MAX/COUNT, Django "
    ".aggregate(Sum(...)), SQLAlchemy select(func.sum(...)).",
)
def aggregate_computed_in_python(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a function that loads every row of a query and uses them for nothing but a
    `sum()`, `min()`, `max()`, `statistics.mean()` (or a loop that only accumulates
    `total += row.amount`): `cursor.fetchall()`, an unsliced Django queryset, a SQLAlchemy
    `...all()` without `limit()` -- fetched in the function itself or by a project helper
    that returns them (`rows = readings_for(device)` where the helper returns
    `cur.fetchall()`). Rows that are also returned, serialized or otherwise used are not
    flagged: they are loaded anyway.

    ## Why it breaks production
    The database answers `SELECT avg(value) FROM readings WHERE device_id = %s` from an index
    in milliseconds and sends one row. Loading the rows instead ships every one of them over
    the network, builds a Python object per row and sums them in the interpreter: fine with
    a hundred rows in development, hundreds of megabytes and seconds per request once the
    table holds a year of data -- and the endpoint gets slower every day.

    ## Example
    ```python
    @app.get("/accounts/<int:account_id>/balance")
    def balance(account_id):
        entries = Entry.query.filter_by(account_id=account_id).all()
        return {"balance": sum(e.amount for e in entries)}
    ```

    ## Use instead
    ```python
    @app.get("/accounts/<int:account_id>/balance")
    def balance(account_id):
        total = db.session.scalar(
            select(func.coalesce(func.sum(Entry.amount), 0)).where(Entry.account_id == account_id)
        )
        return {"balance": total}
    ```
    Django: `Entry.objects.filter(account=account).aggregate(total=Sum("amount"))`; raw SQL:
    `SELECT count(*), avg(value), min(value), max(value) FROM readings WHERE ...`.
    """
    model = semantic_model(project)
    at = {(f.path, f.summary.line): f.qualname for f in model.functions.values()}
    returning: set[str] = set()
    calls: list[Evidence] = []
    for evidence in project.evidence("PRF012"):
        if evidence.kind == "rows":
            qualname = at.get((evidence.path, evidence.line))
            if qualname is not None:
                returning.add(qualname)
        elif evidence.kind == "direct":
            ctx.report(
                evidence.path,
                evidence.line,
                f"{evidence.name} loads every row only to compute a sum/average/extreme in "
                "Python: let the database aggregate (SUM/AVG/MIN/MAX, Django aggregate(), "
                "select(func.sum(...))) and fetch one row",
            )
        else:
            calls.append(evidence)
    for evidence in calls:
        module = project.module_name(evidence.path)
        resolved = [
            *model.call_targets(evidence.name),
            *model.call_targets(f"{module}.{evidence.name.rpartition('.')[2]}"),
            *(name for name in returning if same_dotted_name(evidence.name, name)),
        ]
        for qualname in resolved:
            if qualname in returning:
                target = model.functions[qualname]
                ctx.report(
                    evidence.path,
                    evidence.line,
                    f"{target.summary.short_name}() returns every row of its query "
                    f"({target.path}:{target.summary.line}), and they are used only to compute "
                    "a sum/average/extreme in Python: let the database aggregate (SUM/AVG/"
                    "MIN/MAX, Django aggregate(), select(func.sum(...))) and fetch one row",
                )
                break
