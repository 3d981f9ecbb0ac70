import json
from pathlib import Path

import azure.functions as func

from shared.config import Settings, sample_settings

ROOT = Path(__file__).resolve().parents[2]


def test_local_settings_sample_lists_every_setting_with_its_default():
    # GIVEN the committed sample WHEN compared with what the settings model declares THEN they match exactly
    committed = json.loads((ROOT / "local.settings.sample.json").read_text())
    assert committed == sample_settings(), "regenerate with: python -m shared.config > local.settings.sample.json"
    assert all(committed["SettingsHelp"].values()), "every setting says what it does"


def test_settings_read_environment_variables_by_name(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_BATCH_MAX_CHUNKS", "7")
    monkeypatch.setenv("TRIBUTARY_EXTRACTION_SCHEMA", "")
    settings = Settings()
    assert settings.batch_max_chunks == 7
    assert settings.extraction_schema is None


def test_function_app_registers_the_health_endpoint():
    # GIVEN the app as the Python worker finds it
    import function_app

    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    health = functions["health"]
    trigger = health.get_trigger().get_dict_repr()
    assert (trigger["route"], [str(m) for m in trigger["methods"]]) == ("health", ["GET"])
    # WHEN it is called THEN it answers with the status
    response = health.get_user_function()(func.HttpRequest("GET", "/api/health", body=b""))
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == "ok"
