"""Dockerfile rules (deployment and security of the container image)."""

from __future__ import annotations
