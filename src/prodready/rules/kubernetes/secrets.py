"""Kubernetes: secrets written into container env (K8S006)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from prodready.plugin import (
    Category,
    FileContext,
    FileKind,
    KubernetesObject,
    Manifests,
    Severity,
    file_rule,
)
from prodready.plugin.analysis import (
    credential_in_url,
    placeholder_value,
    secret_name,
    url_password,
)
from prodready.rules.kubernetes._shared import _container_name, _containers, _dict, _label, _list

# -- K8S006 -----------------------------------------------------------------------------------


def _decoded(value: Any) -> str:
    text = str(value).strip()
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return text


def _secret_entry(key: str, value: str) -> bool:
    """A Secret key whose value is a real-looking credential."""
    if placeholder_value(value, key):
        return False
    lower = key.lower()
    return (
        secret_name(key)
        or credential_in_url(value)
        or "PRIVATE KEY-----" in value
        or lower.endswith((".key", ".dockerconfigjson", ".dockercfg"))
    )


def _secret_keys(obj: KubernetesObject) -> list[tuple[str, str, str]]:
    """``(section, key, value as written)`` of each real-looking credential in a Secret."""
    if "sops" in obj.data or str(obj.get("type") or "").endswith("service-account-token"):
        return []
    found: list[tuple[str, str, str]] = []
    for section in ("stringData", "data"):
        for key, value in _dict(obj.get(section)).items():
            if value is None or isinstance(value, dict | list):
                continue
            text = str(value) if section == "stringData" else _decoded(value)
            if text.startswith("ENC["):
                continue  # a SOPS-encrypted value
            if _secret_entry(str(key), text):
                found.append((section, str(key), str(value)))
    return found


@file_rule(
    kind=FileKind.KUBERNETES,
    code="K8S006",
    name="secret-in-manifest-env",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    cwe=798,
    summary="A credential written into a manifest (env value, ConfigMap or committed Secret)",
    fix="Reference a Secret with valueFrom.secretKeyRef, and create the Secret from a secret "
    "manager (External Secrets, Sealed Secrets, SOPS) instead of committing it.",
)
def secret_in_manifest_env(manifests: Manifests, ctx: FileContext) -> None:
    """
    ## What it does
    Flags credentials committed in Kubernetes manifests: container `env` entries with a
    secret-like name (`*_PASSWORD`, `*_TOKEN`, `SECRET_KEY`, `API_KEY`...) and a literal
    `value:`, URLs with an embedded password, the same in ConfigMap `data`, and `kind: Secret`
    manifests whose `data`/`stringData` hold real-looking credentials. Placeholders
    (`changeme`, `<token>`, `$(VAR)`), SOPS-encrypted files and SealedSecrets are ignored.

    ## Why it breaks production
    A literal in a manifest is in git history forever and in every clone, CI log and backup
    of the repository; a `value:` in a pod spec is also readable by anyone with `get` on the
    Deployment (no Secret RBAC needed) and shows up in `kubectl describe`. One leaked repo or
    over-broad read role exposes the production database or payment provider, and rotating
    means hunting down every copy. A committed `Secret` is only base64-encoded, not
    encrypted.

    ## Example
    ```yaml
    env:
      - name: DB_PASSWORD
        value: "s3cr3t-pr0d-pa55"
    ```

    ## Use instead
    ```yaml
    env:
      - name: DB_PASSWORD
        valueFrom:
          secretKeyRef: {name: api-secrets, key: db-password}
    ```
    """
    for obj in manifests.objects:
        if obj.kind == "Secret":
            keys = _secret_keys(obj)
            if keys:
                names = ", ".join(f"`{key}`" for _, key, _ in keys)
                section, key, written = keys[0]
                ctx.report(
                    obj.line_of(section, key),
                    f"Secret `{obj.name}` is committed with real-looking values ({names}): "
                    "base64 is not encryption, and the credentials are now in git history; "
                    "create the Secret from a secret manager (External Secrets, Sealed "
                    "Secrets, SOPS) and rotate these values",
                    secret=written,
                )
            continue
        if obj.kind == "ConfigMap":
            for key, value in _dict(obj.get("data")).items():
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    continue
                text = str(value)
                if (secret_name(str(key)) and not placeholder_value(text, str(key))) or (
                    credential_in_url(text)
                ):
                    ctx.report(
                        obj.line_of("data", key),
                        f"ConfigMap `{obj.name}` holds the credential `{key}` in plain text: "
                        "ConfigMaps are readable without Secret permissions and the value is "
                        "in git; move it to a Secret created from a secret manager",
                        secret=text,
                    )
            continue
        for container, path in _containers(obj, init=True):
            for position, entry in enumerate(_list(container.get("env"))):
                entry = _dict(entry)
                name, value = entry.get("name"), entry.get("value")
                if not isinstance(name, str) or "valueFrom" in entry:
                    continue
                if value is None or isinstance(value, bool | dict | list):
                    continue
                text = str(value)
                literal_secret = secret_name(name) and not placeholder_value(text, name)
                if not literal_secret and not credential_in_url(text):
                    continue
                what = "a literal credential" if literal_secret else "a URL with a password"
                ctx.report(
                    obj.line_of(*path, "env", position),
                    f"env `{name}` of {_container_name(container)} in {_label(obj)} is "
                    f"{what}: it is in git and readable by anyone who can read the "
                    "workload; use valueFrom.secretKeyRef to a Secret managed outside the repo",
                    secret=text if literal_secret else url_password(text),
                )
