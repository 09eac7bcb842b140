"""Writing the starter ``prodready.toml``: never over an existing configuration unless forced,
and atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from pathlib import Path

from prodready.gate.model import GateError
from prodready.gate.scaffold.detect import detect_project
from prodready.gate.scaffold.render import render_config

CONFIG_NAME = "prodready.toml"


def existing_config(root: Path) -> Path | None:
    """The project's own prodready configuration: prodready.toml, or pyproject.toml with a
    ``[tool.prodready]`` table."""
    own = root / CONFIG_NAME
    if own.exists():
        return own
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = pyproject.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if "tool" in text and "prodready" in text:
            try:
                tool = tomllib.loads(text).get("tool", {})
            except tomllib.TOMLDecodeError:
                # Not TOML: look for the header itself rather than guess.
                tool = {"prodready": {}} if "[tool.prodready" in text else {}
            if isinstance(tool, dict) and "prodready" in tool:
                return pyproject
    return None


def write_config(root: Path, *, force: bool) -> Path:
    """Detect the project in ``root`` and write ``root/prodready.toml`` atomically.

    Never replaces an existing configuration (prodready.toml, or a ``[tool.prodready]`` table
    in pyproject.toml) unless ``force``; raises :class:`GateError` naming the file instead.
    """
    root = root.resolve()
    target = root / CONFIG_NAME
    existing = existing_config(root)
    if existing is not None and not force:
        if existing.name == "pyproject.toml":
            raise GateError(
                f"{existing} already configures prodready ([tool.prodready]); "
                f"use --force to write {target} anyway (it takes precedence over pyproject.toml)"
            )
        raise GateError(f"{existing} already exists; use --force to overwrite it")
    text = render_config(detect_project(root))
    _atomic_write(target, text, replace=force)
    return target


def _atomic_write(target: Path, text: str, *, replace: bool) -> None:
    """Write to a temporary file beside ``target``, then move it into place: readers never
    see half a file. Without ``replace`` the move fails if ``target`` appeared meanwhile."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise GateError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        if replace:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)  # atomic, and fails when the target exists
            except FileExistsError as exc:
                raise GateError(f"{target} already exists; use --force to overwrite it") from exc
            except OSError:
                # No hard links on this file system: exclusive creation, then the content.
                with open(target, "x", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
    except FileExistsError as exc:
        raise GateError(f"{target} already exists; use --force to overwrite it") from exc
    except OSError as exc:
        raise GateError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
