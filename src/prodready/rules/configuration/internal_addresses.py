"""Configuration: internal service addresses hard-coded in service code (CFG007)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import (
    Category,
    Confidence,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Role,
    Severity,
    python_rule,
)
from prodready.plugin.analysis import (
    constant_str,
    dotted,
    env_lookup,
    is_example_code,
    is_framework_source,
    is_script,
    path_role,
)
from prodready.rules.configuration._connection_hosts import (
    connection_string_host,
    credential_reported_elsewhere,
    without_password,
)
from prodready.rules.configuration._shared import _dev_only_file
from prodready.rules.configuration.localhost_urls import (
    _CLIENT_HOST_ARGS,
    _HOST_KEYS,
    _HOST_KEYWORDS,
    _dependency_host_name,
    _LocalCandidate,
    _localhost_use,
)

# -- CFG007 -----------------------------------------------------------------------------------

# Addresses that only resolve or route inside one network: RFC 1918 ranges and the DNS
# suffixes private zones, Kubernetes, Consul and mDNS use.
_PRIVATE_IP = r"(?:10\.\d{1,3}|172\.(?:1[6-9]|2\d|3[01])|192\.168)\.\d{1,3}\.\d{1,3}"
_INTERNAL_SUFFIX = (
    r"(?:[a-z0-9-]+\.)+(?:internal|local|lan|corp|intra|intranet|svc|consul|private|home\.arpa)"
)
# A one-label service name with a port (``http://pricing:8081``, ``amqp://rabbitmq:5672``): a
# Compose or Kubernetes service, resolvable only beside it. Without a port a one-label host is
# as often the start of a name completed at run time (``"https://bedrock-runtime." + region``).
_SERVICE_LABEL = (
    r"(?!(?:localhost|host|hostname|server|example|domain|your\w*|my\w*)\b)[a-z][a-z0-9_-]*"
)
_SERVICE_NAME = _SERVICE_LABEL + r"(?=:\d)"
# Network schemes only: a custom scheme (``bank://``, ``app://``) names no server.
_SCHEMES = (
    r"(?:https?|wss?|grpcs?|tcp|amqps?|redis|rediss|kafka|nats|mqtt|smtps?|ldaps?|s?ftp"
    r"|memcached|mongodb(?:\+srv)?|mysql|mariadb|postgres(?:ql)?|clickhouse|elasticsearch"
    r"|cassandra|mssql|oracle)(?:\+[a-z0-9]+)?"
)
_INTERNAL_URL = re.compile(
    rf"^{_SCHEMES}://(?:[^/@\s]*@)?(?P<host>{_PRIVATE_IP}|{_INTERNAL_SUFFIX}|{_SERVICE_NAME})"
    r"(?=[:/?#]|$)",
    re.IGNORECASE,
)
# A bare host: judged only where a host goes (a client's host argument, a HOST setting, a
# ``REDIS_HOST = ...`` constant), where a one-label name is a Compose/Kubernetes service.
_INTERNAL_BARE_HOST = re.compile(
    rf"^(?P<host>{_PRIVATE_IP}|{_INTERNAL_SUFFIX}|{_SERVICE_LABEL})(?::\d+)?$"
)
# Hosts the platform fixes, the same in every project, cluster and environment: the cloud
# instance metadata service (GCE's names for it; AWS and Azure use the link-local
# 169.254.169.254, no private range) and the Kubernetes API service every pod can reach.
# Nothing about them changes between staging and production.
_PLATFORM_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog"}
    | {"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
)
_GATE = re.compile(
    r"\b(?:10|192\.168|172\.(?:1[6-9]|2\d|3[01]))\.\d|\.(?:internal|local|lan|corp|svc)\b"
)


def _mentions_address(ctx: PythonContext) -> bool:
    # Substring tests first: one regex of alternatives tried at every offset of the source
    # was 3% of a Django scan, and most modules pass on "host" or "://" alone.
    source = ctx.source
    if "://" in source or "host" in source or "HOST" in source:
        return True
    # Each match of ``_GATE`` contains one of these: without them it need not scan the source.
    return any(part in source for part in _GATE_PARTS) and bool(_GATE.search(source))


_GATE_PARTS = ("10.", "192.168.", "172.", ".internal", ".local", ".lan", ".corp", ".svc")


_MENTIONS_ADDRESS: ModuleMemo[bool] = ModuleMemo("CFG007:gate", _mentions_address)


def _internal_host(text: str) -> tuple[str, bool] | None:
    """The internal host a literal addresses and whether it is a bare host (no scheme)."""
    # A URL match needs its "://": the many literals without one are not matched against it.
    match = _INTERNAL_URL.match(text) if "://" in text else None
    if match is not None:
        return match["host"], False
    match = _INTERNAL_BARE_HOST.match(text)
    if match is not None:
        return match["host"], True
    host = connection_string_host(text) if "=" in text else None
    if host is not None and re.fullmatch(rf"{_PRIVATE_IP}|{_INTERNAL_SUFFIX}", host, re.I):
        return host, False  # ``"dbname=app host=10.0.3.12"``: a host by its key
    return None


@python_rule(
    code="CFG007",
    name="hardcoded-internal-address",
    category=Category.CONFIGURATION,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    # A management command (cron job, month-end run) talks to the production services: an
    # address pinned in it is as wrong in staging as one in a view.
    roles=(Role.SERVICE, Role.MANAGEMENT_COMMAND),
    summary="Address of an internal service (private IP, *.internal, cluster name) in the code",
    nodes=(ast.Constant, ModuleEnd),
    fix="Read the address from configuration (os.environ['PRICING_URL']) and fail at startup "
    "when it is missing.",
)
def hardcoded_internal_address(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags the addresses of other services written into service code when they only exist
    inside one network: URLs and hosts on private IP ranges (`http://10.2.0.8:9000/track`,
    `192.168.x.x`, `172.16-31.x.x`), internal DNS zones (`*.internal`, `*.local`, `*.svc`,
    `*.consul`, `*.corp`, `*.lan`), and one-label service names in URLs
    (`http://pricing:8081/quote`, `amqp://rabbitmq/`) -- as module constants, arguments of
    HTTP and database clients, `host=` of clients, connection-setting dicts and return
    values, and the host of a libpq/ODBC keyword connection string (`"host=10.0.3.12
    dbname=app"`, `"Server=sql01.corp;Database=app"`). A connection string with a password is
    left to SEC002/CFG002 when they report that password; a user name repeated as password
    (`app:app@db.internal`), which they take for a developer default, still names a hard-coded
    address here. As the fallback of an environment lookup or a settings default it is reported at
    low severity. Hosts the platform fixes everywhere -- the cloud metadata service
    (`metadata.google.internal`), the Kubernetes API (`kubernetes.default.svc`) -- are not
    reported. Localhost is CFG001; log messages, docstrings, comparisons, allow-lists,
    `__main__` blocks, scripts, tests and dev/local/test settings files are skipped; Django
    management commands are not (they run in the deployed environment, against its services).

    ## Why it breaks production
    The address is right in exactly one environment. Staging calls the production pricing
    service (or production a test one); moving a service, a new namespace or a new IP plan
    needs a code change and a redeploy; and a plain-http internal hop is pinned in code where
    nobody reviewing the deployment sees it.

    ## Example
    ```python
    PRICING_URL = "http://pricing.internal.svc:8081/v1/quote"
    CARRIERS = {"dhl": "http://10.2.0.8:9000/dhl-proxy/track"}
    ```

    ## Use instead
    ```python
    PRICING_URL = os.environ["PRICING_URL"]  # fails at startup when unset
    CARRIERS = {"dhl": settings.dhl_proxy_url}
    ```
    """
    if isinstance(node, ast.Constant):
        # The hot path (every literal of the module): the cheapest tests first.
        value = node.value
        if value.__class__ is str and len(value) < 300 and ctx.memo(_MENTIONS_ADDRESS):
            found = _internal_host(value)
            if found is not None:
                host, bare = found
                state: list[tuple[_LocalCandidate, str]] = ctx.rule_state(list, module=True)
                state.append((_LocalCandidate(node, bare), host))
        return
    if not ctx.memo(_MENTIONS_ADDRESS):
        return
    candidates: list[tuple[_LocalCandidate, str]] = ctx.rule_state(list, module=True)
    # ModuleEnd: imports and routes are complete, so the module's kind is known.
    if not candidates:
        return
    if ctx.facts.is_test or _operator_script(ctx) or is_framework_source(ctx):
        return
    if _dev_only_file(ctx) or is_example_code(ctx):
        return
    parents = ctx.parents()
    # One finding per kind and module: moving a module's addresses to configuration is one
    # change, and the other lines are named in the message.
    by_verdict: dict[str, list[tuple[ast.Constant, str]]] = {"hardcoded": [], "fallback": []}
    for candidate, host in candidates:
        if host.lower() in _PLATFORM_HOSTS:
            continue  # the platform's own endpoint: one address in every environment
        verdict = _localhost_use(candidate, parents, ctx)
        if credential_reported_elsewhere(str(candidate.node.value), fallback=verdict == "fallback"):
            continue  # its password is SEC002's (literal) or CFG002's (fallback) finding
        if verdict is not None and candidate.bare and "." not in host:
            # a one-label name ("redis", "db") is an address only where a host goes
            verdict = verdict if _host_position(candidate.node, parents, ctx) else None
        if verdict is not None:
            by_verdict[verdict].append((candidate.node, host))
    for verdict, places in by_verdict.items():
        if places:
            _report(verdict, sorted(places, key=lambda place: place[0].lineno), ctx)


