"""Resilience: analysis several resilience rules share."""

from __future__ import annotations

from prodready.plugin import Role

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_REQUESTS_CALLS = (
    *(f"requests.{verb}" for verb in _VERBS),
    *(f"requests.Session.{verb}" for verb in _VERBS),
    *(f"requests.sessions.Session.{verb}" for verb in _VERBS),
    *(f"requests.session.{verb}" for verb in _VERBS),
)

# The roles whose code runs against production: the service, and Django management commands
# (cron jobs, month-end runs, data repairs) -- a command that POSTs to a payment gateway without
# a timeout or retries it forever hangs or double-pays exactly as a request handler would.
# Scripts and tests keep the category's default (service only).
PRODUCTION_ROLES = (Role.SERVICE, Role.MANAGEMENT_COMMAND)
