"""Security: broken digests (MD5, SHA-1, MD4, MD2) used where collisions matter (SEC025)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant_str,
    is_false,
    keyword_value,
    name_words,
    secret_name,
)
from prodready.rules.security.passwords import _mentions_password, _password_function

# -- SEC025 ------------------------------------------------------------------------------------

# Digest names hashlib.new() accepts for the broken algorithms (lower-cased).
_WEAK_NAMES = {"md5": "MD5", "md4": "MD4", "md2": "MD2", "sha1": "SHA-1", "sha": "SHA-1"}
_HASHLIB = {
    "hashlib.md5": "MD5",
    "hashlib.sha1": "SHA-1",
    "hashlib.md4": "MD4",
    "hashlib.sha": "SHA-1",
}
_LIBRARY_DIGESTS = {
    f"{package}.Hash.{module}.new": label
    for package in ("Crypto", "Cryptodome")
    for module, label in (("MD5", "MD5"), ("MD4", "MD4"), ("MD2", "MD2"), ("SHA", "SHA-1"))
} | {f"{package}.Hash.SHA1.new": "SHA-1" for package in ("Crypto", "Cryptodome")}
_CRYPTOGRAPHY_DIGESTS = {
    "cryptography.hazmat.primitives.hashes.MD5": "MD5",
    "cryptography.hazmat.primitives.hashes.SHA1": "SHA-1",
}
# Constructions in which SHA-1 is not the weak link: OAEP/MGF1 padding and HMAC need no
# collision resistance, and TOTP/HOTP (RFC 4226/6238) fix SHA-1 for interoperability.
_COLLISION_FREE_USERS = frozenset({"OAEP", "MGF1", "HMAC", "TOTP", "HOTP", "new", "hmac"})

# Words saying the digest is what a signature or a check vouches for: a second input with the
# same digest passes the same check. (Words saying only that a credential is hashed -- token,
# auth, secret -- do not: a digest of a credential used as a lookup key needs preimage
# resistance, which MD5 and SHA-1 still have.)
_SIGNING_WORDS = frozenset(
    {"sign", "signature", "signed", "signing", "signer", "verify", "verified", "verification"}
    | {"integrity", "tamper", "mac", "hmac", "authenticate", "authentication"}
)
# Words saying the digest only names, buckets or compares data: nobody gains by a collision.
_NAMING_WORDS = frozenset(
    {"cache", "etag", "checksum", "filename", "file", "path", "chunk", "bucket", "shard"}
    | {"color", "colour", "avatar", "gravatar", "dedup", "dedupe", "duplicate", "slug", "name"}
    | {"partition", "seed", "static", "asset", "lock", "fingerprint", "content", "md5sum"}
    | {"identicon", "changed", "version", "revision", "sum", "sums"}
)


def _algorithm(node: ast.Call, callee: str) -> str | None:
    if callee in _HASHLIB:
        return _HASHLIB[callee]
    if callee in _LIBRARY_DIGESTS:
        return _LIBRARY_DIGESTS[callee]
    if callee in _CRYPTOGRAPHY_DIGESTS:
        return _CRYPTOGRAPHY_DIGESTS[callee]
    if callee == "hashlib.new":
        name = constant_str(argument(node, 0, "name"))
        return _WEAK_NAMES.get(name.lower()) if name is not None else None
    return None


def _statement(node: ast.AST, ctx: PythonContext) -> ast.AST | None:
    current: ast.AST | None = node
    while current is not None and not isinstance(current, ast.stmt):
        current = ctx.parent(current)
    return current


def _words(names: list[str]) -> set[str]:
    words: set[str] = set()
    for name in names:
        words.update(word.lower() for word in name_words(name))
    return words


def _context_words(node: ast.Call, ctx: PythonContext) -> tuple[set[str], set[str]]:
    """Words of what the digest is for -- the enclosing function, the names it is assigned
    to, the calls and keywords it is handed to -- and words of the data hashed."""
    purpose: list[str] = []
    if ctx.function is not None:
        purpose.append(ctx.function.node.name)
    statement = _statement(node, ctx)
    if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Name):
                    purpose.append(part.id)
                elif isinstance(part, ast.Attribute):
                    purpose.append(part.attr)
                elif isinstance(part, ast.Subscript):
                    purpose.append(constant_str(part.slice) or "")
    # The calls the digest is handed to (``key.sign(data, padding, hashes.SHA1())``) and the
    # keywords it is passed as.
    parent = ctx.parent(node)
    while parent is not None and parent is not statement:
        if isinstance(parent, ast.keyword) and parent.arg:
            purpose.append(parent.arg)
        elif isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute):
            purpose.append(parent.func.attr)
        elif isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name):
            purpose.append(parent.func.id)
        parent = ctx.parent(parent)
    data: list[str] = []
    for value in [*node.args, *(k.value for k in node.keywords)]:
        for part in ast.walk(value):
            if isinstance(part, ast.Name):
                data.append(part.id)
            elif isinstance(part, ast.Attribute):
                data.append(part.attr)
    return _words(purpose), _words(data)


def _keys_the_digest(node: ast.Call) -> bool:
    """The hashed data mixes in a secret (``md5(SECRET + message)``): a home-made MAC, which
    MD5/SHA-1 length extension and collisions both forge."""
    for value in [*node.args, *(k.value for k in node.keywords)]:
        for part in ast.walk(value):
            name = part.id if isinstance(part, ast.Name) else getattr(part, "attr", None)
            if (
                isinstance(part, ast.Name | ast.Attribute)
                and isinstance(name, str)
                and (secret_name(name) or name_words(name)[-1:] == ["secret"])
            ):
                return True
    return False


def _inside_collision_free_use(node: ast.Call, ctx: PythonContext) -> str | None:
    """The digest object is handed to OAEP/MGF1 padding, an HMAC or a TOTP/HOTP generator."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.keyword):
        parent = ctx.parent(parent)
    if isinstance(parent, ast.Call):
        called = parent.func
        name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
        qualified = ctx.qualname(called) or ""
        if name in _COLLISION_FREE_USERS and (name != "new" or qualified == "hmac.new"):
            return "HMAC" if name in {"new", "hmac"} else name
    return None


