"""State: files kept on the container's local disk by request handlers (STA004) and by
the helpers that save into a module's storage directory (STA006)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    argument,
    constant_str,
    dotted,
    env_lookup,
    is_script,
    loaded_names,
)

# -- STA004 ---------------------------------------------------------------------------------------

_WRITE_MODE = re.compile(r"[wax+]")
_SCRATCH_HINTS = ("tmp", "temp", "/dev/", "devnull", "buffer", "bytesio")
# Calls that consume a file written earlier in the same handler (scratch, not state).
_CONSUMERS = frozenset(
    {"send_file", "send_from_directory", "FileResponse", "remove", "unlink", "rmtree"}
    | {"upload_file", "upload_fileobj", "read_text", "read_bytes", "run", "call", "check_call"}
    | {"check_output", "Popen", "load_workbook", "read_csv", "StreamingResponse", "serve"}
)
_UPLOAD_TYPES = (
    "werkzeug.datastructures.FileStorage",
    "werkzeug.FileStorage",
    "django.core.files.storage.FileSystemStorage",
)


@dataclass(slots=True)
class _FileState:
    writes: list[tuple[ast.Call, str | None, str]] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)


def _scratch(path: ast.AST | None, ctx: PythonContext) -> bool:
    if path is None:
        return True
    text = ctx.segment(path).lower()
    for name in sorted(loaded_names(path)):  # a path built on a temporary directory's name
        value = ctx.value_of(name)
        if value is not None:
            text += " " + ctx.segment(value).lower()
    return any(hint in text for hint in _SCRATCH_HINTS)


def _upload_receiver(expr: ast.AST, ctx: PythonContext) -> bool:
    """``request.files["f"]``, ``request.files.get("f")`` or a name bound to one."""
    if isinstance(expr, ast.Name):
        kind = ctx.qualname(expr) or ""
        if kind.startswith(_UPLOAD_TYPES):
            return True
        value = ctx.value_of(expr.id)
        if value is None:
            return False
        expr = value
    if isinstance(expr, ast.Subscript):
        expr = expr.value
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr not in {"get", "getlist"}:
            return ctx.qualname(expr.func) in _UPLOAD_TYPES
        expr = expr.func.value
    else:
        return False
    return (dotted(expr) or "").endswith(("request.files", "request.FILES"))


# Library calls that create a file at the path they are given (a PDF canvas, a chart, a data
# frame export), by the keyword that path can also be passed as.
_PATH_WRITERS = {
    "Canvas": "filename",
    "SimpleDocTemplate": "filename",
    "write_pdf": "target",
    "savefig": "fname",
    "to_csv": "path_or_buf",
    "to_excel": "excel_writer",
    "to_parquet": "path",
}
# The writers above called by their imported name (``canvas.Canvas`` resolves to these).
_PATH_WRITER_CLASSES = (
    "reportlab.pdfgen.canvas.Canvas",
    "reportlab.platypus.SimpleDocTemplate",
    "reportlab.platypus.doctemplate.SimpleDocTemplate",
    "matplotlib.pyplot.savefig",
)
# Copies whose second argument is the file written.
_COPIES_TO = frozenset(
    {"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.move"}
    | {"urllib.request.urlretrieve"}
)


# Calls that write files and calls that consume them.
_FILE_CALLS = (
    "builtins.open",
    "io.open",
    "pathlib.Path.open",
    "aiofiles.open",
    "aiofiles.threadpool.open",
    "anyio.open_file",
    "*.write_text",
    "*.write_bytes",
    "shelve.open",
    "sqlite3.connect",
    "*.save",
    *(f"*.{name}" for name in sorted(_PATH_WRITERS)),
    *_PATH_WRITER_CLASSES,
    *sorted(_COPIES_TO),
    *(f"*.{name}" for name in sorted(_CONSUMERS)),
    "flask.send_file",
    "flask.send_from_directory",
    "fastapi.responses.FileResponse",
    "starlette.responses.FileResponse",
    "django.http.FileResponse",
)


@python_rule(
    code="STA004",
    name="local-file-state-in-handler",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Request handler keeps data in files on the container's local disk",
    calls=_FILE_CALLS,
    nodes=(FunctionEnd,),
    fix="Store uploads and generated files in object storage (S3, GCS, Azure Blob) and state in "
    "the database; use tempfile only for scratch data deleted in the same request.",
)
def local_file_state_in_handler(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers that persist data on the local filesystem: `open(path, "w"/"a"/
    "wb"/...)`, `Path.write_text/write_bytes`, `shelve.open`, `sqlite3.connect("file.db")`,
    saving an upload with `request.files[...].save(path)` or `FileSystemStorage().save()`.
    Paths under `tempfile`/`/tmp`, and files the same handler then sends, uploads or deletes
    (scratch files) are not flagged.

    ## Why it breaks production
    Containers are disposable: a deploy, a reschedule or a crash replaces the filesystem and
    the files are gone. With two replicas behind a load balancer, a file written by one is
    invisible to the other, so the user who uploaded an avatar gets a 404 on the next request
    half the time. Disks also fill up, and read-only root filesystems make the write fail.

    ## Example
    ```python
    @app.post("/avatars")
    def upload_avatar():
        f = request.files["avatar"]
        f.save(os.path.join(UPLOAD_DIR, secure_filename(f.filename)))
        return {"ok": True}
    ```

    ## Use instead
    ```python
    @app.post("/avatars")
    def upload_avatar():
        f = request.files["avatar"]
        key = f"avatars/{current_user.id}/{uuid4()}"
        s3.upload_fileobj(f.stream, AVATAR_BUCKET, key)
        return {"key": key}
    ```
    """
    if ctx.route is None or ctx.function is None or ctx.facts.is_test:
        return
    state: _FileState = ctx.rule_state(_FileState)
    if isinstance(node, ast.Call):
        _file_call(node, ctx, state)
        return
    for call, key, what in state.writes:
        if key is not None and key in state.consumed:
            continue
        if _written_path(call, ctx) is not None:
            # A copy or a library writer names no storage by itself (a handler copies between
            # directories of its own data volume); STA006 judges it by the directory it is
            # rooted in.
            continue
        ctx.report(
            call,
            f"{what} writes to the container's local disk in a request handler: the file is "
            "lost when the container is replaced and missing on the other replicas. Store it "
            "in object storage (S3/GCS) or the database",
        )


