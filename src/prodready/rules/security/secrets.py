"""Security: credentials written into code (SEC002)."""

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
    CREDENTIAL_FORMAT_NAMES,
    CREDENTIAL_FORMATS,
    UrlCredentials,
    constant_str,
    in_development_settings_class,
    is_framework_source,
    is_script,
    loopback_host,
    name_words,
    secret_name,
    url_credentials,
)
from prodready.rules.security._credential_use import (
    CREDENTIAL_CALLS,
    auth_tuple_password,
    compared_name,
    logs_in_with,
    parameter_defaults,
    password_argument,
    refused_literal,
)
from prodready.rules.security._enum_members import enum_member
from prodready.rules.security._literal_credentials import (
    connection_string_credentials,
    looks_random,
    report_collection,
    vendor_stand_in,
)
from prodready.rules.security._placeholders import (
    compared_sentinels,
    development_value,
    establish_placeholders,
    in_sample_argument,
    marked_dummy,
    names_member_beside,
    placeholder_fact,
)
from prodready.rules.security._refused_constants import refused_constant
from prodready.rules.security._seeded_accounts import (
    establish_seeded_accounts,
    seeded_account_fact,
)
from prodready.rules.security._shared import _contains, _dev_settings_file, _target_name

# -- SEC002 ------------------------------------------------------------------------------------

# ``token`` alone names many things (lexer tokens, identity tokens, URL tokens): without a
# credential word next to it, only a random-looking value counts.
_CREDENTIAL_TOKEN_WORDS = frozenset(
    {"auth", "access", "refresh", "bearer", "bot", "api", "github", "gitlab", "slack", "oauth"}
    | {"session", "secret", "service", "admin", "webhook", "jwt", "id", "personal", "app"}
    | {"telegram", "discord", "hf", "npm", "pypi", "vault", "consul", "cf", "do", "sentry"}
)
_NOT_SECRET_VALUES = frozenset(
    {"bearer", "basic", "token", "none", "null", "true", "false", "jwt", "hs256", "rs256"}
    | {"sha256", "md5", "plain", "text", "hidden", "required", "optional", "string", "str"}
    | {"auto", "default", "disabled", "enabled", "redacted", "masked", "secret", "password"}
    | {"passwd", "api_key", "apikey", "access_token", "refresh_token", "id_token", "client_secret"}
    | {"secret_key", "private_key", "undefined", "unknown", "empty", "n/a", "na", "oauth2"}
    | {"test", "tests", "testing", "invalid", "missing", "incorrect", "mismatch", "weak"}
    | {"strong", "expired", "revoked", "valid", "none", "unset", "off", "on", "yes", "no"}
    | {"unused", "ignored", "not-used", "not_used"}
)
_MASK_WORDS = frozenset(
    {"sanitized", "redacted", "masked", "filtered", "hidden", "removed", "omitted", "elided"}
    | {"secret", "hidden_value", "not_set", "notset", "unset", "none"}
)
_PLACEHOLDER_HINTS = (
    "change",
    "replace",
    "your",
    "example",
    "placeholder",
    "dummy",
    "fake",
    "xxx",
    "todo",
    "fixme",
    "insert",
    "here",
    "sample",
    "<",
    "...",
    "test",
    "demo",
)


