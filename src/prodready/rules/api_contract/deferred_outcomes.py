"""API contract: work handed to a queue answered as already done (API007)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleMemo,
    PythonContext,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import constant, constant_str, dotted, keyword_value, walk_body

# -- API007 ---------------------------------------------------------------------------------------

# Methods that hand work to a queue or a later moment and return at once: Celery
# (delay/apply_async/send_task), RQ (enqueue*), arq (enqueue_job), Dramatiq
# (send_with_options), taskiq (kiq), Django-Q (async_task), Starlette/FastAPI BackgroundTasks
# (add_task: it runs after the response is sent).
_ENQUEUE_METHODS = frozenset(
    {
        "delay",
        "apply_async",
        "send_task",
        "enqueue",
        "enqueue_call",
        "enqueue_in",
        "enqueue_at",
        "enqueue_job",
        "send_with_options",
        "kiq",
        "add_task",
    }
)
_ENQUEUE_FUNCTIONS = frozenset({"async_task", "django_q.tasks.async_task"})
_GATE = ("delay(", "apply_async", "send_task", "enqueue", "send_with_options", "kiq(", "add_task")
# Values that state the work is finished, whatever the work was.
_DONE = frozenset({"complete", "completed", "done", "finished", "succeeded", "successful"})
# Past forms of task verbs English does not build with -ed.
_IRREGULAR = {
    "send": ("sent",),
    "pay": ("paid",),
    "build": ("built",),
    "write": ("written", "wrote"),
    "run": ("ran",),
    "make": ("made",),
    "resend": ("resent",),
}
# Task name words that are no action (``task_send_invoice``, ``process_job``'s ``job``).
_NOT_VERBS = frozenset({"task", "tasks", "job", "jobs", "async", "background", "run", "do"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _mentions_enqueue(ctx: PythonContext) -> bool:
    source = ctx.source
    return any(marker in source for marker in _GATE)


_MENTIONS: ModuleMemo[bool] = ModuleMemo("API007:gate", _mentions_enqueue)


def _past_forms(verb: str) -> set[str]:
    """``send`` -> sent, ``bill`` -> billed, ``notify`` -> notified, ``ship`` -> shipped."""
    forms = set(_IRREGULAR.get(verb, ()))
    if verb.endswith("e"):
        forms.add(verb + "d")
    elif verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        forms.add(verb[:-1] + "ied")
    else:
        forms.update({verb + "ed", verb + verb[-1] + "ed"})
    return forms


def _enqueued(call: ast.Call, ctx: PythonContext) -> tuple[str, set[str]] | None:
    """The task a call hands to a queue and the past forms of the verbs its name holds."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in _ENQUEUE_METHODS:
        if func.attr == "add_task" or func.attr.startswith("enqueue") or func.attr == "send_task":
            target = call.args[0] if call.args else None  # queue.enqueue(bill_ride, ride_id)
            task = (constant_str(target) or dotted(target) or "") if target is not None else ""
        else:
            task = dotted(func.value) or ""  # bill_ride.delay(ride_id)
    elif (ctx.qualname(func) or dotted(func) or "") in _ENQUEUE_FUNCTIONS:
        target = call.args[0] if call.args else None
        task = (constant_str(target) or dotted(target) or "") if target is not None else ""
    else:
        return None
    name = task.rsplit(".", 1)[-1]
    words = {w.lower() for w in _WORD.findall(name)} - _NOT_VERBS
    forms: set[str] = set()
    for word in words:
        forms |= _past_forms(word)
    return name or "the task", forms


def _claimed_done(expr: ast.AST | None, forms: set[str]) -> str | None:
    """The completion a returned payload states: a value such as "complete"/"sent" (the past
    of the task's verb), or a key named so set to True (``{"sent": True}``)."""
    if isinstance(expr, ast.Tuple) and expr.elts:  # Flask's (body, status)
        if len(expr.elts) > 1 and constant(expr.elts[1]) == 202:
            return None
        expr = expr.elts[0]
    if isinstance(expr, ast.Call):
        if (constant(keyword_value(expr, "status")) or 200) == 202:
            return None  # 202 Accepted: the answer already says "queued"
        payload = expr.args[0] if expr.args else keyword_value(expr, "content")
        if payload is None:
            payload = keyword_value(expr, "data")
        if payload is None and expr.keywords:  # jsonify(status="sent")
            payload = ast.Dict(
                keys=[ast.Constant(k.arg) for k in expr.keywords if k.arg],
                values=[k.value for k in expr.keywords if k.arg],
            )
        expr = payload
    if not isinstance(expr, ast.Dict):
        return None
    for key, value in zip(expr.keys, expr.values, strict=True):
        word = (constant_str(value) or "").lower()
        if word in _DONE or word in forms:
            return f'"{constant_str(key)}": "{constant_str(value)}"'
        name = (constant_str(key) or "").lower()
        if constant(value) is True and (name in forms or name in _DONE):
            return f'"{constant_str(key)}": True'
    return None


