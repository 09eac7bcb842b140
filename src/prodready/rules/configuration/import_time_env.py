"""Configuration: environment read at import time without validation (CFG006)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    constant_str,
    dotted,
    env_lookup,
    in_service_code,
    loaded_names,
)

# -- CFG006 -----------------------------------------------------------------------------------

# Names of settings a service cannot run without, and of ones that are optional by design.
_REQUIRED_SETTING = re.compile(
    r"(^|_)(URL|URI|HOST|HOSTNAME|KEY|TOKEN|SECRET|PASSWORD|PASSWD|USER|USERNAME|BUCKET|QUEUE"
    r"|TOPIC|ENDPOINT|DATABASE|DB|REGION|ACCOUNT|ID|ARN|SERVERS|BROKER|WEBHOOK)(_|$)",
    re.IGNORECASE,
)
_OPTIONAL_SETTING = re.compile(
    r"PROXY|SENTRY|DSN|DEBUG|LOG|VERBOSE|OPTIONAL|FLAG|ENABLE|DISABLE|EXTRA|OVERRIDE|TEST"
    r"|DEV|LOCAL|SENTINEL|FALLBACK|DEFAULT|MOCK|FAKE|PROFILE|TRACE|OTEL",
    re.IGNORECASE,
)


@python_rule(
    code="CFG006",
    name="env-read-at-import-without-validation",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    summary="Required setting read at import with os.getenv() and used later unchecked (None)",
    nodes=(ast.Assign, ast.AnnAssign, ModuleEnd),
    fix='Fail at startup: X = os.environ["X"], or a pydantic BaseSettings field without a default.',
)
def env_read_at_import_without_validation(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags module-level `X = os.getenv("X")` / `os.environ.get("X")` without a default in
    service code, for settings a service needs (URLs, hosts, keys, tokens, buckets, ids...),
    when functions of the module use `X` and nothing checks it (no `if not X: raise`, no
    `assert X`, no comparison, not handed to a validating call at import). Optional settings
    (proxies, Sentry DSNs, debug and feature flags) are skipped; `os.environ["X"]` is the fix,
    not a finding.

    ## Why it breaks production
    `os.getenv` returns `None` for a missing variable and the service starts anyway. The
    mistake -- a typo in the manifest, a secret not mounted -- surfaces later, inside a
    request: `"Bearer " + None` raises `TypeError`, `f"Bearer {TOKEN}"` sends `Bearer None`
    and gets a 401, a client connects to a default host. Instead of a pod that refuses to
    start (and a rollout that stops), you get a healthy-looking deployment failing some of its
    requests with a confusing error.

    ## Example
    ```python
    PAYMENTS_TOKEN = os.getenv("PAYMENTS_TOKEN")

    def charge(amount: int):
        headers = {"Authorization": "Bearer " + PAYMENTS_TOKEN}
        return http.post(PAYMENTS_URL, json={"amount": amount}, headers=headers, timeout=5)
    ```

    ## Use instead
    ```python
    PAYMENTS_TOKEN = os.environ["PAYMENTS_TOKEN"]  # KeyError at startup when missing
    ```
    Or declare it in a pydantic `BaseSettings` class without a default, loaded at startup.
    """
    pending: dict[str, ast.Call] = ctx.rule_state(dict, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if pending and in_service_code(ctx):
            _report_unchecked_settings(pending, ctx)
        return
    if ctx.function is not None or ctx.classes or ctx.facts.is_test:
        return
    if isinstance(node, ast.Assign):
        if len(node.targets) != 1:
            return
        target = node.targets[0]
    else:
        assert isinstance(node, ast.AnnAssign)
        annotation = ctx.segment(node.annotation)
        if "None" in annotation or "Optional" in annotation:
            return  # declared optional
        target = node.target
    if not isinstance(target, ast.Name) or node.value is None:
        return
    lookup = env_lookup(node.value, ctx)
    if (
        lookup is None
        or lookup.default is not None
        or lookup.cast is not None
        or not lookup.callee.startswith("os.")
        or lookup.name is None
    ):
        pending.pop(target.id, None)
        return
    if not _REQUIRED_SETTING.search(target.id) or _OPTIONAL_SETTING.search(target.id):
        return
    if _OPTIONAL_SETTING.search(lookup.name):
        return
    pending[target.id] = lookup.call


_TEST_FIELDS: dict[type, tuple[str, ...]] = {
    ast.If: ("test",),
    ast.While: ("test",),
    ast.Assert: ("test",),
    ast.IfExp: ("test",),
    ast.BoolOp: ("values",),
    ast.Compare: ("left", "comparators"),
    ast.comprehension: ("ifs",),
}


def _report_unchecked_settings(pending: dict[str, ast.Call], ctx: PythonContext) -> None:
    """One pass over the module (only for modules with candidates): a candidate is reported
    when a function uses it and nothing tests it, reassigns it or hands it to a call at import."""
    wanted = set(pending)
    checked: set[str] = set()
    used_later: set[str] = set()
    for statement in ctx.tree.body:
        deferred = isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        for child in ast.walk(statement):
            fields = _TEST_FIELDS.get(child.__class__)
            if fields is not None:
                for name in fields:
                    value = getattr(child, name)
                    for part in value if isinstance(value, list) else [value]:
                        checked |= loaded_names(part) & wanted
                continue
            if isinstance(child, ast.Name) and child.id in wanted:
                if not isinstance(child.ctx, ast.Load):
                    if child is not _assigned_name(statement):
                        checked.add(child.id)  # reassigned somewhere: not just the lookup
                elif deferred:
                    used_later.add(child.id)
            elif isinstance(child, ast.Call) and not deferred:
                arguments = [*child.args, *(k.value for k in child.keywords)]
                for argument_node in arguments:
                    if isinstance(argument_node, ast.Name) and argument_node.id in wanted:
                        checked.add(argument_node.id)  # validated or fails fast at import
            elif isinstance(child, ast.JoinedStr) and not deferred:
                used_later |= loaded_names(child) & wanted  # "Bearer None" built at import
    for name, call in pending.items():
        if name in used_later and name not in checked:
            variable = constant_str(call.args[0]) or name
            ctx.report(
                call,
                f"{name} is read with {dotted(call.func)}() at import and used later without a "
                "check: when the variable is missing the service starts anyway and fails "
                f"inside a request on None. Use os.environ['{variable}'] (or a validated "
                "settings class) so it fails at startup",
            )


def _assigned_name(statement: ast.stmt) -> ast.expr | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return statement.targets[0]
    if isinstance(statement, ast.AnnAssign):
        return statement.target
    return None
