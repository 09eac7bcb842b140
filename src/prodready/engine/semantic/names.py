"""One function or module as two scans of the same project may name it.

A module's dotted name depends on the root it was scanned from: ``app.db.get_db`` as a handler
imports it is ``svc.app.db.get_db`` when the scan starts one directory higher. Project rules that
match an imported name against the functions a project defines ask this instead of comparing
strings, so every rule draws that line in the same place.
"""

from __future__ import annotations


def same_dotted_name(seen: str, defined: str) -> bool:
    """Whether ``seen`` (as imported or called) and ``defined`` (as scanned) name the same thing:
    equal, or one is the other below a longer package path (never a mere suffix of a word:
    ``db.get`` does not name ``app.db.target``)."""
    return seen == defined or defined.endswith("." + seen) or seen.endswith("." + defined)
