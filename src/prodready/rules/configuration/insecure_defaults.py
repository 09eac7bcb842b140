"""Configuration: secrets read with an insecure default (CFG002)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    EnvLookup,
    constant_str,
    env_lookup,
    in_development_settings_class,
    keyword_value,
    name_words,
    secret_name,
)
from prodready.rules.configuration._shared import _LOCAL_GATE, _dev_only_file
from prodready.rules.security._placeholders import establish_placeholders, placeholder_fact

# -- CFG002 -----------------------------------------------------------------------------------


_PLACEHOLDER_SECRETS = re.compile(r"^\s*$|^\$\{?\w+\}?$|^<[^>]*>$")


def _is_secret_name(name: str | None) -> bool:
    return name is not None and secret_name(name)


def _literal_secret(expr: ast.AST | None) -> str | None:
    value = constant_str(expr)
    if value is None and isinstance(expr, ast.Call) and expr.args:
        # SecretStr("..."), Field("..."), Field(default="...")
        value = constant_str(expr.args[0])
    if value is None and isinstance(expr, ast.Call):
        value = constant_str(keyword_value(expr, "default"))
    if value is None or _PLACEHOLDER_SECRETS.match(value):
        return None
    return value


@python_rule(
    code="CFG002",
    name="secret-with-insecure-default",
    category=Category.CONFIGURATION,
    severity=Severity.HIGH,
    summary="Secret read from the environment with a hardcoded fallback value",
    calls=(
        "os.getenv",
        "os.environ.get",
        "os.environ.setdefault",
        "decouple.*",
        "starlette.config.Config",
        "environ.Env",
        "environ.Env.*",
    ),
    nodes=(ast.AnnAssign, ast.BoolOp, ModuleEnd),
    fix='Require it: SECRET_KEY = os.environ["SECRET_KEY"] (fails at startup when missing).',
)
def secret_with_insecure_default(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags secrets -- variables named like `SECRET_KEY`, `JWT_SECRET`, `DB_PASSWORD`,
    `API_KEY`, `*_TOKEN` -- read from the environment with a non-empty literal fallback:
    `os.getenv("SECRET_KEY", "dev-secret")`, `os.environ.get(...)`, python-decouple
    `config("API_KEY", default="...")`, django-environ `env("SECRET_KEY", default="...")`,
    `os.getenv("JWT_SECRET") or "changeme"`, and pydantic `BaseSettings` fields such as
    `secret_key: str = "..."`. Dev/local/test settings files and configuration classes
    (`class TestingConfig(Config)`, a class setting `TESTING = True`) and tests are skipped,
    and so is a fallback the project itself declares a placeholder: a value some module of the
    project compares a credential with to mean "no key" (`if api_key != "local": send_auth()`), or
    that a comment beside a credential set to it calls a dummy -- `os.getenv("LOCAL_API_KEY",
    "local")` then selects a server that needs no key, it does not ship a secret.

    Evidence tier: a credential the service presents to another system (a password, an access
    or API key -- not a key it signs or verifies with) whose fallback is that system's local
    development account -- the user setting beside it has the same value (`BROKER_USER` and
    `BROKER_PASSWORD` both `"guest"`), its host is this machine, the value calls itself a dummy
    or only restates the setting's name (`"secret-key"` for `STORE_SECRET_ACCESS_KEY`) -- is
    reported low, confidence low: a wrong one is refused there, and whether production sets
    the variable cannot be seen. The message says so.

    ## Why it breaks production
    When the variable is missing -- a typo in the manifest, a secret not mounted, a new
    environment -- the service does not fail: it starts and runs with a secret that is in the
    repository, in every fork and in the model that wrote it. Anyone can then forge session
    cookies, JWTs and password-reset tokens, or log into the database with the default password.

    ## Example
    ```python
    SECRET_KEY = os.getenv("SECRET_KEY", "django-insecure-dev-key")
    JWT_SECRET = os.environ.get("JWT_SECRET", "changeme")
    ```

    ## Use instead
    ```python
    SECRET_KEY = os.environ["SECRET_KEY"]  # KeyError at startup when missing

    class Settings(BaseSettings):
        jwt_secret: SecretStr  # required: validation fails when unset
    ```
    """
    if ctx.facts.is_test or _dev_only_file(ctx):
        return
    if in_development_settings_class(c.node for c in ctx.classes):
        return  # ``class TestingConfig(Config)``: the test suite's settings, not production's
    if isinstance(node, ast.Module):
        establish_placeholders(ctx)  # other modules' fallbacks to the same value are moot
        return
    if isinstance(node, ast.Call):
        lookup = env_lookup(node, ctx)
        if lookup is None:
            return
        if _report_credentialed_url_default(lookup, ctx) or not _is_secret_name(lookup.name):
            return
        value = _literal_secret(lookup.default) if lookup.default is not None else None
        if value is None or isinstance(lookup.default, ast.Call):
            return
        name = lookup.name or ""
        local = _local_client_credential(name, value, ctx.memo(_ENV_DEFAULTS))
        _report_secret_default(node, name, ctx, value, local_credential=local)
        return
    if isinstance(node, ast.BoolOp):
        if not isinstance(node.op, ast.Or) or len(node.values) != 2:
            return
        lookup = env_lookup(node.values[0], ctx)
        if lookup is None or lookup.default is not None or not _is_secret_name(lookup.name):
            return
        fallback = _literal_secret(node.values[1])
        if constant_str(node.values[1]) is None or fallback is None:
            return
        _report_secret_default(node.values[1], lookup.name or "", ctx, fallback)
        return
    # A settings class field: ``secret_key: str = "..."``.
    if ctx.function is not None or not ctx.classes or not isinstance(node, ast.AnnAssign):
        return
    owner = ctx.classes[-1]
    if not any(base.endswith("BaseSettings") for base in owner.bases):
        return
    if not isinstance(node.target, ast.Name) or not secret_name(node.target.id):
        return
    default = _literal_secret(node.value)
    if default is None:
        return
    siblings = {
        item.target.id: constant_str(item.value) or ""
        for item in owner.node.body
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
    }
    local = _local_client_credential(node.target.id, default, siblings)
    _report_secret_default(node, node.target.id, ctx, default, local_credential=local)


