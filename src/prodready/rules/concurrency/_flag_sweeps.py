"""CON009's sweeps: a job walks rows, skips those whose flag says the work is done, does the
work outside the database (sends, notifies, charges) and only then sets the flag. Two runs
that overlap -- a cron entry firing while the last run is still sending, a scheduler on two
replicas, a retried task -- both see the flag unset and both do the work."""

from __future__ import annotations

import ast
import re

from prodready.plugin import PythonContext, Severity
from prodready.plugin.analysis import walk_body

_LOCKED = re.compile(
    r"select_for_update|with_for_update|FOR\s+UPDATE|skip_locked|advisory|\.lock\(|Lock\(", re.I
)
_OPAQUE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_EFFECT_WORDS = frozenset(
    {"send", "sms", "email", "mail", "notify", "push", "charge", "publish", "post", "deliver"}
    | {"remind", "webhook", "payout", "refund"}
)


def _skipped_on(test: ast.expr, row: str) -> str | None:
    """``if row.flag:`` / ``if row.state == "sent":`` / ``if row.sent_at is not None:``: the
    field of ``row`` whose value skips it."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        test = test.left
    if (
        isinstance(test, ast.Attribute)
        and isinstance(test.value, ast.Name)
        and test.value.id == row
    ):
        return test.attr
    return None


def _effect(node: ast.AST) -> ast.Call | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    words = set(last.lower().strip("_").split("_"))
    return node if words & _EFFECT_WORDS and not last[:1].isupper() else None


def _sets(node: ast.AST, row: str, field: str) -> bool:
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Attribute)
        and isinstance(t.value, ast.Name)
        and t.value.id == row
        and t.attr == field
        for t in node.targets
    )


def _claims(loop: ast.For | ast.AsyncFor, field: str) -> bool:
    """The loop claims the row with a conditional write naming the flag (``filter(pk=...,
    sent=False).update(sent=True)``): the run that loses updates nothing."""
    for node in walk_body(loop.body):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"update", "aupdate"}
            and field in ast.unparse(node)
        ):
            return True
    return False


def flag_sweep(function: ast.FunctionDef | ast.AsyncFunctionDef, ctx: PythonContext) -> bool:
    """Report the skip test of a sweep whose flag is set only after the work; True when
    reported. Rows selected under a lock (skip_locked: each run takes other rows) are not."""
    if not any(isinstance(node, ast.For | ast.AsyncFor) for node in walk_body(function.body)):
        return False
    if _LOCKED.search(ctx.segment(function)):
        return False
    for loop in walk_body(function.body):
        if not isinstance(loop, ast.For | ast.AsyncFor) or not isinstance(loop.target, ast.Name):
            continue
        row = loop.target.id
        skip: tuple[ast.If, str] | None = None
        effect: ast.Call | None = None
        for node in walk_body(loop.body):
            if isinstance(node, _OPAQUE):
                continue
            if skip is None:
                if (
                    isinstance(node, ast.If)
                    and node.body
                    and isinstance(node.body[-1], ast.Continue)
                    and (field := _skipped_on(node.test, row)) is not None
                ):
                    skip = (node, field)
                continue
            if effect is None:
                effect = _effect(node)
                continue
            if _sets(node, row, skip[1]) and not _claims(loop, skip[1]):
                test, field = skip
                ctx.report(
                    test,
                    f"`{ctx.segment(test.test)}` skips rows already done, but {row}.{field} is "
                    f"set only after {ctx.segment(effect.func)}() (line {effect.lineno}): two "
                    "runs that overlap (a cron entry firing while the last run still works, a "
                    "scheduler on two replicas, a retried task) both see it unset and both do "
                    f"it. Claim each row first (filter(pk=..., {field}=<not done>).update("
                    f"{field}=<done>) and go on only when one row changed) or select the rows "
                    "with select_for_update(skip_locked=True)",
                    severity=Severity.MEDIUM,
                )
                return True
    return False
