"""Each port built from settings, in one place: the only module that knows which adapter backs which port.

An adapter's packages are imported only when it is chosen, so the deployed app needs nothing beyond
`requirements.txt` (the embedded backends' packages live in `requirements-local.txt`). Local-only backends (state on
the instance's disk, a server the local host starts, the local host's own broker) are refused on Azure with a
`config.*` reason naming the setting to change: never a silent local fallback. A backend only the local host can
provide (its broker) is registered by the local host itself, so nothing here imports the local host.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from shared.config import (
    COSMOS_CONNECTION,
    OPENAI_CONNECTION,
    SEARCH_CONNECTION,
    SERVICEBUS_CONNECTION,
    STORAGE_CONNECTION,
    Settings,
)
from shared.connections import connection_section, is_configured
from shared.domain import Reason
from shared.domain.errors import ConfigError
from shared.ports import (
    BlobStore,
    Bus,
    ChatModel,
    DocumentReader,
    Embedder,
    Extractor,
    GraphSink,
    JobStore,
    Notifier,
    Ports,
    VectorSink,
)

# Set by the platform on every Azure Functions instance (App Service, Consumption, Flex Consumption), never by
# Core Tools or the local host.
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SKU")
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"

# (settings, environ, stack, **the ports its backend `needs`, opened first) -> the port
Opener = Callable[..., Any]
Requirement = Callable[[Settings, Mapping[str, str]], str | None]  # what is unset, or None


@dataclass(frozen=True)
class Backend:
    """One way to back a port: the setting that selects it, whether it may run on Azure, and how to open it."""

    port: str
    name: str
    setting: str  # the setting whose value selects it, as a user writes it
    local_only: bool
    open: Opener
    module: str  # the adapter's module: the deployment check imports every one that may run on Azure
    requires: Requirement = lambda settings, environ: None
    # what to set instead on Azure (for the error message)
    on_azure: str = ""
    # ports opened before this one and passed to `open` by name (the vector sink records the embedder it serves)
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    """What the settings choose for one port (what /api/health reports; never a secret)."""

    port: str
    backend: str
    local_only: bool


def running_on_azure(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs on an Azure Functions instance (the platform's own markers)."""
    environ = os.environ if environ is None else environ
    return any(environ.get(marker) for marker in AZURE_MARKERS)


# --- openers: each imports its adapter (and its packages) only when chosen ---------------------------------


