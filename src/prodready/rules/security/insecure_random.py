"""Security: non-cryptographic randomness for secrets (SEC013)."""

from __future__ import annotations

import ast
import itertools
from typing import Any

from prodready.plugin import Category, ModuleMemo, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str, dotted, name_words
from prodready.rules.security._shared import _contains, _imports, _target_name

# -- SEC013 ------------------------------------------------------------------------------------

_INSECURE_RANDOM = (
    "random.random",
    "random.randint",
    "random.choice",
    "random.choices",
    "random.getrandbits",
    "random.sample",
    "random.randrange",
    "random.randbytes",
    "uuid.uuid1",
)
_SECRET_NOUNS = frozenset(
    {"token", "password", "passwd", "otp", "nonce", "salt", "secret", "passcode", "csrf"}
    | {"apikey", "totp", "hotp", "passphrase"}
)
_SECRET_PAIRS = frozenset(
    {("session", "id"), ("session", "key"), ("reset", "code"), ("verification", "code")}
    | {("verify", "code"), ("confirm", "code"), ("confirmation", "code"), ("auth", "code")}
    | {("api", "key"), ("secret", "key"), ("access", "key"), ("invite", "code")}
    | {("activation", "code"), ("activation", "key"), ("mfa", "code"), ("login", "code")}
    | {("one", "time"), ("magic", "link"), ("signing", "key"), ("encryption", "key")}
    | {("security", "code"), ("sms", "code"), ("email", "code"), ("recovery", "code")}
    | {("pin", "code"), ("pin", "number")}
)
_NOT_SECRET_TAILS = frozenset(
    {"index", "idx", "count", "length", "len", "size", "type", "kind", "delay", "jitter"}
    | {"sleep", "wait", "timeout", "interval", "ttl", "expiry", "expires", "position", "pos"}
    | {"offset", "weight", "prob", "probability", "rate", "ratio", "limit", "max", "min"}
    | {"tries", "attempts", "retries", "name", "field", "url", "header", "path", "list", "pool"}
    | {"chars", "alphabet", "charset", "characters", "digits", "letters", "cost", "usage"}
    | {"budget", "bucket", "provider", "model", "estimate", "estimator", "counter"}
)


def secret_purpose(name: str) -> bool:
    """A name that says its value must be unguessable: ``token``, ``reset_code``, ``otp``,
    ``session_id``, ``api_key``, ``generate_password``, ``salt``... (not ``token_count``)."""
    words = name_words(name)
    if not words or words[-1] in _NOT_SECRET_TAILS:
        return False
    if _SECRET_NOUNS.intersection(words):
        return True
    pairs = set(itertools.pairwise(words))
    return bool(pairs & _SECRET_PAIRS) or "sid" in words or words == ["pin"]


def _imports_random(ctx: PythonContext) -> bool:
    return _imports(ctx, ("random", "uuid"))


