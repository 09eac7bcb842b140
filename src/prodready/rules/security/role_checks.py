"""Security: bulk destructive actions open to any authenticated user (SEC044)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted

# -- SEC044 ------------------------------------------------------------------------------------

# Anything that may restrict the caller to a role, a permission or their own rows.
_ROLE_EVIDENCE = re.compile(
    r"is_staff|is_superuser|is_admin|has_perm|IsAdmin|permission_required|user_passes_test"
    r"|staff_member_required|roles?_required|admin|superuser|staff|\brole|permission"
    r"|\bscope|groups|owner|tenant|organi[sz]ation|request\.user|current_user\.id"
    # rows reached through an object loaded for the caller: _get_project_for_user(request, ..)
    r"|for_user|by_user|_user\(|(filter|filter_by|get)\([^)]*\buser=|user_id|authori[sz]e"
    r"|check_access|\bcan_\w+",
    re.IGNORECASE,
)
_AUTH_ONLY_PERMISSIONS = frozenset({"IsAuthenticated", "IsAuthenticatedOrReadOnly"})
_DRF_VIEW_BASES = ("APIView", "ViewSet", "GenericAPIView", "ModelViewSet", "GenericViewSet")
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete", "destroy"})
_AUTH_DEPENDENCY = re.compile(r"current_user|get_user|authenticat|login_required|jwt_required")
# A queryset/statement that selects many rows: Django ``.objects.filter(...)``/``.all()``,
# SQLAlchemy ``query(M).filter(...)`` and ``delete(M).where(...)``/``update(M).where(...)``.
_MANY_ROWS = re.compile(
    r"\.objects\.(filter|exclude|all)\(|\.query\([^)]*\)\.filter|\bquery\.filter"
    r"|\b(sa\.|sqlalchemy\.)?(delete|update)\(\w+\)\.where\("
)


def _permission_names(owner: ast.ClassDef) -> list[str] | None:
    """The names in the class's ``permission_classes`` (None when it declares none)."""
    for statement in owner.body:
        if (
            isinstance(statement, ast.Assign)
            and any(dotted(t) == "permission_classes" for t in statement.targets)
            and isinstance(statement.value, ast.List | ast.Tuple)
        ):
            return [(dotted(e) or "?").rpartition(".")[2] for e in statement.value.elts]
    return None


def _authenticated_only_view(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> bool:
    """A state-changing handler whose only guard is being logged in (or nothing at all)."""
    owner = ctx.classes[-1].node if ctx.classes else None
    if isinstance(owner, ast.ClassDef) and any(
        (dotted(base) or "").endswith(_DRF_VIEW_BASES) for base in owner.bases
    ):
        if node.name not in _WRITE_METHODS:
            return False
        permissions = _permission_names(owner)
        return permissions is None or set(permissions) <= _AUTH_ONLY_PERMISSIONS
    scope = ctx.function
    route = scope.route if scope is not None else None
    if route is None or not route.writes:
        return False
    guards = " ".join([*route.dependencies, *route.decorators])
    return bool(_AUTH_DEPENDENCY.search(guards)) or any(
        "current_user" in param.arg for param in node.args.args
    )


def _bulk_writes(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> list[ast.Call]:
    """``.update(...)``/``.delete()`` on a many-row selection made in the handler."""
    bound: dict[str, str] = {}
    writes: list[ast.Call] = []
    for child in ast.walk(node):
        if isinstance(child, ast.Assign) and len(child.targets) == 1:
            name = dotted(child.targets[0])
            if name is not None:
                bound[name] = ctx.segment(child.value)
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr in {"update", "delete", "execute"}
        ):
            receiver = ctx.segment(child.func.value)
            selection = bound.get(dotted(child.func.value) or "", receiver)
            if child.func.attr == "execute":
                selection = " ".join(ctx.segment(a) for a in child.args)
            if _MANY_ROWS.search(selection):
                writes.append(child)
    return writes


@python_rule(
    code="SEC044",
    name="bulk-action-without-role-check",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Bulk update/delete reachable by any logged-in user: no role or ownership check",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    cwe=285,
    fix="Require a role or permission (permission_classes=[IsAdminUser], "
    "Depends(require_admin)) or scope the rows to the caller (filter(owner=request.user)).",
)
def bulk_action_without_role_check(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags state-changing handlers whose only guard is authentication -- a DRF `APIView` or
    viewset method with no `permission_classes` or only `IsAuthenticated`, a FastAPI route
    depending on `get_current_user`, a Flask route under `@login_required` -- that update or
    delete many rows selected by request values (`Model.objects.filter(...).update(...)`,
    `.delete()`, SQLAlchemy `query(M).filter(...).delete()`, `delete(M).where(...)`) with no
    role, permission or ownership check anywhere in the handler or its class (`is_staff`,
    `has_perm`, `IsAdminUser`, a `role`, an `owner`/`request.user` filter...).

    ## Why it breaks production
    Logging in is not the same as being allowed to do it. Every customer, patient or driver
    account can call the endpoint and cancel a whole day of appointments, wipe another
    tenant's data or mark every order shipped -- broken access control, the most common
    web-application vulnerability (OWASP A01).

    ## Example
    ```python
    class DoctorDayCancelView(APIView):
        permission_classes = [IsAuthenticated]

        def post(self, request, doctor_id):
            Appointment.objects.filter(doctor_id=doctor_id).update(status="cancelled")
    ```

    ## Use instead
    ```python
    class DoctorDayCancelView(APIView):
        permission_classes = [IsAdminUser]
        ...
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    if not _authenticated_only_view(node, ctx):
        return
    # The handler and its decorators; for a view class also its other members (a
    # get_queryset() scoped to the user, a check_permissions() override) -- but not the
    # permission_classes already judged authentication-only.
    owner = ctx.classes[-1].node if ctx.classes else None
    context = [ctx.segment(d) for d in node.decorator_list]
    if isinstance(owner, ast.ClassDef):
        context += [
            ctx.segment(member)
            for member in owner.body
            if not (
                isinstance(member, ast.Assign)
                and any(dotted(t) == "permission_classes" for t in member.targets)
            )
        ]
    else:
        context.append(ctx.segment(node))
    if any(_ROLE_EVIDENCE.search(text) for text in context):
        return
    writes = _bulk_writes(node, ctx)
    if not writes:
        return
    ctx.report(
        writes[0],
        f"{node.name}() changes many rows selected by request values but only checks that the "
        "caller is logged in (no role, permission or ownership check): any account can run "
        "this bulk action. Require a role or scope the rows to the caller",
    )
