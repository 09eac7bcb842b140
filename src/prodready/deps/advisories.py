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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from prodready import __version__
from prodready.deps.http import RETRYABLE_STATUS, TOO_LARGE, fetch
from prodready.deps.model import AdvisoriesUnavailable, Advisory, DependencyError
from prodready.model import DepsSettings

INDEX_FORMAT = 1  # bump when the compact record layout or the matching inputs change
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a record larger than this is not an advisory
OSV_QUERY_URL = "https://api.osv.dev/v1/query"
DEFAULT_INDEX_URL = "https://pypi.org/simple"
SEVERITIES = ("critical", "high", "medium", "low")


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


# -- versions and OSV ranges ----------------------------------------------------------------------

# A range's events, compacted: (kind, version) with kind in introduced/fixed/last_affected/limit.
Event = tuple[str, str]
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except (InvalidVersion, TypeError):
        return None


def _same_version(version: str, parsed: Version | None, listed: str) -> bool:
    if version == listed:
        return True
    if parsed is None:
        return False
    other = parse_version(listed)
    return other is not None and other == parsed


def in_range(version: Version, events: Sequence[Event]) -> bool | None:
    """Whether ``version`` lies in one OSV range (PEP 440 ordering); ``None`` when a bound of
    the range is not a PEP 440 version, so the range cannot be evaluated (the record's
    ``versions`` list still applies)."""
    ordered: list[tuple[Version | None, str]] = []  # None: "0", before every version
    limits: list[Version] = []
    for kind, value in events:
        if kind == "limit":
            if "*" in value:
                continue  # infinity
            bound = parse_version(value)
            if bound is None:
                return None
            limits.append(bound)
            continue
        if kind == "introduced" and value == "0":
            ordered.append((None, kind))
            continue
        bound = parse_version(value)
        if bound is None:
            return None
        ordered.append((bound, kind))
    if limits and not any(version < limit for limit in limits):
        return False
    # sorted() is stable: events at the same version keep the record's order.
    ordered.sort(key=lambda item: (item[0] is not None, item[0] or Version("0")))
    vulnerable = False
    for bound, kind in ordered:
        if kind == "introduced":
            if bound is None or version >= bound:
                vulnerable = True
        elif kind == "fixed":
            if bound is not None and version >= bound:
                vulnerable = False
        elif kind == "last_affected" and bound is not None and version > bound:
            vulnerable = False
    return vulnerable


def is_affected(
    version: str, ranges: Sequence[Sequence[Event]], versions: Sequence[str] = ()
) -> bool:
    """OSV ``IsVulnerable`` for one ``affected`` entry: listed in ``versions`` or inside one of
    the (ECOSYSTEM/SEMVER) ``ranges``. An invalid ``version`` only matches the list."""
    parsed = parse_version(version)
    if any(_same_version(version, parsed, listed) for listed in versions):
        return True
    if parsed is None:
        return False
    return any(in_range(parsed, events) for events in ranges)


def fixed_versions(version: str, ranges: Sequence[Sequence[Event]]) -> list[str]:
    """The first fixed version(s) for ``version``: in each range that holds it, the ``fixed``
    event closing its interval; when none does (listed only in ``versions``), the lowest
    ``fixed`` above it. Sorted, without duplicates."""
    parsed = parse_version(version)
    closing: dict[str, Version] = {}
    above: dict[str, Version] = {}
    for events in ranges:
        fixes = sorted(
            (bound, value)
            for kind, value in events
            if kind == "fixed" and (bound := parse_version(value)) is not None
        )
        if parsed is None:
            continue
        later = [(bound, value) for bound, value in fixes if bound > parsed]
        if not later:
            continue
        above.setdefault(later[0][1], later[0][0])
        if in_range(parsed, events):
            closing.setdefault(later[0][1], later[0][0])
    chosen = closing or dict(sorted(above.items(), key=lambda item: item[1])[:1])
    return [value for value, _ in sorted(chosen.items(), key=lambda item: item[1])]


