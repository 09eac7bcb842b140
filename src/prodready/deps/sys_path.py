"""Directories a module puts on ``sys.path`` (``sys.path.insert(0, os.path.dirname(__file__))``,
``sys.path.append(str(Path(__file__).parent / "src"))``, ``site.addsitedir(...)``): the modules
below them are imported by their top-level names, so they are the project's own.

Only targets computed from ``__file__`` are followed (``os.path`` and ``pathlib`` spellings, through
a module-level name bound once); a target built from the working directory, the environment or
a call result is not knowable statically and is left out.
"""

from __future__ import annotations

import ast
import posixpath
from typing import Any

from prodready.engine.module_record import Mark

SYS_PATH_KIND = "sys-path"  # Mark.kind: ``name`` is the directory, relative to the scan root
# Where the module is taken to be while its targets are evaluated: deep enough that a target
# climbing out of any real project still ends below _HERE_ROOT.
_HERE_ROOT = "/here"
_HERE = _HERE_ROOT + "".join(f"/d{level}" for level in range(32))
_APPENDERS = frozenset({"insert", "append"})
_SAME = frozenset({"abspath", "realpath", "normpath", "resolve", "absolute", "expanduser"})


def sys_path_marks(source: str, tree: ast.Module) -> list[Mark]:
    """One mark per directory the module adds to ``sys.path``, relative to the module's own
    directory (``.``, ``../src``): ``resolve_target`` places it in the project."""
    if "sys.path" not in source and "addsitedir" not in source:
        return []
    bound: dict[str, ast.expr | None] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    # A name bound twice is not one value.
                    bound[target.id] = None if target.id in bound else statement.value
    here = posixpath.join(_HERE, "module.py")
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        argument = _added(node)
        if argument is None:
            continue
        value = _evaluate(argument, here, bound, 0)
        if value is None or value[1]:
            continue  # unknown, or a file rather than a directory
        directory = posixpath.normpath(value[0])
        if directory.startswith(_HERE_ROOT):
            relative = posixpath.relpath(directory, _HERE)
            found.setdefault(relative, getattr(node, "lineno", 1))
    return [Mark(name, line, SYS_PATH_KIND) for name, line in found.items()]


def _added(node: ast.AST) -> ast.expr | None:
    """The directory argument of ``sys.path.insert(i, d)``, ``sys.path.append(d)`` or
    ``site.addsitedir(d)``."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    func = node.func
    owner = func.value
    if func.attr in _APPENDERS and _dotted(owner) == "sys.path":
        index = 1 if func.attr == "insert" else 0
        return node.args[index] if len(node.args) > index else None
    if func.attr == "addsitedir" and node.args:
        return node.args[0]
    return None


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _evaluate(
    node: ast.expr, here: str, bound: dict[str, ast.expr | None], depth: int
) -> tuple[str, bool] | None:
    """``(absolute posix path, is_file)`` of a path expression built from
    ``__file__``; None when it is not one."""
    if depth > 12:
        return None
    if isinstance(node, ast.Name):
        if node.id == "__file__":
            return here, True
        value = bound.get(node.id)
        return _evaluate(value, here, bound, depth + 1) if value is not None else None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return None  # a literal alone is relative to the working directory
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _evaluate(node.value, here, bound, depth + 1)
        return (posixpath.dirname(inner[0]), False) if inner else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        inner = _evaluate(node.left, here, bound, depth + 1)
        part = _literal(node.right)
        return (posixpath.join(inner[0], part), False) if inner and part is not None else None
    if isinstance(node, ast.Call):
        return _evaluate_call(node, here, bound, depth)
    return None


def _evaluate_call(
    node: ast.Call, here: str, bound: dict[str, ast.expr | None], depth: int
) -> tuple[str, bool] | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if isinstance(func, ast.Attribute) and name in _SAME and not node.args:
        return _evaluate(func.value, here, bound, depth + 1)  # Path(...).resolve()
    if not node.args:
        return None
    first = _evaluate(node.args[0], here, bound, depth + 1)
    if first is None:
        return None
    if name in {"str", "Path", "PurePath", "PosixPath", "fspath"} or name in _SAME:
        return first
    if name == "dirname":
        return posixpath.dirname(first[0]), False
    if name == "join":
        parts: list[str] = []
        for argument in node.args[1:]:
            part = _literal(argument)
            if part is None:
                return None
            parts.append(part)
        return posixpath.join(first[0], *parts), False
    return None


def _literal(node: Any) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return None if node.value.startswith("/") else node.value
    return None


def resolve_target(module_path: str, mark: Mark) -> str | None:
    """The directory (relative to the project root, "" for the root) that a mark of the module
    at ``module_path`` adds to ``sys.path``; None when it lies outside the project."""
    base = "/project"
    joined = posixpath.normpath(posixpath.join(base, posixpath.dirname(module_path), mark.name))
    if joined == base:
        return ""
    return joined[len(base) + 1 :] if joined.startswith(base + "/") else None
