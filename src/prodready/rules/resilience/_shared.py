"""Resilience: analysis several resilience rules share."""

from __future__ import annotations

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_REQUESTS_CALLS = (
    *(f"requests.{verb}" for verb in _VERBS),
    *(f"requests.Session.{verb}" for verb in _VERBS),
    *(f"requests.sessions.Session.{verb}" for verb in _VERBS),
    *(f"requests.session.{verb}" for verb in _VERBS),
)