def _states_set_here(function: ast.AST, before: int) -> set[str]:
    """Words the function itself stores before answering (``invoice.status = "sent"``,
    ``.update(status="sent")``): a payload repeating them reports a state already saved."""
    words: set[str] = set()
    for node in walk_body(getattr(function, "body", [])):
        if getattr(node, "lineno", before) >= before:
            continue
        stored = (
            isinstance(node, ast.Assign)
            and not all(isinstance(t, ast.Name) for t in node.targets)  # a field, not a local
        ) or (isinstance(node, ast.keyword) and node.arg is not None)
        if stored:
            words.add((constant_str(getattr(node, "value", None)) or "").lower())
    return words - {""}


def _waited(call: ast.Call, function: ast.AST) -> bool:
    """``task.delay(x).get(timeout=30)`` or a result handle ``.get()``/``.wait()`` later: the
    handler waits for the work, so it may report it."""
    for node in walk_body(getattr(function, "body", [])):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"get", "wait", "join", "result"}
            and (
                node.func.value is call
                or (
                    isinstance(node.func.value, ast.Name)
                    and any(
                        isinstance(a, ast.Assign)
                        and a.value is call
                        and any(
                            isinstance(t, ast.Name) and t.id == node.func.value.id
                            for t in a.targets
                        )
                        for a in walk_body(getattr(function, "body", []))
                    )
                )
            )
        ):
            return True
    return False


@python_rule(
    code="API007",
    name="queued-work-reported-done",
    category=Category.API_CONTRACT,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Handler answers 'complete'/'sent' for work it only handed to a queue",
    nodes=(ast.Return,),
    fix="Answer 202 Accepted with a status the client can poll ({'status': 'queued', "
    "'task_id': ...}); report completion from the worker (a status field, a webhook).",
)
def queued_work_reported_done(node: ast.Return, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags an HTTP handler that hands work to a queue -- Celery `task.delay()`/`apply_async()`,
    RQ `queue.enqueue(fn, ...)`, arq `enqueue_job`, Dramatiq `send_with_options`, taskiq `kiq`,
    Django-Q `async_task`, FastAPI/Starlette `BackgroundTasks.add_task` -- and then answers
    that the work is finished: a payload value `"complete"`/`"completed"`/`"done"`/`"finished"`,
    or the past form of the task's own verb (`send_invoice.delay()` then `{"status": "sent"}`,
    `bill_ride.delay()` then `{"billed": True}`). A handler that waits for the result
    (`.get()`), answers 202, or stores that state itself before answering
    (`invoice.status = "sent"`) is left alone.

    ## Why it breaks production
    The task has not run when the answer leaves: it may wait behind a backlog, fail, be retried
    or be lost with its worker. The client -- and whatever it tells its user -- now believes an
    invoice was sent or a ride billed, never re-checks, and has no way to learn the truth;
    support finds out from the customer.

    ## Example
    ```python
    @app.post("/orders/<int:order_id>/export")
    def export_order(order_id):
        export_to_erp.delay(order_id)
        return jsonify({"export": "completed"})
    ```

    ## Use instead
    ```python
    @app.post("/orders/<int:order_id>/export")
    def export_order(order_id):
        result = export_to_erp.delay(order_id)
        return jsonify({"export": "queued", "task_id": result.id}), 202
    ```
    """
    if ctx.facts.is_test or ctx.function is None or node.value is None:
        return
    if not ctx.memo(_MENTIONS):
        return
    function = ctx.function.node
    if ctx.route is None and not _response_call(node.value):
        return
    for call in walk_body(getattr(function, "body", [])):
        if not isinstance(call, ast.Call) or call.lineno >= node.lineno:
            continue
        found = _enqueued(call, ctx)
        if found is None or _waited(call, function):
            continue
        task, forms = found
        claim = _claimed_done(node.value, forms)
        if claim is None:
            return
        stored = _states_set_here(function, node.lineno)
        if any(part.lower() in stored for part in claim.split('"')[1::2]):
            return  # the handler saved that state itself: the answer reports it
        ctx.report(
            node,
            f"this answer says {{{claim}}}, but {task} was only queued (line {call.lineno}): it "
            "has not run yet and may fail or be lost, while the client now believes it is done. "
            "Answer 202 with a status to poll ('queued', a task id) and report completion from "
            "the worker",
        )
        return


_RESPONSES = frozenset(
    {"jsonify", "JsonResponse", "JSONResponse", "Response", "json_response", "ORJSONResponse"}
)


def _response_call(expr: ast.AST) -> bool:
    return isinstance(expr, ast.Call) and (dotted(expr.func) or "").rsplit(".", 1)[-1] in _RESPONSES
