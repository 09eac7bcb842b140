"""The composition root: which rule packs a run gets, and the registry built from them.

Every pack -- the built-in one included -- is found through the ``prodready.rules``
entry-point group, the way flake8 loads its own checks through the group its plugins use.
This module is the only one that imports :mod:`prodready.rules`; the engine receives packs (a
:class:`~prodready.engine.registry.Registry`) and never imports rules itself.

A pack whose distribution lies in the working directory or the scanned tree (a committed
``*.egg-info``) rather than in a site directory is not loaded unless
``PRODREADY_TRUST_LOCAL_PLUGINS=1``: scanning a repository must not run its code.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from prodready.engine.registry import PackLoadError, Registry, RulePack, rules_in

__all__ = ["PackLoadError", "default_registry", "load_packs"]

ENTRY_POINT_GROUP = "prodready.rules"
BUILTIN_PACK_NAME = "builtin"
BUILTIN_PACK_REF = "prodready.rules:BUILTIN_PACK"
TRUST_LOCAL_PLUGINS_ENV = "PRODREADY_TRUST_LOCAL_PLUGINS"


def _declared_references() -> list[str]:
    """The object references (``module:attribute``) of every pack the distributions on
    ``sys.path`` declare.

    Importing ``importlib.metadata`` costs more than a small scan; this reads the
    ``entry_points.txt`` files directly so the common case (only the built-in pack) stays fast.
    """
    found: list[str] = []
    for directory in sys.path:
        try:
            names = os.listdir(directory or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(directory or ".", name, "entry_points.txt"), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if ENTRY_POINT_GROUP not in text:
                continue
            section = text.split(f"[{ENTRY_POINT_GROUP}]", 1)[-1].split("\n[", 1)[0]
            for line in section.splitlines():
                value = line.partition("=")[2].strip().replace(" ", "")
                if value:
                    found.append(value)
    return found


def _builtin_pack(declared: Sequence[str]) -> RulePack:
    """The built-in pack, through its own ``builtin`` entry point when prodready is installed."""
    if BUILTIN_PACK_REF in declared:
        module_name, _, attribute = BUILTIN_PACK_REF.partition(":")
        pack: RulePack = getattr(importlib.import_module(module_name), attribute)
        return pack
    # A source tree used without being installed (``PYTHONPATH=src``) has no entry-point
    # metadata: the built-in rules must still run, so the pack is imported directly.
    from prodready.rules import BUILTIN_PACK

    return BUILTIN_PACK


def _installed_locations() -> list[str]:
    """The site directories of the running interpreter: what was installed on purpose."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    found = [paths.get("purelib", ""), paths.get("platlib", "")]
    try:
        found.extend(site.getsitepackages())
        found.append(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site.py lacks them
        pass
    return [os.path.realpath(path) for path in found if path]


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _local_distribution(entry: Any, untrusted: Sequence[str], installed: Sequence[str]) -> bool:
    """The entry point's distribution lies in the working directory (or another untrusted
    root) rather than in a site directory: ``python -m prodready`` puts the working directory
    on ``sys.path``, so a scanned repository's committed ``*.egg-info`` would be imported."""
    dist = entry.dist
    if dist is None:
        return False
    try:
        location = os.path.realpath(str(dist.locate_file("")))
    except (OSError, NotImplementedError, ValueError):
        return False
    if any(_within(location, site_dir) for site_dir in installed):
        return False
    return any(_within(location, root) for root in untrusted)


def _third_party_packs(
    untrusted_roots: Sequence[str] = (), skipped: list[str] | None = None
) -> Iterator[tuple[str, RulePack]]:
    from importlib.metadata import entry_points

    trust_local = os.environ.get(TRUST_LOCAL_PLUGINS_ENV, "") not in {"", "0"}
    untrusted = [os.path.realpath(os.getcwd()), *(os.path.realpath(r) for r in untrusted_roots)]
    installed = _installed_locations()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.value.replace(" ", "") == BUILTIN_PACK_REF:
            continue
        if not trust_local and _local_distribution(entry, untrusted, installed):
            if skipped is not None:
                skipped.append(
                    f"rule pack {entry.name!r} ({entry.value}) was not loaded: it is declared "
                    "inside the working directory or the scanned tree, not installed (set "
                    f"{TRUST_LOCAL_PLUGINS_ENV}=1 to load it)"
                )
            continue
        try:
            loaded: Any = entry.load()
        except Exception as exc:  # a broken third-party pack must not take the scan down
            raise PackLoadError(
                f"rule pack {entry.name!r} ({entry.value}) failed to load: {exc}"
            ) from exc
        if isinstance(loaded, ModuleType):
            loaded = RulePack(entry.name, rules=rules_in(loaded))
        elif not isinstance(loaded, RulePack):
            try:
                loaded = RulePack(entry.name, rules=list(loaded))
            except TypeError as exc:
                raise PackLoadError(
                    f"rule pack {entry.name!r} ({entry.value}) is neither a RulePack, a module "
                    "nor an iterable of rules"
                ) from exc
        if not loaded.version and entry.dist is not None:
            loaded.version = entry.dist.version
        yield entry.name, loaded


def load_packs(
    *,
    plugins: bool = True,
    untrusted_roots: Sequence[str] = (),
    skipped: list[str] | None = None,
) -> list[RulePack]:
    """The built-in pack plus every installed pack of the ``prodready.rules`` group (packs
    declared under the working directory or ``untrusted_roots`` only when the user opts in)."""
    declared = _declared_references()
    packs = [_builtin_pack(declared)]
    if plugins and any(reference != BUILTIN_PACK_REF for reference in declared):
        packs.extend(pack for _, pack in _third_party_packs(untrusted_roots, skipped))
    return packs


def default_registry(*, plugins: bool = True, untrusted_roots: Sequence[str] = ()) -> Registry:
    """Every rule a run may select: the built-in pack and, unless ``plugins`` is off, the
    installed third-party packs (the names of packs found but not loaded are its notes)."""
    skipped: list[str] = []
    registry = Registry(
        load_packs(plugins=plugins, untrusted_roots=untrusted_roots, skipped=skipped),
        # Spawned scan workers rebuild the same registry from this (a picklable reference).
        loader=functools.partial(
            default_registry, plugins=plugins, untrusted_roots=tuple(untrusted_roots)
        ),
    )
    registry.notes = skipped
    return registry
