"""App settings for the local host, the way Core Tools provides them: `local.settings.json` Values become
environment variables of the worker (a variable already set in the environment wins), and binding expressions such
as `%TRIBUTARY_QUEUE_ENRICH%` resolve from them. There is no defaults layer: a setting nobody set is unset, and a
function whose binding names it is not indexed (shared/devhost/indexing.py), as on Azure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

LOCAL_SETTINGS = "local.settings.json"
SAMPLE_SETTINGS = "local.settings.sample.json"  # committed; lists every setting (`cp` it to local.settings.json)

_SETTING = re.compile(r"%([^%]+)%")


class AppSettingMissingError(KeyError):
    """A binding expression names an app setting that does not resolve to a value."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        # The wording of the WebJobs host's name resolver, which users search for.
        return f"'%{self.name}%' does not resolve to a value."


def app_settings(
    app_dir: Path, overrides: Mapping[str, str] | None = None, *, settings_file: Path | None = None
) -> dict[str, str]:
    """The app settings the host applies: the Values of `settings_file` (default: `app_dir`/local.settings.json,
    none when it is missing), then the process environment for those names, then `overrides` (later wins).
    Empty values do not count as set. Environment variables outside these names stay visible to the functions and
    to binding expressions, since the host resolves against the whole environment."""
    path = settings_file or app_dir / LOCAL_SETTINGS
    local = file_values(path) if path.exists() else {}
    environment = {key: os.environ[key] for key in local if key in os.environ}
    merged: dict[str, str] = {}
    for layer in (local, environment, dict(overrides or {})):
        merged.update({key: str(value) for key, value in layer.items()})
    return {key: value for key, value in merged.items() if value != ""}


def file_values(path: Path) -> dict[str, str]:
    """The `Values` section of a local.settings.json-shaped file."""
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    return {str(key): str(value) for key, value in values.items()} if isinstance(values, dict) else {}


def resolve(template: str, settings: Mapping[str, str] | None = None) -> str:
    """Replace each %NAME% by its app setting (default: the environment, where the host applied them).

    Raises AppSettingMissingError for the first name that is unset or empty."""
    values = os.environ if settings is None else settings

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        if not values.get(name):
            raise AppSettingMissingError(name)
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
