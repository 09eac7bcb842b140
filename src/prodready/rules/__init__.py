"""The built-in rule catalog: one module per category, plus one per non-Python file kind.

It registers through the same public mechanism as third-party packs (the ``prodready.rules``
entry-point group points at ``BUILTIN_PACK``).
"""

from prodready.engine.registry import RulePack

BUILTIN_MODULES = (
    "prodready.rules.concurrency.async_state",
    "prodready.rules.concurrency.blocking_in_async",
    "prodready.rules.concurrency.idempotency",
    "prodready.rules.concurrency.message_acks",
    "prodready.rules.concurrency.races",
    "prodready.rules.data_access.connections",
    "prodready.rules.data_access.orm_in_responses",
    "prodready.rules.data_access.queries_in_loops",
    "prodready.rules.data_access.transactions",
    "prodready.rules.data_access.unbounded_queries",
    "prodready.rules.observability.exception_logging",
    "prodready.rules.observability.health_endpoint",
    "prodready.rules.observability.metrics",
    "prodready.rules.observability.print_output",
    "prodready.rules.observability.request_ids",
    "prodready.rules.observability.structured_logging",
    "prodready.rules.performance.blocking_handlers",
    "prodready.rules.performance.clients_per_request",
    "prodready.rules.performance.queryset_len",
    "prodready.rules.performance.remote_calls_in_loops",
    "prodready.rules.performance.whole_file_reads",
    "prodready.rules.resilience.client_timeouts",
    "prodready.rules.resilience.fallbacks",
    "prodready.rules.resilience.graceful_shutdown",
    "prodready.rules.resilience.http_timeouts",
    "prodready.rules.resilience.queues",
    "prodready.rules.resilience.retry_decorators",
    "prodready.rules.resilience.retry_loops",
    "prodready.rules.security.admin_auth",
    "prodready.rules.security.code_eval",
    "prodready.rules.security.cors",
    "prodready.rules.security.debug_mode",
    "prodready.rules.security.deserialization",
    "prodready.rules.security.insecure_random",
    "prodready.rules.security.jwt_tokens",
    "prodready.rules.security.logged_secrets",
    "prodready.rules.security.open_redirect",
    "prodready.rules.security.passwords",
    "prodready.rules.security.path_traversal",
    "prodready.rules.security.secrets",
    "prodready.rules.security.shell_injection",
    "prodready.rules.security.sql",
    "prodready.rules.security.ssrf",
    "prodready.rules.security.templates",
    "prodready.rules.security.tls_verification",
    "prodready.rules.api_contract",
    "prodready.rules.configuration",
    "prodready.rules.dockerfile",
    "prodready.rules.error_handling",
    "prodready.rules.kubernetes",
    "prodready.rules.manifests",
    "prodready.rules.state",
    # Dependency validation's project rules live beside its analysis (prodready.deps).
    "prodready.deps.declared",
    "prodready.deps.existence",
    "prodready.deps.vulnerable",
)

BUILTIN_PACK = RulePack.from_modules("builtin", *BUILTIN_MODULES)