@python_rule(
    code="SEC013",
    name="insecure-random-for-secret",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    summary="Token, password, OTP or salt generated with the non-cryptographic random module",
    calls=_INSECURE_RANDOM,
    nodes=(ast.Assign, ast.AnnAssign, ast.Dict, ast.keyword),
    cwe=330,
    fix="Use the secrets module: secrets.token_urlsafe(32), secrets.choice(), secrets.randbelow().",
)
def insecure_random_for_secret(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `random.random/randint/choice/choices/getrandbits/sample/randrange` and `uuid.uuid1`
    when the value is a secret: it is assigned to a name such as `token`, `reset_code`, `otp`,
    `salt`, `session_id` or `api_key`, stored under such a key (`{"token": ...}`,
    `User(reset_token=...)`), or produced inside a function such as `generate_token` or
    `make_password`. Random sampling, shuffling, jitter and `random.seed` are not reported.

    ## Why it breaks production
    `random` is a Mersenne Twister: after observing about 600 outputs (or a few tokens) an
    attacker can compute every past and future value, and `uuid1` is a timestamp plus the
    host's MAC address. Password-reset links, one-time codes and session ids generated this way
    can be predicted -- account takeover without guessing.

    ## Example
    ```python
    def create_reset_token(user: User) -> str:
        token = "".join(random.choices(string.ascii_letters + string.digits, k=32))
        user.reset_token = token
        return token
    ```

    ## Use instead
    ```python
    def create_reset_token(user: User) -> str:
        token = secrets.token_urlsafe(32)
        user.reset_token = token
        return token
    ```
    """
    if ctx.facts.is_test or not _imports_random(ctx):
        return
    state: dict[str, list[Any]] = ctx.rule_state(lambda: {"pending": [], "spans": []})
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            label = constant_str(key)
            if label is not None and secret_purpose(label):
                state["spans"].append((value, label))
        return
    if isinstance(node, ast.keyword):
        if node.arg is not None and secret_purpose(node.arg):
            state["spans"].append((node.value, node.arg))
        return
    if isinstance(node, ast.Assign | ast.AnnAssign):
        pending = state["pending"]
        if not pending or node.value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n for n in (_target_name(t) for t in targets) if n is not None]
        for call in [c for c in pending if _contains(node.value, c)]:
            pending.remove(call)
            label = next((n for n in names if secret_purpose(n)), None)
            if label is not None and not _bare_numeric_token(label, call):
                _report_random(call, label, ctx)
        return
    assert isinstance(node, ast.Call)
    if not _generates_characters(node, ctx) or _secrets_fallback(node, ctx):
        return
    scope = ctx.function
    if scope is not None and secret_purpose(scope.name):
        _report_random(node, scope.name, ctx)
        return
    for span, label in state["spans"]:
        if _contains(span, node):
            _report_random(node, label, ctx)
            return
    state["pending"].append(node)


_PICKERS = frozenset({"choice", "choices", "sample"})


def _secrets_fallback(call: ast.Call, ctx: PythonContext) -> bool:
    """``try: from secrets import randbits / except ImportError: from random import
    getrandbits as randbits``: the name is the secure one wherever ``secrets`` exists."""
    if not isinstance(call.func, ast.Name):
        return False
    return call.func.id in ctx.memo(_SECRETS_NAMES)


def _names_from_secrets(ctx: PythonContext) -> frozenset[str]:
    """Names the module imports from ``secrets`` (also in ``try``/``if`` blocks)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(ctx.tree.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.ImportFrom) and statement.module == "secrets":
            names.update(alias.asname or alias.name for alias in statement.names)
        elif isinstance(statement, ast.Try | ast.If):
            pending.extend(statement.body)
            pending.extend(statement.orelse)
            if isinstance(statement, ast.Try):
                pending.extend(s for handler in statement.handlers for s in handler.body)
    return frozenset(names)


_SECRETS_NAMES: ModuleMemo[frozenset[str]] = ModuleMemo("SEC013:secrets", _names_from_secrets)


_CHARSET_HINTS = ("char", "alphabet", "letters", "digits", "symbols", "charset", "pool")


def _generates_characters(call: ast.Call, ctx: PythonContext) -> bool:
    """Numbers and bits are always material for secrets; ``choice``/``choices``/``sample``
    only when they pick from a character set (not an element of a list of candidates)."""
    func = call.func
    method = func.attr if isinstance(func, ast.Attribute) else (ctx.call_name or "").split(".")[-1]
    if method not in _PICKERS:
        return True
    population = argument(call, 0, "population") or argument(call, None, "seq")
    return population is not None and _charset(population, ctx, 0)


def _charset(expr: ast.expr, ctx: PythonContext, depth: int) -> bool:
    if depth > 4:
        return False
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _charset(expr.left, ctx, depth + 1) or _charset(expr.right, ctx, depth + 1)
    if isinstance(expr, ast.Attribute):
        return (ctx.qualname(expr) or "").startswith("string.") or any(
            hint in expr.attr.lower() for hint in _CHARSET_HINTS
        )
    if isinstance(expr, ast.List | ast.Tuple):
        return bool(expr.elts) and all(len(constant_str(e) or "..") == 1 for e in expr.elts)
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        if value is not None and value is not expr:
            return _charset(value, ctx, depth + 1)
        return any(hint in expr.id.lower() for hint in _CHARSET_HINTS)
    return False


def _bare_numeric_token(label: str, call: ast.Call) -> bool:
    """``token = random.randrange(n)`` alone names a MIME boundary or a lexer token as often as
    a credential: only a generated string of characters counts then."""
    func = call.func
    method = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
    return name_words(label) == ["token"] and method.rsplit(".", 1)[-1] not in _PICKERS


def _report_random(call: ast.Call, purpose: str, ctx: PythonContext) -> None:
    name = ctx.qualname(call.func) or "random"
    ctx.report(
        call,
        f"{name}() is not cryptographically secure and generates a secret here (`{purpose}`): "
        "its output can be predicted from a few observed values. Use secrets.token_urlsafe(), "
        "secrets.choice() or secrets.randbelow()",
    )
