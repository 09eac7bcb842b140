"""Parsers for the non-Python files prodready checks, one module per kind: Dockerfiles
(:mod:`.dockerfile`), Kubernetes and Compose YAML (:mod:`.kubernetes` over :mod:`.yaml_loader`,
which caps alias expansion), requirements files (:mod:`.requirements`) and pyproject.toml
(:mod:`.pyproject`). Each gives rules a small document model with line numbers;
:mod:`.file_context` picks the parser by file kind and is what a document rule sees.

Everything is re-exported here: ``from prodready.engine.documents import Dockerfile`` is the
import path rules use.
"""

from __future__ import annotations

from prodready.engine.documents.dockerfile import Dockerfile, Instruction, Stage, parse_dockerfile
from prodready.engine.documents.errors import DocumentError
from prodready.engine.documents.file_context import FileContext, parse_document
from prodready.engine.documents.kubernetes import (
    WORKLOAD_POD_SPECS,
    KubernetesObject,
    Manifests,
    looks_like_kubernetes,
    parse_yaml,
)
from prodready.engine.documents.pyproject import Pyproject, parse_pyproject
from prodready.engine.documents.requirements import (
    RequirementLine,
    RequirementsFile,
    parse_requirements,
)
from prodready.engine.documents.yaml_loader import MAX_ALIAS_EXPANSION, YamlDocument

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "WORKLOAD_POD_SPECS",
    "Dockerfile",
    "DocumentError",
    "FileContext",
    "Instruction",
    "KubernetesObject",
    "Manifests",
    "Pyproject",
    "RequirementLine",
    "RequirementsFile",
    "Stage",
    "YamlDocument",
    "looks_like_kubernetes",
    "parse_dockerfile",
    "parse_document",
    "parse_pyproject",
    "parse_requirements",
    "parse_yaml",
]
