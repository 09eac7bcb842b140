"""Performance: a project helper that reads relations of the row it is given, called once per
row of a query that does not load them (PRF022: the N+1 pattern through a helper; PRF019
judges relations read in the loop itself)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

from prodready.plugin import (
    Category,
    Confidence,
    Evidence,
    FunctionEnd,
    Mark,
    ModuleMemo,
    ProjectContext,
    ProjectFacts,
    PythonContext,
    Severity,
    project_rule,
)
from prodready.plugin.analysis import (
    ProjectFunction,
    declared_fields,
    django_query,
    semantic_model,
    sqlalchemy_query,
    walk_body,
    walk_nodes,
)
from prodready.rules.performance.blocking_helpers import _targets

_RELATION_FACTORIES = frozenset(
    {"relationship", "Relationship", "ForeignKey", "OneToOneField", "ManyToManyField"}
)
# Loading strategies that make the relations of the loaded rows free to read.
_EAGER_WORDS = (
    "selectinload",
    "joinedload",
    "subqueryload",
    "contains_eager",
    "immediateload",
    "select_related",
    "prefetch_related",
    "Prefetch(",
)
# ``relationship(lazy="selectin")``: loaded with its parent whatever the query says.
_EAGER_LAZY = re.compile(r"lazy\s*=\s*['\"](selectin|joined|subquery|immediate|raise)")
_QUERIED_MODEL = re.compile(r"(?:select|query)\(\s*(\w+)\s*[,)]|(\w+)\.objects\b")
# Every match of _QUERIED_MODEL contains one of these: a module without them returns no rows
# of a query, and its functions' texts need not be cut and searched; a text without them is
# not searched (the regex has no literal prefix to skip ahead by).
_QUERY_WORDS = ("select(", "query(", ".objects")
_QUERY_NAMED: ModuleMemo[bool] = ModuleMemo(
    "PRF022:query-named",
    lambda ctx: any(word in ctx.source for word in _QUERY_WORDS),
)


def _collect(node: ast.AST, ctx: PythonContext) -> list[Mark] | None:
    if ctx.facts.is_test:
        return None
    if isinstance(node, ast.ClassDef):
        return _model_mark(node, ctx)
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    found: list[Mark] = []
    reads = _relations_of_parameter(node)
    if reads:
        found.append(Mark.of("reads", node.lineno, name=reads[0], relations=",".join(reads[1:])))
    rows = _rows_returned(node, ctx)
    if rows is not None:
        found.append(Mark.of("rows", node.lineno, name=rows))
    found.extend(_per_row_calls(node, ctx))
    return found or None


def _model_mark(node: ast.ClassDef, ctx: PythonContext) -> list[Mark] | None:
    lazy: list[str] = []
    for name, call in declared_fields(node):
        func = call.func
        factory = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if factory in _RELATION_FACTORIES and not _EAGER_LAZY.search(ctx.segment(call)):
            lazy.append(name)
    if not lazy:
        return None
    return [Mark.of("model", node.lineno, name=node.name, relations=",".join(lazy))]


# The node classes _relations_of_parameter reads (none of them has a subclass).
_READ_OR_LOOP = frozenset({ast.Attribute, ast.For, ast.AsyncFor, ast.comprehension})


def _relations_of_parameter(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """``[param, rel, rel...]``: the attributes of the function's first parameter (not
    ``self``) it reads through (``order.courier.name``) or iterates (``for i in order.items``)."""
    arguments = [*node.args.posonlyargs, *node.args.args]
    if arguments and arguments[0].arg in {"self", "cls"}:
        arguments = arguments[1:]
    if not arguments:
        return []
    row = arguments[0].arg
    found: dict[str, None] = {}
    for inner in walk_nodes(node):  # the function's nodes, listed once for every rule
        if inner.__class__ not in _READ_OR_LOOP:
            continue  # one test for the many nodes that are neither
        if (
            isinstance(inner, ast.Attribute)
            and isinstance(inner.value, ast.Attribute)
            and isinstance(inner.value.value, ast.Name)
            and inner.value.value.id == row
        ):
            found.setdefault(inner.value.attr)
        if isinstance(inner, ast.For | ast.AsyncFor | ast.comprehension):
            source = inner.iter
            if (
                isinstance(source, ast.Attribute)
                and isinstance(source.value, ast.Name)
                and source.value.id == row
            ):
                found.setdefault(source.attr)
    return [row, *found] if found else []


def _rows_returned(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> str | None:
    """The model whose rows the function returns from a query that loads no relation
    (``return list(self.db.scalars(select(Order)...))``); None when unsure."""
    if not ctx.memo(_QUERY_NAMED):
        return None  # no function's text can name a queried model
    returns = [inner for inner in walk_body(node.body) if isinstance(inner, ast.Return)]
    if not returns or not any(r.value is not None for r in returns):
        return None
    text = ctx.segment(node)
    if any(word in text for word in _EAGER_WORDS):
        return None
    if not any(word in text for word in _QUERY_WORDS):
        return None
    found = _QUERIED_MODEL.search(text)
    if found is None:
        return None
    return found.group(1) or found.group(2)


_LOOPS = frozenset(
    {ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp}
)


def _per_row_calls(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> list[Mark]:
    """``[serialize(o) for o in orders]`` / ``for o in orders: out.append(render(o))``: a
    call given the loop's row, with where the rows come from."""
    found: list[Mark] = []
    for inner in walk_body(node.body):
        if inner.__class__ not in _LOOPS:
            continue  # one test for the many nodes that are no loop
        pairs: list[tuple[ast.expr, ast.expr, list[ast.AST]]] = []
        if isinstance(inner, ast.For | ast.AsyncFor):
            pairs.append((inner.target, inner.iter, list(inner.body)))
        elif isinstance(inner, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            for generator in inner.generators:
                pairs.append((generator.target, generator.iter, [inner.elt]))
        elif isinstance(inner, ast.DictComp):
            for generator in inner.generators:
                pairs.append((generator.target, generator.iter, [inner.key, inner.value]))
        for target, iterable, body in pairs:
            if not isinstance(target, ast.Name):
                continue
            source = _row_source(iterable, ctx)
            if source is None:
                continue
            for part in body:
                for call in ast.walk(part):
                    if (
                        isinstance(call, ast.Call)
                        and len(call.args) >= 1
                        and isinstance(call.args[0], ast.Name)
                        and call.args[0].id == target.id
                        and isinstance(call.func, ast.Name | ast.Attribute)
                    ):
                        callee = ctx.qualname(call.func)
                        if callee and not callee.startswith("builtins."):
                            found.append(Mark.of("perrow", call.lineno, name=callee, **source))
    return found


def _row_source(iterable: ast.expr, ctx: PythonContext) -> dict[str, str] | None:
    """Where a loop's rows come from: a query written here (``model``), or a project call
    (``helper``: its qualified name; ``made``: ``Class.method`` of an object made on the
    spot)."""
    expr: ast.AST | None = iterable
    for _ in range(3):
        if not isinstance(expr, ast.Name):
            break
        expr = ctx.value_of(expr.id)
    if isinstance(expr, ast.Await):
        expr = expr.value
    if expr is None:
        return None
    chain = django_query(expr) or sqlalchemy_query(expr, ctx)
    if chain is not None:
        text = ctx.segment(expr)
        if chain.model is None or any(word in text for word in _EAGER_WORDS):
            return None
        return {"model": chain.model.rsplit(".", 1)[-1]}
    if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Name | ast.Attribute):
        return None
    func = expr.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        owner = ctx.qualname(func.value.func)
        return {"made": f"{owner}.{func.attr}"} if owner else None
    name = ctx.qualname(func)
    return {"helper": name} if name and not name.startswith("builtins.") else None


