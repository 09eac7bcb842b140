"""Configuration: prodready's own suppression comments, without a reason, naming unknown rules or
unused (CFG900, CFG901, CFG902)."""

from __future__ import annotations

from prodready.plugin import Category, FileContext, Severity, Suppression, file_rule


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
    elif not suppression.codes and suppression.whole_file:
        ctx.report(
            suppression.line,
            "file-level suppression names no rule and silences nothing: name the rule codes",
        )
    elif not suppression.codes:
        ctx.report(
            suppression.line,
            "blanket suppression silences every rule on this line: name the rule codes",
        )


@file_rule(
    kind=None,
    code="CFG901",
    name="unknown-rule-in-suppression",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    summary="A suppression names a rule code or name that does not exist",
    fix="Correct the code (`prodready rules` lists them): # prodready: ignore[RES001] reason",
)
def unknown_rule_in_suppression(suppression: Suppression, ctx: FileContext) -> None:
    """
    ## What it does
    Flags rule codes and names in `# prodready: ignore[...]` and `ignore-file[...]` comments
    that name no rule -- a typo such as `RES01` for `RES001` -- and suggests the closest one.
    Codes of another family are left alone: they may be a plugin's rules.

    ## Why it breaks production
    A suppression with a mistyped code suppresses nothing, so the finding it was meant for
    still shows -- or, worse, the author believes a decision is recorded that is not, and the
    next reviewer trusts a comment that does nothing.

    ## Example
    ```python
    resp = requests.get(url)  # prodready: ignore[RES01] the adapter sets a timeout
    ```

    ## Use instead
    ```python
    resp = requests.get(url)  # prodready: ignore[RES001] the adapter sets a timeout
    ```
    """
    for wanted, closest in suppression.unknown:
        hint = f"did you mean {closest}?" if closest else "`prodready rules` lists the rules"
        ctx.report(suppression.line, f"suppression names an unknown rule {wanted!r}: {hint}")


@file_rule(
    kind=None,
    code="CFG902",
    name="unused-suppression",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    summary="A suppression for a rule that reports nothing there",
    fix="Delete the suppression, or the codes in it that no longer match a finding",
)
def unused_suppression(suppression: Suppression, ctx: FileContext) -> None:
    """
    ## What it does
    Flags rule codes in `# prodready: ignore[...]` and `ignore-file[...]` comments for rules
    that ran and found nothing to suppress there (like Ruff's RUF100 for unused `noqa`).
    Rules that are not selected in this run, and rules that judge the whole project
    (dependency rules), are not judged.

    ## Why it breaks production
    A stale suppression is a hole waiting for a bug: when the code changes, the next real
    finding on that line is silenced without anyone deciding so. Unused suppressions also
    teach readers that suppressions are noise.

    ## Example
    ```python
    resp = requests.get(url, timeout=5)  # prodready: ignore[RES001] legacy client
    ```

    ## Use instead
    ```python
    resp = requests.get(url, timeout=5)
    ```
    """
    if suppression.unused:
        codes = ", ".join(suppression.unused)
        where = "in this file" if suppression.whole_file else "here"
        ctx.report(suppression.line, f"unused suppression: {codes} reports nothing {where}")
