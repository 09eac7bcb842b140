"""Content-hash cache of per-file results.

One JSON file per (tool version, effective rule set, profile) key, mapping each file's relative
path to the digest of the content it was computed from and the result. Rescanning an unchanged
tree reads and hashes files but parses none. Writes are atomic (temp file + rename), so a killed
scan never leaves a half-written cache; an unreadable or corrupt cache is treated as empty.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prodready.engine.analyze import FileResult
from prodready.model import Finding, ScanError

CACHE_DIR_NAME = ".prodready_cache"
KEEP_KEYS = 8
_FORMAT = 1


class ResultCache:
    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.key = key
        self.path = directory / f"results-{key}.json"
        self._entries: dict[str, Any] = {}
        self._dirty = False
        self.hits = 0
        self.warning: str | None = None

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("format") == _FORMAT:
            entries = data.get("files")
            if isinstance(entries, dict):
                self._entries = entries

    def get(self, relpath: str, digest: str) -> FileResult | None:
        entry = self._entries.get(relpath)
        if entry is None or entry.get("digest") != digest:
            return None
        try:
            result = FileResult(
                relpath,
                digest,
                [Finding.from_dict(f) for f in entry["findings"]],
                [ScanError(relpath, e["message"], e.get("line")) for e in entry["errors"]],
                entry.get("facts"),
            )
        except (KeyError, TypeError, ValueError):
            return None
        self.hits += 1
        return result

    def put(self, result: FileResult) -> None:
        if not result.digest:
            return
        self._entries[result.relpath] = {
            "digest": result.digest,
            "findings": [f.to_dict() for f in result.findings],
            "errors": [{"message": e.message, "line": e.line} for e in result.errors],
            "facts": result.facts,
        }
        self._dirty = True

    def forget_missing(self, root: Path) -> None:
        """Drop entries of files that no longer exist (entries of files outside this scan's
        targets stay: a scan of one file must not empty the cache of the tree)."""
        stale = [path for path in self._entries if not (root / path).exists()]
        for path in stale:
            del self._entries[path]
        self._dirty = self._dirty or bool(stale)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def save(self) -> None:
        if not self._dirty:
            return
        import tempfile

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _mark_cache_directory(self.directory)
            payload = json.dumps({"format": _FORMAT, "files": self._entries}, separators=(",", ":"))
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.directory, delete=False, suffix=".tmp"
            ) as handle:
                handle.write(payload)
            os.replace(handle.name, self.path)
            self._prune()
        except OSError as exc:
            self.warning = f"cache not written to {self.directory}: {exc.strerror or exc}"

    def _prune(self) -> None:
        files = sorted(
            self.directory.glob("results-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for old in files[KEEP_KEYS:]:
            old.unlink(missing_ok=True)


def _mark_cache_directory(directory: Path) -> None:
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by prodready\n*\n", encoding="utf-8")
    tag = directory / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by prodready.\n",
            encoding="utf-8",
        )
