"""Security: temporary file names reserved without creating the file (SEC022)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, keyword_value

# -- SEC022 ------------------------------------------------------------------------------------

_PRIVATE_DIRECTORY_MAKERS = frozenset({"tempfile.mkdtemp", "tempfile.TemporaryDirectory"})
_PIPE_NAMESPACE = "\\\\.\\pipe\\"
# Calls that create the path themselves and fail when it exists (a socket's bind, mkfifo).
_EXCLUSIVE_CREATORS = frozenset({"bind", "mkfifo", "mknod"})


def _created_exclusively(call: ast.Call, ctx: PythonContext) -> str | None:
    """The name ``call`` returns is only ever used by a call that creates the path and fails
    when it exists (``sock.bind(path)``, ``os.mkfifo(path)``): the creator's name."""
    parent = ctx.parent(call)
    if not (
        isinstance(parent, ast.Assign)
        and len(parent.targets) == 1
        and isinstance(parent.targets[0], ast.Name)
    ):
        return None
    name = parent.targets[0].id
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    creator: str | None = None
    for node in ast.walk(scope):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        if isinstance(first, ast.Name) and first.id == name:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in _EXCLUSIVE_CREATORS:
                return None
            creator = called
    return creator


def _private_directory(expr: ast.expr | None, ctx: PythonContext) -> bool:
    """``dir=`` names a directory this process just created for itself (``mkdtemp()``):
    nobody else can create entries in it, so the race has no other party."""
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id) or expr
    if isinstance(expr, ast.Call):
        return (ctx.qualname(expr.func) or "") in _PRIVATE_DIRECTORY_MAKERS
    return False


@python_rule(
    code="SEC022",
    name="insecure-temp-file-name",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="tempfile.mktemp() returns a name without creating the file (race, symlink attack)",
    calls=("tempfile.mktemp",),
    cwe=377,
    fix="Create the file atomically: tempfile.NamedTemporaryFile(delete=False) or mkstemp().",
)
def insecure_temp_file_name(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `tempfile.mktemp()`, deprecated since Python 2.3: it returns a file name that did not
    exist when it was chosen, and creates nothing. Reported low when the name is only used by
    a call that creates the path and fails if it exists (a socket's `bind()`, `os.mkfifo()`),
    or when `dir=` is a directory the process just made for itself (`tempfile.mkdtemp()`):
    nobody else can race it there. Names in the Windows named-pipe namespace (a `prefix=`
    starting with the pipe prefix) are not files and are not reported. Test files are skipped.

    ## Why it breaks production
    Between choosing the name and opening it, another process on the machine can create that
    path -- in a shared `/tmp`, as a symlink to a file the service may write (its own
    configuration, a credentials file). The service then overwrites or reads the attacker's
    file with its own permissions. Two workers can also be handed the same name and write
    over each other's data.

    ## Example
    ```python
    path = tempfile.mktemp(suffix=".pdf")
    with open(path, "wb") as out:
        out.write(render_invoice(order))
    ```

    ## Use instead
    ```python
    with tempfile.NamedTemporaryFile(suffix=".pdf", delete=False) as out:
        out.write(render_invoice(order))
        path = out.name
    ```
    """
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    prefix = constant_str(keyword_value(node, "prefix")) or ""
    if prefix.lower().startswith(_PIPE_NAMESPACE):
        return  # a Windows named pipe: creating an existing one fails, nothing is overwritten
    exclusive = _created_exclusively(node, ctx)
    if exclusive is not None:
        ctx.report(
            node,
            f"tempfile.mktemp() returns a name without creating anything; {exclusive}() fails "
            "when the path already exists, so a name taken first is refused, not overwritten -- "
            "but the service then fails. Create it in a tempfile.mkdtemp() directory",
            severity=Severity.LOW,
            confidence=Confidence.MEDIUM,
        )
        return
    if _private_directory(keyword_value(node, "dir"), ctx):
        ctx.report(
            node,
            "tempfile.mktemp() returns a name without creating the file; in a directory this "
            "process created with mkdtemp() nobody else can take the name first, but "
            "NamedTemporaryFile(dir=...) or mkstemp(dir=...) says so without relying on it",
            severity=Severity.LOW,
            confidence=Confidence.MEDIUM,
        )
        return
    ctx.report(
        node,
        "tempfile.mktemp() returns a name without creating the file: another process can "
        "create that path first (a symlink to a file the service then overwrites) and two "
        "workers can get the same name. Use tempfile.NamedTemporaryFile(delete=False) or "
        "tempfile.mkstemp(), which create the file atomically",
    )
