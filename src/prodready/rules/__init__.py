"""The built-in rule catalog: one module per category, plus one per non-Python file kind.

It registers through the same public mechanism as third-party packs (the ``prodready.rules``
entry-point group points at ``BUILTIN_PACK``).
"""

from prodready.engine.registry import RulePack

BUILTIN_MODULES = (
    "prodready.rules.resilience",
    "prodready.rules.error_handling",
    "prodready.rules.security",
    "prodready.rules.observability",
    "prodready.rules.data_access",
    "prodready.rules.concurrency",
    "prodready.rules.state",
    "prodready.rules.api_contract",
    "prodready.rules.configuration",
    "prodready.rules.performance",
    "prodready.rules.dockerfile",
    "prodready.rules.kubernetes",
    "prodready.rules.manifests",
    "prodready.rules.project",
    # Dependency validation's project rules live beside its analysis (prodready.deps).
    "prodready.deps.declared",
    "prodready.deps.existence",
    "prodready.deps.vulnerable",
)

BUILTIN_PACK = RulePack.from_modules("builtin", *BUILTIN_MODULES)
