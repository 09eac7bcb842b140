"""Configuration: a required credential that defaults to an empty string (CFG008)."""

from __future__ import annotations

import ast

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    ProjectFact,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    constant_str,
    deployed_env_fact,
    dotted,
    env_lookup,
    name_words,
    secret_name,
)
from prodready.rules.configuration._shared import _config_or_service_code, _dev_only_file

# -- CFG008 -----------------------------------------------------------------------------------

# Passwords may legitimately be empty (a database on trust/peer auth, an SMTP relay without
# login); Django itself refuses to start with an empty SECRET_KEY.
_MAY_BE_EMPTY_WORDS = frozenset({"password", "passwd", "pass", "pwd", "passphrase"})
_STARTUP_CHECKED = frozenset({"SECRET_KEY", "DJANGO_SECRET_KEY"})
_TESTS = (ast.If, ast.IfExp, ast.While, ast.Assert, ast.BoolOp, ast.Compare, ast.UnaryOp)


def _checked_fact(name: str) -> ProjectFact:
    return ProjectFact(
        f"CFG008:checked:{name.lower()}",
        "a module of the project tests this setting before using it (an optional integration)",
    )


def _required_credential(name: str | None) -> bool:
    if name is None or name.upper() in _STARTUP_CHECKED or not secret_name(name):
        return False
    return not _MAY_BE_EMPTY_WORDS.intersection(name_words(name))


def _tested_names(test: ast.AST) -> set[str]:
    """Names whose presence a condition tests: ``if not API_KEY``, ``if settings.api_key``,
    ``KEY and Client(KEY)``, ``config["TOKEN"] == ""``, ``getattr(settings, "KEY", None)`` --
    not names merely compared with another value (``if token != WEBHOOK_TOKEN`` uses it)."""
    if isinstance(test, ast.Name):
        return {test.id}
    if isinstance(test, ast.Attribute):
        return {test.attr}
    if isinstance(test, ast.Subscript):
        key = constant_str(test.slice)
        return {key} if key is not None else set()
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _tested_names(test.operand)
    if isinstance(test, ast.BoolOp):
        return set().union(*(_tested_names(value) for value in test.values))
    if isinstance(test, ast.Compare) and len(test.comparators) == 1:
        other = test.comparators[0]
        if isinstance(other, ast.Constant) and other.value in ("", None):
            return _tested_names(test.left)
        if isinstance(test.left, ast.Call) and dotted(test.left.func) == "len":
            return _tested_names(test.left)  # len(token) < 32: a length check
        return set()
    if isinstance(test, ast.Call) and test.args:
        callee = dotted(test.func)
        if callee in {"bool", "len"}:
            return _tested_names(test.args[0])
        if callee in {"getattr", "hasattr"} and len(test.args) > 1:
            key = constant_str(test.args[1])
            return {key} if key is not None else set()
    return set()


def _settings_behind(test: ast.AST, ctx: PythonContext) -> set[str]:
    """The settings a tested local or attribute holds: ``secret = settings.HOOK_SECRET; if
    not secret:`` tests ``HOOK_SECRET``; ``if not self.key:`` in a class whose ``__init__``
    stores its parameter ``key`` tests each setting this module constructs the class with
    (``Verifier(settings.HOOK_SECRET)``)."""
    if isinstance(test, ast.UnaryOp | ast.Call | ast.Compare | ast.BoolOp):
        inner = (
            [test.operand]
            if isinstance(test, ast.UnaryOp)
            else test.args[:1]
            if isinstance(test, ast.Call)
            else [test.left]
            if isinstance(test, ast.Compare)
            else test.values
        )
        return set().union(set(), *(_settings_behind(value, ctx) for value in inner))
    scope = ctx.function
    if isinstance(test, ast.Name) and scope is not None:
        value = scope.values.get(test.id)
        return {value.attr} if isinstance(value, ast.Attribute) else set()
    if (
        not isinstance(test, ast.Attribute)
        or not isinstance(test.value, ast.Name)
        or scope is None
        or scope.class_info is None
        or test.value.id != scope.self_name
    ):
        return set()
    return _constructed_with(scope.class_info.node, test.attr, ctx)


