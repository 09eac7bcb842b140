"""Content-hash cache of per-file results, validated by a stat signature first.

One JSON file per (tool version, effective rule set, profile) key, mapping each file's relative
path to the digest of the content it was computed from, the file's stat signature (size,
modification time, inode) when it was read, and the result. As in git's index and Ruff's cache, a
file whose signature is unchanged is not read at all; a file whose signature changed is read and
hashed, and the content digest decides (an unchanged digest only refreshes the signature).

The signature of a file modified shortly before the scan that read it is not trusted ("racy
git"): a later edit within the same timestamp granularity would leave it unchanged. Such an entry
is stored without a signature (git "smudges" it), so the next scan hashes the file again.

Writes are atomic (temp file + rename), so a killed
scan never leaves a half-written cache; an unreadable or corrupt cache is treated as empty, and
an entry of the wrong shape is a miss (the file is analysed again), never a partial result
(the facts of a module are checked by ``ModuleRecord.from_json``).

The default location is the user's cache directory, keyed by the scan root, not the scanned
tree: a cache committed to a repository would otherwise decide what a fresh clone reports.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from prodready.engine.records import FileResult, encode_record
from prodready.model import Category, Confidence, Finding, ScanError, Severity

CACHE_DIR_NAME = ".prodready_cache"  # the pre-1.x in-tree location, still skipped by discovery
KEEP_KEYS = 8
# 2: secrets masked in findings (entries of format 1 may hold them in clear); 3: facts are
# ``ModuleRecord.to_json()`` (pairs instead of objects, typed evidence marks); 4: with function
# summaries and signal receivers (``engine.semantic``)
# 5: facts stored as JSON text, decoded on demand; 6: project facts a module establishes
# (``holds``, with the file's detected role) and the facts that make a finding moot (``unless``)
# 7: function summaries name the project functions each passes to a call (``passes:``); 8: and
# whether a decorator registers the function (``registered``)
_FORMAT = 8
# Timestamps of FAT are 2 s apart, of ext3 and HFS+ 1 s: a file modified less than this before
# the scan read it may be modified again without its modification time changing.
RACY_WINDOW_NS = 2_000_000_000

Signature = list[int]  # [size, mtime_ns, inode], as stored in the JSON entry


def stat_signature(status: os.stat_result) -> Signature:
    """What must be unchanged for a file to be taken as unchanged without reading it. The
    inode-change time is left out (as by Ruff, and git with ``core.trustctime=false``): chmod,
    a backup tool or a checkout that restores times changes it without changing the content."""
    return [status.st_size, status.st_mtime_ns, status.st_ino]


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

    def knows(self, relpath: str) -> bool:
        """Whether the file has an entry (else its content need not be hashed to look it up)."""
        return relpath in self._entries

    def lookup(self, relpath: str, signature: Signature) -> FileResult | None:
        """The result of a file whose stat signature is the one recorded (no read, no hash)."""
        entry = self._entries.get(relpath)
        if not isinstance(entry, dict) or entry.get("stat") != signature:
            return None
        return self._result(entry, relpath)

    def get(self, relpath: str, digest: str) -> FileResult | None:
        """The result of a file whose content has this digest."""
        entry = self._entries.get(relpath)
        if not isinstance(entry, dict) or entry.get("digest") != digest:
            return None
        return self._result(entry, relpath)

    def refresh(self, relpath: str, signature: Signature | None) -> None:
        """Record the signature of a file whose content was found unchanged by its digest."""
        entry = self._entries.get(relpath)
        if isinstance(entry, dict) and entry.get("stat") != signature:
            entry["stat"] = signature
            self._dirty = True

    def _result(self, entry: dict[str, Any], relpath: str) -> FileResult | None:
        if not _valid_entry(entry, relpath):
            return None
        digest = entry["digest"]
        holds = entry.get("holds")
        result = FileResult(
            relpath,
            digest,
            [Finding.from_dict(f) for f in entry["findings"]],
            [ScanError(relpath, e["message"], e["line"]) for e in entry["errors"]],
            # Decoded only if the project rules run (``FileResult.module_record``): the facts are
            # most of the cache, and a warm rescan that reuses the project results needs none.
            stored_facts=entry["facts"],
            holds=tuple(holds["facts"]) if holds is not None else (),
            role=holds["role"] if holds is not None else None,
        )
        self.hits += 1
        return result

    def put(self, result: FileResult, signature: Signature | None = None) -> None:
        """``signature``: the file's, taken before it was read; None when it is not to be
        trusted (see the module docstring), so that the next scan hashes the file."""
        if not result.digest:
            return
        entry: dict[str, Any] = {
            "digest": result.digest,
            "stat": signature,
            "findings": [_stored_finding(f) for f in result.findings],
            "errors": [{"message": e.message, "line": e.line} for e in result.errors],
            "facts": _stored_facts(result),
        }
        if result.holds:  # most modules establish nothing: no key
            entry["holds"] = {"facts": list(result.holds), "role": result.role}
        self._entries[result.relpath] = entry
        self._dirty = True

    def forget_missing(self, root: Path, present: frozenset[str] = frozenset()) -> None:
        """Drop entries of files that no longer exist (entries of files outside this scan's
        targets stay: a scan of one file must not empty the cache of the tree). ``present``:
        paths this scan just found, which need no second look."""
        stale = [
            path for path in self._entries if path not in present and not (root / path).exists()
        ]
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


def default_cache_dir(root: Path) -> Path:
    """``$XDG_CACHE_HOME/prodready/<hash of the resolved root>`` (``~/.cache`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    home = Path(base) if os.path.isabs(base) else Path(os.path.expanduser("~/.cache"))
    if not home.is_absolute():  # no home directory to be found: never fall back to the cwd
        import tempfile

        home = Path(tempfile.gettempdir()) / f"prodready-cache-{os.getuid()}"
    key = hashlib.blake2b(str(root.resolve()).encode(), digest_size=10).hexdigest()
    return home / "prodready" / key


# -- entry validation: every field with its type, as ``put`` writes it ---------------------------

_FINDING_STRINGS = ("rule", "name", "path", "message", "fingerprint")
_FINDING_INTEGERS = ("line", "column", "end_line", "end_column")
_ENUMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("category", tuple(c.value for c in Category)),
    ("severity", tuple(s.value for s in Severity)),
    ("confidence", tuple(c.value for c in Confidence)),
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(value: object, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _stored_facts(result: FileResult) -> str | None:
    if result.stored_facts is not None:  # still the text an earlier scan stored
        return result.stored_facts
    return encode_record(result.facts) if result.facts is not None else None


def _stored_finding(finding: Finding) -> dict[str, Any]:
    stored = finding.to_dict()
    if finding.unless:  # not part of reports (``to_dict``), but of the cached result
        stored["unless"] = list(finding.unless)
    return stored


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _valid_holds(holds: object) -> bool:
    if holds is None:
        return True
    return (
        isinstance(holds, dict)
        and set(holds) == {"facts", "role"}
        and _strings(holds["facts"])
        and bool(holds["facts"])
        and _optional(holds["role"], str)
    )


def _valid_entry(entry: dict[str, Any], relpath: str) -> bool:
    findings = entry.get("findings")
    errors = entry.get("errors")
    keys = set(entry)
    keys.discard("stat")  # optional: entries written before it existed have none
    keys.discard("holds")  # optional: only modules that establish a project fact have it
    return (
        keys == {"digest", "findings", "errors", "facts"}
        and _valid_holds(entry.get("holds"))
        and isinstance(entry["digest"], str)
        and _optional(entry["facts"], str)
        and isinstance(findings, list)
        and all(_valid_finding(finding, relpath) for finding in findings)
        and isinstance(errors, list)
        and all(_valid_error(error) for error in errors)
    )


def _valid_finding(finding: object, relpath: str) -> bool:
    if not isinstance(finding, dict) or finding.get("path") != relpath:
        return False
    return (
        all(isinstance(finding.get(key), str) for key in (*_FINDING_STRINGS, "docs", "snippet"))
        and all(_is_int(finding.get(key)) for key in _FINDING_INTEGERS)
        and all(finding.get(key) in allowed for key, allowed in _ENUMS)
        and _optional(finding.get("cwe", ...), int)
        and _optional(finding.get("fix", ...), str)
        and _strings(finding.get("unless", []))
    )


def _valid_error(error: object) -> bool:
    return (
        isinstance(error, dict)
        and set(error) == {"message", "line"}
        and isinstance(error["message"], str)
        and _optional(error["line"], int)
    )
