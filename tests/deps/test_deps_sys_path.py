"""The directories a module puts on sys.path, evaluated from __file__ (deps/sys_path.py)."""

from __future__ import annotations

import ast
import textwrap

from prodready.deps.sys_path import resolve_target, sys_path_marks


def test_targets_built_from_file_through_os_path_pathlib_and_module_names() -> None:
    source = textwrap.dedent(
        """
        import os, sys, site, pathlib
        from pathlib import Path

        HERE = str(pathlib.Path(__file__).parent.absolute())
        ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        TWICE = "a"
        TWICE = "b"

        def setup():
            sys.path.insert(0, HERE)

        sys.path.append(os.path.join(ROOT, "src"))
        sys.path.append(str(Path(__file__).resolve().parent.parent / "libs"))
        site.addsitedir(os.path.join(os.path.dirname(__file__), "..", "..", "..", "outside"))
        sys.path.insert(0, os.getcwd())
        sys.path.append("relative/to/the/working/directory")
        sys.path.append(TWICE)
        """
    )
    marks = sys_path_marks(source, ast.parse(source))
    targets = sorted((mark.line, resolve_target("app/site/server.py", mark)) for mark in marks)
    assert targets == [(11, "app/site"), (13, "app/src"), (14, "app/libs"), (15, None)]


def test_a_module_that_never_touches_sys_path_costs_nothing() -> None:
    source = "import os\nprint(os.sep)\n"
    assert sys_path_marks(source, ast.parse(source)) == []
