"""Up-front checks of the dependency settings that name something outside the project: the
package index and the advisory database.

A value that cannot be honoured is the user's error, reported before any work with where it
came from (``--index-url``, ``[tool.prodready.deps] index-url``, ``$PIP_INDEX_URL``): left to the
rules, ``http://[::1`` made ten of them fail with "internal error" and lose their findings, and
``ftp://...`` was taken for a local directory that lists nothing, so every dependency "did not
exist" on the index.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from prodready.model import DepsSettings, UsageError

INDEX_SCHEMES = ("http", "https", "file")


def index_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be a package index, or None: an http(s) URL with a host, a
    ``file:`` URL of a directory, or a local directory."""
    raw = value.strip()
    if not raw:
        return "it is empty"
    try:
        parts = urllib.parse.urlsplit(raw)
        parts.port  # noqa: B018 - parsing the port raises for a bad one
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme in {"http", "https"}:
        if not parts.hostname:
            return "the URL has no host"
        return None
    if scheme == "file":
        # Imported here: the HTTP stack costs every scan's start-up ~15 ms.
        from urllib.request import url2pathname

        directory = Path(url2pathname(parts.path))
    elif len(scheme) > 1 or "://" in raw:  # one letter: a Windows drive, C:\...
        return f"unsupported scheme {scheme!r}: use an http(s) URL, a file: URL or a directory"
    else:
        directory = Path(raw).expanduser()
    # A mirror tree may serve only the JSON API: ``pypi/NAME/json`` beside ``simple``.
    if directory.is_dir() or (directory.name == "simple" and (directory.parent / "pypi").is_dir()):
        return None
    return f"{directory} is not a directory (a local index is a directory)"


def advisory_db_problem(value: str) -> str | None:
    """Why ``value`` cannot be an OSV database, or None: a readable directory, or a zip whose
    central directory reads and lists at least one record."""
    path = Path(value).expanduser()
    if not path.exists():
        return "it does not exist"
    if path.is_dir():
        try:
            with os.scandir(path):
                pass
        except OSError as exc:
            return f"cannot read the directory ({exc.strerror or exc})"
        return None
    if not path.is_file():
        return "not a directory or zip of OSV records"
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return "not a directory or zip of OSV records (the file is not a readable zip)"
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if not any(name.lower().endswith((".json", ".yaml", ".yml")) for name in names):
        return "the zip holds no OSV records (*.json, *.yaml, *.yml)"
    return None


def check_options(index_url: str | None, advisory_db: str | None) -> None:
    """The command line's ``--index-url`` and ``--advisory-db``; raises ``UsageError``."""
    if index_url is not None and (problem := index_url_problem(index_url)) is not None:
        raise UsageError(f"--index-url {index_url!r}: {problem}")
    if advisory_db is not None and (problem := advisory_db_problem(advisory_db)) is not None:
        raise UsageError(f"--advisory-db {advisory_db}: {problem}")


def check_environment(settings: DepsSettings) -> None:
    """``$PIP_INDEX_URL`` and ``$PRODREADY_ADVISORY_DB`` when the settings leave them in
    charge; raises ``UsageError`` naming the variable."""
    index = os.environ.get("PIP_INDEX_URL")
    if not settings.index_url and index and (problem := index_url_problem(index)) is not None:
        raise UsageError(f"$PIP_INDEX_URL {index!r}: {problem}")
    database = os.environ.get("PRODREADY_ADVISORY_DB")
    if not settings.advisory_db and database:
        problem = advisory_db_problem(database)
        if problem is not None:
            raise UsageError(f"$PRODREADY_ADVISORY_DB {database}: {problem}")


def index_setting(settings: DepsSettings) -> tuple[str, str]:
    """The index the settings point at and where that came from (for messages)."""
    if settings.index_url:
        return settings.index_url, "the index-url setting"
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"], "$PIP_INDEX_URL"
    return "https://pypi.org/simple", "the default index"
