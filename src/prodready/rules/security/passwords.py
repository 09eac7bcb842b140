"""Security: passwords hashed or stored with weak schemes (SEC003, SEC019)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant_str,
    is_false,
    is_literal,
    keyword_value,
    name_words,
)
from prodready.rules.security._shared import _dev_settings_file, _module_value

# -- SEC003 ------------------------------------------------------------------------------------

_HASH_CONSTRUCTORS = (
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha3_256",
    "sha3_512",
    "blake2b",
    "blake2s",
    "new",
)
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "pw", "pass"})
_NOT_PASSWORD_WORDS = frozenset(
    {"token", "reset", "nonce", "otp", "code", "hash", "hashed", "digest", "key", "link", "url"}
    | {"email", "username", "user", "id", "policy", "length", "field", "file"}
)
_BREACH_CHECK_WORDS = frozenset({"pwned", "breach", "breached", "leaked", "compromised", "hibp"})
_PASSWORD_VERBS = frozenset(
    {"hash", "make", "set", "encrypt", "encode", "check", "verify", "validate", "digest"}
    | {"store", "create", "compare", "hashed", "update", "save"}
)


def _mentions_password(expr: ast.AST) -> bool:
    """The expression reads a password (``password``, ``user.passwd``, ``data["password"]``)."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Subscript):
            name = constant_str(node.slice) or ""
        else:
            continue
        words = set(name_words(name))
        if words & _PASSWORD_WORDS and not words & _NOT_PASSWORD_WORDS:
            if "pass" in words and len(words) == 1:
                continue
            return True
    return False


def _protocol_digest(expr: ast.AST) -> bool:
    for node in ast.walk(expr):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and set(name_words(name)) & _PROTOCOL_WORDS:
            return True
    return False


_PROTOCOL_WORDS = frozenset({"nonce", "cnonce", "realm", "challenge", "iso", "created"})


def _password_function(name: str) -> bool:
    words = set(name_words(name))
    return bool(words & (_PASSWORD_WORDS - {"pass"})) and bool(words & _PASSWORD_VERBS)


def _unrelated_to_password(expr: ast.AST) -> bool:
    for node in ast.walk(expr):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(name, str) and set(name_words(name)) & _UNRELATED_WORDS:
            return True
    return False


# Hashed material that is not the password: tokens, or random bytes for a salt
# (``hashlib.sha256(os.urandom(60))`` next to ``pbkdf2_hmac`` in ``hash_password``).
_UNRELATED_WORDS = frozenset(
    {"token", "nonce", "otp", "code", "key", "urandom", "salt", "random", "uuid", "uuid4"}
    | {"token_bytes", "token_hex", "time", "now", "email", "username"}
)


# Key-derivation functions: a fast digest fed into one of them is a pre-hash of the KDF's input
# (bcrypt's 72-byte limit, a legacy scheme wrapped for migration), not the stored hash.
_KDF_CALLS = frozenset(
    {"hashlib.pbkdf2_hmac", "hashlib.scrypt", "django.utils.crypto.pbkdf2"}
    | {"bcrypt.hashpw", "bcrypt.kdf", "argon2.low_level.hash_secret", "argon2.PasswordHasher.hash"}
    | {"cryptography.hazmat.primitives.kdf.pbkdf2.PBKDF2HMAC.derive"}
    | {"django.contrib.auth.hashers.make_password"}
)
_KDF_HASHERS = frozenset(
    {"PBKDF2PasswordHasher", "PBKDF2SHA1PasswordHasher", "Argon2PasswordHasher"}
    | {"BCryptSHA256PasswordHasher", "BCryptPasswordHasher", "ScryptPasswordHasher"}
)


