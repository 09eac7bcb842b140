"""Security: files and directories made writable by everyone, secrets readable by everyone
(SEC029)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant, constant_str, name_words

# -- SEC029 ------------------------------------------------------------------------------------

_STAT_BITS = {
    "S_ISUID": 0o4000,
    "S_ISGID": 0o2000,
    "S_ISVTX": 0o1000,
    "S_IRWXU": 0o700,
    "S_IRUSR": 0o400,
    "S_IWUSR": 0o200,
    "S_IXUSR": 0o100,
    "S_IREAD": 0o400,
    "S_IWRITE": 0o200,
    "S_IEXEC": 0o100,
    "S_IRWXG": 0o070,
    "S_IRGRP": 0o040,
    "S_IWGRP": 0o020,
    "S_IXGRP": 0o010,
    "S_IRWXO": 0o007,
    "S_IROTH": 0o004,
    "S_IWOTH": 0o002,
    "S_IXOTH": 0o001,
}
_OTHERS_WRITE = 0o002
_GROUP_ALL = 0o070  # read, write and execute for the group
_OTHERS_READ = 0o004
_STICKY = 0o1000
# Calls that set a mode exactly -> the position and keyword of the mode.
_EXACT_MODES = {
    "os.chmod": (1, "mode"),
    "os.fchmod": (1, "mode"),
    "os.lchmod": (1, "mode"),
    "pathlib.Path.chmod": (0, "mode"),
    "pathlib.Path.lchmod": (0, "mode"),
}
# Calls that create a file or directory with a mode the process umask then narrows.
_CREATION_MODES = {
    "os.open": (2, "mode"),
    "os.mkdir": (1, "mode"),
    "os.makedirs": (1, "mode"),
    "os.mkfifo": (1, "mode"),
    "pathlib.Path.mkdir": (0, "mode"),
    "pathlib.Path.touch": (0, "mode"),
}
_DIRECTORY_MAKERS = frozenset({"os.mkdir", "os.makedirs", "pathlib.Path.mkdir"})
_SECRET_WORDS = frozenset(
    {"key", "keys", "pem", "secret", "secrets", "token", "tokens", "credential", "credentials"}
    | {"password", "passwords", "private", "keyfile", "keystore", "netrc", "pgpass", "shadow"}
    | {"htpasswd", "wallet", "rsa", "ed25519", "env", "kubeconfig", "p12", "pfx"}
)
# /etc/passwd is world-readable by design (the hashes live in /etc/shadow).
_PUBLIC_WORDS = frozenset({"pub", "public", "cache", "static", "log", "logs", "passwd"})


def _bits(expr: ast.expr | None, ctx: PythonContext, depth: int = 0) -> int | None:
    """The permission bits an expression sets for certain: an integer, ``stat.S_*``, a name
    bound to one, and ``|``/``&``/``^`` of them. In ``mode | 0o002`` with ``mode`` unknown,
    the known operand's bits are set whatever ``mode`` is."""
    if expr is None or depth > 4:
        return None
    if isinstance(expr, ast.Constant):
        value = constant(expr)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(expr, ast.Attribute | ast.Name):
        name = ctx.qualname(expr) or ""
        if name.startswith("stat.") and name[5:] in _STAT_BITS:
            return _STAT_BITS[name[5:]]
        if isinstance(expr, ast.Name):
            return _bits(ctx.value_of(expr.id), ctx, depth + 1)
        return None
    if isinstance(expr, ast.BinOp):
        left = _bits(expr.left, ctx, depth + 1)
        right = _bits(expr.right, ctx, depth + 1)
        if isinstance(expr.op, ast.BitOr):
            if left is None and right is None:
                return None
            return (left or 0) | (right or 0)
        if left is None or right is None:
            return None
        if isinstance(expr.op, ast.BitAnd):
            return left & right
        if isinstance(expr.op, ast.BitXor):
            return left ^ right
        if isinstance(expr.op, ast.Add):
            return left + right
    return None


def _callee(node: ast.Call, ctx: PythonContext) -> tuple[str, int, str] | None:
    """The mode-setting call: (its kind, the position of the mode, its keyword). Any other
    object's one-argument ``chmod(mode)`` is a path's, a two-argument one an SFTP/FTP
    client's ``chmod(path, mode)``."""
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    if callee in _EXACT_MODES:
        return ("exact", *_EXACT_MODES[callee])
    if callee in _CREATION_MODES:
        return ("creation", *_CREATION_MODES[callee])
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "chmod" and not callee.startswith("os."):
        return ("exact", 1 if len(node.args) == 2 else 0, "mode")
    return None


def _secret_path(path: ast.expr | None, ctx: PythonContext) -> str | None:
    """A word of the path (its text, or the names it is built from) saying it holds a secret
    -- a private key, a token, credentials -- and none saying it is public."""
    if path is None:
        return None
    words: set[str] = set()
    for part in ast.walk(path):
        if isinstance(part, ast.Name):
            words.update(name_words(part.id))
            bound = ctx.value_of(part.id)
            text = constant_str(bound)
            if text:
                words.update(re.split(r"[^a-z0-9]+", text.lower()))
        elif isinstance(part, ast.Attribute):
            words.update(name_words(part.attr))
        elif isinstance(part, ast.Constant) and isinstance(part.value, str):
            words.update(re.split(r"[^a-z0-9]+", part.value.lower()))
    if words & _PUBLIC_WORDS:
        return None
    found = sorted(words & _SECRET_WORDS)
    return found[0] if found else None


