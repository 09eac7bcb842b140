"""Security: secrets written to logs (SEC018)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, ProjectFact, PythonContext, Role, Severity, python_rule
from prodready.plugin.analysis import (
    constant_str,
    in_service_code,
    is_literal,
    log_call,
    module_value,
    name_words,
    runs_as,
    secret_name,
)
from prodready.rules.security._shared import _pieces

# -- SEC018 ------------------------------------------------------------------------------------

_LOG_METHOD_CALLS = tuple(
    f"*.{m}"
    for m in ("debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log")
)
_LOG_OPTIONS = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})
_TEXT_CONVERSIONS = frozenset({"str", "repr", "format", "decode", "encode", "strip"})
_HEADER_CONTAINERS = frozenset({"headers", "META", "cookies", "COOKIES"})

# Django model fields whose value the database or uuid4 generates: a row's identifier (a primary
# key, a public id), never a credential someone chose or was issued.
_IDENTIFIER_FIELDS = tuple(
    f"django.db.models.{field}"
    for field in (
        "UUIDField",
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
    )
)
# A name that says key, secret or password is a credential whatever its column type (a UUID
# handed out as an API key is still a key); only "token" is ambiguous between the two.
_CREDENTIAL_WORDS = re.compile(r"key|secret|pass|pwd|auth|cred|session|bearer", re.IGNORECASE)


def identifier_field(model: str, attribute: str) -> ProjectFact:
    """The fact "``model.attribute`` is a generated identifier column, not a credential"."""
    return ProjectFact(
        f"identifier-field:{model}.{attribute}",
        "a model of the project declares this attribute a UUID or integer column (a primary "
        "key or public id the database or uuid4 generates): an identifier, not a credential",
    )


def _record_identifier_field(node: ast.Call, ctx: PythonContext) -> None:
    """``class Checkout(Model): token = models.UUIDField(default=uuid4)``: the project's logged
    ``checkout.token`` is that identifier wherever it is logged."""
    if ctx.function is not None or not ctx.classes:
        return
    assignment = ctx.parent(node)
    if isinstance(assignment, ast.Assign) and len(assignment.targets) == 1:
        target: ast.expr = assignment.targets[0]
    elif isinstance(assignment, ast.AnnAssign):
        target = assignment.target
    else:
        return
    if (
        isinstance(target, ast.Name)
        and secret_name(target.id)
        and not _CREDENTIAL_WORDS.search(target.id)
    ):
        ctx.establish(identifier_field(ctx.classes[-1].node.name, target.id))


def _model_candidates(expr: ast.AST, ctx: PythonContext) -> list[ProjectFact]:
    """The identifier facts that would make a logged ``owner.attribute`` harmless: the model
    its owner is named after (``transaction_item.token`` -> ``TransactionItem.token``,
    ``checkout_info.checkout.token`` -> ``Checkout.token``), or ``self``'s own class."""
    while isinstance(expr, ast.FormattedValue) or (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id in {"str", "repr"}
        and len(expr.args) == 1
    ):
        expr = expr.value if isinstance(expr, ast.FormattedValue) else expr.args[0]
    if not isinstance(expr, ast.Attribute) or _CREDENTIAL_WORDS.search(expr.attr):
        return []
    owner = expr.value
    name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
    if not isinstance(name, str):
        return []
    models = set()
    if name in {"self", "cls"} and ctx.classes:
        models.add(ctx.classes[-1].node.name)
    else:
        models.add("".join(part.capitalize() for part in name.split("_") if part))
    return [identifier_field(model, expr.attr) for model in sorted(models)]


def _secret_reference(expr: ast.AST, ctx: PythonContext, depth: int = 0) -> str | None:
    """The credential a logged value shows in clear (``password``, ``self.api_key``,
    ``request.headers["Authorization"]``, ``os.getenv("API_TOKEN")``, the request headers
    as a whole); None for masked or derived values (``len(password)``, ``token[-4:]``)."""
    if depth > 3:
        return None
    if isinstance(expr, ast.FormattedValue):
        return _secret_reference(expr.value, ctx, depth + 1)
    if isinstance(expr, ast.Name):
        if secret_name(expr.id):
            return f"`{expr.id}`"
        return held_secret(expr.id, module_value(expr.id, ctx), ctx, depth)
    if isinstance(expr, ast.Attribute):
        if secret_name(expr.attr):
            return f"`{ctx.segment(expr) or expr.attr}`"
        if expr.attr in _HEADER_CONTAINERS and _is_request_value(expr.value, ctx):
            return f"the request headers `{ctx.segment(expr)}` (Authorization, Cookie)"
        return None
    if isinstance(expr, ast.Subscript):
        if isinstance(expr.slice, ast.Slice):
            return None  # ``token[-4:]``: a masked form
        key = constant_str(expr.slice)
        if key is not None and secret_name(key):
            return f"`{' '.join(ctx.segment(expr).split())[:60]}`"
        return None
    if isinstance(expr, ast.Call):
        func = expr.func
        last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if last in {"get", "getenv", "pop"} and expr.args:
            key = constant_str(expr.args[0])
            if key is not None and secret_name(key):
                return f"`{' '.join(ctx.segment(expr).split())[:60]}`"
            return None
        if last in _TEXT_CONVERSIONS or last == "dict":
            inner = func.value if isinstance(func, ast.Attribute) and last != "dict" else None
            target = inner if inner is not None else (expr.args[0] if expr.args else None)
            if isinstance(func, ast.Attribute) and last in {"format"}:
                return None
            return _secret_reference(target, ctx, depth + 1) if target is not None else None
    return None


