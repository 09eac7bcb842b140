"""Error handling: raising inside except without ``from`` (ERR003)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import dotted, in_service_code

# Exceptions that translate an error for a client or a user rather than report a bug: their
# traceback is not logged, so an explicit cause would not be seen either.
_USER_FACING = frozenset(
    {
        "Http404",
        "HTTPException",
        "NotFound",
        "PermissionDenied",
        "ValidationError",
        "BadRequest",
        "SuspiciousOperation",
        "CommandError",
        "ClickException",
        "UsageError",
        "BadParameter",
        "Abort",
        "Exit",
        "SystemExit",
        "KeyboardInterrupt",
        "StopIteration",
        "StopAsyncIteration",
        "GeneratorExit",
        "NotImplementedError",
        "SkipTest",
    }
)


# -- ERR003 ----------------------------------------------------------------------------------


@python_rule(
    code="ERR003",
    name="raise-without-from-inside-except",
    category=Category.ERROR_HANDLING,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="New exception raised inside an except block without 'from': the cause is muddled",
    nodes=(ast.Raise,),
    fix="Raise with 'from exc' to chain the cause (or 'from None' to drop it on purpose).",
)
def raise_without_from(node: ast.Raise, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `raise NewError(...)` inside an `except` block of the same function without a
    `from` clause. Re-raising (`raise`, `raise exc`) and exceptions that only translate an
    error for a client or a user (`Http404`, `HTTPException`, `ValidationError`,
    `CommandError`, `SystemExit`...) are left alone.

    ## Why it breaks production
    Without `from`, Python records the original error only as the implicit context and prints
    "During handling of the above exception, another exception occurred" -- which reads as a
    second, unrelated bug in the handler. On-call engineers chase the wrong failure, and error
    trackers group the event under the wrapper instead of its cause. `from exc` states that the
    new error was caused by the original; `from None` states that the original is irrelevant.

    ## Example
    ```python
    try:
        profile = billing_client.get_profile(user_id)
    except requests.RequestException as exc:
        raise BillingUnavailable(f"cannot load profile {user_id}")
    ```

    ## Use instead
    ```python
    try:
        profile = billing_client.get_profile(user_id)
    except requests.RequestException as exc:
        raise BillingUnavailable(f"cannot load profile {user_id}") from exc
    ```
    """
    exc = node.exc
    if exc is None or node.cause is not None or not ctx.handlers:
        return
    # Libraries and tools translate errors on purpose, and Python chains the context anyway;
    # the cost of a misleading traceback is paid where a service's on-call reads it.
    if not in_service_code(ctx):
        return
    if isinstance(exc, ast.Call):
        target = exc.func
    elif isinstance(exc, ast.Name | ast.Attribute):
        target = exc
    else:
        return
    text = dotted(target)
    if text is None:
        return  # ``raise type(exc)(...)``, ``raise errors[code]``: not clearly a new class
    handler = ctx.handlers[-1]
    if handler.name is None:
        return  # the handler ignores the original: a deliberate translation (KeyError -> ...)
    if isinstance(target, ast.Name) and any(h.name == target.id for h in ctx.handlers):
        return  # re-raises the caught exception
    if isinstance(exc, ast.Call) and any(
        isinstance(value, ast.Name) and value.id == handler.name
        for value in [*exc.args, *(k.value for k in exc.keywords)]
    ):
        return  # ``raise WrapperError(exc)``: the original travels inside the new one
    last = text.rsplit(".", 1)[-1]
    if not last[:1].isupper() or last.isupper() or last in _USER_FACING:
        # lower case: a factory or a variable holding an exception; UPPER: a constant
        return
    hint = f"from {handler.name}"
    ctx.report(
        node,
        f"{last} is raised inside an except block without 'from': the traceback shows the "
        "original error only as 'During handling of the above exception, another exception "
        f"occurred'. Chain it explicitly with '{hint}' (or 'from None' to drop it on purpose).",
    )
