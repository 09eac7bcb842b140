"""What a call or a definition is, for the summary collector (``collect``): the function being
walked, calls that move money and the row recording it, project methods named on receivers the
walk cannot type, Django ORM writes, transaction decorators and functions that refuse to run
outside a transaction. Split from ``collect``, which walks; these only classify."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from prodready.engine.analysis.arguments import keyword_value
from prodready.engine.analysis.literals import dotted, is_false
from prodready.engine.analysis.orm import DJANGO_WRITE_METHODS, django_query, uses_django_orm
from prodready.engine.python.module_context import PythonContext
from prodready.engine.python.scopes import FunctionNode, Scope

_SEQUENCE_HINTS = frozenset(
    {"List", "list", "Sequence", "Iterable", "Collection", "Tuple", "tuple", "Set", "set"}
)

MODEL_WRITES = frozenset({"save", "delete", "asave", "adelete"})
# The keywords Django's ``Model.delete()`` takes: a ``delete()`` given another one
# (``storage.delete(name=...)``, ``uploader.delete(filename=...)``) is some other object's.
_MODEL_DELETE_KEYWORDS = frozenset({"using", "keep_parents"})


@dataclass(slots=True)
class WalkedFunction:
    """A function being walked."""

    name: str  # qualified inside the module
    node: FunctionNode
    class_depth: int  # how many classes enclosed it when it started
    self_name: str | None
    owner: str  # qualified name of its class ("" for a function)
    flags: set[str] = field(default_factory=set)
    writes: list[tuple[ast.Call, str]] = field(default_factory=list)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)  # (target, guard) -> line
    again: dict[tuple[str, str], int] = field(default_factory=dict)  # its second call's line
    managers: list[str] = field(default_factory=list)
    decorators: list[str] = field(default_factory=list)
    guards: list[str] = field(default_factory=list)  # the ``with`` blocks open around the walk
    money: list[int] = field(default_factory=list)  # lines of calls that move money
    adds: list[int] = field(default_factory=list)  # lines of ``session.add(...)``


_MONEY_OBJECTS = frozenset({"Charge", "PaymentIntent", "Transfer", "Payout", "Transaction"})
_MONEY_METHODS = frozenset({"create", "capture", "confirm", "sale", "submit_for_settlement"})
_MONEY_WORDS = frozenset({"charge", "capture", "payout"})
_CREATED_ROWS = ("create()", "bulk_create()", "get_or_create()", "update_or_create()")


def moves_money(node: ast.Call, name: str | None) -> bool:
    """A call that takes or sends money, without an idempotency key (with one, the client's
    retry of a failed request gets the same charge back instead of a second one)."""
    if any(keyword.arg == "idempotency_key" for keyword in node.keywords):
        return False
    parts = (name or "").split(".")
    if parts[0] in {"stripe", "braintree"} and len(parts) >= 3:
        return parts[-2] in _MONEY_OBJECTS and parts[-1] in _MONEY_METHODS
    func = node.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return bool(set(last.lower().strip("_").split("_")) & _MONEY_WORDS)


def recorded_after(
    function: FunctionNode, opened: WalkedFunction, writes: list[ast.Call]
) -> int | None:
    """The line of the first row the function creates after its first call that moves money,
    when it has written nothing before that call (no pending record of the payment exists):
    ``Model.objects.create()``, ``session.add(...)``, ``.save()`` of an object it constructed
    (``card = GiftCard(...)``)."""
    paid = min(opened.money)
    if any(call.lineno < paid for call in writes):
        return None
    constructed = {
        target.id
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and (dotted(node.value.func) or "").rsplit(".", 1)[-1][:1].isupper()
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    created = [line for line in opened.adds if line > paid]
    for call, what in opened.writes:
        if call.lineno <= paid:
            continue
        func = call.func
        if what.endswith(_CREATED_ROWS) or (
            isinstance(func, ast.Attribute)
            and func.attr in {"save", "asave"}
            and isinstance(func.value, ast.Name)
            and func.value.id in constructed
        ):
            created.append(call.lineno)
    return min(created) if created else None


# Multi-word methods of the libraries a project calls on its locals all the time (Django
# querysets, models and forms): never the project's own, not worth a call site each.
_LIBRARY_METHODS = frozenset(
    {"refresh_from_db", "select_related", "prefetch_related", "order_by", "values_list"}
    | {"select_for_update", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}
    | {"is_valid", "has_changed", "get_model", "full_clean", "add_error", "set_password"}
    | {"check_password", "in_bulk", "only_fields", "get_absolute_url", "as_view", "set_cookie"}
)


def project_method_name(name: str) -> bool:
    """A method name that may be the project's own: public, of several words
    (``copy_data_from``), and none of the library methods called everywhere."""
    return (
        "_" in name.strip("_")
        and not name.startswith("_")
        and name not in _LIBRARY_METHODS
        and not name.isupper()
    )


def sequence_hint(hint: ast.expr) -> bool:
    """``List[Create]``, ``Sequence[models.Order]``: a sequence of one named class."""
    return (
        isinstance(hint, ast.Subscript)
        and (dotted(hint.value) or "").rsplit(".", 1)[-1] in _SEQUENCE_HINTS
        and isinstance(hint.slice, ast.Name | ast.Attribute)
    )


def refuses_outside_transaction(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The function raises unless it runs in a transaction: ``if not
    connection.in_atomic_block: raise ...`` or ``assert connection.in_atomic_block``."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            test: ast.expr = node.test
        elif isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body):
            if not isinstance(node.test, ast.UnaryOp) or not isinstance(node.test.op, ast.Not):
                continue
            test = node.test.operand
        else:
            continue
        if isinstance(test, ast.Attribute) and test.attr == "in_atomic_block":
            return True
    return False


def class_receiver(scope: Scope) -> str | None:
    """``cls`` of a classmethod names the class as ``self`` does."""
    if scope.class_info is None:
        return None
    args = scope.node.args.posonlyargs + scope.node.args.args
    if not args:
        return None
    for decorator in scope.node.decorator_list:
        if isinstance(decorator, ast.Name) and decorator.id == "classmethod":
            return args[0].arg
    return None


def transaction_decorated(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        text = ast.unparse(decorator)
        if "atomic" in text or "transaction" in text:
            return True
    return False


def django_write(node: ast.Call, func: ast.Attribute, ctx: PythonContext) -> str | None:
    chain = django_query(node)
    if chain is not None:
        if chain.terminal in DJANGO_WRITE_METHODS and chain.calls[0] is node:
            return f"{chain.model}.objects...{chain.terminal}()"
        return None
    if func.attr not in MODEL_WRITES:
        return None
    if any(not isinstance(a, ast.Starred) for a in node.args):
        return None  # img.save(path), cache.delete(key): not a model instance
    if is_false(keyword_value(node, "commit")):
        return None  # form.save(commit=False) builds the instance without writing
    if func.attr in {"delete", "adelete"} and any(
        item.arg not in _MODEL_DELETE_KEYWORDS for item in node.keywords
    ):
        return None  # store.delete(key=...): a blob store's or a cache's, not a model's
    receiver = dotted(func.value)
    if receiver is None:
        if not (isinstance(func.value, ast.Call) and dotted(func.value.func) == "super"):
            return None
        receiver = "super()"
    if receiver.split(".")[0] in {"request", "req", "response", "session"}:
        return None
    if not uses_django_orm(ctx) or _sqlalchemy_models(ctx):
        return None
    return f"{receiver}.{func.attr}()"


def _sqlalchemy_models(ctx: PythonContext) -> bool:
    """The module works with SQLAlchemy, not Django: the project models it imports are
    SQLAlchemy's, whose ``table.delete()`` builds a statement and whose changes wait for the
    session's ``commit()`` (the write DAT003 counts there)."""
    if "django" in ctx.facts.frameworks:
        return False
    return any(module.partition(".")[0] == "sqlalchemy" for module, _ in ctx.facts.imports)
