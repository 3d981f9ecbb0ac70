"""App settings for the local host, the way Core Tools provides them: `local.settings.json` Values become
environment variables of the worker, and binding expressions such as `%TRIBUTARY_QUEUE_ENRICH%` resolve from them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from shared.config import sample_settings

_SETTING = re.compile(r"%([^%]+)%")


class AppSettingMissingError(KeyError):
    """A binding names an app setting that is not defined (the Functions host refuses to index such a function)."""


def app_settings(app_dir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every app setting: the documented defaults, then local.settings.json, then the process environment,
    then `overrides` (later wins). Empty values do not count as set."""
    defaults = {key: str(value) for key, value in _values(sample_settings()).items()}
    local_file = app_dir / "local.settings.json"
    local = _values(json.loads(local_file.read_text(encoding="utf-8"))) if local_file.exists() else {}
    environment = {key: os.environ[key] for key in defaults.keys() | local.keys() if key in os.environ}
    merged: dict[str, str] = {}
    for layer in (defaults, local, environment, dict(overrides or {})):
        merged.update({key: str(value) for key, value in layer.items() if str(value) != ""})
    return merged


def resolve(template: str, settings: Mapping[str, str] | None = None) -> str:
    """Replace each %NAME% by its app setting."""
    values = os.environ if settings is None else settings

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AppSettingMissingError(f"app setting {name!r} (used in {template!r}) is not defined")
        return values[name]

    return _SETTING.sub(setting, template)


@contextmanager
def applied(settings: Mapping[str, str]) -> Iterator[None]:
    """Set the app settings as environment variables for the functions, and put the old values back after."""
    previous = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _values(document: Mapping[str, object]) -> dict[str, str]:
    values = document.get("Values", {})
    return {str(key): str(value) for key, value in values.items()} if isinstance(values, dict) else {}
