"""Security: SSH connections that accept any server host key (SEC028)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, has_keyword, is_none, keyword_value

# -- SEC028 ------------------------------------------------------------------------------------

_TRUSTING_POLICIES = {
    f"paramiko.{module}{policy}": policy
    for module in ("", "client.")
    for policy in ("AutoAddPolicy", "WarningPolicy")
}
_HOST_KEY_LOADERS = frozenset({"load_system_host_keys", "load_host_keys"})
_ASYNCSSH_CONNECTS = frozenset(
    {"asyncssh.connect", "asyncssh.connection.connect", "asyncssh.SSHClientConnectionOptions"}
)


def _policy(expr: ast.expr | None, ctx: PythonContext) -> str | None:
    """The trusting policy ``expr`` names: the class or an instance of it (through a name
    bound to one in the function or module)."""
    if isinstance(expr, ast.Name):
        bound = ctx.value_of(expr.id)
        if bound is not None:
            expr = bound
    if isinstance(expr, ast.Call):
        expr = expr.func
    if isinstance(expr, ast.Name | ast.Attribute):
        return _TRUSTING_POLICIES.get(ctx.qualname(expr) or "")
    return None


def _loads_known_hosts(node: ast.Call, ctx: PythonContext) -> bool:
    """The client loads a known_hosts file in the same function (or module): hosts already
    in it are checked, only unknown ones are trusted on first use."""
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    receiver_name = ast.dump(receiver) if receiver is not None else None
    scope = ctx.function.node if ctx.function is not None else ctx.tree
    for call in ast.walk(scope):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _HOST_KEY_LOADERS
            and ast.dump(call.func.value) == receiver_name
        ):
            return True
    return False


@python_rule(
    code="SEC028",
    name="ssh-host-key-not-verified",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    summary="SSH client accepts any server host key (paramiko AutoAddPolicy, asyncssh "
    "known_hosts=None)",
    calls=("*.set_missing_host_key_policy", *_ASYNCSSH_CONNECTS),
    cwe=295,
    fix="Load the host keys you trust (client.load_host_keys(path) or load_system_host_keys()) "
    "and keep paramiko's default RejectPolicy.",
)
def ssh_host_key_not_verified(node: ast.Call, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags SSH clients that trust whatever host key the server presents: paramiko's
    `set_missing_host_key_policy(AutoAddPolicy())` or `WarningPolicy()` (class or instance),
    and asyncssh's `connect(..., known_hosts=None)`. When the same client loads a known_hosts
    file first (`load_system_host_keys()`/`load_host_keys()`), hosts already listed are still
    checked and only unknown hosts are trusted on first use: reported medium. Test files are
    skipped.

    ## Why it breaks production
    The host key is the only thing that proves the service is talking to the real server.
    Without it, anyone on the network path -- a compromised router, a spoofed DNS answer, a
    rogue container on the same bridge -- can answer in its place, receive the password or
    the commands the service sends (deploy scripts, backup uploads, database dumps) and
    return whatever output it likes. `WarningPolicy` only logs the unknown key and connects.

    ## Example
    ```python
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(backup_host, username="backup", key_filename=KEY_PATH)
    ```

    ## Use instead
    ```python
    client = paramiko.SSHClient()
    client.load_host_keys(KNOWN_HOSTS_PATH)  # RejectPolicy (the default) refuses others
    client.connect(backup_host, username="backup", key_filename=KEY_PATH)
    ```
    """
    if ctx.facts.is_test:
        return
    callee = ctx.call_name or ctx.qualname(node.func) or ""
    if callee in _ASYNCSSH_CONNECTS:
        if has_keyword(node, "known_hosts") and is_none(keyword_value(node, "known_hosts")):
            ctx.report(
                node,
                "known_hosts=None turns off asyncssh's server host key check: anyone on the "
                "network path can answer in the server's place and receive the credentials "
                "and commands. Pass a known_hosts file (or a list of trusted keys)",
            )
        return
    policy = _policy(argument(node, 0, "policy"), ctx)
    if policy is None:
        return
    if _loads_known_hosts(node, ctx):
        ctx.report(
            node,
            f"{policy} trusts any server not already in the loaded known_hosts file: a host "
            "missing from it (a new server, a renamed one) is accepted on first use with "
            "whatever key answers. Keep RejectPolicy and list every host's key",
            severity=Severity.MEDIUM,
        )
        return
    accepts = (
        "logs the unknown key and connects anyway"
        if policy == "WarningPolicy"
        else ("accepts and stores any key")
    )
    ctx.report(
        node,
        f"{policy} {accepts}: anyone on the network path can answer in the server's place "
        "and receive the credentials and commands (man-in-the-middle). Load trusted host keys "
        "(load_host_keys()) and keep the default RejectPolicy",
    )
