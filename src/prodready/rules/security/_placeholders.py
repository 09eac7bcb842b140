"""Security: credential-like literals the project itself declares to be placeholders.

A module declares a literal a placeholder when it compares a credential with it to tell "no key
set" apart (``api_key: str = "local"`` ... ``if api_key != "local": send_auth_header()``) or
when a comment beside a credential set to it calls it a dummy or a placeholder (``# static
dummy key, the SDK requires one``). A value is a placeholder wherever it is written: the same
literal handed to a credential elsewhere in the project -- ``os.getenv("LOCAL_API_KEY",
"local")``, ``Config(api_key="local")`` -- is that placeholder, not a secret. So the declaring
module establishes a project fact per value, and SEC002/CFG002 findings on the same value name
it as making them moot.

The fact's name carries a digest of the value, never the value: the cache and the report keep
no credential-like text.
"""

from __future__ import annotations

import ast
import hashlib
import re
from urllib.parse import urlsplit

from prodready.plugin import ModuleMemo, ProjectFact, PythonContext
from prodready.plugin.analysis import (
    constant_str,
    is_script,
    loopback_host,
    module_function,
    name_words,
    secret_name,
)
from prodready.rules.security._credential_use import login_keywords
from prodready.rules.security._shared import _target_name

_DUMMY_COMMENT = re.compile(r"#.*\b(?:dummy|placeholder|fake|not a real)\b", re.IGNORECASE)


def placeholder_fact(value: str) -> ProjectFact:
    """The fact "the project declares ``value`` a placeholder, not a credential"."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
    return ProjectFact(
        f"credential-placeholder:{digest}",
        "a module of the project compares a credential with this value to mean 'no key', or "
        "a comment beside it calls it a dummy: a placeholder wherever it is written",
    )


def marked_dummy(where: ast.AST, ctx: PythonContext) -> bool:
    """The author says so: a comment on the literal's line or the line above it calls the
    value a dummy or a placeholder (``# Static dummy key: the SDK requires one``)."""
    line = getattr(where, "lineno", 0)
    lines = ctx.lines
    return any(
        0 < number <= len(lines) and _DUMMY_COMMENT.search(lines[number - 1]) is not None
        for number in (line - 1, line)
    )


def compared_sentinels(ctx: PythonContext) -> frozenset[str]:
    """Literals the module both gives a credential name as its value and compares a
    credential with (``api_key: str = "ollama"`` ... ``if config.api_key != "ollama":
    send_auth_header()``): a marker for "no key set", not a key (once per module)."""
    return ctx.memo(_SENTINELS)


def _compared_sentinels(ctx: PythonContext) -> frozenset[str]:
    if not ctx.memo(_MAY_NAME_CREDENTIAL):
        return frozenset()  # no credential name anywhere: nothing to compare or assign
    compared: set[str] = set()
    givers: list[ast.AST] = []
    for node in ctx.nodes():  # the shared ``ast.walk`` list of the module
        cls = node.__class__
        if cls is not ast.Compare and cls not in _GIVER_TYPES:
            continue  # most nodes: one test each
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            sides = (node.left, node.comparators[0])
            for side, other in (sides, sides[::-1]):
                name = _target_name(other)
                literal = constant_str(side)
                if literal and name and secret_name(name):
                    compared.add(literal)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.keyword):
            givers.append(node)
    if not compared:
        return frozenset()  # the usual case: the assignments need not be read
    assigned = [(literal, node) for node in givers for _, literal, _ in _credential_literals(node)]
    # ``connect(password="pw")`` uses a key, never "none": worked out only when a literal
    # given to a keyword is one the module compares a credential with.
    if any(isinstance(node, ast.keyword) and literal in compared for literal, node in assigned):
        used_to_log_in = login_keywords(ctx)
        assigned = [(literal, node) for literal, node in assigned if id(node) not in used_to_log_in]
    return frozenset(
        literal for literal, _ in assigned if literal in compared and _reads_as_words(literal)
    )


_GIVER_TYPES = frozenset({ast.Assign, ast.AnnAssign, ast.keyword})


def _reads_as_words(literal: str) -> bool:
    """A marker for "no key" is written to be read (``local``, ``nokey-local``, ``LDAP``); a
    digit among its letters (``s3cr3t``, ``k1osk-2024``) is how passwords and generated keys are
    written, so the module checks requests against its credential, it does not mark one absent."""
    return not any(ch.isdigit() for ch in literal)


