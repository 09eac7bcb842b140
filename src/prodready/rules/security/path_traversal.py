"""Security: file paths built from request data (SEC014)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import argument, establish_file_object_facts, file_object, is_literal
from prodready.plugin.taint import (
    PATH_CONTAINMENT_CHECK,
    SEGMENT_PARAMETERS,
    report_deferred,
    segment_parameter,
    sink_flow,
    tainted,
)
from prodready.rules.security._shared import _MAX_DEPTH, _module_helper, _pieces

# -- SEC014 ------------------------------------------------------------------------------------

_OPEN_FUNCTIONS = ("builtins.open", "io.open", "os.open", "codecs.open", "aiofiles.open")
_DELETE_FUNCTIONS = ("os.remove", "os.unlink")
# Functions whose path may name a directory, where ``..`` alone is enough to do harm.
_TREE_FUNCTIONS = (
    *("shutil.rmtree", "shutil.copytree", "shutil.move", "shutil.copy", "shutil.copy2"),
    *("shutil.copyfile", "os.rmdir", "os.removedirs", "os.rename", "os.replace"),
)
_SEND_FILE = (
    "flask.send_file",
    "flask.helpers.send_file",
    "werkzeug.utils.send_file",
    "quart.send_file",
    "starlette.responses.FileResponse",
    "fastapi.responses.FileResponse",
    "fastapi.FileResponse",
)
_PATH_METHODS = frozenset(
    {"open", "read_text", "read_bytes", "write_text", "write_bytes", "unlink", "rmdir"}
)
_PATH_TYPES = ("pathlib.", "anyio.Path", "aiopath.", "trio.Path")
_PATH_DERIVING_METHODS = frozenset(
    {"resolve", "absolute", "joinpath", "with_name", "with_suffix", "expanduser", "with_stem"}
)
_PATH_SANITIZERS = frozenset(
    {"werkzeug.utils.secure_filename", "werkzeug.secure_filename", "secure_filename"}
    | {"os.path.basename", "posixpath.basename", "ntpath.basename", "os.path.splitext[1]"}
    | {
        f"pathlib.{kind}.{part}"
        for kind in ("Path", "PurePath", "PurePosixPath")
        for part in ("name", "stem", "suffix")
    }
    | {"django.utils.text.get_valid_filename", "django.utils.text.slugify", "slugify"}
    | {"get_valid_filename", PATH_CONTAINMENT_CHECK}
    # join under a base directory, refusing paths that leave it
    | {"django.utils._os.safe_join", "werkzeug.utils.safe_join", "werkzeug.security.safe_join"}
    | {"flask.safe_join", "safe_join"}
    # server-generated names (a prefix/suffix cannot leave the random directory entry)
    | {f"tempfile.{name}" for name in ("NamedTemporaryFile", "mkstemp", "mkdtemp", "mktemp")}
    | {"tempfile.TemporaryDirectory", "tempfile.SpooledTemporaryFile", "tempfile.gettempdir"}
    # Django's UploadedFile.name is already reduced to its base name.
    | {"request.FILES"}
)


def _is_path_object(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> bool:
    """``Path(...)``, a name bound to one, ``BASE / name``, ``path.resolve()``..."""
    if depth > _MAX_DEPTH:
        return False
    qualified = ctx.qualname(expr) if isinstance(expr, ast.Name | ast.Attribute) else None
    if isinstance(expr, ast.Call):
        qualified = ctx.qualname(expr.func)
        if (
            isinstance(expr.func, ast.Attribute)
            and expr.func.attr in _PATH_DERIVING_METHODS
            and _is_path_object(expr.func.value, ctx, depth + 1)
        ):
            return True
        helper = _module_helper(expr, ctx)
        if helper is not None:  # ``def report_path(name) -> Path: return REPORTS / name``
            returns = ctx.qualname(helper.returns) if helper.returns is not None else None
            if returns is not None and returns.startswith(_PATH_TYPES):
                return True
            return any(
                isinstance(n, ast.Return)
                and n.value is not None
                and _is_path_object(n.value, ctx, depth + 1)
                for n in ast.walk(helper)
            )
    if qualified is not None and qualified.startswith(_PATH_TYPES):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return _is_path_object(expr.left, ctx, depth + 1)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return value is not None and _is_path_object(value, ctx, depth + 1)
    return False


def _is_upload(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> bool:
    """A Werkzeug ``FileStorage``: ``request.files["f"]``, or a name bound to one."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return value is not None and _is_upload(value, ctx, depth + 1)
    node: ast.AST = expr
    while isinstance(node, ast.Subscript | ast.Call | ast.Attribute):
        if isinstance(node, ast.Attribute) and node.attr == "files":
            qualified = ctx.qualname(node) or ""
            return qualified.startswith(("flask.request.", "quart.request.")) or (
                isinstance(node.value, ast.Name) and node.value.id in {"request", "req"}
            )
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


