"""Security: injection, secrets, broken crypto and trust decisions in service code."""
