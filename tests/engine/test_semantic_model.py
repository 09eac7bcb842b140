"""The project-wide semantic model: summaries from the real walk of each module, the call graph
across modules, and the transaction scope through wrappers, decorators, callers and receivers."""

from __future__ import annotations

import ast
import json
import textwrap

from prodready.engine.module_record import ModuleRecord
from prodready.engine.python import PythonAnalyzer
from prodready.engine.semantic.model import SemanticModel, build_model
from prodready.engine.semantic.summary import CallSite, FunctionSummary, Write
from prodready.model import Profile


def _record(relpath: str, source: str) -> ModuleRecord:
    text = textwrap.dedent(source)
    ctx = PythonAnalyzer([]).analyze(text, ast.parse(text), relpath, Profile())
    return ctx.facts.record()


def _model(files: dict[str, str]) -> SemanticModel:
    return build_model({path: _record(path, source) for path, source in files.items()})


def _summary(record: ModuleRecord, name: str) -> FunctionSummary:
    return next(function for function in record.functions if function.name == name)


def test_the_call_graph_crosses_modules_and_follows_self_methods() -> None:
    model = _model(
        {
            "shop/pricing.py": """
                def price(line):
                    return line.qty * line.unit
            """,
            "shop/orders.py": """
                from shop import pricing
                from .pricing import price as unit_price

                class Checkout:
                    def total(self, lines):
                        self._validate(lines)
                        return sum(pricing.price(line) for line in lines)

                    def _validate(self, lines):
                        for line in lines:
                            unit_price(line)
            """,
        }
    )
    assert model.callees("shop.orders.Checkout.total") == [
        "shop.orders.Checkout._validate",
        "shop.pricing.price",
    ]
    assert model.callees("shop.orders.Checkout._validate") == ["shop.pricing.price"]
    assert [caller for caller, _ in model.callers["shop.pricing.price"]] == [
        "shop.orders.Checkout.total",
        "shop.orders.Checkout._validate",
    ]


def test_an_import_from_below_a_directory_that_is_not_a_package_resolves() -> None:
    # ``app/core/utils.py`` is imported as ``core.utils`` when ``app/`` is on the path.
    model = _model(
        {
            "app/core/utils.py": "def slug(text):\n    return text.lower()\n",
            "app/tasks/api.py": "from core.utils import slug\n\ndef name(x):\n    return slug(x)\n",
        }
    )
    assert model.resolve("core.utils.slug") == "app.core.utils.slug"
    assert model.callees("app.tasks.api.name") == ["app.core.utils.slug"]


def test_the_walk_records_writes_transactions_and_guarded_calls() -> None:
    record = _record(
        "shop/services.py",
        """
        from django.db import transaction
        from shop.db import locked
        from .models import Order, Line

        def place(order):
            with locked():
                order.save()
                Line.objects.create(order=order)
            notify(order)

        def notify(order):
            with transaction.atomic():
                place(order)

        def pick(order):
            if order.paid:
                order.save()
                return
            Line.objects.filter(order=order).delete()
        """,
    )
    assert _summary(record, "place") == FunctionSummary(
        "place",
        6,
        ("out@10",),  # notify(): by its name, a call to another system
        (Write("order.save()", 8), Write("Line.objects...create()", 9)),
        (0, 1),
        (CallSite("shop.db.locked", 7), CallSite("shop.services.notify", 10)),
        ("shop.db.locked",),
    )
    notify = _summary(record, "notify")
    assert notify.flags == ("tx",)
    assert notify.calls == (CallSite("shop.services.place", 14, "tx"),)
    pick = _summary(record, "pick")
    assert len(pick.writes) == 2 and pick.writes_together() is None  # exclusive branches


DB_WRAPPERS = """
    import contextlib
    import functools
    from django.db import transaction

    @contextlib.contextmanager
    def locked():
        with transaction.atomic():
            yield

    @contextlib.contextmanager
    def locked_twice():
        with locked():
            yield

    def all_or_nothing(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with transaction.atomic():
                return func(*args, **kwargs)
        return wrapper

    @contextlib.contextmanager
    def timed():
        yield
"""


