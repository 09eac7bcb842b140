"""The error a document parser raises when a file cannot be parsed."""

from __future__ import annotations

from prodready.model import ProdreadyError


class DocumentError(ProdreadyError):
    """The file cannot be parsed; becomes a scan error with the line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line
