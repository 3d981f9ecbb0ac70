import json
import os
from pathlib import Path

import azure.functions as func

from shared.config import Settings, sample_settings
from shared.devhost.app_loader import load_app

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


def test_function_app_registers_every_trigger_with_settings_by_name():
    # GIVEN the app as the Python worker indexes it (get_functions() once, through the local host's loader)
    app = load_app(ROOT / "function_app.py")
    triggers = {spec.name: spec.trigger for spec in app.functions}

    # THEN blob, Service Bus and HTTP triggers are there, with queue and container names taken from app settings
    assert {name: trigger["type"] for name, trigger in triggers.items()} == {
        "health": "httpTrigger",
        "openapi": "httpTrigger",
        "job_status": "httpTrigger",
        "jobs": "httpTrigger",
        "job_retry": "httpTrigger",
        "stats": "httpTrigger",
        "search": "httpTrigger",
        "document_delete": "httpTrigger",
        "bulk_start": "httpTrigger",
        "bulk_status": "httpTrigger",
        "bulk_cancel": "httpTrigger",
        "bulk_orchestrator": "orchestrationTrigger",
        "bulk_begin": "activityTrigger",
        "bulk_list_page": "activityTrigger",
        "bulk_item": "activityTrigger",
        "bulk_settle_batch": "activityTrigger",
        "bulk_finish": "activityTrigger",
        "bulk_documents_settled": "activityTrigger",
        "bulk_communities": "activityTrigger",
        "ingest": "blobTrigger",
        "blob_deleted": "eventGridTrigger",
        "enrich": "serviceBusTrigger",
        "extract": "serviceBusTrigger",
        "graph": "serviceBusTrigger",
        "vector": "serviceBusTrigger",
        "cleanup": "serviceBusTrigger",
        "delete": "serviceBusTrigger",
        "dead_letters": "httpTrigger",
        "dead_letters_replay": "httpTrigger",
        "trace": "httpTrigger",
    }
    assert triggers["ingest"]["path"] == "%TRIBUTARY_INCOMING_CONTAINER%/{name}"
    assert triggers["ingest"]["source"] == "EventGrid"
    assert triggers["graph"]["queueName"] == "%TRIBUTARY_QUEUE_GRAPH%"
    keyed = (
        "job_status", "jobs", "job_retry", "stats", "search", "document_delete", "bulk_start", "bulk_status",
        "bulk_cancel",
    )  # fmt: skip
    assert {triggers[name]["authLevel"] for name in keyed} == {"FUNCTION"}

    # WHEN the health function is called without the settings its ports need THEN it says which one is missing
    response = app.function("health").user_function(func.HttpRequest("GET", "/api/health", body=b""))
    assert response.status_code == 503
    assert json.loads(response.get_body())["reason_code"].startswith("config.")


def test_host_json_and_worker_settings_fit_together():
    # GIVEN host.json, the app's Service Bus functions and the worker's thread count the app settings give
    host = json.loads((ROOT / "host.json").read_text())
    service_bus = host["extensions"]["serviceBus"]
    bus_functions = [
        spec for spec in load_app(ROOT / "function_app.py").functions if spec.trigger_type == "serviceBusTrigger"
    ]
    threads = int(sample_settings()["Values"]["PYTHON_THREADPOOL_THREAD_COUNT"])  # type: ignore[index]

    # THEN a message's lock is renewed for as long as its function may run
    assert _seconds(service_bus["maxAutoLockRenewalDuration"]) >= _seconds(host["functionTimeout"])
    # AND every message the host may hand over at once has a worker thread (none waits while its lock runs)
    assert threads >= service_bus["maxConcurrentCalls"] * len(bus_functions)


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (int(part) for part in timespan.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_the_local_host_runs_invocations_on_the_workers_thread_pool():
    from shared.devhost.host import worker_threads

    assert worker_threads({"PYTHON_THREADPOOL_THREAD_COUNT": "32"}) == 32
    assert worker_threads({}) == min(32, (os.cpu_count() or 1) + 4)  # the worker's default: ThreadPoolExecutor's
