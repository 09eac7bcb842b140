"""PRF018 on Django REST framework class-based views: a list action with pagination switched off.

A generic list view (``ListAPIView``, ``ListCreateAPIView``, ``ModelViewSet``,
``ReadOnlyModelViewSet``, or any view with ``ListModelMixin``) serializes its whole
``queryset`` in ``list()`` unless a paginator pages it. ``pagination_class = None`` on the view
removes the paginator whatever ``DEFAULT_PAGINATION_CLASS`` says: every row of the queryset is
loaded into one response. A view that overrides ``list()`` or ``get_queryset()`` decides what
it loads itself (the function-level PRF018 judges a ``list()`` override).
"""

from __future__ import annotations

import ast

from prodready.plugin import PythonContext
from prodready.plugin.analysis import DJANGO_LAZY_METHODS, django_query

_LIST_VIEWS = frozenset(
    {"ListAPIView", "ListCreateAPIView", "ModelViewSet", "ReadOnlyModelViewSet"}
    | {"ListModelMixin"}
)
_OWN_LISTING = frozenset({"list", "get_queryset", "paginate_queryset", "filter_queryset"})
# Lookups that select one row (or the caller's list of rows).
_ONE_ROW = frozenset({"pk", "id", "uuid", "slug"})


def unpaginated_list_view(
    node: ast.ClassDef, ctx: PythonContext
) -> tuple[ast.stmt, ast.expr] | None:
    """The ``pagination_class = None`` statement of a DRF list view and its ``queryset``
    value, when the queryset is not bounded (sliced, or one row by key) and the view does not
    list or filter it itself."""
    if not any(_base_name(base, ctx) in _LIST_VIEWS for base in node.bases):
        return None
    queryset: ast.expr | None = None
    unpaginated: ast.stmt | None = None
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            if statement.name in _OWN_LISTING:
                return None
            continue
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0]
        if not isinstance(target, ast.Name):
            continue
        if target.id == "pagination_class":
            off = isinstance(statement.value, ast.Constant) and statement.value.value is None
            unpaginated = statement if off else None
        elif target.id == "queryset":
            queryset = statement.value
        elif target.id in {"filterset_class", "filterset_fields"}:
            return None  # a filter may be required by the clients; not provable either way
    if unpaginated is None or queryset is None:
        return None
    chain = django_query(queryset)
    if chain is None or chain.sliced or chain.terminal not in DJANGO_LAZY_METHODS:
        return None
    for call in chain.calls:
        if any((item.arg or "").split("__")[0] in _ONE_ROW for item in call.keywords):
            return None
    return unpaginated, queryset


def _base_name(base: ast.expr, ctx: PythonContext) -> str:
    name = ctx.qualname(base) or ""
    if not name.startswith("rest_framework.") and "." in name:
        return ""
    return name.rsplit(".", 1)[-1]
