"""Dockerfile rules (deployment and security of the container image)."""