def test_a_project_context_manager_that_opens_a_transaction_covers_its_with_body() -> None:
    model = _model(
        {
            "shop/db.py": DB_WRAPPERS,
            "shop/services.py": """
                from shop.db import locked_twice, timed
                from .models import Line

                def book(order):
                    with locked_twice():
                        order.save()
                        Line.objects.create(order=order)

                def slow(order):
                    with timed():
                        order.save()
                        Line.objects.create(order=order)
            """,
        }
    )
    assert model.opens_transaction("shop.db.locked_twice")  # through locked(), transitively
    assert not model.opens_transaction("shop.db.timed")
    assert model.writes_covered("shop.services.book") == (
        "enters a project context manager that opens a transaction"
    )
    assert model.writes_covered("shop.services.slow") is None


def test_a_project_decorator_that_opens_a_transaction_covers_the_function() -> None:
    model = _model(
        {
            "shop/db.py": DB_WRAPPERS,
            "shop/services.py": """
                from shop import db
                from .models import Line

                @db.all_or_nothing
                def release(order):
                    order.save()
                    Line.objects.filter(order=order).delete()

                def helper(order):
                    order.save()
                    Line.objects.create(order=order)

                @db.all_or_nothing
                def outer(order):
                    helper(order)
            """,
        }
    )
    assert model.writes_covered("shop.services.release") == (
        "decorated with a project wrapper that opens a transaction"
    )
    assert model.writes_covered("shop.services.helper") == (
        "every caller calls it inside a transaction"
    )


def test_every_caller_in_another_module_must_hold_a_transaction() -> None:
    files = {
        "shop/services.py": """
            from .models import Line

            def settle(order):
                order.save()
                Line.objects.create(order=order)

            def step(order):
                settle(order)
        """,
        "shop/views.py": """
            from django.db import transaction
            from shop.services import settle, step

            @transaction.atomic
            def pay(order):
                settle(order)

            def refund(order):
                with transaction.atomic():
                    step(order)
        """,
    }
    model = _model(files)
    # settle(): called by pay() (decorated) and by step(), which runs in refund()'s block.
    assert model.writes_covered("shop.services.settle") == (
        "every caller calls it inside a transaction"
    )
    files["shop/jobs.py"] = """
        from shop.services import settle

        def nightly(order):
            settle(order)
    """
    assert _model(files).writes_covered("shop.services.settle") is None


def test_a_function_nobody_calls_is_not_in_a_callers_transaction() -> None:
    model = _model(
        {
            "shop/services.py": """
                from .models import Line

                def settle(order):
                    order.save()
                    Line.objects.create(order=order)
            """,
            "tests/test_services.py": """
                from django.db import transaction
                from shop.services import settle

                def test_settle(order):
                    with transaction.atomic():
                        settle(order)
            """,
        }
    )
    assert "shop.services.settle" not in model.callers  # test code calls nobody in the model
    assert model.writes_covered("shop.services.settle") is None


def test_delete_signal_receivers_run_in_the_deletes_transaction() -> None:
    record = _record(
        "shop/receivers.py",
        """
        from django.db.models.signals import post_delete, pre_delete, post_save
        from django.dispatch import receiver
        from .models import Basket, Line

        @receiver(post_delete, sender=Basket)
        def drop_lines(sender, instance, **kwargs):
            Line.objects.filter(basket=instance).delete()
            instance.owner.save()

        def release(sender, instance, **kwargs):
            instance.stock.save()
            instance.basket.save()

        @receiver([post_save], sender=Basket)
        def touched(sender, instance, **kwargs):
            instance.owner.save()
            instance.shop.save()

        pre_delete.connect(release, sender=Line)
        """,
    )
    assert [tuple(item) for item in record.signals] == [
        ("django.db.models.signals.post_delete", "shop.receivers.drop_lines", 7),
        ("django.db.models.signals.post_save", "shop.receivers.touched", 16),
        ("django.db.models.signals.pre_delete", "shop.receivers.release", 20),
    ]
    model = build_model({"shop/receivers.py": record})
    reason = "a delete-signal receiver runs in the delete's transaction"
    assert model.writes_covered("shop.receivers.drop_lines") == reason
    assert model.writes_covered("shop.receivers.release") == reason
    assert model.writes_covered("shop.receivers.touched") is None


