"""A set of child rows reconciled through helpers (DAT003 across functions): the rows a call is
given one by one come from a relation of one object, and the rows a later call is given one by
one from the same relation of another object.

``for track in playlist.tracks: ... remove_track(db, track_id=track.id)`` then ``for track_in
in playlist_in.tracks: add_track(db, track_in=track_in)``: the stored children the request
dropped are deleted, the requested ones created -- one child set replaced, and a failure
between the two leaves it half-replaced. Two loops over the same object's relation are two
steps about that object, not this.
"""

from __future__ import annotations

import ast

from prodready.engine.semantic.value_flow import Flow

# The attributes that name a row's key, not a relation of it.
_KEYS = frozenset({"id", "pk"})


def relations_iterated(call: ast.Call, flow: Flow) -> set[tuple[str, str]]:
    """``(owner, relation)`` for each relation (``playlist.tracks``) whose items the call is
    given one by one: an argument that is a loop variable, or a field of one (``track.id``),
    bound to the items of ``owner.relation``."""
    found: set[tuple[str, str]] = set()
    for value in [*call.args, *(keyword.value for keyword in call.keywords)]:
        while isinstance(value, ast.Attribute):
            value = value.value
        if not isinstance(value, ast.Name) or value.id not in flow.iterated:
            continue
        for name in flow.closure([value.id]):
            owner, _, relation = name.rpartition(".")
            if owner and relation not in _KEYS and not relation.endswith("_id"):
                found.add((owner, relation))
    return found


def same_relation_of_two(earlier: set[tuple[str, str]], later: set[tuple[str, str]]) -> bool:
    """The two calls walk the same relation of two different objects (the stored row's
    children and the requested ones)."""
    return any(
        relation == other_relation and owner != other_owner
        for owner, relation in earlier
        for other_owner, other_relation in later
    )
