"""Whether the writes of a function depend on each other (engine.semantic.dependency), read
from the summaries the real walk of a module records: the evidence DAT003 needs to call a
partial write a defect rather than a sequence of valid states."""

from __future__ import annotations

import ast
import textwrap

import pytest

from prodready.engine.module_record import ModuleRecord
from prodready.engine.python import PythonAnalyzer
from prodready.engine.semantic.summary import FunctionSummary
from prodready.model import Profile

HEADER = "from shop.models import Basket, Line, Order, Profile, Stats, Token, User\n\n"


def _record(source: str) -> ModuleRecord:
    text = HEADER + textwrap.dedent(source)
    ctx = PythonAnalyzer([]).analyze(text, ast.parse(text), "shop/services.py", Profile())
    return ctx.facts.record()


def _summary(source: str, name: str = "f") -> FunctionSummary:
    return next(function for function in _record(source).functions if function.name == name)


def _pair(summary: FunctionSummary) -> tuple[str, str]:
    together = summary.writes_together()
    assert together is not None
    return together[0].what, together[1].what


DEPENDENT = {
    "a set deleted and created again in bulk": """
        def f(user, kinds):
            Token.objects.filter(user=user).delete()
            Token.objects.bulk_create([Token(user=user, kind=kind) for kind in kinds])
    """,
    "the existing rows updated in bulk and the missing ones created": """
        def f(user, wanted):
            rows = Token.objects.filter(user=user)
            Token.objects.bulk_update(rows, ["kind"])
            Token.objects.bulk_create([Token(kind=kind) for kind in wanted])
    """,
    "a row saved after the row it was built from is deleted": """
        def f(job_id, build):
            job = Stats.objects.get(id=job_id)
            made, _ = build(job)
            job.delete()
            made.save()
    """,
    "a field set on a saved row copied into another row": """
        def f(basket, gateway):
            basket.reference = gateway.confirm()
            basket.save()
            order = basket.order
            order.reference = basket.reference
            order.save()
    """,
    "the children of the rows updated in bulk, selected by the same ids": """
        def f(order_ids):
            ids = order_ids[:100]
            orders = Order.objects.filter(pk__in=ids)
            Order.objects.bulk_update(orders, ["code"])
            Line.objects.filter(order_id__in=ids).delete()
    """,
    "the later write passes the row the earlier one saved": """
        def f(email):
            user = User(email=email)
            user.save()
            profile = Profile(owner=user)
            profile.save()
    """,
    "the later write selects rows by the object the earlier one created": """
        def f(total):
            order = Order.objects.create(total=total)
            Line.objects.filter(order=order).update(open=False)
    """,
    "data moved out of the row the other write deletes": """
        def f(kept, line):
            kept.quantity += line.quantity
            kept.save()
            line.delete()
    """,
    "both written values carry one input of the function": """
        def f(source, target, amount):
            source.balance -= amount
            source.save()
            target.balance += amount
            target.save()
    """,
    "rows of two models selected by one computed value": """
        def f(run):
            ids = [p.id for p in run.predictions.all()]
            Line.objects.filter(prediction__in=ids).update(prediction=None)
            Stats.objects.filter(prediction__in=ids).delete()
    """,
    "rows of one model deleted and created one by one: a set replaced": """
        def f(user, names):
            Token.objects.filter(user=user).delete()
            for name in names:
                Token.objects.create(user=user, name=name)
    """,
    "a formset's save writes a row per form": """
        def f(form, formset):
            form.save()
            formset.save()
    """,
    "a request rejected after a write": """
        def f(request, project):
            job = Order.objects.create(project=project)
            if not request.data.get("url"):
                raise ValidationError("no url")
            job.url = request.data["url"]
            job.save()
    """,
}

