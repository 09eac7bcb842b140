"""Recognising credentials in names and values, for every file kind: Python source, Dockerfiles,
manifests. One definition, so that ``DB_PASSWORD`` is a secret (and ``PASSWORD_FILE`` is not)
the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple


def name_words(name: str) -> list[str]:
    """``dbPassword`` / ``DB_PASSWORD`` / ``db-password`` -> ``["db", "password"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


_SECRET_LAST_WORDS = frozenset(
    {"password", "passwd", "passphrase", "secret", "token", "apikey", "secretkey", "privatekey"}
)
_SHORT_SECRET_WORDS = frozenset({"pass", "pw", "pwd"})  # only with a prefix: ``db_pass``
_KEY_PREFIXES = frozenset(
    {"api", "secret", "private", "access", "signing", "sign", "encryption", "encrypt", "client"}
    | {"master", "auth", "app", "jwt", "hmac", "webhook", "license", "subscription", "service"}
    | {"account", "fernet"}
)
_NOT_SECRET_CONTEXT = frozenset(
    {"csrf", "xsrf", "page", "cursor", "continuation", "next", "pagination", "sync", "type"}
    | {"public", "test", "dummy", "fake", "example", "sample", "mock", "hashed", "hash"}
    | {"url", "lexer", "parser"}
)


# A name starting with one of these names the action on a credential (a route, a view, a
# permission: ``UPDATE_USER_PASSWORD``, ``reset_password``), not the credential.
_ACTION_WORDS = frozenset({"update", "reset", "forgot", "change", "rotate", "revoke"})
# A name starting with one of these is a switch about a credential (``ENABLE_EMAIL_PASSWORD``,
# ``USE_API_TOKEN``, ``is_password``): its value is "1"/"true", never the credential itself.
_SWITCH_WORDS = frozenset(
    {"enable", "enabled", "disable", "disabled", "is", "has", "use", "allow", "require"}
    | {"show", "hide", "should", "can", "toggle"}
)
# ``pass`` after one of these is a pass of a loop or a batch (``MAX_ITEMS_PER_PASS``,
# ``first_pass``), not a password.
_NOT_PASSWORD_BEFORE_PASS = frozenset(
    {"per", "each", "every", "first", "second", "third", "next", "last", "single", "one"}
    | {"two", "multi", "final", "full", "this", "current", "previous", "prev"}
)


def secret_name(name: str) -> bool:
    """``DB_PASSWORD``, ``api_key``, ``clientSecret``, ``SECRET_KEY``, ``auth_token``... -- a name
    that holds a credential (not ``token_url``, ``password_field``, ``csrf_token``,
    ``UPDATE_USER_PASSWORD``, ``ENABLE_EMAIL_PASSWORD``, ``MAX_EXPERIMENTS_PER_PASS``)."""
    words = name_words(name)
    if not words or _NOT_SECRET_CONTEXT.intersection(words):
        return False
    if len(words) > 1 and (words[0] in _ACTION_WORDS or words[0] in _SWITCH_WORDS):
        return False
    last = words[-1]
    if last in _SECRET_LAST_WORDS:
        return True
    if last in _SHORT_SECRET_WORDS:
        return len(words) > 1 and words[-2] not in _NOT_PASSWORD_BEFORE_PASS
    if last == "key" and len(words) > 1:
        return words[-2] in _KEY_PREFIXES or "secret" in words
    return last == "authorization"


_PLACEHOLDER_VALUES = frozenset(
    {
        "",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "0",
        "1",
        "-",
        "changeme",
        "change-me",
        "change_me",
        "todo",
        "tbd",
        "fixme",
        "placeholder",
        "example",
        "dummy",
        "fake",
        "test",
        "testing",
        "dev",
        "development",
        "local",
        "default",
        "secret",
        "password",
        "passwd",
        "pass",
        "token",
        "key",
        "postgres",
        "mysql",
        "root",
        "admin",
        "guest",
        "user",
        "unset",
        "empty",
        "redacted",
        "overridden",
        "override",
        "override-me",
        "set-me",
        "setme",
    }
)
_PLACEHOLDER_PARTS = (
    "changeme",
    "change-me",
    "change_me",
    "change-this",
    "change_this",
    "replace",
    "placeholder",
    "example",
    "dummy",
    "your-",
    "your_",
    "yourpass",
    "yoursecret",
    "yourtoken",
    "<",
    "xxxx",
    "****",
    "....",
    "redacted",
    "not-a-secret",
    "notasecret",
    "not_a_secret",
    "notsosecret",
    "not-so-secret",
    "collectstatic",
    "build-time",
    "buildtime",
    "set-in-",
    "set_in_",
    "override",
)
_CREDENTIAL_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@")


def placeholder_value(value: str, name: str = "") -> bool:
    """Values that are not real credentials: empty, references, templates, paths, examples."""
    text = value.strip().strip("'\"").strip()
    lower = text.lower()
    if lower in _PLACEHOLDER_VALUES or lower == name.lower():
        return True
    if "$" in text or "{{" in text or "%(" in text:
        return True  # $VAR, ${VAR}, $(VAR), templates
    if text.startswith(("/", "./", "../", "~", "file:", "@", "vault:", "arn:", "sm://")):
        return True  # a path or a reference to a secret store
    if any(part in lower for part in _PLACEHOLDER_PARTS):
        return True
    if len(set(lower)) <= 1:  # "xxxxxxxx", "00000000"
        return True
    return len(text) < 4


def credential_in_url(value: str) -> bool:
    """``scheme://user:password@host`` with a literal password."""
    match = _CREDENTIAL_URL.match(value.strip().strip("'\""))
    return match is not None and not placeholder_value(match.group(1))


class UrlCredentials(NamedTuple):
    user: str
    password: str
    host: str  # without the port; empty for a unix socket


_URL_USERINFO = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@]*):([^@\s/]+)@(\[[^\]/]*\]|[^/\s?#:,]*)"
)
_TEMPLATE_MARKS = ("{", "}", "%s", "%(", "%d")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "0.0.0.0", ""})  # noqa: S104


