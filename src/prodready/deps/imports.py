"""Which distribution each import comes from: the standard library, the project itself, an
installed distribution, a table of well-known import/distribution mismatches, or unknown."""

from __future__ import annotations

from typing import Any

from prodready.deps.model import ImportUse, Manifests


def map_imports(modules: dict[str, dict[str, Any]], manifests: Manifests) -> list[ImportUse]:
    """Every import of the scanned modules (``ProjectFacts.modules``), mapped to its origin."""
    return []