def _operator_script(ctx: PythonContext) -> bool:
    """A script an operator runs by hand or from a developer's machine -- not a Django
    management command, which runs in the deployed environment against its services."""
    return is_script(ctx) and path_role(ctx.path) is not Role.MANAGEMENT_COMMAND


def _host_position(node: ast.Constant, parents: dict[int, ast.AST], ctx: PythonContext) -> bool:
    """``Redis(host="redis")``, ``{"HOST": "db"}``, ``REDIS_HOST = "redis"``,
    ``os.getenv("DB_HOST", "db")``."""
    parent = parents.get(id(node))
    if isinstance(parent, ast.keyword):
        return parent.arg in _HOST_KEYWORDS
    if isinstance(parent, ast.Dict):
        return constant_str(parent.keys[parent.values.index(node)]) in _HOST_KEYS
    if isinstance(parent, ast.Assign):
        return any(_dependency_host_name(dotted(target)) for target in parent.targets)
    if isinstance(parent, ast.Call):
        lookup = env_lookup(parent, ctx)
        if lookup is not None:
            return lookup.default is node and _dependency_host_name(lookup.name)
        return parent.args[:1] == [node] and (ctx.qualname(parent.func) or "") in _CLIENT_HOST_ARGS
    return False


def _report(verdict: str, places: list[tuple[ast.Constant, str]], ctx: PythonContext) -> None:
    literal, host = places[0]
    others = sorted({node.lineno for node, _ in places[1:]} - {literal.lineno})
    also = f" (also line{'s' if len(others) > 1 else ''} {', '.join(map(str, others))})"
    also = also if others else ""
    text = without_password(str(literal.value))
    if verdict == "fallback":
        ctx.report(
            literal,
            f"'{text}' is a fallback default{also}: when the setting is missing the service "
            f"silently calls {host}, an address of one particular network. Require the "
            "variable instead (fail at startup)",
            severity=Severity.LOW,
        )
        return
    ctx.report(
        literal,
        f"'{text}' is hardcoded{also}: {host} is an internal address of one environment, so "
        "staging and production call the same host and moving the service needs a redeploy. "
        "Read it from configuration",
    )
