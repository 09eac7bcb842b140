"""The public surface for rule authors (built-in rules use it too).

A house-rules package::

    # acme_rules/checks.py
    import ast
    from prodready.plugin import Category, PythonContext, Severity, python_rule

    @python_rule(code="ACM001", name="no-legacy-billing", category=Category.API_CONTRACT,
                 severity=Severity.HIGH, summary="Calls the retired billing client",
                 calls=("acme.billing.legacy.*",))
    def no_legacy_billing(node: ast.Call, ctx: PythonContext) -> None:
        '''## What it does ... ## Why it breaks production ... ## Example ... ## Use instead ...'''
        ctx.report(node, "acme.billing.legacy is retired; use acme.billing.v2")

    # acme_rules/__init__.py
    from prodready.plugin import RulePack
    PACK = RulePack.from_modules("acme", "acme_rules.checks")

    # pyproject.toml
    [project.entry-points."prodready.rules"]
    acme = "acme_rules:PACK"
"""

from prodready.engine.documents import (
    Dockerfile,
    FileContext,
    KubernetesObject,
    Manifests,
    Pyproject,
    RequirementsFile,
)
from prodready.engine.project import Evidence, ProjectContext, ProjectFacts
from prodready.engine.python import FunctionEnd, ModuleEnd, PythonContext
from prodready.engine.registry import RulePack, file_rule, project_rule, python_rule
from prodready.engine.suppress import Suppression
from prodready.model import Category, Confidence, FileKind, Rule, Severity

__all__ = [
    "Category",
    "Confidence",
    "Dockerfile",
    "Evidence",
    "FileContext",
    "FileKind",
    "FunctionEnd",
    "KubernetesObject",
    "Manifests",
    "ModuleEnd",
    "ProjectContext",
    "ProjectFacts",
    "Pyproject",
    "PythonContext",
    "RequirementsFile",
    "Rule",
    "RulePack",
    "Severity",
    "Suppression",
    "file_rule",
    "project_rule",
    "python_rule",
]