def url_credentials(value: str) -> UrlCredentials | None:
    """The user, password and host of ``scheme://user:password@host/...`` when the password is
    a literal credential: not a placeholder (see :func:`placeholder_value`), not a format
    template (``{password}``, ``%s``), not the user name repeated (``app:app``) -- what a
    connection string written in program code leaks. Stricter than
    :func:`credential_in_url`, which judges values in Dockerfiles and manifests."""
    match = _URL_USERINFO.match(value.strip())
    if match is None:
        return None
    user, password, host = match.groups()
    if placeholder_value(password) or any(mark in password for mark in _TEMPLATE_MARKS):
        return None
    if password.lower() in {user.lower(), f"{user.lower()}pass", f"{user.lower()}123"}:
        return None  # app:app, a dev default
    return UrlCredentials(user, password, host.lower())


def loopback_host(host: str) -> bool:
    """``localhost``, ``127.0.0.1``, ``[::1]`` -- or no host at all (a unix socket)."""
    return host in _LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


# (substrings one of which must occur, pattern, kind): the cheap substring test keeps the
# regular expressions off the ~all files that hold no credential.
CREDENTIAL_FORMATS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "aws"),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{60,}\b"),
        "github",
    ),
    (("xox",), re.compile(r"\bxox[baprs]-[0-9]{6,}-[0-9A-Za-z-]{10,}"), "slack"),
    (("k_live_",), re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}\b"), "stripe"),
    (("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), "google"),
    (
        ("PRIVATE KEY-----",),
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
            r"(?:\\n|\s|\\r)+[A-Za-z0-9+/=]{40,}"
        ),
        "pem",
    ),
)
CREDENTIAL_FORMAT_NAMES = {
    "aws": "an AWS access key id",
    "github": "a GitHub token",
    "slack": "a Slack token",
    "stripe": "a live Stripe secret key",
    "google": "a Google API key",
    "pem": "a private key",
}


# -- masking: what a report may show of a credential ---------------------------------------------

MASK_MIN_LENGTH = 4  # shorter values are placeholders (see placeholder_value), never masked
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")


def mask_secret(value: str) -> str:
    """``AKIAIOSFODNN7EXAMPLE`` -> ``AKIA***(20 chars)``: enough to recognise which
    credential it is, never enough to use it (at most a quarter of it is shown)."""
    return f"{value[: min(4, len(value) // 4)]}***({len(value)} chars)"


def url_password(value: str) -> str | None:
    """The literal password of ``scheme://user:password@host`` (see :func:`credential_in_url`)."""
    match = _CREDENTIAL_URL.match(value.strip().strip("'\""))
    if match is None or placeholder_value(match.group(1)):
        return None
    return match.group(1)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret, every credential of a known format and every literal
    password in a URL masked -- for the snippets, messages and fixes of any finding."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MASK_MIN_LENGTH and secret in text:
            text = text.replace(secret, mask_secret(secret))
    for markers, pattern, _ in CREDENTIAL_FORMATS:
        if any(marker in text for marker in markers):
            text = pattern.sub(lambda match: mask_secret(match.group(0)), text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(_mask_url_password, text)
    return text


def _mask_url_password(match: re.Match[str]) -> str:
    password = match.group(2)
    if placeholder_value(password) or any(mark in password for mark in _TEMPLATE_MARKS):
        return match.group(0)
    return f"{match.group(1)}{mask_secret(password)}{match.group(3)}"
