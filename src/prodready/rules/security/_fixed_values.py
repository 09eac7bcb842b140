"""Security: is a value fixed by the code or the operator, or could someone else choose it?

The injection rules report a proven flow of request data at their own severity. When no request
data is seen reaching a sink, the sink is still worth an audit finding (low severity, low
confidence) if its dangerous argument is not provably fixed: a helper's parameter, ``input()``,
a command-line argument, data read from the network or a cache, a call the scan cannot see
into. :func:`unfixed_part` names that part, so the message can say what to check; it returns
None for values built only from literals, module constants, configuration and environment
reads, sanitised or numeric values and values from a fixed table or allow-list."""

from __future__ import annotations

import ast

from prodready.plugin import ModuleMemo, PythonContext
from prodready.plugin.analysis import module_function
from prodready.plugin.taint import (
    VALUE_SANITIZERS,
    allow_listed,
    appended_parts,
    is_allow_listed,
    own_nodes,
    synthetic_scope,
    tainted,
)
from prodready.rules.security._input_origin import is_trusted
from prodready.rules.security._shared import _annotation_is_number, _module_value

_MAX_DEPTH = 8

# Calls whose result is fixed when their arguments (and receiver) are: path and string building,
# conversions, reads of a file the code names, the operator's environment.
_PASS_THROUGH_PREFIXES = (
    "os.path.",
    "posixpath.",
    "ntpath.",
    "pathlib.",
    "shlex.",
    "urllib.parse.",
)
_PASS_THROUGH = frozenset(
    {"builtins.str", "builtins.bytes", "builtins.open", "io.open", "io.BytesIO", "io.StringIO"}
    | {"builtins.repr", "builtins.format", "builtins.sorted", "builtins.list", "builtins.tuple"}
    | {"builtins.dict", "builtins.set", "builtins.frozenset", "builtins.min", "builtins.max"}
    | {"builtins.sum", "os.fspath", "os.getcwd", "os.getpid", "shutil.which", "platform.system"}
    | {"platform.machine", "platform.node", "tempfile.gettempdir", "tempfile.mkdtemp"}
    | {"tempfile.mkstemp", "textwrap.dedent", "textwrap.indent", "json.dumps", "base64.b64encode"}
    | {"importlib.resources.files", "importlib.resources.read_text", "pkgutil.get_data"}
    | {"os.getenv", "os.environ.get", "time.time", "datetime.datetime.now", "uuid.uuid4"}
)
# Methods whose result is fixed when their receiver and arguments are.
_STRING_METHODS = frozenset(
    {"format", "join", "strip", "lstrip", "rstrip", "lower", "upper", "replace", "encode"}
    | {"decode", "split", "rsplit", "splitlines", "title", "capitalize", "casefold", "zfill"}
    | {"ljust", "rjust", "center", "removeprefix", "removesuffix", "format_map", "partition"}
    | {"read", "read_text", "read_bytes", "readlines", "readline", "joinpath", "resolve"}
    | {"absolute", "expanduser", "with_suffix", "with_name", "as_posix", "copy"}
    | {"strftime", "isoformat", "hex", "keys", "values", "items"}
)
# Bytes this process serialises itself: what they decode to is the object it was given.
_OWN_SERIALISATION = frozenset(
    {"pickle.dumps", "_pickle.dumps", "dill.dumps", "cloudpickle.dumps", "marshal.dumps"}
    | {"jsonpickle.encode", "copy.deepcopy"}
)
_FILE_OPENERS = frozenset({"builtins.open", "io.open", "codecs.open", "gzip.open", "bz2.open"})
_FILE_READS = frozenset({"read_text", "read_bytes", "open"})
_PATH_JOINERS = frozenset(
    {"os.path.join", "posixpath.join", "pathlib.Path", "pathlib.PurePath", "builtins.str"}
    | {"os.fspath", "pathlib.Path.joinpath"}
)
_LOOKUPS = frozenset({"get", "pop", "setdefault"})
_COMMAND_LINE = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args"})
_USER_INPUT = frozenset({"builtins.input", "getpass.getpass", "builtins.raw_input"})
_QUOTING = ("quote", "escape")


