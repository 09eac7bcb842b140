"""Taint tracking for rule packs: where untrusted input comes from (``sources``), how it flows
through assignments, calls and same-module helpers, and which sanitisers and allow-lists end it.
Re-exported from ``prodready.engine.taint`` so that a rule imports everything from
``prodready.plugin``.
"""

from prodready.engine.taint import (
    MAX_DEPTH,
    PATH_CONTAINMENT_CHECK,
    REQUEST_DATA_ATTRIBUTES,
    SAFE_REDIRECT_CHECK,
    SEGMENT_PARAMETERS,
    STORED_ROW_CHECK,
    URL_HOST_CHECK,
    VALUE_SANITIZERS,
    AllowListed,
    Report,
    Source,
    allow_listed,
    appended_parts,
    external_source,
    is_allow_listed,
    is_request_object,
    report_deferred,
    route_parameter,
    sink_flow,
    tainted,
)
from prodready.engine.taint.bindings import (
    binding_before,
    node_position,
    own_nodes,
    synthetic_scope,
)
from prodready.engine.taint.sanitizers import segment_parameter

__all__ = [
    "MAX_DEPTH",
    "PATH_CONTAINMENT_CHECK",
    "REQUEST_DATA_ATTRIBUTES",
    "SAFE_REDIRECT_CHECK",
    "SEGMENT_PARAMETERS",
    "STORED_ROW_CHECK",
    "URL_HOST_CHECK",
    "VALUE_SANITIZERS",
    "AllowListed",
    "Report",
    "Source",
    "allow_listed",
    "appended_parts",
    "binding_before",
    "external_source",
    "is_allow_listed",
    "is_request_object",
    "node_position",
    "own_nodes",
    "report_deferred",
    "route_parameter",
    "segment_parameter",
    "sink_flow",
    "synthetic_scope",
    "tainted",
]
