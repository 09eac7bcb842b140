"""Observability: whether the service can be watched, debugged and probed in production."""

from __future__ import annotations
