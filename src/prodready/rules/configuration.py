"""Configuration: settings that are right on a laptop and wrong in production, and the hygiene
of prodready's own configuration (suppressions)."""

from __future__ import annotations

from prodready.engine.documents import FileContext
from prodready.engine.registry import file_rule
from prodready.engine.suppress import Suppression
from prodready.model import Category, Severity


@file_rule(
    kind=None,
    code="CFG900",
    name="suppression-without-reason",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    summary="A `# prodready: ignore` comment that does not say why",
    fix="Add the reason after the codes: # prodready: ignore[RES001] upstream enforces a deadline",
)
def suppression_without_reason(suppression: Suppression, ctx: FileContext) -> None:
    """
    ## What it does
    Flags `# prodready: ignore[...]` comments that give no reason after the rule codes, and
    blanket `# prodready: ignore` comments that name no rule at all.

    ## Why it breaks production
    A suppression is a decision that a production risk is acceptable here. Without the reason,
    nobody reviewing the change -- or the incident it later causes -- can tell a considered
    exception from a silenced warning, and blanket suppressions hide every future finding on
    that line too.

    ## Example
    ```python
    resp = requests.get(url)  # prodready: ignore[RES001]
    ```

    ## Use instead
    ```python
    resp = requests.get(url)  # prodready: ignore[RES001] the session adapter sets a 5 s timeout
    ```
    """
    if not suppression.reason:
        ctx.report(
            suppression.line,
            "suppression without a reason: say why this finding is acceptable here",
        )
    elif not suppression.codes:
        ctx.report(
            suppression.line,
            "blanket suppression silences every rule on this line: name the rule codes",
        )
