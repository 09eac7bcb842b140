"""The scan engine: discovery, parsing, dispatch to rules, cache and parallelism.

The engine knows nothing about any single rule.
"""
