"""Function summaries collected during the one walk of a module (the walker calls the hooks).

What is recorded per function: its database writes (the Django ORM writes and session commits
DAT003 counts), whether it opens a transaction, the context managers and decorators that may be
project wrappers opening one, the calls it makes that may reach project functions (with the
``with`` blocks around each), ``select_for_update`` use, and the signal receivers a module
registers. Calls are named as the project model resolves them: through imports, ``self``
methods, module-level functions and locals of a known type -- and the ``save()`` of the form a
Django class-based view names in ``form_class``, where the view saves it.
"""

from __future__ import annotations

import ast
import sys
from functools import partial

from prodready.engine.analysis.literals import dotted
from prodready.engine.analysis.module_kind import is_script
from prodready.engine.analysis.orm import (
    DJANGO_WRITE_METHODS,
    is_db_session,
)
from prodready.engine.analysis.tasks import in_task
from prodready.engine.python.module_context import PythonContext
from prodready.engine.python.scopes import Scope
from prodready.engine.semantic import class_attributes as by_attribute
from prodready.engine.semantic.call_kinds import (
    MODEL_WRITES,
    WalkedFunction,
    class_receiver,
    django_write,
    moves_money,
    project_method_name,
    recorded_after,
    refuses_outside_transaction,
    sequence_hint,
    transaction_decorated,
)
from prodready.engine.semantic.dependency import dependent_pair, site_relations
from prodready.engine.semantic.raw_sql import (
    STATEMENT_METHODS,
    autocommit_write,
    outbound,
    pair_between_calls,
    straddles_call,
)
from prodready.engine.semantic.row_commits import one_row_committed_twice
from prodready.engine.semantic.summary import (
    AROUND_CALL,
    ATOMIC,
    CONTEXT_MANAGER,
    ENTRY_POINT,
    IN_HANDLER,
    IN_TRANSACTION,
    INDEPENDENT,
    LOCKS_ROWS,
    MONEY_BEFORE_RECORD,
    NEEDS_TRANSACTION,
    OPENS_TRANSACTION,
    OUTBOUND,
    PASSES,
    REGISTERED,
    SCRIPT,
    UNTYPED_RECEIVER,
    CallSite,
    ClassSummary,
    FunctionSummary,
    SignalReceiver,
    Write,
)
from prodready.engine.semantic.tolerated_writes import mark_tolerated
from prodready.engine.semantic.view_forms import holds_view_form

# Calls (by method name) and ``with`` managers (by last name) that open a transaction.
TRANSACTION_CALLS = frozenset({"atomic", "begin", "begin_nested", "transaction", "atomic_tx"})
_INTERESTING_METHODS = frozenset(
    DJANGO_WRITE_METHODS | TRANSACTION_CALLS | MODEL_WRITES | {"commit", "select_for_update"}
)
_CONTEXT_MANAGER_DECORATORS = frozenset(
    {"contextlib.contextmanager", "contextlib.asynccontextmanager"}
)
# DB-API connections are context managers that commit or roll back as one transaction.
_CONNECTION_NAMES = frozenset({"conn", "connection", "db_connection", "cnx", "dbconn"})
_CONNECTION_FACTORIES = ("sqlite3.connect", "psycopg2.connect", "psycopg.connect")
# Packages whose functions are never the project's: calls into them are not recorded.
_EXTERNAL_ROOTS = frozenset(sys.stdlib_module_names) | frozenset(
    {"builtins", "django", "rest_framework", "celery", "sqlalchemy", "flask", "fastapi"}
    | {"pydantic", "requests", "httpx", "starlette", "jinja2", "pytest", "numpy", "pandas"}
)
# Annotations of a parameter whose items a ``for`` binds (``List[Serializer]``).
# Django REST framework view methods that call ``serializer.save()`` on their argument.
_PERFORM_SAVE = frozenset({"perform_create", "perform_update"})
_SKIPPED_DECORATORS = frozenset({"builtins.property", "builtins.staticmethod"})
# A function with one of these flags runs its writes in a transaction whoever calls it: which
# of its writes can run together does not matter (and costs a pass over its body).
_COVERED_HERE = frozenset({OPENS_TRANSACTION, ATOMIC, LOCKS_ROWS})


