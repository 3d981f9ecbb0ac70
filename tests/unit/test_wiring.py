"""Wiring by settings: which backend backs each port, what Azure refuses, and how a failure to open is reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import azure.functions as func
import pytest

from shared import wiring
from shared.adapters.hashing_embedder import HashingEmbedder
from shared.app_ports import app_ports, close_app_ports, log_startup_problems, startup_failure
from shared.config import Settings
from shared.devhost.app_loader import load_app
from shared.devhost.broker import LocalBroker
from shared.devhost.broker_bus import BrokerBus
from shared.domain import ConfigError, PermanentError

ROOT = Path(__file__).resolve().parents[2]
AZURE = {"WEBSITE_INSTANCE_ID": "0123456789abcdef"}
PRODUCTION = {
    "AzureWebJobsStorage__blobServiceUri": "https://account.blob.core.windows.net",
    "ServiceBusConnection__fullyQualifiedNamespace": "tributary.servicebus.windows.net",
    "CosmosConnection__accountEndpoint": "https://tributary.documents.azure.com:443/",
    "SearchConnection__endpoint": "https://tributary.search.windows.net",
}
# A production wiring: every port on a service (Neo4j's password a Key Vault reference on Azure).
ON_SERVICES = {
    "job_store": "cosmos",
    "bus": "servicebus",
    "graph": "neo4j",
    "neo4j_uri": "neo4j+s://0123abcd.databases.neo4j.io",
    "neo4j_password": "from-key-vault",
    "vectors": "aisearch",
}


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


@pytest.fixture
def fresh_ports() -> Iterator[None]:
    close_app_ports()
    yield
    close_app_ports()


def test_azure_is_recognised_by_the_platforms_own_markers() -> None:
    assert wiring.running_on_azure(AZURE)
    assert wiring.running_on_azure({"WEBSITE_SKU": "FlexConsumption"})
    assert not wiring.running_on_azure({"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "x"})


@pytest.mark.parametrize(
    ("chosen", "setting"),
    [
        ({"job_store": "sqlite", "bus": "servicebus", "falkordb_url": "redis://graph:6379"}, "TRIBUTARY_JOB_STORE"),
        ({"job_store": "cosmos", "bus": "devhost", "falkordb_url": "redis://graph:6379"}, "TRIBUTARY_BUS"),
        ({"job_store": "cosmos", "bus": "servicebus", "falkordb_url": "redis://graph:6379"}, "TRIBUTARY_VECTORS"),
        ({**ON_SERVICES, "embedder": "local", "embedding_dimension": 384}, "TRIBUTARY_EMBEDDER=azure_openai"),
        ({**ON_SERVICES, "extractor": "spacy"}, "TRIBUTARY_EXTRACTOR"),  # spaCy is in requirements-local.txt only
    ],
)
def test_a_local_only_backend_on_azure_is_a_config_error_naming_its_setting(
    chosen: dict[str, str], setting: str
) -> None:
    # GIVEN Azure's marker and settings naming one local-only backend first
    # WHEN the wiring is checked THEN it refuses with the config reason and names the setting to change
    with pytest.raises(ConfigError) as raised:
        wiring.check(settings(**chosen), AZURE | PRODUCTION)
    assert raised.value.reason_code == "config.local_backend_on_azure"
    assert setting in raised.value.detail


def test_the_same_local_backends_are_fine_off_azure() -> None:
    wiring.check(settings(falkordb_url="redis://127.0.0.1:1"), {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})


def test_the_storage_emulator_on_azure_is_refused() -> None:
    environ = AZURE | PRODUCTION | {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    environ.pop("AzureWebJobsStorage__blobServiceUri")
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__blobServiceUri") as raised:
        wiring.check(settings(**ON_SERVICES), environ)
    assert raised.value.reason_code == "config.local_backend_on_azure"


@pytest.mark.parametrize(
    ("chosen", "environ", "named"),
    [
        ({"job_store": "postgres", "falkordb_url": "redis://x:1"}, {"AzureWebJobsStorage": "x"}, "POSTGRES_DSN"),
        ({"job_store": "cosmos", "falkordb_url": "redis://x:1"}, {"AzureWebJobsStorage": "x"}, "CosmosConnection"),
        ({}, {"AzureWebJobsStorage": "x"}, "TRIBUTARY_FALKORDB_URL"),
        ({"bus": "servicebus", "falkordb_url": "redis://x:1"}, {"AzureWebJobsStorage": "x"}, "ServiceBusConnection"),
        ({"falkordb_url": "redis://x:1"}, {}, "AzureWebJobsStorage"),
        ({"graph": "neo4j", "neo4j_uri": "neo4j://g:7687"}, {"AzureWebJobsStorage": "x"}, "TRIBUTARY_NEO4J_PASSWORD"),
        (
            {"vectors": "aisearch", "falkordb_url": "redis://x:1"},
            {"AzureWebJobsStorage": "x"},
            "SearchConnection__endpoint",
        ),
        (
            {"embedder": "azure_openai", "falkordb_url": "redis://x:1"},
            {"AzureWebJobsStorage": "x", "OpenAIConnection__endpoint": "https://r.openai.azure.com"},
            "TRIBUTARY_AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
        ),
        (
            {"embedder": "azure_openai", "azure_openai_embedding_deployment": "e", "falkordb_url": "redis://x:1"},
            {"AzureWebJobsStorage": "x"},
            "OpenAIConnection__endpoint",
        ),
        (
            {"embedder": "local", "falkordb_url": "redis://x:1"},
            {"AzureWebJobsStorage": "x"},
            "TRIBUTARY_EMBEDDING_DIMENSION=384",
        ),
        (
            {"extractor": "llm", "falkordb_url": "redis://x:1"},
            {"AzureWebJobsStorage": "x", "OpenAIConnection__endpoint": "https://r.openai.azure.com"},
            "TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT",
        ),
        (
            {"extractor": "llm", "azure_openai_chat_deployment": "c", "falkordb_url": "redis://x:1"},
            {"AzureWebJobsStorage": "x"},
            "OpenAIConnection__endpoint",
        ),
    ],
)
def test_a_backend_without_its_settings_is_a_config_error_naming_them(
    chosen: dict[str, str], environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        wiring.check(settings(**chosen), environ)
    assert raised.value.reason_code == "config.setting_missing"
    assert named in raised.value.detail


def test_a_production_wiring_with_identity_based_connections_passes_the_check_on_azure() -> None:
    wiring.check(settings(**ON_SERVICES), AZURE | PRODUCTION)
    chosen = {choice.port: choice for choice in wiring.choices(settings(**ON_SERVICES), AZURE | PRODUCTION)}
    assert {port: choice.backend for port, choice in chosen.items()} == {
        "blobs": "azure",
        "bus": "servicebus",
        "jobs": "cosmos",
        "graph": "neo4j",
        "vectors": "aisearch",
        "embedder": "hashing",
        "extractor": "rules",
        "ocr": "none",
        "chat": "none",
        "notifier": "none",
    }
    assert not any(choice.local_only for choice in chosen.values())
    # AND OCR is chosen by its endpoint being set
    with_ocr = settings(**ON_SERVICES, document_intelligence_endpoint="https://di.cognitiveservices.azure.com/")
    assert {c.port: c.backend for c in wiring.choices(with_ocr, AZURE | PRODUCTION)}["ocr"] == "document_intelligence"


def test_azure_openai_embeddings_with_a_managed_identity_pass_the_check_on_azure() -> None:
    chosen = settings(
        **ON_SERVICES, embedder="azure_openai", azure_openai_embedding_deployment="text-embedding-3-small"
    )
    environ = AZURE | PRODUCTION | {"OpenAIConnection__endpoint": "https://tributary.openai.azure.com"}
    wiring.check(chosen, environ)
    assert {choice.port: choice.backend for choice in wiring.choices(chosen, environ)}["embedder"] == "azure_openai"


def test_the_azure_openai_embedder_opens_from_the_settings_and_closes_with_the_ports() -> None:
    # GIVEN the Azure OpenAI embedder chosen with a key connection, a deployment, a size and batch limits
    chosen = settings(
        embedder="azure_openai",
        azure_openai_embedding_deployment="text-embedding-3-small",
        embedding_dimension=512,
        azure_openai_batch_inputs=16,
        azure_openai_batch_tokens=50_000,
    )
    environ = {"OpenAIConnection": "Endpoint=https://tributary.openai.azure.com;Key=k"}
    # WHEN it is opened THEN it embeds at the index's size within those limits, and the stack closes its client
    with ExitStack() as stack:
        embedder = wiring._backend("embedder", "azure_openai").open(chosen, environ, stack)
        assert (embedder.dimension, embedder.batch_inputs, embedder.batch_tokens) == (512, 16, 50_000)
        assert embedder.name == "azure-openai-text-embedding-3-small-512"
        client = embedder._client
    assert client.is_closed()


def test_choices_report_backend_names_never_settings_values() -> None:
    chosen = settings(job_store="postgres", postgres_dsn="host=db password=secret", falkordb_url="redis://:pw@g:1")
    reported = wiring.choices(chosen, {"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountKey=secret"})
    assert {choice.port: choice.backend for choice in reported}["jobs"] == "postgres"
    assert "secret" not in repr(reported)


def test_every_backend_that_may_run_on_azure_names_an_adapter_module() -> None:
    modules = {backend.module for backend in wiring.backends() if not backend.local_only}
    assert {
        "shared.adapters.azure_blob",
        "shared.adapters.servicebus_bus",
        "shared.adapters.cosmos_jobstore",
    } <= modules


def test_a_failure_to_open_is_remembered_not_retried_on_every_call(
    fresh_ports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN settings the ports cannot open with (no FalkorDB URL)
    monkeypatch.delenv("TRIBUTARY_FALKORDB_URL", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")

    # WHEN the app asks for its ports twice in a row
    with pytest.raises(ConfigError) as first:
        app_ports()
    with pytest.raises(ConfigError) as second:
        app_ports()

    # THEN the second call answers with the very same failure (no second attempt inside the back-off window)
    assert second.value is first.value
    assert startup_failure() is first.value


def test_health_reports_the_config_error_on_azure(fresh_ports: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN Azure's marker and the embedded defaults
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "0123456789abcdef")
    health = load_app(ROOT / "function_app.py").function("health").user_function

    # WHEN the health endpoint is called
    response = health(func.HttpRequest("GET", "/api/health", body=b""))

    # THEN it answers 503 with the reason and the wiring, and without any secret
    body = json.loads(response.get_body())
    assert response.status_code == 503
    assert body["reason_code"] == "config.local_backend_on_azure"
    assert body["on_azure"] is True
    ports = {"blobs", "bus", "jobs", "graph", "vectors", "embedder", "extractor", "ocr", "chat", "notifier"}
    assert set(body["wiring"]) == ports


def test_health_reports_an_invalid_setting(fresh_ports: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_JOB_STORE", "oracle")
    health = load_app(ROOT / "function_app.py").function("health").user_function
    response = health(func.HttpRequest("GET", "/api/health", body=b""))
    body = json.loads(response.get_body())
    assert (response.status_code, body["reason_code"]) == (503, "config.invalid_setting")
    assert "TRIBUTARY_JOB_STORE" in body["detail"]


def test_a_queue_whose_delivery_cap_differs_from_the_settings_is_refused(tmp_path: Path) -> None:
    # GIVEN the local broker's stage queues (real queue entities) dead-lettering after 5 deliveries
    with LocalBroker(tmp_path / "broker.sqlite", max_delivery_count=5) as broker:
        for queue in settings().queues.values():
            broker.create_queue(queue)
        bus = BrokerBus(broker)

        # WHEN the settings count with 10 THEN startup refuses with the config reason
        with pytest.raises(ConfigError) as raised:
            wiring.check_delivery_cap(bus, settings(max_delivery_count=10))
        assert raised.value.reason_code == "config.delivery_count_mismatch"
        assert "TRIBUTARY_MAX_DELIVERY_COUNT" in raised.value.detail

        # AND with the same cap it is fine
        wiring.check_delivery_cap(bus, settings(max_delivery_count=5))


def test_the_config_error_is_logged_when_the_worker_starts(
    fresh_ports: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN Azure's marker and the embedded defaults WHEN the app's startup check runs (functions/__init__.py)
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "0123456789abcdef")
    with caplog.at_level(logging.ERROR, logger="shared.app_ports"):
        problem = log_startup_problems()

    # THEN the problem is logged at ERROR with its reason code and the setting to change
    assert isinstance(problem, ConfigError)
    assert problem.reason_code == "config.local_backend_on_azure"
    assert any("config.local_backend_on_azure" in record.getMessage() for record in caplog.records)
    assert any("TRIBUTARY_BUS" in record.getMessage() for record in caplog.records)


def test_nothing_is_logged_when_the_settings_can_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("TRIBUTARY_FALKORDB_URL", "redis://127.0.0.1:1")
    with caplog.at_level(logging.ERROR, logger="shared.app_ports"):
        assert log_startup_problems() is None
    assert not caplog.records


def test_the_vector_sink_is_opened_for_the_embedder_the_wiring_opened(tmp_path: Path) -> None:
    # GIVEN the embedded vector backend, which needs the embedder opened before it
    lancedb = wiring._backend("vectors", "lancedb")
    assert lancedb.needs == ("embedder",)
    assert wiring._backend("vectors", "aisearch").needs == ("embedder",)
    chosen = settings(data_dir=tmp_path)
    # WHEN it is opened for a 16-dimensional hashing embedder THEN the table is made for that embedder
    with ExitStack() as stack:
        vectors = lancedb.open(chosen, {}, stack, embedder=HashingEmbedder(16))
        assert (vectors.embedder, vectors.dimension) == ("hashing-16", 16)
    # AND opening it again for another embedder is refused with the reason code
    with ExitStack() as stack, pytest.raises(PermanentError) as refused:
        lancedb.open(chosen, {}, stack, embedder=HashingEmbedder(32))
    assert refused.value.reason_code == "vector.dimension_mismatch"


def test_the_llm_extractor_with_a_managed_identity_passes_the_check_on_azure() -> None:
    # GIVEN the LLM extractor on a chat deployment reached with the app's identity
    chosen = settings(**ON_SERVICES, extractor="llm", azure_openai_chat_deployment="gpt-4o-mini")
    environ = AZURE | PRODUCTION | {"OpenAIConnection__endpoint": "https://tributary.openai.azure.com"}
    # THEN the check passes, and the chat port and the extractor are reported
    wiring.check(chosen, environ)
    reported = {choice.port: choice.backend for choice in wiring.choices(chosen, environ)}
    assert (reported["extractor"], reported["chat"]) == ("llm", "azure_openai")


def test_the_llm_extractor_opens_over_the_chat_port_with_its_budget_cache_and_fallback(tmp_path: Path) -> None:
    # GIVEN the LLM extractor chosen with a key connection, limits, and the ports it needs opened first
    from shared.adapters.local_blob import LocalFolderBlobStore
    from shared.adapters.sqlite_jobstore import SQLiteJobStore

    llm = wiring._backend("extractor", "llm")
    assert llm.needs == ("chat", "jobs", "blobs")
    chosen = settings(
        data_dir=tmp_path,
        extractor="llm",
        azure_openai_chat_deployment="gpt-4o-mini",
        llm_tokens_per_minute=5000,
        llm_tokens_per_job=20000,
        llm_request_tokens=8000,
        llm_output_tokens=2000,
    )
    environ = {"OpenAIConnection": "Endpoint=https://tributary.openai.azure.com;Key=k"}
    # WHEN the chat port and then the extractor are opened
    with ExitStack() as stack:
        chat = wiring._backend("chat", "azure_openai").open(chosen, environ, stack)
        jobs = SQLiteJobStore(tmp_path / "jobs.sqlite")
        stack.callback(jobs.close)
        blobs = LocalFolderBlobStore(tmp_path / "blobs", "local")
        extractor = llm.open(chosen, environ, stack, chat=chat, jobs=jobs, blobs=blobs)
        # THEN it is named for the deployment, holds the limits, and falls back to the rule extractor
        assert (extractor.name, extractor.fallback.name) == ("llm:gpt-4o-mini", "rules")
        assert extractor.budget is not None
        assert (extractor.budget.per_minute, extractor.budget.per_job) == (5000, 20000)
        assert extractor.output_tokens == 2000
        assert extractor.cache is not None
        client = chat._client
    # AND the stack closed the chat client
    assert client.is_closed()


def test_a_local_only_fallback_under_the_llm_extractor_is_refused_on_azure(tmp_path: Path) -> None:
    chosen = settings(
        data_dir=tmp_path, extractor="llm", azure_openai_chat_deployment="c", llm_fallback_extractor="spacy"
    )
    environ = AZURE | {"OpenAIConnection": "Endpoint=https://tributary.openai.azure.com;Key=k"}
    with ExitStack() as stack:
        chat = wiring._backend("chat", "azure_openai").open(chosen, environ, stack)
        with pytest.raises(ConfigError) as refused:
            wiring._backend("extractor", "llm").open(chosen, environ, stack, chat=chat, jobs=None, blobs=None)
    assert refused.value.reason_code == "config.local_backend_on_azure"
    assert "TRIBUTARY_LLM_FALLBACK_EXTRACTOR=rules" in refused.value.detail
