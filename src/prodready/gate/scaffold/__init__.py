"""``prodready init``: look at a project and write a starter ``prodready.toml`` for it.

:mod:`.detect` finds the framework and app (:mod:`.apps`), how to serve it (:mod:`.serve`), the
tests, containers and dependency manifests, into a :class:`~.profile.ProjectProfile`;
:mod:`.render` turns that into the configuration's text and :mod:`.write` writes it.
"""

from __future__ import annotations

from prodready.gate.scaffold.detect import detect_project
from prodready.gate.scaffold.profile import AppEntry, ProjectProfile
from prodready.gate.scaffold.render import render_config
from prodready.gate.scaffold.write import CONFIG_NAME, existing_config, write_config

__all__ = [
    "CONFIG_NAME",
    "AppEntry",
    "ProjectProfile",
    "detect_project",
    "existing_config",
    "render_config",
    "write_config",
]