def _constructed_with(cls: ast.ClassDef, attribute: str, ctx: PythonContext) -> set[str]:
    init = next(
        (
            item
            for item in cls.body
            if isinstance(item, ast.FunctionDef) and item.name == "__init__"
        ),
        None,
    )
    if init is None:
        return set()
    params = [a.arg for a in [*init.args.posonlyargs, *init.args.args]][1:]
    stored = None
    for statement in init.body:
        if (
            isinstance(statement, ast.Assign | ast.AnnAssign)
            and isinstance(statement.value, ast.Name)
            and statement.value.id in params
            and any(
                isinstance(t, ast.Attribute) and t.attr == attribute
                for t in (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
            )
        ):
            stored = statement.value.id
    if stored is None:
        return set()
    position = params.index(stored)
    found: set[str] = set()
    for call in ctx.memo(_CALLS_BY_NAME).get(cls.name, ()):
        given = [k.value for k in call.keywords if k.arg == stored]
        given += call.args[position : position + 1]
        found.update(value.attr for value in given if isinstance(value, ast.Attribute))
    return found


def _calls_by_plain_name(ctx: PythonContext) -> dict[str, list[ast.Call]]:
    calls: dict[str, list[ast.Call]] = {}
    for node in ctx.nodes():  # ast.walk order, the list shared with the module's other walkers
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.setdefault(node.func.id, []).append(node)
    return calls


# Every ``self.attr`` test in a class asks who constructs the class (``Verifier(...)``, a plain
# name): one pass over the module answers them all (a walk per test was a tenth of a Django
# scan).
_CALLS_BY_NAME: ModuleMemo[dict[str, list[ast.Call]]] = ModuleMemo(
    "CFG008:calls", _calls_by_plain_name
)


def _condition(node: ast.AST) -> ast.AST:
    if isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
        return node.test
    return node  # ``KEY and Client(KEY)``, ``KEY != ""``, ``not KEY``


@python_rule(
    code="CFG008",
    name="required-secret-empty-default",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="API key or token read from the environment with an empty-string default",
    nodes=(*_TESTS, ast.AnnAssign),
    calls=("os.getenv", "os.environ.get", "decouple.*", "environ.Env", "environ.Env.*"),
    fix='Require it: PAYMENTS_KEY = os.environ["PAYMENTS_KEY"] (fails at startup when missing).',
)
def required_secret_empty_default(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags API keys, tokens and client secrets read from the environment with an empty string
    as the default -- `os.getenv("PAYMENTS_KEY", "")`, `os.environ.get(...)`, python-decouple
    `config("API_KEY", default="")`, django-environ `env("TOKEN", default="")`, a pydantic
    `BaseSettings` field `api_key: str = ""` -- when no module of the project tests the value
    before using it (`if not settings.API_KEY: raise ...`, `if API_KEY:` around an optional
    integration). Passwords (which may be empty for trust authentication) and Django's
    `SECRET_KEY` (Django refuses to start without one) are left out, and so is a variable
    the deployment configuration kept in the scanned tree sets to a value -- a Terraform
    module, a Kubernetes manifest, a compose file not named for development, `render.yaml`,
    `app.json`, `fly.toml` (a pydantic field is looked up with its class's `env_prefix`): the
    empty default then only keeps a development checkout runnable.

    ## Why it breaks production
    A missing secret should stop the deployment. With an empty default the service starts,
    passes its health checks and takes traffic; every call to the provider then fails with
    401 -- charges, signatures or messages silently not happening -- and the cause is found
    in the logs hours later instead of in the rollout.

    ## Example
    ```python
    ESIGN_API_KEY = os.environ.get("ESIGN_API_KEY", "")

    def send_envelope(doc):
        return httpx.post(URL, headers={"Authorization": f"Bearer {ESIGN_API_KEY}"}, json=doc)
    ```

    ## Use instead
    ```python
    ESIGN_API_KEY = os.environ["ESIGN_API_KEY"]  # KeyError at startup when missing

    class Settings(BaseSettings):
        esign_api_key: SecretStr  # required: validation fails when unset
    ```
    """
    if ctx.facts.is_test or _dev_only_file(ctx):
        return
    if isinstance(node, _TESTS):
        for name in _tested_names(_condition(node)) | _settings_behind(_condition(node), ctx):
            if secret_name(name):
                ctx.establish(_checked_fact(name))
        return
    if not _config_or_service_code(ctx):
        return
    if isinstance(node, ast.AnnAssign):
        _settings_field(node, ctx)
        return
    assert isinstance(node, ast.Call)
    lookup = env_lookup(node, ctx)
    if lookup is None or constant_str(lookup.default) != "":
        return
    if not _required_credential(lookup.name):
        return
    target = _assigned_name(node, ctx)
    names = {lookup.name or "", target or ""} - {""}
    ctx.report(
        node,
        f"{lookup.name} defaults to an empty string: when it is missing the service starts "
        "anyway and every call that needs it fails at runtime (401s, silently skipped work). "
        "Require it so the deployment fails at startup",
        unless=[_checked_fact(name) for name in sorted(names)]
        + ([deployed_env_fact(lookup.name)] if lookup.name else []),
    )


def _assigned_name(node: ast.Call, ctx: PythonContext) -> str | None:
    parent = ctx.parent(node)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        return dotted(parent.targets[0])
    if isinstance(parent, ast.AnnAssign):
        return dotted(parent.target)
    if isinstance(parent, ast.keyword):
        return parent.arg
    return None


def _settings_field(node: ast.AnnAssign, ctx: PythonContext) -> None:
    """``api_key: str = ""`` in a pydantic ``BaseSettings`` class."""
    if ctx.function is not None or not ctx.classes or constant_str(node.value) != "":
        return
    if not any(base.endswith("BaseSettings") for base in ctx.classes[-1].bases):
        return
    if not isinstance(node.target, ast.Name) or not _required_credential(node.target.id):
        return
    name = node.target.id
    ctx.report(
        node,
        f"{name} defaults to an empty string: when it is missing the service starts anyway "
        "and every call that needs it fails at runtime (401s, silently skipped work). Declare "
        "it without a default so settings validation fails at startup",
        unless=[_checked_fact(name), deployed_env_fact(_env_prefix(ctx.classes[-1].node) + name)],
    )


def _env_prefix(cls: ast.ClassDef) -> str:
    """The ``env_prefix`` a pydantic settings class gives its fields' variable names:
    ``model_config = SettingsConfigDict(env_prefix="shop_")`` or, in pydantic 1, an inner
    ``class Config: env_prefix = "shop_"``."""
    for statement in cls.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Config":
            for item in statement.body:
                if (
                    isinstance(item, ast.Assign)
                    and any(dotted(t) == "env_prefix" for t in item.targets)
                    and (prefix := constant_str(item.value)) is not None
                ):
                    return prefix
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call):
            for keyword in value.keywords:
                if keyword.arg == "env_prefix" and (prefix := constant_str(keyword.value)):
                    return prefix
    return ""
