"""Security: injection, secrets, broken crypto and trust decisions in service code."""

from __future__ import annotations
