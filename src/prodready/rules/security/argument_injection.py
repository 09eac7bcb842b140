"""Security: request data passed as arguments of a program run without a shell (SEC024)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str, is_true, keyword_value
from prodready.plugin.taint import report_deferred, sink_flow
from prodready.rules.security._input_origin import OriginReport, is_trusted
from prodready.rules.security._shared import _pieces

# -- SEC024 ------------------------------------------------------------------------------------

_RUN_LIST = (
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
)
_RUN_VARARGS = ("asyncio.create_subprocess_exec", "asyncio.subprocess.create_subprocess_exec")
_END_OF_OPTIONS = frozenset({"--", "--end-of-options"})
_SPLITTERS = frozenset({"shlex.split", "str.split"})
# Calls whose result starts with their first argument: a fixed directory in front of the value
# means it cannot begin with "-".
_MAX_BINDINGS = 4
_PATH_BUILDERS = frozenset({"os.path.join", "posixpath.join", "pathlib.Path", "pathlib.PurePath"})


def _elements(command: ast.expr, call: ast.Call, ctx: PythonContext) -> list[ast.expr] | None:
    """The items of an argument list, following a local name to the list it was bound to and
    the items appended to it before the call (``cmd.append(x)``, ``cmd += [x]``)."""
    if isinstance(command, ast.List | ast.Tuple | ast.BinOp):
        return _concatenated_items(command, ctx)
    if not isinstance(command, ast.Name):
        return None
    bound = ctx.value_of(command.id)
    items = _concatenated_items(bound, ctx) if isinstance(bound, ast.expr) else None
    if items is None:
        return None
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    for node in ast.walk(scope):
        if getattr(node, "lineno", call.lineno) >= call.lineno:
            continue
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == command.id
        ):
            if node.func.attr == "append" and node.args:
                items.append(node.args[0])
            elif node.func.attr == "extend" and node.args:
                extra = node.args[0]
                items.extend(extra.elts if isinstance(extra, ast.List | ast.Tuple) else [extra])
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == command.id
        ):
            extra = node.value
            items.extend(extra.elts if isinstance(extra, ast.List | ast.Tuple) else [extra])
    return items


def _concatenated_items(
    command: ast.expr, ctx: PythonContext, depth: int = 0
) -> list[ast.expr] | None:
    """The items of a list literal or of a ``+`` of lists (``["ls"] + [path]``, ``["ffmpeg"] +
    options``): an operand that is not a list literal (nor a name bound to one) is a whole
    run of arguments, each of which can begin with '-' (a starred item). None: no list here."""
    if isinstance(command, ast.List | ast.Tuple):
        return list(command.elts)
    if isinstance(command, ast.Name) and depth:
        bound = ctx.value_of(command.id)
        if isinstance(bound, ast.List | ast.Tuple):
            return list(bound.elts)
    if not (isinstance(command, ast.BinOp) and isinstance(command.op, ast.Add)) or depth > 5:
        return None
    left = _concatenated_items(command.left, ctx, depth + 1)
    right = _concatenated_items(command.right, ctx, depth + 1)
    if left is None and right is None:
        return None  # ``prefix + name``: string building, not a list

    def run_of(operand: ast.expr) -> list[ast.expr]:
        return [ast.copy_location(ast.Starred(value=operand, ctx=ast.Load()), operand)]

    return [
        *(left if left is not None else run_of(command.left)),
        *(right if right is not None else run_of(command.right)),
    ]


def _may_start_with_dash(item: ast.expr, ctx: PythonContext) -> ast.expr | None:
    """The value that decides how an argument starts, when it is not fixed text: ``name`` for
    ``name`` or ``f"{name}.pdf"``; None for ``f"uploads/{name}"``, ``f"--title={name}"`` or
    ``os.path.join(UPLOADS, name)``, which cannot be read as a new option."""
    if isinstance(item, ast.Starred):
        return item.value
    pieces = _pieces(item, ctx, {})
    if not pieces:
        return None
    head = pieces[0]
    if isinstance(head, str):
        if head or len(pieces) < 2 or isinstance(pieces[1], str):
            return None
        head = pieces[1]
    if is_trusted(head, ctx):
        return None  # ``f"{UPLOADS}/{name}"``: a fixed value leads
    for _ in range(_MAX_BINDINGS):  # ``source = os.path.join(UPLOADS, name)``
        if not isinstance(head, ast.Name):
            break
        bound = ctx.value_of(head.id)
        if not isinstance(bound, ast.Call | ast.BinOp):
            break
        head = bound
    if isinstance(head, ast.Call):
        name = ctx.qualname(head.func) or ""
        if name in _PATH_BUILDERS and head.args and is_trusted(head.args[0], ctx):
            first = constant_str(head.args[0])
            if first is None or (first and not first.startswith("-")):
                return None
    if isinstance(head, ast.BinOp) and isinstance(head.op, ast.Div) and is_trusted(head.left, ctx):
        return None  # ``UPLOADS / name``
    return pieces[0] if isinstance(pieces[0], ast.expr) else head


def _guarded(value: ast.expr, ctx: PythonContext) -> bool:
    """The function refuses a leading dash or matches the value against a pattern before the
    call (``if name.startswith("-")``, ``re.fullmatch(r"[a-z0-9]+", name)``)."""
    names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    if not names or ctx.function is None:
        return False
    for node in ast.walk(ctx.function.node):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        subject = node.func.value
        if method in {"startswith", "lstrip"} and isinstance(subject, ast.Name):
            text = constant_str(node.args[0]) if node.args else None
            if subject.id in names and text is not None and text.startswith("-"):
                return True
        if method in {"match", "fullmatch"} and any(
            isinstance(arg, ast.Name) and arg.id in names for arg in node.args
        ):
            return True
    return False


@python_rule(
    code="SEC024",
    name="command-argument-injection",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Request data passed as a program's argument (or program) without '--' before it",
    calls=(*_RUN_LIST, *_RUN_VARARGS),
    nodes=(ModuleEnd,),
    confidence=Confidence.MEDIUM,
    cwe=88,
    fix='Put "--" before values from the client: ["git", "clone", "--", url, dest].',
)
def command_argument_injection(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `subprocess.run/call/check_output/Popen` and `asyncio.create_subprocess_exec`
    called with an argument list (no shell) when request data -- followed through local
    variables, helpers of the module and their callers -- is an argument that can begin with
    `-` and no `--` comes before it, or is the program itself (critical), or is a string
    split into arguments (`shlex.split(...)`). Values behind fixed text (`f"uploads/{name}"`,
    `f"--title={name}"`, `os.path.join(UPLOADS, name)`), numbers, allow-listed values, and
    values the function checks for a leading `-` or matches against a pattern are fine. A
    command run with `shell=True` is SEC008's.
    Audit tier: a program or a split command line no request data is seen reaching but that
    is not provably constant (a helper's parameter, `sys.argv`, an attribute of the object) is
    reported at low severity with low confidence, naming the value to check.

    ## Why it breaks production
    An argument list keeps the shell out, but the program still parses its own options. A
    "file name" of `--output=/app/settings.py`, a "URL" of `--upload-pack=touch /tmp/x` for
    `git clone`, `-oProxyCommand=...` for `ssh` or `--checkpoint-action=exec=...` for `tar`
    turns a value into an option: files overwritten, commands run, data sent elsewhere.

    ## Example
    ```python
    @app.post("/repos")
    def mirror(body: MirrorIn):
        subprocess.run(["git", "clone", body.url, "/srv/mirrors/new"], check=True, timeout=60)
    ```

    ## Use instead
    ```python
    @app.post("/repos")
    def mirror(body: MirrorIn):
        subprocess.run(
            ["git", "clone", "--", body.url, "/srv/mirrors/new"], check=True, timeout=60
        )
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name in _RUN_VARARGS:
        items: list[ast.expr] | None = list(node.args)
    else:
        shell = keyword_value(node, "shell")
        if isinstance(shell, ast.Name):
            shell = ctx.value_of(shell.id) or shell
        if is_true(shell) or (shell is not None and not isinstance(shell, ast.Constant)):
            return
        command = argument(node, 0, "args")
        if command is None:
            return
        items = _elements(command, node, ctx)
        if items is None:
            _whole_command(node, command, ctx)
            return
    if not items:
        return
    callee = name.rsplit(".", 1)[-1]
    program = items[0]
    if not isinstance(program, ast.Starred) and not is_trusted(program, ctx):

        def report_program(source: str) -> None:
            ctx.report(
                node,
                f"{callee}() runs a program named by {source}: the client chooses what runs "
                "on the server. Map the request to a fixed program from an allow-list",
                severity=Severity.CRITICAL,
                confidence=Confidence.HIGH,
            )

        def audit_program(part: str) -> None:
            ctx.report(
                node,
                f"{callee}() runs a program named by {part}, which is not provably constant; "
                "no request data was seen reaching it. Check who chooses it: whoever can runs "
                "any program on the server. Name the program in the code (or pick it from a "
                "fixed allow-list)",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )

        proven: list[str] = []

        def report_proven(source: str) -> None:
            proven.append(source)
            report_program(source)

        OriginReport(node, ctx, request=report_proven, audit=audit_program).run([program])
        if proven:
            return
    values = _option_candidates(items, ctx)
    if not values:
        return

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{callee}() passes {source} as an argument with no '--' before it: a value "
            "starting with '-' is read as an option of the program (--output=..., "
            "-oProxyCommand=...). Put '--' before client values, or refuse a leading '-'",
        )

    sink_flow(values, ctx, report, web_only=True)


def _option_candidates(items: list[ast.expr], ctx: PythonContext) -> list[ast.expr]:
    values: list[ast.expr] = []
    previous: str | None = None
    for index, item in enumerate(items):
        text = constant_str(item)
        if text in _END_OF_OPTIONS:
            break
        option_value = previous is not None and previous.startswith("-") and "=" not in previous
        previous = text
        if index == 0 or text is not None or option_value:
            continue  # the program, fixed text, or the value of the option before it
        value = _may_start_with_dash(item, ctx)
        if value is not None and not _guarded(value, ctx):
            values.append(value)
    return values


def _whole_command(node: ast.Call, command: ast.expr, ctx: PythonContext) -> None:
    """A command that is not a list: a string runs as one program name; ``shlex.split(text)``
    makes arguments (and the program) out of the client's text."""
    callee = (ctx.call_name or "").rsplit(".", 1)[-1]
    if isinstance(command, ast.Name):
        command = ctx.value_of(command.id) or command
    if isinstance(command, ast.Call):
        split = ctx.qualname(command.func) or ""
        method = command.func.attr if isinstance(command.func, ast.Attribute) else ""
        if split in _SPLITTERS or method == "split":
            text = command.args[0] if split == "shlex.split" and command.args else command
            if method == "split" and split != "shlex.split":
                text = command.func.value if isinstance(command.func, ast.Attribute) else text

            def report_split(source: str) -> None:
                ctx.report(
                    node,
                    f"{callee}() runs {source} split into a program and its arguments: the "
                    "client chooses options and even the program. Build the list from fixed "
                    "parts with '--' before client values",
                    severity=Severity.CRITICAL,
                    confidence=Confidence.HIGH,
                )

            def audit_split(part: str) -> None:
                ctx.report(
                    node,
                    f"{callee}() runs {part} split into a program and its arguments, which is "
                    "not provably constant; no request data was seen reaching it. Check who "
                    "writes that text: whoever can chooses the program and its options. Build "
                    "the list from fixed parts with '--' before other values",
                    severity=Severity.LOW,
                    confidence=Confidence.LOW,
                )

            OriginReport(node, ctx, request=report_split, audit=audit_split).run([text])