_JOIN_FUNCTIONS = frozenset(
    {"os.path.join", "posixpath.join", "ntpath.join", "pathlib.Path", "pathlib.PurePath"}
    | {"pathlib.PurePosixPath"}
)


def _path_components(path: ast.expr, ctx: PythonContext, depth: int = 0) -> list[ast.expr]:
    """The values that can introduce ``/`` or ``..`` into a path: each joined part, minus the
    values glued after other text in the same component (``f"{uuid4()}_{f.filename}"``
    names a file inside the directory whatever the client sends)."""
    if depth > _MAX_DEPTH:
        return [path]
    if isinstance(path, ast.Name):
        value = ctx.value_of(path.id)
        if isinstance(value, ast.Call | ast.BinOp | ast.JoinedStr):
            return _path_components(value, ctx, depth + 1)
        return [path]
    if isinstance(path, ast.Call) and ctx.qualname(path.func) in _JOIN_FUNCTIONS:
        if any(isinstance(a, ast.Starred) for a in path.args) or path.keywords:
            return [path]
        return [c for part in path.args for c in _path_components(part, ctx, depth + 1)]
    if isinstance(path, ast.BinOp) and isinstance(path.op, ast.Div):
        return [
            *_path_components(path.left, ctx, depth + 1),
            *_path_components(path.right, ctx, depth + 1),
        ]
    if isinstance(path, ast.JoinedStr | ast.BinOp):
        pieces = _pieces(path, ctx, {})
        if len(pieces) > 1:
            found: list[ast.expr] = []
            for index, piece in enumerate(pieces):
                if isinstance(piece, str):
                    continue
                before = pieces[index - 1] if index else None
                glued = before is not None and not (
                    isinstance(before, str) and (before == "" or before.endswith(("/", "\\")))
                )
                if not glued:
                    found.append(piece)
            return found
    return [path]


