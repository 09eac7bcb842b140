"""SEC050's near misses: a default that requires a signed-in caller, and AllowAny where every
writable view sets its own permission, are not reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import ScanFn

from prodready.model import Config

_VIEWS = (
    "from rest_framework import permissions, viewsets\n"
    "\n"
    "\n"
    "class CrateViewSet(viewsets.ModelViewSet):\n"
    "    serializer_class = CrateSerializer\n"
    "{permission}"
)


def _scan(run_scan: ScanFn, root: Path, default: str, permission: str) -> list[int]:
    (root / "settings.py").write_text(
        f'REST_FRAMEWORK = {{\n    "DEFAULT_PERMISSION_CLASSES": [{default}],\n}}\n',
        encoding="utf-8",
    )
    (root / "views.py").write_text(_VIEWS.format(permission=permission), encoding="utf-8")
    result = run_scan(root, config=replace(Config(), select=("SEC050",)))
    return [f.line for f in result.findings]


def test_sec050_default_requiring_authentication_is_not_reported(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    default = '"rest_framework.permissions.IsAuthenticated"'
    assert _scan(run_scan, tmp_path, default, "") == []


def test_sec050_allow_any_with_every_writable_view_guarded_is_not_reported(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    guarded = "    permission_classes = [permissions.IsAuthenticated]\n"
    assert _scan(run_scan, tmp_path, "permissions.AllowAny", guarded) == []


def test_sec050_allow_any_class_with_an_open_viewset_is_reported(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    assert _scan(run_scan, tmp_path, "permissions.AllowAny", "") == [2]


def test_sec050_settings_without_a_default_permission_is_reported(
    run_scan: ScanFn, tmp_path: Path
) -> None:
    (tmp_path / "settings.py").write_text(
        'REST_FRAMEWORK = {\n    "PAGE_SIZE": 50,\n}\n', encoding="utf-8"
    )
    (tmp_path / "views.py").write_text(_VIEWS.format(permission=""), encoding="utf-8")
    result = run_scan(tmp_path, config=replace(Config(), select=("SEC050",)))
    assert [(f.line, f.message) for f in result.findings] == [
        (
            1,
            "DRF's DEFAULT_PERMISSION_CLASSES is not set (DRF's default: AllowAny) and writable "
            "views set no permission of their own (CrateViewSet): anyone can create, change and "
            "delete through them without signing in. Default to IsAuthenticated and open single "
            "views explicitly",
        )
    ]