# -- severity --------------------------------------------------------------------------------------

_QUALITATIVE = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
    "negligible": "low",
}


def severity_of_score(score: float) -> str | None:
    """CVSS qualitative rating of a base score (0.0 is "none": no severity)."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return None


def _roundup(value: float) -> float:
    """CVSS v3.1 Roundup: the smallest number with one decimal >= value (float-safe)."""
    integer = round(value * 100_000)
    if integer % 10_000 == 0:
        return integer / 100_000.0
    return (math.floor(integer / 10_000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """Base score of a CVSS v3.0/v3.1 vector (``CVSS:3.1/AV:N/AC:L/...``); None when invalid."""
    metrics = dict(part.split(":", 1) for part in vector.split("/")[1:] if ":" in part)
    try:
        scope_changed = metrics["S"] == "C"
        av = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}[metrics["AV"]]
        ac = {"L": 0.77, "H": 0.44}[metrics["AC"]]
        pr = {"N": 0.85, "L": 0.68 if scope_changed else 0.62, "H": 0.5 if scope_changed else 0.27}[
            metrics["PR"]
        ]
        ui = {"N": 0.85, "R": 0.62}[metrics["UI"]]
        cia = [{"H": 0.56, "L": 0.22, "N": 0.0}[metrics[key]] for key in ("C", "I", "A")]
    except KeyError:
        return None
    iss = 1 - (1 - cia[0]) * (1 - cia[1]) * (1 - cia[2])
    if scope_changed:
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    else:
        impact = 6.42 * iss
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    if scope_changed:
        return _roundup(min(1.08 * (impact + exploitability), 10.0))
    return _roundup(min(impact + exploitability, 10.0))


def cvss2_base_score(vector: str) -> float | None:
    """Base score of a CVSS v2 vector (``AV:N/AC:L/Au:N/C:P/I:P/A:P``); None when invalid."""
    metrics = dict(part.split(":", 1) for part in vector.split("/") if ":" in part)
    try:
        av = {"L": 0.395, "A": 0.646, "N": 1.0}[metrics["AV"]]
        ac = {"H": 0.35, "M": 0.61, "L": 0.71}[metrics["AC"]]
        au = {"M": 0.45, "S": 0.56, "N": 0.704}[metrics["Au"]]
        cia = [{"N": 0.0, "P": 0.275, "C": 0.660}[metrics[key]] for key in ("C", "I", "A")]
    except KeyError:
        return None
    impact = 10.41 * (1 - (1 - cia[0]) * (1 - cia[1]) * (1 - cia[2]))
    exploitability = 20 * av * ac * au
    factor = 0.0 if impact == 0 else 1.176
    return round(((0.6 * impact) + (0.4 * exploitability) - 1.5) * factor, 1)


def _severity_entry(entry: Mapping[str, Any]) -> str | None:
    kind = str(entry.get("type", "")).upper()
    score = str(entry.get("score", "")).strip()
    if not score:
        return None
    if score.lower() in _QUALITATIVE:
        return _QUALITATIVE[score.lower()]
    try:
        return severity_of_score(float(score))
    except ValueError:
        pass
    number: float | None = None
    if kind == "CVSS_V3" or score.startswith("CVSS:3"):
        number = cvss3_base_score(score)
    elif kind == "CVSS_V2":
        number = cvss2_base_score(score)
    # CVSS v4 vectors need the full v4 lookup tables: left to database_specific.severity.
    return severity_of_score(number) if number is not None else None


def record_severity(record: Mapping[str, Any], affected: Sequence[Mapping[str, Any]]) -> str | None:
    """The advisory's own rating: ``database_specific.severity`` (GHSA: CRITICAL/HIGH/MODERATE/
    LOW), then per-package ratings, then the highest CVSS base score of ``severity[]``."""
    places: list[Any] = [record.get("database_specific")]
    for entry in affected:
        places += [entry.get("database_specific"), entry.get("ecosystem_specific")]
    for place in places:
        if isinstance(place, Mapping):
            rating = _QUALITATIVE.get(str(place.get("severity", "")).strip().lower())
            if rating:
                return rating
    ratings: list[str] = []
    scored = [record.get("severity")] + [entry.get("severity") for entry in affected]
    for entries in scored:
        if isinstance(entries, list):
            ratings += [r for e in entries if isinstance(e, Mapping) and (r := _severity_entry(e))]
    return min(ratings, key=SEVERITIES.index) if ratings else None


# -- OSV records, compacted ------------------------------------------------------------------------


class BadRecord(DependencyError, ValueError):
    """An OSV record that cannot be used (a skipped record, counted and noted)."""


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int | float) and str(item)]
    return []


def _is_set(value: Any) -> bool:
    """A YAML/JSON value that says something (YAML read without type resolution keeps
    ``null``/``~`` as strings)."""
    return bool(value) and not (isinstance(value, str) and value.strip() in {"null", "~", "Null"})


def short_summary(record: Mapping[str, Any], limit: int = 200) -> str:
    """``summary``, or the first line of ``details`` cut at a sentence (or word) boundary."""
    summary = record.get("summary")
    text = summary if isinstance(summary, str) and summary.strip() else record.get("details")
    if not isinstance(text, str):
        return ""
    line = next((ln.strip().lstrip("#").strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= limit:
        return line
    sentence = line.find(". ", 40, limit)
    if sentence != -1:
        return line[: sentence + 1]
    return line[:limit].rsplit(" ", 1)[0] + "..."


def advisory_url(record: Mapping[str, Any]) -> str:
    """A GitHub advisory among the references, else the record on osv.dev."""
    identifier = str(record.get("id", ""))
    if identifier.startswith("GHSA-"):
        return f"https://github.com/advisories/{identifier}"
    references = record.get("references")
    for reference in references if isinstance(references, list) else []:
        url = reference.get("url") if isinstance(reference, Mapping) else None
        if isinstance(url, str) and re.search(
            r"github\.com/(advisories/|.*/security/advisories/)", url
        ):
            return url
    return f"https://osv.dev/vulnerability/{urllib.parse.quote(identifier)}"


def _events(raw_range: Mapping[str, Any]) -> list[Event]:
    events = raw_range.get("events")
    if not isinstance(events, list):
        raise BadRecord("a range has no events")
    compact: list[Event] = []
    for event in events:
        if not isinstance(event, Mapping):
            raise BadRecord("a range event is not a mapping")
        for kind in EVENT_KINDS:
            value = event.get(kind)
            if value is not None and str(value).strip():
                compact.append((kind, str(value).strip()))
    return compact


def compact_record(raw: Any) -> dict[str, dict[str, Any]]:
    """What matching needs of one OSV record, per canonical PyPI package it affects:
    ``{name: {"id", "aliases", "summary", "severity", "url", "affected": [{"ranges",
    "versions"}]}}``. Empty for a withdrawn record or one about other ecosystems. Listed
    versions that the ranges already cover are dropped (the union stays the same).
    Raises ``BadRecord``."""
    if not isinstance(raw, Mapping):
        raise BadRecord("not an OSV record (not a mapping)")
    identifier = raw.get("id")
    if not isinstance(identifier, str) or not identifier.strip():
        raise BadRecord("no id")
    affected = raw.get("affected")
    if not isinstance(affected, list):
        raise BadRecord(f"{identifier}: no affected list")
    if _is_set(raw.get("withdrawn")):
        return {}
    per_package: dict[str, list[dict[str, Any]]] = {}
    entries: dict[str, list[Mapping[str, Any]]] = {}
    for entry in affected:
        if not isinstance(entry, Mapping):
            raise BadRecord(f"{identifier}: an affected entry is not a mapping")
        package = entry.get("package")
        if not isinstance(package, Mapping):
            continue  # OSV allows entries without a package (not ours to match)
        ecosystem = str(package.get("ecosystem", "")).split(":", 1)[0].strip()
        name = package.get("name")
        if ecosystem != "PyPI" or not isinstance(name, str) or not name.strip():
            continue
        ranges: list[list[Event]] = []
        raw_ranges = entry.get("ranges")
        for raw_range in raw_ranges if isinstance(raw_ranges, list) else []:
            if not isinstance(raw_range, Mapping):
                raise BadRecord(f"{identifier}: a range is not a mapping")
            if str(raw_range.get("type", "")).upper() in {"ECOSYSTEM", "SEMVER"}:
                ranges.append(_events(raw_range))
        listed = [
            version
            for version in _strings(entry.get("versions"))
            if not ((parsed := parse_version(version)) and any(in_range(parsed, r) for r in ranges))
        ]
        canonical = canonicalize_name(name.strip())
        per_package.setdefault(canonical, []).append({"ranges": ranges, "versions": listed})
        entries.setdefault(canonical, []).append(entry)
    if not per_package:
        return {}
    common = {
        "id": identifier.strip(),
        "aliases": sorted(set(_strings(raw.get("aliases"))) - {identifier.strip()}),
        "summary": short_summary(raw),
        "url": advisory_url(raw),
    }
    return {
        name: {**common, "severity": record_severity(raw, entries[name]), "affected": parts}
        for name, parts in per_package.items()
    }


def advisory_for(
    record: Mapping[str, Any], version: str, *, assume_affected: bool = False
) -> Advisory | None:
    """The advisory a compact record raises for ``version`` (None when not affected).
    ``assume_affected``: the source already matched (an online API), only describe it."""
    ranges: list[list[Event]] = []
    hit = assume_affected
    for part in record["affected"]:
        part_ranges = [[(str(k), str(v)) for k, v in events] for events in part["ranges"]]
        ranges += part_ranges
        if not hit and is_affected(version, part_ranges, part["versions"]):
            hit = True
    if not hit:
        return None
    return Advisory(
        id=record["id"],
        aliases=tuple(record["aliases"]),
        summary=record["summary"],
        fixed=tuple(fixed_versions(version, ranges)),
        severity=record.get("severity"),
        url=record.get("url"),
    )


def _natural(identifier: str) -> tuple[Any, ...]:
    """PYSEC-2021-7 before PYSEC-2021-109."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", identifier))


