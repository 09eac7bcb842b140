"""The installed environment's distribution metadata: which distribution provides each top-level
import name (``top_level.txt``/``RECORD``, as ``importlib.metadata.packages_distributions()``
reads them), and what each installed distribution requires (``Requires-Dist``).

Both are read once per process from the interpreter prodready runs in (usually the project's
own virtual environment). Reading ~200 distributions' metadata costs more than a whole warm
rescan should, so with a ``cache_dir`` the answer is kept there, valid while the directories on
``sys.path`` keep their modification times: installing or removing a distribution adds or
deletes its ``.dist-info`` directory, which changes them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

_CACHE = "installed-top-levels.json"  # the name it had when it held only those
_CACHE_FORMAT = 2  # 1 held the top-level names only


@dataclass(slots=True)
class InstalledEnvironment:
    top_levels: dict[str, tuple[str, ...]]  # import name -> distributions (as written)
    requires: dict[str, tuple[str, ...]]  # canonical distribution -> its Requires-Dist lines
    _closures: dict[tuple[str, tuple[str, ...]], frozenset[str] | None] = field(
        default_factory=dict
    )

    def installed(self, name: str) -> bool:
        return canonicalize_name(name) in self.requires

    def brings(self, name: str, extras: Iterable[str] = ()) -> frozenset[str] | None:
        """Every distribution that installing ``name[extras]`` installs with it (canonical
        names, transitively through the installed metadata), or None when ``name`` is not
        installed here: what it requires is then unknown."""
        key = (canonicalize_name(name), tuple(sorted(extras)))
        if key not in self._closures:
            self._closures[key] = self._closure(*key)
        return self._closures[key]

    def _closure(self, name: str, extras: tuple[str, ...]) -> frozenset[str] | None:
        if name not in self.requires:
            return None
        found: set[str] = set()
        queue: list[tuple[str, tuple[str, ...]]] = [(name, extras)]
        seen: set[tuple[str, tuple[str, ...]]] = set()
        while queue:
            current, wanted = queue.pop()
            if (current, wanted) in seen:
                continue
            seen.add((current, wanted))
            for line in self.requires.get(current, ()):
                requirement = _applies(line, wanted)
                if requirement is None:
                    continue
                child = canonicalize_name(requirement.name)
                found.add(child)
                queue.append((child, tuple(sorted(requirement.extras))))
        found.discard(name)
        return frozenset(found)


def required_names(lines: Iterable[str], extras: Iterable[str] = ()) -> frozenset[str]:
    """The distributions (canonical) that ``Requires-Dist`` lines ask for with ``extras``."""
    wanted = tuple(sorted(extras))
    found = set()
    for line in lines:
        requirement = _applies(line, wanted)
        if requirement is not None:
            found.add(canonicalize_name(requirement.name))
    return frozenset(found)


def _applies(line: str, extras: tuple[str, ...]) -> Requirement | None:
    """The requirement of a ``Requires-Dist`` line when it applies to an install with
    ``extras`` here (a marker that cannot be evaluated counts as applying: leaving a
    requirement out would report an import it provides)."""
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return None
    marker = requirement.marker
    if marker is None:
        return requirement
    for extra in ("", *extras):
        try:
            if marker.evaluate({"extra": extra}):
                return requirement
        except Exception:  # noqa: BLE001 - an unknown marker variable must not hide it
            return requirement
    return None


_environment: InstalledEnvironment | None = None


def installed_environment(cache_dir: Path | None = None) -> InstalledEnvironment:
    """The metadata of the interpreter prodready runs in, computed once per process."""
    global _environment
    if _environment is None:
        _environment = _from_disk(cache_dir)
    return _environment


def installed_top_levels(cache_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
    """``importlib.metadata.packages_distributions()`` of the interpreter prodready runs in."""
    return installed_environment(cache_dir).top_levels


def _from_disk(cache_dir: Path | None) -> InstalledEnvironment:
    if cache_dir is None:
        return _scan()
    signature = _path_signature()
    store = cache_dir / _CACHE
    try:
        saved = json.loads(store.read_text("utf-8"))
        if saved["format"] == _CACHE_FORMAT and saved["signature"] == signature:
            return InstalledEnvironment(
                {str(name): tuple(dists) for name, dists in saved["top_levels"].items()},
                {str(name): tuple(lines) for name, lines in saved["requires"].items()},
            )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # missing, unreadable or stale: scan again
    found = _scan()
    payload = {
        "format": _CACHE_FORMAT,
        "signature": signature,
        "top_levels": found.top_levels,
        "requires": found.requires,
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = store.with_name(f"{store.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(payload), "utf-8")
        os.replace(partial, store)
    except OSError:
        pass  # a read-only cache directory only costs the next run the scan
    return found


def _path_signature() -> list[Any]:
    """What the installed set depends on: the interpreter, and each ``sys.path`` directory
    with its modification time (None when it is not a directory)."""
    entries: list[Any] = [sys.version, sys.prefix]
    for entry in sys.path:
        try:
            entries.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            entries.append([entry, None])
    return entries


def _scan() -> InstalledEnvironment:
    # Imported here: loading importlib.metadata (and the email package) costs a warm rescan
    # that answers from the cache file some 15 ms.
    from importlib import metadata

    try:
        found = metadata.packages_distributions()
    except Exception:  # noqa: BLE001 - broken metadata of one distribution must not matter
        found = {}
    requires: dict[str, tuple[str, ...]] = {}
    for dist in metadata.distributions():
        name, lines = _requirements(dist)
        if name:
            requires.setdefault(canonicalize_name(name), lines)
    top_levels = {name: tuple(dict.fromkeys(dists)) for name, dists in found.items()}
    return InstalledEnvironment(top_levels, requires)


def _requirements(dist: Any) -> tuple[str | None, tuple[str, ...]]:
    """The name and ``Requires-Dist`` lines of one distribution; (None, ()) when its metadata
    is broken (one broken distribution must not matter)."""
    try:
        return dist.metadata["Name"], tuple(dist.requires or ())
    except Exception:  # noqa: BLE001
        return None, ()
