"""Which local of a Django class-based view's method holds the view's form (the summary
collector records that form's ``save()`` as the call's target)."""

from __future__ import annotations

import ast

from prodready.engine.analysis.literals import dotted
from prodready.engine.semantic.call_kinds import WalkedFunction


def holds_view_form(name: str, opened: WalkedFunction) -> bool:
    """``name`` holds the view's form: the ``form`` parameter of ``form_valid``, or a local
    assigned ``self.get_form(...)`` / ``self.form_class(...)``."""
    node = opened.node
    if node.name == "form_valid" and any(arg.arg == name for arg in node.args.args[1:2]):
        return True
    made = {f"{opened.self_name}.get_form", f"{opened.self_name}.form_class"}
    return any(
        isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in statement.targets)
        and isinstance(statement.value, ast.Call)
        and dotted(statement.value.func) in made
        for statement in ast.walk(node)
    )