def _open_azure_blob(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> BlobStore:
    from shared.adapters.azure_blob import AzureBlobStore

    store = AzureBlobStore.from_connection_setting(STORAGE_CONNECTION, environ)
    stack.callback(store.close)
    return store


def _no_local_host(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Bus:
    raise ConfigError(
        Reason.CONFIG_BACKEND_UNAVAILABLE,
        "TRIBUTARY_BUS=devhost is the local host's broker, which only `tributary dev` and `tributary ingest` run",
        "elsewhere set TRIBUTARY_BUS=servicebus",
    )


def _open_servicebus(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Bus:
    from shared.adapters.servicebus_bus import ServiceBusBus

    bus = ServiceBusBus.from_connection_setting(SERVICEBUS_CONNECTION, environ)
    stack.callback(bus.close)
    return bus


def _open_sqlite(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> JobStore:
    from shared.adapters.sqlite_jobstore import SQLiteJobStore

    return _migrated(SQLiteJobStore(settings.data_dir / "jobs.sqlite"), stack)


def _open_postgres(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> JobStore:
    from shared.adapters.postgres_jobstore import PostgresJobStore

    assert settings.postgres_dsn is not None  # checked by _needs_postgres_dsn
    store = PostgresJobStore.from_settings(settings.postgres_dsn, settings.postgres_auth, settings.postgres_client_id)
    return _migrated(store, stack)


def _open_cosmos(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> JobStore:
    from shared.adapters.cosmos_jobstore import CosmosJobStore

    store = CosmosJobStore.from_connection_setting(COSMOS_CONNECTION, settings.cosmos_database, environ)
    return _migrated(store, stack)


def _migrated(store: JobStore, stack: ExitStack) -> JobStore:
    stack.callback(store.close)
    store.migrate()
    return store


def _open_falkordb(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> GraphSink:
    from shared.adapters.falkordb_graph import FalkorDBGraphSink

    assert settings.falkordb_url is not None  # checked by _needs_falkordb_url
    graph = FalkorDBGraphSink(settings.falkordb_url, settings.falkordb_graph)
    stack.callback(graph.close)
    graph.ensure_schema()
    return graph


def _open_neo4j(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> GraphSink:
    from shared.adapters.neo4j_graph import Neo4jGraphSink

    assert settings.neo4j_uri is not None  # checked by _needs_neo4j
    assert settings.neo4j_password is not None
    graph = Neo4jGraphSink.from_settings(
        settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database
    )
    stack.callback(graph.close)
    graph.ensure_schema()
    return graph


def _open_aisearch(settings: Settings, environ: Mapping[str, str], stack: ExitStack, embedder: Embedder) -> VectorSink:
    from shared.adapters.aisearch_vectors import AISearchVectorSink

    vectors = AISearchVectorSink.from_connection_setting(
        SEARCH_CONNECTION,
        settings.search_index,
        embedder.dimension,
        environ,
        embedder=embedder.name,
        semantic=settings.search_semantic,
    )
    stack.callback(vectors.close)
    return vectors


def _open_lancedb(settings: Settings, environ: Mapping[str, str], stack: ExitStack, embedder: Embedder) -> VectorSink:
    from shared.adapters.lancedb_vectors import LanceDBVectorSink

    directory = settings.data_dir / "lancedb"
    vectors = LanceDBVectorSink(directory, settings.vector_table, embedder.dimension, embedder=embedder.name)
    stack.callback(vectors.close)
    return vectors


def _open_hashing(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Embedder:
    from shared.adapters.hashing_embedder import HashingEmbedder

    return HashingEmbedder(settings.embedding_dimension)


def _open_azure_openai(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Embedder:
    from shared.adapters.azure_openai_embedder import AzureOpenAIEmbedder

    assert settings.azure_openai_embedding_deployment is not None  # checked by _needs_azure_openai
    embedder = AzureOpenAIEmbedder.from_connection_setting(
        OPENAI_CONNECTION,
        settings.azure_openai_embedding_deployment,
        settings.azure_openai_api_version,
        settings.embedding_dimension,
        environ,
        max_retries=settings.azure_openai_max_retries,
        timeout=settings.azure_openai_timeout_seconds,
        batch_inputs=settings.azure_openai_batch_inputs,
        batch_tokens=settings.azure_openai_batch_tokens,
    )
    stack.callback(embedder.close)
    return embedder


def _open_local_model(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Embedder:
    from shared.adapters.local_embedder import LocalModelEmbedder

    return LocalModelEmbedder()


def _open_no_ocr(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> None:
    return None


def _open_document_intelligence(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> DocumentReader:
    from shared.adapters.document_intelligence import DocumentIntelligenceReader

    assert settings.document_intelligence_endpoint is not None  # chosen only when it is set (_chosen_names)
    reader = DocumentIntelligenceReader(settings.document_intelligence_endpoint, settings.document_intelligence_key)
    stack.callback(reader.close)
    return reader


def _open_rules(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Extractor:
    from shared.extraction.rules import RuleBasedExtractor
    from shared.extraction.schema import load_schema

    return RuleBasedExtractor(load_schema(settings.extraction_schema))


def _open_spacy(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Extractor:
    from shared.extraction.schema import load_schema
    from shared.extraction.statistical import MODEL, StatisticalExtractor, missing_packages

    missing = missing_packages()
    if missing:
        raise ConfigError(
            Reason.CONFIG_BACKEND_UNAVAILABLE,
            f"TRIBUTARY_EXTRACTOR=spacy needs {' and '.join(missing)}, which this environment lacks",
            f"install requirements-local.txt (spaCy and {MODEL}), or set TRIBUTARY_EXTRACTOR=rules",
        )
    return StatisticalExtractor(load_schema(settings.extraction_schema))


def _open_no_chat(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> None:
    return None


def _open_azure_openai_chat(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> ChatModel:
    from shared.adapters.azure_openai_chat import AzureOpenAIChat

    assert settings.azure_openai_chat_deployment is not None  # chosen only when it is set (_chosen_names)
    chat = AzureOpenAIChat.from_connection_setting(
        OPENAI_CONNECTION,
        settings.azure_openai_chat_deployment,
        settings.azure_openai_api_version,
        environ,
        max_retries=settings.azure_openai_max_retries,
        timeout=settings.llm_timeout_seconds,
    )
    stack.callback(chat.close)
    return chat


def _open_llm(
    settings: Settings,
    environ: Mapping[str, str],
    stack: ExitStack,
    chat: ChatModel | None,
    jobs: JobStore,
    blobs: BlobStore,
) -> Extractor:
    from shared.extraction.llm import LLMExtractor
    from shared.extraction.llm_budget import TokenBudget
    from shared.extraction.llm_cache import AnswerCache
    from shared.extraction.llm_prompt import PROMPT_VERSION
    from shared.extraction.schema import load_schema

    assert chat is not None  # checked by _needs_llm
    fallback = _backend("extractor", settings.llm_fallback_extractor)
    if fallback.local_only and running_on_azure(environ):
        raise ConfigError(
            Reason.CONFIG_LOCAL_BACKEND_ON_AZURE,
            f"TRIBUTARY_LLM_FALLBACK_EXTRACTOR={fallback.name} needs packages Azure does not install",
            "set TRIBUTARY_LLM_FALLBACK_EXTRACTOR=rules",
        )
    schema = load_schema(settings.extraction_schema)
    cache = AnswerCache(
        blobs, settings.work_container, model=chat.name, schema_hash=schema.schema_hash, prompt_version=PROMPT_VERSION
    )
    budget = TokenBudget(
        jobs, chat.name, per_minute=settings.llm_tokens_per_minute, per_job=settings.llm_tokens_per_job
    )
    return LLMExtractor(
        chat,
        schema,
        fallback.open(settings, environ, stack),
        budget=budget,
        cache=cache,
        request_tokens=settings.llm_request_tokens,
        output_tokens=settings.llm_output_tokens,
    )


def _open_no_notifier(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> None:
    return None


def _open_notifier(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> Notifier:
    """The webhook, the Event Grid topic, or both (each event to each), as the TRIBUTARY_NOTIFY_* settings say."""
    from shared.adapters.notify_eventgrid import EventGridNotifier
    from shared.adapters.notify_fanout import FanOutNotifier
    from shared.adapters.notify_webhook import WebhookNotifier

    retries, timeout = settings.notify_retries, settings.notify_timeout_seconds
    notifiers: list[Notifier] = []
    if settings.notify_webhook_url:
        notifiers.append(WebhookNotifier(settings.notify_webhook_url, retries=retries, timeout=timeout))
    if endpoint := settings.notify_eventgrid_endpoint:
        key = settings.notify_eventgrid_key
        notifiers.append(EventGridNotifier(endpoint, key, retries=retries, timeout=timeout))
    notifier = notifiers[0] if len(notifiers) == 1 else FanOutNotifier(notifiers)
    stack.callback(notifier.close)
    return notifier


# --- what each backend needs set ----------------------------------------------------------------------------


def _needs_connection(name: str, identity_child: str, value_form: str) -> Requirement:
    """The requirement that connection `name` is set, in either of its forms (shared.connections)."""

    def needs(settings: Settings, environ: Mapping[str, str]) -> str | None:
        if is_configured(name, environ):
            return None
        return f"set {name}__{identity_child} (managed identity) or {name} ({value_form})"

    return needs


_needs_storage = _needs_connection(STORAGE_CONNECTION, "blobServiceUri", "a connection string")
_needs_servicebus = _needs_connection(SERVICEBUS_CONNECTION, "fullyQualifiedNamespace", "a connection string")
_needs_cosmos = _needs_connection(COSMOS_CONNECTION, "accountEndpoint", "a connection string")
_needs_search = _needs_connection(SEARCH_CONNECTION, "endpoint", "Endpoint=https://...;Key=...")


def _needs_postgres_dsn(settings: Settings, environ: Mapping[str, str]) -> str | None:
    return None if settings.postgres_dsn else "set TRIBUTARY_POSTGRES_DSN (libpq connection string)"


def _needs_falkordb_url(settings: Settings, environ: Mapping[str, str]) -> str | None:
    if settings.falkordb_url:
        return None
    return "set TRIBUTARY_FALKORDB_URL (`tributary dev` and `tributary ingest` start a FalkorDB and set it)"


def _needs_neo4j(settings: Settings, environ: Mapping[str, str]) -> str | None:
    unset = [name for name, value in (("URI", settings.neo4j_uri), ("PASSWORD", settings.neo4j_password)) if not value]
    if not unset:
        return None
    return f"set {' and '.join('TRIBUTARY_NEO4J_' + name for name in unset)} (the password a Key Vault reference)"


_needs_openai_connection = _needs_connection(OPENAI_CONNECTION, "endpoint", "Endpoint=https://...;Key=...")


def _needs_azure_openai(settings: Settings, environ: Mapping[str, str]) -> str | None:
    if not settings.azure_openai_embedding_deployment:
        return "set TRIBUTARY_AZURE_OPENAI_EMBEDDING_DEPLOYMENT (the embedding model's deployment name)"
    return _needs_openai_connection(settings, environ)


def _needs_local_dimension(settings: Settings, environ: Mapping[str, str]) -> str | None:
    from shared.adapters.local_embedder import DIMENSION  # imports no model package: those load on opening

    if settings.embedding_dimension == DIMENSION:
        return None
    return f"set TRIBUTARY_EMBEDDING_DIMENSION={DIMENSION} (the local model's vectors; the vector index is sized by it)"


def _needs_llm(settings: Settings, environ: Mapping[str, str]) -> str | None:
    if not settings.azure_openai_chat_deployment:
        return "set TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT (the chat model's deployment name)"
    return _needs_openai_connection(settings, environ)


_JOB_STORES_ON_AZURE = "set TRIBUTARY_JOB_STORE=cosmos (CosmosConnection__accountEndpoint) or postgres"

_REGISTRY: dict[str, dict[str, Backend]] = {}


def register(backend: Backend) -> None:
    """Make a backend choosable for its port (the local host registers its broker this way)."""
    _REGISTRY.setdefault(backend.port, {})[backend.name] = backend


for _builtin in (
    # A placeholder the local host replaces with its broker when it starts (shared/devhost/broker_bus.py).
    Backend("bus", "devhost", "TRIBUTARY_BUS", True, _no_local_host, __name__, on_azure="set TRIBUTARY_BUS=servicebus"),
    Backend(
        "blobs", "azure", STORAGE_CONNECTION, False, _open_azure_blob, "shared.adapters.azure_blob", _needs_storage
    ),
    Backend(
        "bus",
        "servicebus",
        "TRIBUTARY_BUS",
        False,
        _open_servicebus,
        "shared.adapters.servicebus_bus",
        _needs_servicebus,
    ),
    Backend(
        "jobs",
        "sqlite",
        "TRIBUTARY_JOB_STORE",
        True,
        _open_sqlite,
        "shared.adapters.sqlite_jobstore",
        on_azure=_JOB_STORES_ON_AZURE,
    ),
    Backend(
        "jobs",
        "postgres",
        "TRIBUTARY_JOB_STORE",
        False,
        _open_postgres,
        "shared.adapters.postgres_jobstore",
        _needs_postgres_dsn,
    ),
    Backend(
        "jobs", "cosmos", "TRIBUTARY_JOB_STORE", False, _open_cosmos, "shared.adapters.cosmos_jobstore", _needs_cosmos
    ),
    Backend(
        "graph",
        "falkordb",
        "TRIBUTARY_GRAPH",
        False,
        _open_falkordb,
        "shared.adapters.falkordb_graph",
        _needs_falkordb_url,
    ),
    Backend("graph", "neo4j", "TRIBUTARY_GRAPH", False, _open_neo4j, "shared.adapters.neo4j_graph", _needs_neo4j),
    Backend(
        "vectors",
        "lancedb",
        "TRIBUTARY_VECTORS",
        True,
        _open_lancedb,
        "shared.adapters.lancedb_vectors",
        on_azure=f"set TRIBUTARY_VECTORS=aisearch ({SEARCH_CONNECTION}__endpoint)",
        needs=("embedder",),
    ),
    Backend(
        "vectors",
        "aisearch",
        "TRIBUTARY_VECTORS",
        False,
        _open_aisearch,
        "shared.adapters.aisearch_vectors",
        _needs_search,
        needs=("embedder",),
    ),
    Backend("embedder", "hashing", "TRIBUTARY_EMBEDDER", False, _open_hashing, "shared.adapters.hashing_embedder"),
    Backend(
        "embedder",
        "azure_openai",
        "TRIBUTARY_EMBEDDER",
        False,
        _open_azure_openai,
        "shared.adapters.azure_openai_embedder",
        _needs_azure_openai,
    ),
    # Local only: ONNX Runtime and the model are in requirements-local.txt, not in the deployed app.
    Backend(
        "embedder",
        "local",
        "TRIBUTARY_EMBEDDER",
        True,
        _open_local_model,
        "shared.adapters.local_embedder",
        _needs_local_dimension,
        on_azure=f"set TRIBUTARY_EMBEDDER=azure_openai ({OPENAI_CONNECTION}__endpoint)",
    ),
    Backend("extractor", "rules", "TRIBUTARY_EXTRACTOR", False, _open_rules, "shared.extraction.rules"),
    Backend("ocr", "none", "TRIBUTARY_DOCUMENT_INTELLIGENCE_ENDPOINT", False, _open_no_ocr, "shared.wiring"),
    Backend(
        "ocr",
        "document_intelligence",
        "TRIBUTARY_DOCUMENT_INTELLIGENCE_ENDPOINT",
        False,
        _open_document_intelligence,
        "shared.adapters.document_intelligence",
    ),
    Backend(
        "extractor",
        "spacy",
        "TRIBUTARY_EXTRACTOR",
        True,  # spaCy and its model are local-only packages (requirements-local.txt)
        _open_spacy,
        "shared.extraction.statistical",
        on_azure="set TRIBUTARY_EXTRACTOR=rules",
    ),
    Backend("chat", "none", "TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT", False, _open_no_chat, "shared.wiring"),
    Backend(
        "chat",
        "azure_openai",
        "TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT",
        False,
        _open_azure_openai_chat,
        "shared.adapters.azure_openai_chat",
        _needs_openai_connection,
    ),
    Backend(
        "extractor",
        "llm",
        "TRIBUTARY_EXTRACTOR",
        False,
        _open_llm,
        "shared.extraction.llm",
        _needs_llm,
        needs=("chat", "jobs", "blobs"),
    ),
    Backend("notifier", "none", "TRIBUTARY_NOTIFY_WEBHOOK_URL", False, _open_no_notifier, "shared.wiring"),
    Backend(
        "notifier", "webhook", "TRIBUTARY_NOTIFY_WEBHOOK_URL", False, _open_notifier, "shared.adapters.notify_webhook"
    ),
    Backend(
        "notifier",
        "eventgrid",
        "TRIBUTARY_NOTIFY_EVENTGRID_ENDPOINT",
        False,
        _open_notifier,
        "shared.adapters.notify_eventgrid",
    ),
    Backend(
        "notifier",
        "webhook+eventgrid",
        "TRIBUTARY_NOTIFY_EVENTGRID_ENDPOINT",
        False,
        _open_notifier,
        "shared.adapters.notify_fanout",
    ),
):
    register(_builtin)


def _chosen_names(settings: Settings) -> dict[str, str]:
    return {
        "blobs": "azure",
        "bus": settings.bus,
        "jobs": settings.job_store,
        "graph": settings.graph,
        "vectors": settings.vectors,
        "embedder": settings.embedder,
        "extractor": settings.extractor,
        "ocr": "document_intelligence" if settings.document_intelligence_endpoint else "none",
        "chat": "azure_openai" if settings.azure_openai_chat_deployment else "none",
        "notifier": _notifier_name(settings),
    }


def _notifier_name(settings: Settings) -> str:
    targets = {"webhook": settings.notify_webhook_url, "eventgrid": settings.notify_eventgrid_endpoint}
    return "+".join(name for name, value in targets.items() if value) or "none"


def backends() -> list[Backend]:
    """Every registered backend."""
    return [backend for by_name in _REGISTRY.values() for backend in by_name.values()]


def choices(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Choice]:
    """The backend each port would use under these settings."""
    environ = os.environ if environ is None else environ
    found = []
    for port, name in _chosen_names(settings).items():
        backend = _REGISTRY.get(port, {}).get(name)
        local = backend.local_only if backend else True
        if port == "blobs" and _development_storage(environ):
            name, local = "azurite", True
        found.append(Choice(port=port, backend=name, local_only=local))
    return found


def check(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError for the first port the settings cannot back here: a local-only backend on Azure first
    (the most important thing to fix), then a backend whose settings are missing."""
    environ = os.environ if environ is None else environ
    chosen = [_backend(port, name) for port, name in _chosen_names(settings).items()]
    if running_on_azure(environ):
        for backend in chosen:
            if backend.local_only:
                raise ConfigError(
                    Reason.CONFIG_LOCAL_BACKEND_ON_AZURE,
                    f"{backend.setting}={backend.name} keeps state on this instance, needs the local host or needs "
                    "packages Azure does not install (requirements-local.txt), so it cannot run on Azure",
                    backend.on_azure or "choose a production backend",
                )
        if _development_storage(environ):
            raise ConfigError(
                Reason.CONFIG_LOCAL_BACKEND_ON_AZURE,
                f"{STORAGE_CONNECTION}={DEVELOPMENT_STORAGE} is the local emulator",
                f"on Azure set {STORAGE_CONNECTION}__blobServiceUri (managed identity)",
            )
    for backend in chosen:
        if missing := backend.requires(settings, environ):
            raise ConfigError(Reason.CONFIG_SETTING_MISSING, f"{backend.port} backend {backend.name!r}", missing)


def open_ports(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[Ports, ExitStack]:
    """Every port the settings choose, opened; the caller closes the returned stack."""
    environ = os.environ if environ is None else environ
    check(settings, environ)
    chosen = [_backend(port, name) for port, name in _chosen_names(settings).items()]
    with ExitStack() as stack:
        opened: dict[str, Any] = {}
        for backend in sorted(chosen, key=lambda backend: bool(backend.needs)):  # one level of needs is all there is
            needed = {port: opened[port] for port in backend.needs}
            opened[backend.port] = backend.open(settings, environ, stack, **needed)
        ports = Ports(settings=settings, **opened)
        check_delivery_cap(ports.bus, settings)
        return ports, stack.pop_all()  # on success the caller owns the callbacks; on failure they run here


def check_delivery_cap(bus: Bus, settings: Settings) -> None:
    """The queues' MaxDeliveryCount must be the one the job store counts with, or a job could be failed while its
    message is still retried (or stay `processing` after the queue gave up). Checked where the bus can read it."""
    for queue in dict.fromkeys(settings.queues.values()):
        cap = bus.max_delivery_count(queue)
        if cap is not None and cap != settings.max_delivery_count:
            raise ConfigError(
                Reason.CONFIG_DELIVERY_COUNT_MISMATCH,
                f"queue {queue!r} dead-letters after {cap} deliveries but TRIBUTARY_MAX_DELIVERY_COUNT is "
                f"{settings.max_delivery_count}",
                "make them equal (the queue's maxDeliveryCount is set in infra/)",
            )


def open_job_store(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[JobStore, ExitStack]:
    """Only the job store (the CLI's status and job commands); the caller closes the returned stack."""
    environ = os.environ if environ is None else environ
    backend = _backend("jobs", settings.job_store)
    if missing := backend.requires(settings, environ):
        raise ConfigError(Reason.CONFIG_SETTING_MISSING, f"jobs backend {settings.job_store!r}", missing)
    with ExitStack() as stack:
        store = backend.open(settings, environ, stack)
        return store, stack.pop_all()


def _backend(port: str, name: str) -> Backend:
    backend = _REGISTRY.get(port, {}).get(name)
    if backend is None:
        raise ConfigError(
            Reason.CONFIG_BACKEND_UNAVAILABLE, f"no {port} backend {name!r} in this process", "choose another backend"
        )
    return backend


def _development_storage(environ: Mapping[str, str]) -> bool:
    value, _ = connection_section(STORAGE_CONNECTION, environ)
    return (value or "").strip().lower().startswith(DEVELOPMENT_STORAGE.lower())
