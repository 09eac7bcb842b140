"""Security: analysis several security rules share (strings built from pieces, trusted values)."""

from __future__ import annotations

import ast
import re
import string

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.analysis import constant_str, is_literal
from prodready.plugin.taint import (
    REQUEST_DATA_ATTRIBUTES,
    appended_parts,
    binding_before,
    node_position,
)

# -- shared: strings built from pieces ----------------------------------------------------------

Piece = str | ast.expr
_MAX_DEPTH = 5
_PERCENT_FIELD = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[a-zA-Z%]"
)


def _is_str_template(expr: ast.AST, ctx: PythonContext, depth: int) -> bool:
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add | ast.Mod):
        return _is_str_template(expr.left, ctx, depth + 1) or (
            isinstance(expr.op, ast.Add) and _is_str_template(expr.right, ctx, depth + 1)
        )
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.attr in {"format", "join"} and _is_str_template(
            expr.func.value, ctx, depth + 1
        )
    if isinstance(expr, ast.Name) and depth < _MAX_DEPTH:
        value = _value_of(expr, ctx)
        return value is not None and _is_str_template(value, ctx, depth + 1)
    return False


def _value_of(name: ast.Name, ctx: PythonContext) -> ast.expr | None:
    """The value ``name`` stands for. Inside the value it would resolve to -- ``sql = sql + "
    AND ..."`` -- the name is the binding before that one (the ``SELECT`` head), not the
    value being built."""
    value = ctx.value_of(name.id)
    if value is None or ctx.function is None or not _within(name, value):
        return value
    earlier = binding_before(ctx.function.node, name.id, node_position(value), ctx)
    return earlier if isinstance(earlier, ast.expr) else None


def _within(node: ast.expr, container: ast.expr) -> bool:
    start, end = node_position(node), node_position(container)
    if start is None or end is None or start < end:
        return False
    last = (container.end_lineno or 0, container.end_col_offset or 0)
    return (node.end_lineno or 0, node.end_col_offset or 0) <= last


def _concatenated(expr: ast.BinOp, ctx: PythonContext, depth: int) -> list[ast.expr]:
    """The operands of a string ``+`` chain, in order, with nested string chains flattened."""
    operands: list[ast.expr] = []
    pending: list[ast.expr] = [expr]
    while pending:
        node = pending.pop()
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add)
            and (node is expr or _is_str_template(node, ctx, depth))
        ):
            pending.extend((node.right, node.left))
        else:
            operands.append(node)
    return operands


def _pieces(
    expr: ast.expr, ctx: PythonContext, extra: dict[str, list[ast.expr]], depth: int = 0
) -> list[Piece]:
    """A built string as a flat sequence of literal text and the values interpolated into it
    (f-strings, ``%``, ``.format()``, ``+``, ``sep.join([...])``), following local names to the
    strings they were built from. Values that are not built here stay whole."""
    if depth > _MAX_DEPTH:
        return [expr]
    if isinstance(expr, ast.Constant):
        return [expr.value] if isinstance(expr.value, str) else [expr]
    if isinstance(expr, ast.JoinedStr):
        out: list[Piece] = []
        for part in expr.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                out.append(part.value)
            elif isinstance(part, ast.FormattedValue):
                out.extend(_pieces(part.value, ctx, extra, depth + 1))
        return out
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        if _is_str_template(expr, ctx, depth):
            # One ``a + b + ... + z`` chain is one level of building however long it is:
            # counting each operand as a level cut chains of six or more operands short.
            operands = _concatenated(expr, ctx, depth)
            return [p for operand in operands for p in _pieces(operand, ctx, extra, depth + 1)]
        return [expr]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
        return _percent_pieces(expr, ctx, extra, depth)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "format":
            return _format_pieces(expr, ctx, extra, depth)
        if expr.func.attr == "join" and len(expr.args) == 1:
            separator = _template_text(expr.func.value, ctx)
            items = expr.args[0]
            if separator is not None and isinstance(items, ast.List | ast.Tuple):
                out = []
                for index, item in enumerate(items.elts):
                    if index:
                        out.append(separator)
                    out.extend(_pieces(item, ctx, extra, depth + 1))
                return out
        return [expr]
    if isinstance(expr, ast.Name):
        value = _value_of(expr, ctx)
        # ``url = "https://"; url += host``: the parts grown by ``+=`` after the plain binding
        # are part of the string too, whichever rule asks (not only those passing ``extra``).
        appended = extra.get(expr.id) or appended_parts(ctx, expr).get(expr.id, [])
        built = value is not None and value is not expr and _is_str_template(value, ctx, depth)
        if not built and not appended:
            return [expr]
        head: list[Piece] = [expr]
        if built and value is not None:
            head = _pieces(value, ctx, extra, depth + 1)
        for more in appended:  # ``sql += f" AND name = '{name}'"``
            head.extend(_pieces(more, ctx, {}, depth + 1))
        return head
    return [expr]


