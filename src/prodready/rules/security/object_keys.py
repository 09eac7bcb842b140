"""Security: object-storage keys named by the client's upload file name (SEC046)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted, keyword_value
from prodready.rules.security._shared import _MAX_DEPTH, _pieces

# -- SEC046 ------------------------------------------------------------------------------------

# (method, position of the key argument, its keyword): boto3 clients and resources, MinIO,
# Google Cloud Storage, Azure Blob Storage.
_KEY_ARGUMENTS: dict[str, tuple[int | None, str]] = {
    "put_object": (None, "Key"),  # boto3 (keyword); MinIO's positional form is below
    "upload_fileobj": (2, "Key"),
    "upload_file": (2, "Key"),
    "generate_presigned_post": (1, "Key"),
    "fput_object": (1, "object_name"),
    "blob": (0, "blob_name"),
    "upload_blob": (None, "name"),
    "get_blob_client": (None, "blob"),
}
_UPLOAD_ATTRIBUTES = frozenset({"name", "filename"})
_UPLOAD_TYPES = re.compile(r"\b(?:UploadFile|FileStorage|UploadedFile|InMemoryUploadedFile)\b")
# A part of the key that makes it unique per object: a random or time-based id, a row id,
# a content hash.
_UNIQUE_CALLS = re.compile(
    r"uuid|token_hex|token_urlsafe|ulid|nanoid|shortuuid|time|now|utcnow|timestamp|hash|sha\d*"
    r"|md5|blake2|digest|randint|random|choices",
    re.IGNORECASE,
)
_UNIQUE_NAMES = re.compile(
    r"(?:^|_)(?:id|pk|uuid|guid|ulid|key|hash|digest|token|stamp|timestamp|ts|version|nonce)s?$"
    r"|^(?:id|pk|uid)$",
    re.IGNORECASE,
)


def _key_argument(call: ast.Call) -> ast.expr | None:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in _KEY_ARGUMENTS:
        return None
    position, keyword = _KEY_ARGUMENTS[func.attr]
    found = keyword_value(call, keyword)
    if found is None and func.attr == "put_object" and len(call.args) >= 3:
        found = call.args[1]  # MinIO: put_object(bucket, object_name, data, length)
    if found is None and position is not None and len(call.args) > position:
        found = call.args[position]
    return found


def _upload_object(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> bool:
    """A file the client uploaded: ``request.FILES["f"]`` (Django), ``request.files["f"]``
    (Flask), a parameter typed ``UploadFile`` (FastAPI/Starlette) or ``FileStorage``."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Name):
        scope = ctx.function
        for param in scope.params if scope is not None else []:
            if param.arg == expr.id and param.annotation is not None:
                return bool(_UPLOAD_TYPES.search(ctx.segment(param.annotation)))
        bound = ctx.value_of(expr.id)
        return bound is not None and bound is not expr and _upload_object(bound, ctx, depth + 1)
    node: ast.AST = expr
    while isinstance(node, ast.Subscript | ast.Call | ast.Attribute | ast.Await):
        if isinstance(node, ast.Attribute) and node.attr in {"FILES", "files"}:
            return isinstance(node.value, ast.Name) and node.value.id in {"request", "req"}
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Await):
            node = node.value
        else:
            node = node.value
    return False


def _client_file_name(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> ast.expr | None:
    """The ``.name``/``.filename`` read of an upload inside ``expr`` (through cleaning calls
    such as ``secure_filename()``: a clean name is still the client's choice)."""
    if depth > _MAX_DEPTH:
        return None
    for node in ast.walk(expr):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _UPLOAD_ATTRIBUTES
            and _upload_object(node.value, ctx)
        ):
            return node
        if isinstance(node, ast.Name) and node is not expr:
            bound = ctx.value_of(node.id)
            if bound is not None and bound is not node:
                found = _client_file_name(bound, ctx, depth + 1)
                if found is not None:
                    return found
    if isinstance(expr, ast.Name):
        bound = ctx.value_of(expr.id)
        if bound is not None and bound is not expr:
            return _client_file_name(bound, ctx, depth + 1)
    return None


def _unique_part(value: ast.expr, ctx: PythonContext, depth: int = 0) -> bool:
    """The value makes the key unique per object (a uuid, a time, a hash, a row id)."""
    if depth > _MAX_DEPTH:
        return False
    for node in ast.walk(value):
        if isinstance(node, ast.Call) and _UNIQUE_CALLS.search(dotted(node.func) or ""):
            return True
        if isinstance(node, ast.Attribute) and _UNIQUE_NAMES.search(node.attr):
            return True
        if isinstance(node, ast.Name):
            if _UNIQUE_NAMES.search(node.id):
                return True
            bound = ctx.value_of(node.id)
            if bound is not None and bound is not node and _unique_part(bound, ctx, depth + 1):
                return True
    return False


@python_rule(
    code="SEC046",
    name="object-key-from-client-filename",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Object-storage key named by the uploaded file's client-chosen name",
    calls=tuple(f"*.{method}" for method in sorted(_KEY_ARGUMENTS)),
    cwe=639,
    fix='Name the object yourself: key = f"documents/{uuid.uuid4()}" (keep the client\'s '
    "file name as metadata or in the database).",
)
def object_key_from_client_filename(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags uploads to object storage -- boto3 `put_object(Key=...)`, `upload_fileobj`,
    `upload_file`, `generate_presigned_post`, MinIO `put_object`/`fput_object`, Google Cloud
    Storage `bucket.blob(name)`, Azure `upload_blob(name=...)`/`get_blob_client(blob=...)` --
    whose key is built from the file name the client sent (Django `request.FILES["f"].name`,
    Flask `request.files["f"].filename`, FastAPI `UploadFile.filename`), cleaned or not,
    with nothing in it that is unique to the object: no uuid, time, content hash or row id.

    ## Why it breaks production
    Two users who upload `contract.pdf` get the same key: the second upload silently
    replaces the first, and the first user's record now serves someone else's document.
    The client also chooses the key's path (`../invoices/2024.pdf`, `other-tenant/...`) and
    can overwrite objects it was never given. Object stores do not refuse an overwrite.

    ## Example
    ```python
    def upload(request):
        f = request.FILES["file"]
        s3.put_object(Bucket=BUCKET, Key=f"documents/{f.name}", Body=f.read())
    ```

    ## Use instead
    ```python
    def upload(request):
        f = request.FILES["file"]
        key = f"documents/{uuid.uuid4()}.pdf"
        s3.put_object(Bucket=BUCKET, Key=key, Body=f.read(), Metadata={"filename": f.name})
    ```
    """
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    key = _key_argument(node)
    if key is None:
        return
    name_read = _client_file_name(key, ctx)
    if name_read is None:
        return
    pieces = [piece for piece in _pieces(key, ctx, {}) if not isinstance(piece, str)]
    if any(_unique_part(piece, ctx) for piece in pieces if name_read not in list(ast.walk(piece))):
        return
    method = node.func.attr if isinstance(node.func, ast.Attribute) else "upload"
    where: ast.AST = name_read if name_read.lineno != node.lineno else node
    ctx.report(
        where,
        f"the object key passed to {method}() on line {node.lineno} is the file name the "
        "client sent: two users uploading `report.pdf` overwrite each other's object, and "
        "the client picks the key's path. Name the object with a uuid (keep the file name as "
        "metadata)",
    )
