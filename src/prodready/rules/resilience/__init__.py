"""Resilience: what happens to the service when a dependency is slow, down or flaky."""
