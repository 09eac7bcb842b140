"""Security: template injection and unescaped HTML (SEC016)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    dotted,
    has_star_kwargs,
    in_service_code,
    is_false,
    is_literal,
    keyword_value,
)
from prodready.plugin.taint import report_deferred, sink_flow
from prodready.rules.security._input_origin import OriginReport
from prodready.rules.security._shared import _pieces

# -- SEC016 ------------------------------------------------------------------------------------

_TEMPLATE_SOURCES = (
    "flask.render_template_string",
    "flask.templating.render_template_string",
    "quart.render_template_string",
    "jinja2.Template",
    "jinja2.environment.Template",
)
_SAFE_MARKUP = (
    "markupsafe.Markup",
    "flask.Markup",
    "jinja2.Markup",
    "django.utils.safestring.mark_safe",
    "django.utils.safestring.SafeString",
    "django.utils.html.format_html",
)
_HTML_RESPONSES = (
    "starlette.responses.HTMLResponse",
    "fastapi.responses.HTMLResponse",
    "django.http.HttpResponse",
    "django.http.response.HttpResponse",
)
_JINJA_ENVIRONMENTS = ("jinja2.Environment", "jinja2.environment.Environment")
_HTML_ESCAPES = frozenset(
    {"markupsafe.escape", "html.escape", "django.utils.html.escape", "flask.escape"}
    | {"jinja2.escape", "escape", "conditional_escape", "django.utils.html.conditional_escape"}
    | {"bleach.clean", "nh3.clean", "clean", "django.utils.html.escapejs", "escapejs"}
    | {"markupsafe.Markup.escape"}
)
_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9-]*[\s>/]|<!--")
_HTML_EVIDENCE = re.compile(r"""\.html?['"]|text/html|HTMLResponse|TemplateResponse""")


def _html_built_from(content: ast.expr, ctx: PythonContext) -> list[ast.expr]:
    """The values interpolated into an HTML string literal (``f"<h1>{name}</h1>"``)."""
    pieces = _pieces(content, ctx, {})
    if not any(isinstance(p, str) and _HTML_TAG.search(p) for p in pieces):
        return []
    return [p for p in pieces if not isinstance(p, str)]


@python_rule(
    code="SEC016",
    name="template-injection-or-xss",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="Request data used as template source or marked safe HTML (SSTI / XSS)",
    calls=(
        *_TEMPLATE_SOURCES,
        "*.from_string",
        *_SAFE_MARKUP,
        *_HTML_RESPONSES,
        *_JINJA_ENVIRONMENTS,
    ),
    nodes=(ast.Return, ModuleEnd),
    cwe=79,
    fix="Keep templates constant and pass data as variables; let autoescaping escape it.",
)
def template_injection_or_xss(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags request data that reaches HTML unescaped or becomes template code:
    - used as the *source* of a template: `render_template_string(tainted)`,
      `jinja2.Template(tainted)`, `env.from_string(tainted)` (server-side template injection);
    - wrapped as safe HTML: `Markup(...)`, Django `mark_safe(...)`/`SafeString(...)`, or used
      in the format string of `format_html(...)` (its arguments are escaped, the format
      string is not);
    - interpolated into an HTML string returned as `HTMLResponse`/`HttpResponse` or from a
      Flask view (reflected XSS);
    - and a `jinja2.Environment(loader=...)` created without `autoescape` (or with
      `autoescape=False`) in a service module that renders HTML templates. Flask's and
      Starlette's own template environments autoescape and are not reported.
    Values passed through `escape()`/`html.escape()`/`bleach.clean()` are fine.
    Evidence tier: a template source read whole from a file (`open(path).read()`,
    `Path(...).read_text()`) whose path request data builds is reported low (confidence low):
    the request picks a file, the project wrote its text -- a path that can leave its directory
    is SEC014's finding.
    Audit tier: a template source no request data is seen reaching but that is not provably
    constant (a helper's parameter, a database row, a call the scan cannot see into) is
    reported at low severity with low confidence, naming the value to check.

    ## Why it breaks production
    Template source from the request runs on the server: `{{ cycler.__init__.__globals__.os
    .popen('id').read() }}` is remote code execution. Unescaped request data in a page runs
    the attacker's JavaScript in your users' sessions (stolen sessions, actions on their
    behalf); a link is enough to deliver it.

    ## Example
    ```python
    @app.get("/hello")
    def hello():
        name = request.args.get("name", "")
        return render_template_string(f"<h1>Hello {name}</h1>")
    ```

    ## Use instead
    ```python
    @app.get("/hello")
    def hello():
        name = request.args.get("name", "")
        return render_template_string("<h1>Hello {{ name }}</h1>", name=name)
    ```
    Create Jinja environments with `autoescape=select_autoescape()`.
    """
    if isinstance(node, ast.Module):
        report_deferred(ctx)
        _report_environments(ctx)
        return
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Return):
        _flask_html_return(node, ctx)
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    short = name.rsplit(".", 1)[-1] if name else "from_string"
    if name in _JINJA_ENVIRONMENTS:
        if not has_star_kwargs(node):
            ctx.rule_state(list[ast.Call], module=True).append(node)
        return
    source_argument = argument(node, 0, "source")
    if name in _TEMPLATE_SOURCES or (
        isinstance(node.func, ast.Attribute) and node.func.attr == "from_string"
    ):
        if name not in _TEMPLATE_SOURCES and not _jinja_receiver(node.func, ctx):
            return
        if source_argument is None or is_literal(source_argument):
            return

        def report_ssti(source: str) -> None:
            ctx.report(
                node,
                f"{short}() compiles a template whose source comes from {source}: template "
                "syntax in it runs on the server, e.g. {{ cycler.__init__.__globals__.os"
                ".popen('id').read() }} (server-side template injection, CWE-1336). Keep the "
                "template constant and pass the data as variables",
                severity=Severity.CRITICAL,
            )

        def audit(part: str) -> None:
            ctx.report(
                node,
                f"{short}() compiles a template whose source is {part}, which is not provably "
                "constant; no request data was seen reaching it. Check who writes that text: "
                "template syntax in it runs on the server (server-side template injection). "
                "Keep templates in files the code names, or render user text in a "
                "SandboxedEnvironment",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )

        def report_picked_file(source: str) -> None:
            # Evidence tier: the request chooses which file is read, the text is the file's.
            ctx.report(
                node,
                f"{short}() compiles a template read from a file whose path is built from "
                f"{source}: the request picks the file, it does not write the text -- unless "
                "that path can leave its directory for a file a client wrote (see SEC014). "
                "Check that only the project writes the files it can name",
                severity=Severity.LOW,
                confidence=Confidence.LOW,
            )

        picked = _file_content(source_argument, ctx)
        request = report_picked_file if picked else report_ssti
        OriginReport(node, ctx, request=request, audit=audit).run([source_argument])
        return
    if name in _SAFE_MARKUP:
        content = argument(node, 0, "format_string" if short == "format_html" else "s")
        if content is None or is_literal(content):
            return
        pieces = _pieces(content, ctx, {})
        values = [p for p in pieces if not isinstance(p, str)]
        what = "the format string of format_html()" if short == "format_html" else f"{short}()"

        def report_safe(source: str) -> None:
            ctx.report(
                node,
                f"{what} marks HTML built from {source} as safe: its <script> runs in your "
                "users' browsers (cross-site scripting). Escape the value "
                '(format_html("<b>{}</b>", value), Markup("<b>%s</b>") % value) or let the '
                "template autoescape it",
            )

        sink_flow(values, ctx, report_safe, sanitizers=_HTML_ESCAPES, web_only=True)
        return
    if name in _HTML_RESPONSES:
        content = argument(node, 0, "content")
        if content is None or is_literal(content):
            return
        values = _html_built_from(content, ctx)

        def report_html(source: str) -> None:
            ctx.report(
                node,
                f"{short} returns HTML built from {source} without escaping it: a <script> in "
                "the value runs in your users' browsers (reflected cross-site scripting). "
                "Render a template (autoescaped) or html.escape() the value",
            )

        sink_flow(values, ctx, report_html, sanitizers=_HTML_ESCAPES, web_only=True)


_FILE_OPENERS = frozenset({"builtins.open", "io.open", "codecs.open"})
_FILE_READS = frozenset({"read", "read_text", "read_bytes"})


def _file_content(expr: ast.expr, ctx: PythonContext, depth: int = 0) -> bool:
    """``expr`` is the text of a file read whole (``open(p).read()``, ``Path(p).read_text()``,
    ``handle.read()`` of ``with open(p) as handle``): what data reaches it chose the file."""
    if depth > 4:
        return False
    if isinstance(expr, ast.Name):
        value = ctx.value_of(expr.id)
        return value is not None and value is not expr and _file_content(value, ctx, depth + 1)
    if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Attribute):
        return False
    if expr.func.attr not in _FILE_READS:
        return False
    if expr.func.attr != "read":
        return True  # ``Path.read_text()``: a path's whole text
    opened = expr.func.value
    if isinstance(opened, ast.Name):
        opened = ctx.value_of(opened.id) or opened
    return isinstance(opened, ast.Call) and ctx.qualname(opened.func) in _FILE_OPENERS


def _jinja_receiver(func: ast.expr, ctx: PythonContext) -> bool:
    if not isinstance(func, ast.Attribute):
        return False
    receiver = (ctx.qualname(func.value) or dotted(func.value) or "").lower()
    return "jinja" in receiver or receiver.rsplit(".", 1)[-1] in {"env", "environment"}


def _flask_html_return(node: ast.Return, ctx: PythonContext) -> None:
    """A Flask view returning an f-string of HTML: Flask serves a str as text/html."""
    route = ctx.route
    if route is None or route.framework not in {"flask", "quart"} or node.value is None:
        return
    if not isinstance(node.value, ast.JoinedStr | ast.BinOp | ast.Call | ast.Name):
        return
    values = _html_built_from(node.value, ctx)
    if not values:
        return

    def report(source: str) -> None:
        ctx.report(
            node,
            f"the view returns HTML built from {source} without escaping it: Flask serves it "
            "as text/html and a <script> in the value runs in your users' browsers "
            "(reflected cross-site scripting). Use render_template() or markupsafe.escape()",
        )

    sink_flow(values, ctx, report, sanitizers=_HTML_ESCAPES, web_only=True)


def _report_environments(ctx: PythonContext) -> None:
    environments: list[ast.Call] = ctx.rule_state(list, module=True)
    if not environments or not in_service_code(ctx):
        return
    if not _HTML_EVIDENCE.search(ctx.source):
        return  # templates for e-mails, prompts or config files: not a page
    for call in environments:
        if keyword_value(call, "loader") is None:
            continue  # ``Environment().from_string(...)`` for text snippets, not pages
        autoescape = keyword_value(call, "autoescape")
        if isinstance(autoescape, ast.Name):
            autoescape = ctx.value_of(autoescape.id) or autoescape
        if autoescape is not None and not is_false(autoescape):
            continue
        what = "autoescape=False" if autoescape is not None else "no autoescape"
        ctx.report(
            call,
            f"jinja2.Environment() with {what} in a module that renders HTML: every "
            "{{ value }} from a request is inserted into the page unescaped (cross-site "
            "scripting). Pass autoescape=select_autoescape() (or True)",
            confidence=Confidence.MEDIUM,
        )
