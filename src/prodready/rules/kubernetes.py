"""Kubernetes manifest rules (how the workload is run, probed and limited)."""

from __future__ import annotations