def held_secret(name: str, value: ast.expr | None, ctx: PythonContext, depth: int) -> str | None:
    """A dict logged whole by its name shows every entry: ``HEADERS = {"Authorization":
    f"Bearer {API_KEY}"}``, ``payload = {"source": card_token, ...}``. The entry named like a
    credential, or holding one, whose value is not a fixed literal."""
    if not isinstance(value, ast.Dict):
        return None
    for key, item in zip(value.keys, value.values, strict=True):
        field = constant_str(key) if key is not None else None
        if field is not None and secret_name(field) and not is_literal(item):
            return f'`{name}` (its "{field}" entry)'
        inner = _secret_reference(item, ctx, depth + 1)
        if inner is not None:
            return f"`{name}` (holding {inner})"
    return None


# Keywords naming where a message is delivered: a device token passed there addresses a phone.
_RECIPIENT_KEYWORDS = frozenset({"to", "recipient", "recipients", "device_token"})


def _message_recipient(value: ast.expr, ctx: PythonContext) -> bool:
    """A ``token`` the enclosing function hands only to a message as its recipient
    (``PushMessage(to=token)``): a push-notification device token -- where a message goes,
    not a key to an account. A key or password is a credential wherever it goes."""
    scope = ctx.function
    if not isinstance(value, ast.Name) or scope is None or name_words(value.id)[-1] != "token":
        return False
    logged = {
        id(inner)
        for call in ast.walk(scope.node)
        if isinstance(call, ast.Call) and log_call(call, ctx) is not None
        for inner in ast.walk(call)
    }
    recipient = False
    for node in ast.walk(scope.node):
        if id(node) in logged:
            continue
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Name) and keyword.value.id == value.id:
                    if keyword.arg not in _RECIPIENT_KEYWORDS:
                        return False  # also handed on as something else (``auth=token``)
                    recipient = True
        elif isinstance(node, ast.Dict) and any(
            isinstance(item, ast.Name) and item.id == value.id for item in node.values
        ):
            return False  # ``{"Authorization": token}``
    return recipient


# Words of an exception class that says the value it was raised on was judged and refused (a bad
# or expired signature, an undecodable token, no row with that key) -- as opposed to a failure
# that says nothing about the value (a network error, a broad ``Exception``).
_REJECTION_WORDS = frozenset(
    {
        "signature",
        "invalid",
        "expired",
        "decode",
        "validation",
        "verification",
        "bad",
        "malformed",
        "mismatch",
        "unauthorized",
        "denied",
        "exist",
        "found",
        "result",
        "missing",
        "unknown",
    }
)


