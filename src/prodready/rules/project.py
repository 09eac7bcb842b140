"""Project-level rules: judged once per scan from the facts of every file (a service without a
health endpoint, structured logging, request ids, metrics, SIGTERM handling or auth on its admin
routes). They run after the scan and point at the most useful place: the app object, the main
module."""

from __future__ import annotations
