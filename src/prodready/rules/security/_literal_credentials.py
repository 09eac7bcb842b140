"""Credentials SEC002 finds by the shape of the text or of the container that holds them, not
by the name of a variable: key/value connection strings (libpq ``host=... password=...``,
ODBC/ADO.NET ``Server=...;Pwd=...;``) and collections of keys (``PARTNER_TOKENS = {"acme":
"k_93f..."}``)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from prodready.plugin import Confidence, PythonContext
from prodready.plugin.analysis import (
    CREDENTIAL_FORMATS,
    UrlCredentials,
    constant_str,
    placeholder_value,
    secret_name,
)

# libpq's keyword/value form: ``key=value`` pairs separated by spaces, values optionally quoted.
_LIBPQ_PAIR = re.compile(r"(?:^|\s)([a-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)", re.IGNORECASE)
_LIBPQ_KEYS = frozenset({"host", "hostaddr", "port", "dbname", "user", "service", "sslmode"})
# ODBC / ADO.NET / SQL Server: ``Key=value;`` pairs, values optionally braced.
_ODBC_PAIR = re.compile(r"(?:^|;)\s*([a-z][a-z ]*?)\s*=\s*(\{[^}]*\}|[^;]*)", re.IGNORECASE)
_ODBC_KEYS = frozenset(
    {"server", "data source", "database", "initial catalog", "uid", "user id", "driver", "dsn"}
)
_PASSWORD_KEYS = frozenset({"password", "pwd"})
_TEMPLATE_MARKS = ("{", "}", "%s", "%(", "%d")


def connection_string_credentials(text: str) -> UrlCredentials | None:
    """The user, password and host of a key/value connection string that carries a literal
    password (``"host=db.internal dbname=app user=app password=S3cret"``,
    ``"Server=sql01;Database=app;Uid=app;Pwd=S3cret;"``); None for a URL, a template
    (``password={pw}``, ``password=%s``), a placeholder, or text that is no connection string."""
    if "://" in text or "=" not in text:
        return None
    lowered = text.lower()
    if "password" not in lowered and "pwd" not in lowered:
        return None
    for pattern, keys in ((_LIBPQ_PAIR, _LIBPQ_KEYS), (_ODBC_PAIR, _ODBC_KEYS)):
        pairs = {key.lower().strip(): value for key, value in pattern.findall(text)}
        passwords = [pairs[key] for key in _PASSWORD_KEYS if key in pairs]
        if not passwords or not keys.intersection(pairs):
            continue
        password = passwords[0].strip()
        if password[:1] in {"'", "{"} and password[-1:] in {"'", "}"}:
            password = password[1:-1]
        user = pairs.get("user") or pairs.get("uid") or pairs.get("user id") or ""
        if (
            not password
            or placeholder_value(password)
            or any(mark in password for mark in _TEMPLATE_MARKS)
            or password.lower() == user.lower()
        ):
            return None
        host = pairs.get("host") or pairs.get("hostaddr") or pairs.get("server") or ""
        host = host or pairs.get("data source", "")
        return UrlCredentials(user.strip("'"), password, host.strip("'").split(",")[0].lower())
    return None


# ``PARTNER_KEYS``, ``api_tokens``, ``CLIENT_SECRETS``: the plural of a credential word.
_PLURAL_WORDS = {"keys": "key", "tokens": "token", "secrets": "secret", "passwords": "password"}


def collection_credentials(name: str, value: ast.expr) -> list[ast.Constant]:
    """The literals of a dict (its values) or a list/tuple/set assigned to a name that holds
    several credentials: the plural of a credential name (``API_KEYS``, ``PASSWORDS``), or
    keys/tokens of something (``CARRIER_KEYS``) whose values look generated -- 16 characters or
    more mixing letters and digits, not field names or labels."""
    words = name.lower().split("_") if "_" in name else [name.lower()]
    singular = _PLURAL_WORDS.get(words[-1])
    if singular is None:
        return []
    named = secret_name("_".join([*words[:-1], singular]))
    if isinstance(value, ast.Dict):
        items: list[ast.expr] = list(value.values)
    elif isinstance(value, ast.List | ast.Tuple | ast.Set):
        items = list(value.elts)
    else:
        return []
    found: list[ast.Constant] = []
    for item in items:
        text = constant_str(item)
        if text is None or not isinstance(item, ast.Constant):
            continue
        if _one_token(text) and (_generated(text) or (named and _credential_like(text))):
            found.append(item)
    return found


def _credential_like(text: str) -> bool:
    """Not a field name, a label, a path, an address or a template: one token of letters and
    digits."""
    if len(text) < 8 or placeholder_value(text) or not _one_token(text):
        return False
    return any(ch.isdigit() for ch in text) and any(ch.isalpha() for ch in text)


def _generated(text: str) -> bool:
    """Random-looking and holding a run of mixed letters and digits (``8f2a9c71``,
    ``1Z7734``): a generated key, not a camelCase or snake_case field name
    (``completionTokens``, ``cache_read_input_tokens``)."""
    return looks_random(text) and any(
        sum(ch.isdigit() for ch in run) >= 2 and any(ch.isalpha() for ch in run)
        for run in re.findall(r"[A-Za-z0-9]{4,}", text)
    )


def _one_token(text: str) -> bool:
    return not any(ch.isspace() or ch in ":/.@{}%$" for ch in text)


def looks_random(text: str) -> bool:
    """Long and mixing character classes, like a generated key (not a word or an identifier)."""
    classes = sum(
        (
            any(c.islower() for c in text),
            any(c.isupper() for c in text),
            any(c.isdigit() for c in text),
        )
    )
    if len(text) >= 16 and classes >= 2:
        return True
    return len(text) >= 24 and "_" not in text and "-" not in text


def report_collection(
    node: ast.Assign | ast.AnnAssign,
    ctx: PythonContext,
    judge: Callable[[str, str], Confidence | None],
    lines: set[int],
) -> None:
    """Report a collection of credential literals once, at its first credential (``judge``:
    how sure SEC002 is that a literal under that name is one; only sure ones count)."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    name = next(
        (
            t.id if isinstance(t, ast.Name) else t.attr
            for t in targets
            if isinstance(t, ast.Name | ast.Attribute)
        ),
        None,
    )
    if name is None or node.value is None or ctx.facts.is_example:
        return
    singular = name[:-1] if name[-1:] in {"s", "S"} else name
    found = [
        item
        for item in collection_credentials(name, node.value)
        if judge(str(item.value), singular) is Confidence.HIGH and item.lineno not in lines
    ]
    if not found:
        return
    lines.update(item.lineno for item in found)
    others = sorted({item.lineno for item in found[1:]} - {found[0].lineno})
    also = (
        f" (also line{'s' if len(others) > 1 else ''} {', '.join(map(str, others))})"
        if others
        else ""
    )
    ctx.report(
        found[0],
        f"`{name}` holds credentials written in the source{also}: anyone with the code (or an "
        "image built from it) has them, and they cannot be rotated without a deploy. Read "
        "each from the environment or a secret manager",
        secret=str(found[0].value),
    )


# The prefix each vendor gives its credentials: a value that starts with one claims the format.
_VENDOR_PREFIX = re.compile(r"(?:xox[baprs]-|[sr]k_live_|gh[pousr]_|github_pat_|AKIA|ASIA|AIza)")


def vendor_stand_in(text: str) -> bool:
    """A vendor's credential prefix on a body without the vendor's format (``xoxb-valid``,
    ``sk_live_unset``): a stand-in written where a client library insists on a token-shaped
    value -- no real credential of that vendor reads so."""
    prefix = _VENDOR_PREFIX.match(text)
    if prefix is None:
        return False
    return not any(pattern.search(text) for _, pattern, _ in CREDENTIAL_FORMATS)
