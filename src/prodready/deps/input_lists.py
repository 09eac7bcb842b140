"""Requirements files that are a resolver's input, not what gets installed: a loose list
(``base_requirements.txt``: ``django>=5``) compiled into a fully pinned file beside it
(``requirements.txt``, written by pip-compile/uv or frozen). Its ranges are the point of it --
the pins live in the compiled file -- so "not pinned" says nothing there (DEP001)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from prodready.deps.files import TooLarge, UnsafeFile, read_inside
from prodready.deps.manifests.base import MAX_BYTES
from prodready.deps.manifests.locks import is_generated
from prodready.engine.documents.requirements import RequirementsFile, parse_requirements
from prodready.engine.project_results import consulted_file


@dataclass(frozen=True, slots=True)
class RequirementsDocument:
    path: str  # relative to the scan root (POSIX)
    text: str
    document: RequirementsFile


def read_requirements(root: Path, paths: Iterable[str]) -> list[RequirementsDocument]:
    """The requirements files at ``paths`` that can be read (the others are DEP003's)."""
    found: list[RequirementsDocument] = []
    for path in sorted(paths):
        consulted_file(root / path)
        try:
            text = read_inside(root, path, MAX_BYTES).decode("utf-8", errors="replace")
        except (OSError, UnsafeFile, TooLarge):
            continue
        found.append(RequirementsDocument(path, text, parse_requirements(text)))
    return found


def compiled_inputs(root: Path, documents: list[RequirementsDocument]) -> dict[str, str]:
    """Input lists -> the pinned file compiled from them, in the same directory: a resolver's
    output that names the input (``pip-compile base_requirements.txt``, ``# via -r
    base_requirements.txt``), or a file that pins with ``==`` every requirement of the input
    (``pip freeze`` of it)."""
    by_directory: dict[str, list[RequirementsDocument]] = {}
    for item in documents:
        by_directory.setdefault(str(PurePosixPath(item.path).parent), []).append(item)
    inputs: dict[str, str] = {}
    for siblings in by_directory.values():
        if len(siblings) < 2:
            continue
        for loose in siblings:
            names = _names(loose.document)
            if not names or all(line.pinned for line in loose.document.requirements):
                continue
            for pinned in siblings:
                if pinned is loose or not _fully_pinned(pinned.document):
                    continue
                if _names_input(root, pinned, loose.path) or names <= _pinned_names(pinned):
                    inputs[loose.path] = pinned.path
                    break
    return inputs


def _names(document: RequirementsFile) -> set[str]:
    return {canonicalize_name(line.name) for line in document.requirements if line.name}


def _pinned_names(item: RequirementsDocument) -> set[str]:
    return {
        canonicalize_name(line.name)
        for line in item.document.requirements
        if line.name and line.pinned
    }


def _fully_pinned(document: RequirementsFile) -> bool:
    requirements = [line for line in document.requirements if not line.url]
    return bool(requirements) and all(line.pinned for line in requirements)


def _names_input(root: Path, pinned: RequirementsDocument, input_path: str) -> bool:
    """A resolver's output that names the input file (its command line, ``via -r``)."""
    if not is_generated(root, pinned.path):
        return False
    name = re.escape(PurePosixPath(input_path).name)
    return re.search(rf"(?<![\w.-]){name}(?![\w.-])", pinned.text[:200_000]) is not None
