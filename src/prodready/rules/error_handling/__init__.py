"""Error handling: failures that are swallowed, hidden or reported as success."""