def unfixed_part(
    expr: ast.AST | None, ctx: PythonContext, sanitizers: frozenset[str] = frozenset()
) -> str | None:
    """A description of the first part of ``expr`` that is not provably fixed (``parameter
    `cmd` of `run()```, ```input()```, ``a command-line argument (`sys.argv[1]`)``), or None
    when every part is fixed by the code or the operator, or sanitised by ``sanitizers``."""
    if expr is None:
        return None
    outside = tainted(expr, ctx, sanitizers=sanitizers)
    if outside is not None:
        return outside
    fixedness = _Fixedness(ctx, sanitizers)
    fixedness.appended = appended_parts(ctx, expr)
    line = getattr(expr, "lineno", None)
    fixedness.limit = (line, getattr(expr, "col_offset", 0)) if line is not None else None
    return fixedness.find(expr, 0)


class _Fixedness:
    def __init__(self, ctx: PythonContext, sanitizers: frozenset[str]) -> None:
        self.ctx = ctx
        self.sanitizers = sanitizers | VALUE_SANITIZERS
        scope = ctx.function
        self.allowed = allow_listed(scope.node, ctx) if scope is not None else {}
        self.visiting: set[int] = set()
        self.parameters_fixed = False  # inside a helper whose arguments were found fixed
        # what ``name += part`` added to the locals of the function after their last binding
        self.appended: dict[str, list[ast.expr]] = {}
        self.limit: tuple[int, int] | None = None  # where the sink is (module-level bindings)

    def excerpt(self, node: ast.AST) -> str:
        text = " ".join(self.ctx.segment(node).split())
        return f"`{text if len(text) <= 48 else text[:45] + '...'}`"

    def find(self, expr: ast.AST | None, depth: int) -> str | None:
        if expr is None or isinstance(expr, ast.Constant | ast.Compare | ast.Lambda):
            return None
        if depth > _MAX_DEPTH:
            return self.excerpt(expr)
        if id(expr) in self.visiting:
            return None
        self.visiting.add(id(expr))
        try:
            return self._find(expr, depth)
        finally:
            self.visiting.discard(id(expr))

    def _all(self, parts: list[ast.expr], depth: int) -> str | None:
        for part in parts:
            found = self.find(part, depth + 1)
            if found is not None:
                return found
        return None

    def _find(self, expr: ast.AST, depth: int) -> str | None:
        if isinstance(expr, ast.Name):
            return self._name(expr, depth)
        if isinstance(expr, ast.Attribute):
            return self._attribute(expr, depth)
        if isinstance(expr, ast.Subscript):
            return self._subscript(expr, depth)
        if isinstance(expr, ast.Call):
            return self._call(expr, depth)
        if isinstance(expr, ast.JoinedStr):
            return self._all(list(expr.values), depth)
        if isinstance(expr, ast.FormattedValue | ast.Await | ast.Starred | ast.NamedExpr):
            return self.find(expr.value, depth + 1)
        if isinstance(expr, ast.BinOp):
            return self._all([expr.left, expr.right], depth)
        if isinstance(expr, ast.UnaryOp):
            return self.find(expr.operand, depth + 1)
        if isinstance(expr, ast.BoolOp):
            return self._all(list(expr.values), depth)
        if isinstance(expr, ast.IfExp):
            return self._all([expr.body, expr.orelse], depth)
        if isinstance(expr, ast.Tuple | ast.List | ast.Set):
            return self._all(list(expr.elts), depth)
        if isinstance(expr, ast.Dict):
            return self._all([v for v in (*expr.keys, *expr.values) if v is not None], depth)
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self._all([expr.elt, *(g.iter for g in expr.generators)], depth)
        return self.excerpt(expr)

    # -- names ---------------------------------------------------------------------------------
    def _name(self, node: ast.Name, depth: int) -> str | None:
        ctx = self.ctx
        name = node.id
        if name in {"__file__", "__name__"}:
            return None
        if ctx.function is None and name not in _imported(ctx):
            # module level: the binding in force at the sink, not the last one the prepass
            # keeps (``cmd = base + extra()`` ... ``cmd = "pwd"``), ``with open(PATH) as f``
            bound = self._module_binding(name)
            if bound:
                return self._all(bound, depth)
        if name not in self.appended and is_trusted(node, ctx):
            return None  # literals, UPPER_CASE constants, settings, paths built from them
        if is_allow_listed(node, self.allowed):
            return None
        scope = ctx.function
        while scope is not None:
            if name in scope.values:
                added = self.appended.get(name, []) if scope is ctx.function else []
                return self._all([scope.values[name], *added], depth)
            if any(arg.arg == name for arg in scope.params):
                if self.parameters_fixed and scope is ctx.function:
                    return None
                if _annotation_is_number(name, ctx) or name in {"self", "cls"}:
                    return None if name not in {"self", "cls"} else f"`{name}`"
                return f"parameter `{name}` of `{scope.node.name}()`"
            bound = self._loop_or_with(name, scope.node)
            if bound:
                return self._all(bound, depth)
            if name in scope.bindings:
                return f"`{name}`"  # an import, ``except ... as``, a tuple target
            scope = scope.parent
        if name in _imported(ctx):
            return None  # a module, or a name another module binds once at import time
        value = _module_value(name, ctx)
        if value is not None and value is not node:
            return self.find(value, depth + 1)
        return f"`{name}`"

    def _module_binding(self, name: str) -> list[ast.expr]:
        """The values a module-level name holds at the sink: its last binding before it (with
        what ``+=`` added since); every binding when none comes before."""
        found: list[tuple[tuple[int, int], ast.expr, bool]] = []
        for node in own_nodes(self.ctx.tree, self.ctx):
            for value in self._loop_or_with(name, node, own=False):
                at = (value.lineno, value.col_offset)
                found.append((at, value, isinstance(node, ast.AugAssign)))
        found.sort(key=lambda entry: entry[0])
        before = [entry for entry in found if self.limit is None or entry[0] < self.limit]
        if not before:
            return [value for _, value, _ in found]
        values: list[ast.expr] = []
        for _, value, augmented in reversed(before):
            values.append(value)
            if not augmented:
                break
        return values

    def _loop_or_with(self, name: str, function: ast.AST, own: bool = True) -> list[ast.expr]:
        """What a name the walk keeps no value for is bound to in ``function``: the iterable
        of a ``for`` (its elements), the context manager of a ``with ... as`` (``open(PATH)``),
        and its other assignments."""
        bound: list[ast.expr] = []
        for node in own_nodes(function, self.ctx) if own else [function]:
            if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                if any(isinstance(t, ast.Name) and t.id == name for t in ast.walk(node.target)):
                    bound.append(node.iter)
            elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
                if node.optional_vars.id == name:
                    bound.append(node.context_expr)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is not None and any(
                    isinstance(t, ast.Name) and t.id == name for t in targets
                ):
                    bound.append(node.value)
        return bound

    # -- attributes and subscripts -------------------------------------------------------------
    def _attribute(self, node: ast.Attribute, depth: int) -> str | None:
        ctx = self.ctx
        qualified = ctx.qualname(node) or ""
        if qualified in {"sys.argv", "sys.stdin"}:
            return f"a command-line argument ({self.excerpt(node)})"
        if is_trusted(node, ctx):
            return None
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in _imported(ctx):
            return None  # ``os.sep``, ``sys.executable``: the interpreter's and the operator's
        if isinstance(root, ast.Name) and root.id in {"self", "cls"}:
            return self.excerpt(node)
        return self.find(node.value, depth + 1)

    def _subscript(self, node: ast.Subscript, depth: int) -> str | None:
        ctx = self.ctx
        if (ctx.qualname(node.value) or "") == "sys.argv":
            return f"a command-line argument ({self.excerpt(node)})"
        # a value looked up in a fixed table is fixed, whatever the key
        return self.find(node.value, depth + 1)

    # -- calls ---------------------------------------------------------------------------------
    def _call(self, call: ast.Call, depth: int) -> str | None:
        ctx = self.ctx
        func = call.func
        callee = ctx.qualname(func) or ""
        method = func.attr if isinstance(func, ast.Attribute) else None
        short = callee.rsplit(".", 1)[-1] or (method or "")
        if callee in self.sanitizers or (method is not None and method in self.sanitizers):
            return None
        if any(word in short.lower() for word in _QUOTING) or callee in VALUE_SANITIZERS:
            return None
        if callee in _OWN_SERIALISATION:
            return None
        if callee in _USER_INPUT:
            return f"what the user types ({self.excerpt(call)})"
        if method in _COMMAND_LINE:
            return f"command-line arguments ({self.excerpt(call)})"
        arguments = [*call.args, *(k.value for k in call.keywords)]
        receiver = [func.value] if isinstance(func, ast.Attribute) else []
        if callee in _FILE_OPENERS and call.args:
            return self._file(call.args[0], depth)
        if method in _FILE_READS and receiver and callee not in _PASS_THROUGH:
            return self._file(receiver[0], depth)
        if callee in _PASS_THROUGH or callee.startswith(_PASS_THROUGH_PREFIXES):
            return self._all([*receiver, *arguments], depth)  # ``os.path``: an imported module
        helper = module_function(call, ctx)
        if helper is not None:
            return self._helper(helper, call, depth)
        if method in _LOOKUPS:  # ``TABLE.get(key, default)``: the key selects a stored value
            return self._all([*receiver, *call.args[1:]], depth)
        if method in _STRING_METHODS:
            return self._all([*receiver, *arguments], depth)
        return f"the result of {self.excerpt(call)}"

    def _file(self, path: ast.expr, depth: int) -> str | None:
        """A file read: its content is the deployment's own when the path starts in a
        directory the code fixes (``open(os.path.join(TEMPLATES, name))``, ``(BASE / name)``)
        -- which file of it is picked is the path rules' concern, not this one's."""
        for _ in range(_MAX_DEPTH):
            if isinstance(path, ast.Name):
                value = self.ctx.value_of(path.id)
                if value is None or value is path or path.id in self.appended:
                    break
                path = value
            elif isinstance(path, ast.BinOp) and isinstance(path.op, ast.Div | ast.Add):
                path = path.left
            elif (
                isinstance(path, ast.Call)
                and path.args
                and ((self.ctx.qualname(path.func) or "") in _PATH_JOINERS)
            ):
                path = path.args[0]
            elif isinstance(path, ast.JoinedStr) and path.values:
                head = path.values[0]
                if isinstance(head, ast.Constant):
                    return None if str(head.value).startswith("/") else self.find(path, depth)
                path = head.value if isinstance(head, ast.FormattedValue) else head
            else:
                break
        return self.find(path, depth + 1)

    def _helper(
        self, helper: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, depth: int
    ) -> str | None:
        """A function of this module: fixed when the arguments it is called with are and its
        own return values are, given fixed parameters."""
        found = self._all([*call.args, *(k.value for k in call.keywords)], depth)
        if found is not None:
            return found
        verdicts = self.ctx.memo(_HELPER_RETURNS)
        key = (id(helper), self.sanitizers)
        if key not in verdicts:
            verdicts[key] = None  # recursion guard
            verdicts[key] = self._returns(helper, depth)
        return verdicts[key]

    def _returns(self, helper: ast.FunctionDef | ast.AsyncFunctionDef, depth: int) -> str | None:
        ctx = self.ctx
        saved = ctx.function
        try:
            ctx.function = synthetic_scope((helper,), None, ctx)
            inner = _Fixedness(ctx, self.sanitizers)
            inner.parameters_fixed = True
            for node in own_nodes(helper, ctx):
                if isinstance(node, ast.Return) and node.value is not None:
                    found = inner.find(node.value, depth + 1)
                    if found is not None:
                        return f"the result of `{helper.name}()` ({found})"
        finally:
            ctx.function = saved
        return None


def _imported_names(ctx: PythonContext) -> frozenset[str]:
    names: set[str] = set()
    for statement in ast.walk(ctx.tree):
        if isinstance(statement, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in statement.names)
    return frozenset(names)


_IMPORTED: ModuleMemo[frozenset[str]] = ModuleMemo("security:imported-names", _imported_names)
# (id(helper), sanitizers) -> the unfixed part of what the helper returns, given fixed arguments
_HELPER_RETURNS: ModuleMemo[dict[object, str | None]] = ModuleMemo(
    "security:helper-returns", lambda _: {}
)


def _imported(ctx: PythonContext) -> frozenset[str]:
    return ctx.memo(_IMPORTED)
