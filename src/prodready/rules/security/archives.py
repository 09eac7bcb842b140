"""Security: archives extracted with member names that may leave the target directory (SEC021)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str, keyword_value, name_words
from prodready.plugin.taint import report_deferred
from prodready.rules.security._input_origin import OriginReport

# -- SEC021 ------------------------------------------------------------------------------------

_MEMBER_LISTS = frozenset({"namelist", "infolist", "getmembers", "getnames"})
# Calls and names that show the code checks where a member lands (or keeps only its base name).
_CONTAINMENT_CALLS = frozenset(
    {"is_relative_to", "commonpath", "commonprefix", "realpath", "abspath", "resolve"}
    | {"normpath", "relpath", "isabs", "basename", "secure_filename", "safe_join"}
)
_CHECKER_WORDS = frozenset({"check", "validate", "verify", "safe", "secure", "sanitize"})
_WRITERS = frozenset({"write_bytes", "write_text", "copyfileobj", "copyfile", "makedirs", "mkdir"})
_FULLY_TRUSTED = frozenset({"fully_trusted", "tarfile.fully_trusted_filter"})


def _function_node(ctx: PythonContext) -> ast.AST:
    return ctx.function.node if ctx.function is not None else ctx.tree


def _opener(receiver: ast.expr, ctx: PythonContext) -> ast.Call | None:
    """The call that opened the archive ``receiver`` names: ``tar = tarfile.open(...)`` or
    ``with zipfile.ZipFile(...) as archive``, the last one before the use."""
    if isinstance(receiver, ast.Call):
        return receiver
    if not isinstance(receiver, ast.Name):
        return None
    value = ctx.value_of(receiver.id)
    if isinstance(value, ast.Call):
        return value
    found: ast.Call | None = None
    for node in ast.walk(_function_node(ctx)):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                target = item.optional_vars
                if (
                    isinstance(target, ast.Name)
                    and target.id == receiver.id
                    and isinstance(item.context_expr, ast.Call)
                    and item.context_expr.lineno <= receiver.lineno
                ):
                    found = item.context_expr
    return found


def _archive_kind(receiver: ast.expr, ctx: PythonContext) -> tuple[str, ast.Call | None] | None:
    """``("tar", opener)`` or ``("zip", opener)`` for an archive object, else None."""
    opener = _opener(receiver, ctx)
    name = ctx.qualname(opener.func) or "" if opener is not None else ""
    if not name:
        name = ctx.qualname(receiver) or ""
        if isinstance(receiver, ast.Name) and ctx.function is not None:
            for arg in ctx.function.params:
                if arg.arg == receiver.id and arg.annotation is not None:
                    name = ctx.qualname(arg.annotation) or ""
    if name.startswith("tarfile."):
        return "tar", opener
    if name.startswith("zipfile."):
        return "zip", opener
    return None


def _archive_source(opener: ast.Call | None) -> list[ast.expr | None]:
    if opener is None:
        return []
    return [
        argument(opener, 0, "name") or argument(opener, 0, "file"),
        keyword_value(opener, "fileobj"),
    ]


def _checks_members(ctx: PythonContext, receiver: ast.expr | None) -> bool:
    """The function lists the members and checks where they land (``resolve()`` +
    ``is_relative_to``, ``realpath`` + ``startswith``, a ``".."`` test), or hands the archive
    to a checker first (``validate_archive(path)``)."""
    lists = marker = False
    for node in ast.walk(_function_node(ctx)):
        if isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else None
            callee = callee or (node.func.id if isinstance(node.func, ast.Name) else "")
            if callee in _MEMBER_LISTS:
                lists = True
            elif callee in _CONTAINMENT_CALLS:
                marker = True
            elif (
                set(name_words(callee)) & _CHECKER_WORDS
                and receiver is not None
                and any(ast.dump(arg) == ast.dump(receiver) for arg in node.args)
            ):
                return True
        elif isinstance(node, ast.Constant) and node.value in {"..", "../", "/"}:
            marker = True
        elif isinstance(node, ast.For) and receiver is not None:
            lists = lists or ast.dump(node.iter) == ast.dump(receiver)
    return lists and marker


@python_rule(
    code="SEC021",
    name="archive-path-escape",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Archive extracted without confining member paths (tarfile without filter='data')",
    calls=("*.extractall", "*.extract", "shutil.unpack_archive"),
    nodes=(ast.For, ModuleEnd),
    cwe=22,
    fix="tar.extractall(dest, filter='data') (Python 3.12+, or 3.8.17+/3.9.17+/3.10.12+/3.11.4+).",
)
def archive_path_escape(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags archive extraction whose member names can write outside the target directory:

    - `tarfile` `extractall()`/`extract()` (and `shutil.unpack_archive()`) without
      `filter="data"` (or `"tar"`): before Python 3.14 the default trusts the archive fully --
      absolute names, `..` and links that point outside are all followed. A function that
      lists the members and checks where each lands, or passes `members=`, is fine, and so
      is an unfiltered call beside a filtered one (the fallback for an interpreter without
      extraction filters).
    - member names of a zip or tar archive joined to a directory by hand
      (`os.path.join(dest, info.filename)` then written) with no containment check in the
      function (`resolve()`/`realpath()` + a prefix test, `basename`, a `..` test).

    `ZipFile.extractall()`/`extract()` are not reported: they drop absolute prefixes and `..`
    components themselves. Severity follows where the archive comes from: high for an
    upload or other request data, medium for other data from outside (a download, a
    message), low when the scan cannot tell (a parameter), nothing for the service's own
    files.

    ## Why it breaks production
    A member named `../../app/settings.py`, `/etc/cron.d/job` or a symlink to `/` followed by
    a file under it overwrites whatever the service can write: its code, its
    configuration, another tenant's files. The next restart runs the attacker's code.

    ## Example
    ```python
    @app.post("/themes")
    async def upload_theme(bundle: UploadFile):
        with tarfile.open(fileobj=bundle.file) as tar:
            tar.extractall(THEMES_DIR)
    ```

    ## Use instead
    ```python
    @app.post("/themes")
    async def upload_theme(bundle: UploadFile):
        with tarfile.open(fileobj=bundle.file) as tar:
            tar.extractall(THEMES_DIR, filter="data")
    ```
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.For):
        _manual_extraction(node, ctx)
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name == "shutil.unpack_archive":
        _unpack_archive(node, ctx)
        return
    if not isinstance(node.func, ast.Attribute):
        return
    receiver = node.func.value
    kind = _archive_kind(receiver, ctx)
    if kind is None or kind[0] != "tar":
        return
    if not _unfiltered(node, ctx) or _filtered_in_other_branch(ctx):
        return
    method = node.func.attr
    if method == "extractall" and argument(node, 1, "members") is not None:
        return  # a selection of members: checked where it is built
    if _checks_members(ctx, receiver):
        return
    _by_origin(
        node,
        ctx,
        f"tarfile {method}() without filter='data'",
        "follows absolute member names, '..' and links out of the target directory (the "
        "default before Python 3.14 trusts the archive fully)",
        _archive_source(kind[1]),
        "pass filter='data'",
    )


def _unfiltered(node: ast.Call, ctx: PythonContext) -> bool:
    if "extraction_filter" in ctx.source:
        return False  # a default filter set on the class or the object
    chosen = keyword_value(node, "filter")
    if chosen is None:
        return True
    text = constant_str(chosen)
    if text is None and isinstance(chosen, ast.Attribute | ast.Name):
        text = ctx.qualname(chosen)
    return text in _FULLY_TRUSTED


def _filtered_in_other_branch(ctx: PythonContext) -> bool:
    """The function also extracts with a filter: the unfiltered call is the fallback for a
    Python without extraction filters (``if hasattr(tarfile, "data_filter"): ... else: ...``),
    where no filter argument exists to pass."""
    if ctx.function is None:
        return False
    for node in ast.walk(ctx.function.node):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"extractall", "extract"}
            and keyword_value(node, "filter") is not None
            and not _unfiltered(node, ctx)
        ):
            return True
    return False


def _unpack_archive(node: ast.Call, ctx: PythonContext) -> None:
    archive = argument(node, 0, "filename")
    fmt = constant_str(argument(node, 2, "format"))
    path = constant_str(archive) or ""
    if fmt == "zip" or path.endswith(".zip") or not _unfiltered(node, ctx):
        return  # zip extraction drops '..' and absolute names itself
    _by_origin(
        node,
        ctx,
        "shutil.unpack_archive() without filter='data'",
        "extracts a tar archive trusting it fully before Python 3.14: absolute member names, "
        "'..' and links leave the target directory",
        [archive],
        "pass filter='data'",
    )


def _manual_extraction(loop: ast.For, ctx: PythonContext) -> None:
    """``for info in archive.infolist(): open(os.path.join(dest, info.filename), "wb")``."""
    listing = loop.iter
    if not isinstance(loop.target, ast.Name):
        return
    if (
        isinstance(listing, ast.Call)
        and isinstance(listing.func, ast.Attribute)
        and listing.func.attr in _MEMBER_LISTS
    ):
        kind = _archive_kind(listing.func.value, ctx)
    elif isinstance(listing, ast.Name):  # ``for member in tar:`` iterates the members
        kind = _archive_kind(listing, ctx)
        kind = kind if kind is not None and kind[0] == "tar" else None
    else:
        return
    if kind is None:
        return
    member = loop.target.id
    join = next((n for n in _walk_body(loop) if _joins_member(n, member, ctx)), None)
    if join is None or not any(_writes(n, ctx) for n in _walk_body(loop)):
        return
    if _checks_members(ctx, None) or _containment_in(loop):
        return
    _by_origin(
        join,
        ctx,
        f"{'zip' if kind[0] == 'zip' else 'tar'} member names joined to a directory by hand",
        "writes a member named '../../app/settings.py' or '/etc/cron.d/x' outside it "
        "(nothing here checks where the joined path lands)",
        _archive_source(kind[1]),
        "use ZipFile.extractall()/TarFile.extractall(filter='data'), or check that "
        "os.path.realpath(target) starts with the real target directory",
    )


def _walk_body(loop: ast.For) -> list[ast.AST]:
    return [n for statement in loop.body for n in ast.walk(statement)]


def _member_name(expr: ast.AST, member: str) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id == member
    return (
        isinstance(expr, ast.Attribute)
        and expr.attr in {"filename", "name", "path"}
        and isinstance(expr.value, ast.Name)
        and expr.value.id == member
    )


def _joins_member(node: ast.AST, member: str, ctx: PythonContext) -> bool:
    if isinstance(node, ast.Call):
        name = ctx.qualname(node.func) or ""
        if name in {"os.path.join", "posixpath.join"} or name.endswith(".joinpath"):
            return any(_member_name(arg, member) for arg in node.args[1:]) or (
                name.endswith(".joinpath") and any(_member_name(a, member) for a in node.args)
            )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _member_name(node.right, member)
    if isinstance(node, ast.JoinedStr):
        values = [v for v in node.values if isinstance(v, ast.FormattedValue)]
        return any(_member_name(v.value, member) for v in values[1:]) or (
            bool(values)
            and node.values[0] is not values[0]
            and _member_name(values[0].value, member)
        )
    return False


def _writes(node: ast.AST, ctx: PythonContext) -> bool:
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and node.func.attr in _WRITERS:
        return True
    if (ctx.qualname(node.func) or "") in {"builtins.open", "io.open", "aiofiles.open"}:
        mode = constant_str(argument(node, 1, "mode")) or ""
        return any(flag in mode for flag in "wax")
    return False


def _containment_in(loop: ast.For) -> bool:
    for node in _walk_body(loop):
        if isinstance(node, ast.Call):
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if callee in _CONTAINMENT_CALLS:
                return True
    return False


def _by_origin(
    node: ast.AST,
    ctx: PythonContext,
    what: str,
    harm: str,
    values: list[ast.expr | None],
    fix: str,
) -> None:
    def request(source: str) -> None:
        ctx.report(node, f"{what} on an archive from {source}: {harm}. Fix: {fix}")

    def external(source: str) -> None:
        ctx.report(
            node,
            f"{what} on an archive from {source}: {harm}, so whoever controls it writes files "
            f"anywhere the service can. Fix: {fix}",
            severity=Severity.MEDIUM,
            confidence=Confidence.MEDIUM,
        )

    def unknown() -> None:
        ctx.report(
            node,
            f"{what}: it {harm}, and the scan cannot tell where this archive comes from -- if "
            f"not from the service itself, {fix}",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )

    if not any(value is not None for value in values):
        unknown()  # an archive object made elsewhere (a parameter)
        return
    OriginReport(node, ctx, request=request, external=external, unknown=unknown).run(values)
