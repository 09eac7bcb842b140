"""Error handling: failures that are swallowed, hidden or reported as success."""

from __future__ import annotations