def _secret_value(value: str, name: str) -> Confidence | None:
    """How sure it is that a literal assigned to a secret-like name is a real credential
    (None: not a credential at all -- empty, a template, a sentence, a field name)."""
    text = value.strip()
    lowered = text.lower()
    for scheme in ("bearer ", "basic ", "token "):
        if lowered.startswith(scheme):
            text = text[len(scheme) :].strip()
            lowered = text.lower()
    if len(text) < 4 or any(ch.isspace() for ch in text):
        return None
    if "{" in text or "%(" in text or "%s" in text or "${" in text or "$(" in text:
        return None
    if "://" in text or text.startswith(("/", "./", "~")) or "\\" in text:
        return None
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", text) and "_" in text:
        return None  # the name of an environment variable
    if re.fullmatch(r"[a-z_][\w-]*(?:\.[\w-]+)+", text) and not re.search(r"\d{3}", text):
        return None  # a dotted path, a module or a file name
    if (
        lowered in _NOT_SECRET_VALUES
        or lowered == name.lower()
        or lowered.strip("_") in name.lower()
    ):
        return None
    if not any(c.isalnum() for c in text.replace("x", "").replace("X", "")):
        return None  # a mask: ``****``, ``:xxxx``
    if text.strip("<>[]()*_- ").lower() in _MASK_WORDS:
        return None  # ``<SANITIZED>``, ``[REDACTED]``
    if re.fullmatch(r"_*[a-z][a-z0-9]*(?:_[a-z0-9]+)+", text) and secret_name(text):
        return None  # the name of a field or key, not its value
    if any(hint in lowered for hint in _PLACEHOLDER_HINTS) or vendor_stand_in(text):
        return Confidence.LOW
    if re.fullmatch(r"[A-Z][a-z]+", text):
        return None  # a label (``Passwort``)
    if re.fullmatch(r"[a-z]+(?:-[a-z]+)+", text):
        return Confidence.MEDIUM  # words (``super-secret-key``): weak, but maybe a label
    if re.fullmatch(r"[a-z]+(?:_[a-z]+)+", text):
        return None  # an identifier or an error code (``too_short``)
    words = name_words(name)
    if words[-1] == "token" and not _CREDENTIAL_TOKEN_WORDS.intersection(words[:-1]):
        return Confidence.HIGH if looks_random(text) else None
    return Confidence.HIGH


def _settings_class_field(ctx: PythonContext) -> bool:
    """A field of a pydantic ``BaseSettings`` class: its value is only the default of an
    environment variable."""
    return (
        ctx.function is None
        and bool(ctx.classes)
        and any(base.endswith("BaseSettings") for base in ctx.classes[-1].bases)
    )


# Keys whose values document an API with sample payloads, not configure anything.
_EXAMPLE_KEYS = frozenset({"example", "examples", "json_schema_extra", "schema_extra"})
_ExampleSpans = list[ast.expr]  # the rule's state: the values of such keys seen so far


