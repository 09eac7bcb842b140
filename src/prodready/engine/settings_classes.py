"""Configuration classes and the environment they configure.

Flask, Quart and many Django projects keep one class per environment in one module
(``class ProductionConfig(Config)``, ``class TestingConfig(Config)``) and pick one at start-up.
The module is service code, but a class for the test suite or a developer's machine is not the
configuration production runs with: what it holds is development data, as a
``settings/local.py`` file's is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from prodready.engine.secrets import name_words

# The last word of a class that holds configuration: ``TestingConfig``, ``LocalSettings``.
_CONFIG_WORDS = frozenset({"config", "configuration", "conf", "settings", "setting", "env"})
# Words by which such a class names a non-production environment.
_DEVELOPMENT_WORDS = frozenset(
    {"dev", "devel", "development", "local", "test", "tests", "testing", "ci", "debug"}
)
# A class attribute that switches the framework's test mode on (Flask's ``TESTING``).
_TEST_MODE_SWITCHES = frozenset({"TESTING"})


def development_settings_class(node: ast.ClassDef) -> bool:
    """``class TestingConfig(Config)``, ``class DevelopmentSettings``, or any class that sets
    ``TESTING = True`` in its body: the configuration of a test run or a developer's machine,
    not of production (``class TestimonialConfig`` and ``class ProductionConfig`` are not)."""
    words = name_words(node.name)
    if len(words) > 1 and words[-1] in _CONFIG_WORDS and _DEVELOPMENT_WORDS.intersection(words):
        return True
    return any(_switches_test_mode(statement) for statement in node.body)


def in_development_settings_class(classes: Iterable[ast.ClassDef]) -> bool:
    """One of the enclosing classes (innermost last) is a development or test configuration."""
    return any(development_settings_class(node) for node in classes)


def _switches_test_mode(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Assign) or not isinstance(statement.value, ast.Constant):
        return False
    return statement.value.value is True and any(
        isinstance(target, ast.Name) and target.id in _TEST_MODE_SWITCHES
        for target in statement.targets
    )