def test_select_for_update_is_evidence_of_a_transaction() -> None:
    model = _model(
        {
            "shop/stock.py": """
                from .models import Item, Move

                def take(item_id):
                    item = Item.objects.select_for_update().get(id=item_id)
                    item.count -= 1
                    item.save()
                    Move.objects.create(item=item)
            """
        }
    )
    assert model.writes_covered("shop.stock.take") == "select_for_update needs a transaction"


def test_recursion_without_a_transaction_settles_to_none() -> None:
    model = _model(
        {
            "shop/tree.py": """
                from .models import Node

                def prune(node):
                    node.delete()
                    Node.objects.filter(parent=node).update(orphan=True)
                    for child in node.children:
                        walk(child)

                def walk(node):
                    prune(node)
            """
        }
    )
    assert model.writes_covered("shop.tree.prune") is None


def test_a_method_called_on_self_may_be_inherited_from_a_project_base() -> None:
    model = _model(
        {
            "shop/mixins.py": """
                class FormsetMixin:
                    def save_all(self, obj):
                        obj.save()
            """,
            "shop/views.py": """
                from shop.mixins import FormsetMixin

                class Base(FormsetMixin):
                    pass

                class Edit(Base):
                    def form_valid(self, form):
                        self.save_all(form.instance)
            """,
        }
    )
    assert model.bases["shop.views.Edit"] == ("shop.views.Base",)
    assert model.resolve("shop.views.Edit.save_all") == "shop.mixins.FormsetMixin.save_all"
    assert model.callees("shop.views.Edit.form_valid") == ["shop.mixins.FormsetMixin.save_all"]


def test_a_function_that_raises_outside_a_transaction_is_evidence_of_one() -> None:
    model = _model(
        {
            "shop/purge.py": """
                from django.db import transaction
                from .models import Line, Order

                def purge(orders):
                    if not transaction.get_connection().in_atomic_block:
                        raise RuntimeError("call me in a transaction")
                    Line.objects.filter(order__in=orders).delete()
                    Order.objects.filter(id__in=orders).update(purged=True)

                def unguarded(orders):
                    if transaction.get_connection().in_atomic_block:
                        raise RuntimeError("inverted check")
                    Line.objects.filter(order__in=orders).delete()
                    Order.objects.filter(id__in=orders).update(purged=True)
            """
        }
    )
    assert model.writes_covered("shop.purge.purge") == "raises unless it runs in a transaction"
    assert model.writes_covered("shop.purge.unguarded") is None


def test_a_serializer_saved_by_a_view_inside_a_transaction_creates_inside_it() -> None:
    # Django REST framework: serializer.save() calls create() or update(), and a view's
    # perform_create(serializer) calls serializer.save().
    files = {
        "shop/serializers.py": """
            from rest_framework import serializers
            from .models import Line, Order

            class OrderCreate(serializers.Serializer):
                def create(self, validated_data):
                    order = Order.objects.create(total=validated_data["total"])
                    Line.objects.create(order=order)
                    return order

            class OrderEdit(serializers.Serializer):
                def update(self, instance, validated_data):
                    instance.save()
                    Line.objects.create(order=instance)
                    return instance
        """,
        "shop/views.py": """
            from django.db import transaction
            from rest_framework import viewsets
            from shop.serializers import OrderCreate, OrderEdit

            class Orders(viewsets.ModelViewSet):
                def create(self, request):
                    serializer = OrderCreate(data=request.data)
                    serializer.is_valid(raise_exception=True)
                    with transaction.atomic():
                        self.perform_create(serializer)

                def update(self, request, pk):
                    serializer = OrderEdit(self.get_object(), data=request.data)
                    serializer.is_valid(raise_exception=True)
                    with transaction.atomic():
                        serializer.save()
        """,
    }
    model = _model(files)
    reason = "every caller calls it inside a transaction"
    assert model.writes_covered("shop.serializers.OrderCreate.create") == reason
    assert model.writes_covered("shop.serializers.OrderEdit.update") == reason
    assert model.callees("shop.views.Orders.update") == ["shop.serializers.OrderEdit.update"]
    files["shop/jobs.py"] = """
        from shop.serializers import OrderEdit

        def nightly(order, data):
            serializer = OrderEdit(order, data=data)
            serializer.save()
    """
    assert _model(files).writes_covered("shop.serializers.OrderEdit.update") is None


