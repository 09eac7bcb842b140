"""Data access: how the service talks to its database under real data volumes."""
