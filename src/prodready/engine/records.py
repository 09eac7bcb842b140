"""What the per-file pipeline hands to discovery, the cache and the project rules, and back.

These records and the two digests live apart from :mod:`prodready.engine.pipeline` so that the
modules around it (discovery, cache, project rules) depend on plain data, not on the pipeline.
"""

from __future__ import annotations

import hashlib
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


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def fingerprint(rule: str, relpath: str, normalised: str, occurrence: int) -> str:
    """Stable across line shifts: rule + path + normalised code (+ which repetition of it)."""
    digest = hashlib.sha256(f"{rule}\0{relpath}\0{normalised}\0{occurrence}".encode())
    return digest.hexdigest()[:32]