def _rejection_handler(handler: ast.ExceptHandler) -> bool:
    """``except (BadSignature, NoResultFound):``: every class caught names a refusal."""
    caught = handler.type
    types = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught else []
    names = [t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", "") for t in types]
    return bool(names) and all(
        _REJECTION_WORDS.intersection(w.lower() for w in name_words(name)) for name in names
    )


def _rejected_value(value: ast.expr, node: ast.Call, ctx: PythonContext) -> bool:
    """A ``token`` logged in the except branch of the try that handed it to a check, decoder
    or lookup (``validate_token(token)``) whose refusal the branch catches: the string just
    failed its check, so it opens nothing -- it is not a credential any more."""
    while isinstance(value, ast.FormattedValue):
        value = value.value
    if not isinstance(value, ast.Name):
        return False
    child: ast.AST = node
    parent = ctx.parent(node)
    while parent is not None and not isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
        if (
            isinstance(child, ast.ExceptHandler)
            and isinstance(parent, ast.Try | ast.TryStar)
            and _rejection_handler(child)
            and any(
                isinstance(call, ast.Call)
                and any(
                    isinstance(arg, ast.Name) and arg.id == value.id
                    for arg in [*call.args, *(k.value for k in call.keywords)]
                )
                for statement in parent.body
                for call in ast.walk(statement)
            )
        ):
            return True
        child, parent = parent, ctx.parent(parent)
    return False


def _is_request_value(expr: ast.AST, ctx: PythonContext) -> bool:
    qualified = ctx.qualname(expr) if isinstance(expr, ast.Name | ast.Attribute) else None
    if qualified in {"flask.request", "quart.request"}:
        return True
    return isinstance(expr, ast.Name) and expr.id in {"request", "req"}


def _logged_values(node: ast.Call, ctx: PythonContext, is_print: bool) -> list[ast.expr]:
    values: list[ast.expr] = []
    args = list(node.args)
    if not is_print and isinstance(node.func, ast.Attribute) and node.func.attr == "log":
        args = args[1:]  # the level
    for index, arg in enumerate(args):
        if isinstance(arg, ast.Starred):
            continue
        if index == 0 or is_print:
            values.extend(p for p in _pieces(arg, ctx, {}) if not isinstance(p, str))
        else:
            values.append(arg)  # ``%s`` arguments
    for keyword in node.keywords:
        if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
            for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                if (
                    key is not None
                    and secret_name(constant_str(key) or "")
                    and not (is_literal(value))
                ):
                    values.append(key)
                values.append(value)
        elif keyword.arg is not None and keyword.arg not in _LOG_OPTIONS and not is_print:
            values.append(keyword.value)  # structlog-style ``logger.info("login", token=t)``
    return values


@python_rule(
    code="SEC018",
    name="secret-in-log-message",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Password, token, API key or Authorization header written to the logs",
    calls=(*_LOG_METHOD_CALLS, "builtins.print", *_IDENTIFIER_FIELDS),
    cwe=532,
    fix="Do not log credentials; log whether one is set, or its last 4 characters.",
)
def secret_in_log_message(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags logging calls (`logger.info/debug/warning/error/exception`, `logging.*`,
    structlog) and `print()` in service code whose message interpolates a credential -- a
    value named `password`, `api_key`, `token`, `client_secret`, `SECRET_KEY`..., a
    `["password"]`/`.get("api_key")` lookup, `request.headers["Authorization"]` or the whole
    request headers -- through an f-string, `%`, `.format()`, `%s` arguments, `extra=` or
    keyword arguments; also a dict logged whole by its name whose literal holds such an entry
    (`HEADERS = {"Authorization": f"Bearer {API_KEY}"}`, `payload = {"source": card_token}`).
    Derived or masked values (`len(password)`, `token[-4:]`,
    `api_key is not None`, `"***"`) and names that are not credentials (`token_type`,
    `csrf_token`, `password_reset_url`) are fine.

    An attribute that a model of the project declares a generated identifier column --
    `token = models.UUIDField(default=uuid4)`, an auto or integer field -- is a primary key or
    public id, not a credential: `checkout.token` logged anywhere in the project is fine once a
    model named after its owner (`Checkout`) declares it so. Names that say key, secret or
    password stay credentials whatever their column type.

    A token logged in the except branch of the try that handed it to a check, decoder or
    lookup, where the caught exception names a refusal (`except BadSignature:`,
    `except (SignatureExpired, NoResultFound):`), has just been rejected: it opens nothing and
    is not reported. A broad or network exception says nothing about the token and still is.

    ## Why it breaks production
    Logs are shipped to aggregators and third-party services, kept for months, copied into
    tickets and readable by far more people than the credential's owners. A password or a
    bearer token in a log line is a credential leak that outlives the rotation of the
    database it came from, and it is often how incident reports start.

    ## Example
    ```python
    logger.info(f"login attempt user={username} password={password}")
    ```

    ## Use instead
    ```python
    logger.info("login attempt user=%s", username)
    ```
    """
    if ctx.facts.is_test or ctx.facts.is_example:
        return
    if ctx.call_name in _IDENTIFIER_FIELDS:
        _record_identifier_field(node, ctx)
        return
    is_print = ctx.call_name == "builtins.print"
    if is_print:
        if not in_service_code(ctx):
            return
    elif log_call(node, ctx) is None:
        return
    for value in _logged_values(node, ctx, is_print):
        if isinstance(value, ast.Constant):
            if isinstance(value.value, str) and secret_name(value.value):
                what: str | None = f'the "{value.value}" field'
            else:
                continue
            identifiers: list[ProjectFact] = []
        else:
            what = _secret_reference(value, ctx)
            identifiers = _model_candidates(value, ctx)
        if what is None or _message_recipient(value, ctx) or _rejected_value(value, node, ctx):
            continue
        sink = "print() writes" if is_print else "this log call writes"
        ctx.report(
            node,
            f"{sink} {what} to the logs: credentials there are shipped to aggregators, kept "
            "for months and readable by far more people than their owners (credential leak). "
            "Log that it is set, or a masked form (its last 4 characters), never the value",
            # A command-line program's print() is its output on the operator's terminal: moot
            # once the engine knows the file is a script (a console-script bootstrap).
            unless=[*identifiers, *((runs_as(Role.SCRIPT),) if is_print else ())],
        )
        return