# Functions that open a file by path (``aiofiles.open``/``anyio.open_file``: the async ones
# FastAPI and aiohttp code uses to save uploads), with ``shelve.open``.
_OPENERS = frozenset(
    {"builtins.open", "io.open", "pathlib.Path.open", "shelve.open", "aiofiles.open"}
    | {"anyio.open_file", "aiofiles.threadpool.open"}
)


def _written_path(call: ast.Call, ctx: PythonContext) -> ast.expr | None:
    """The path a copy or a library writer (a PDF canvas, a data frame export) creates."""
    if ctx.qualname(call.func) in _COPIES_TO:
        return call.args[1] if len(call.args) > 1 else None
    func = call.func
    attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return argument(call, 0, _PATH_WRITERS[attr]) if attr in _PATH_WRITERS else None


def _file_call(node: ast.Call, ctx: PythonContext, state: _FileState) -> None:
    name = ctx.call_name or ""
    func = node.func
    attr = func.attr if isinstance(func, ast.Attribute) else name.rsplit(".", 1)[-1]
    path: ast.AST | None = None
    what: str | None = None
    if name in _OPENERS:
        if name == "shelve.open":
            path, what = argument(node, 0, "filename"), "shelve.open()"
        else:
            index = 0 if name != "pathlib.Path.open" else None
            mode_index = 1 if name != "pathlib.Path.open" else 0
            mode = constant_str(argument(node, mode_index, "mode"))
            if mode is None or not _WRITE_MODE.search(mode):
                _consume(node, state)
                return
            path = argument(node, index, "file") if index is not None else func
            what = f'open(..., "{mode}")'
    elif name == "sqlite3.connect":
        database = argument(node, 0, "database")
        literal = constant_str(database)
        if literal is None or literal == ":memory:" or literal.startswith("file::memory"):
            return
        path, what = database, "sqlite3.connect()"
    elif attr in {"write_text", "write_bytes"} and isinstance(func, ast.Attribute):
        receiver = func.value
        kind = ctx.qualname(receiver) or ""
        bound = ctx.value_of(receiver.id) if isinstance(receiver, ast.Name) else None
        joined = isinstance(bound, ast.BinOp) and isinstance(bound.op, ast.Div)
        if not (kind.startswith("pathlib.") or isinstance(receiver, ast.BinOp) or joined):
            return
        path, what = receiver, f"{attr}()"
    elif attr == "save" and isinstance(func, ast.Attribute) and node.args:
        if not _upload_receiver(func.value, ctx):
            return
        path, what = node.args[-1] if len(node.args) == 1 else node.args[0], "saving the upload"
    elif name in _COPIES_TO and len(node.args) > 1:
        path, what = node.args[1], f"{name}()"
    elif attr in _PATH_WRITERS and isinstance(func, ast.Attribute | ast.Name):
        path = argument(node, 0, _PATH_WRITERS[attr])
        if path is None:
            return
        what = f"{attr}()"
    else:
        _consume(node, state)
        return
    if _scratch(path, ctx):
        return
    key = path.id if isinstance(path, ast.Name) else None
    if isinstance(path, ast.Attribute) and isinstance(path.value, ast.Name):
        key = path.value.id
    state.writes.append((node, key, what))


