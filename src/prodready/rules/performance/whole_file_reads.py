"""Performance: uploads and files read whole into memory per request (PRF004, PRF005)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    constant_str,
    dotted,
    has_star_kwargs,
    is_none,
    keyword_value,
    string_fragments,
)
from prodready.rules.performance._shared import _short

# -- PRF004 ---------------------------------------------------------------------------------------

_UPLOAD_TYPES = (
    "fastapi.UploadFile",
    "fastapi.datastructures.UploadFile",
    "starlette.datastructures.UploadFile",
    "werkzeug.datastructures.FileStorage",
    "werkzeug.FileStorage",
    "django.core.files.uploadedfile.UploadedFile",
    "django.core.files.uploadedfile.InMemoryUploadedFile",
)
_SIZE_GUARDS = (
    "content_length",
    "content-length",
    ".size",
    "max_upload",
    "max_size",
    "max_bytes",
    "max_file",
    "size_limit",
    "max_content",
)

# Flask (werkzeug) answers 413 to a request whose body exceeds MAX_CONTENT_LENGTH before a
# view reads request.files. Django has no such cap for files: DATA_UPLOAD_MAX_MEMORY_SIZE
# leaves file uploads out of its count.
_BODY_LIMIT_KEY = "MAX_CONTENT_LENGTH"
FLASK_BODY_LIMIT = ProjectFact(
    "flask-max-content-length",
    "MAX_CONTENT_LENGTH is set: werkzeug refuses a request body larger than it (413) before a "
    "view reads request.files",
)
_FLASK_UPLOADS = ("files", "FileStorage")


def _sets_body_limit(tree: ast.Module) -> bool:
    """``app.config["MAX_CONTENT_LENGTH"] = n``, ``config.update(MAX_CONTENT_LENGTH=n)``,
    ``{"MAX_CONTENT_LENGTH": n}``, or ``MAX_CONTENT_LENGTH = n`` in a config module or class
    (``from_object``/``from_pyfile``), with ``n`` not None."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                key: str | None = None
                if isinstance(target, ast.Subscript):
                    key = constant_str(target.slice)
                elif isinstance(target, ast.Name):
                    key = target.id
                if key == _BODY_LIMIT_KEY and not is_none(node.value):
                    return True
        elif isinstance(node, ast.Call):
            value = keyword_value(node, _BODY_LIMIT_KEY)
            if value is not None and not is_none(value):
                return True
        elif isinstance(node, ast.Dict):
            for entry, entry_value in zip(node.keys, node.values, strict=True):
                if constant_str(entry) == _BODY_LIMIT_KEY and not is_none(entry_value):
                    return True
    return False