@python_rule(
    code="SEC014",
    name="path-traversal",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="File path built from request data: ../ reads, overwrites or deletes any file",
    calls=(
        *_OPEN_FUNCTIONS,
        *_DELETE_FUNCTIONS,
        *_TREE_FUNCTIONS,
        *_SEND_FILE,
        *(f"*.{method}" for method in sorted(_PATH_METHODS)),
        "*.save",
    ),
    nodes=(ModuleEnd,),
    cwe=22,
    fix="Keep only the file name (secure_filename / os.path.basename) or check that "
    "os.path.realpath(path) stays under the base directory; serve with send_from_directory.",
)
def path_traversal(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags file operations whose path carries data the client controls: `open()`,
    `pathlib.Path(...).open/read_text/read_bytes/write_text/write_bytes/unlink`, `os.remove`,
    `shutil.copy/move/rmtree`, `os.rename`, Flask `send_file`, Starlette/FastAPI
    `FileResponse`, Django `FileResponse(open(...))`, and uploads
    saved under the client's file name (`request.files["f"].save(os.path.join(DIR,
    f.filename))`, FastAPI `UploadFile.filename` in a path). The data is followed through
    local variables, `os.path.join`, `/`, f-strings and helper functions. Paths reduced to a
    file name (`secure_filename`, `os.path.basename`, `Path(...).name`), paths checked to stay
    under their base directory (`os.path.realpath(p).startswith(BASE)`,
    `p.resolve().is_relative_to(BASE)`), `send_from_directory`, a file already open handed to
    `send_file` (an `io.BytesIO` export, built here or returned by a function -- of any module
    of the project -- whose every return is one, picked from a dispatch table or not), and
    route parameters that
    match a single URL segment (`/files/{name}`, `<name>`: they cannot contain `/`) for file
    reads and writes are not reported -- unless the path joins two of them
    (`os.path.join(UPLOADS, folder, name)`): one can be `..`, the other any file name --
    and the file name is one of them: under a file name the server fixes (a literal, an enum
    member's `.value`) `..` segments reach only files of that name.
    One-segment converters (`{name:str}`, `<string:name>`, `<str:name>`, `<slug:name>`) are
    segments too, and a parameter only compared to choose between literals (`".vue" if kind ==
    "template" else ".js"`) is not part of the path. One value reaching several file operations
    of a function is one finding, at the first; its message lists the others' lines.

    Evidence tier: when the path is what a method of another object returns
    (`self.renderer.render(slug, template)`: not a path operation, not a function of an
    imported module) and the client's text is only one of its arguments, the rule cannot see
    whether that method checks the text or keeps it out of the path; the finding is low
    (confidence low) and says so.

    ## Why it breaks production
    A `../` in the name walks out of the intended directory: `GET /download?file=../../
    etc/passwd` or `../app/settings.py` leaks secrets and source, an upload named
    `../../app/main.py` overwrites code, and a delete endpoint removes any file the service
    can write. These are found by every scanner and exploited with a single request.

    ## Example
    ```python
    @app.route("/uploads", methods=["POST"])
    def upload():
        file = request.files["document"]
        file.save(os.path.join(UPLOAD_DIR, file.filename))
        return {"ok": True}
    ```

    ## Use instead
    ```python
    @app.route("/uploads", methods=["POST"])
    def upload():
        file = request.files["document"]
        file.save(os.path.join(UPLOAD_DIR, secure_filename(file.filename)))
        return {"ok": True}
    ```
    To serve files, use `send_from_directory(UPLOAD_DIR, name)`, or resolve the path and check
    `path.resolve().is_relative_to(UPLOAD_DIR)` before opening it.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        establish_file_object_facts(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    func = node.func
    method = func.attr if isinstance(func, ast.Attribute) else None
    paths: list[ast.expr | None]
    if name in _OPEN_FUNCTIONS or name in _DELETE_FUNCTIONS:
        paths = [argument(node, 0, "file") or argument(node, None, "path")]
        operation = f"{name.rsplit('.', 1)[-1]}()"
    elif name in _TREE_FUNCTIONS:
        paths = [argument(node, 0, "src") or argument(node, 0, "path"), argument(node, 1, "dst")]
        operation = f"{name}()"
    elif name in _SEND_FILE:
        paths = [
            argument(node, 0, "path_or_file")
            or argument(node, None, "path")
            or argument(node, None, "filename_or_fp")
        ]
        if paths[0] is not None and file_object(paths[0], ctx):
            return  # an open file (``io.BytesIO`` of an export): no path to traverse
        operation = f"{name.rsplit('.', 1)[-1]}()"
    elif method in _PATH_METHODS and isinstance(func, ast.Attribute):
        if not _is_path_object(func.value, ctx):
            return
        paths = [func.value]
        operation = f"Path.{method}()"
    elif method == "save" and isinstance(func, ast.Attribute):
        if not node.args or not _is_upload(func.value, ctx):
            return
        paths = [node.args[0]]
        operation = "FileStorage.save()"
    else:
        return
    candidates = [
        component
        for path in paths
        if path is not None and not is_literal(path)
        for component in _path_components(path, ctx)
    ]
    if not candidates:
        return
    sanitizers = _PATH_SANITIZERS
    segments = sorted(_segment_parameters(candidates, ctx))
    if segments and name not in _TREE_FUNCTIONS:
        # ``..`` segments under a file name the server fixes reach only files of that name.
        finals = [_final_component(path, ctx) for path in paths if path is not None]
        if finals and not _segment_parameters([f for f in finals if f is not None], ctx):
            segments = []
    if name not in _TREE_FUNCTIONS and len(segments) < 2:
        sanitizers = sanitizers | {SEGMENT_PARAMETERS}
    serving = name in _SEND_FILE
    advice = (
        "Serve from a fixed directory with send_from_directory(DIR, name) (Flask) or check "
        "that the resolved path stays under the directory"
        if serving
        else "Keep only the file name (werkzeug's secure_filename, os.path.basename) or check "
        "that os.path.realpath(path).startswith(BASE_DIR) before using it"
    )

    reach = "`../` in it reaches any file the service can access"
    if len(segments) >= 2:
        named = ", ".join(f"`{segment}`" for segment in segments)
        reach = (
            f"the URL segments {named} can be `..` and a file name, which reach any file of "
            "the directory above"
        )

    unseen = _unseen_producer(candidates, ctx)
    if unseen is not None:
        reach = (
            f"the path is what `{unseen}()` returns given that text, and its body is not "
            "visible here: whether the text reaches the path unchecked could not be told"
        )

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{operation} uses a file path built from {source}: {reach} (path traversal). {advice}",
            severity=Severity.LOW if unseen is not None else None,
            confidence=Confidence.LOW if unseen is not None else None,
        )

    sink_flow(candidates, ctx, report, sanitizers=sanitizers, web_only=True)


def _segment_parameters(values: list[ast.expr], ctx: PythonContext) -> set[str]:
    """The single-segment route parameters (``/files/{folder}/{name}``) the path is built
    from, directly, through local names or as arguments of the call that builds it. One
    segment cannot hold ``/``, but it can be ``..``: two of them -- ``..`` and a file name --
    reach any file of the parent directory (``os.path.join(UPLOADS, folder, name)``)."""
    route = ctx.route
    template = route.path if route is not None else None
    if not template:
        return set()
    scope = ctx.function
    textual = {
        arg.arg
        for arg in (scope.params if scope is not None else [])
        if arg.annotation is None
        or any(isinstance(n, ast.Name) and n.id == "str" for n in ast.walk(arg.annotation))
    }  # ``item_id: int`` is a number, not a name
    found: set[str] = set()
    pending = list(values)
    for _ in range(_MAX_DEPTH * 8):
        if not pending:
            break
        for node in _path_names(pending.pop()):
            bound = ctx.value_of(node.id)
            if bound is not None and bound is not node:
                pending.append(bound)
            elif node.id in textual and segment_parameter(node.id, ctx):
                found.add(node.id)
    return found


# The same path, spelled otherwise: its last component is the file name still.
_SAME_PATH_METHODS = frozenset({"resolve", "absolute", "as_posix", "__fspath__"})
_SAME_PATH_FUNCTIONS = frozenset({"builtins.str", "str", "os.fspath", "os.path.abspath"})


def _path_names(value: ast.AST) -> list[ast.Name]:
    """The names whose text can end up in ``value`` -- not those only compared to choose it
    (``".vue" if kind == "template" else ".js"``: a literal either way)."""
    found: list[ast.Name] = []
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name):
            found.append(node)
        elif isinstance(node, ast.IfExp):
            pending.extend((node.body, node.orelse))
        elif not isinstance(node, ast.Compare):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _final_component(path: ast.expr, ctx: PythonContext, depth: int = 0) -> ast.expr | None:
    """The last component of a path -- the file name -- where the path's structure shows it
    (``base.joinpath(a, b)``, ``base / a / b``, ``os.path.join(base, a, b)``, an f-string); the
    whole expression when it does not (None: no component)."""
    if depth > _MAX_DEPTH:
        return path
    if isinstance(path, ast.Name):
        value = ctx.value_of(path.id)
        if isinstance(value, ast.Call | ast.BinOp | ast.JoinedStr):
            return _final_component(value, ctx, depth + 1)
        return path
    if isinstance(path, ast.BinOp) and isinstance(path.op, ast.Div):
        return _final_component(path.right, ctx, depth + 1)
    if isinstance(path, ast.Call) and not path.keywords:
        func = path.func
        joins = ctx.qualname(func) in _JOIN_FUNCTIONS or (
            isinstance(func, ast.Attribute) and func.attr == "joinpath"
        )
        if joins and path.args and not isinstance(path.args[-1], ast.Starred):
            return _final_component(path.args[-1], ctx, depth + 1)
        if isinstance(func, ast.Attribute) and func.attr in _SAME_PATH_METHODS:
            return _final_component(func.value, ctx, depth + 1)
        if ctx.qualname(func) in _SAME_PATH_FUNCTIONS and len(path.args) == 1:
            return _final_component(path.args[0], ctx, depth + 1)  # ``str(path)``
    if isinstance(path, ast.JoinedStr):
        for piece in reversed(path.values):
            if isinstance(piece, ast.Constant):
                if "/" in str(piece.value):
                    return piece  # a fixed tail after the last separator
                continue  # a suffix glued to the name before it
            if isinstance(piece, ast.FormattedValue):
                return piece.value
    return path


def _unseen_producer(candidates: list[ast.expr], ctx: PythonContext) -> str | None:
    """The method whose return value is the path, when each part of the path that carries the
    client's text is such a value: a method of another object (``self.renderer.render(slug,
    template)``, not a path operation, not a function of an imported module) given the text as
    an argument. Its body may check the text against an allow-list and build the path from its
    own values: the rule cannot see it."""
    names = []
    for candidate in candidates:
        if tainted(candidate, ctx, web_only=True) is None:
            continue  # a base directory, a constant part
        if not isinstance(candidate, ast.Call) or not isinstance(candidate.func, ast.Attribute):
            return None
        func = candidate.func
        if func.attr in _PATH_DERIVING_METHODS or func.attr in _PATH_METHODS:
            return None
        if not isinstance(func.value, ast.Attribute | ast.Call | ast.Subscript):
            return None  # ``name.strip()``, ``module.helper()``, ``self.helper()``: seen
        root: ast.expr = func.value
        while isinstance(root, ast.Attribute | ast.Call | ast.Subscript):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Name) and isinstance(ctx.facts.bindings.get(root.id), str):
            return None  # ``storage.paths.build(name)``: a function of an imported module
        if _is_path_object(func.value, ctx) or tainted(func.value, ctx, web_only=True):
            return None  # a path operation, or the receiver itself carries the text
        names.append(func.attr)
    return names[0] if names else None