def _reads_umask(node: ast.Call, ctx: PythonContext) -> bool:
    """``old = os.umask(0); os.umask(old)``: the only way to read the umask is to set one and
    put the old one back -- the mask set is never in force while files are created."""
    statement = ctx.parent(node)
    if not (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return False
    saved = statement.targets[0].id
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    return any(
        isinstance(call, ast.Call)
        and call is not node
        and (ctx.qualname(call.func) or "") == "os.umask"
        and any(isinstance(arg, ast.Name) and arg.id == saved for arg in call.args)
        for call in ast.walk(scope)
    )


@python_rule(
    code="SEC029",
    name="permissive-file-mode",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="File or directory made writable by every local user, or a secret made readable",
    calls=(*_EXACT_MODES, *_CREATION_MODES, "*.chmod", "os.umask"),
    cwe=732,
    fix="Grant only the owner (0o600 for files, 0o700 for directories), or the owner and a "
    "group that needs it (0o640/0o750).",
)
def permissive_file_mode(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags permission bits that let every local account change a file: `os.chmod`, `os.fchmod`,
    `Path.chmod` and an SFTP client's `chmod(path, mode)` with the others-write bit set
    (`0o777`, `0o666`, `stat.S_IWOTH`, also when OR-ed with an unknown mode), and
    `os.umask()` with a mask that keeps others-write (`os.umask(0)`; not the idiom that reads
    the umask, `old = os.umask(0); os.umask(old)`). A mode that lets
    everyone read a file whose path names a secret (a private key, a token, credentials,
    `.env`) is reported medium, also when it is the mode a file is created with (`os.open`,
    `Path.touch`): the usual umask (022) keeps the read bit. (A new directory's read bit only
    lists names: `os.makedirs(KEYS_DIR, 0o755)` is not reported.)
    Group read-write-execute set exactly (`os.chmod(path, 0o775)`) is reported low, confidence
    low: a shared group is often deliberate (group-write alone, 0o664, is not reported).
    Others-write in a creation mode is reported low, confidence low: the process umask
    normally removes it, which the rule cannot see. A sticky directory (`0o1777`, like /tmp)
    is not reported. Test files are skipped.

    ## Why it breaks production
    On a shared host, in a container running several processes, or after any foothold, a
    world-writable script, configuration file, upload directory or unix socket lets another
    account rewrite what the service executes or trusts -- code injection and privilege
    escalation without touching the service itself. A world-readable private key or token
    file hands the credential to every process on the machine. `os.umask(0)` makes every
    file the process creates afterwards world-writable.

    ## Example
    ```python
    os.makedirs(EXPORT_DIR, exist_ok=True)
    os.chmod(EXPORT_DIR, 0o777)  # so the worker can write too
    ```

    ## Use instead
    ```python
    os.makedirs(EXPORT_DIR, mode=0o770, exist_ok=True)  # owner and the shared group
    shutil.chown(EXPORT_DIR, group="exports")
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    if callee == "os.umask":
        mask = _bits(argument(node, 0, "mask"), ctx)
        if mask is not None and not mask & _OTHERS_WRITE and not _reads_umask(node, ctx):
            ctx.report(
                node,
                f"umask {mask:#o} keeps the others-write bit: every file and directory the "
                "process creates afterwards can be changed by any local account. Use a mask "
                "of at least 0o022 (0o077 for a process that writes secrets)",
                severity=Severity.MEDIUM,
            )
        return
    kind = _callee(node, ctx)
    if kind is None:
        return
    what, position, keyword = kind
    bits = _bits(argument(node, position, keyword), ctx)
    if bits is None:
        return
    path = argument(node, 0, "path") if position > 0 else None
    if path is None and isinstance(node.func, ast.Attribute):
        path = node.func.value  # ``Path(...).chmod(mode)``: the receiver is the path
    if bits & _OTHERS_WRITE and not bits & _STICKY:
        if what == "exact":
            ctx.report(
                node,
                f"mode {bits:#o} lets every local account modify this path: another process "
                "or user can rewrite what the service reads or runs. Grant the owner (0o600/"
                "0o700) or the owner and a group (0o660/0o770)",
            )
        else:
            ctx.report(
                node,
                f"created with mode {bits:#o}, writable by every local account unless the "
                "process umask removes it (it usually does; not with umask 0): pass the mode "
                "the path needs (0o600/0o700)",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )
        return
    if what == "exact" and bits & _GROUP_ALL == _GROUP_ALL and not bits & _STICKY:
        ctx.report(
            node,
            f"mode {bits:#o} lets every member of the file's group modify and run this path: "
            "whoever shares the group (other services, deploy users) can rewrite what the "
            "service reads or runs. Reported at low severity: a shared group is often "
            "deliberate; grant the owner alone (0o600/0o700) where it is not",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    if callee in _DIRECTORY_MAKERS:
        return  # a directory's read bit lists names; the files in it keep their own modes
    secret = _secret_path(path, ctx)
    if bits & _OTHERS_READ and secret is not None:
        created = "created " if what == "creation" else ""
        ctx.report(
            node,
            f"a path that holds a secret ({secret}) {created}with mode {bits:#o}: every "
            "local account and process can read it. Use 0o600 (0o700 for a directory)",
            severity=Severity.MEDIUM,
        )