INDEPENDENT = {
    "a row saved after another row's delete, not built from it": """
        def f(job, account):
            job.delete()
            account.active = True
            account.save()
    """,
    "a field set on a saved row copied into a row not reached from it": """
        def f(basket, typed, remember):
            basket.name = typed.strip()
            basket.save()
            profile = Profile(owner=remember)
            profile.name = basket.name
            profile.save()
    """,
    "a field of a saved row the function did not set, copied into another": """
        def f(basket, gateway):
            basket.state = gateway.confirm()
            basket.save()
            order = basket.order
            order.reference = basket.reference
            order.save()
    """,
    "rows deleted and one row created in their place: a rerun repairs it": """
        def f(user):
            Token.objects.filter(user=user).delete()
            Token.objects.create(user=user)
    """,
    "rows deleted and one row created per item of an outer loop: one row replaced": """
        def f(user, kinds):
            for kind in kinds:
                for old in Token.objects.filter(user=user, kind=kind):
                    old.delete()
                Token.objects.create(user=user, kind=kind)
    """,
    "rows of two models marked by the key the function is given": """
        def f(basket_id):
            Basket.objects.filter(pk=basket_id).update(closed=True)
            Line.objects.filter(basket_id=basket_id).update(state="closed")
    """,
    "two rows written with values of their own": """
        def f(user, new_email):
            user.email = new_email
            user.save()
            user.profile.token = ""
            user.profile.save()
    """,
    "the same row written twice": """
        def f(value):
            bucket, created = Token.objects.get_or_create(value=value)
            bucket.tokens -= 1
            bucket.save()
    """,
    "the same row selected by its key": """
        def f(task):
            Order.objects.filter(id=task.id).update(total=1)
            Order.objects.filter(id=task.id).update(open=False)
    """,
    "a pending row, the external call, the result on the row": """
        def f(channel, transport):
            n = Order(channel=channel)
            n.error = "Sending"
            n.save()
            error = ""
            try:
                transport.notify(n)
            except OSError as e:
                error = str(e)
            Order.objects.filter(id=n.id).update(error=error)
            Basket.objects.filter(id=channel.id).update(last_error=error)
    """,
    "a compensating write in an exception handler": """
        def f(form, login):
            user = form.save()
            try:
                login(user)
            except KeyError:
                for twin in User.objects.filter(email=user.email):
                    twin.is_active = False
                    twin.save()
    """,
    "the iterable two loops share is no input of their writes": """
        def f(orders, entries, progress):
            for o in paged(orders, progress):
                o.email = None
                o.save()
            for entry in paged(entries, progress):
                entry.shredded = True
                entry.save()
    """,
    "a comprehension's variable is its own": """
        def f(order, others):
            order.save()
            Line.objects.filter(id__in=[order.pk for order in others]).update(open=False)
    """,
    "values copied out of a saved row through calls": """
        import copy

        def f(form, customer, fields):
            address = form.save()
            profile = Profile(customer=customer)
            for name in fields:
                value = getattr(address, name)
                setattr(profile, name, copy.deepcopy(value))
            profile.save()
    """,
    "the count an update returns is no row, a created row's values no selection": """
        def f():
            for project_id in Basket.objects.values_list("id", flat=True):
                status = Stats.objects.create(project_id=project_id, state="started")
                changed = Line.objects.filter(project_id=project_id).update(project=project_id)
                status.state = "finished"
                status.changed = changed
                status.save()
    """,
    "a ValueError after the write is no request rejected": """
        def f(basket, product):
            if not basket.id:
                basket.save()
            if product is None:
                raise ValueError(product)
            line = basket.lines.first()
            line.quantity += 1
            line.save()
    """,
}


@pytest.mark.parametrize("source", DEPENDENT.values(), ids=DEPENDENT.keys())
def test_dependent_writes(source: str) -> None:
    summary = _summary(source)
    assert summary.writes_together() is not None
    assert not summary.writes_independent


@pytest.mark.parametrize("source", INDEPENDENT.values(), ids=INDEPENDENT.keys())
def test_independent_writes(source: str) -> None:
    summary = _summary(source)
    assert summary.writes_together() is not None
    assert summary.writes_independent


def test_the_pair_named_is_the_first_dependent_one() -> None:
    summary = _summary(
        """
        def f(request, email):
            request.user.save()
            user = User.objects.create(email=email)
            Profile.objects.create(owner=user)
        """
    )
    assert _pair(summary) == ("User.objects...create()", "Profile.objects...create()")
    assert not summary.writes_independent


def test_a_django_rest_framework_view_that_writes_before_validating() -> None:
    summary = _summary(
        """
        from rest_framework import generics

        class Edit(generics.UpdateAPIView):
            def update(self, request, *args, **kwargs):
                item = self.get_object()
                Order.objects.filter(id=item.id).update(editor=request.user)
                item.basket.save()
                return super().update(request, *args, **kwargs)
        """,
        "Edit.update",
    )
    assert not summary.writes_independent


def test_tests_that_pin_one_value_to_different_values_are_exclusive() -> None:
    # ``code`` cannot start with both prefixes: the writes never both run.
    exclusive = _summary(
        """
        def f(code, error):
            if code.startswith("n."):
                Order.objects.filter(code=code[2:]).update(error=error)
            if code.startswith("r.") and error:
                Profile.objects.filter(name=code[2:]).update(paused=True)
        """
    )
    assert exclusive.writes_together() is None
    # Prefixes of each other, or a name the first body assigns, pin nothing.
    prefixes = """
        def f(code, error):
            if code.startswith("n."):
                Order.objects.filter(code=code).update(error=error)
            if code.startswith("n.x"):
                Profile.objects.filter(name=code).update(paused=True)
    """
    reassigned = """
        def f(code, error):
            if code == "n":
                Order.objects.filter(code=code).update(error=error)
                code = "r"
            if code == "r":
                Profile.objects.filter(name=code).update(paused=True)
    """
    assert _summary(prefixes).writes_together() is not None
    assert _summary(reassigned).writes_together() is not None
