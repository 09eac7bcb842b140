"""Security: TLS connections allowed to use broken protocol versions (SEC023)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import constant_str, is_true, keyword_value

# -- SEC023 ------------------------------------------------------------------------------------

# Protocol constants that pin a connection to one broken version (the stdlib's fixed-version
# constants, pyOpenSSL's fixed-version methods).
_WEAK_PROTOCOLS = {
    "ssl.PROTOCOL_SSLv2": "SSLv2",
    "ssl.PROTOCOL_SSLv3": "SSLv3",
    "ssl.PROTOCOL_TLSv1": "TLS 1.0",
    "ssl.PROTOCOL_TLSv1_1": "TLS 1.1",
    "OpenSSL.SSL.SSLv2_METHOD": "SSLv2",
    "OpenSSL.SSL.SSLv3_METHOD": "SSLv3",
    "OpenSSL.SSL.TLSv1_METHOD": "TLS 1.0",
    "OpenSSL.SSL.TLSv1_1_METHOD": "TLS 1.1",
}
# Versions that, as a minimum, let a connection fall back to a broken protocol.
_WEAK_VERSIONS = {
    "ssl.TLSVersion.SSLv3": "SSLv3",
    "ssl.TLSVersion.TLSv1": "TLS 1.0",
    "ssl.TLSVersion.TLSv1_1": "TLS 1.1",
    "ssl.TLSVersion.MINIMUM_SUPPORTED": "the oldest version the OpenSSL build supports",
    "OpenSSL.SSL.SSL3_VERSION": "SSLv3",
    "OpenSSL.SSL.TLS1_VERSION": "TLS 1.0",
    "OpenSSL.SSL.TLS1_1_VERSION": "TLS 1.1",
}
# pyOpenSSL calls that make a negotiating method safe by refusing the old versions.
_VERSION_LIMITS = frozenset({"set_min_proto_version", "set_options"})


# Calls that ask about a constant rather than use it (version and feature probes).
_PROBES = frozenset({"builtins.hasattr", "builtins.getattr", "builtins.isinstance"})


def _chooses_protocol(node: ast.Attribute, ctx: PythonContext) -> bool:
    """The constant is the protocol of a connection: an argument (``SSLContext(PROTOCOL_TLSv1)``,
    ``ssl_version=PROTOCOL_TLSv1``), a parameter's default, or the value assigned to a name,
    an attribute or an option slot (``kwargs["ssl_version"] = ...``) -- not a key or value of
    a translation table between libraries, a comparison or a probe; one finding per
    statement."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.keyword):
        parent = ctx.parent(parent)
        chosen = isinstance(parent, ast.Call)
    elif isinstance(parent, ast.Call):
        chosen = node in parent.args
    elif isinstance(parent, ast.arguments):
        chosen = True  # a parameter's default: the protocol unless a caller picks another
    elif isinstance(parent, ast.Assign | ast.AnnAssign) and parent.value is node:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        chosen = all(
            isinstance(t, ast.Name | ast.Attribute)
            or (isinstance(t, ast.Subscript) and constant_str(t.slice) is not None)
            for t in targets
        )
    else:
        chosen = False
    if not chosen or parent is None:
        return False
    if isinstance(parent, ast.Call) and (ctx.qualname(parent.func) or "") in _PROBES:
        return False
    reported: set[int] = ctx.rule_state(set)
    line = node.lineno
    if line in reported:
        return False
    reported.add(line)
    return True


def _weak_version(expr: ast.expr | None, ctx: PythonContext) -> str | None:
    if isinstance(expr, ast.Attribute | ast.Name):
        return _WEAK_VERSIONS.get(ctx.qualname(expr) or "")
    return None


def _limits_versions(ctx: PythonContext) -> bool:
    """The enclosing function (or module) limits the versions a pyOpenSSL context accepts."""
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in _VERSION_LIMITS
        for n in ast.walk(scope)
    )


