"""Rules over what the project declares versus what its code imports: undeclared imports, unused and misplaced dependencies, conflicting pins, Python version, unreadable manifests."""

from __future__ import annotations
