"""Security: where the data a sink receives comes from, in three tiers -- request data (a proven
flow), other data from outside the process (responses, caches, messages), or a value the scan
cannot prove constant (a helper's parameter, a path read elsewhere) -- for rules whose sink is
worth an audit finding even when no source is visible (archives, XML documents)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.taint import REQUEST_DATA_ATTRIBUTES, sink_flow, tainted

_MAX_DEPTH = 6

# Calls whose result is as trusted as their arguments: path building, conversions, readers of
# package data and of the operator's environment.
_PASS_THROUGH = frozenset(
    {"os.path.join", "os.path.abspath", "os.path.realpath", "os.path.dirname", "os.fspath"}
    | {"os.path.expanduser", "os.path.normpath", "pathlib.Path", "pathlib.PurePath", "str"}
    | {"builtins.str", "builtins.open", "io.open", "io.BytesIO", "io.StringIO", "bytes"}
    | {"builtins.bytes", "pathlib.Path.joinpath", "pathlib.Path.resolve", "pathlib.Path.open"}
)
_ALWAYS_TRUSTED = frozenset(
    {"os.getenv", "os.environ.get", "pkgutil.get_data", "importlib.resources.files"}
    | {"importlib.resources.read_text", "importlib.resources.read_binary", "os.getcwd"}
    | {"tempfile.gettempdir", "tempfile.mkdtemp"}
    # a serialised in-memory tree: text in it is escaped and it declares no entities
    | {"lxml.etree.tostring", "xml.etree.ElementTree.tostring", "lxml.html.tostring"}
)
_CONFIG_ROOTS = frozenset({"settings", "config", "conf", "CONFIG", "SETTINGS"})


def is_trusted(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> bool:
    """A value fixed by the code or the operator: literals, UPPER_CASE constants, settings,
    environment variables, ``__file__``, and paths or strings built only from those."""
    if expr is None or depth > _MAX_DEPTH:
        return expr is None
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        if expr.id == "__file__" or expr.id in _CONFIG_ROOTS:
            return True
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return is_trusted(value, ctx, depth + 1)
        return expr.id.isupper() and len(expr.id) > 1
    if isinstance(expr, ast.Attribute):
        if expr.attr in REQUEST_DATA_ATTRIBUTES:
            return False  # ``request.GET``, ``request.FILES``
        if expr.attr.isupper() and len(expr.attr) > 1:
            return True
        root = expr.value
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id in _CONFIG_ROOTS
    if isinstance(expr, ast.Subscript):
        owner = ctx.qualname(expr.value) if isinstance(expr.value, ast.Attribute) else None
        return owner == "os.environ" or is_trusted(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.JoinedStr):
        return all(
            is_trusted(part.value, ctx, depth + 1)
            for part in expr.values
            if isinstance(part, ast.FormattedValue)
        )
    if isinstance(expr, ast.BinOp):
        return is_trusted(expr.left, ctx, depth + 1) and is_trusted(expr.right, ctx, depth + 1)
    if isinstance(expr, ast.Tuple | ast.List):
        return all(is_trusted(element, ctx, depth + 1) for element in expr.elts)
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name in _ALWAYS_TRUSTED:
            return True
        func = expr.func
        method = func.attr if isinstance(func, ast.Attribute) else None
        if name in _PASS_THROUGH or method in {"joinpath", "resolve", "encode", "format"}:
            receiver: list[ast.expr] = []
            if isinstance(func, ast.Attribute) and method in {"joinpath", "resolve", "format"}:
                receiver.append(func.value)
            parts = [*receiver, *expr.args, *(k.value for k in expr.keywords if k.arg != "mode")]
            return all(is_trusted(part, ctx, depth + 1) for part in parts)
    return False


# (rule code, id(sink)) -> the audit findings made for the sink, withdrawn if a flow is proven
# later in the module (a rule's own ``rule_state`` stays free for the rule)
_AUDITS: ModuleMemo[dict[tuple[str, int], list[object]]] = ModuleMemo(
    "security:origin-audits", lambda _: {}
)


class OriginReport:
    """Report one sink at the tier its data reaches: ``request`` for a proven flow of request
    data (also when a caller in the module passes it to the helper holding the sink, reported
    at the end of the module -- the audit finding made meanwhile is then withdrawn),
    ``external`` for other data from outside the process, ``unknown`` for a value that is not
    provably constant."""

    def __init__(
        self,
        node: ast.AST,
        ctx: PythonContext,
        *,
        request: Callable[[str], None],
        external: Callable[[str], None] | None = None,
        unknown: Callable[[], None] | None = None,
        sanitizers: frozenset[str] = frozenset(),
        audit: Callable[[str], None] | None = None,
        fallback: Callable[[], bool] | None = None,
        web_only: bool = True,
    ) -> None:
        self.node = node
        self.ctx = ctx
        self.request = request
        self.external = external
        self.unknown = unknown
        self.sanitizers = sanitizers
        # ``audit(part)``: the value is not provably fixed (see ``_fixed_values``), ``part``
        # names what to check; ``fallback()``: a rule's own tier between the proven flows and
        # the audit (True when it reported); ``web_only``: only request data is proven.
        self.audit = audit
        self.fallback = fallback
        self.web_only = web_only

    def run(
        self, values: Iterable[ast.expr | None], audited: Iterable[ast.expr | None] | None = None
    ) -> None:
        """``audited``: what the audit tier checks, when not ``values`` (the whole argument,
        where the rule traces pieces of it)."""
        candidates = [value for value in values if value is not None]
        checked = candidates if audited is None else [v for v in audited if v is not None]
        ctx = self.ctx
        web_only = self.web_only
        if sink_flow(candidates, ctx, self._proven, sanitizers=self.sanitizers, web_only=web_only):
            return
        if self.external is not None:
            for value in candidates:
                source = tainted(value, ctx, sanitizers=self.sanitizers)
                if source is not None:
                    self.external(source)
                    return
        if self.fallback is not None and self.fallback():
            return
        before = len(ctx.findings)
        if self.audit is not None:
            from prodready.rules.security._fixed_values import unfixed_part

            part = next((p for v in checked if (p := unfixed_part(v, ctx, self.sanitizers))), None)
            if part is None:
                return
            self.audit(part)
        elif self.unknown is None or all(is_trusted(value, ctx) for value in candidates):
            return
        else:
            self.unknown()
        ctx.memo(_AUDITS).setdefault(self._key(), []).extend(ctx.findings[before:])

    def _key(self) -> tuple[str, int]:
        return (self.ctx.rule.code if self.ctx.rule is not None else "", id(self.node))

    def _proven(self, source: str) -> None:
        ctx = self.ctx
        withdrawn = ctx.memo(_AUDITS).pop(self._key(), [])
        if withdrawn:
            ctx.findings[:] = [f for f in ctx.findings if not any(f is w for w in withdrawn)]
        self.request(source)
