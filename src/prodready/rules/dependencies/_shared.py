"""Dependencies: analysis several manifest rules share."""

from __future__ import annotations

_REQUIREMENTS_OPTIONS = (
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "--constraint",
    "--requirement",
    "--editable",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--require-hashes",
    "--pre",
    "--trusted-host",
    "--use-feature",
    "--hash",
)


def _canonical_option(option: str) -> str:
    """pip (optparse) accepts any unambiguous prefix of a long option: --extra-index."""
    if option in _REQUIREMENTS_OPTIONS or not option.startswith("--") or len(option) < 4:
        return option
    matches = [known for known in _REQUIREMENTS_OPTIONS if known.startswith(option)]
    return matches[0] if len(matches) == 1 else option
