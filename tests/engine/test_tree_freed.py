"""A module's tree is freed by reference counting as soon as its analysis is done.

A reference cycle reaching the tree (the walk's handlers are bound methods of the walk; a
recursive closure over nodes) leaves every module's tree to the cyclic garbage collector, which
then traverses all of it: on the Django tree that was over a second of a one-process scan.
"""

from __future__ import annotations

import ast
import gc
import textwrap
import weakref

from prodready.engine.python import PythonAnalyzer
from prodready.engine.registry import Registry
from prodready.model import FileKind, Profile

SOURCE = textwrap.dedent(
    """
    import os

    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/files")
    def files():
        a, (b, c) = request.args["q"], (1, 2)
        first, *rest = request.args
        os.system(f"ls {a} {b} {rest}")
        return "ok"
    """
)


def test_the_tree_is_freed_without_a_garbage_collection(registry: Registry) -> None:
    analyzer = PythonAnalyzer(
        r for r in registry.rules.values() if r.kind in (FileKind.PYTHON, FileKind.PROJECT)
    )
    tree = ast.parse(SOURCE)
    # The whole tree, and a value bound in the function (held by the bindings taint reads).
    assign = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple)
    )
    assert isinstance(assign.value, ast.Tuple)
    bound = assign.value.elts[0]  # request.args["q"], bound to ``a``
    alive = [weakref.ref(tree), weakref.ref(bound)]
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        ctx = analyzer.analyze(SOURCE, tree, "app/views.py", Profile())
        codes = sorted({finding.rule.code for finding in ctx.findings})
        del ctx, tree, assign, bound
        assert [ref() for ref in alive] == [None, None]
    finally:
        if enabled:
            gc.enable()
    assert codes == ["SEC008"]  # the tainted value was traced to its binding