@python_rule(
    code="SEC023",
    name="weak-tls-version",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="TLS pinned to or allowed down to SSLv2/SSLv3/TLS 1.0/1.1, or ssl.wrap_socket()",
    calls=("ssl.wrap_socket", "OpenSSL.SSL.Context", "*.set_min_proto_version"),
    nodes=(ast.Assign,),
    attributes=(*_WEAK_PROTOCOLS, *_WEAK_VERSIONS),
    cwe=327,
    fix="ctx = ssl.create_default_context(); ctx.minimum_version = ssl.TLSVersion.TLSv1_2",
)
def weak_tls_version(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags TLS set up with a broken protocol version: the fixed-version constants
    `ssl.PROTOCOL_SSLv2/SSLv3/TLSv1/TLSv1_1` and pyOpenSSL's `SSLv2/SSLv3/TLSv1/TLSv1_1_METHOD`;
    a context's `minimum_version` (or `maximum_version`) set to `TLSVersion.SSLv3/TLSv1/
    TLSv1_1/MINIMUM_SUPPORTED` (also urllib3's `ssl_minimum_version=`/`ssl_maximum_version=`
    keywords, as requests adapters pass them), or pyOpenSSL's
    `set_min_proto_version(TLS1_VERSION)`; and
    `ssl.wrap_socket()`, which builds a context that checks neither the certificate nor the
    host name and was removed in Python 3.12. pyOpenSSL's `SSLv23_METHOD` (any version the
    OpenSSL build allows) is reported low when the code sets no minimum version or
    `OP_NO_*` options. Test files are skipped.

    ## Why it breaks production
    SSLv2 and SSLv3 are broken (DROWN, POODLE); TLS 1.0 and 1.1 were deprecated by RFC 8996
    (BEAST, weak MAC and key-exchange suites). A connection pinned to them either fails
    against servers and load balancers that refuse them -- most do now -- or, when it
    succeeds, can be decrypted or downgraded by anyone on the path. `ssl.wrap_socket()` also
    accepts any certificate, and the code stops running on the first Python upgrade.

    ## Example
    ```python
    context = ssl.SSLContext(ssl.PROTOCOL_TLSv1)
    conn = context.wrap_socket(socket.create_connection((host, 443)), server_hostname=host)
    ```

    ## Use instead
    ```python
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    conn = context.wrap_socket(socket.create_connection((host, 443)), server_hostname=host)
    ```
    """
    if ctx.facts.is_test:
        return
    if isinstance(node, ast.Attribute):
        qualified = ctx.qualname(node) or ""
        if qualified in _WEAK_VERSIONS:
            _version_keyword(node, _WEAK_VERSIONS[qualified], ctx)
            return
        version = _WEAK_PROTOCOLS.get(qualified)
        if version is not None and _chooses_protocol(node, ctx):
            fix = (
                "Use SSL.TLS_CLIENT_METHOD/TLS_SERVER_METHOD with "
                "set_min_proto_version(SSL.TLS1_2_VERSION)"
                if qualified.startswith("OpenSSL.")
                else "Use ssl.create_default_context() (or PROTOCOL_TLS_CLIENT) with "
                "minimum_version = TLSVersion.TLSv1_2"
            )
            ctx.report(
                node,
                f"{ctx.segment(node)} pins the connection to {version}, a broken protocol "
                "version: servers that refuse it fail the handshake, and a connection that "
                f"succeeds can be decrypted or downgraded. {fix}",
            )
        return
    if isinstance(node, ast.Assign):
        _version_assignment(node, ctx)
        return
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name == "ssl.wrap_socket":
        _wrap_socket(node, ctx)
    elif name == "OpenSSL.SSL.Context":
        method = node.args[0] if node.args else keyword_value(node, "method")
        if (
            isinstance(method, ast.Attribute | ast.Name)
            and ctx.qualname(method) == "OpenSSL.SSL.SSLv23_METHOD"
            and not _limits_versions(ctx)
        ):
            ctx.report(
                node,
                "OpenSSL.SSL.Context(SSLv23_METHOD) accepts every protocol version the "
                "OpenSSL build allows, down to TLS 1.0 (SSLv3 on old builds), and nothing "
                "here sets a minimum. Use TLS_CLIENT_METHOD/TLS_SERVER_METHOD with "
                "context.set_min_proto_version(OpenSSL.SSL.TLS1_2_VERSION)",
                severity=Severity.LOW,
                confidence=Confidence.MEDIUM,
            )
    elif node.args:  # ``context.set_min_proto_version(SSL.TLS1_VERSION)``
        version = _weak_version(node.args[0], ctx)
        if version is not None:
            ctx.report(
                node,
                f"set_min_proto_version() lets the connection fall back to {version}, a broken "
                "protocol version. Use OpenSSL.SSL.TLS1_2_VERSION",
            )


# urllib3's pool and context keywords (requests passes them through its adapters).
_VERSION_KEYWORDS = frozenset({"ssl_minimum_version", "ssl_maximum_version"})


def _version_keyword(node: ast.Attribute, version: str, ctx: PythonContext) -> None:
    """``PoolManager(ssl_minimum_version=TLSVersion.TLSv1)``: the pool's version bound."""
    parent = ctx.parent(node)
    if not isinstance(parent, ast.keyword) or parent.arg not in _VERSION_KEYWORDS:
        return
    _report_version_bound(node, parent.arg, node, version, ctx)


def _report_version_bound(
    node: ast.AST, bound: str, value: ast.expr, version: str, ctx: PythonContext
) -> None:
    effect = "lets it fall back to" if "minimum" in bound else "caps it at"
    ctx.report(
        node,
        f"{bound} = {ctx.segment(value)} {effect} {version}, a broken "
        "protocol version (RFC 8996): the connection can be decrypted or downgraded. "
        "Use ssl.TLSVersion.TLSv1_2 as the minimum",
    )


def _version_assignment(node: ast.Assign, ctx: PythonContext) -> None:
    version = _weak_version(node.value, ctx)
    if version is None:
        return
    for target in node.targets:
        key = constant_str(target.slice) if isinstance(target, ast.Subscript) else None
        if key in _VERSION_KEYWORDS:  # ``kwargs["ssl_minimum_version"] = ...`` in an adapter
            _report_version_bound(node, key, node.value, version, ctx)
            return
        if isinstance(target, ast.Attribute) and target.attr in {
            "minimum_version",
            "maximum_version",
        }:
            effect = "lets it fall back to" if target.attr == "minimum_version" else "caps it at"
            ctx.report(
                node,
                f"{target.attr} = {ctx.segment(node.value)} {effect} {version}, a broken "
                "protocol version (RFC 8996): the connection can be decrypted or downgraded. "
                "Use ssl.TLSVersion.TLSv1_2 as the minimum",
            )
            return


def _wrap_socket(node: ast.Call, ctx: PythonContext) -> None:
    if is_true(keyword_value(node, "server_side")):
        ctx.report(
            node,
            "ssl.wrap_socket() was removed in Python 3.12 (the service stops starting on the "
            "upgrade) and sets no minimum protocol version. Build an "
            "ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), load_cert_chain() and use "
            "context.wrap_socket(sock, server_side=True)",
            severity=Severity.MEDIUM,
        )
        return
    cert_reqs = keyword_value(node, "cert_reqs")
    if cert_reqs is not None:
        if (ctx.qualname(cert_reqs) or "").endswith("CERT_NONE"):
            return  # verification explicitly off: SEC009's finding
        # With CERT_REQUIRED the host name is still never checked.
        reason = "never checks that the certificate belongs to the host"
    else:
        reason = "accepts any certificate (cert_reqs defaults to CERT_NONE) for any host"
    ctx.report(
        node,
        f"ssl.wrap_socket() {reason}, so anyone on the path can impersonate the server, and it "
        "was removed in Python 3.12. Use ssl.create_default_context().wrap_socket(sock, "
        "server_hostname=host)",
    )