def _digest_names(node: ast.Call, function: ast.AST, ctx: PythonContext) -> set[str]:
    """The locals that hold the hash's output (``digest = sha512(pw).digest()``, the hash object
    ``.update()`` is called on), and every local computed from them in the function."""
    names: set[str] = set()
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        names.add(node.func.value.id)  # ``h.update(password)``: ``h`` holds the digest
    current: ast.AST | None = node
    while current is not None and not isinstance(current, ast.stmt):
        current = ctx.parent(current)
    if isinstance(current, ast.Assign):
        names.update(t.id for t in current.targets if isinstance(t, ast.Name))
    grown = True
    while grown:
        grown = False
        for statement in ast.walk(function):
            if isinstance(statement, ast.Assign) and _reads(statement.value, names):
                for target in statement.targets:
                    if isinstance(target, ast.Name) and target.id not in names:
                        names.add(target.id)
                        grown = True
    return names


def _reads(expr: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(expr))


def _derives_key(call: ast.Call, ctx: PythonContext, methods: dict[str, ast.AST]) -> bool:
    """``call`` runs a KDF: a known one, ``super().encode(...)`` in a PBKDF2/Argon2/bcrypt
    Django hasher, or a method of the same class that does either."""
    if ctx.qualname(call.func) in _KDF_CALLS:
        return True
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Call) and getattr(receiver.func, "id", None) == "super":
        scope = ctx.function
        bases = scope.class_info.bases if scope is not None and scope.class_info else ()
        return any(base.rsplit(".", 1)[-1] in _KDF_HASHERS for base in bases)
    helper = methods.pop(func.attr, None) if isinstance(receiver, ast.Name) else None
    return helper is not None and any(
        isinstance(inner, ast.Call) and _derives_key(inner, ctx, methods)
        for inner in ast.walk(helper)
    )


def _pre_hash(node: ast.Call, ctx: PythonContext) -> bool:
    """The digest is fed into a key-derivation function in the same function (directly, or
    through a method of its class): it pre-hashes the KDF's input, it is not stored as is."""
    scope = ctx.function
    if scope is None:
        return False
    function = scope.node
    digests = _digest_names(node, function, ctx)
    methods: dict[str, ast.AST] = {}
    if scope.class_info is not None:
        methods = {
            member.name: member
            for member in scope.class_info.node.body
            if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and member is not function
        }
    for call in ast.walk(function):
        if not isinstance(call, ast.Call) or call is node:
            continue
        inputs = [*call.args, *(k.value for k in call.keywords)]
        fed = any(_reads(arg, digests) or any(n is node for n in ast.walk(arg)) for arg in inputs)
        if fed and _derives_key(call, ctx, dict(methods)):
            return True
    return False


