"""Security: logins over protocols that send credentials in clear text (SEC059)."""

from __future__ import annotations

import ast

from prodready.plugin import Category, Confidence, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str
from prodready.rules.security._fixed_values import unfixed_part

# Client classes whose connection carries the login and every byte after it unencrypted, and
# the method that upgrades the connection to TLS when the protocol has one.
_CLEARTEXT_CLIENTS = {
    "telnetlib.Telnet": ("Telnet", None),
    "ftplib.FTP": ("FTP", None),
    "poplib.POP3": ("POP3", "stls"),
    "imaplib.IMAP4": ("IMAP4", "starttls"),
}
_TLS_ALTERNATIVE = {
    "Telnet": "SSH (paramiko, asyncssh)",
    "FTP": "ftplib.FTP_TLS (then prot_p()) or SFTP",
    "POP3": "poplib.POP3_SSL",
    "IMAP4": "imaplib.IMAP4_SSL",
}
_LOOPBACK = ("localhost", "127.", "::1", "[::1]")


def _upgraded(method: str | None, ctx: PythonContext) -> bool:
    """The module upgrades a connection to TLS (``imap.starttls()``, ``pop.stls()``)."""
    return method is not None and f".{method}(" in ctx.source


@python_rule(
    code="SEC059",
    name="cleartext-protocol-login",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    summary="Telnet, FTP, POP3 or IMAP4 connection to a remote host without TLS",
    calls=tuple(_CLEARTEXT_CLIENTS),
    cwe=319,
    fix="Use the TLS variant: ftplib.FTP_TLS, poplib.POP3_SSL, imaplib.IMAP4_SSL, or SSH.",
)
def cleartext_protocol_login(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags a connection opened with `telnetlib.Telnet(host)`, `ftplib.FTP(host)`,
    `poplib.POP3(host)` or `imaplib.IMAP4(host)` -- clients without encryption -- unless the
    host is a loopback address or the module upgrades the connection (`starttls()`,
    `stls()`). A literal remote host is reported at medium severity; a host the scan cannot
    read (configuration, a parameter) at the audit tier (low severity, low confidence),
    since it may be a loopback or tunnelled address. A client created without a host does
    not connect yet and is not reported.

    ## Why it breaks production
    These protocols send the user name, the password and every byte after them in clear
    text: anyone on the network path -- a shared VPC, a compromised router, a coffee-shop
    Wi-Fi of an on-call laptop -- reads the credentials and can log in as the service, and
    can alter the files or mail in transit.

    ## Example
    ```python
    def fetch_invoices() -> None:
        ftp = ftplib.FTP("ftp.partner.example")
        ftp.login("billing", os.environ["FTP_PASSWORD"])
    ```

    ## Use instead
    ```python
    def fetch_invoices() -> None:
        ftp = ftplib.FTP_TLS("ftp.partner.example")
        ftp.login("billing", os.environ["FTP_PASSWORD"])
        ftp.prot_p()
    ```
    """
    if ctx.facts.is_test or not isinstance(node, ast.Call):
        return
    client, upgrade = _CLEARTEXT_CLIENTS[ctx.call_name or ""]
    host = argument(node, 0, "host")
    if host is None or _upgraded(upgrade, ctx):
        return
    literal = constant_str(host)
    alternative = _TLS_ALTERNATIVE[client]
    if literal is not None:
        if not literal or literal.startswith(_LOOPBACK):
            return  # no network between the two ends
        ctx.report(
            node,
            f"{client}() connects to {literal} without encryption: the login and everything "
            f"after it cross the network in clear text for anyone on the path to read and "
            f"alter. Use {alternative}",
        )
        return
    part = unfixed_part(host, ctx) or f"`{ast.unparse(host)}`"
    ctx.report(
        node,
        f"{client}() connects to the host in {part} without encryption; whether that host is "
        "remote could not be proven. If it is, the login and everything after it cross the "
        f"network in clear text. Use {alternative}",
        severity=Severity.LOW,
        confidence=Confidence.LOW,
    )
