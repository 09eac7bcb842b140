"""Dependencies: how requirements files and pyproject.toml declare what the service installs."""
