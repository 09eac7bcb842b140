"""Known vulnerabilities: OSV records from a local database (directory or zip of JSON/YAML,
indexed once into the cache) and, when reachable, online sources -- behind one interface.

Sources:

- ``OSVDatabase``: a directory (searched recursively) or a ``.zip`` of OSV records in JSON or
  YAML -- a checkout of the PyPA advisory database, the osv.dev PyPI export. The first scan
  parses every record once and writes a compact index (canonical name -> the records affecting
  it, with only what matching needs) to ``<cache>/advisories-<path>-<digest>.json``; later scans
  stat the files, find the index for the same digest and read only that. A record that cannot
  be read is skipped, counted and noted, never a crash.
- ``PyPIReleaseAdvisories``: the ``vulnerabilities`` of the package index's per-release JSON
  API (``/pypi/NAME/VERSION/json``, next to the simple index of ``index-url``/$PIP_INDEX_URL).
- ``OSVQueryAdvisories``: the OSV query API (``https://api.osv.dev/v1/query``;
  ``$PRODREADY_OSV_URL`` for a mirror).

The online sources use timeouts and bounded retries with backoff, and stop asking once the
service proved unreachable (one clear reason, not one timeout per dependency). Whatever a
source cannot answer raises ``AdvisoriesUnavailable``; the inventory turns it into an
"advisories unavailable from <source>: <reason>" note.

Matching follows the OSV evaluation algorithm: a version is affected when it is listed in
``affected[].versions`` or lies in an ``ECOSYSTEM`` (or ``SEMVER``) range, whose events are
sorted and replayed (``introduced``, ``fixed``, ``last_affected``; ``limit`` bounds the
range), with PEP 440 ordering. Withdrawn records are ignored.

This module holds the local database; matching lives in ``osv_versions``, record parsing and
severity in ``osv_records``, the online sources in ``advisory_online``. Their names stay
importable from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.utils import canonicalize_name

from prodready import __version__
from prodready.deps.advisory_online import (
    DEFAULT_INDEX_URL,
    MAX_ANSWER_BYTES,
    OSV_QUERY_URL,
    OSVQueryAdvisories,
    PyPIReleaseAdvisories,
    json_api_base,
    redact,
)
from prodready.deps.model import AdvisoriesUnavailable, Advisory
from prodready.deps.osv_records import (
    SEVERITIES,
    BadRecord,
    advisory_for,
    advisory_url,
    compact_record,
    cvss2_base_score,
    cvss3_base_score,
    is_set,
    merge_aliases,
    record_severity,
    severity_of_score,
    short_summary,
)
from prodready.deps.osv_versions import (
    EVENT_KINDS,
    Event,
    fixed_versions,
    in_range,
    is_affected,
    parse_version,
)
from prodready.model import DepsSettings

INDEX_FORMAT = 1  # bump when the compact record layout or the matching inputs change
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a record larger than this is not an advisory


class AdvisorySource(Protocol):
    name: str
    notes: list[str]  # things the user must know about the source (records skipped...)

    def lookup(self, package: str, version: str) -> list[Advisory]:
        """Advisories affecting ``package`` (canonical) at ``version``; raises
        ``AdvisoriesUnavailable`` when the source cannot answer."""
        ...


def advisory_sources(settings: DepsSettings, cache_dir: Path | None) -> list[AdvisorySource]:
    """The sources configured: a local OSV database (``advisory-db``/$PRODREADY_ADVISORY_DB),
    plus online sources when ``online`` is set. Empty when none is available."""
    sources: list[AdvisorySource] = []
    database = settings.advisory_db or os.environ.get("PRODREADY_ADVISORY_DB")
    if database:
        sources.append(OSVDatabase(Path(database).expanduser(), cache_dir))
    if settings.online:
        sources.append(PyPIReleaseAdvisories(settings))
        sources.append(OSVQueryAdvisories(settings))
    return sources


# -- the local OSV database ------------------------------------------------------------------------


def _load_yaml(text: str) -> Any:
    import yaml

    # No type resolution: every scalar stays a string, so an unquoted version such as
    # ``1.10`` is not read as the float 1.1 (OSV values are all strings).
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - BaseLoader builds no objects


def parse_record_text(name: str, data: bytes) -> list[Any]:
    """The OSV record(s) of one file: a mapping, or a list of them. Raises ``BadRecord``."""
    try:
        text = data.decode("utf-8-sig")
        loaded = json.loads(text) if name.lower().endswith(".json") else _load_yaml(text)
    except Exception as exc:  # any parser error makes a skipped record
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadRecord(f"cannot parse: {first[:120]}") from exc
    return loaded if isinstance(loaded, list) else [loaded]


def _looks_like_record(item: Any) -> bool:
    return isinstance(item, Mapping) and ("id" in item or "affected" in item)


@dataclass(slots=True)
class IndexStats:
    files: int = 0  # record files seen
    parsed: int = 0  # files parsed during this open (0 when the cached index was used)
    records: int = 0  # usable records (any ecosystem)
    withdrawn: int = 0
    skipped: int = 0  # broken records
    skipped_examples: list[str] = field(default_factory=list)
    packages: int = 0
    from_cache: bool = False
    seconds: float = 0.0


@dataclass(slots=True)
class _Member:
    name: str  # path inside the database (POSIX)
    size: int
    mtime_ns: int


class OSVDatabase:
    """A local OSV database: a directory (recursive) or a zip of JSON/YAML records."""

    def __init__(self, path: Path, cache_dir: Path | None) -> None:
        self.path = path
        self.cache_dir = cache_dir
        self.name = f"advisory database {path}"
        self.notes: list[str] = []
        self.stats = IndexStats()
        self.index_path: Path | None = None
        self._index: dict[str, list[dict[str, Any]]] | None = None
        self._error: str | None = None

    # -- the interface

    def lookup(self, package: str, version: str) -> list[Advisory]:
        index = self.load()
        found = [
            advisory
            for record in index.get(canonicalize_name(package), [])
            if (advisory := advisory_for(record, version)) is not None
        ]
        return merge_aliases(found)

    def packages(self) -> int:
        return len(self.load())

    # -- the index

    def load(self) -> dict[str, list[dict[str, Any]]]:
        """The index, built or read from the cache on first use. Raises
        ``AdvisoriesUnavailable`` when there is no database to read."""
        if self._index is not None:
            return self._index
        if self._error is not None:
            raise AdvisoriesUnavailable(self._error)
        started = time.perf_counter()
        try:
            self._index = self._open()
        except AdvisoriesUnavailable as exc:
            self._error = str(exc)
            raise
        self.stats.seconds = time.perf_counter() - started
        self.stats.packages = len(self._index)
        if self.stats.skipped:
            examples = "; ".join(self.stats.skipped_examples[:3])
            self.notes.append(
                f"{self.name}: skipped {self.stats.skipped} unreadable record(s) ({examples})"
            )
        return self._index

    def _open(self) -> dict[str, list[dict[str, Any]]]:
        import zipfile  # here: most scans have no database to read

        path = self.path
        if not path.exists():
            raise AdvisoriesUnavailable("the path does not exist")
        is_zip = path.is_file()
        try:
            members = self._zip_members() if is_zip else list(self._dir_members())
        except (OSError, zipfile.BadZipFile) as exc:
            raise AdvisoriesUnavailable(f"cannot read it: {exc}") from exc
        self.stats.files = len(members)
        if not members:
            raise AdvisoriesUnavailable("no OSV records (*.json, *.yaml, *.yml) in it")
        cache_file = self._cache_file(members)
        if cache_file is not None:
            cached = self._read_cache(cache_file)
            if cached is not None:
                self.index_path = cache_file
                return cached
        index = self._build(members, is_zip)
        if not self.stats.records:
            raise AdvisoriesUnavailable(
                f"no readable OSV records in it ({self.stats.skipped} skipped)"
            )
        if cache_file is not None:
            self._write_cache(cache_file, index)
        return index

    def _dir_members(self) -> Iterator[_Member]:
        root = self.path
        stack = [root]
        while stack:
            directory = stack.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue  # .git, .github: not records
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.name.lower().endswith(RECORD_SUFFIXES) and entry.is_file():
                        stat = entry.stat()
                        relative = Path(entry.path).relative_to(root).as_posix()
                        yield _Member(relative, stat.st_size, stat.st_mtime_ns)

    def _zip_members(self) -> list[_Member]:
        import zipfile

        stat = self.path.stat()
        with zipfile.ZipFile(self.path) as archive:
            return [
                _Member(info.filename, info.file_size, stat.st_mtime_ns)
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(RECORD_SUFFIXES)
                and not any(part.startswith(".") for part in info.filename.split("/"))
            ]

    def _records(self, members: list[_Member], is_zip: bool) -> Iterator[tuple[str, bytes]]:
        if is_zip:
            import zipfile

            with zipfile.ZipFile(self.path) as archive:
                for member in members:
                    if member.size > MAX_RECORD_BYTES:
                        yield member.name, b""
                        continue
                    try:
                        yield member.name, archive.read(member.name)
                    except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
                        self._skip(member.name, f"cannot read: {exc}")
            return
        for member in members:
            if member.size > MAX_RECORD_BYTES:
                yield member.name, b""
                continue
            try:
                yield member.name, (self.path / member.name).read_bytes()
            except OSError as exc:
                self._skip(member.name, f"cannot read: {exc.strerror or exc}")

    def _skip(self, name: str, reason: str) -> None:
        self.stats.skipped += 1
        if len(self.stats.skipped_examples) < 5:
            self.stats.skipped_examples.append(f"{name}: {reason}")

    def _build(self, members: list[_Member], is_zip: bool) -> dict[str, list[dict[str, Any]]]:
        index: dict[str, list[dict[str, Any]]] = {}
        for name, data in self._records(members, is_zip):
            if not data:
                self._skip(name, "empty or too large")
                continue
            self.stats.parsed += 1
            try:
                items = parse_record_text(name, data)
            except BadRecord as exc:
                self._skip(name, str(exc))
                continue
            for item in items:
                if not _looks_like_record(item):
                    continue  # some other JSON/YAML file in the tree
                try:
                    compact = compact_record(item)
                except BadRecord as exc:
                    self._skip(name, str(exc))
                    continue
                self.stats.records += 1
                if is_set(item.get("withdrawn")):
                    self.stats.withdrawn += 1
                for package, record in compact.items():
                    index.setdefault(package, []).append(record)
        for records in index.values():
            records.sort(key=lambda record: record["id"])
        return index

    # -- the cache

    def _cache_file(self, members: list[_Member]) -> Path | None:
        if self.cache_dir is None:
            return None
        where = str(self.path.resolve())
        digest = hashlib.blake2b(digest_size=12)
        digest.update(f"{INDEX_FORMAT}|{__version__}|{where}\n".encode())
        for member in sorted(members, key=lambda m: m.name):
            digest.update(f"{member.name}|{member.size}|{member.mtime_ns}\n".encode())
        prefix = hashlib.blake2b(where.encode(), digest_size=6).hexdigest()
        return self.cache_dir / f"advisories-{prefix}-{digest.hexdigest()}.json"

    def _read_cache(self, cache_file: Path) -> dict[str, list[dict[str, Any]]] | None:
        try:
            with open(cache_file, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            return None
        packages = data.get("packages")
        if not isinstance(packages, dict):
            return None
        stats = data.get("stats", {})
        self.stats.from_cache = True
        self.stats.records = int(stats.get("records", 0))
        self.stats.withdrawn = int(stats.get("withdrawn", 0))
        self.stats.skipped = int(stats.get("skipped", 0))
        self.stats.skipped_examples = list(stats.get("skipped_examples", []))
        return packages

    def _write_cache(self, cache_file: Path, index: dict[str, list[dict[str, Any]]]) -> None:
        """Write the index atomically; drop older indexes of the same database. A cache that
        cannot be written costs only speed."""
        data = {
            "format": INDEX_FORMAT,
            "database": str(self.path.resolve()),
            "stats": {
                "records": self.stats.records,
                "withdrawn": self.stats.withdrawn,
                "skipped": self.stats.skipped,
                "skipped_examples": self.stats.skipped_examples,
            },
            "packages": index,
        }
        temporary = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
            os.replace(temporary, cache_file)
            self.index_path = cache_file
            stem = cache_file.name.rsplit("-", 1)[0]
            for old in cache_file.parent.glob(f"{stem}-*.json"):
                if old != cache_file:
                    old.unlink(missing_ok=True)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


# The names above moved to the modules they are imported from stay importable from here.
__all__ = [
    "DEFAULT_INDEX_URL",
    "EVENT_KINDS",
    "MAX_ANSWER_BYTES",
    "OSV_QUERY_URL",
    "SEVERITIES",
    "AdvisoriesUnavailable",
    "AdvisorySource",
    "BadRecord",
    "Event",
    "OSVDatabase",
    "OSVQueryAdvisories",
    "PyPIReleaseAdvisories",
    "advisory_for",
    "advisory_sources",
    "advisory_url",
    "compact_record",
    "cvss2_base_score",
    "cvss3_base_score",
    "fixed_versions",
    "in_range",
    "is_affected",
    "json_api_base",
    "merge_aliases",
    "parse_version",
    "record_severity",
    "redact",
    "severity_of_score",
    "short_summary",
]