def _upload_source(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> str | None:
    """What kind of upload ``expr`` is: ``request.files[...]``, ``request.FILES.get(...)``,
    an ``UploadFile`` parameter (or its ``.file``)."""
    if isinstance(expr, ast.Attribute) and expr.attr in {"file", "stream"}:
        inner = _upload_source(expr.value, ctx, depth + 1)
        return inner
    if isinstance(expr, ast.Name):
        kind = ctx.qualname(expr) or ""
        if kind.startswith(_UPLOAD_TYPES):
            return kind.rsplit(".", 1)[-1]
        value = ctx.value_of(expr.id)
        if value is None or depth > 2:
            return None
        return _upload_source(value, ctx, depth + 1)
    if isinstance(expr, ast.Subscript):
        container = expr.value
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr != "get":
            return None
        container = expr.func.value
    else:
        return None
    text = dotted(container) or ""
    if text.endswith(("request.files", "request.FILES")):
        return text.rsplit(".", 1)[-1]
    return None


@python_rule(
    code="PRF004",
    name="upload-read-into-memory",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Whole uploaded file read into memory with no size limit",
    calls=("*.read",),
    nodes=(ModuleEnd,),
    fix="Stream the upload in chunks (read(1 << 20) in a loop, shutil.copyfileobj) and enforce "
    "a maximum size (MAX_CONTENT_LENGTH, DATA_UPLOAD_MAX_MEMORY_SIZE, a check on file.size).",
)
def upload_read_into_memory(node: ast.Call | ast.Module, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers that read an entire uploaded file into memory with `read()` and no
    size argument: Flask `request.files[...].read()`, Django `request.FILES[...].read()`,
    FastAPI `await file.read()` on an `UploadFile` parameter (or `file.file.read()`), when the
    handler checks no size (`content_length`, `file.size`, a `MAX_*` limit). A Flask upload
    is left alone when the project sets `MAX_CONTENT_LENGTH` (in `app.config`, a config
    object or module): werkzeug refuses a larger body before the view runs. Django's
    `DATA_UPLOAD_MAX_MEMORY_SIZE` does not count file uploads and protects nothing here.

    ## Why it breaks production
    `read()` allocates the whole upload at once. One client sending a 2 GB file -- by mistake
    or on purpose -- makes the worker allocate 2 GB; a few at once and the container is
    OOM-killed, taking every in-flight request with it. It is also the easiest denial of
    service against the endpoint.

    ## Example
    ```python
    @app.post("/documents")
    async def upload(file: UploadFile):
        data = await file.read()
        store(file.filename, data)
    ```

    ## Use instead
    ```python
    MAX_BYTES = 20 * 1024 * 1024

    @app.post("/documents")
    async def upload(file: UploadFile):
        if file.size is not None and file.size > MAX_BYTES:
            raise HTTPException(413, "file too large")
        with open_storage_stream(file.filename) as out:
            while chunk := await file.read(1024 * 1024):
                out.write(chunk)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Module):
        if _BODY_LIMIT_KEY in ctx.source and _sets_body_limit(node):
            ctx.establish(FLASK_BODY_LIMIT)
        return
    if ctx.route is None:
        return
    if node.args or node.keywords:
        size = node.args[0] if node.args else node.keywords[0].value
        if not (
            isinstance(size, ast.UnaryOp)
            or (isinstance(size, ast.Constant) and size.value in (None, -1))
        ):
            return
    func = node.func
    assert isinstance(func, ast.Attribute)
    source = _upload_source(func.value, ctx)
    if source is None:
        return
    cache: dict[str, bool] = ctx.rule_state(dict)
    if "guarded" not in cache:
        assert ctx.function is not None
        text = ctx.segment(ctx.function.node).lower()
        cache["guarded"] = any(guard in text for guard in _SIZE_GUARDS)
    if cache["guarded"]:
        return
    ctx.report(
        node,
        f"{_short(ctx, node)} reads the whole upload into memory with no size limit: a large "
        "file exhausts the worker's memory. Stream it in chunks and enforce a maximum size",
        unless=FLASK_BODY_LIMIT if source in _FLASK_UPLOADS else (),
    )


# -- PRF005 ---------------------------------------------------------------------------------------

_FILE_OPENERS = frozenset({"builtins.open", "io.open", "codecs.open", "pathlib.Path.open"})
_WHOLE_READS = frozenset({"read", "readlines", "read_bytes", "read_text"})
# pandas readers -> whether they take chunksize= (the others always load everything).
_PANDAS_READERS = {
    "pandas.read_csv": True,
    "pandas.read_table": True,
    "pandas.read_json": True,
    "pandas.read_sql": True,
    "pandas.read_sql_query": True,
    "pandas.read_sql_table": True,
    "pandas.read_excel": False,
    "pandas.read_parquet": False,
}
_PATH_BUILDERS = frozenset(
    {"os.path.join", "pathlib.Path", "pathlib.PurePath", "os.path.abspath", "os.path.dirname"}
    | {"os.path.realpath", "os.path.normpath", "os.fspath", "builtins.str"}
)
# Finders that answer a path among the files shipped with the service (whatever name they are
# asked for): their sizes are fixed by the release.
_BUNDLED_FINDERS = frozenset(
    {
        "django.contrib.staticfiles.finders.find",
        "importlib.resources.files",
        "importlib.resources.path",
        "pkg_resources.resource_filename",
    }
)
_LIMIT_SQL = re.compile(r"\b(limit|top|fetch\s+first|fetch\s+next|count\s*\()", re.IGNORECASE)


def _static_path(expr: ast.AST | None, ctx: PythonContext, depth: int = 0) -> bool:
    """A path fixed in the code: a literal, a constant, ``__file__``-relative, ``BASE_DIR / x``
    -- a file shipped with the service, not one chosen by the request or grown by data."""
    if expr is None or depth > 4:
        return False
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        if expr.id == "__file__" or expr.id.isupper():
            return True
        value = ctx.value_of(expr.id)
        return value is not None and value is not expr and _static_path(value, ctx, depth + 1)
    if isinstance(expr, ast.Attribute):
        if expr.attr.isupper():
            return True
        return expr.attr in {"parent", "parents", "root_path"} and _static_path(
            expr.value, ctx, depth + 1
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div | ast.Add):
        return _static_path(expr.left, ctx, depth + 1) and _static_path(expr.right, ctx, depth + 1)
    if isinstance(expr, ast.JoinedStr):
        return all(
            _static_path(part.value, ctx, depth + 1)
            for part in expr.values
            if isinstance(part, ast.FormattedValue)
        )
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name in _BUNDLED_FINDERS:
            return True  # one of the service's own static files or package resources
        if name in _PATH_BUILDERS or name.endswith(("resolve", "absolute", "joinpath")):
            parts: list[ast.AST] = [*expr.args]
            if isinstance(expr.func, ast.Attribute) and name not in _PATH_BUILDERS:
                parts.append(expr.func.value)
            return all(_static_path(part, ctx, depth + 1) for part in parts)
    if isinstance(expr, ast.Subscript):
        return _static_path(expr.value, ctx, depth + 1)  # Path(__file__).parents[1]
    return False


def _opened_path(receiver: ast.AST, ctx: PythonContext) -> tuple[bool, ast.AST | None]:
    """Whether ``receiver`` is a file opened with ``open()`` (or a Path), and its path."""
    if isinstance(receiver, ast.Name):
        value = ctx.value_of(receiver.id)
        kind = ctx.qualname(receiver) or ""
        if value is None:
            # ``with open(path) as f``: bound to the opener's type, the path is not kept.
            return kind in _FILE_OPENERS, None
        receiver = value
    if isinstance(receiver, ast.Call):
        name = ctx.qualname(receiver.func) or ""
        if name in _FILE_OPENERS:
            path = receiver.args[0] if receiver.args else keyword_value(receiver, "file")
            if name == "pathlib.Path.open" and isinstance(receiver.func, ast.Attribute):
                path = receiver.func.value
            return True, path
    return False, None


@python_rule(
    code="PRF005",
    name="whole-file-read-in-request",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Request handler reads a whole file, S3 object or table into memory",
    calls=(
        "*.read",
        "*.readlines",
        "*.read_bytes",
        "*.read_text",
        *sorted(_PANDAS_READERS),
    ),
    fix="Stream it: iterate the file in chunks (StreamingResponse / send_file), read the "
    "S3 body with iter_chunks(), use chunksize= with pandas, and paginate queries.",
)
def whole_file_read_in_request(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request handlers that load a whole file or dataset into memory: `open(path).read()`
    / `readlines()` without a size and `Path(path).read_bytes()/read_text()` for paths that are
    not fixed in the code, an S3 object's `["Body"].read()`, and `pandas.read_csv/read_json/
    read_sql...` without `chunksize=`/`nrows=` (`read_sql` of a query with a `LIMIT` is fine).
    Files shipped with the service (templates, a constant path next to `__file__`, a file the
    static-files finders or `importlib.resources` locate) are not flagged; unbounded
    querysets and `fetchall()` are PRF018.

    ## Why it breaks production
    Files and tables grow; the handler does not change. The export that read a 2 MB CSV at
    launch reads 2 GB a year later: the worker allocates it all (several times over, for
    pandas), latency climbs with the file, and a few concurrent requests get the container
    OOM-killed -- taking every other in-flight request with it.

    ## Example
    ```python
    @app.get("/exports/{export_id}")
    def download(export_id: str):
        obj = s3.get_object(Bucket=EXPORTS_BUCKET, Key=f"{export_id}.csv")
        return Response(obj["Body"].read(), media_type="text/csv")
    ```

    ## Use instead
    ```python
    @app.get("/exports/{export_id}")
    def download(export_id: str):
        obj = s3.get_object(Bucket=EXPORTS_BUCKET, Key=f"{export_id}.csv")
        return StreamingResponse(obj["Body"].iter_chunks(1 << 20), media_type="text/csv")
    ```
    """
    scope = ctx.function
    if scope is None or scope.route is None or ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    if name in _PANDAS_READERS:
        if has_star_kwargs(node) or any(k.arg in {"chunksize", "nrows"} for k in node.keywords):
            return
        source = node.args[0] if node.args else None
        if name.startswith("pandas.read_sql"):
            sql = " ".join(string_fragments(source, ctx)) if source is not None else ""
            if not sql or _LIMIT_SQL.search(sql) or "where" in sql.lower():
                return
            what = "the whole result of the query"
        else:
            if source is None or _static_path(source, ctx):
                return
            what = "the whole file"
        advice = (
            "pass chunksize= and stream the result"
            if _PANDAS_READERS[name]
            else "bound or stream the input"
        )
        ctx.report(node, f"{name}() loads {what} into memory in a request handler: {advice}")
        return
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in _WHOLE_READS:
        return
    if node.args or node.keywords:
        size = node.args[0] if node.args else node.keywords[0].value
        if not (isinstance(size, ast.Constant) and size.value in (None, -1)):
            return
    receiver = func.value
    if func.attr == "read" and isinstance(receiver, ast.Subscript):
        if constant_str(receiver.slice) == "Body":
            ctx.report(
                node,
                "the whole S3 object is read into memory in a request handler: its size "
                "is whatever was uploaded. Stream it (Body.iter_chunks(), a presigned URL or "
                "a StreamingResponse)",
            )
        return
    if func.attr in {"read_bytes", "read_text"}:
        base = receiver
        while isinstance(base, ast.BinOp) and isinstance(base.op, ast.Div):
            base = base.left  # Path / "dir" / name
        kind = ctx.qualname(base) or ""
        if not kind.startswith("pathlib.") or _static_path(receiver, ctx):
            return
        path: ast.AST | None = receiver
    else:
        opened, path = _opened_path(receiver, ctx)
        if not opened or path is None or _static_path(path, ctx):
            return
    ctx.report(
        node,
        f"{_short(ctx, node)} reads a whole file into memory in a request handler: the file "
        "grows, the handler does not. Stream it in chunks (or send_file/FileResponse)",
    )