class SummaryCollector:
    """The summaries of one module's functions, filled in by the walker's hooks. A test
    module has none: tests are not judged, and are nobody's caller in the model."""

    def __init__(self, ctx: PythonContext) -> None:
        self.ctx = ctx
        self.stack: list[WalkedFunction] = []
        self.functions: list[FunctionSummary] = []
        self.signals: list[SignalReceiver] = []
        self.classes: list[ClassSummary] = []
        self.in_tests = ctx.facts.is_test

    # -- classes --------------------------------------------------------------------------
    def enter_class(self, node: ast.ClassDef) -> None:
        """Called with the class on top of ``ctx.classes``; classes inside functions (and in
        test modules) are left out."""
        if self.stack or self.in_tests:
            return
        bases: list[str] = []
        for base in node.bases:
            resolved = self.target(base, opened_in=None)
            if resolved is not None:
                bases.append(resolved)
        attributes = by_attribute.class_attributes(node, partial(self.target, opened_in=None))
        if bases or attributes:  # else it adds nothing to the method resolution
            name = ".".join(info.node.name for info in self.ctx.classes)
            self.classes.append(ClassSummary(name, node.lineno, tuple(bases), attributes))

    # -- functions ------------------------------------------------------------------------
    def enter_function(self, scope: Scope) -> None:
        """Called before the body is walked, while the enclosing scope is still current."""
        if self.in_tests:
            return  # test code is not judged, nor anybody's caller in the model
        ctx = self.ctx
        node = scope.node
        parent = self.stack[-1] if self.stack else None
        start = parent.class_depth if parent is not None else 0
        classes = [info.node.name for info in ctx.classes[start:]]
        if scope.class_info is None:
            classes = []
        prefix = [parent.name] if parent is not None else []
        owner = ".".join([*prefix, *classes])
        name = f"{owner}.{node.name}" if owner else node.name
        opened = WalkedFunction(
            name,
            node,
            len(ctx.classes),
            scope.self_name or class_receiver(scope),
            owner if scope.class_info is not None else "",
        )
        if parent is not None and ATOMIC in parent.flags:
            opened.flags.add(ATOMIC)
        if scope.class_info is not None and transaction_decorated(scope.class_info.node):
            opened.flags.add(ATOMIC)
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            text = dotted(target) or ""
            if "atomic" in text or "transaction" in text:
                opened.flags.add(ATOMIC)
                continue
            qualified = ctx.qualname(target) or text
            if qualified in _CONTEXT_MANAGER_DECORATORS or text.endswith("contextmanager"):
                opened.flags.add(CONTEXT_MANAGER)
                continue
            if not qualified.startswith(("builtins.", "functools.")):
                opened.flags.add(REGISTERED)
            if qualified.endswith("receiver") and isinstance(decorator, ast.Call):
                self._receiver(decorator, self._module_name(name), node.lineno)
                continue
            resolved = self.target(target, opened_in=parent)
            if resolved is not None and resolved not in _SKIPPED_DECORATORS:
                opened.decorators.append(resolved)
        self.stack.append(opened)

    def end_function(self, scope: Scope) -> None:
        if self.in_tests:
            return
        opened = self.stack.pop()
        ctx = self.ctx
        flags = opened.flags
        writes = sorted(opened.writes, key=lambda w: (w[0].lineno, w[0].col_offset))
        pair: tuple[int, ...] = ()
        if len(writes) >= 2 and not flags & _COVERED_HERE:
            # Only a function that may be reported needs to know where it runs, and which of
            # its writes can run together (a pass over its body).
            if is_script(ctx):
                flags.add(SCRIPT)
            elif refuses_outside_transaction(scope.node):
                flags.add(NEEDS_TRANSACTION)
            else:
                found, dependent = dependent_pair(
                    scope.node,
                    [call for call, _ in writes],
                    drf_view=self._drf_view(scope),
                )
                if found is not None and straddles_call(flags, writes, found):
                    found, dependent = pair_between_calls(
                        scope.node, flags, writes, drf_view=self._drf_view(scope)
                    ) or (found, True)
                    if AROUND_CALL in flags:
                        dependent = True  # one change split on purpose: reported as such
                if found is not None:
                    pair = mark_tolerated(found, scope.node, writes, flags)
                    # Each commit of a session ends a transaction of whatever was added
                    # before it: two of them are one change split in two.
                    if not dependent and (
                        not any(w.endswith(".commit()") for _, w in writes)
                        or one_row_committed_twice(scope.node, [c for c, _ in writes], found)
                    ):
                        flags.add(INDEPENDENT)
                    if ctx.route is not None or in_task(ctx):
                        flags.add(ENTRY_POINT)
        elif len(writes) < 2 and len(opened.calls) >= 2 and not flags & _COVERED_HERE:
            # Its calls may reach helpers that each commit (DAT003 across functions).
            if is_script(ctx):
                flags.add(SCRIPT)
            else:
                if ctx.route is not None or in_task(ctx):
                    flags.add(ENTRY_POINT)
                sites = [*opened.calls.values(), *opened.again.values()]
                flags |= site_relations(scope.node, [*sites, *(c.lineno for c, _ in writes)])
        if opened.money:
            recorded = recorded_after(scope.node, opened, [call for call, _ in writes])
            if recorded is not None:
                flags.add(f"{MONEY_BEFORE_RECORD}{min(opened.money)}>{recorded}")
                if is_script(ctx):
                    flags.add(SCRIPT)
                elif ctx.route is not None or in_task(ctx):
                    flags.add(ENTRY_POINT)
        self.functions.append(
            FunctionSummary(
                opened.name,
                scope.node.lineno,
                tuple(sorted(flags)),
                tuple(Write(what, call.lineno) for call, what in writes),
                pair,
                tuple(
                    CallSite(target, line, guard)
                    for (target, guard), line in sorted(
                        [*opened.calls.items(), *opened.again.items()], key=lambda item: item[1]
                    )
                ),
                tuple(dict.fromkeys(opened.managers)),
                tuple(opened.decorators),
            )
        )

    def _drf_view(self, scope: Scope) -> bool:
        """A method of a class with a Django REST framework base (its ``super().update()``
        validates the request)."""
        if scope.class_info is None:
            return False
        return any(
            (self.ctx.qualname(base) or "").startswith("rest_framework.")
            for base in scope.class_info.node.bases
        )

    # -- ``with`` blocks ------------------------------------------------------------------
    def enter_with(self, node: ast.With | ast.AsyncWith) -> bool:
        """Called before the body; returns whether a guard was pushed (for :meth:`exit_with`)."""
        if not self.stack:
            return False
        opened = self.stack[-1]
        names: list[str] = []
        transaction = False
        for item in node.items:
            expr = item.context_expr
            call = expr.func if isinstance(expr, ast.Call) else expr
            text = dotted(call) or ""
            if text.rsplit(".", 1)[-1] in TRANSACTION_CALLS or self._connection(expr, text):
                transaction = True
                continue
            resolved = self.target(call, opened_in=opened)
            if resolved is not None:
                names.append(resolved)
                opened.managers.append(resolved)
        if transaction:
            opened.flags.add(OPENS_TRANSACTION)
            opened.guards.append(IN_TRANSACTION)
            return True
        if names:
            opened.guards.append("|".join(names))
            return True
        return False

    def exit_with(self, pushed: bool) -> None:
        if pushed:
            self.stack[-1].guards.pop()

    def _connection(self, expr: ast.expr, text: str) -> bool:
        if isinstance(expr, ast.Call):
            return False
        if text.rsplit(".", 1)[-1].lower() in _CONNECTION_NAMES:
            return True
        kind = self.ctx.type_of(expr) or ""
        return kind.startswith(_CONNECTION_FACTORIES)

    # -- calls ----------------------------------------------------------------------------
    def call(self, node: ast.Call, name: str | None) -> None:
        """Every call the walk meets; ``name``: the qualified name of what it calls."""
        if self.in_tests:
            return
        func = node.func
        if not self.stack:
            if isinstance(func, ast.Attribute) and func.attr == "connect":
                self._connect(node)
            return
        opened = self.stack[-1]
        if outbound(node, name):
            opened.flags.add(f"{OUTBOUND}{node.lineno}")
            if moves_money(node, name):
                opened.money.append(node.lineno)
        if (
            isinstance(func, ast.Attribute)
            and func.attr in {"add", "add_all"}
            and is_db_session(func.value, self.ctx)
        ):
            opened.adds.append(node.lineno)
        if node.args and (
            isinstance(node.args[0], ast.Constant | ast.JoinedStr)
            or (isinstance(func, ast.Attribute) and func.attr in STATEMENT_METHODS)
        ):
            # A statement that commits by itself (asyncpg, an autocommit connection), run
            # by the driver or by a project helper given the SQL.
            statement = autocommit_write(node, self.ctx)
            if statement is not None and not (
                isinstance(func, ast.Attribute) and is_db_session(func.value, self.ctx)
            ):
                opened.writes.append((node, statement))
        if isinstance(func, ast.Attribute):
            attr = func.attr
            if attr == "connect":
                self._connect(node)
            if attr in _INTERESTING_METHODS:
                self._database(node, func, opened)
        target = self.target(func, opened_in=opened, name=name) if name is not None else None
        if target is not None:
            self._record(opened, target, node.lineno)
        saved = self._saved_serializer(node) or self._super_method(func)
        if saved is not None:
            self._record(opened, saved, node.lineno)
        for argument in (*node.args, *(keyword.value for keyword in node.keywords)):
            if isinstance(argument, ast.Name):  # a function handed over to be run: a job
                passed = self.target(argument, opened_in=opened)
                if passed is not None:
                    opened.flags.add(PASSES + passed)
        form = self._saved_form(node, opened)
        if form is not None:
            self._record(opened, form, node.lineno)
        owner_class = self.ctx.classes[opened.class_depth - 1].node if opened.owner else None
        for attribute, method in by_attribute.made_by_attribute(
            node, self.ctx.value_of, opened.owner and opened.self_name, owner_class
        ):
            owner = self._module_name(f"{opened.owner}.{attribute}")
            self._record(opened, f"{by_attribute.MADE_BY_ATTRIBUTE}{owner}.{method}", node.lineno)
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id != opened.self_name
            and project_method_name(func.attr)
            and self._local_owner(func.value.id)[0]
        ):
            # A method called on a local or a parameter, whatever type the walk gave it: the
            # model resolves it by its name when one project class alone defines it.
            self._record(opened, f"{UNTYPED_RECEIVER}{func.attr}", node.lineno)

    def _record(self, opened: WalkedFunction, target: str, line: int) -> None:
        guards = opened.guards
        guard = IN_TRANSACTION if IN_TRANSACTION in guards else "|".join(guards)
        if self.ctx.handlers:
            opened.flags.add(f"{IN_HANDLER}{line}")  # a retry or a compensating step
        first = opened.calls.setdefault((target, guard), line)
        if first != line:
            # A helper called twice (each call may commit on its own: DAT003).
            opened.again.setdefault((target, guard), line)

    def _super_method(self, func: ast.expr) -> str | None:
        """``super().method(...)`` in a method of a class with a project base: that base's
        method (the model looks further up its bases when the base does not define it)."""
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Call)
            and dotted(func.value.func) == "super"
        ):
            return None
        for opened in reversed(self.stack):
            if opened.self_name is None:
                continue
            for item in self.classes:
                if item.name == opened.owner and item.bases:
                    return f"{item.bases[0]}.{func.attr}"
            return None
        return None

    def _saved_serializer(self, node: ast.Call) -> str | None:
        """``self.perform_create(serializer)`` / ``perform_update``: Django REST framework's
        views save the serializer they are given (``serializer.save()``): the call is recorded
        as ``<its class>.save`` when the serializer's class is known."""
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in _PERFORM_SAVE:
            return None
        if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
            return None
        kind = self.ctx.qualname(node.args[0])
        if kind is None or kind == node.args[0].id:
            return None
        return self.target(ast.Attribute(node.args[0], "save"), opened_in=None, name=f"{kind}.save")

    def _saved_form(self, node: ast.Call, opened: WalkedFunction) -> str | None:
        """The ``save()`` of the form a Django class-based view names in its ``form_class``,
        when this call saves it: ``super().form_valid(form)`` (``ModelFormMixin.form_valid``
        saves the form), ``form.save()`` on the ``form`` parameter of ``form_valid``, or on a
        local made by ``self.get_form()`` / ``self.form_class(...)``."""
        func = node.func
        if not isinstance(func, ast.Attribute) or opened.self_name is None:
            return None
        if func.attr == "form_valid":
            if not (isinstance(func.value, ast.Call) and dotted(func.value.func) == "super"):
                return None
        elif (
            func.attr != "save"
            or not isinstance(func.value, ast.Name)
            or not holds_view_form(func.value.id, opened)
        ):
            return None
        form_class = self._form_class()
        if form_class is None:
            return None
        return self.target(ast.Attribute(form_class, "save"), opened_in=None)

    def _form_class(self) -> ast.expr | None:
        """The value of ``form_class = ...`` in the body of the class being walked."""
        classes = self.ctx.classes
        return by_attribute.attribute_value(classes[-1].node, "form_class") if classes else None

    def _database(self, node: ast.Call, func: ast.Attribute, opened: WalkedFunction) -> None:
        attr = func.attr
        if attr in TRANSACTION_CALLS:
            opened.flags.add(OPENS_TRANSACTION)  # explicit transaction handling
            return
        if attr == "select_for_update":
            opened.flags.add(LOCKS_ROWS)
            return
        if attr == "commit":
            # A SQLAlchemy session's, or a DB-API connection's: each ends a transaction.
            receiver = dotted(func.value)
            if not node.args and (
                is_db_session(func.value, self.ctx) or self._connection(func.value, receiver or "")
            ):
                opened.writes.append((node, f"{receiver or 'session'}.commit()"))
            return
        what = django_write(node, func, self.ctx)
        if what is not None:
            opened.writes.append((node, what))

    # -- names ----------------------------------------------------------------------------
    def target(
        self, expr: ast.expr, *, opened_in: WalkedFunction | None, name: str | None = None
    ) -> str | None:
        """The qualified name a called (or decorating, or entered) expression may have in the
        project, or None when it surely is not a project function. ``name``: the expression's
        qualified name when the caller has it already."""
        base = expr
        while isinstance(base, ast.Attribute):
            base = base.value
        if not isinstance(base, ast.Name):
            return None
        ctx = self.ctx
        root = base.id
        if isinstance(expr, ast.Attribute) and opened_in is not None:
            method = self._method_of(root, expr)
            if method is not None:
                return method
        if name is None:
            name = ctx.qualname(expr)
            if name is None:
                return None
        top = name.partition(".")[0]
        if top != root:  # renamed by an import or a known type: the name is final
            if top in _EXTERNAL_ROOTS or ".objects." in name:
                return None
            if self._local_owner(top)[0]:
                return None  # typed from another local (``s = self.client.session``): unknown
            return name
        local, owner = self._local_owner(root)
        if local:
            if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
                item = self._item_type(root)
                if item is not None:  # ``for s in serializers: s.create()``, typed by a hint
                    return f"{item}.{expr.attr}"
            if owner is None or not isinstance(expr, ast.Name):
                return None  # a method of a local value: its type is unknown
            return f"{owner}.{name}"  # a nested function
        if ctx.facts.bindings.get(root, "") is None and ".objects." not in name:
            return self._module_name(name)  # defined in the module
        if ctx.facts.bindings.get(root) == root and root not in _EXTERNAL_ROOTS:
            return name  # ``import billing`` then ``billing.charge()``: a function of that module
        return None

    def _item_type(self, name: str) -> str | None:
        """The project class of ``name`` when a ``for`` of the current function binds it to the
        items of a parameter annotated as a sequence of that class (``serializers:
        List[Create]``; also through ``enumerate``)."""
        scope = self.ctx.function
        if scope is None:
            return None
        arguments = scope.node.args
        hints = {
            argument.arg: argument.annotation
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if argument.annotation is not None
        }
        if not any(sequence_hint(hint) for hint in hints.values()):
            return None  # no parameter holds a sequence of a class: the walk would find none
        for node in ast.walk(scope.node):
            if not isinstance(node, ast.For | ast.AsyncFor):
                continue
            target, iterated = node.target, node.iter
            if (
                isinstance(iterated, ast.Call)
                and dotted(iterated.func) == "enumerate"
                and iterated.args
                and isinstance(target, ast.Tuple)
                and len(target.elts) == 2
            ):
                target, iterated = target.elts[1], iterated.args[0]
            if not (isinstance(target, ast.Name) and target.id == name):
                continue
            hint = hints.get(iterated.id) if isinstance(iterated, ast.Name) else None
            if not isinstance(hint, ast.Subscript) or not sequence_hint(hint):
                return None
            item = self.ctx.qualname(hint.slice)
            if item is None or item.partition(".")[0] in _EXTERNAL_ROOTS:
                return None
            return item
        return None

    def _method_of(self, root: str, expr: ast.Attribute) -> str | None:
        """``self.method`` (or ``cls.method``) inside a method, or a function nested in one."""
        if not isinstance(expr.value, ast.Name):
            return None
        for opened in reversed(self.stack):
            if opened.self_name is not None:
                if opened.self_name == root and opened.owner:
                    return self._module_name(f"{opened.owner}.{expr.attr}")
                return None
        return None

    def _local_owner(self, root: str) -> tuple[bool, str | None]:
        """Whether ``root`` is a local of an open function, and that function's qualified name
        (a call of a nested function is named ``outer.inner``)."""
        scope = self.ctx.function
        while scope is not None:
            if root in scope.globals:
                return False, None
            if root in scope.bindings:
                if any(param.arg == root for param in scope.params):
                    return True, None  # a function passed in: unknown here
                for opened in reversed(self.stack):
                    if opened.node is scope.node:
                        return True, self._module_name(opened.name)
                return True, None
            scope = scope.parent
        return False, None

    def _module_name(self, name: str) -> str:
        module = self.ctx.module
        return f"{module}.{name}" if module else name

    # -- signals --------------------------------------------------------------------------
    def _receiver(self, decorator: ast.Call, target: str, line: int) -> None:
        signals: list[ast.expr] = []
        for argument in decorator.args[:1]:
            if isinstance(argument, ast.List | ast.Tuple):
                signals.extend(argument.elts)
            else:
                signals.append(argument)
        for signal in signals:
            name = self.ctx.qualname(signal) or dotted(signal)
            if name is not None:
                self.signals.append(SignalReceiver(name, target, line))

    def _connect(self, node: ast.Call) -> None:
        func = node.func
        assert isinstance(func, ast.Attribute)
        handler = node.args[0] if node.args else None
        if handler is None:
            for keyword in node.keywords:
                if keyword.arg == "receiver":
                    handler = keyword.value
        if not isinstance(handler, ast.Name | ast.Attribute):
            return
        signal = self.ctx.qualname(func.value) or dotted(func.value)
        opened = self.stack[-1] if self.stack else None
        target = self.target(handler, opened_in=opened)
        if signal is not None and target is not None:
            self.signals.append(SignalReceiver(signal, target, node.lineno))


# Payment providers' calls that move money (``stripe.PaymentIntent.create``), and words of a
# project helper's name that say it does (``charge_card``, ``capture``).
