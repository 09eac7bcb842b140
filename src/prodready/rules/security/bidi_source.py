"""Security: bidirectional control characters in source code (SEC058, "Trojan Source")."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule

# The Unicode controls that reorder how text is displayed without changing what it is:
# embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069). The plain marks
# (U+200E/U+200F) only nudge neutral characters and are left alone.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NAMES = {
    "\u202a": "LEFT-TO-RIGHT EMBEDDING",
    "\u202b": "RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "POP DIRECTIONAL FORMATTING",
    "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE",
    "\u2068": "FIRST STRONG ISOLATE",
    "\u2069": "POP DIRECTIONAL ISOLATE",
}


@python_rule(
    code="SEC058",
    name="bidirectional-control-in-source",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    summary="Unicode bidirectional control character in source (code reads unlike it runs)",
    nodes=(ast.Module,),
    cwe=1007,
    fix="Remove the control character; write right-to-left text in data files or as \\u escapes.",
)
def bidirectional_control_in_source(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags each line of a Python file that holds a Unicode bidirectional embedding, override
    or isolate control (U+202A-U+202E, U+2066-U+2069) -- in code, a comment or a string
    literal -- once per line, naming the character.

    ## Why it breaks production
    These characters reorder how an editor, a diff or a code review shows the line, not what
    the interpreter runs ("Trojan Source", CVE-2021-42574): a comment can appear to close
    before a condition that is in fact inside the comment, a string can appear to end where
    it does not, so a permission check that reviewers read as present is not executed. Source
    code has no legitimate need for them -- right-to-left text belongs in translation files or
    can be written with `\\u` escapes.

    ## Example
    ```python
    if access_level != "user\u202e \u2066# check admin\u2069 \u2066":
        grant_admin()
    ```

    ## Use instead
    ```python
    if access_level == "admin":
        grant_admin()
    ```
    """
    # An ASCII source holds none of them (the check costs a tenth of the search).
    if not isinstance(node, ast.Module) or ctx.source.isascii():
        return
    if not _BIDI_CONTROLS.search(ctx.source):
        return
    for number, line in enumerate(ctx.lines, start=1):
        found = _BIDI_CONTROLS.search(line)
        if found is None:
            continue
        where = ast.Pass(
            lineno=number,
            col_offset=len(line[: found.start()].encode("utf-8")),
            end_lineno=number,
            end_col_offset=len(line.encode("utf-8")),
        )
        ctx.report(
            where,
            f"line holds U+{ord(found.group()):04X} {_NAMES[found.group()]}, a bidirectional "
            "control: editors, diffs and reviews show the line reordered, not as Python runs "
            "it -- a check or a string end can look present where it is not. Remove it (write "
            "right-to-left text as \\u escapes or in data files)",
        )
