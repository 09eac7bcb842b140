"""Security: a credential-named constant the project hashes with a password hasher is the
initial password of an account the application keeps in its own store (the first
administrator seeded when no user exists) -- not a credential for another system.

SEC002's failure mode is a secret shared with another system that cannot be rotated without a
deploy; a password hashed into the application's own user table is changed in the application
(the operator changes the seeded account's password). Each module states, as a project fact,
the constants it hands to a password hasher (``hash_password(settings._DEFAULT_PASSWORD)``,
``make_password(DEFAULT_ADMIN_PASSWORD)``); SEC002's finding on the constant names the fact
among its ``unless`` facts. Key-derivation functions (PBKDF2 of a passphrase into an
encryption key) are not password hashers: a constant passphrase there stays a finding.
"""

from __future__ import annotations

import ast

from prodready.plugin import ModuleMemo, ProjectFact, PythonContext
from prodready.plugin.analysis import name_words

# Password hashers by the name they are called by: a function or method whose name says it
# hashes a password (hash_password, get_password_hash, generate_password_hash), Django's
# make_password, bcrypt's hashpw.
_HASHER_NAMES = frozenset({"make_password", "hashpw"})
_PASSWORD_WORDS = frozenset({"password", "passwd", "pw", "pwd"})


def seeded_account_fact(name: str) -> ProjectFact:
    """The fact "the project hashes the constant ``name`` as an account's password"."""
    return ProjectFact(
        f"credential-hashed-for-storage:{name}",
        "a module of the project hands this constant to a password hasher: the initial "
        "password of an account the application keeps, changed in the application",
    )


def establish_seeded_accounts(ctx: PythonContext) -> None:
    """Record a fact for each constant this module hands to a password hasher."""
    for name in ctx.memo(_HASHED_CONSTANTS):
        ctx.establish(seeded_account_fact(name))


def _hashed_constants(ctx: PythonContext) -> frozenset[str]:
    source = ctx.source
    if "hash" not in source and "make_password" not in source:
        return frozenset()
    found: set[str] = set()
    for node in ctx.nodes():
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if not _password_hasher(callee):
            continue
        argument = node.args[0]
        if isinstance(argument, ast.Attribute):
            found.add(argument.attr)
        elif isinstance(argument, ast.Name):
            found.add(argument.id)
    return frozenset(found)


def _password_hasher(callee: str) -> bool:
    if callee in _HASHER_NAMES:
        return True
    words = set(name_words(callee))
    return "hash" in words and bool(words & _PASSWORD_WORDS)


_HASHED_CONSTANTS: ModuleMemo[frozenset[str]] = ModuleMemo(
    "SEC002:hashed-constants", _hashed_constants
)
