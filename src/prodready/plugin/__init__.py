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

The decorators take the check protocol of their rule kind (``PythonCheck``, ``DocumentCheck``,
``ProjectCheck``, and ``ProjectCollector`` for a project rule's ``collect``): mypy rejects a rule
function whose signature does not fit, where it is declared.
"""

from prodready.engine.checks import DocumentCheck, ProjectCheck, ProjectCollector, PythonCheck
from prodready.engine.documents import (
    Dockerfile,
    FileContext,
    Instruction,
    KubernetesObject,
    Manifests,
    Pyproject,
    RequirementLine,
    RequirementsFile,
    Stage,
)
from prodready.engine.module_record import Mark, ModuleRecord, RouteRecord
from prodready.engine.project import (
    ENTRY_FILE_NAMES,
    Evidence,
    ProjectContext,
    ProjectFacts,
)
from prodready.engine.python import (
    ClassInfo,
    FunctionEnd,
    ModuleEnd,
    ModuleMemo,
    PythonContext,
    Scope,
)
from prodready.engine.registry import RulePack, file_rule, project_rule, python_rule
from prodready.engine.suppress import Suppression
from prodready.model import Category, Confidence, FileKind, ProjectFact, Role, Rule, Severity

__all__ = [
    "ENTRY_FILE_NAMES",
    "Category",
    "ClassInfo",
    "Confidence",
    "Dockerfile",
    "DocumentCheck",
    "Evidence",
    "FileContext",
    "FileKind",
    "FunctionEnd",
    "Instruction",
    "KubernetesObject",
    "Manifests",
    "Mark",
    "ModuleEnd",
    "ModuleMemo",
    "ModuleRecord",
    "ProjectCheck",
    "ProjectCollector",
    "ProjectContext",
    "ProjectFact",
    "ProjectFacts",
    "Pyproject",
    "PythonCheck",
    "PythonContext",
    "RequirementLine",
    "RequirementsFile",
    "Role",
    "RouteRecord",
    "Rule",
    "RulePack",
    "Scope",
    "Severity",
    "Stage",
    "Suppression",
    "file_rule",
    "project_rule",
    "python_rule",
]
