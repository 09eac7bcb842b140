"""API contract: what the service accepts and returns at its boundary."""