def _template_text(expr: ast.AST, ctx: PythonContext) -> str | None:
    text = constant_str(expr)
    if text is None and isinstance(expr, ast.Name):
        text = constant_str(ctx.value_of(expr.id))
    return text


def _percent_pieces(
    expr: ast.BinOp, ctx: PythonContext, extra: dict[str, list[ast.expr]], depth: int
) -> list[Piece]:
    template = _template_text(expr.left, ctx)
    right: ast.AST | None = expr.right
    if isinstance(right, ast.Name):
        bound = ctx.value_of(right.id)
        if isinstance(bound, ast.Tuple | ast.Dict):
            right = bound
    if template is None:
        if not _is_str_template(expr.left, ctx, depth):
            return [expr]
        values = right.elts if isinstance(right, ast.Tuple) else [expr.right]
        head = _pieces(expr.left, ctx, extra, depth + 1)
        return [*head, *(v for value in values for v in _pieces(value, ctx, extra, depth + 1))]
    positional = list(right.elts) if isinstance(right, ast.Tuple) else [expr.right]
    named: dict[str, ast.expr] = {}
    if isinstance(right, ast.Dict):
        for key, value in zip(right.keys, right.values, strict=True):
            name = constant_str(key)
            if name is not None:
                named[name] = value
    out: list[Piece] = []
    position = 0
    last = 0
    for match in _PERCENT_FIELD.finditer(template):
        out.append(template[last : match.start()])
        last = match.end()
        if match.group(0) == "%%":
            out.append("%")
            continue
        field_name = match.group("key")
        field: ast.expr | None
        if field_name is not None:
            field = named.get(field_name) if isinstance(right, ast.Dict) else expr.right
        else:
            field = positional[position] if position < len(positional) else None
            position += 1
        if field is not None:
            out.extend(_pieces(field, ctx, extra, depth + 1))
    out.append(template[last:])
    return out


def _format_pieces(
    expr: ast.Call, ctx: PythonContext, extra: dict[str, list[ast.expr]], depth: int
) -> list[Piece]:
    assert isinstance(expr.func, ast.Attribute)
    template = _template_text(expr.func.value, ctx)
    if template is None:
        return [expr]
    keywords = {k.arg: k.value for k in expr.keywords if k.arg is not None}
    out: list[Piece] = []
    auto = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return [expr]
    for literal, field, _spec, _conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        head = re.split(r"[.\[]", field, maxsplit=1)[0]
        value: ast.expr | None = None
        if head == "":
            value = expr.args[auto] if auto < len(expr.args) else None
            auto += 1
        elif head.isdigit():
            index = int(head)
            value = expr.args[index] if index < len(expr.args) else None
        else:
            value = keywords.get(head)
        if value is not None and not isinstance(value, ast.Starred):
            out.extend(_pieces(value, ctx, extra, depth + 1))
        elif value is None:
            out.append(expr)  # ``**kwargs`` or an index we cannot see: unknown
    return out


def _is_param(name: str, ctx: PythonContext) -> bool:
    scope = ctx.function
    if scope is None or name in scope.values:
        return False
    return any(arg.arg == name for arg in scope.params) and name not in {"self", "cls"}