@python_rule(
    code="SEC003",
    name="weak-password-hash",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Password hashed with a fast general-purpose hash (md5/sha1/sha256) instead of a KDF",
    calls=(
        *(f"hashlib.{name}" for name in _HASH_CONSTRUCTORS),
        *(f"hashlib.{name}.update" for name in _HASH_CONSTRUCTORS),
    ),
    cwe=916,
    fix="Use a password hashing function: argon2-cffi, bcrypt, or hashlib.scrypt/pbkdf2_hmac.",
)
def weak_password_hash(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `hashlib.md5/sha1/sha256/sha512/blake2b/new(...)` (and `.update()` on such a hash)
    applied to a password -- the hashed expression reads a `password`/`passwd`/`pwd` value, or
    the call sits in a function such as `hash_password`/`verify_password`. Hashing checksums,
    cache keys, ETags or random tokens is not reported, nor is `usedforsecurity=False`. A
    digest fed into a key-derivation function in the same function (`pbkdf2_hmac`, `scrypt`,
    `bcrypt.hashpw`, Django's `pbkdf2`, `super().encode()` of a PBKDF2/Argon2/bcrypt hasher,
    or a method of the class that calls one) pre-hashes the KDF's input and is not reported.

    ## Why it breaks production
    General-purpose hashes are built to be fast: a single GPU tries billions of SHA-256 or MD5
    guesses per second, so when the user table leaks (SQL injection, a backup, a replica
    snapshot) most passwords are recovered within hours -- and reused on your users' email and
    bank accounts. Unsalted hashes also fall to precomputed tables instantly.

    ## Example
    ```python
    def hash_password(password: str) -> str:
        return hashlib.sha256(password.encode()).hexdigest()
    ```

    ## Use instead
    ```python
    from argon2 import PasswordHasher

    _hasher = PasswordHasher()

    def hash_password(password: str) -> str:
        return _hasher.hash(password)
    ```
    (or `bcrypt.hashpw`, Django's `make_password`, `passlib`'s `CryptContext`).
    """
    if ctx.facts.is_test:
        return
    name = ctx.call_name or ""
    if is_false(keyword_value(node, "usedforsecurity")):
        return
    is_update = name.endswith(".update")
    position = 1 if name == "hashlib.new" else 0
    data = argument(node, 0 if is_update else position, "string" if not is_update else None)
    data = data or keyword_value(node, "data")
    if data is None or is_literal(data):
        return
    scope = ctx.function
    if (
        scope is not None
        and scope.class_info is not None
        and any(base.rsplit(".", 1)[-1] == "BasePasswordHasher" for base in scope.class_info.bases)
    ):
        return  # a pluggable (legacy) Django hasher, chosen by PASSWORD_HASHERS
    function = scope.name if scope is not None else ""
    if set(name_words(function)) & _BREACH_CHECK_WORDS:
        return  # k-anonymity lookups (Have I Been Pwned) send a SHA-1 prefix by design
    if not _mentions_password(data) and (
        not _password_function(function) or _unrelated_to_password(data)
    ):
        return
    if _protocol_digest(data):
        return  # HTTP Digest / WSSE: the protocol fixes the hash of password + nonce/realm
    if _pre_hash(node, ctx):
        return  # the digest is the input of a KDF (pbkdf2, bcrypt, scrypt), not what is stored
    algorithm = name.split(".")[1] if name.count(".") >= 1 else "a fast hash"
    if algorithm == "new":
        algorithm = constant_str(argument(node, 0, "name")) or "hashlib.new"
    ctx.report(
        node,
        f"password hashed with {algorithm}: a fast hash lets a leaked user table be "
        "brute-forced at billions of guesses per second. Use a password KDF (argon2-cffi, "
        "bcrypt, hashlib.scrypt, or pbkdf2_hmac with >= 600k iterations)",
    )


# -- SEC019 ------------------------------------------------------------------------------------

_WEAK_PASSLIB_SCHEMES = frozenset(
    {"md5_crypt", "des_crypt", "bsdi_crypt", "bigcrypt", "crypt16", "apr_md5_crypt"}
    | {"sun_md5_crypt", "ldap_md5", "ldap_salted_md5", "ldap_sha1", "ldap_salted_sha1"}
    | {"ldap_plaintext", "ldap_hex_md5", "ldap_hex_sha1", "ldap_des_crypt", "ldap_md5_crypt"}
    | {"plaintext", "hex_md5", "hex_sha1", "hex_sha256", "hex_sha512", "mysql323", "mysql41"}
    | {"postgres_md5", "oracle10", "oracle11", "lmhash", "nthash", "msdcc", "msdcc2"}
    | {"cisco_pix", "cisco_asa", "cisco_type7", "htdigest", "roundup_plaintext"}
    | {"django_salted_md5", "django_salted_sha1", "django_des_crypt", "django_disabled"}
)
_WEAK_DJANGO_HASHERS = (
    "MD5PasswordHasher",
    "SHA1PasswordHasher",
    "UnsaltedMD5PasswordHasher",
    "UnsaltedSHA1PasswordHasher",
    "CryptPasswordHasher",
)
_MIN_BCRYPT_ROUNDS = 10
_MIN_PBKDF2_ITERATIONS = 100_000
_PBKDF2_CALLS = (
    "hashlib.pbkdf2_hmac",
    "cryptography.hazmat.primitives.kdf.pbkdf2.PBKDF2HMAC",
)


def _int_value(expr: ast.expr | None, ctx: PythonContext) -> int | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
        left, right = _int_value(expr.left, ctx), _int_value(expr.right, ctx)
        return left * right if left is not None and right is not None else None
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return expr.value
    return None


def _strings(expr: ast.expr | None, ctx: PythonContext) -> list[str] | None:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id) or _module_value(expr.id, ctx)
    if isinstance(expr, ast.List | ast.Tuple):
        texts = [constant_str(e) for e in expr.elts]
        return [t for t in texts if t is not None]
    text = constant_str(expr)
    return [text] if text is not None else None


@python_rule(
    code="SEC019",
    name="weak-password-scheme",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Password hashing configured with a broken scheme or too few rounds/iterations",
    calls=("passlib.context.CryptContext", "bcrypt.gensalt", *_PBKDF2_CALLS, "*.using"),
    nodes=(ast.Assign,),
    cwe=916,
    fix="Use argon2 or bcrypt (>= 12 rounds), or PBKDF2-SHA256 with >= 600000 iterations.",
)
def weak_password_scheme(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags password hashing set up with a scheme or cost that a stolen hash table does not
    survive: a passlib `CryptContext(schemes=[...])` whose default scheme is broken
    (`md5_crypt`, `des_crypt`, `ldap_md5`, `hex_sha256`, `plaintext`...; legacy schemes listed
    after a strong default and marked `deprecated="auto"` are fine -- they are upgraded on
    login), `bcrypt.gensalt(rounds=...)` below 10, `hashlib.pbkdf2_hmac`/`PBKDF2HMAC` or
    passlib `.using(rounds=...)` with fewer than 100,000 iterations (PBKDF2 over a value
    named as a generated secret -- `instance_secret`, `master_key` -- is key derivation and
    not reported; over a value not named as a password either, it is low, confidence low),
    and a Django
    `PASSWORD_HASHERS` whose first (default) hasher is MD5, SHA1, unsalted or crypt in a
    settings module (test and local settings, which use fast hashers on purpose, are not
    reported).

    ## Why it breaks production
    When the user table leaks, the hash scheme is all that stands between the attacker and
    your users' passwords -- which they reuse for e-mail and banking. MD5-crypt, DES-crypt and
    unsalted hashes fall to commodity GPUs in hours; a few thousand PBKDF2 iterations or
    bcrypt cost 4 are millions of guesses per second.

    ## Example
    ```python
    pwd_context = CryptContext(schemes=["md5_crypt"])
    salt = bcrypt.gensalt(rounds=4)
    key = hashlib.pbkdf2_hmac("sha256", password, salt, 1000)
    ```

    ## Use instead
    ```python
    pwd_context = CryptContext(schemes=["argon2", "md5_crypt"], deprecated="auto")
    salt = bcrypt.gensalt()  # 12 rounds
    key = hashlib.pbkdf2_hmac("sha256", password, salt, 600_000)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Assign):
        _django_hashers(node, ctx)
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name == "passlib.context.CryptContext":
        _crypt_context(node, ctx)
    elif name == "bcrypt.gensalt":
        rounds = _int_value(argument(node, 0, "rounds"), ctx)
        if rounds is not None and rounds < _MIN_BCRYPT_ROUNDS:
            ctx.report(
                node,
                f"bcrypt.gensalt(rounds={rounds}): cost {rounds} is {2 ** (12 - rounds)}x "
                "cheaper to brute-force than the default 12. Use bcrypt.gensalt() (12) or more",
            )
    elif name in _PBKDF2_CALLS:
        iterations = _int_value(argument(node, 3, "iterations"), ctx)
        if iterations is not None and iterations < _MIN_PBKDF2_ITERATIONS:
            _report_pbkdf2(node, iterations, ctx)
    elif isinstance(node.func, ast.Attribute) and node.func.attr == "using":
        _passlib_using(node, ctx)


# Words naming a generated, machine-held secret (``instance_secret``, ``master_key``): PBKDF2
# over one derives a key from material nobody guesses, it stores no password.
_MACHINE_SECRET_WORDS = frozenset({"secret", "key", "seed", "entropy", "token"})


def _pbkdf2_inputs(node: ast.Call, ctx: PythonContext) -> list[ast.expr]:
    """What PBKDF2 stretches: ``pbkdf2_hmac``'s second argument, or what the enclosing
    function hands to a ``PBKDF2HMAC``'s ``derive()``/``verify()``."""
    if ctx.call_name == "hashlib.pbkdf2_hmac":
        given = argument(node, 1, "password")
        return [given] if given is not None else []
    scope = ctx.function
    if scope is None:
        return []
    return [
        call.args[0]
        for call in ast.walk(scope.node)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in {"derive", "verify"}
        and call.args
    ]


def _machine_secret(expr: ast.AST) -> bool:
    return any(
        set(name_words(name)) & _MACHINE_SECRET_WORDS
        for node in ast.walk(expr)
        if isinstance(name := getattr(node, "id", getattr(node, "attr", None)), str)
    )


def _report_pbkdf2(node: ast.Call, iterations: int, ctx: PythonContext) -> None:
    """Evidence tier: the stretched input is a password (named so, or the function hashes or
    checks one): the rule's severity. It is a generated secret held by the service
    (``instance_secret``, ``master_key``): key derivation, nothing users chose is guessed from
    a leak -- not reported. Neither can be told: low, confidence low, saying so."""
    inputs = _pbkdf2_inputs(node, ctx)
    scope = ctx.function
    password = any(_mentions_password(given) for given in inputs) or (
        scope is not None and _password_function(scope.node.name)
    )
    if not password and inputs and all(_machine_secret(given) for given in inputs):
        return
    if password:
        ctx.report(
            node,
            f"PBKDF2 with {iterations:,} iterations: a leaked hash is brute-forced at "
            "millions of guesses per second. Use >= 600,000 iterations for SHA-256 "
            "(OWASP), or argon2/bcrypt",
        )
        return
    ctx.report(
        node,
        f"PBKDF2 with {iterations:,} iterations over a value not named as a password: "
        "whether users chose it (then a leaked hash is brute-forced at millions of guesses "
        "per second) or it is a generated secret (key derivation, where this matters little) "
        "could not be told. If it is a password, use >= 600,000 iterations for SHA-256 "
        "(OWASP), or argon2/bcrypt",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )


def _crypt_context(node: ast.Call, ctx: PythonContext) -> None:
    schemes = _strings(argument(node, 0, "schemes"), ctx)
    if not schemes:
        return
    default = constant_str(keyword_value(node, "default")) or schemes[0]
    if default not in _WEAK_PASSLIB_SCHEMES:
        return
    ctx.report(
        node,
        f'CryptContext hashes new passwords with "{default}", a scheme that falls to GPU '
        "cracking in hours once the user table leaks. Make argon2 or bcrypt the first scheme "
        'and keep old ones only for verification with deprecated="auto"',
    )


def _passlib_using(node: ast.Call, ctx: PythonContext) -> None:
    assert isinstance(node.func, ast.Attribute)
    receiver = ctx.qualname(node.func.value) or ""
    if not receiver.startswith("passlib.hash."):
        return
    scheme = receiver.rsplit(".", 1)[-1]
    rounds = _int_value(keyword_value(node, "rounds"), ctx)
    if rounds is None:
        return
    minimum = (
        _MIN_BCRYPT_ROUNDS
        if scheme.startswith("bcrypt")
        else _MIN_PBKDF2_ITERATIONS
        if scheme.startswith("pbkdf2")
        else None
    )
    if minimum is not None and rounds < minimum:
        ctx.report(
            node,
            f"{scheme}.using(rounds={rounds}) is far below the safe minimum ({minimum:,}): "
            "leaked hashes are brute-forced quickly. Keep passlib's default rounds or raise them",
        )


def _django_hashers(node: ast.Assign, ctx: PythonContext) -> None:
    if ctx.function is not None or ctx.classes:
        return
    if not any(isinstance(t, ast.Name) and t.id == "PASSWORD_HASHERS" for t in node.targets):
        return
    path = ctx.path.lower()
    if "settings" not in path and not path.endswith(("config.py", "conf.py")):
        return
    if _dev_settings_file(ctx.path):
        return
    hashers = _strings(node.value, ctx)
    if not hashers:
        return
    first = hashers[0].rsplit(".", 1)[-1]
    if first in _WEAK_DJANGO_HASHERS:
        ctx.report(
            node,
            f"PASSWORD_HASHERS starts with {first}: Django hashes every new and changed "
            "password with it, and a leaked user table is cracked in hours. Put "
            "Argon2PasswordHasher or PBKDF2PasswordHasher first",
        )
