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


# -- SEC054 ------------------------------------------------------------------------------------

_ADMIN_ROUTE = re.compile(
    r"(?:^|/)_*(?:admin|manage|management|backoffice|back-office|staff|superuser)(?:$|[/_\-.])",
    re.IGNORECASE,
)
_ADMIN_FUNCTION = re.compile(r"^admin_|_admin$|^manage_|^staff_", re.IGNORECASE)
# A role or permission check, in the handler or its guards (ownership does not make a caller
# an administrator).
_ADMIN_EVIDENCE = re.compile(
    r"is_staff|is_superuser|is_admin|has_perm|IsAdmin|permission_required|user_passes_test"
    r"|staff_member_required|roles?_required|admin_required|require_admin|admin_only"
    r"|superuser|\brole|permission|groups|\bscope|abort\(\s*403|\b403\b|HTTP_403|Forbidden"
    r"|PermissionDenied|authori[sz]e|\bcan_\w+|check_access|privilege",
    re.IGNORECASE,
)
# Django class-based views: the methods that change state.
_DJANGO_WRITES = frozenset({"post", "put", "patch", "delete", "form_valid", "form_invalid"})
_LOGIN_ONLY = re.compile(r"login_required|jwt_required|fresh_jwt_required|auth_required")


def _login_only_guard(
    node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext
) -> str | None:
    """How the route authenticates when that is all it does: the login decorator, the
    identity dependency, or DRF's IsAuthenticated. None when it does not authenticate at all
    (SEC030's case) or when the guard may check more."""
    owner = ctx.classes[-1].node if ctx.classes else None
    if isinstance(owner, ast.ClassDef) and any(
        (dotted(base) or "").endswith(_DRF_VIEW_BASES) for base in owner.bases
    ):
        permissions = _permission_names(owner)
        if node.name in _WRITE_METHODS and permissions and set(permissions) <= {"IsAuthenticated"}:
            return "permission_classes = [IsAuthenticated]"
        return None
    if isinstance(owner, ast.ClassDef):
        bases = [(dotted(base) or "").rsplit(".", 1)[-1] for base in owner.bases]
        if "LoginRequiredMixin" in bases and node.name in _DJANGO_WRITES:
            if any(_ADMIN_EVIDENCE.search(base) for base in bases):
                return None  # PermissionRequiredMixin, UserPassesTestMixin, StaffRequired...
            return "LoginRequiredMixin"
    scope = ctx.function
    route = scope.route if scope is not None else None
    if route is None or not route.writes:
        return None
    decorators = [name.rsplit(".", 1)[-1] for name in route.decorators]
    login = next((name for name in decorators if _LOGIN_ONLY.fullmatch(name)), None)
    if login is not None:
        return f"@{login}"
    dependency = next((name for name in route.dependencies if _AUTH_DEPENDENCY.search(name)), None)
    return f"Depends({dependency.rsplit('.', 1)[-1]})" if dependency else None


def _guard_node(
    node: ast.FunctionDef | ast.AsyncFunctionDef, owner: ast.ClassDef | None, guard: str
) -> ast.AST:
    """Where the insufficient guard is written: the login decorator, the permission_classes
    line, else the handler."""
    if guard.startswith("@"):
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if (dotted(target) or "").rsplit(".", 1)[-1] == guard[1:]:
                return decorator
    if owner is not None:
        for member in owner.body:
            if isinstance(member, ast.Assign) and any(
                dotted(t) == "permission_classes" for t in member.targets
            ):
                return member
    return node


@python_rule(
    code="SEC054",
    name="admin-route-without-role-check",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Admin route that checks the caller is logged in but not that they are an admin",
    nodes=(ast.FunctionDef, ast.AsyncFunctionDef),
    cwe=285,
    fix="Require the role or permission the action needs: @roles_required('admin'), "
    "Depends(require_admin), permission_classes = [IsAdminUser], PermissionRequiredMixin.",
)
def admin_route_without_role_check(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags state-changing routes named for administration -- a path segment `admin`,
    `manage`, `backoffice` or `staff`, or a handler named `admin_*` -- whose only guard is
    authentication: Flask's `@login_required`/`@jwt_required`, a FastAPI
    `Depends(get_current_user)`, DRF `permission_classes = [IsAuthenticated]`, with no role,
    permission or 403 check in the handler, its decorators or a `before_request` hook of its
    module. Routes with no authentication at all are SEC030's.

    ## Why it breaks production
    Every signed-up account -- a customer, a technician, a trial user -- can call it: change
    prices, import a catalogue, place supplier orders, edit other users. Nothing in the logs
    looks wrong, because the caller is a real, logged-in user (broken access control, OWASP
    A01).

    ## Example
    ```python
    @app.post("/admin/prices/<int:item_id>")
    @login_required
    def admin_set_price(item_id):
        ...
    ```

    ## Use instead
    ```python
    @app.post("/admin/prices/<int:item_id>")
    @login_required
    @roles_required("admin")
    def admin_set_price(item_id):
        ...
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    scope = ctx.function
    route = scope.route if scope is not None else None
    owner = ctx.classes[-1].node if ctx.classes else None
    named = _ADMIN_FUNCTION.search(node.name) or (
        route is not None and route.path is not None and _ADMIN_ROUTE.search(route.path)
    )
    if owner is not None:
        named = named or re.search(r"Admin|Manage|Staff|Backoffice", owner.name)
    if not named:
        return
    guard = _login_only_guard(node, ctx)
    if guard is None:
        return
    context = [ctx.segment(d) for d in node.decorator_list] + [ctx.segment(node)]
    if owner is not None:  # its other members, not the permission_classes judged above
        context += [
            ctx.segment(member)
            for member in owner.body
            if not (
                isinstance(member, ast.Assign)
                and any(dotted(t) == "permission_classes" for t in member.targets)
            )
        ]
    if any(_ADMIN_EVIDENCE.search(text) for text in context):
        return
    if re.search(r"before_(?:app_)?request|add_middleware|MIDDLEWARE", ctx.source):
        return  # a hook or middleware may check the role for every route
    where = route.path if route is not None and route.path else node.name
    if owner is not None and not (route is not None and route.path):
        where = f"{owner.name}.{node.name}()"
    ctx.report(
        _guard_node(node, owner, guard),
        f"{where} is an admin route that only checks the caller is logged in ({guard}): "
        "any account can call it -- no role, permission or 403 check in the handler or its "
        "guards. Require the administrator role or permission",
    )
