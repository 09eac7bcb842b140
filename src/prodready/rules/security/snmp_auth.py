"""Security: SNMP spoken without authentication or without encryption (SEC056)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument

# pysnmp's high-level API names the same classes from several modules (classic ``hlapi``, the
# asyncio and v1arch/v3arch layouts of pysnmp 6/7, the ``auth`` submodules).
_HLAPI_MODULES = (
    "pysnmp.hlapi",
    "pysnmp.hlapi.auth",
    "pysnmp.hlapi.asyncio",
    "pysnmp.hlapi.asyncio.auth",
    "pysnmp.hlapi.v1arch",
    "pysnmp.hlapi.v1arch.auth",
    "pysnmp.hlapi.v1arch.asyncio",
    "pysnmp.hlapi.v1arch.asyncio.auth",
    "pysnmp.hlapi.v3arch",
    "pysnmp.hlapi.v3arch.auth",
    "pysnmp.hlapi.v3arch.asyncio",
    "pysnmp.hlapi.v3arch.asyncio.auth",
)
_COMMUNITY = tuple(f"{module}.CommunityData" for module in _HLAPI_MODULES)
_USM_USER = tuple(f"{module}.UsmUserData" for module in _HLAPI_MODULES)
# ``mpModel``: 0 is SNMPv1, 1 (the default) SNMPv2c -- both send the community in clear text.
_COMMUNITY_MODELS = {0: "SNMPv1", 1: "SNMPv2c"}


def _absent_or_none(expr: ast.expr | None) -> bool:
    return expr is None or (isinstance(expr, ast.Constant) and expr.value is None)


@python_rule(
    code="SEC056",
    name="snmp-without-authentication",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="SNMP with a community string (v1/v2c) or an SNMPv3 user without auth/privacy keys",
    calls=(*_COMMUNITY, *_USM_USER),
    cwe=319,
    fix='Use SNMPv3 with both keys: UsmUserData("monitor", auth_key, priv_key, '
    "authProtocol=usmHMACSHAAuthProtocol, privProtocol=usmAesCfb128Protocol).",
)
def snmp_without_authentication(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags pysnmp credentials that leave SNMP unauthenticated or unencrypted:
    `CommunityData(...)` with `mpModel=0` (SNMPv1) or `mpModel=1`/none (SNMPv2c, the
    default), and `UsmUserData(user)` without an authentication key (noAuthNoPriv) or with
    one but without a privacy key (authNoPriv) -- in every module layout of pysnmp's
    high-level API (`pysnmp.hlapi`, `.asyncio`, `.v1arch`, `.v3arch`, `.auth`).

    ## Why it breaks production
    SNMPv1 and v2c send the community string -- the only credential -- in clear text in every
    packet: anyone on the path reads it and can then query (or, with a write community,
    reconfigure) the device. An SNMPv3 user without an authentication key is not
    authenticated at all; without a privacy key everything the agent answers (interface
    tables, routes, sometimes configuration) crosses the network readable.

    ## Example
    ```python
    auth = CommunityData("monitoring", mpModel=1)
    ```

    ## Use instead
    ```python
    auth = UsmUserData(
        "monitor",
        os.environ["SNMP_AUTH_KEY"],
        os.environ["SNMP_PRIV_KEY"],
        authProtocol=usmHMACSHAAuthProtocol,
        privProtocol=usmAesCfb128Protocol,
    )
    ```
    """
    if not isinstance(node, ast.Call):
        return
    name = ctx.call_name or ""
    if name in _COMMUNITY:
        model = argument(node, 2, "mpModel")
        if model is None:
            version = _COMMUNITY_MODELS[1]
        elif isinstance(model, ast.Constant) and isinstance(model.value, int):
            version = _COMMUNITY_MODELS.get(model.value, "")
            if not version:
                return
        else:
            return
        ctx.report(
            node,
            f"CommunityData() speaks {version}: the community string, its only credential, "
            "crosses the network in clear text in every request, and nothing authenticates "
            "the manager. Use SNMPv3 (UsmUserData with an authentication and a privacy key)",
        )
        return
    if any(isinstance(arg, ast.Starred) for arg in node.args) or any(
        keyword.arg is None for keyword in node.keywords
    ):
        return  # ``UsmUserData(*credentials)``: the keys cannot be read here
    auth_key = argument(node, 1, "authKey")
    priv_key = argument(node, 2, "privKey")
    if _absent_or_none(auth_key):
        ctx.report(
            node,
            "UsmUserData() without an authentication key is SNMPv3 noAuthNoPriv: requests "
            "are neither authenticated nor encrypted, anyone who knows the user name is "
            "served. Pass an authentication and a privacy key",
        )
    elif _absent_or_none(priv_key):
        ctx.report(
            node,
            "UsmUserData() without a privacy key is SNMPv3 authNoPriv: every answer of the "
            "agent crosses the network unencrypted. Pass a privacy key (privProtocol AES)",
        )
