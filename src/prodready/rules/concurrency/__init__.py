"""Concurrency: races, duplicate side effects and blocked event loops under parallel load."""