def _id_rank(identifier: str) -> tuple[int, tuple[Any, ...]]:
    """Which id leads a merged advisory: the PyPA id, then GitHub's, then the rest."""
    prefix = identifier.split("-", 1)[0]
    return ({"PYSEC": 0, "GHSA": 1, "CVE": 3}.get(prefix, 2), _natural(identifier))


def _alias_rank(identifier: str) -> tuple[int, tuple[Any, ...]]:
    """How aliases are listed: CVE first (the id people search for), then GHSA."""
    prefix = identifier.split("-", 1)[0]
    return ({"CVE": 0, "GHSA": 1}.get(prefix, 2), _natural(identifier))


def merge_aliases(advisories: Iterable[Advisory]) -> list[Advisory]:
    """One advisory per vulnerability: records that alias each other (PYSEC-x and GHSA-y for
    one CVE, as in the osv.dev export) merge; the PYSEC id leads, then GHSA."""
    groups: list[list[Advisory]] = []
    keys: list[set[str]] = []
    for advisory in advisories:
        names = {advisory.id, *advisory.aliases}
        joined = [i for i, known in enumerate(keys) if known & names]
        group = [advisory]
        for index in reversed(joined):
            group += groups.pop(index)
            names |= keys.pop(index)
        groups.append(group)
        keys.append(names)
    merged: list[Advisory] = []
    for group, names in zip(groups, keys, strict=True):
        lead = min(group, key=lambda a: _id_rank(a.id))
        summary = next((a.summary for a in group if a.id.startswith("GHSA-") and a.summary), "")
        ratings = [a.severity for a in group if a.severity in SEVERITIES]
        fixed = {value for a in group for value in a.fixed}
        merged.append(
            Advisory(
                id=lead.id,
                aliases=tuple(sorted(names - {lead.id}, key=_alias_rank)),
                summary=lead.summary or summary,
                fixed=tuple(sorted(fixed, key=lambda v: (parse_version(v) or Version("0"), v))),
                severity=min(ratings, key=SEVERITIES.index) if ratings else None,
                url=lead.url or next((a.url for a in group if a.url), None),
            )
        )
    return sorted(merged, key=lambda a: _id_rank(a.id))


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
                if _is_set(item.get("withdrawn")):
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


