"""Rules over known vulnerabilities of pinned and locked versions."""

from __future__ import annotations