@python_rule(
    code="SEC025",
    name="weak-hash-algorithm",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="MD5/SHA-1/MD4 digest used to sign, verify or protect data (collisions are cheap)",
    calls=(
        *_HASHLIB,
        "hashlib.new",
        *_LIBRARY_DIGESTS,
        *_CRYPTOGRAPHY_DIGESTS,
    ),
    confidence=Confidence.MEDIUM,
    cwe=328,
    fix="Use hashlib.sha256() (or HMAC-SHA256 for a keyed check); for a cache key or checksum "
    "that protects nothing, pass usedforsecurity=False.",
)
def weak_hash_algorithm(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags MD5, SHA-1, MD4 and MD2 digests: `hashlib.md5()/sha1()`, `hashlib.new("md5")`,
    pycryptodome/PyCrypto `Crypto.Hash.MD5.new()`, and cryptography's `hashes.MD5()/SHA1()`.
    The rule reads what the digest is for -- the function, the names it is stored under or
    handed to, the data hashed. Reported medium when a signature or check vouches for it: a
    cryptography/pycryptodome digest in a signing or verifying function or call
    (`key.sign(data, padding, hashes.SHA1())`), or a hashlib digest there that mixes in a
    secret (`md5(SECRET + message)`, a home-made MAC). A digest that only names or compares
    data (cache keys, ETags, file checksums, buckets) is reported low, confidence low, as is a
    digest whose purpose it cannot tell -- a hash of a token used as a lookup key needs only
    preimage resistance, which MD5 and SHA-1 keep; the message says which. Not reported:
    `usedforsecurity=False` (the code says it protects nothing), SHA-1 handed to OAEP/MGF1
    padding, HMAC or TOTP/HOTP (no collision resistance needed), passwords (SEC003 reports
    those), and test files.

    ## Why it breaks production
    MD5 collisions take seconds on a laptop and SHA-1 collisions are practical (SHAttered,
    2017): a token, signed URL, download check or "has this document changed" digest built on
    them can be forged -- two inputs with the same digest, one harmless and one not. On hosts
    running in FIPS mode (common in regulated deployments), `hashlib.md5()` without
    `usedforsecurity=False` raises `ValueError`, so the same code that works on a laptop fails
    in production.

    ## Example
    ```python
    def sign_download(path: str, expires: int) -> str:
        return hashlib.md5(f"{SECRET}{path}{expires}".encode()).hexdigest()
    ```

    ## Use instead
    ```python
    def sign_download(path: str, expires: int) -> str:
        message = f"{path}{expires}".encode()
        return hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    algorithm = _algorithm(node, callee)
    if algorithm is None:
        return
    if is_false(keyword_value(node, "usedforsecurity")):
        return
    hashed = [*node.args, *(k.value for k in node.keywords)]
    if any(_mentions_password(value) for value in hashed) or (
        ctx.function is not None and _password_function(ctx.function.node.name)
    ):
        return  # a password hashed with a fast digest: SEC003 reports it
    construction = _inside_collision_free_use(node, ctx)
    if construction is not None:
        return
    purpose, data = _context_words(node, ctx)
    signing = purpose & _SIGNING_WORDS
    library_object = not callee.startswith("hashlib.")
    if signing and (library_object or _keys_the_digest(node)):
        what = "a signature or check relies on" if library_object else "a secret is mixed into"
        ctx.report(
            node,
            f"{algorithm} digest that {what} ({', '.join(sorted(signing))}): collisions are "
            "cheap to compute, so a second input with the same digest passes the same check "
            "(and MD5/SHA-1 of secret+message is forged by length extension). Use SHA-256 "
            "(HMAC-SHA256 for a keyed check); FIPS-mode hosts also refuse this call",
        )
        return
    naming = (purpose & _NAMING_WORDS) or (data & _NAMING_WORDS if not signing else set())
    if naming and not signing:
        ctx.report(
            node,
            f"{algorithm} digest that looks like it only names or compares data "
            f"({', '.join(sorted(naming))}): nobody gains by a collision there, but FIPS-mode "
            "hosts refuse the call. Pass usedforsecurity=False to say so (or use SHA-256)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    ctx.report(
        node,
        f"{algorithm} digest whose purpose could not be told from its context: if a signature "
        "or check vouches for it and the input can be chosen, a collision forges it -- use "
        "SHA-256; if it only names data (a cache key, a checksum), pass usedforsecurity=False "
        "to say so",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
