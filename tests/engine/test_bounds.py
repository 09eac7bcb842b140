"""How the size of a loop's iterable grows (``prodready.engine.analysis.bounds``): with database
rows, with what the request sends, bounded in the code, or not visibly at all."""

from __future__ import annotations

import ast
import textwrap

import pytest

from prodready.engine.analysis.bounds import Growth, iterable_growth
from prodready.engine.python import PythonAnalyzer, PythonContext
from prodready.engine.registry import python_rule
from prodready.model import Category, Profile, Severity


def _growths(source: str, path: str = "shop/services.py") -> list[Growth]:
    """The growth of the iterable of every ``for`` loop of ``source``, in source order."""
    seen: list[Growth] = []

    @python_rule(
        code="TST210",
        name="record-loops",
        category=Category.DATA_ACCESS,
        severity=Severity.LOW,
        summary="test",
        nodes=(ast.For,),
    )
    def record(node: ast.For, ctx: PythonContext) -> None:
        seen.append(iterable_growth(node.iter, ctx))

    text = textwrap.dedent(source)
    PythonAnalyzer([record]).analyze(text, ast.parse(text), path, Profile())
    return seen


def test_rows_of_a_queryset_a_relation_and_a_mix_of_querysets_grow_with_the_table() -> None:
    source = """
        from .models import Event, Payment, Refund

        def export(event):
            payments = Payment.objects.filter(state="paid").order_by("created")
            refunds = Refund.objects.filter(state="done")
            for row in sorted(list(payments) + list(refunds), key=lambda r: r.created):
                pass
            for line in event.orders.filter(paid=True):
                pass
            events = Event.objects.filter(live=True)
            for event in events.iterator(chunk_size=1000):
                pass
            qs = Payment.objects.filter(state="paid")
            qs = qs.only("pk")
            for payment in qs:
                pass
    """
    assert _growths(source) == [Growth.ROWS, Growth.ROWS, Growth.ROWS, Growth.ROWS]


def test_what_the_request_sends_grows_with_the_client() -> None:
    source = """
        import json

        def view(request):
            for row in request.data["rows"]:
                pass
            for item in request.session.get("cart", []):
                pass
            body = json.loads(request.body)
            for line in body["items"]:
                pass
            for key in request.GET.getlist("id"):
                pass
    """
    assert _growths(source, "shop/views.py") == [Growth.REQUEST] * 4


def test_literals_constants_slices_and_pages_are_bounded() -> None:
    source = """
        from .models import Order

        STATES = ("open", "paid")

        def summary(paginator, number):
            for state in STATES:
                pass
            for attempt in range(3):
                pass
            for order in Order.objects.order_by("-id")[:20]:
                pass
            page = paginator.get_page(number)
            for order in page.object_list:
                pass
            for kind in Order.Kind.choices:
                pass
    """
    assert _growths(source) == [Growth.BOUNDED] * 5


@pytest.mark.parametrize(
    "loop",
    [
        "for choice in choices: pass",
        "for key, value in settings.items(): pass",
        "for name in self.config.get('requires', []): pass",
        "for position in self.positions: pass",
        "for number in range(count): pass",
        "for file_id in files['upload']: pass",
    ],
)
def test_parameters_attributes_and_configuration_have_a_size_the_code_does_not_show(
    loop: str,
) -> None:
    source = f"""
        class Checkout:
            def run(self, choices, settings, count, files):
                {loop}
    """
    assert _growths(source) == [Growth.UNKNOWN]


def test_an_item_of_an_enclosing_loop_takes_that_loops_growth_unless_it_is_bounded() -> None:
    source = """
        def handle(request, groups):
            for rows in request.data["groups"]:
                for row in rows:
                    pass
            for field, ids in groups.items():
                for file_id in ids:
                    pass
            for pair in (("a", 1), ("b", 2)):
                for part in pair:
                    pass
    """
    assert _growths(source, "shop/views.py") == [
        Growth.REQUEST,
        Growth.REQUEST,
        Growth.UNKNOWN,
        Growth.UNKNOWN,
        Growth.BOUNDED,
        Growth.UNKNOWN,
    ]


def test_a_list_parameter_of_a_route_is_what_the_request_sends() -> None:
    source = """
        from fastapi import FastAPI

        app = FastAPI()

        @app.post("/items")
        def create(items: list[dict]):
            for item in items:
                pass

        def helper(items: list[dict]):
            for item in items:
                pass
    """
    assert _growths(source, "app/main.py") == [Growth.REQUEST, Growth.UNKNOWN]
