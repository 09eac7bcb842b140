"""Intra-procedural taint tracking: does a value carry data from outside the process?

Sources: request data (Flask/Quart ``request.*``, Django/DRF ``request.GET/POST/body/FILES/
data``, Starlette/FastAPI ``request.query_params/json()/body()``...), the parameters of an HTTP
handler the client chooses (FastAPI path/query/body parameters, Django URL kwargs, Flask
``<param>``; not ``Depends(...)``, numbers, UUIDs, dates, ``Literal`` or enum types), and -- for
second-order flows -- network responses, socket reads, cache/Redis reads and message payloads.
``sys.argv`` and environment variables are not sources: the operator controls them, not the
client.

Propagation follows local assignments (the binding in force at that point: ``q = q.strip()``
keeps the parameter's taint), loop variables, f-strings, ``%``, ``.format``, concatenation,
``join``, string methods, containers, and calls of *helper functions defined in the same
module* (and of a method's own class through ``self``) -- whose return value depends on a
tainted argument, or which read the request themselves. Lookups by key (``COLUMNS.get(sort)``,
``Model.objects.get(pk=x)``, ``get_object_or_404``) return stored values, not the key.
Sanitisers stop the flow:
conversions to numbers, booleans, UUIDs and dates everywhere, plus the sink-specific ones a rule
passes (``shlex.quote`` for commands, ``secure_filename`` for paths, qualified attributes such
as ``pathlib.Path.name``, ``os.path.splitext[1]``, request attributes such as ``request.url``),
allow-lists (a name checked with ``in``/``not in`` against a constant collection, only where
the check holds: see :mod:`prodready.engine.taint.allowlist`) and the checks a sink asks for with
markers (``PATH_CONTAINMENT_CHECK``, ``URL_HOST_CHECK``, ``SAFE_REDIRECT_CHECK``,
``SEGMENT_PARAMETERS``).

Project functions of other modules: a value passed through (or checked by) an imported
project function is clean when that function sanitises (or checks) the parameter -- a fact its
own module states, once per file and cached with it (:mod:`.project_facts`); the finding names
the facts that would clean it and the project pass drops it when one holds
(:mod:`prodready.engine.semantic.guards`).

Sinks inside helpers: :func:`sink_flow` reports a sink reached by external data, and when the
value only derives from the parameters of the enclosing module-level helper, remembers it;
:func:`report_deferred` (called from the rule's ``ModuleEnd``) reports it when a function of the
module passes external data to the helper, rebuilding the caller's bindings after the walk.
A sink no function of its module feeds is reported for the project pass, which keeps it only
when another module passes request data to one of the parameters that reach it -- directly, by
a queue hop (``actor.send(url)``, ``task.delay(url)``) or through a service layer that hands it
on (:mod:`.reach`).

One finding per flow: the sinks of one function that one source reaches (the same parameter,
attribute or request read) are reported once, at the first, naming the lines of the others
(:mod:`.flow_groups`).

Augmented assignments bind like the others (``cmd += part`` is ``cmd + part``): the earlier
value and the added part both flow.

The package, in pipeline order: :mod:`.sources`, :mod:`.propagation` (over :mod:`.bindings`,
:mod:`.call_sites` and the helper :mod:`.summaries`), :mod:`.sanitizers` and :mod:`.allowlist`,
:mod:`.project_facts`, :mod:`.helper_sinks` and :mod:`.reach`. Rules import from the package: ``from
prodready.engine.taint import sink_flow, report_deferred``.
"""

from __future__ import annotations

from prodready.engine.taint.allowlist import AllowListed, allow_listed, is_allow_listed
from prodready.engine.taint.bindings import appended_parts
from prodready.engine.taint.helper_sinks import report_deferred, sink_flow
from prodready.engine.taint.propagation import MAX_DEPTH, Report, Source, external_source, tainted
from prodready.engine.taint.sanitizers import (
    PATH_CONTAINMENT_CHECK,
    SAFE_REDIRECT_CHECK,
    SEGMENT_PARAMETERS,
    STORED_ROW_CHECK,
    URL_HOST_CHECK,
    VALUE_SANITIZERS,
)
from prodready.engine.taint.sources import (
    REQUEST_DATA_ATTRIBUTES,
    is_request_object,
    route_parameter,
)

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
    "external_source",
    "is_allow_listed",
    "is_request_object",
    "report_deferred",
    "route_parameter",
    "sink_flow",
    "tainted",
]
