"""Security audit tier for starting processes: a program found through the search path (SEC051)
and a program named by a value that is not provably fixed (SEC052).

Both complete the injection rules (SEC008 for shell command lines, SEC024 for argument lists):
those report request data reaching a command; these report what they leave out -- which binary
actually runs, and the program chosen by a whole string or by ``os.exec*``/``os.spawn*``."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str, keyword_value
from prodready.plugin.taint import report_deferred
from prodready.rules.security._input_origin import OriginReport

_SUBPROCESS = (
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
)
# A command line parsed by a shell whatever the call says.
_SHELL_LINES = (
    "os.system",
    "os.popen",
    "os.popen2",
    "os.popen3",
    "os.popen4",
    "popen2.popen2",
    "popen2.popen3",
    "popen2.popen4",
    "popen2.Popen3",
    "popen2.Popen4",
    "commands.getoutput",
    "commands.getstatusoutput",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
    "asyncio.subprocess.create_subprocess_shell",
)
_EXEC_VARARGS = ("asyncio.create_subprocess_exec", "asyncio.subprocess.create_subprocess_exec")
# The program replaces or is started beside this process, without a shell.
_OS_EXEC = (
    *(f"os.exec{suffix}" for suffix in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
    *(f"os.spawn{suffix}" for suffix in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
    "os.startfile",
    "os.posix_spawn",
    "os.posix_spawnp",
)
_ALL_STARTS = (*_SUBPROCESS, *_SHELL_LINES, *_EXEC_VARARGS, *_OS_EXEC)
# Words a POSIX shell (dash, bash) runs itself: under a shell no binary is looked up for them.
_SHELL_BUILTINS = frozenset(
    {"cd", "export", "set", "unset", "source", ".", ":", "exit", "ulimit", "umask", "alias"}
    | {"eval", "exec", "trap", "shift", "readonly", "wait", "type", "command", "true", "false"}
    | {"echo", "printf", "test", "[", "pwd", "kill", "read", "getopts", "hash", "times"}
)


def _is_falsy_display(expr: ast.expr | None) -> bool:
    """``shell=False``/``0``/``None``/``[]``/``{}``/``{**{}}``: a value that is false as written."""
    if expr is None:
        return True
    if isinstance(expr, ast.Constant):
        return not expr.value
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return not expr.elts
    if isinstance(expr, ast.Dict):
        return all(
            key is None and _is_falsy_display(value)
            for key, value in zip(expr.keys, expr.values, strict=True)
        )
    return False


def is_truthy_display(expr: ast.expr | None) -> bool:
    """A value that is true as written: a true constant, a non-empty display, a lambda or a
    generator, an f-string with fixed text in it (``f"{x=}"`` always starts with ``x=``)."""
    if expr is None:
        return False
    if isinstance(expr, ast.Constant):
        return bool(expr.value)
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return any(not isinstance(element, ast.Starred) for element in expr.elts)
    if isinstance(expr, ast.Dict):
        return any(key is not None for key in expr.keys)
    if isinstance(expr, ast.Lambda | ast.GeneratorExp):
        return True
    if isinstance(expr, ast.JoinedStr):
        # fixed text (``f"{x=}"`` starts with ``x=``) or a formatted constant (``f"{b''}"``)
        return any(
            (isinstance(part, ast.Constant) and part.value)
            or (
                isinstance(part, ast.FormattedValue)
                and isinstance(part.value, ast.Constant)
                and str(part.value.value)
            )
            for part in expr.values
        )
    return False


def _bound(expr: ast.expr | None, ctx: PythonContext) -> ast.expr | None:
    """A name followed to the value it was last bound to; ``(c := value)`` to its value."""
    if isinstance(expr, ast.NamedExpr):
        return expr.value
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if isinstance(value, ast.expr):
            return value
    return expr


def _shell_runs(node: ast.Call, name: str, ctx: PythonContext) -> bool | None:
    """True when a shell parses the command, False when no shell does, None when the call's
    ``shell=`` is neither provably true nor provably false."""
    if name in _SHELL_LINES:
        return True
    if name not in _SUBPROCESS:
        return False
    shell = keyword_value(node, "shell")
    shell = _bound(shell, ctx) if shell is not None else None
    if is_truthy_display(shell):
        return True
    return False if _is_falsy_display(shell) else None


def _program_argument(node: ast.Call, name: str) -> ast.expr | None:
    """The argument naming the program: the path of ``os.exec*``/``os.spawn*`` (after the
    mode of ``os.spawn*`` when one is given), the command of the others."""
    if name in _EXEC_VARARGS:
        return node.args[0] if node.args else None
    if name.startswith("os.spawn") and len(node.args) > 1:
        return node.args[1]
    if name in ("os.posix_spawn", "os.posix_spawnp"):
        return argument(node, 0, "path")
    return argument(node, 0, "args") or argument(node, 0, "cmd") or argument(node, 0, "path")


def _program_word(command: ast.expr | None, shell: bool | None, ctx: PythonContext) -> str | None:
    """The program a fixed command names: the first item of an argument list, the first word
    of a command line a shell parses, a whole string run without a shell."""
    command = _bound(command, ctx)
    if isinstance(command, ast.List | ast.Tuple):
        if not command.elts or isinstance(command.elts[0], ast.Starred):
            return None
        command = _bound(command.elts[0], ctx)
    text = constant_str(command)
    if text is None:
        return None
    text = text.strip()
    if shell is not False:
        words = text.split()
        text = words[0] if words else ""
        if text in _SHELL_BUILTINS or "=" in text:
            return None  # a builtin, or ``VAR=value cmd``
    return text or None


def _bound_in_module(func: ast.expr, ctx: PythonContext) -> bool:
    """The name the call starts from is imported or assigned somewhere the call can see it:
    ``subprocess.run`` in a module that never imports ``subprocess`` fails with NameError
    before it starts anything."""
    root = func
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    scope = ctx.function
    while scope is not None:
        if root.id in scope.bindings:
            return True
        scope = scope.parent
    if root.id not in ctx.facts.bindings:
        return False
    if ctx.function is not None:
        return True  # the module has run to its end before a function is called
    # module-level code runs top to bottom: the import must come first
    line = getattr(func, "lineno", 0)
    return any(
        statement.lineno < line and root.id in _names_bound(statement)
        for statement in ctx.tree.body
    )


def _names_bound(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    if isinstance(statement, ast.Assign):
        return {t.id for t in statement.targets if isinstance(t, ast.Name)}
    if isinstance(statement, ast.If | ast.Try):
        inner = [*statement.body, *statement.orelse]
        if isinstance(statement, ast.Try):
            inner += [s for handler in statement.handlers for s in handler.body]
        return {name for s in inner for name in _names_bound(s)}
    return set()


def _bare_name(program: str) -> bool:
    return "/" not in program and "\\" not in program and not program.startswith(("~", "$"))


@python_rule(
    code="SEC051",
    name="program-found-through-path",
    category=Category.SECURITY,
    severity=Severity.LOW,
    confidence=Confidence.LOW,
    summary="A process started by a bare program name, found through PATH or the working dir",
    calls=_ALL_STARTS,
    cwe=426,
    fix='Name the binary by its full path: subprocess.run(["/usr/bin/git", "status"]).',
)
def program_found_through_path(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Audit tier (low severity, low confidence). Flags a process started with a fixed program
    given by a bare name -- `subprocess.run(["convert", ...])`, `os.system("tar czf ...")`,
    `os.execvp("worker", ...)`, `os.spawnlp(os.P_WAIT, "rsync", ...)`,
    `asyncio.create_subprocess_exec("ffmpeg", ...)`: the binary that runs is whichever file of
    that name comes first on the search path (or, for `os.execv`/`os.spawnv`, in the working
    directory). Full paths, `sys.executable`, the words a shell runs itself when a shell parses
    the command (`cd`, `echo`, `true`, `test`) and commands the
    scan cannot read are not reported here; a program named by data is SEC052's.

    ## Why it breaks production
    Which binary runs depends on the environment the service starts in, not on the code: a
    writable directory early on `PATH` (a virtualenv `bin/`, a shared `/usr/local/bin`, the
    working directory on Windows) lets whoever can write there replace `convert` or `git` with
    their own program, run with the service's credentials. It also breaks quietly when an
    image moves the tool or ships a different version first on the path.

    ## Example
    ```python
    def make_thumbnail(source: str, target: str) -> None:
        subprocess.run(["convert", source, "-resize", "200x200", target], check=True)
    ```

    ## Use instead
    ```python
    CONVERT = shutil.which("convert", path="/usr/bin") or "/usr/bin/convert"

    def make_thumbnail(source: str, target: str) -> None:
        subprocess.run([CONVERT, source, "-resize", "200x200", target], check=True)
    ```
    """
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if not _bound_in_module(node.func, ctx):
        return
    shell = _shell_runs(node, name, ctx)
    program = _program_word(_program_argument(node, name), shell, ctx)
    if program is None or not _bare_name(program):
        return
    callee = name.rsplit(".", 1)[-1]
    where = "the working directory" if name.startswith(("os.execv", "os.execl")) else "PATH"
    if name.endswith(("p", "pe")) and name.startswith(("os.exec", "os.spawn")):
        where = "PATH"
    ctx.report(
        node,
        f"{callee}() starts `{program}` by its bare name: the binary that runs is the first "
        f"file of that name found through {where} when the service starts, not one the code "
        "chooses -- whoever can write to a directory searched first replaces it. Give the "
        "full path (or resolve it once with shutil.which() against a fixed path)",
    )


