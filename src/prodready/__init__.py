"""prodready: the production-safety layer for AI-assisted Python code.

Kept deliberately tiny: ``prodready --version`` and the CLI start-up path import this module,
so nothing heavy may be imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
