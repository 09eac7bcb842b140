"""Security: TLS certificate verification turned off (SEC009)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Role, Severity, python_rule
from prodready.plugin.analysis import (
    argument,
    constant_str,
    dotted,
    is_false,
    is_script,
    name_words,
    path_role,
)

# -- SEC009 ------------------------------------------------------------------------------------

_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "send")
_TLS_CALLS = (
    *(f"*.{method}" for method in (*_HTTP_METHODS, "stream", "ws_connect")),
    "requests.*",
    "httpx.*",
    "aiohttp.*",
    "urllib3.*",
    "ssl.wrap_socket",
    "requests.packages.urllib3.disable_warnings",
)
_OPTION_PARAMETER_WORDS = frozenset(
    {"verify", "insecure", "cert", "certs", "ssl", "tls", "hostname", "reqs", "unverified"}
)


def _false_value(expr: ast.expr | None, ctx: PythonContext) -> bool:
    if isinstance(expr, ast.Name):
        expr = ctx.value_of(expr.id)
    return is_false(expr)


def _cert_none(expr: ast.expr | None, ctx: PythonContext) -> bool:
    if expr is None:
        return False
    if constant_str(expr) == "CERT_NONE":
        return True
    return (
        (ctx.qualname(expr) or "").endswith("CERT_NONE")
        if isinstance(expr, ast.Attribute | ast.Name)
        else False
    )


# What a class name says when it offers itself as the unverified variant of something
# (``NoVerificationEmailBackend``, ``InsecureSession``, ``UnverifiedAdapter``), compared with
# the lowercased name without underscores.
_UNVERIFIED_NAME_MARKERS = ("insecure", "unverified", "noverif", "skipverif", "withoutverif")


def _declared_unverified_alternative(ctx: PythonContext) -> str | None:
    """The class around the code when it is an opt-in alternative nothing here selects: it
    derives from another class (the verifying component it stands in for), its name says it
    does not verify, and this module never uses it -- whoever selects it (an operator's
    ``EMAIL_BACKEND``, a caller elsewhere) does so by a name that says so. The scan cannot see
    that selection, so it cannot tell whether production connects without verification."""
    if not ctx.classes:
        return None
    node = ctx.classes[-1].node
    compact = node.name.lower().replace("_", "")
    if not node.bases or not any(marker in compact for marker in _UNVERIFIED_NAME_MARKERS):
        return None
    used = any(
        isinstance(use, ast.Name) and use.id == node.name and isinstance(use.ctx, ast.Load)
        for use in ast.walk(ctx.tree)
    )
    return None if used else node.name


def _report_disabled(node: ast.AST, ctx: PythonContext, message: str) -> None:
    """Report at the rule's severity, or low when the code is an opt-in alternative the
    module does not select (see :func:`_declared_unverified_alternative`) or a command-line
    script's (see :func:`_operator_script`)."""
    if _operator_script(ctx):
        ctx.report(
            node,
            f"{message}. This is a command-line script, not the deployed service: the "
            "connection is the operator's (still exposing whatever credentials it sends)",
            severity=Severity.LOW,
            confidence=Confidence.LOW,
        )
        return
    alternative = _declared_unverified_alternative(ctx)
    if alternative is None:
        ctx.report(node, message)
        return
    ctx.report(
        node,
        f"{message}. This is in `{alternative}`, a class whose name offers it as the "
        "unverified alternative: nothing in this module selects it and the scan cannot tell "
        "whether a setting does -- make sure no production setting names it",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )


def _operator_script(ctx: PythonContext) -> bool:
    """A script an operator runs from a terminal (``scripts/``, ``bin/``, a CLI tool), not a
    management command: those run against production as the service does."""
    return is_script(ctx) and path_role(ctx.path) not in (Role.MANAGEMENT_COMMAND, Role.MIGRATION)


def _verification_is_an_option(ctx: PythonContext) -> bool:
    """The enclosing function takes a verification setting (``def make_context(verify)``):
    turning checks off there implements the caller's choice."""
    scope = ctx.function
    if scope is None:
        return False
    return any(set(name_words(arg.arg)) & _OPTION_PARAMETER_WORDS for arg in scope.params)