# -- online sources --------------------------------------------------------------------------------

MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a release page or a page of OSV query results


def redact(url: str) -> str:
    """A URL fit for messages: no user or password (private index URLs carry tokens)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # unparsable: drop whatever sits before an ``@``
        return re.sub(r"//[^/]*@", "//", url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class _Unreachable(Exception):
    """The service cannot be reached (network, timeouts, 5xx): stop asking it this scan."""


class _HTTPStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _OnlineSource:
    """Timeouts, bounded retries with backoff and jitter, and a breaker: once the service
    proved unreachable, every later lookup gets the same reason at once."""

    name = "online source"
    attempts = 3
    backoff_s = 0.25

    def __init__(self, settings: DepsSettings) -> None:
        self.timeout_s = settings.timeout_s
        # One request, retries included: a server dripping its answer gives up here.
        self.deadline_s = 3 * max(0.1, settings.timeout_s)
        self.notes: list[str] = []
        self._down: str | None = None

    def _request(self, url: str, body: bytes | None = None) -> Any:
        """The decoded JSON answer. Raises ``_HTTPStatus`` (final status), ``_Unreachable``."""
        headers = {
            "User-Agent": f"prodready/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = fetch(
            url,
            headers=headers,
            timeout_s=self.timeout_s,
            deadline=time.monotonic() + self.deadline_s,
            max_bytes=MAX_ANSWER_BYTES,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            data=body,
        )
        if answer.status is None:
            problem = (answer.error or "no answer").replace("connection failed", "cannot connect")
            limits = f"{self.attempts} attempts, {self.timeout_s:g}s timeout"
            raise _Unreachable(f"{problem} ({limits}, {self.deadline_s:g}s deadline)")
        if answer.status in RETRYABLE_STATUS:
            raise _Unreachable(f"HTTP {answer.status} ({self.attempts} attempts)")
        if answer.status != 200:
            raise _HTTPStatus(answer.status)
        if answer.error == TOO_LARGE:
            raise _Unreachable(f"{redact(url)} answered more than {MAX_ANSWER_BYTES} bytes")
        try:
            return json.loads(answer.body)
        except (ValueError, RecursionError) as exc:
            raise _Unreachable(f"{redact(url)} answered with invalid JSON") from exc

    def _guarded(self, url: str, body: bytes | None = None) -> Any:
        if self._down is not None:
            raise AdvisoriesUnavailable(self._down)
        try:
            return self._request(url, body)
        except _Unreachable as exc:
            self._down = str(exc)
            raise AdvisoriesUnavailable(self._down) from exc


class PyPIReleaseAdvisories(_OnlineSource):
    """``vulnerabilities`` of the package index's per-release JSON (``/pypi/NAME/VERSION/json``)."""

    not_found_limit = 3  # consecutive 404s, none answered: the API is not served

    def __init__(self, settings: DepsSettings) -> None:
        super().__init__(settings)
        index_url = settings.index_url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL
        self.base = json_api_base(index_url)
        self.name = f"the package index JSON API ({redact(self.base)})"
        self._answered = 0
        self._not_found = 0

    def lookup(self, package: str, version: str) -> list[Advisory]:
        name = urllib.parse.quote(canonicalize_name(package))
        url = f"{self.base}/{name}/{urllib.parse.quote(version)}/json"
        try:
            data = self._guarded(url)
        except _HTTPStatus as exc:
            if exc.status != 404:  # 401/403 from a private index: the same for every name
                self._down = f"{exc} for release pages"
                raise AdvisoriesUnavailable(self._down) from exc
            message = "HTTP 404 for release pages (the release is unknown or the API not served)"
            self._not_found += 1
            if not self._answered and self._not_found >= self.not_found_limit:
                self._down = message
            raise AdvisoriesUnavailable(message) from exc
        self._answered += 1
        vulnerabilities = data.get("vulnerabilities") if isinstance(data, dict) else None
        if not isinstance(vulnerabilities, list):
            raise AdvisoriesUnavailable("release pages carry no 'vulnerabilities' list")
        found: list[Advisory] = []
        for item in vulnerabilities:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            if _is_set(item.get("withdrawn")):
                continue
            fixed = sorted(
                _strings(item.get("fixed_in")), key=lambda v: (parse_version(v) or Version("0"), v)
            )
            link = item.get("link")
            found.append(
                Advisory(
                    id=item["id"],
                    aliases=tuple(sorted(set(_strings(item.get("aliases"))) - {item["id"]})),
                    summary=short_summary(item),
                    fixed=tuple(fixed[:1]),
                    severity=None,
                    url=link if isinstance(link, str) and link else advisory_url(item),
                )
            )
        return merge_aliases(found)


