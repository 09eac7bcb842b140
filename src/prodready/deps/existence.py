"""Rules over the package index: names that do not exist, suspicious young or empty projects, possible typosquats."""

from __future__ import annotations
