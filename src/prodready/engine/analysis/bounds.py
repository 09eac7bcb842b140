"""How the size of an iterable grows: with the rows of a table, with what a request sends, or
not visibly at all.

An N+1 query or an unbounded read hurts only when a loop's iteration count grows with the data.
A queryset, a query result or a related manager grows with its table; a list the HTTP request
sends grows with what a client chooses to send. A literal, a constant, ``range(3)``, a slice
or one paginated page is bounded in the code. Anything else -- a parameter, an attribute of an
object, a value read from a configuration file -- has a size the code does not show.
"""

from __future__ import annotations

import ast
import enum

from prodready.engine.analysis.literals import dotted
from prodready.engine.analysis.orm import (
    DJANGO_FETCH_METHODS,
    DJANGO_LAZY_METHODS,
    django_query,
    method_chain,
    sqlalchemy_query,
)
from prodready.engine.python import PythonContext


class Growth(enum.IntEnum):
    """What the length of an iterable grows with (ordered: the larger dominates a mix)."""

    BOUNDED = 0  # a literal, a constant, range of constants, a slice or a paginated page
    UNKNOWN = 1  # a parameter, an object's attribute, a helper's or configuration's value
    REQUEST = 2  # what the HTTP request sends: body, query string, session, a route's list
    ROWS = 3  # database rows: a queryset, a query result, a related manager


# Builtins whose result iterates (a subset of) their iterable arguments.
_PASS_THROUGH = frozenset(
    {"list", "tuple", "set", "frozenset", "sorted", "reversed", "enumerate", "iter"}
)
_ITERABLE_TAIL = frozenset({"filter", "map"})  # filter(func, xs), map(func, xs)
_CHAINS = frozenset({"itertools.chain", "chain"})
# Queryset steps that keep iterating the same rows.
_ROW_STEPS = (DJANGO_LAZY_METHODS - {"none", "dates", "datetimes"}) | {"iterator"}
_BOUNDING_STEPS = frozenset(
    {"limit", "first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none"}
    | {"get", "fetchone", "fetchmany", "paginate", "slice", "[]"}
)
# Enum and choices containers (``Status.choices``, ``Kind.values``): fixed in the code.
_FIXED_ATTRIBUTES = frozenset({"choices", "labels", "values", "names"})
_REQUEST_NAMES = frozenset({"request", "req"})
_MAX_DEPTH = 6


def iterable_growth(expr: ast.AST | None, ctx: PythonContext, _depth: int = 0) -> Growth:
    """What the number of items ``expr`` yields when iterated grows with (following the local
    names it was assigned from and the loops that bound it)."""
    if expr is None or _depth > _MAX_DEPTH:
        return Growth.UNKNOWN
    depth = _depth + 1
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Constant | ast.JoinedStr):
        return Growth.BOUNDED
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        starred = [e.value for e in expr.elts if isinstance(e, ast.Starred)]
        return _largest((iterable_growth(e, ctx, depth) for e in starred), Growth.BOUNDED)
    if isinstance(expr, ast.Dict):
        return Growth.BOUNDED
    if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        return _largest(iterable_growth(g.iter, ctx, depth) for g in expr.generators)
    if isinstance(expr, ast.BinOp):
        return _largest(
            (iterable_growth(expr.left, ctx, depth), iterable_growth(expr.right, ctx, depth))
        )
    if isinstance(expr, ast.BoolOp):
        return _largest(iterable_growth(value, ctx, depth) for value in expr.values)
    if isinstance(expr, ast.IfExp):
        return _largest(
            (iterable_growth(expr.body, ctx, depth), iterable_growth(expr.orelse, ctx, depth))
        )
    if isinstance(expr, ast.Name):
        return _name_growth(expr.id, ctx, depth)
    if isinstance(expr, ast.Subscript):
        return _subscript_growth(expr, ctx, depth)
    if isinstance(expr, ast.Attribute):
        if expr.attr.isupper() or expr.attr in _FIXED_ATTRIBUTES:
            return Growth.BOUNDED
        if expr.attr in {"object_list", "items"} and _paginated(expr.value, ctx):
            return Growth.BOUNDED  # page.object_list: one page
        return Growth.REQUEST if request_rooted(expr) else Growth.UNKNOWN
    if isinstance(expr, ast.Call):
        return _call_growth(expr, ctx, depth)
    return Growth.UNKNOWN


def request_rooted(expr: ast.AST) -> bool:
    """``request.data[...]``, ``self.request.GET.getlist(...)``, ``request.session.get(...)``:
    a value read from the HTTP request being handled."""
    names: list[str] = []
    while True:
        if isinstance(expr, ast.Attribute):
            names.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Await):
            expr = expr.value
        else:
            break
    if not isinstance(expr, ast.Name):
        return False
    if expr.id in _REQUEST_NAMES:
        return True
    return expr.id == "self" and bool(names) and names[-1] == "request"


def parameter_names(ctx: PythonContext) -> set[str]:
    """The parameters of the innermost enclosing function."""
    scope = ctx.function
    if scope is None:
        return set()
    arguments = scope.node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return {argument.arg for argument in every}


def _largest(growths: object, default: Growth = Growth.UNKNOWN) -> Growth:
    found = list(growths)  # type: ignore[call-overload]
    return max(found) if found else default