def test_super_calls_and_items_of_a_typed_sequence_are_calls_of_project_methods() -> None:
    # The view creates each serializer inside its transaction: for s in serializers, typed
    # List[PositionCreate]; PositionCreate.create() runs BasePositionCreate.create() by super().
    files = {
        "shop/serializers.py": """
            from rest_framework import serializers
            from .models import Answer, Position

            class BasePositionCreate(serializers.Serializer):
                def create(self, validated_data):
                    position = Position.objects.create(item=validated_data["item"])
                    Answer.objects.create(position=position, text=validated_data["text"])
                    return position

            class PositionCreate(BasePositionCreate):
                def create(self, validated_data):
                    position = super().create(validated_data)
                    for addon in validated_data["addons"]:
                        super().create(addon)
                    return position
        """,
        "shop/views.py": """
            from typing import List
            from django.db import transaction
            from shop.serializers import PositionCreate

            def create_all(serializers: List[PositionCreate]):
                with transaction.atomic():
                    for index, serializer in enumerate(serializers):
                        serializer.create(serializer.validated_data)
        """,
    }
    model = _model(files)
    assert model.callees("shop.serializers.PositionCreate.create") == [
        "shop.serializers.BasePositionCreate.create"
    ]
    assert model.callees("shop.views.create_all") == ["shop.serializers.PositionCreate.create"]
    reason = "every caller calls it inside a transaction"
    assert model.writes_covered("shop.serializers.BasePositionCreate.create") == reason
    files["shop/views.py"] = files["shop/views.py"].replace("List[PositionCreate]", "list")
    assert _model(files).writes_covered("shop.serializers.BasePositionCreate.create") is None


def test_a_name_a_package_imports_from_its_modules_resolves_to_the_one_defined_below() -> None:
    files = {
        "shop/models/__init__.py": "from .orders import Order, Position\n",
        "shop/models/base.py": """
            class Logged:
                def log(self, action):
                    return action
        """,
        "shop/models/orders.py": """
            from .base import Logged

            class Order(Logged):
                pass

            class Position:
                @classmethod
                def from_cart(cls, cart, order):
                    return [cls(order=order, item=item) for item in cart]
        """,
        "shop/services.py": """
            from shop.models import Order, Position

            def place(cart, order: Order):
                order.log("placed")
                return Position.from_cart(cart, order)
        """,
    }
    model = _model(files)
    assert model.resolve("shop.models.Position.from_cart") == (
        "shop.models.orders.Position.from_cart"
    )
    assert model.resolve("shop.models.Order.log") == "shop.models.base.Logged.log"
    assert model.callees("shop.services.place") == [
        "shop.models.base.Logged.log",
        "shop.models.orders.Position.from_cart",
    ]
    # Two modules below the package define the name: which one is meant is unknown.
    files["shop/models/legacy.py"] = """
        class Position:
            @classmethod
            def from_cart(cls, cart, order):
                return []
    """
    assert _model(files).resolve("shop.models.Position.from_cart") is None


def test_a_class_attribute_names_the_form_a_generic_view_saves_in_its_transaction() -> None:
    # The generic view makes its form from ``self.form``; each concrete view binds ``form``.
    files = {
        "shop/generic/__init__.py": "from .edit import EditView\n",
        "shop/generic/edit.py": """
            from django.db import transaction

            class EditView:
                form = None

                def post(self, request):
                    form = self.form(data=request.POST)
                    with transaction.atomic():
                        form.save()
        """,
        "shop/forms.py": """
            class OrderForm:
                def save(self):
                    pass
        """,
        "shop/views.py": """
            from shop import forms, generic

            class OrderEdit(generic.EditView):
                form = forms.OrderForm
        """,
    }
    record = _record("shop/views.py", files["shop/views.py"])
    assert [item.attributes for item in record.classes] == [("form=shop.forms.OrderForm",)]
    again = ModuleRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert again is not None and again.classes == record.classes  # kept by the result cache
    model = _model(files)
    assert model.subclasses == {"shop.generic.edit.EditView": ["shop.views.OrderEdit"]}
    assert model.callees("shop.generic.edit.EditView.post") == ["shop.forms.OrderForm.save"]
    reason = "every caller calls it inside a transaction"
    assert model.writes_covered("shop.forms.OrderForm.save") == reason
