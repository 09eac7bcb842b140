"""What the per-file pipeline hands to discovery, the cache and the project rules, and back.

These records and the two digests live apart from :mod:`prodready.engine.pipeline` so that the
modules around it (discovery, cache, project rules) depend on plain data, not on the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prodready.engine.module_record import ModuleRecord
from prodready.model import FileKind, Finding, ScanError


@dataclass(slots=True)
class SourceFile:
    """A file discovery found: where it is, how it is named in reports, and what it is.

    ``role``: the path its role (test, script, example, module name) is judged by, relative to
    the scanned project rather than to the directory reports are relative to; None: ``relpath``.
    """

    path: str
    relpath: str
    kind: FileKind
    role: str | None = None


@dataclass(slots=True)
class FileResult:
    relpath: str
    digest: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    facts: ModuleRecord | None = None  # Python modules only
    # The facts as the result cache stored them (compact JSON text), decoded on first use by
    # ``module_record``: a warm rescan whose project results are reused never decodes them.
    stored_facts: str | None = None
    facts_damaged: bool = False  # stored facts that did not decode: the file must be analysed
    # Project facts the module establishes (``ProjectFact.name``) and the file's role as its
    # analysis detected it (``Role`` value): kept beside the facts text, read on every scan.
    holds: tuple[str, ...] = ()
    role: str | None = None

    def module_record(self) -> ModuleRecord | None:
        """The module's facts (decoding the stored text once, if that is what the cache gave)."""
        if self.stored_facts is not None:
            text, self.stored_facts = self.stored_facts, None
            self.facts = decode_record(text)
            self.facts_damaged = self.facts is None
        return self.facts


def encode_record(record: ModuleRecord) -> str:
    return json.dumps(record.to_json(), separators=(",", ":"))


def decode_record(text: str) -> ModuleRecord | None:
    """The record ``encode_record`` wrote, or None for text of any other shape."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return ModuleRecord.from_json(data)


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def fingerprint(rule: str, relpath: str, normalised: str, occurrence: int) -> str:
    """Stable across line shifts: rule + path + normalised code (+ which repetition of it)."""
    digest = hashlib.sha256(f"{rule}\0{relpath}\0{normalised}\0{occurrence}".encode())
    return digest.hexdigest()[:32]


class ModuleRecords(Mapping[str, ModuleRecord]):
    """The facts of a scan's Python modules (relpath -> record), loaded on first access: on a
    warm rescan they are decoded from the cache only if the project rules or a caller read them."""

    def __init__(self, load: Callable[[], dict[str, ModuleRecord]]) -> None:
        self._load: Callable[[], dict[str, ModuleRecord]] | None = load
        self._records: dict[str, ModuleRecord] = {}

    def _all(self) -> dict[str, ModuleRecord]:
        if self._load is not None:
            load, self._load = self._load, None
            self._records = load()
        return self._records

    def __getitem__(self, relpath: str) -> ModuleRecord:
        return self._all()[relpath]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
