"""OSV records: their severity (CVSS v2/v3 base scores, qualitative ratings), their compact
form kept in the advisory index, the ``Advisory`` built from one, and alias merging."""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from prodready.deps.model import Advisory, DependencyError
from prodready.deps.osv_versions import (
    EVENT_KINDS,
    Event,
    fixed_versions,
    in_range,
    is_affected,
    parse_version,
)

SEVERITIES = ("critical", "high", "medium", "low")


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


def string_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int | float) and str(item)]
    return []


def is_set(value: Any) -> bool:
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
    if is_set(raw.get("withdrawn")):
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
            for version in string_list(entry.get("versions"))
            if not ((parsed := parse_version(version)) and any(in_range(parsed, r) for r in ranges))
        ]
        canonical = canonicalize_name(name.strip())
        per_package.setdefault(canonical, []).append({"ranges": ranges, "versions": listed})
        entries.setdefault(canonical, []).append(entry)
    if not per_package:
        return {}
    common = {
        "id": identifier.strip(),
        "aliases": sorted(set(string_list(raw.get("aliases"))) - {identifier.strip()}),
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