def json_api_base(index_url: str) -> str:
    """The JSON API next to a simple index: ``https://pypi.org/simple`` -> ``.../pypi``."""
    base = index_url.rstrip("/")
    if base.endswith(("/simple", "/+simple")):
        base = base.rsplit("/", 1)[0]
    return f"{base}/pypi"


class OSVQueryAdvisories(_OnlineSource):
    """The OSV query API: ``POST {"package": {"name", "ecosystem": "PyPI"}, "version"}``."""

    max_pages = 10

    def __init__(self, settings: DepsSettings, url: str | None = None) -> None:
        super().__init__(settings)
        self.url = url or os.environ.get("PRODREADY_OSV_URL") or OSV_QUERY_URL
        self.name = f"the OSV API ({redact(self.url)})"

    def lookup(self, package: str, version: str) -> list[Advisory]:
        canonical = canonicalize_name(package)
        query: dict[str, Any] = {
            "package": {"name": canonical, "ecosystem": "PyPI"},
            "version": version,
        }
        found: list[Advisory] = []
        for _ in range(self.max_pages):
            try:
                data = self._guarded(self.url, json.dumps(query).encode())
            except _HTTPStatus as exc:
                self._down = f"{exc} for queries"
                raise AdvisoriesUnavailable(self._down) from exc
            if not isinstance(data, dict):
                raise AdvisoriesUnavailable("the answer is not a JSON object")
            vulns = data.get("vulns", [])
            for raw in vulns if isinstance(vulns, list) else []:
                try:
                    compact = compact_record(raw)
                except BadRecord:
                    continue
                record = compact.get(canonical)
                if record is not None:
                    advisory = advisory_for(record, version, assume_affected=True)
                    if advisory is not None:
                        found.append(advisory)
            token = data.get("next_page_token")
            if not isinstance(token, str) or not token:
                break
            query["page_token"] = token
        return merge_aliases(found)


__all__ = [
    "AdvisoriesUnavailable",
    "AdvisorySource",
    "OSVDatabase",
    "OSVQueryAdvisories",
    "PyPIReleaseAdvisories",
    "advisory_sources",
    "is_affected",
]
