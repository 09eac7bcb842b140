"""Error handling: retry loops that give up silently (ERR007)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, FunctionEnd, PythonContext, Severity, python_rule
from prodready.rules.error_handling._retry_exhaustion import blocks, outcome_checked, silent_retry

# -- ERR007 ----------------------------------------------------------------------------------


@python_rule(
    code="ERR007",
    name="retry-exhaustion-ignored",
    category=Category.ERROR_HANDLING,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Retry loop that gives up silently: after the last failed attempt the code goes on",
    nodes=(FunctionEnd,),
    fix="Raise when the attempts are spent (a for ... else: raise, or re-raise on the last "
    "attempt), or test the outcome after the loop and take the failure path.",
)
def retry_exhaustion_ignored(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `for attempt in range(n)` (and `while attempts < n`) retry loops around a call to
    another service whose `try`
    leaves the loop with `break` on success and whose handlers only log or sleep, when the
    loop has no `else:` and the code after it goes on without testing the outcome: the
    first statement after the loop is reported. A loop whose handler raises on the last
    attempt, a `for ... else: raise`, or an `if result is None:` after the loop is left alone.

    ## Why it breaks production
    When every attempt fails, the loop simply ends and execution continues as if the call had
    succeeded: the subscription period is extended although no charge went through, the
    shipment is marked dispatched although the carrier never accepted it, the next step runs
    on a missing result and fails somewhere unrelated. The retries hide the failure instead of
    surviving it.

    ## Example
    ```python
    for attempt in range(3):
        try:
            carrier.book_pickup(shipment.id)
            break
        except CarrierError:
            time.sleep(2**attempt)
    shipment.status = "pickup_booked"
    ```

    ## Use instead
    ```python
    for attempt in range(3):
        try:
            carrier.book_pickup(shipment.id)
            break
        except CarrierError:
            time.sleep(2**attempt)
    else:
        raise PickupNotBooked(shipment.id)
    shipment.status = "pickup_booked"
    ```
    """
    if ctx.facts.is_test or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return
    for block in blocks(node):
        for index, statement in enumerate(block):
            if not isinstance(statement, ast.For | ast.While):
                continue
            attempt = silent_retry(statement, ctx)
            rest = block[index + 1 :]
            if attempt is None or not rest or isinstance(rest[0], ast.Raise):
                continue
            if outcome_checked(statement, attempt, rest):
                continue
            ctx.report(
                rest[0],
                f"When every attempt of the retry loop on line {statement.lineno} fails, the "
                "loop just ends and this code runs as if the call had succeeded: the failure "
                "is hidden and the work is recorded as done. Raise when the attempts are spent "
                "(for ... else: raise) or test the outcome here",
            )