@project_rule(
    code="PRF022",
    name="relations-read-per-row-in-helper",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Helper reading a row's lazy relations is called once per row of a query (N+1)",
    nodes=(ast.ClassDef, FunctionEnd),
    collect=_collect,
    fix="Load the relations with the rows: .options(selectinload(...), joinedload(...)) in "
    "SQLAlchemy, select_related()/prefetch_related() in Django.",
)
def relations_read_per_row_in_helper(project: ProjectFacts, ctx: ProjectContext) -> None:
    """
    ## What it does
    Flags a call, once per row of a query, of a project helper (`serialize(order)`,
    `to_dict(ticket)`, `render_row(invoice)`) that reads lazy relations of the row it is given
    -- `order.courier.name`, `for item in order.items` -- when the query does not load them
    (`selectinload`/`joinedload`, `select_related`/`prefetch_related`, or `lazy="selectin"`
    on the relationship). The rows may come from a query in the loop's function or from a
    repository helper that returns them; the relations must be `relationship()` /
    `ForeignKey` / `ManyToManyField` fields of the project's model of those rows. PRF019
    judges relations read in the loop itself.

    ## Why it breaks production
    The helper looks innocent on one object; called on every row of a list endpoint it runs
    one query per relation per row: 100 orders with a courier and items are 201 queries. The
    endpoint's latency grows with the page size and the database spends its time on tiny
    identical queries -- and under `AsyncSession` the lazy load raises `MissingGreenlet`.

    ## Example
    ```python
    def serialize(order):
        return {"id": order.id, "courier": order.courier.name,
                "items": [i.name for i in order.items]}

    @app.get("/orders")
    def orders(db: Session = Depends(get_db)):
        return [serialize(o) for o in db.scalars(select(Order)).all()]
    ```

    ## Use instead
    ```python
    stmt = select(Order).options(joinedload(Order.courier), selectinload(Order.items))
    return [serialize(o) for o in db.scalars(stmt).all()]
    ```
    """
    model = semantic_model(project)
    at: dict[tuple[str, int], ProjectFunction] = {
        (function.path, function.summary.line): function for function in model.functions.values()
    }
    lazy: dict[str, set[str]] = defaultdict(set)
    reads: dict[str, tuple[str, list[str]]] = {}
    returns: dict[str, str] = {}
    per_row: list[Evidence] = []
    for evidence in project.evidence("PRF022"):
        if evidence.kind == "model":
            lazy[evidence.name].update(filter(None, evidence.text("relations").split(",")))
        elif evidence.kind == "perrow":
            per_row.append(evidence)
        else:
            function = at.get((evidence.path, evidence.line))
            if function is None:
                continue
            if evidence.kind == "reads":
                relations = [r for r in evidence.text("relations").split(",") if r]
                reads[function.qualname] = (evidence.name, relations)
            elif evidence.kind == "rows":
                returns[function.qualname] = evidence.name
    if not lazy or not reads:
        return
    for call in per_row:
        module = project.module_name(call.path)
        row_model = call.text("model")
        if not row_model:
            source = call.text("helper") or call.text("made")
            for target in _targets(model, source, module, {}) if source else []:
                row_model = returns.get(target, "")
                if row_model:
                    break
        lazy_fields = lazy.get(row_model)
        if not lazy_fields:
            continue
        for target in _targets(model, call.name, module, {}):
            if target not in reads:
                continue
            row, read = reads[target]
            loaded_lazily = [rel for rel in read if rel in lazy_fields]
            if not loaded_lazily:
                continue
            helper = model.functions[target]
            ctx.report(
                call.path,
                call.line,
                f"{helper.summary.short_name}() reads "
                f"{', '.join(f'{row}.{rel}' for rel in loaded_lazily)} of the {row_model} row it "
                f"is given ({helper.path}:{helper.summary.line}), and it is called once per row "
                "of a query that does not load them: one more query per row and relation "
                "(N+1). Load them with the rows (selectinload/joinedload, "
                "select_related/prefetch_related)",
            )
            break