@python_rule(
    code="SEC002",
    name="hardcoded-secret",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Credential written in the source: password, API key, token or private key literal",
    nodes=(
        ast.Module,
        ast.Assign,
        ast.AnnAssign,
        ast.keyword,
        ast.Dict,
        ast.Compare,
        ast.Constant,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ModuleEnd,
    ),
    calls=CREDENTIAL_CALLS,
    cwe=798,
    fix='Read it from the environment or a secret manager: os.environ["DB_PASSWORD"].',
)
def hardcoded_secret(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags string literals assigned to credential names (`password`, `secret`, `api_key`,
    `token`, `client_secret`, `SECRET_KEY`, ...) as variables, attributes, keyword arguments,
    dictionary keys or in comparisons (`if password == "admin123"`), and any string that has the
    format of a real credential: AWS access key ids, GitHub/Slack tokens, live Stripe keys,
    Google API keys, PEM private keys -- and connection URLs that embed a password
    (`"postgresql://app:S3cret@db.internal/orders"`, `"redis://:pw@cache:6379"`) or a key/value
    connection string that does (libpq `"host=db dbname=app password=S3cret"`, ODBC
    `"Server=sql01;Uid=app;Pwd=S3cret;"`) wherever the string is used, and the values of a
    collection of credentials (`PARTNER_API_KEYS = {"acme": "ak_live_4f9c..."}`; under a name
    such as `CARRIER_KEYS` only generated-looking values). Names of fields (`password_field`,
    `token_url`, `token_type`), empty values, templates, masks, environment-variable names and
    the members of an `Enum` are not secrets. A parameter default is a credential too (`def
    connect(host, password="pw")`: a caller that passes none logs in with it). Where the code
    uses a literal -- the value a credential is compared with (`if password == "password"`,
    `request.form.get("password") != "secret"`), a keyword of a call that logs in
    (`psycopg2.connect(password="password")`, `redis.Redis(password=...)`), the password
    argument of a login (`smtp.login(user, "pw")`, `HTTPBasicAuth("svc", "pw")`,
    `pika.PlainCredentials(...)`, `auth=("svc", "pw")`), a connection settings dictionary
    (`DATABASES`, `connect_args`) -- it is the credential whatever it reads like: a default word
    is reported with high confidence, a placeholder word (`"changeme"`) with medium and only a
    documentation slot (`"<your-password>"`) with low; a comparison that refuses the value (`if
    password == "password": raise ...`) is a deny-list, not a credential. Test files,
    documentation examples and API example payloads are skipped, and so are environment
    fallbacks (`os.getenv("X_SECRET", "...")`) and pydantic `BaseSettings` defaults, which
    CFG002 (secret-with-insecure-default) reports. In URLs, placeholder and template passwords
    (`user:pass@`, `${DB_PASSWORD}`, `{password}`, `app:app`) are not secrets, and a loopback
    database (`@localhost`) is left alone in scripts and dev settings (and reported with medium
    confidence elsewhere). What the code says a value is counts too: sample data (an argument of
    a parameter named for samples or previews, a function such as `get_sample_context()`), a
    sentinel the module compares a key with to mean "no key" (`api_key = "local"` ... `if
    api_key != "local":`; a marker reads as words: `s3cr3t`, letters mixed with digits, is a
    password the module checks), a value a comment calls a dummy, the name of a class member
    written beside it (`{"password": "SAML", "login_method": LoginMethod.SAML}`: a marker of how
    the account logs in), and a constant the code refuses on a match (`if password ==
    LEGACY_DEFAULT: raise ...`) are not credentials. A sentinel or a dummy is one wherever the
    project writes it: the same value handed to a credential in another module of the project
    is not reported either. Nor is a constant the project hands to a password hasher
    (`hash_password(settings._DEFAULT_PASSWORD)`, `make_password(...)`): the initial password of
    an account the application keeps in its own store, changed in the application rather than
    rotated by a deploy (a passphrase derived into a key is not hashed so, and stays).

    Severity follows the evidence. **High**: a literal that reads like a real credential, or
    any literal the code logs in with or checks a credential against (a default word there is
    the weakest credential there is, not a sign that it is none). **Medium, low confidence**: a
    literal given to a credential name that reads like a placeholder (`"change-me"`,
    `"<your-key>"`, a vendor's token prefix on a body without the vendor's format:
    `"xoxb-valid"`) -- the code uses it as written, but whether a deploy step replaces it cannot
    be seen. **Low, low confidence**: development data, as far as the code tells -- a value that
    calls itself test or seed data (`"shop_e2e_seed_key"`) where nothing logs in with it, a
    credential a script writes beside a loopback endpoint (`{"issuer":
    "http://localhost:8080", "client_secret": ...}` in a seed script), any credential in
    development, test or sample settings -- a settings file so named, or a configuration class
    (`class TestingConfig(Config)`, `class DevelopmentSettings`, a class setting `TESTING =
    True`) beside the production one. A real-looking credential in a script (a staging
    key) stays high. Each message says which tier it is in.

    ## Why it breaks production
    A secret in the source is in every clone, CI log, container image layer and backup of the
    repository, and cannot be rotated without a deploy. Leaked keys are harvested from public
    repositories within minutes; a shared hardcoded password or signing key means every
    environment -- and everyone who ever had read access -- can log in or forge sessions.

    ## Example
    ```python
    STRIPE_API_KEY = "sk_live_EXAMPLE51HqLyjWDarjtT1zdp7dcXYZ"
    engine = create_engine("postgresql://app@db/orders", connect_args={"password": "s3cr3t!"})
    ```

    ## Use instead
    ```python
    STRIPE_API_KEY = os.environ["STRIPE_API_KEY"]
    engine = create_engine(
        "postgresql://app@db/orders", connect_args={"password": os.environ["DB_PASSWORD"]}
    )
    ```
    Rotate any credential that was committed: removing it from the code does not remove it from
    the history.
    """
    if ctx.facts.is_test:
        return
    pairs: list[tuple[str | None, ast.expr | None, ast.AST]] = []
    # Cheapest tests first: almost every node here has no string literal on its value side.
    if isinstance(node, ast.Constant):
        text = node.value
        if text.__class__ is str and "=" in text and len(text) < 2000 and "://" not in text:
            _collect_url_credentials(node, text, ctx, connection_string_credentials(text))
        if text.__class__ is str and "://" in text and "@" in text and len(text) < 2000:
            _collect_url_credentials(node, text, ctx, url_credentials(text))
        return
    if isinstance(node, ast.keyword):
        if node.arg in _EXAMPLE_KEYS:
            ctx.rule_state(_ExampleSpans).append(node.value)
        if node.arg == "auth" and (password := auth_tuple_password(node)) is not None:
            pairs.append(("password", password, password))
        elif node.value.__class__ is not ast.Constant or node.arg is None:
            return
        else:
            pairs.append((node.arg, node.value, node))
    elif isinstance(node, ast.Call):
        password = password_argument(node)
        if password is None:
            return
        pairs.append(("password", password, password))
    elif isinstance(node, ast.Assign):
        if enum_member(ctx):
            return
        if node.value.__class__ is not ast.Constant or _settings_class_field(ctx):
            if node.value.__class__ in _COLLECTIONS and not _settings_class_field(ctx):
                report_collection(node, ctx, _secret_value, ctx.memo(_MODULE_SECRETS).lines)
            return
        pairs.extend((_target_name(t), node.value, node) for t in node.targets)
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if value.__class__ is ast.Constant and key is not None:
                pairs.append((constant_str(key), value, key))
            elif constant_str(key) in _EXAMPLE_KEYS:
                ctx.rule_state(_ExampleSpans).append(value)
        if pairs and any(_contains(span, node) for span in ctx.rule_state(_ExampleSpans)):
            return  # an example payload for API docs (``json_schema_extra={"examples": ...}``)
    elif isinstance(node, ast.AnnAssign):
        if _settings_class_field(ctx):
            return  # an environment default: CFG002 reports it
        if node.value.__class__ in _COLLECTIONS:
            report_collection(node, ctx, _secret_value, ctx.memo(_MODULE_SECRETS).lines)
        pairs.append((_target_name(node.target), node.value, node))
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        # ``def connect(host, password="pw")``: a caller that passes none logs in with it.
        pairs.extend(parameter_defaults(node.args))
    elif isinstance(node, ast.Module):
        # Dispatched twice: before the walk (the module node) and after it (ModuleEnd).
        secrets = ctx.memo(_MODULE_SECRETS)
        if not secrets.formats_scanned:
            secrets.formats_scanned = True
            _scan_credential_formats(ctx)
        else:
            _report_url_credentials(ctx)
            establish_placeholders(ctx)
            establish_seeded_accounts(ctx)
        return
    elif (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq | ast.NotEq)
    ):
        left: ast.expr = node.left
        right: ast.expr = node.comparators[0]
        if isinstance(left, ast.Constant):
            left, right = right, left
        pairs.append((compared_name(left), right, node))
    for name, assigned, where in pairs:
        literal = constant_str(assigned)
        if name is None or not literal or not secret_name(name) or ctx.facts.is_example:
            continue
        line = getattr(where, "lineno", 0)
        if line in ctx.memo(_MODULE_SECRETS).lines:
            continue
        ordinary = confidence = _secret_value(literal, name)
        used = confidence is not Confidence.HIGH and _credential_use(name, where, ctx)
        if used:
            # Where the code uses it, a literal is the credential whatever it says.
            confidence = _used_credential_value(literal)
        if confidence is None or _not_a_credential(literal, where, ctx):
            continue
        verb = (
            "is compared with"
            if isinstance(where, ast.Compare)
            else "defaults to"
            if isinstance(ctx.parents().get(id(where)), ast.arguments)
            else "is set to"
        )
        severity = None  # the rule's: a credential the code holds or uses
        used = used or _credential_use(name, where, ctx)
        development = development_value(literal, where, ctx, used=used)
        if development is None and _dev_settings_file(ctx.path):
            development = "sits in development, test or sample settings"
        if development is None and in_development_settings_class(c.node for c in ctx.classes):
            development = "sits in a development or test configuration class"
        if development is not None:
            severity, confidence = Severity.LOW, Confidence.LOW
            message = (
                f"`{name}` {verb} a literal that {development}: development data, it seems, "
                "not a deployment's credential -- but wherever this code runs with it, anyone "
                "with the code has the credential. Read it from the environment or a secret "
                "manager"
            )
        elif confidence is Confidence.LOW:
            severity = Severity.MEDIUM
            message = (
                f"`{name}` {verb} a placeholder in the source: it reads like one, but the code "
                "uses it as written -- a deployment that does not replace it runs with a value "
                "anyone can guess. Read it from the environment or a secret manager"
            )
        else:
            message = (
                f"`{name}` {verb} a literal in the source: anyone with the code (or an image "
                "built from it) has this credential, and it cannot be rotated without a deploy. "
                "Read it from the environment or a secret manager"
            )
        ctx.report(
            where,
            message,
            severity=severity,
            confidence=confidence,
            # A word anyone tries first (``"password"``) hides nothing masked, and masking it
            # would garble every message of the file that says the word.
            secret=literal if ordinary is not None else None,
            # a password the project hashes into its own user store: its first account's
            unless=[placeholder_fact(literal), seeded_account_fact(name)],
        )


def _not_a_credential(literal: str, where: ast.AST, ctx: PythonContext) -> bool:
    """What the code around a credential-like literal says it is: sample data handed to a
    parameter for previews or examples, a sentinel the module compares a key with to tell "no
    key" apart, a value its author marks as a dummy in a comment, or the name of a class member
    written beside it (``"password": "SAML", "login_method": LoginMethod.SAML``)."""
    return (
        literal in compared_sentinels(ctx)
        or refused_constant(where, ctx)
        or refused_literal(where, ctx)
        or marked_dummy(where, ctx)
        or in_sample_argument(where, ctx)
        or names_member_beside(literal, where, ctx)
    )


def _credential_use(name: str, where: ast.AST, ctx: PythonContext) -> bool:
    """The literal is a credential by where the code puts it, whatever it reads like: the value
    a credential it checks is compared with (``if password == "password"``), or what it logs in
    with (``psycopg2.connect(password="password")``, ``DATABASES``)."""
    if isinstance(where, ast.Compare):
        words = name_words(name)
        return words[-1] != "token" or bool(_CREDENTIAL_TOKEN_WORDS.intersection(words[:-1]))
    return logs_in_with(where, ctx)


# Values that stand for "no value" (what a browser or a serializer sends for a missing one).
_NULL_WORDS = frozenset({"none", "null", "nil", "undefined", "unset", "n/a", "na", "empty"})
# A slot left for the reader to fill, as documentation writes it (``"<your-password>"``).
_DOCUMENTATION_HINTS = ("<", "your", "xxx", "...", "replace", "insert", "here", "placeholder")


def _used_credential_value(value: str) -> Confidence | None:
    """How sure a literal the code logs in with (or checks a credential against) is a
    credential: always, unless it is no value at all -- empty, a template or reference, a
    mask, a null word. A default or a placeholder-looking word (``"password"``, ``"secret"``,
    ``"changeme"``) is the weakest credential there is, not a sign it is not one; only a
    documentation-style slot (``"<your-password>"``) is less certain."""
    text = value.strip()
    lowered = text.lower()
    if not text or any(ch.isspace() for ch in text) or lowered in _NULL_WORDS:
        return None
    if "{" in text or "%(" in text or "%s" in text or "${" in text or "$(" in text:
        return None
    if not any(c.isalnum() for c in text.replace("x", "").replace("X", "")):
        return None  # a mask
    unwrapped = text.strip("<>[]()*_- ").lower()
    if unwrapped in _MASK_WORDS and (unwrapped != lowered or unwrapped != "secret"):
        return None  # ``<SECRET>``, ``redacted``; a bare ``secret`` is a password
    if any(hint in lowered for hint in _DOCUMENTATION_HINTS):
        return Confidence.LOW
    if any(hint in lowered for hint in _PLACEHOLDER_HINTS):
        return Confidence.MEDIUM
    return Confidence.HIGH


class _ModuleSecrets:
    """What SEC002 knows about the module: whether the credential formats were scanned (at the
    module node, before the walk; the second dispatch is ModuleEnd), the lines already
    reported, and the connection URLs with a password, judged at ModuleEnd."""

    __slots__ = ("formats_scanned", "lines", "urls")

    def __init__(self) -> None:
        self.formats_scanned = False
        self.lines: set[int] = set()
        self.urls: list[tuple[ast.Constant, UrlCredentials]] = []


_MODULE_SECRETS: ModuleMemo[_ModuleSecrets] = ModuleMemo(
    "SEC002:module", lambda _: _ModuleSecrets()
)


_COLLECTIONS = (ast.Dict, ast.List, ast.Tuple, ast.Set)


def _collect_url_credentials(
    node: ast.Constant, value: str, ctx: PythonContext, found: UrlCredentials | None
) -> None:
    if found is None or any(_contains(span, node) for span in ctx.rule_state(_ExampleSpans)):
        return  # no literal password, or an example payload for API docs
    ctx.memo(_MODULE_SECRETS).urls.append((node, found))


def _report_url_credentials(ctx: PythonContext) -> None:
    """Connection URLs with a literal password, judged at module end (the module's kind is
    known then)."""
    secrets = ctx.memo(_MODULE_SECRETS)
    found = secrets.urls
    if not found or ctx.facts.is_example:
        return
    parents = ctx.parents()
    dev_file = _dev_settings_file(ctx.path)
    local_setup = dev_file or is_script(ctx) or is_framework_source(ctx)
    lines = secrets.lines
    for node, credentials in found:
        where: ast.AST = node
        host: str | None = credentials.host
        parent = parents.get(id(node))
        if isinstance(parent, ast.JoinedStr):  # the fixed start of an f-string
            where, parent = parent, parents.get(id(parent))
            if not host:
                host = None  # filled in at run time
        if parent is None or isinstance(parent, ast.Expr):
            continue  # a docstring or a bare string
        loopback = host is not None and loopback_host(host)
        if loopback and local_setup:
            continue  # a developer's local database, in a script or dev settings
        line = getattr(where, "lineno", 0)
        if line in lines:
            continue
        lines.add(line)
        whose = f" of `{credentials.user}`" if credentials.user else ""
        on = f" for {host}" if host else " for a local socket" if host is not None else ""
        kind = "URL" if "://" in str(node.value) else "string"
        ctx.report(
            where,
            f"this connection {kind} embeds the password{whose}{on}: anyone with the code (or an "
            "image built from it) can log in, and the password cannot be rotated without a "
            f"deploy. Read the {kind} (or at least the password) from the environment or a secret "
            "manager",
            confidence=Confidence.LOW if dev_file else Confidence.MEDIUM if loopback else None,
            secret=credentials.password,
        )


def _scan_credential_formats(ctx: PythonContext) -> None:
    source = ctx.source
    lines = ctx.memo(_MODULE_SECRETS).lines
    for markers, pattern, kind in CREDENTIAL_FORMATS:
        if any(marker in source for marker in markers):
            _report_credentials(ctx, pattern, kind, lines)


def _report_credentials(
    ctx: PythonContext, pattern: re.Pattern[str], kind: str, lines: set[int]
) -> None:
    source = ctx.source
    for match in pattern.finditer(source):
        token = match.group(0)
        body = token.split("_")[-1] if kind != "pem" else token
        if "EXAMPLE" in token.upper() or len(set(body[-16:])) < 6:
            continue
        line = source.count("\n", 0, match.start()) + 1
        if line in lines:
            continue
        lines.add(line)
        text = ctx.lines[line - 1] if line <= len(ctx.lines) else ""
        column = match.start() - (source.rfind("\n", 0, match.start()) + 1)
        byte_column = len(text[:column].encode("utf-8"))
        width = len(text[column : column + len(token)].encode("utf-8"))
        where = ast.Constant(value=token)
        where.lineno, where.col_offset = line, byte_column
        where.end_lineno, where.end_col_offset = line, byte_column + width
        ctx.report(
            where,
            f"{CREDENTIAL_FORMAT_NAMES[kind]} is committed in the source: treat it as leaked -- "
            "revoke and rotate it, then load the new one from the environment or a secret manager",
            secret=token,
        )
