"""Loads local.settings.json Values into the environment and resolves %SETTING% references."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

_REFERENCE = re.compile(r"%([^%]+)%")


class AppSettingError(Exception):
    """A settings file is unreadable, or a %SETTING% reference names an unset setting."""


def read_local_settings(path: Path) -> dict[str, str]:
    """The Values of a local.settings.json file (Azure Functions Core Tools format)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AppSettingError(f"cannot read {path}: {exc}") from exc
    if document.get("IsEncrypted"):
        raise AppSettingError(f"{path} is encrypted; the local host reads only plain settings")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise AppSettingError(f"{path}: Values must be an object")
    settings: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, (dict, list)):
            raise AppSettingError(f"{path}: setting {name} must be a string, not JSON")
        settings[name] = "" if value is None else str(value)
    return settings


def apply_settings(settings: Mapping[str, str], environ: MutableMapping[str, str] = os.environ) -> None:
    """Copy settings into the environment; as in Core Tools, variables already set win."""
    for name, value in settings.items():
        environ.setdefault(name, value)


def resolve_references(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """Replace each %NAME% in text by the app setting NAME."""

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise AppSettingError(f"app setting {name} (referenced as %{name}%) is not set")
        return environ[name]

    return _REFERENCE.sub(setting, text)
