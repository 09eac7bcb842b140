"""The Python engine: one parse and one walk per file, dispatching each node to its rules.

Rules subscribe to node types, to fully qualified callee names (``requests.get``), to callee
prefixes (``subprocess.*``), to method names on any receiver (``*.execute``), to qualified
attribute reads (``flask.request.json``) and to the ``FunctionEnd``/``ModuleEnd`` events
(:mod:`.events`). :mod:`.dispatch` builds the tables for a rule set; :mod:`.walker` walks a
module (after :mod:`.prepass` has read its top-level bindings) and keeps the context rules need
(:mod:`.module_context`, :mod:`.scopes`) -- the enclosing function, its route (:mod:`.routes`), the
loops, ``try`` and ``except`` blocks around the node, and what every name is bound to -- so no
rule walks the file again.

Everything rules use is re-exported here: ``from prodready.engine.python import PythonContext``.
"""

from __future__ import annotations

from prodready.engine.python.dispatch import Dispatch, PythonAnalyzer
from prodready.engine.python.events import FunctionEnd, ModuleEnd
from prodready.engine.python.memo import ModuleMemo
from prodready.engine.python.module_context import PythonContext, RuleCrash, instance_type
from prodready.engine.python.scopes import ClassInfo, FunctionNode, Scope

__all__ = [
    "ClassInfo",
    "Dispatch",
    "FunctionEnd",
    "FunctionNode",
    "ModuleEnd",
    "ModuleMemo",
    "PythonAnalyzer",
    "PythonContext",
    "RuleCrash",
    "Scope",
    "instance_type",
]
