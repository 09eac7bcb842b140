"""Versions against OSV ranges: PEP 440 ordering and the OSV evaluation algorithm (a version is
affected when listed in ``affected[].versions`` or inside an ``ECOSYSTEM``/``SEMVER`` range whose
sorted events are replayed: ``introduced``, ``fixed``, ``last_affected``; ``limit`` bounds it)."""

from __future__ import annotations

from collections.abc import Sequence

from packaging.version import InvalidVersion, Version

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