@python_rule(
    code="SEC052",
    name="program-named-by-data",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    summary="A process whose program (a whole command string, os.exec*/os.spawn*) comes from data",
    calls=(*_SUBPROCESS, *_OS_EXEC),
    nodes=(ModuleEnd,),
    cwe=78,
    fix="Name the program in the code, or map the input to one of a fixed set of programs.",
)
def program_named_by_data(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `subprocess.run/call/check_output/Popen` given a whole string without a shell (the
    string is the program's name), and `os.exec*`, `os.spawn*`, `os.posix_spawn` and
    `os.startfile`, when the program comes from request data -- followed through local
    variables and helpers of the module. Argument lists are SEC024's and shell command lines
    SEC008's.
    Audit tier: a program no request data is seen reaching but that is not provably constant
    (a helper's parameter, `input()`, `sys.argv`, a call the scan cannot see into) is reported
    at low severity with low confidence, naming the value to check.

    ## Why it breaks production
    Whoever chooses the program's name runs any binary on the server -- `/bin/sh`, an uploaded
    file, `python` -- with the service's permissions. `os.startfile` opens a document with the
    program registered for its type, so a client-chosen path runs a client-chosen program.

    ## Example
    ```python
    @app.post("/tools/run")
    def run_tool(tool: str):
        return {"code": subprocess.call(tool)}
    ```

    ## Use instead
    ```python
    TOOLS = {"lint": "/usr/bin/ruff", "format": "/usr/bin/black"}

    @app.post("/tools/run")
    def run_tool(tool: str):
        return {"code": subprocess.call([TOOLS[tool], "--check", "."])}
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if not _bound_in_module(node.func, ctx):
        return
    command = _program_argument(node, name)
    if command is None or isinstance(command, ast.Starred):
        return
    if name in _SUBPROCESS:
        if _shell_runs(node, name, ctx) is True:
            return  # a command line: SEC008's
        bound = _bound(command, ctx)
        if isinstance(bound, ast.List | ast.Tuple | ast.BinOp | ast.ListComp):
            return  # an argument list: SEC024's
        if isinstance(bound, ast.Call):
            method = bound.func.attr if isinstance(bound.func, ast.Attribute) else ""
            if method == "split" or (ctx.qualname(bound.func) or "").endswith("split"):
                return  # a command line split into arguments: SEC024's
        if isinstance(command, ast.NamedExpr) and bound is not None:
            command = bound
    if _fixed_interpreter(command, ctx):
        return
    callee = name.rsplit(".", 1)[-1]

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{callee}() runs a program named by {source}: the client chooses what runs on "
            "the server. Map the request to a fixed program from an allow-list",
        )

    def audit(part: str) -> None:
        ctx.report(
            node,
            f"{callee}() runs a program named by {part}, which is not provably constant; no "
            "request data was seen reaching it. Check who chooses it: whoever can runs any "
            "program on the server. Name the program in the code (or pick it from a fixed "
            "allow-list)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )

    OriginReport(node, ctx, request=report, audit=audit).run([command])


def _fixed_interpreter(command: ast.expr, ctx: PythonContext) -> bool:
    """``sys.executable``: the interpreter running this process."""
    return ctx.qualname(command) == "sys.executable"


# Programs whose options an attacker can smuggle in as file names: ``--reference=...`` for
# chown/chmod/chgrp, ``--checkpoint-action=exec=...`` for tar, ``-e sh ...`` for rsync.
_OPTION_PRONE = frozenset({"chown", "chgrp", "chmod", "tar", "rsync"})
_COMMAND_SEPARATORS = re.compile(r"&&|\|\||[;|&\n]")


def _globbed_programs(line: str) -> list[str]:
    """The option-prone programs of a shell command line that get an unquoted ``*``."""
    found: list[str] = []
    for command in _COMMAND_SEPARATORS.split(line):
        words = command.split()
        if not words or "*" not in command.replace("'*'", "").replace('"*"', ""):
            continue
        program = words[0].rsplit("/", 1)[-1]
        if program in _OPTION_PRONE:
            found.append(program)
    return found


@python_rule(
    code="SEC060",
    name="shell-glob-into-options",
    category=Category.SECURITY,
    severity=Severity.LOW,
    confidence=Confidence.LOW,
    summary="Shell command line passing a * glob to chown/chmod/chgrp/tar/rsync",
    calls=(*_SUBPROCESS, *_SHELL_LINES),
    cwe=155,
    fix='End the options before the glob and anchor it: "chown app: -- ./*", or glob in Python.',
)
def shell_glob_into_options(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Audit tier (low severity, low confidence). Flags a command line parsed by a shell
    (`os.system`, `os.popen`, `subprocess.run(..., shell=True)`) in which `chown`, `chgrp`,
    `chmod`, `tar` or `rsync` gets an unquoted `*` glob. Argument lists without a shell
    (no glob expansion) are not reported. Whether anyone else can create files in the
    globbed directory cannot be seen from the code, hence the tier.

    ## Why it breaks production
    The shell expands `*` to the file names in the directory, and the program reads a name
    that starts with `-` as an option: a file named `--checkpoint-action=exec=sh x.sh` makes
    `tar cf backup.tar *` run a script, `--reference=evil` makes `chown -R app *` copy an
    attacker's ownership. In an upload or shared directory, creating a file is enough to run
    code with the service's (often root's) permissions.

    ## Example
    ```python
    os.system("cd /srv/uploads && tar czf /backups/uploads.tgz *")
    ```

    ## Use instead
    ```python
    subprocess.run(["tar", "czf", "/backups/uploads.tgz", "-C", "/srv/uploads", "."], check=True)
    ```
    """
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if not _bound_in_module(node.func, ctx) or _shell_runs(node, name, ctx) is not True:
        return
    command = _bound(_program_argument(node, name), ctx)
    if isinstance(command, ast.List | ast.Tuple):
        # with a shell, only the first item is the command line
        command = _bound(command.elts[0], ctx) if command.elts else None
    line = constant_str(command) if command is not None else None
    programs = _globbed_programs(line) if line else []
    if programs:
        ctx.report(
            node,
            f"the shell expands `*` into file names for `{programs[0]}`, which reads a name "
            "starting with '-' as an option (--checkpoint-action=exec=..., --reference=...): "
            "whoever can create a file in that directory may run code or change ownership "
            "with the service's permissions -- not provable here. Put '--' before the glob "
            "and anchor it (./*), or pass an argument list without a shell",
        )