def _name_growth(name: str, ctx: PythonContext, depth: int) -> Growth:
    if name.isupper():
        return Growth.BOUNDED  # a module constant
    for loop in reversed(ctx.loops):
        bound = _iterable_binding(loop, name)
        if bound is not None:
            # An item of what an enclosing loop iterates: a row's value, a request entry...
            growth = iterable_growth(bound, ctx, depth)
            return Growth.UNKNOWN if growth is Growth.BOUNDED else growth
    value = _assigned_value(name, ctx)
    if value is not None:
        return iterable_growth(value, ctx, depth)
    scope = ctx.route
    if scope is not None and name in parameter_names(ctx) and name not in _REQUEST_NAMES:
        return Growth.REQUEST  # a list parameter of a route: the request body or query
    return Growth.UNKNOWN


def _assigned_value(name: str, ctx: PythonContext) -> ast.expr | None:
    """The value last assigned to ``name``; for ``qs = qs.filter(...)``, which refines a value
    held by the same name, the first assignment in the function that does not."""
    value = ctx.value_of(name)
    if value is None or not _refines(value, name):
        return value
    scope = ctx.function
    if scope is None:
        return None
    for node in ast.walk(scope.node):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
            and not _refines(node.value, name)
        ):
            return node.value
    return None


def _refines(value: ast.AST, name: str) -> bool:
    base, _ = method_chain(value)
    return isinstance(base, ast.Name) and base.id == name


def _iterable_binding(loop: ast.AST, name: str) -> ast.expr | None:
    """The iterable whose items the loop binds to ``name`` (None: the loop binds no such
    name)."""
    pairs: list[tuple[ast.expr, ast.expr]] = []
    if isinstance(loop, ast.For | ast.AsyncFor):
        pairs.append((loop.target, loop.iter))
    elif isinstance(loop, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        pairs.extend((g.target, g.iter) for g in loop.generators)
    for target, iterable in pairs:
        if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)):
            return iterable
    return None


def _subscript_growth(expr: ast.Subscript, ctx: PythonContext, depth: int) -> Growth:
    if isinstance(expr.slice, ast.Slice):
        if expr.slice.upper is not None:
            return Growth.BOUNDED  # xs[:100], qs[offset:offset + limit]: one slice
        return iterable_growth(expr.value, ctx, depth)
    if request_rooted(expr):
        return Growth.REQUEST
    container = iterable_growth(expr.value, ctx, depth)
    # An entry of what the request sent is still the request's; an entry of anything else
    # (a row, a mapping's value) has a size of its own.
    return Growth.REQUEST if container is Growth.REQUEST else Growth.UNKNOWN


def _call_growth(call: ast.Call, ctx: PythonContext, depth: int) -> Growth:
    func = call.func
    name = ctx.qualname(func) or dotted(func) or ""
    short = name.removeprefix("builtins.")
    if short == "range":
        constant = all(isinstance(a, ast.Constant) for a in call.args)
        return Growth.BOUNDED if constant else Growth.UNKNOWN
    if short in _PASS_THROUGH and call.args:
        return iterable_growth(call.args[0], ctx, depth)
    if short in _ITERABLE_TAIL and len(call.args) >= 2:
        return _largest(iterable_growth(a, ctx, depth) for a in call.args[1:])
    if short == "zip" and call.args:
        return min(iterable_growth(a, ctx, depth) for a in call.args)
    if name in _CHAINS or name.endswith(".chain"):
        return _largest(iterable_growth(a, ctx, depth) for a in call.args)
    if "paginat" in name.lower() or (isinstance(func, ast.Attribute) and func.attr == "page"):
        return Growth.BOUNDED
    mapping_view = isinstance(func, ast.Attribute) and func.attr in {"items", "keys", "values"}
    if mapping_view and not call.args and not call.keywords:
        assert isinstance(func, ast.Attribute)
        return iterable_growth(func.value, ctx, depth)  # a mapping's entries
    rows = _rows_growth(call, ctx, depth)
    if rows is not None:
        return rows
    if request_rooted(call) or any(request_rooted(a) for a in call.args):
        return Growth.REQUEST  # request.GET.getlist(...), json.loads(request.body)
    return Growth.UNKNOWN


def _rows_growth(call: ast.Call, ctx: PythonContext, depth: int) -> Growth | None:
    """Growth of a database read (None: ``call`` reads no rows)."""
    chain = django_query(call)
    if chain is not None:
        bounded = chain.sliced or chain.terminal in DJANGO_FETCH_METHODS - {"iterator"}
        return Growth.BOUNDED if bounded else Growth.ROWS
    chain = sqlalchemy_query(call, ctx)
    if chain is not None:
        return Growth.BOUNDED if set(chain.steps) & _BOUNDING_STEPS else Growth.ROWS
    base, steps = method_chain(call)
    names = [n for n, _ in steps]
    if names and names[-1] == "fetchall":
        return Growth.ROWS  # cursor.fetchall()
    calls = [n for n, step in steps if isinstance(step, ast.Call)]
    if not calls or any(n not in _ROW_STEPS for n in calls):
        return None
    if isinstance(steps[0][1], ast.Call):
        # qs.filter(...) / events.iterator(): more steps on a queryset held by a name.
        if isinstance(base, ast.Name):
            growth = _name_growth(base.id, ctx, depth)
            return growth if growth in {Growth.ROWS, Growth.BOUNDED} else None
        return None
    if names[-1] == "values" and not call.args:
        return None  # obj.mapping.values()
    return Growth.ROWS  # order.items.all(), event.orders.filter(...): a related manager


def _paginated(expr: ast.AST, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is None:
            return False
        expr = value
    text = dotted(expr.func) if isinstance(expr, ast.Call) else None
    return text is not None and ("paginat" in text.lower() or text.endswith(".page"))