@python_rule(
    code="SEC009",
    name="tls-verification-disabled",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="TLS certificate verification turned off (verify=False, CERT_NONE, unverified context)",
    calls=_TLS_CALLS,
    nodes=(ast.Assign,),
    attributes=("ssl._create_unverified_context",),
    cwe=295,
    fix="Keep verification on; for a private CA pass verify='/path/to/ca-bundle.pem'.",
)
def tls_verification_disabled(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags code that turns off TLS certificate checks: `verify=False` on `requests`/`httpx`
    calls, clients and sessions (`session.verify = False`), aiohttp `ssl=False` /
    `verify_ssl=False`, `cert_reqs=ssl.CERT_NONE`, `ssl._create_unverified_context()`, and SSL
    contexts given `check_hostname = False` or `verify_mode = ssl.CERT_NONE`.
    `urllib3.disable_warnings()` is reported with low severity. Functions that take a
    verification setting as a parameter (clients implementing a `verify=` option) and test
    files are skipped.

    Evidence tier: code inside a class that offers itself as the unverified alternative to
    another class -- it has a base and its name says it does not verify
    (`NoVerificationEmailBackend(EmailBackend)`, `InsecureSession(requests.Session)`) -- and
    that its own module never uses is reported low (confidence low): it runs only when
    something selects it by that name, an operator's setting (`EMAIL_BACKEND`) or a caller
    elsewhere, which the scan cannot see. Used in its module, it is reported as usual. Code of
    a command-line script (a file in `scripts/` or `bin/`, a module that imports a CLI library
    and declares no routes) is reported low, confidence low: its connections are the operator's
    (a release upload), not the deployed service's; management commands keep the usual report.

    ## Why it breaks production
    Without certificate verification, anyone on the network path -- a compromised proxy, a
    malicious Wi-Fi, a neighbour in the cloud VPC, DNS spoofing -- can impersonate the upstream,
    read the API keys and customer data you send and return whatever responses they like. The
    connection still looks encrypted, so nothing in monitoring shows it.

    ## Example
    ```python
    resp = requests.post(f"{BILLING_URL}/charges", json=charge, verify=False, timeout=10)
    ```

    ## Use instead
    ```python
    resp = requests.post(
        f"{BILLING_URL}/charges", json=charge, verify="/etc/ssl/billing-ca.pem", timeout=10
    )
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Attribute):
        if not _verification_is_an_option(ctx):
            _report_disabled(
                node,
                ctx,
                "ssl._create_unverified_context() skips certificate and hostname checks: any "
                "machine on the path can impersonate the server. Use ssl.create_default_context()",
            )
        return
    if isinstance(node, ast.Assign):
        _tls_assignment(node, ctx)
        return
    assert isinstance(node, ast.Call)
    name = ctx.call_name or ""
    if name.endswith("disable_warnings"):
        if name.startswith(("urllib3.", "requests.packages.urllib3.")):
            category = argument(node, 0, "category")
            if category is None or (dotted(category) or "").endswith("InsecureRequestWarning"):
                ctx.report(
                    node,
                    "InsecureRequestWarning silenced: the warning exists because some request "
                    "skips certificate verification -- fix that request instead",
                    severity=Severity.LOW,
                    confidence=Confidence.MEDIUM,
                )
        return
    if not node.keywords:
        return
    for item in node.keywords:
        if item.arg not in _TLS_KEYWORDS:
            continue
        if item.arg == "verify" and _false_value(item.value, ctx):
            message = "verify=False turns off certificate verification"
        elif item.arg == "verify_ssl" and _false_value(item.value, ctx):
            message = "verify_ssl=False turns off certificate verification"
        elif item.arg == "ssl" and _false_value(item.value, ctx) and _aiohttp_call(name, ctx):
            message = "ssl=False turns off certificate verification"
        elif item.arg in {"cert_reqs", "verify_mode"} and _cert_none(item.value, ctx):
            message = f"{item.arg}=CERT_NONE turns off certificate verification"
        else:
            continue
        if _verification_is_an_option(ctx):
            return
        _report_disabled(
            node,
            ctx,
            f"{message}: anyone on the network path can impersonate the server and read or "
            "change the traffic. Keep verification on (verify='/path/ca.pem' for a private CA)",
        )
        return


_TLS_KEYWORDS = frozenset({"verify", "verify_ssl", "ssl", "cert_reqs", "verify_mode"})


def _aiohttp_call(name: str, ctx: PythonContext) -> bool:
    return name.startswith("aiohttp.") or "aiohttp" in ctx.facts.frameworks


def _tls_assignment(node: ast.Assign, ctx: PythonContext) -> None:
    for target in node.targets:
        if not isinstance(target, ast.Attribute):
            continue
        attr = target.attr
        if attr == "verify" and _false_value(node.value, ctx):
            owner = (ctx.qualname(target.value) or dotted(target.value) or "").lower()
            if not any(word in owner for word in ("session", "client", "requests", "httpx")):
                continue
            message = f"{dotted(target) or 'session.verify'} = False turns off certificate checks"
        elif attr == "verify_mode" and _cert_none(node.value, ctx):
            message = "verify_mode = CERT_NONE turns off certificate verification"
        elif attr == "check_hostname" and _false_value(node.value, ctx):
            owner = ctx.qualname(target.value) or ""
            if not owner.startswith("ssl."):
                continue
            message = "check_hostname = False accepts any valid certificate for any host"
        elif attr == "cert_reqs" and _cert_none(node.value, ctx):
            message = "cert_reqs = CERT_NONE turns off certificate verification"
        else:
            continue
        if _verification_is_an_option(ctx):
            return
        reported: set[str] = ctx.rule_state(set)
        owner_text = dotted(target.value) or ""
        if owner_text in reported:
            return  # ``check_hostname = False`` then ``verify_mode = CERT_NONE``: one finding
        reported.add(owner_text)
        _report_disabled(
            node,
            ctx,
            f"{message}: anyone on the network path can impersonate the server. Keep the "
            "default verification (load a private CA with load_verify_locations())",
        )
        return