def _module_env_defaults(ctx: PythonContext) -> dict[str, str]:
    """The literal fallbacks of the module's environment lookups, by variable name
    (``BROKER_USER = os.getenv("BROKER_USER", "guest")``): the settings beside a credential."""
    defaults: dict[str, str] = {}
    for node in ast.walk(ctx.tree):
        if isinstance(node, ast.Call):
            lookup = env_lookup(node, ctx)
            if lookup is not None and lookup.name:
                default = constant_str(lookup.default) if lookup.default is not None else None
                defaults.setdefault(lookup.name, default or "")
    return defaults


_ENV_DEFAULTS: ModuleMemo[dict[str, str]] = ModuleMemo("CFG002:env-defaults", _module_env_defaults)


# ``scheme://user:password@host``: the password of a connection URL (DSN, broker URL).
_URL_PASSWORD = re.compile(
    r"^[a-z][a-z0-9+.-]*://[^/\s:@]*:(?P<password>[^/\s@]+)@(?P<host>[^/\s:?#]+)"
)


def _report_credentialed_url_default(lookup: EnvLookup, ctx: PythonContext) -> bool:
    """``os.getenv("DATABASE_URL", "postgresql://app:s3cret@db.internal/app")``: whatever the
    variable is called, a fallback URL that carries a password for a real host ships that
    password and silently connects somewhere when the setting is missing. A localhost
    fallback (``guest:guest@localhost``) is a developer default, CFG001's concern."""
    match = _URL_PASSWORD.match(constant_str(lookup.default) or "")
    if match is None or _LOCAL_GATE.search(match["host"]):
        return False
    password = match["password"]
    if _PLACEHOLDER_SECRETS.match(password):
        return False
    ctx.report(
        lookup.call,
        f"{lookup.name or 'this setting'} falls back to a connection URL with an embedded "
        f"password for {match['host']}: when the variable is missing the service silently "
        "connects there with a credential that is in the repository. Make it required and "
        "fail at startup",
        secret=password,
    )
    return True


# A credential the service presents to another system (a database, an object store, an API):
# a wrong one is refused there. A key the service signs or verifies with itself is not one.
_CLIENT_CREDENTIAL_WORDS = frozenset(
    {"password", "passwd", "pwd", "pass", "access", "api", "apikey"}
)
_SIGNING_WORDS = frozenset({"jwt", "signing", "sign", "hmac", "session", "cookie", "salt"})
_LOCAL_VALUE_HINTS = ("dummy", "change", "example", "sample", "test", "dev", "local", "demo")


def _local_client_credential(name: str, value: str, siblings: dict[str, str]) -> bool:
    """The default is the account of a local development container or a dummy, for a
    credential the service presents to another system: the value says so (``"DummyKey"``,
    not a real-looking key), or a setting of the same service beside it does -- its user is
    the same word (``POSTGRES_USER = "app"``, ``POSTGRES_PWD = "app"``), its host is this
    machine, its key id names development."""
    words = name_words(name)
    if not _CLIENT_CREDENTIAL_WORDS.intersection(words) or _SIGNING_WORDS.intersection(words):
        return False
    lowered = value.lower()
    if set(name_words(value)) <= set(words):
        return True  # ``"secret-key"`` for ``STORE_SECRET_ACCESS_KEY``: it names the slot
    real_looking = len(value) >= 16 and any(c.isdigit() for c in value)
    if any(hint in lowered for hint in _LOCAL_VALUE_HINTS) and not real_looking:
        return True
    service = name.split("_", 1)[0]
    for other, default in siblings.items():
        if other == name or other.split("_", 1)[0] != service or not default:
            continue
        other_words = name_words(other)
        if _LOCAL_GATE.search(default) or any(h in default.lower() for h in _LOCAL_VALUE_HINTS):
            return True
        if (
            {"user", "username"}.intersection(other_words)
            and len(default) >= 3
            and default.lower() in lowered
        ):
            return True
    return False


def _report_secret_default(
    node: ast.AST, name: str, ctx: PythonContext, value: str, local_credential: bool = False
) -> None:
    if local_credential:
        # Evidence tier: without the deployment, the rule cannot tell whether production
        # sets the variable or the other system was set up with this same default.
        ctx.report(
            node,
            f"{name} falls back to what looks like a local development account of another "
            "system (a credential the service presents, refused there when wrong): harmless "
            "unless production leaves the variable unset and that system accepts this "
            "default. Make it required to be sure",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
            secret=value,
            unless=placeholder_fact(value),
        )
        return
    ctx.report(
        node,
        f"{name} falls back to a hardcoded value: if the variable is missing in production "
        "the service runs with a publicly known secret. Make it required and fail at startup",
        secret=value,
        unless=placeholder_fact(value),
    )
