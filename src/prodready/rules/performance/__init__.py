"""Performance: work that is fine in a demo and expensive per request at scale."""
