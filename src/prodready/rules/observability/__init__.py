"""Observability: whether the service can be watched, debugged and probed in production."""
