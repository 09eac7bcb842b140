"""Collecting every mistake of a configuration section instead of stopping at the first.

The probe's and the gate's sections are validated part by part (each key, each sub-table) so
that `prodready config`, `probe` and `gate` report all mistakes at once, one per line.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from prodready.tables import TableReader


class ErrorCollector:
    """Runs each part of a validation on its own, recording the mistakes of those that fail."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error
        self.messages: list[str] = []

    def get(self, parse: Callable[[], Any]) -> Any:
        """``parse()``, or None (recording its error) when it fails."""
        try:
            return parse()
        except self.error as exc:
            self.messages.append(str(exc))
            return None

    def unknown_keys(self, reader: TableReader, known: tuple[str, ...]) -> None:
        """One mistake per unknown key of ``reader``'s table (each with its "did you mean")."""
        for key in reader.table:
            if key not in known:
                self.get(partial(type(reader)({key: None}, reader.where).done, known))

    def raise_all(self) -> None:
        if self.messages:
            raise self.error("\n".join(self.messages))
