"""Security audit tier for literal credentials under a lone short name (SEC055).

SEC002 reports literal credentials under names that say so (``db_password``, ``API_KEY``) with
values that read like one. Code also keeps them under a bare abbreviation -- ``pwd``, ``_pass``,
``passWord``, a lone ``token`` -- where the name alone cannot prove it, and with values that do
not look random. Those are reported here at the audit tier, saying what could not be proven."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, secret_name
from prodready.rules.security.secrets import _secret_value

# A name that is nothing but a word for a credential, its abbreviation or its misspelling,
# compared with case, underscores and camel case folded away (``_pass``, ``PassWord``, ``PWD``).
# Not ``pw``: two letters name too many other things (Palau in a table of country codes).
_LONE_CREDENTIAL_NAMES = frozenset(
    {"pass", "pwd", "passwd", "password", "passwrd", "secrete", "token"}
)


def _lone_credential(name: str | None) -> bool:
    if not name:
        return False
    folded = name.replace("_", "").lower()
    if folded not in _LONE_CREDENTIAL_NAMES:
        return False
    return not secret_name(name) or folded == "token"


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Subscript):
        return constant_str(target.slice)
    return None


def _pairs(node: ast.AST) -> list[tuple[str | None, ast.expr | None]]:
    """(name, the value it is given or compared with) for each credential slot of ``node``."""
    if isinstance(node, ast.Assign):
        return [(_target_name(target), node.value) for target in node.targets]
    if isinstance(node, ast.AnnAssign):
        return [(_target_name(node.target), node.value)]
    if isinstance(node, ast.Compare) and all(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
        operands = [node.left, *node.comparators]
        names = [_target_name(o) for o in operands if not isinstance(o, ast.Constant)]
        literals = [o for o in operands if isinstance(o, ast.Constant)]
        return [(name, literal) for name in names for literal in literals]
    if isinstance(node, ast.Call):
        return [(k.arg, k.value) for k in node.keywords if k.arg is not None]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        with_defaults = positional[len(positional) - len(arguments.defaults) :]
        pairs: list[tuple[str | None, ast.expr | None]] = [
            (a.arg, d) for a, d in zip(with_defaults, arguments.defaults, strict=True)
        ]
        pairs += [
            (a.arg, d)
            for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            if d is not None
        ]
        return pairs
    if isinstance(node, ast.Dict):
        return [
            (constant_str(key), value)
            for key, value in zip(node.keys, node.values, strict=True)
            if key is not None
        ]
    return []


@python_rule(
    code="SEC055",
    name="literal-under-credential-abbreviation",
    category=Category.SECURITY,
    severity=Severity.LOW,
    confidence=Confidence.LOW,
    summary="A literal kept under a bare credential name (pwd, _pass, passWord, token)",
    nodes=(
        ast.Assign,
        ast.AnnAssign,
        ast.Compare,
        ast.Call,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.Dict,
    ),
    cwe=798,
    fix='Read it from the environment or a secret manager: pwd = os.environ["SMTP_PASSWORD"].',
)
def literal_under_credential_abbreviation(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Audit tier (low severity, low confidence). Flags a non-empty string literal assigned to,
    compared with, passed as or defaulted to a name that is nothing but a word for a
    credential or its abbreviation -- `pwd`, `pw`, `_pass`, `passWord`, a lone `token` -- as a
    variable, an attribute, a dictionary key or a keyword argument. The name alone does not
    prove the literal is a credential, and its value does not read like a random one, so the
    finding says so; literals under names that say what they are (`db_password`, `API_KEY`)
    are SEC002's. Test files are not reported.

    ## Why it breaks production
    If the literal is a credential, anyone with the source or an image built from it has it,
    every deployment shares it, and rotating it needs a release. A comparison with a literal
    (`if token == "..."`) is a fixed password for whoever reads the code.

    ## Example
    ```python
    def smtp_login(server: smtplib.SMTP) -> None:
        pwd = "mailer-2024"
        server.login("alerts", pwd)
    ```

    ## Use instead
    ```python
    def smtp_login(server: smtplib.SMTP) -> None:
        server.login("alerts", os.environ["SMTP_PASSWORD"])
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    for name, value in _pairs(node):
        literal = constant_str(value) if value is not None else None
        if not literal or not _lone_credential(name):
            continue
        assert name is not None and value is not None
        if literal.replace("_", "").lower() == name.replace("_", "").lower():
            continue  # ``TOKEN = "token"``: the name of a field or a key, not its value
        if " " in literal or "{{" in literal or "<" in literal:
            continue  # a sentence ("No token found") or markup: a message or a template
        if secret_name(name) and _secret_value(literal, name) is not None:
            continue  # a credential-looking value under a credential name: SEC002's
        verb = "is compared with" if isinstance(node, ast.Compare) else "is given"
        ctx.report(
            value if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Dict) else node,
            f"`{name}` {verb} a literal; the name reads like a credential but does not prove it "
            "and the value does not look random, so this is not proven to be one. If it is, "
            "anyone with the code has it and it cannot be rotated without a release: read it "
            "from the environment or a secret manager",
        )
        return
