"""Kubernetes manifest rules (how the workload is run, probed and limited)."""
