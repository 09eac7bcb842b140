"""Popular project names on PyPI, and names that imitate them (possible typosquats).

``data/popular.txt`` ships the canonical names of the most downloaded projects, most downloaded
first (its header says where the list comes from and how to regenerate it). Every name on it
counts as *popular*: established enough never to be called a typosquat itself. The first
``TARGETS`` names are the ones squatters imitate, and the ones a name is compared with.

A name is a possible typosquat of a target when, after canonicalisation, it

- differs from it only by separators, look-alike characters (``1``/``l``, ``0``/``o``) or a
  ``python-``/``py`` prefix or ``-py``/``-python`` suffix (``python-requests``, ``djang0``,
  ``yaml`` for ``pyyaml``); or
- is within a small Damerau-Levenshtein distance (optimal string alignment) of it: one edit
  when both names have at least 5 characters, two when the imitated name has 10 or more --
  counted on the part of the two names that differs once shared ``-``-separated words are set
  aside: ``pytest-spark`` and ``pytest-shard`` compare ``spark`` with ``shard`` (two edits in
  five letters: no match), while ``reqeusts`` is one transposition from ``requests``.

Names that only add whole words (``tf-playwright-stealth``) or a version number (``fabric3``)
to a popular name are projects of their own, not typos.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from importlib import resources

from packaging.utils import canonicalize_name

TARGETS = 5000  # the most downloaded names: what typosquats imitate
_SEPARATORS = re.compile(r"[-_.]+")
_LOOKALIKE = str.maketrans({"1": "l", "0": "o"})
_PREFIXES = ("python3-", "python-", "py3-", "py-")
_SUFFIXES = ("-python3", "-python", "-py3", "-py")
_SHORTEST_STEM = 4
_ONE_EDIT_FROM = 5  # shorter names are too dense: "nose"/"noise", "flox"/"flax", "grin"/"grain"
_TWO_EDITS_FROM = 10  # "py" stripped from "pyyaml" leaves "yaml"; from "pyro" nothing usable


@functools.cache
def popular_names() -> tuple[str, ...]:
    """The shipped list: canonical names, most downloaded first."""
    text = resources.files("prodready.deps").joinpath("data/popular.txt").read_text("utf-8")
    names: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = canonicalize_name(line)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return tuple(names)


@functools.cache
def _ranks() -> dict[str, int]:
    return {name: rank for rank, name in enumerate(popular_names(), start=1)}


def popularity_rank(name: str) -> int | None:
    """1 for the most downloaded project; None when the name is not on the list."""
    return _ranks().get(canonicalize_name(name))


def is_popular(name: str) -> bool:
    """The name (any spelling: ``Flask_Login``) is on the shipped list of popular projects."""
    return canonicalize_name(name) in _ranks()


def typosquat_of(name: str) -> str | None:
    """The popular name ``name`` imitates, or None (also for popular names themselves)."""
    canonical = canonicalize_name(name)
    if not canonical or canonical in _ranks():
        return None
    index = _index()
    keys = _variant_keys(canonical)
    # The same name spelled differently first, then one of the two without its decorations.
    for table in (index.spellings, index.variants):
        for key in keys:
            target = table.get(key)
            if target is not None:
                return target
    best: tuple[int, int, str] | None = None  # (distance, rank, target)
    for target_id in index.candidates(_skeleton(canonical)):
        target = index.targets[target_id]
        distance = _distance(canonical, target)
        if distance is not None and (best is None or (distance, target_id) < best[:2]):
            best = (distance, target_id, target)
    return best[2] if best is not None else None


# -- normalisation ------------------------------------------------------------------------------


def _skeleton(canonical: str) -> str:
    """Separators removed and look-alike characters folded: how a name reads at a glance."""
    return _SEPARATORS.sub("", canonical).translate(_LOOKALIKE)


def _stems(canonical: str) -> set[str]:
    """The name without the decorations squatters add or drop (``python-``, ``-py``, ``py``)."""
    stems = {canonical}
    for prefix in _PREFIXES:
        if canonical.startswith(prefix):
            stems.add(canonical[len(prefix) :])
    for suffix in _SUFFIXES:
        for stem in list(stems):
            if stem.endswith(suffix):
                stems.add(stem[: -len(suffix)])
    for stem in list(stems):
        if stem.startswith("py") and not stem.startswith("py-"):
            stems.add(stem[2:])
    return {stem for stem in stems if len(_skeleton(stem)) >= _SHORTEST_STEM}


def _variant_keys(canonical: str) -> list[str]:
    """Keys under which equivalent spellings meet: the skeleton of every stem (own first)."""
    keys = [_skeleton(canonical)]
    keys.extend(sorted(_skeleton(stem) for stem in _stems(canonical) - {canonical}))
    return keys


def _distance(candidate: str, target: str) -> int | None:
    """Edits between the differing parts of two names, when within the allowed distance."""
    left, right = candidate.split("-"), target.split("-")
    if _adds_words(left, right) or _adds_words(right, left):
        return None  # a different project built on the name ("tf-playwright-stealth")
    if candidate.startswith(target) and candidate[len(target) :].isdigit():
        return None  # a fork's or a major version's name ("fabric3", "python-consul2")
    while len(left) > 1 and len(right) > 1 and left[0] == right[0]:
        left, right = left[1:], right[1:]
    while len(left) > 1 and len(right) > 1 and left[-1] == right[-1]:
        left, right = left[:-1], right[:-1]
    a, b = _skeleton("-".join(left)), _skeleton("-".join(right))
    if a == b:
        return None
    allowed = _allowed_edits(a, b)
    whole_a, whole_b = _skeleton(candidate), _skeleton(target)
    if allowed == 0 and (a, b) != (whole_a, whole_b):
        # A short differing word in a longer name: "scikit-lern" is still one typo away.
        allowed = min(1, _allowed_edits(whole_a, whole_b))
    if allowed == 0:
        return None
    distance = osa_distance(a, b, allowed)
    return distance if distance <= allowed else None


def _allowed_edits(candidate: str, target: str) -> int:
    """Edits tolerated between two (parts of) names: none when either is short, two when the
    imitated name is long enough to stay recognisable through them."""
    if min(len(candidate), len(target)) < _ONE_EDIT_FROM:
        return 0
    return 1 if len(target) < _TWO_EDITS_FROM else 2


def _adds_words(longer: list[str], shorter: list[str]) -> bool:
    """``longer`` is ``shorter`` with whole words added before or after it."""
    size = len(shorter)
    return len(longer) > size and (longer[:size] == shorter or longer[-size:] == shorter)


def osa_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) of ``a`` and ``b``, or
    ``limit + 1`` as soon as it is known to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        lowest = current[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            current[j] = value
            lowest = min(lowest, value)
        if lowest > limit:
            return limit + 1
        before, previous = previous, current
    return previous[len(b)]


# -- the index of targets -----------------------------------------------------------------------


class _Index:
    """The targets, by variant key and by character bigram (a filter before the edit distance:
    one edit changes at most three bigrams of a name)."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        self.targets = targets
        self.spellings: dict[str, str] = {}  # skeleton -> target
        self.variants: dict[str, str] = {}  # skeleton of a stem -> target
        self.bigrams: dict[str, list[int]] = defaultdict(list)
        for target_id, target in enumerate(targets):
            own, *stems = _variant_keys(target)
            self.spellings.setdefault(own, target)
            for key in stems:
                self.variants.setdefault(key, target)
            for bigram in _bigrams(_skeleton(target)):
                self.bigrams[bigram].append(target_id)
        self.sizes = [len(_bigrams(_skeleton(target))) for target in targets]
        self.lengths = [len(_skeleton(target)) for target in targets]

    def candidates(self, skeleton: str) -> list[int]:
        """Targets that may be within two edits of ``skeleton``, best ranked first."""
        own = _bigrams(skeleton)
        shared: dict[int, int] = defaultdict(int)
        for bigram in own:
            for target_id in self.bigrams.get(bigram, ()):
                shared[target_id] += 1
        slack = 3 * 2
        return sorted(
            target_id
            for target_id, count in shared.items()
            if abs(self.lengths[target_id] - len(skeleton)) <= 2
            and count >= max(len(own), self.sizes[target_id]) - slack
        )


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


@functools.cache
def _index() -> _Index:
    return _Index(popular_names()[:TARGETS])