def _annotation_is_number(name: str, ctx: PythonContext) -> bool:
    """A parameter declared (or, in a Flask route, converted) as a number or UUID."""
    scope = ctx.function
    if scope is None:
        return False
    path = scope.route.path if scope.route is not None else None
    if path and any(f"<{kind}:{name}>" in path for kind in ("int", "float", "uuid")):
        return True
    for arg in scope.params:
        if arg.arg == name and arg.annotation is not None:
            words = {
                n.id if isinstance(n, ast.Name) else n.attr
                for n in ast.walk(arg.annotation)
                if isinstance(n, ast.Name | ast.Attribute)
            }
            return bool(words & {"int", "float", "bool", "UUID", "Decimal"}) and not (
                words & {"str", "Any", "bytes"}
            )
    return False


def _call_name(call: ast.Call, ctx: PythonContext) -> str:
    """The last part of a callee's name, through local aliases (``qn = ops.quote_name``)."""
    func: ast.expr = call.func
    if isinstance(func, ast.Name):
        bound = ctx.value_of(func.id)
        if isinstance(bound, ast.Attribute | ast.Name):
            func = bound
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _safe_value(
    expr: ast.AST, ctx: PythonContext, sanitizers: frozenset[str], depth: int = 0
) -> bool:
    """A value that cannot change the structure of the text it is put into: constants,
    UPPER_CASE names, schema identifiers, numbers, quoted identifiers, placeholder lists."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return _safe_value(value, ctx, sanitizers, depth + 1)
        if _is_param(expr.id, ctx):
            return _annotation_is_number(expr.id, ctx)
        return expr.id.isupper() and len(expr.id) > 1
    if isinstance(expr, ast.Attribute):
        attr = expr.attr
        return (
            (attr.isupper() and len(attr) > 1)
            or attr in {"db_table", "table_name", "__tablename__", "tablename", "pk", "id"}
            or attr.endswith(("_table", "_id"))
        )
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return all(_safe_value(e, ctx, sanitizers, depth + 1) for e in expr.elts)
    if isinstance(expr, ast.IfExp):
        return _safe_value(expr.body, ctx, sanitizers, depth + 1) and _safe_value(
            expr.orelse, ctx, sanitizers, depth + 1
        )
    if isinstance(expr, ast.BinOp):
        if isinstance(expr.op, ast.Sub | ast.Div | ast.FloorDiv | ast.Pow):
            return True  # arithmetic: the value is a number
        if isinstance(expr.op, ast.Mult):  # ``["%s"] * len(ids)``, ``"?, " * n``
            return _safe_value(expr.left, ctx, sanitizers, depth + 1) or _safe_value(
                expr.right, ctx, sanitizers, depth + 1
            )
        return _safe_value(expr.left, ctx, sanitizers, depth + 1) and _safe_value(
            expr.right, ctx, sanitizers, depth + 1
        )
    if isinstance(expr, ast.UnaryOp):
        return _safe_value(expr.operand, ctx, sanitizers, depth + 1)
    if isinstance(expr, ast.GeneratorExp | ast.ListComp | ast.SetComp):
        return _safe_value(expr.elt, ctx, sanitizers, depth + 1)
    if isinstance(expr, ast.Subscript):
        # A lookup in a whitelist: ``SORT_COLUMNS[sort]``, ``self._isolation_lookup[level]``.
        container = expr.value
        if isinstance(container, ast.Name):
            if container.id.isupper():
                return True
            bound = ctx.value_of(container.id)
            return bound is not None and is_literal(bound)
        if isinstance(container, ast.Attribute):
            if container.attr in REQUEST_DATA_ATTRIBUTES:
                return False  # ``request.POST["x"]`` is not a constant table
            return container.attr.isupper() or any(
                hint in container.attr.lower() for hint in _LOOKUP_HINTS
            )
        return False
    if isinstance(expr, ast.Call):
        name = _call_name(expr, ctx)
        lowered = name.lower()
        if "quote" in lowered or name in sanitizers or name in _NUMERIC_CALLS:
            return True
        if lowered.endswith("name") or any(h in lowered for h in _IDENTIFIER_CALL_HINTS):
            # ``_get_sequence_name(model._meta.db_table)``: a name derived from schema names.
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            if arguments and all(_safe_value(a, ctx, sanitizers, depth + 1) for a in arguments):
                return True
        if name == "str" and expr.args:
            return _safe_value(expr.args[0], ctx, sanitizers, depth + 1)
        if name == "join" and isinstance(expr.func, ast.Attribute) and expr.args:
            return _safe_value(expr.args[0], ctx, sanitizers, depth + 1)
        if name == "get" and isinstance(expr.func, ast.Attribute):  # ``ALLOWED.get(x, "id")``
            owner = expr.func.value
            return isinstance(owner, ast.Name) and (
                owner.id.isupper() or is_literal(ctx.value_of(owner.id))
            )
        if name in {"upper", "lower", "strip"} and isinstance(expr.func, ast.Attribute):
            return _safe_value(expr.func.value, ctx, sanitizers, depth + 1)
        return False
    return False


_NUMERIC_CALLS = frozenset({"len", "int", "float", "bool", "abs", "round", "min", "max", "sum"})
_LOOKUP_HINTS = ("lookup", "map", "names", "columns", "choices", "levels", "types", "table")
_IDENTIFIER_CALL_HINTS = ("sequence", "table", "column", "identifier", "index", "constraint")


def _module_helper(
    call: ast.Call, ctx: PythonContext
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if not isinstance(call.func, ast.Name) or ctx.resolve_name(call.func.id) != call.func.id:
        return None
    for statement in ctx.tree.body:
        if (
            isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and statement.name == call.func.id
        ):
            return statement
    return None


_DEV_SETTINGS = frozenset(
    {"dev", "development", "local", "test", "tests", "testing", "ci", "example", "sample"}
)


def _target_name(target: ast.AST) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Subscript):
        return constant_str(target.slice)
    return None


def _dev_settings_file(path: str) -> bool:
    parts = path.lower().split("/")
    words = set(re.split(r"[_.\-]", parts[-1])) | set(parts[:-1])
    return bool(words & _DEV_SETTINGS)


def _imports(ctx: PythonContext, packages: tuple[str, ...]) -> bool:
    """The module imports one of ``packages`` (at the top or in a function seen so far)."""
    if ctx.facts.imports_any(packages):
        return True
    # Module-level bindings come from the prepass and do not change during the walk.
    known = ctx.memo(_BINDS_PACKAGE)
    key = packages[0]
    bound = known.get(key)
    if bound is None:
        bound = known[key] = any(
            (name or "").split(".")[0] in packages for name in ctx.facts.bindings.values()
        )
    return bound


# first package of a group -> a module-level name is bound to something from the group
_BINDS_PACKAGE: ModuleMemo[dict[str, bool]] = ModuleMemo("security:bound", lambda _: {})


def _module_value(name: str, ctx: PythonContext) -> ast.expr | None:
    """The value last assigned to a module-level name (lists and dicts included)."""
    return ctx.memo(_MODULE_VALUES).get(name)


def _module_values(ctx: PythonContext) -> dict[str, ast.expr]:
    values: dict[str, ast.expr] = {}
    for statement in ctx.tree.body:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    values[target.id] = statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and statement.value is not None
            and isinstance(statement.target, ast.Name)
        ):
            values[statement.target.id] = statement.value
    return values


_MODULE_VALUES: ModuleMemo[dict[str, ast.expr]] = ModuleMemo(
    "security:module-values", _module_values
)


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    start = (getattr(outer, "lineno", 0), getattr(outer, "col_offset", 0))
    end = (getattr(outer, "end_lineno", 0), getattr(outer, "end_col_offset", 0))
    point = (getattr(inner, "lineno", -1), getattr(inner, "col_offset", -1))
    return start <= point < end


# -- shared: URLs whose host is fixed ----------------------------------------------------------

# Literal text before a value that fixes where a URL points: ``https://api.example.com/...``,
# a placeholder for a trusted value followed by ``/`` (``f"{API_BASE}/users/{uid}"``), an
# absolute path (not ``//``), a query or fragment, a relative path.
_HOST_FIXED = re.compile(
    r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\\\s\x00]+[/?#]"
    r"|\x00+[/?#]"
    r"|/(?![/\\])"
    r"|[?#]"
    r"|[\w.~-]+[/?#])"
)


def _host_deciding(url: ast.expr, ctx: PythonContext) -> list[ast.expr]:
    """The values interpolated into a URL before its host is fixed by literal text: only
    those decide where the request (or the browser) goes. A choice between URLs (``a if c
    else b``, directly or through a name bound to it) decides by its branches alone: the test
    only picks one."""
    choice = _chosen_between(url, ctx)
    if choice is not None:
        return _host_deciding(choice.body, ctx) + _host_deciding(choice.orelse, ctx)
    deciding: list[ast.expr] = []
    prefix = ""
    for piece in _pieces(url, ctx, {}):
        if isinstance(piece, str):
            prefix += piece
            continue
        if _HOST_FIXED.match(prefix):
            break
        if not _helper_fixes_host(piece, ctx):
            bound = _bound_call(piece, ctx)
            stripped = _without_fixed_host_arguments(bound, ctx) if bound is not None else None
            if stripped is not None and stripped is not bound:
                piece = stripped  # ``url = urljoin(base, "?" + query)``: only ``base`` decides
            deciding.append(_without_fixed_host_arguments(piece, ctx))
        prefix += "\x00"
    return deciding


def _bound_call(piece: ast.expr, ctx: PythonContext) -> ast.Call | None:
    """The call a local name holding the URL was bound to (and not grown since)."""
    if not isinstance(piece, ast.Name) or appended_parts(ctx, piece).get(piece.id):
        return None
    value = ctx.value_of(piece.id)
    return value if isinstance(value, ast.Call) else None


def _chosen_between(url: ast.expr, ctx: PythonContext) -> ast.IfExp | None:
    """The conditional expression ``url`` is, or a local name holding one was bound to (and
    not grown since: ``url += ...``)."""
    for _ in range(_MAX_DEPTH):
        if isinstance(url, ast.IfExp):
            return url
        if not isinstance(url, ast.Name) or appended_parts(ctx, url).get(url.id):
            return None
        value = ctx.value_of(url.id)
        if value is None or value is url:
            return None
        url = value
    return None


def _without_fixed_host_arguments(piece: ast.expr, ctx: PythonContext) -> ast.expr:
    """A call given a path or URL whose host literal text already fixes
    (``site_url(f"/teams/{slug}")``): whatever the callee does with it, that argument cannot
    move the host -- the call, with such arguments as empty strings, is what may."""
    if not isinstance(piece, ast.Call):
        return piece
    fixed = [
        argument
        for argument in [*piece.args, *(keyword.value for keyword in piece.keywords)]
        if isinstance(argument, ast.JoinedStr | ast.BinOp) and not _host_deciding(argument, ctx)
    ]
    if not fixed:
        return piece

    def blank(argument: ast.expr) -> ast.expr:
        if not any(argument is item for item in fixed):
            return argument
        return ast.copy_location(ast.Constant(""), argument)

    call = ast.Call(
        func=piece.func,
        args=[blank(argument) for argument in piece.args],
        keywords=[
            ast.copy_location(ast.keyword(arg=k.arg, value=blank(k.value)), k)
            for k in piece.keywords
        ],
    )
    return ast.copy_location(call, piece)


def _helper_fixes_host(expr: ast.expr, ctx: PythonContext) -> bool:
    """A call of a module helper (or a name bound to one) whose every return builds a URL
    on a fixed host: ``def item_url(item_id): return f"{API_BASE}/items/{item_id}"``."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(expr, ast.Name):
            break
        value = ctx.value_of(expr.id)
        if value is None:
            return False
        expr = value
    if not isinstance(expr, ast.Call):
        return False
    helper = _module_helper(expr, ctx)
    if helper is None:
        return False
    params = {a.arg for a in [*helper.args.posonlyargs, *helper.args.args, *helper.args.kwonlyargs]}
    returns = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value]
    if not returns:
        return False
    for value in returns:
        if not isinstance(value, ast.JoinedStr | ast.BinOp | ast.Call):
            return False
        prefix = ""
        for piece in _pieces(value, ctx, {}):
            if isinstance(piece, str):
                prefix += piece
                continue
            if _HOST_FIXED.match(prefix):
                break
            if any(isinstance(n, ast.Name) and n.id in params for n in ast.walk(piece)):
                return False  # a parameter decides the host
            prefix += "\x00"
        if not _HOST_FIXED.match(prefix):
            return False
    return True
