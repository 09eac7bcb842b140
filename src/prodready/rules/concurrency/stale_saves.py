"""Concurrency: a Django row loaded, a slow call to another system, then the whole row saved
(CON012)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    FunctionEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import dotted, has_keyword, is_script, walk_body
from prodready.rules.concurrency.races import _loaded_object

_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# Libraries whose calls wait on another system (by the root of the qualified name).
_REMOTE_ROOTS = frozenset(
    {"requests", "httpx", "aiohttp", "urllib", "urllib3", "stripe", "braintree", "boto3"}
    | {"smtplib", "twilio", "sendgrid", "paypalrestsdk", "openai", "anthropic", "slack_sdk"}
)
_REFRESH = frozenset({"refresh_from_db", "arefresh_from_db"})


def _remote(call: ast.Call, ctx: PythonContext) -> bool:
    name = ctx.qualname(call.func) or ""
    return name.split(".", 1)[0] in _REMOTE_ROOTS


def _remote_helpers(ctx: PythonContext) -> frozenset[str]:
    """Module functions that call another system themselves (``_push_to_channel_manager``)."""
    found: set[str] = set()
    for node in ctx.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in walk_body(node.body):
                if isinstance(inner, ast.Call) and _remote(inner, ctx):
                    found.add(node.name)
                    break
    return frozenset(found)


_REMOTE_HELPERS: ModuleMemo[frozenset[str]] = ModuleMemo("CON012:remote", _remote_helpers)


def _may_save_loaded_row(ctx: PythonContext) -> bool:
    # A finding needs a load whose text holds ".objects." or "get_object_or_404" and a call
    # of save/asave: a module without those words has none (a name outside ASCII may be
    # spelled otherwise in the source, so such a module is always looked at).
    source = ctx.source
    if not source.isascii():
        return True
    return ("objects." in source or "get_object_or_404" in source) and "save" in source


# Whether a function of the module can report: most modules load no row or never save one,
# and their functions' texts and bodies need not be read.
_MAY_SAVE_LOADED_ROW: ModuleMemo[bool] = ModuleMemo("CON012:may-match", _may_save_loaded_row)


def _django_load(value: ast.expr, ctx: PythonContext) -> bool:
    """An unlocked Django row: ``Model.objects...get(...)``, ``get_object_or_404(...)``."""
    text = ctx.segment(value)
    return (".objects." in text or "get_object_or_404" in text) and _loaded_object(
        value, ctx
    ) is False


@python_rule(
    code="CON012",
    name="stale-row-saved-after-remote-call",
    category=Category.CONCURRENCY,
    severity=Severity.MEDIUM,
    summary="A Django row loaded before a slow remote call is saved whole after it",
    nodes=(FunctionEnd,),
    confidence=Confidence.MEDIUM,
    fix="Save only what changed (obj.save(update_fields=[...]) or "
    "Model.objects.filter(pk=..., status=...).update(...)), or reload/lock the row after the "
    "call (refresh_from_db(), select_for_update() in a short transaction).",
)
def stale_row_saved_after_remote_call(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a Django model instance loaded without a lock (`Model.objects.get(...)`,
    `get_object_or_404(...)`), then a call to another system (requests, httpx, aiohttp,
    stripe, boto3, smtplib..., or a function of the module that makes one), then
    `obj.save()` without `update_fields` and with no `refresh_from_db()` after the call.

    ## Why it breaks production
    `save()` writes every field of the copy loaded before the call. The call takes seconds
    (or minutes with retries); meanwhile a request cancels the booking, a webhook marks the
    payment refunded, an admin edits the row -- and the save puts back the old values,
    silently undoing them. Tests never run anything in between.

    ## Example
    ```python
    booking = Booking.objects.get(pk=booking_id)
    resp = requests.post(CHANNEL_URL, json=payload(booking), timeout=10)
    booking.status = "confirmed"
    booking.save()
    ```

    ## Use instead
    ```python
    resp = requests.post(CHANNEL_URL, json=payload(booking), timeout=10)
    booking.status = "confirmed"
    booking.save(update_fields=["status"])
    # or only if nobody changed it meanwhile:
    Booking.objects.filter(pk=booking.pk, status="pending").update(status="confirmed")
    ```
    """
    scope = ctx.function
    if scope is None or ctx.facts.is_test or is_script(ctx):
        return
    if not ctx.memo(_MAY_SAVE_LOADED_ROW):
        return
    function = scope.node
    if "select_for_update" in ctx.segment(function):
        return
    helpers = ctx.memo(_REMOTE_HELPERS)
    loaded: dict[str, int] = {}  # name -> line of its load
    remote_after: dict[str, ast.Call] = {}  # name -> first remote call after its load
    for item in walk_body(function.body):
        if isinstance(item, _OPAQUE):
            continue
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
            if isinstance(target, ast.Name):
                remote_after.pop(target.id, None)
                loaded.pop(target.id, None)
                if _django_load(item.value, ctx):
                    loaded[target.id] = item.lineno
            continue
        if not isinstance(item, ast.Call):
            continue
        func = item.func
        callee = (dotted(func) or "").rsplit(".", 1)[-1]
        if _remote(item, ctx) or (isinstance(func, ast.Name) and func.id in helpers):
            for name in loaded:
                remote_after.setdefault(name, item)
            continue
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            continue
        name = func.value.id
        if callee in _REFRESH:
            remote_after.pop(name, None)
        elif callee in {"save", "asave"} and name in remote_after:
            if has_keyword(item, "update_fields"):
                continue
            call = remote_after[name]
            ctx.report(
                item,
                f"{name} was loaded on line {loaded[name]}, then {ctx.segment(call.func)}() "
                f"waits on another system (line {call.lineno}) and {name}.save() writes every "
                "field of that old copy: a change made meanwhile (a cancellation, a webhook, "
                f"an admin edit) is silently undone. Save only what changed ({name}.save("
                "update_fields=[...]) or a filtered update()), or reload the row after the call",
            )
            return
