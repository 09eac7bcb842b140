"""Hosts named inside database connection strings, and which rule reports a credential in one.

A connection string says where a service's database lives in two shapes: a URL
(``postgresql://app:pw@10.0.3.12/app``) and the keyword/value form libpq and ODBC drivers take
(``"dbname=app user=app host=10.0.3.12"``, ``"Server=sql01.corp;Database=app;"``). Both pin an
address of one network when written into code. When the string also carries a password, the
credential rules (SEC002 for a literal, CFG002 for an environment fallback) report the line --
but only for a password they judge real: a user name repeated as its password
(``league:league``) is a developer default to them, and then nothing else would name the
hard-coded address either.
"""

from __future__ import annotations

import re

from prodready.plugin.analysis import url_credentials
from prodready.rules.security._literal_credentials import connection_string_credentials

# ``key=value`` pairs of libpq (space separated) and ODBC/ADO.NET (semicolon separated).
_PAIR = re.compile(r"(?:^|[\s;])\s*([a-z][a-z ]*?)\s*=\s*('[^']*'|\{[^}]*\}|[^\s;']+)", re.I)
_HOST_KEYS = frozenset({"host", "hostaddr", "server", "data source", "address", "addr"})
# Keys only a connection string has: a host key alone may be any ``a=b`` text.
_CONNECTION_KEYS = frozenset(
    {"dbname", "database", "initial catalog", "user", "uid", "user id", "port", "sslmode"}
)


def connection_string_host(text: str) -> str | None:
    """The host of a libpq/ODBC keyword connection string (``host=10.0.3.12 dbname=app``);
    None for a URL or text that names no database connection."""
    if "://" in text or "=" not in text:
        return None
    pairs: dict[str, str] = {
        str(key).lower().strip(): str(value).strip("'{}") for key, value in _PAIR.findall(text)
    }
    if not _CONNECTION_KEYS.intersection(pairs):
        return None
    for key in _HOST_KEYS:
        if pairs.get(key):
            return pairs[key].split(",")[0]
    return None


def credential_reported_elsewhere(text: str, *, fallback: bool) -> bool:
    """A credential rule reports this string: SEC002 a literal URL or keyword string whose
    password it judges real, CFG002 any credentialed URL used as an environment fallback."""
    if url_credentials(text) is not None or connection_string_credentials(text) is not None:
        return True
    return fallback and "://" in text and "@" in text.split("://", 1)[1].split("/", 1)[0]


_PASSWORD_VALUE = re.compile(r"(\b(?:password|pwd)\s*=\s*)('[^']*'|\{[^}]*\}|[^\s;']+)", re.I)


def without_password(text: str) -> str:
    """The connection string as a report may quote it: its password replaced by ``***``."""
    return _PASSWORD_VALUE.sub(r"\1***", text)