# Text that every credential name (``engine.secrets.secret_name``) contains, as an identifier
# or a string key: a module without any has no sentinel and needs no walk.
_CREDENTIAL_WORDS = ("password", "passwd", "passphrase", "secret", "token", "authorization")
_KEY_PREFIXES = (
    *("api", "private", "access", "signing", "sign", "encryption", "encrypt", "client"),
    *("master", "auth", "app", "jwt", "hmac", "webhook", "license", "subscription", "service"),
    *("account", "fernet"),
)  # the end of the word run before ``key``: ``apiKey`` is one run, ``api`` and ``key`` words
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SHORT_PASSWORD = re.compile(r"pwd?(?![a-z0-9])")
_WORD_END = re.compile(r"(?:key|pass)(?![a-z0-9])")
_NOT_IN_A_NAME = re.compile(r"[:;]\s|[^\S \t]")  # ``else: pass``, ``x = 1; pass``, a newline


def _may_name_credential(source: str) -> bool:
    """Whether ``source`` may hold a credential name: one of its words, ``pw``/``pwd``, ``key``
    after a prefix word (``api_key``, ``apiKey``, ``X-Api-Key``) or ``pass`` after a word on
    its line (``db_pass``, ``dbPass``, "db pass") -- never ``pass`` the statement."""
    text = source.lower()
    if any(word in text for word in _CREDENTIAL_WORDS) or _SHORT_PASSWORD.search(text):
        return True
    for match in _WORD_END.finditer(text):
        end = start = match.start()
        while start > 0 and text[start - 1] not in _ALNUM and text[start - 1] != "\n":
            start -= 1
        if start == 0 or text[start - 1] not in _ALNUM:
            continue  # no word before it on its line
        if match.group().startswith("pass"):
            if _NOT_IN_A_NAME.search(text, start, end) is None:
                return True
            continue
        word_start = start
        while word_start > 0 and text[word_start - 1] in _ALNUM:
            word_start -= 1
        if text[word_start:start].endswith(_KEY_PREFIXES):
            return True
    return False


_MAY_NAME_CREDENTIAL: ModuleMemo[bool] = ModuleMemo(
    "SEC002:may-name-credential", lambda ctx: _may_name_credential(ctx.source)
)
_SENTINELS: ModuleMemo[frozenset[str]] = ModuleMemo("SEC002:sentinels", _compared_sentinels)


def _credential_literals(node: ast.AST) -> list[tuple[str, str, ast.AST]]:
    """(name, literal, where) for a string literal given to a credential name by ``node``: an
    assignment, an annotated assignment or a keyword argument."""
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        literal = constant_str(node.value)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [name for t in targets if (name := _target_name(t)) and secret_name(name)]
        return [(names[0], literal, node)] if literal and names else []
    if isinstance(node, ast.keyword) and node.arg and secret_name(node.arg):
        literal = constant_str(node.value)
        return [(node.arg, literal, node.value)] if literal else []
    return []


def declared_placeholders(ctx: PythonContext) -> frozenset[str]:
    """The literals this module declares placeholders: its compared sentinels and the
    credential values a comment beside them calls a dummy (once per module)."""
    return ctx.memo(_DECLARED)


def _declared_placeholders(ctx: PythonContext) -> frozenset[str]:
    found = set(compared_sentinels(ctx))
    if ctx.memo(_MAY_NAME_CREDENTIAL) and _DUMMY_COMMENT.search(ctx.source):
        for node in ctx.nodes():
            for _, literal, where in _credential_literals(node):
                if marked_dummy(where, ctx):
                    found.add(literal)
    return frozenset(found)


_DECLARED: ModuleMemo[frozenset[str]] = ModuleMemo("SEC002:declared", _declared_placeholders)


def establish_placeholders(ctx: PythonContext) -> None:
    """Record a fact for each value this module declares a placeholder (see the module)."""
    for value in declared_placeholders(ctx):
        ctx.establish(placeholder_fact(value))


# Words naming sample data: a parameter (``sample=``, ``preview_func``) or function
# (``get_sample_context``) that takes or builds data for previews, documentation or demos.
_SAMPLE_WORDS = frozenset({"sample", "samples", "example", "examples", "preview", "demo"})


def in_sample_argument(where: ast.AST, ctx: PythonContext) -> bool:
    """The literal is part of sample data: inside an argument whose parameter is named for
    samples (``Placeholder("url", render, lambda event: reverse(..., kwargs={"secret":
    "..."}))`` where the class of this module declares ``__init__(self, name, func,
    sample)``), or inside a function named for them (``def get_sample_context()``)."""
    function = ctx.function
    if function is not None and _SAMPLE_WORDS.intersection(name_words(function.node.name)):
        return True
    parents = ctx.parents()
    child: ast.AST = where
    parent = parents.get(id(where))
    while parent is not None and not isinstance(parent, _SCOPES):
        if isinstance(parent, ast.Call) and child is not parent.func:
            parameter = _parameter_of(parent, child, ctx)
            if parameter and _SAMPLE_WORDS.intersection(name_words(parameter)):
                return True
        child, parent = parent, parents.get(id(parent))
    return False


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


