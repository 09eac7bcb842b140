"""Events rules subscribe to besides node types: the end of a function and of a module."""

from __future__ import annotations


class FunctionEnd:
    """Event: a function's body has been walked. Checks get ``(function_node, ctx)``."""


class ModuleEnd:
    """Event: the whole module has been walked. Checks get ``(module_node, ctx)``."""
