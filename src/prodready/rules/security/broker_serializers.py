"""Security: task queues configured to accept pickle (SEC041)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, dotted

# -- SEC041 ------------------------------------------------------------------------------------

# Celery settings (new lower-case names, old upper-case ones, Django's CELERY_ namespace) whose
# value is a serializer name or a list of accepted content types.
_SERIALIZER_SETTINGS = frozenset(
    {"task_serializer", "result_serializer", "event_serializer", "accept_content"}
    | {"result_accept_content", "celery_task_serializer", "celery_result_serializer"}
    | {"celery_event_serializer", "celery_accept_content", "celery_result_accept_content"}
)
# Keyword arguments naming a serializer or the accepted formats in Celery/Kombu calls:
# ``@app.task(serializer="pickle")``, ``apply_async(serializer=...)``, kombu
# ``Producer(serializer=...)``, ``producer.publish(..., serializer=...)``, ``Consumer(accept=...)``.
_SERIALIZER_KEYWORDS = frozenset({"serializer", "accept"}) | _SERIALIZER_SETTINGS
_PICKLE_NAMES = frozenset({"pickle", "application/x-python-serialize"})
_CALLS = (
    *("*.update", "*.task", "*.shared_task", "celery.shared_task", "*.apply_async"),
    *("*.publish", "kombu.Producer", "kombu.Consumer", "*.Producer", "*.Consumer"),
    *("dramatiq.set_encoder", "celery.Celery", "*.config_from_object"),
)
_PICKLE_ENCODERS = frozenset({"dramatiq.PickleEncoder", "dramatiq.encoder.PickleEncoder"})


def _names_pickle(expr: ast.AST | None) -> bool:
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return any(_names_pickle(element) for element in expr.elts)
    return (constant_str(expr) or "").lower() in _PICKLE_NAMES


def _setting_name(target: ast.expr) -> str | None:
    """``CELERY_TASK_SERIALIZER``, ``app.conf.task_serializer``, ``conf["accept_content"]``."""
    if isinstance(target, ast.Name):
        return target.id.lower()
    if isinstance(target, ast.Attribute):
        return target.attr.lower()
    if isinstance(target, ast.Subscript):
        key = constant_str(target.slice)
        return key.lower() if key is not None else None
    return None


@python_rule(
    code="SEC041",
    name="task-queue-accepts-pickle",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Celery/Kombu/Dramatiq configured to serialize or accept pickle messages",
    calls=_CALLS,
    nodes=(ast.Assign, ast.Dict, ModuleEnd),
    cwe=502,
    fix='task_serializer = "json"; result_serializer = "json"; accept_content = ["json"].',
)
def task_queue_accepts_pickle(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags task queues set up to exchange pickle: Celery settings `task_serializer`,
    `result_serializer`, `event_serializer`, `accept_content`, `result_accept_content` (and
    their `CELERY_*` names) set to or including `"pickle"` -- as module settings, `app.conf`
    attributes, `app.conf.update(...)` or a configuration dict -- `serializer="pickle"` on
    `@app.task`, `apply_async` and Kombu producers, `accept=["pickle"]` on Kombu consumers,
    and Dramatiq's `PickleEncoder`. One finding per module, on the first such setting.

    ## Why it breaks production
    Workers unpickle every message they accept. Anyone who can write to the broker -- a Redis
    without a password, a shared RabbitMQ vhost, a compromised neighbour service -- can queue
    a message whose unpickling runs their code inside every worker, with the workers'
    credentials. Celery made JSON the default for this reason; pickle also breaks when the
    task's classes change between deploys.

    ## Example
    ```python
    CELERY_TASK_SERIALIZER = "pickle"
    CELERY_ACCEPT_CONTENT = ["pickle", "json"]
    ```

    ## Use instead
    ```python
    CELERY_TASK_SERIALIZER = "json"
    CELERY_RESULT_SERIALIZER = "json"
    CELERY_ACCEPT_CONTENT = ["json"]  # pass ids, load the rows in the task
    ```
    """
    if ctx.facts.is_test:
        return
    found: list[tuple[ast.expr | ast.stmt, str]] = ctx.rule_state(list, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if found:
            first, what = min(found, key=lambda place: place[0].lineno)
            lines = sorted({place.lineno for place, _ in found} - {first.lineno})
            also = f" (also line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})"
            ctx.report(
                first,
                f"{what} makes workers unpickle messages{also if lines else ''}: anyone who can "
                "write to the broker runs code in every worker. Use JSON and accept only JSON",
            )
        return
    if isinstance(node, ast.Assign):
        for target in node.targets:
            name = _setting_name(target)
            if name in _SERIALIZER_SETTINGS and _names_pickle(node.value):
                found.append((node, f"{ctx.segment(target)} = pickle"))
        return
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            name = (constant_str(key) or "").lower()
            if name in _SERIALIZER_SETTINGS and _names_pickle(value):
                found.append((key if key is not None else value, f"{name}: pickle"))
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name == "dramatiq.set_encoder":
        encoder = node.args[0] if node.args else None
        if isinstance(encoder, ast.Call) and ctx.qualname(encoder.func) in _PICKLE_ENCODERS:
            found.append((node, "dramatiq.set_encoder(PickleEncoder())"))
        return
    for keyword in node.keywords:
        if keyword.arg in _SERIALIZER_KEYWORDS and _names_pickle(keyword.value):
            callee = dotted(node.func) or name
            found.append((keyword.value, f"{callee}({keyword.arg}=pickle)"))