def _parameter_of(call: ast.Call, argument: ast.AST, ctx: PythonContext) -> str | None:
    """The name of the parameter ``argument`` of ``call`` binds: the keyword, or for a
    positional argument the parameter of the function or class of this module called."""
    if isinstance(argument, ast.keyword):
        return argument.arg
    if argument not in call.args or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    index = call.args.index(argument)
    parameters = _positional_parameters(call, ctx)
    return parameters[index] if index < len(parameters) else None


def _positional_parameters(call: ast.Call, ctx: PythonContext) -> list[str]:
    if not isinstance(call.func, ast.Name) or ctx.resolve_name(call.func.id) != call.func.id:
        return []
    classes = {node.name: node for node in ctx.tree.body if isinstance(node, ast.ClassDef)}
    target = classes.get(call.func.id)
    seen = 0
    while target is not None and seen < 5:  # a class: its own or an inherited ``__init__``
        seen += 1
        for statement in target.body:
            if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
                arguments = statement.args
                return [a.arg for a in (*arguments.posonlyargs, *arguments.args)][1:]
        bases = [base.id for base in target.bases if isinstance(base, ast.Name)]
        target = classes.get(bases[0]) if bases else None
    function = module_function(call, ctx)
    if function is None:
        return []
    return [a.arg for a in (*function.args.posonlyargs, *function.args.args)]


# Words by which a value calls itself data for tests, demos or seeding (``e2e_seed_checkout``).
_SAMPLE_VALUE_WORDS = frozenset(
    {"test", "testing", "e2e", "seed", "seeded", "sample", "demo", "fake", "dummy", "mock"}
    | {"example", "fixture"}
)


def development_value(
    literal: str, where: ast.AST, ctx: PythonContext, *, used: bool
) -> str | None:
    """Why a credential literal reads as development or test data rather than a deployment's
    credential (None: nothing says so) -- its own words call it test or seed data, unless the
    code logs in with it or checks a credential against it (``used``: then it is a weak
    credential, whatever it calls itself); or a script puts it beside a loopback endpoint
    (``{"issuer": "http://localhost:8080", "client_secret": ...}``: a local setup)."""
    words = _SAMPLE_VALUE_WORDS.intersection(name_words(literal))
    if words and not used:
        return f"calls itself test or sample data (`{sorted(words)[0]}`)"
    if is_script(ctx):
        host = next((host for host in _sibling_hosts(where, ctx) if loopback_host(host)), None)
        if host is not None:
            return f"sits beside a loopback endpoint (`{host}`) in a script"
    return None


def _sibling_hosts(where: ast.AST, ctx: PythonContext) -> list[str]:
    """The hosts named by the other string values of the dictionary or call that holds
    ``where`` (a key of a dictionary, a keyword or a default)."""
    holder = ctx.parents().get(id(where))
    if isinstance(where, ast.keyword) and isinstance(holder, ast.Call):
        values = [*holder.args, *(keyword.value for keyword in holder.keywords)]
    elif isinstance(holder, ast.Dict) and where in holder.keys:
        values = list(holder.values)
    else:
        return []
    hosts = []
    for value in values:
        text = constant_str(value)
        if not text or len(text) > 500:
            continue
        try:
            host = urlsplit(text).hostname if "://" in text else text.split(":")[0]
        except ValueError:
            continue
        if host:
            hosts.append(host.lower())
    return hosts


def names_member_beside(literal: str, where: ast.AST, ctx: PythonContext) -> bool:
    """The literal is the name of a class member written beside it -- in the same dictionary,
    call or ``or`` test (``{"password": "SAML", "login_method": LoginMethod.SAML}``, ``if
    account.password == "SAML" or account.login_method == LoginMethod.SAML``): a marker of how
    the account logs in, stored where a password would go, not a password."""
    if not literal.isidentifier():
        return False
    parents = ctx.parents()
    holder = parents.get(id(where))
    beside: list[ast.expr] = []
    if isinstance(holder, ast.Dict):
        beside = list(holder.values)
    elif isinstance(where, ast.keyword) and isinstance(holder, ast.Call):
        beside = [keyword.value for keyword in holder.keywords if keyword is not where]
    elif isinstance(where, ast.Compare) and isinstance(holder, ast.BoolOp):
        for operand in holder.values:
            if operand is not where and isinstance(operand, ast.Compare):
                beside.extend((operand.left, *operand.comparators))
    return any(
        isinstance(value, ast.Attribute)
        and value.attr == literal
        and isinstance(value.value, ast.Name | ast.Attribute)
        for value in beside
    )
