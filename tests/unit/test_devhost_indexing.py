"""Indexing against the app settings: a function whose %SETTING% does not resolve is refused, as Azure refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.devhost import environment
from shared.devhost.app_loader import load_app
from shared.devhost.environment import AppSettingMissingError, app_settings, resolve
from shared.devhost.indexing import index_functions
from tests.support.devhost import sample_values

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_APP = ROOT / "tests" / "fixtures" / "apps" / "settings_app" / "settings_function_app.py"


def test_a_function_naming_an_unset_setting_is_left_out_with_the_hosts_message() -> None:
    # GIVEN an app whose `unconfigured` trigger names a setting nobody set
    app = load_app(FIXTURE_APP)

    # WHEN it is indexed against the settings that are set
    indexed = index_functions(app.functions, {"SETTINGS_APP_QUEUE": "orders"})

    # THEN the other functions are indexed with their expressions resolved, and the refused one carries the message
    assert [spec.name for spec in indexed.functions] == ["configured", "ping"]
    assert indexed.functions[0].trigger["queueName"] == "orders"
    assert indexed.errors == {
        "unconfigured": "The 'unconfigured' function is in error: Microsoft.Azure.WebJobs.Host: Error indexing method "
        "'Functions.unconfigured'. Microsoft.Azure.WebJobs.Host: '%SETTINGS_APP_UNSET_QUEUE%' does not resolve to "
        "a value."
    }


def test_the_real_app_without_one_queue_setting_loses_exactly_that_function() -> None:
    # GIVEN the committed sample's values minus the enrich queue
    app = load_app(ROOT / "function_app.py")
    settings = sample_values()
    del settings["TRIBUTARY_QUEUE_ENRICH"]

    # WHEN the app is indexed THEN only enrich is refused, with the message the Functions host logs
    indexed = index_functions(app.functions, settings)
    assert indexed.errors == {
        "enrich": "The 'enrich' function is in error: Microsoft.Azure.WebJobs.Host: Error indexing method "
        "'Functions.enrich'. Microsoft.Azure.WebJobs.Host: '%TRIBUTARY_QUEUE_ENRICH%' does not resolve to a value."
    }
    assert {spec.name for spec in indexed.functions} == {spec.name for spec in app.functions} - {"enrich"}
    # AND with every sample value set, nothing is refused
    assert index_functions(app.functions, sample_values()).errors == {}


def test_an_empty_setting_does_not_resolve() -> None:
    with pytest.raises(AppSettingMissingError) as raised:
        resolve("%A%/%B%", {"A": "x", "B": ""})
    assert str(raised.value) == "'%B%' does not resolve to a value."


def test_app_settings_have_no_defaults_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no local.settings.json and nothing in the environment
    monkeypatch.delenv("TRIBUTARY_QUEUE_ENRICH", raising=False)
    # THEN the app settings are the overrides alone: nothing is filled in from the documented defaults
    assert app_settings(tmp_path, {"X": "1"}) == {"X": "1"}


def test_app_settings_layer_the_file_then_the_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / environment.LOCAL_SETTINGS).write_text(
        '{"Values": {"A": "file", "B": "file", "C": "file", "D": ""}}', encoding="utf-8"
    )
    monkeypatch.setenv("B", "env")
    monkeypatch.setenv("C", "env")
    assert app_settings(tmp_path, {"C": "override"}) == {"A": "file", "B": "env", "C": "override"}
    # AND another file may stand in for local.settings.json (the CLI uses the committed sample without one)
    other = tmp_path / "other.json"
    other.write_text('{"Values": {"E": "other"}}', encoding="utf-8")
    assert app_settings(tmp_path, settings_file=other) == {"E": "other"}
