"""Dependency manifest rules (requirements files, pyproject.toml)."""

from __future__ import annotations
