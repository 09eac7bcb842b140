"""Security: eval/exec of dynamic input (SEC012)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import is_literal
from prodready.plugin.taint import report_deferred
from prodready.rules.security._input_origin import OriginReport

# -- SEC012 ------------------------------------------------------------------------------------


@python_rule(
    code="SEC012",
    name="eval-of-dynamic-input",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="eval/exec/compile of data that comes from a request, the network or a cache",
    calls=("builtins.eval", "builtins.exec", "builtins.compile"),
    nodes=(ModuleEnd,),
    cwe=95,
    fix="Parse data, do not run it: json.loads, ast.literal_eval, or a small expression parser.",
)
def eval_of_dynamic_input(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags `eval()`, `exec()` and `compile()` of values that come from outside the process:
    request data, parameters of an HTTP handler, HTTP responses, socket reads, message payloads
    or cache reads, followed through local variables and helper functions of the module (also
    a helper that evaluates its parameter when a handler passes request data to it). Code
    generation from constants -- as ORMs and dataclass-like libraries do -- is not reported.
    Audit tier: text no outside data is seen reaching but that is not provably constant (a
    helper's parameter, `input()`, `sys.argv`, a call the scan cannot see into) is reported at
    low severity with low confidence, naming the value to check.

    ## Why it breaks production
    `eval` of client input is remote code execution: `__import__('os').system('...')` runs with
    the service's credentials. Restricting `__builtins__` does not help -- sandbox escapes
    through `().__class__.__mro__` are well known.

    ## Example
    ```python
    @app.get("/calc")
    def calc(expr: str):
        return {"result": eval(expr)}
    ```

    ## Use instead
    ```python
    @app.get("/calc")
    def calc(expr: str):
        return {"result": safe_arithmetic(expr)}  # an ast-based evaluator of + - * / only
    ```
    For literals (numbers, lists, dicts) use `ast.literal_eval`; for data use `json.loads`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        return
    if ctx.facts.is_test or not isinstance(node, ast.Call) or not node.args:
        return
    code = node.args[0]
    if is_literal(code):
        return
    if isinstance(code, ast.Call) and ctx.qualname(code.func) == "builtins.compile":
        return  # ``exec(compile(text, ...))``: the compile() call is reported for its text
    name = (ctx.call_name or "eval").rsplit(".", 1)[-1]

    def report(source: str) -> None:
        ctx.report(
            node,
            f"{name}() of {source}: whoever controls it runs arbitrary code in this process. "
            "Parse the data instead (json.loads, ast.literal_eval, a whitelisted expression "
            "parser)",
        )

    def audit(part: str) -> None:
        ctx.report(
            node,
            f"{name}() of {part}, which is not provably constant; no request data was seen "
            "reaching it. Check who chooses that text: if anyone but the code's authors can, "
            "they run arbitrary code in this process. Parse data instead of running it "
            "(json.loads, ast.literal_eval)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )

    # downloaded or cached code counts too: it is run
    OriginReport(node, ctx, request=report, audit=audit, web_only=False).run([code])
