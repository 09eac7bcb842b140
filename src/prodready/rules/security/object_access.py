"""Security: one object fetched by the client's id with no ownership check (SEC045, IDOR)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleMemo, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted

# -- SEC045 ------------------------------------------------------------------------------------

# The caller compared with a row's owner: ``owner=request.user``, ``Doc.user_id ==
# current_user.id``, ``filter_by(account_id=user.account_id)``.
_CALLER = r"(?:request\.user|current_user|\bg\.user|request\.state\.user)\b"
_SCOPED_TO_CALLER = re.compile(
    rf"\b\w+\s*(?:=|==)\s*{_CALLER}|{_CALLER}[\w.]*\s*==\s*\w+\.\w+"
    # a ``user`` the handler was given (FastAPI ``user = Depends(get_current_user)``)
    r"|\b(?:owner|user|created_by|author|account|customer|member)\w*\s*(?:=|==)\s*user\b",
    re.IGNORECASE,
)
# Anything in the handler that may check access to the row it loads.
_ACCESS_EVIDENCE = re.compile(
    r"request\.user|current_user|\bg\.user|request\.state\.user|\bowner|has_perm|is_staff"
    r"|is_superuser|is_admin|permission|check_object_permissions|\btenant|organi[sz]ation"
    r"|\buser_id\b|\buser=|authori[sz]e|check_access|\bcan_\w+|\bshare|\bpublic",
    re.IGNORECASE,
)
_AUTH_DECORATOR = re.compile(r"login_required|jwt_required|auth_required|authenticated")
_AUTH_DEPENDENCY = re.compile(r"current_user|get_user|authenticat|require_user")
_AUTH_ONLY_PERMISSIONS = frozenset({"IsAuthenticated", "IsAuthenticatedOrReadOnly"})
_DRF_VIEW_BASES = ("APIView", "GenericAPIView")
_ID_KEYWORDS = frozenset({"pk", "id", "uuid", "slug"})


def _owned_models(ctx: PythonContext) -> frozenset[str]:
    """Models the module scopes to the caller somewhere (``Document.objects.filter(owner=
    request.user)``, ``select(Note).where(Note.user_id == current_user.id)``): rows that
    belong to users."""
    owned: set[str] = set()
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        method = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
        if method not in {"filter", "filter_by", "where", "get", "exclude", "get_object_or_404"}:
            continue
        arguments = " ".join(ctx.segment(a) for a in [*node.args, *node.keywords])
        if not _SCOPED_TO_CALLER.search(arguments):
            continue
        owned.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id[:1].isupper())
    return frozenset(owned)


_OWNED: ModuleMemo[frozenset[str]] = ModuleMemo("SEC045:owned", _owned_models)


def _fetched_by_id(call: ast.Call, ids: set[str]) -> str | None:
    """The model of a single-row fetch by one of ``ids`` (the client's values):
    ``get_object_or_404(Doc, pk=doc_id)``, ``Doc.objects.get(id=doc_id)``,
    ``session.get(Doc, doc_id)``, ``db.query(Doc).get(doc_id)``,
    ``Doc.query.get_or_404(doc_id)``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    by_id = [v for k, v in keywords.items() if k in _ID_KEYWORDS]
    if name == "get_object_or_404" and call.args:
        model = call.args[0]
        if isinstance(model, ast.Name) and len(keywords) == len(by_id) == 1:
            return model.id if _is_client_value(by_id[0], ids) else None
        return None
    if name not in {"get", "get_or_404"} or not isinstance(func, ast.Attribute):
        return None
    receiver = func.value
    if (  # Flask-SQLAlchemy: Note.query.get_or_404(note_id)
        isinstance(receiver, ast.Attribute)
        and receiver.attr == "query"
        and isinstance(receiver.value, ast.Name)
        and len(call.args) == 1
        and _is_client_value(call.args[0], ids)
    ):
        return receiver.value.id
    if isinstance(receiver, ast.Attribute) and receiver.attr == "objects":
        model_node = receiver.value
        if isinstance(model_node, ast.Name) and len(keywords) == len(by_id) == 1:
            return model_node.id if _is_client_value(by_id[0], ids) else None
        return None
    # session.get(Model, id), Flask-SQLAlchemy 3's db.get_or_404(Model, id)
    if len(call.args) == 2 and isinstance(call.args[0], ast.Name):
        model_name = call.args[0].id
        if model_name[:1].isupper() and _is_client_value(call.args[1], ids):
            return model_name
        return None
    if (  # db.query(Model).get(id)
        isinstance(receiver, ast.Call)
        and isinstance(receiver.func, ast.Attribute)
        and receiver.func.attr == "query"
        and len(receiver.args) == 1
        and isinstance(receiver.args[0], ast.Name)
        and len(call.args) == 1
        and _is_client_value(call.args[0], ids)
    ):
        return receiver.args[0].id
    return None


def _is_client_value(value: ast.expr, ids: set[str]) -> bool:
    if isinstance(value, ast.Call) and dotted(value.func) in {"int", "str", "uuid.UUID", "UUID"}:
        value = value.args[0] if len(value.args) == 1 else value
    return isinstance(value, ast.Name) and value.id in ids


def _authenticated_handler(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """A handler whose only guard is being logged in: ``@login_required``, an auth
    dependency, or a DRF view whose permissions are only ``IsAuthenticated``."""
    owner = ctx.classes[-1].node if ctx.classes else None
    if isinstance(owner, ast.ClassDef):
        if not any((dotted(b) or "").endswith(_DRF_VIEW_BASES) for b in owner.bases):
            return False
        if node.name not in {"get", "put", "patch", "delete"}:
            return False
        for statement in owner.body:
            if isinstance(statement, ast.Assign) and any(
                dotted(t) == "permission_classes" for t in statement.targets
            ):
                value = statement.value
                if not isinstance(value, ast.List | ast.Tuple):
                    return False
                names = {(dotted(e) or "?").rpartition(".")[2] for e in value.elts}
                return bool(names) and names <= _AUTH_ONLY_PERMISSIONS
        return False
    decorators = " ".join(ctx.segment(d) for d in node.decorator_list)
    if _AUTH_DECORATOR.search(decorators):
        return True
    scope = ctx.function
    route = scope.route if scope is not None else None
    if route is None:
        return False
    return bool(_AUTH_DEPENDENCY.search(" ".join(route.dependencies))) or any(
        _AUTH_DEPENDENCY.search(ctx.segment(default))
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    )


@python_rule(
    code="SEC045",
    name="object-fetched-without-owner-check",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Handler loads a user-owned row by the client's id with no ownership check (IDOR)",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    cwe=639,
    fix="Scope the lookup to the caller: get_object_or_404(Document, pk=doc_id, "
    "owner=request.user), or check row.owner == request.user before using it.",
)
def object_fetched_without_owner_check(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags authenticated handlers -- `@login_required` Django and Flask views, FastAPI routes
    depending on the current user, DRF `APIView` methods with only `IsAuthenticated` -- that
    load one row by an id the client sends (`get_object_or_404(Document, pk=doc_id)`,
    `Document.objects.get(id=doc_id)`, SQLAlchemy `session.get(Note, note_id)`,
    `db.query(Note).get(note_id)`) of a model that the same module scopes to the caller
    elsewhere (`Document.objects.filter(owner=request.user)`, `Note.user_id ==
    current_user.id`), when nothing in the handler compares the row with the caller: no
    `owner=request.user` in the lookup, no `row.owner != request.user` check, no
    permission, staff or tenant check.

    ## Why it breaks production
    The ids are sequential or leak in URLs: any logged-in account walks `/documents/1/`,
    `/documents/2/`... and downloads every other customer's contracts, invoices or medical
    records (insecure direct object reference, OWASP A01). The list page being scoped to the
    owner hides the bug in testing, because nobody types another user's id.

    ## Example
    ```python
    @login_required
    def download(request, doc_id):
        document = get_object_or_404(Document, pk=doc_id)
        return FileResponse(document.file.open())
    ```

    ## Use instead
    ```python
    @login_required
    def download(request, doc_id):
        document = get_object_or_404(Document, pk=doc_id, owner=request.user)
        return FileResponse(document.file.open())
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    if not node.args.args or not _authenticated_handler(node, ctx):
        return
    owned = ctx.memo(_OWNED)  # one walk of the module, only once a handler qualifies
    if not owned:
        return
    body = "\n".join(ctx.segment(statement) for statement in node.body)
    if _ACCESS_EVIDENCE.search(body):
        return
    ids = {a.arg for a in [*node.args.args, *node.args.kwonlyargs]} - {"self", "request"}
    for child in ast.walk(node):
        if not isinstance(child, ast.Call):
            continue
        model = _fetched_by_id(child, ids)
        if model is not None and model in owned:
            ctx.report(
                child,
                f"{node.name}() loads the {model} row whose id the client sends for any "
                f"logged-in user: this module scopes {model} rows to their owner "
                "elsewhere, but nothing here checks that this one is the caller's (insecure "
                "direct object reference). Add the owner to the lookup "
                "(owner=request.user) or check it before using the row",
            )
            return