def _consume(node: ast.Call, state: _FileState) -> None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in _CONSUMERS and name != "open":
        return
    for value in [*node.args, *(k.value for k in node.keywords)]:
        state.consumed |= loaded_names(value)
    if isinstance(func, ast.Attribute):
        state.consumed |= loaded_names(func.value)


# -- STA006 ---------------------------------------------------------------------------------------

# What a directory of files kept for later holds (its name or its path says so).
_STORAGE_WORDS = (
    "upload",
    "attachment",
    "media",
    "export",
    "report",
    "avatar",
    "document",
    "storage",
    "invoice",
    "receipt",
    "image",
    "photo",
    "recording",
    "archive",
    "userfiles",
    "user_files",
)
_NOT_STORAGE_WORDS = ("tmp", "temp", "cache", "log", "static", "template", "fixture", "test")


def _storage_directory(name: str, value: ast.expr, ctx: PythonContext) -> bool:
    """A module-level name for a directory of kept files on the local disk: a path literal (or
    an environment lookup defaulting to one, a ``Path``, an ``os.path.join``) whose name or
    text names stored files (uploads, attachments, exports...)."""
    literals = [
        node.value
        for node in ast.walk(value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    if not literals or any("://" in text for text in literals):
        return False  # an URL or a bucket name is not the local disk
    text = (name + " " + ctx.segment(value)).lower()
    if any(word in text for word in _NOT_STORAGE_WORDS):
        return False
    return any(word in text for word in _STORAGE_WORDS)


_BACKEND_SETTING = re.compile(r"STORAGE|BACKEND|DRIVER", re.IGNORECASE)
_LOCAL_BACKENDS = frozenset({"local", "filesystem", "file", "files", "disk", "fs", "localfs"})


def _local_backend_default(ctx: PythonContext) -> tuple[ast.stmt, str] | None:
    """A module-level storage switch read from the environment whose default is the local
    disk (``STORAGE_BACKEND = os.getenv("STORAGE_BACKEND", "local")``)."""
    for statement in ctx.tree.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0]
        if not isinstance(target, ast.Name) or not _BACKEND_SETTING.search(target.id):
            continue
        lookup = env_lookup(statement.value, ctx)
        default = constant_str(lookup.default) if lookup is not None else None
        if default is not None and default.lower() in _LOCAL_BACKENDS:
            return statement, target.id
    return None


@dataclass(slots=True)
class _Directories:
    """Module-level storage directories and the helper writes under each."""

    known: dict[str, ast.Assign | ast.AnnAssign] | None = None
    writes: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # dir -> (line, func)


def _directories(ctx: PythonContext, state: _Directories) -> dict[str, ast.Assign | ast.AnnAssign]:
    if state.known is None:
        state.known = {}
        for statement in ctx.tree.body:
            if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                for target in targets:
                    if isinstance(target, ast.Name) and _storage_directory(
                        target.id, statement.value, ctx
                    ):
                        state.known[target.id] = statement
    return state.known


def _rooted_in(
    path: ast.AST, directories: dict[str, ast.Assign | ast.AnnAssign], ctx: PythonContext
) -> str | None:
    """The storage directory a path is built from (directly or through locals)."""
    seen: set[str] = set()
    pending = list(loaded_names(path))
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        value = ctx.value_of(name)
        if name in directories and (value is None or value is directories[name].value):
            return name
        if value is not None and name not in ctx.facts.constants:
            pending.extend(loaded_names(value))
    return None


@python_rule(
    code="STA006",
    name="local-storage-directory",
    category=Category.STATE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Uploads, attachments or exports kept in a directory on the container's local disk",
    calls=_FILE_CALLS,
    nodes=(FunctionEnd, ModuleEnd),
    fix="Keep stored files in object storage (S3, GCS, Azure Blob, or Django's storage API "
    "configured with such a backend) and their keys in the database.",
)
def local_storage_directory(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a module-level directory for files the service keeps -- uploads, attachments,
    exports, reports, avatars, documents (`UPLOAD_DIR = "/srv/uploads"`,
    `Path(os.getenv("MEDIA_DIR", "media"))`) -- when a helper function of the module writes
    files under it (`open(os.path.join(UPLOAD_DIR, name), "wb")`, `Path.write_bytes`). It is
    reported at the directory's definition, once. Request handlers that write files themselves
    are STA004's; scratch files (temporary directories, files the same function deletes or
    sends on) are fine.

    ## Why it breaks production
    A container's filesystem is disposable and private: every deploy, reschedule or crash
    replaces it, and each replica has its own. A file saved by the helper on one replica is
    missing when the download request lands on another one, and all of them are gone after
    the next rollout. The disk also fills up, and a read-only root filesystem (a common
    hardening) makes every save fail.

    ## Example
    ```python
    ATTACHMENTS = Path(os.getenv("ATTACHMENTS_DIR", "/var/lib/helpdesk/attachments"))

    def store_attachment(ticket_id: int, name: str, content: bytes) -> str:
        target = ATTACHMENTS / str(ticket_id) / name
        target.write_bytes(content)
        return str(target)
    ```

    ## Use instead
    ```python
    def store_attachment(ticket_id: int, name: str, content: bytes) -> str:
        key = f"tickets/{ticket_id}/{uuid4()}"
        s3.put_object(Bucket=settings.ATTACHMENTS_BUCKET, Key=key, Body=content)
        return key
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    state: _Directories = ctx.rule_state(_Directories, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if is_script(ctx):
            return
        selector = _local_backend_default(ctx) if state.writes else None
        for name, writes in state.writes.items():
            line, function = writes[0]
            if selector is not None:
                # The default that makes the local disk production's storage is the cause.
                target, setting = selector
                ctx.report(
                    target,
                    f"{setting} defaults to local storage, so unless every deployment "
                    f"overrides it {function}() saves files under {name} on the container's "
                    f"disk (line {line}): they are lost when the container is replaced and "
                    "missing on every other replica. Default to object storage (S3/GCS), or "
                    "require the setting",
                )
                selector = None
                continue
            ctx.report(
                _directories(ctx, state)[name],
                f"{name} is a directory on the container's local disk and {function}() saves "
                f"files in it (line {line}): they are lost when the container is replaced and "
                "missing on every other replica. Store them in object storage (S3/GCS) and "
                "keep the keys in the database",
            )
        return
    scope = ctx.function
    if scope is None or ctx.route is not None:
        return
    pending: _FileState = ctx.rule_state(_FileState)
    if isinstance(node, ast.Call):
        _file_call(node, ctx, pending)
        return
    directories = _directories(ctx, state)
    if not directories:
        return
    for call, key, _ in pending.writes:
        if key is not None and key in pending.consumed:
            continue
        opener = ctx.qualname(call.func) in _OPENERS - {"pathlib.Path.open"}
        path = argument(call, 0, "file") if opener else _written_path(call, ctx)
        if path is None and isinstance(call.func, ast.Attribute):
            path = call.func.value
        directory = _rooted_in(path, directories, ctx) if path is not None else None
        if directory is not None:
            state.writes.setdefault(directory, []).append((call.lineno, scope.name))
