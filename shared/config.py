"""Every setting by name, in one place. Names are app settings on Azure and environment variables locally."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TRIBUTARY_"
# Connection setting names the bindings use (Functions convention: the value, or `<name>__...` for managed identity).
STORAGE_CONNECTION = "AzureWebJobsStorage"
SERVICEBUS_CONNECTION = "ServiceBusConnection"
# Read by our own code only (no binding uses it), with the same section rules (shared/connections.py).
COSMOS_CONNECTION = "CosmosConnection"
SEARCH_CONNECTION = "SearchConnection"
OPENAI_CONNECTION = "OpenAIConnection"
# The Python worker's thread pool: host.json's serviceBus.maxConcurrentCalls (8) times the six queue functions.
WORKER_THREADS = 48


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(Path(".tributary"), description="folder holding all state of the embedded default")
    storage_account: str = Field("local", description="account name used in document ids for the local folder")

    incoming_container: str = Field("incoming", description="container whose new blobs are ingested")
    work_container: str = Field("work", description="container for claim-check payloads between stages")

    queue_enrich: str = Field("enrich", description="queue feeding the enrich stage")
    queue_extract: str = Field("extract", description="queue feeding the extract stage")
    queue_graph: str = Field("graph", description="queue feeding the graph sink")
    queue_vector: str = Field("vector", description="queue feeding the vector sink")
    queue_cleanup: str = Field("cleanup", description="queue feeding the clean-up of a replaced version")
    queue_delete: str = Field("delete", description="queue feeding the removal of deleted documents from the sinks")

    job_store: Literal["sqlite", "postgres", "cosmos"] = Field(
        "sqlite", description="where job state lives: sqlite (local only), postgres, cosmos (CosmosConnection)"
    )
    postgres_dsn: str | None = Field(None, description="libpq connection string when job_store is postgres")
    postgres_auth: Literal["password", "entra"] = Field(
        "password", description="password: as in the DSN; entra: a Microsoft Entra token (managed identity)"
    )
    postgres_client_id: str | None = Field(
        None, description="client id of the user-assigned identity for Entra authentication (empty: system-assigned)"
    )
    cosmos_database: str = Field("tributary", description="Cosmos DB database of the job store")

    file_max_bytes: int = Field(1 << 30, description="larger files fail with limits.file_too_large")
    chunk_tokens: int = Field(
        512, ge=32, description="target size of a chunk in tokens of the embedding model's tokenizer"
    )
    chunk_overlap_tokens: int = Field(
        64, ge=0, description="prose chunks begin with the previous chunk's last sentences, up to this many tokens"
    )
    chunk_tokenizer: Literal["cl100k_base", "o200k_base"] = Field(
        "cl100k_base", description="tokenizer of the embedding model (text-embedding-3-*: cl100k_base)"
    )
    chunk_max_chars: int = Field(
        8000, ge=200, description="hard cap on a chunk's characters, whatever its tokens (the sinks' bound)"
    )
    batch_max_chunks: int = Field(64, description="chunks per message batch")
    claim_check_bytes: int = Field(192_000, description="payloads above this travel as a blob pointer")
    max_delivery_count: int = Field(10, description="deliveries before a failing message is dead-lettered")
    duplicate_detection_window_seconds: int = Field(
        600,
        ge=1,
        le=7 * 24 * 3600,
        description="the stage queues' duplicate detection window, assumed by a dead-letter replay where the bus "
        "cannot read it (no management rights): a message is resent only once this has passed since it was enqueued",
    )

    embedding_dimension: int = Field(
        256,
        description="dimension of every vector (embedder and vector index): hashing takes any, azure_openai sends it "
        "as `dimensions` (text-embedding-3-*), local needs 384",
    )
    extraction_schema: Path | None = Field(None, description="YAML schema of entity/relation types (packaged one)")
    ingestion_config: Path | None = Field(
        None, description="YAML rules: blob path globs to parser options (packaged shared/ingestion.yaml)"
    )
    max_issues_per_file: int = Field(1000, description="more part-of-file issues fail it with limits.too_many_issues")

    bus: Literal["devhost", "servicebus"] = Field(
        "devhost", description="devhost: the local host's broker under data_dir; servicebus: the ServiceBusConnection"
    )
    devhost_lock_seconds: float = Field(
        60.0, description="peek-lock duration of the local broker (entity LockDuration)"
    )

    graph: Literal["falkordb", "neo4j"] = Field(
        "falkordb",
        description="graph sink: falkordb (TRIBUTARY_FALKORDB_URL) or neo4j (TRIBUTARY_NEO4J_URI, _PASSWORD)",
    )
    vectors: Literal["lancedb", "aisearch"] = Field(
        "lancedb", description="vector sink: lancedb (local disk: local only), aisearch (SearchConnection)"
    )
    search_index: str = Field("tributary-chunks", description="Azure AI Search index of chunk vectors (made at start)")
    document_intelligence_endpoint: str | None = Field(
        None,
        description="Azure AI Document Intelligence endpoint: PDFs with no text layer are read by OCR (prebuilt-layout)"
        " instead of failing parse.pdf.no_text; managed identity unless _KEY is set",
    )
    document_intelligence_key: str | None = Field(
        None, description="Document Intelligence key (local use; on Azure a Key Vault reference, or none: identity)"
    )
    search_semantic: bool = Field(
        False, description="AI Search: rerank hybrid searches with the semantic ranker (billed per query on Azure)"
    )
    embedder: Literal["hashing", "azure_openai", "local"] = Field(
        "hashing",
        description="embedder: hashing (deterministic, offline), azure_openai (OpenAIConnection and the "
        "TRIBUTARY_AZURE_OPENAI_* settings), local (all-MiniLM-L6-v2 on ONNX Runtime, requirements-local.txt)",
    )
    azure_openai_embedding_deployment: str | None = Field(
        None, description="Azure OpenAI deployment of the embedding model (text-embedding-3-small or -large)"
    )
    azure_openai_api_version: str = Field("2024-10-21", description="Azure OpenAI data-plane API version")
    azure_openai_batch_inputs: int = Field(
        2048, ge=1, le=2048, description="texts per embeddings request (the service takes at most 2048)"
    )
    azure_openai_batch_tokens: int = Field(
        300_000,
        ge=8191,
        le=300_000,
        description="tokens per embeddings request (the service takes at most 300000; lower it for a small quota)",
    )
    azure_openai_max_retries: int = Field(
        4, ge=0, description="retries of a throttled (429, honouring Retry-After), failed (5xx) or timed-out request"
    )
    azure_openai_timeout_seconds: float = Field(60.0, gt=0, description="time limit of one embeddings request")
    extractor: Literal["rules", "spacy", "llm"] = Field(
        "rules",
        description="extractor: rules (offline, schema-driven, name lists), spacy (a statistical NER model under "
        "the rules; local only: requirements-local.txt) or llm (the chat deployment, falling back to "
        "TRIBUTARY_LLM_FALLBACK_EXTRACTOR)",
    )
    azure_openai_chat_deployment: str | None = Field(
        None,
        description="Azure OpenAI deployment of the chat model (gpt-4o-mini, gpt-4.1-mini) on OpenAIConnection",
    )
    llm_tokens_per_minute: int = Field(
        100_000,
        ge=0,
        description="tokens all workers together may reserve per minute on the chat deployment (set it to the "
        "deployment's TPM quota or below); past it batches fall back; 0: no limit",
    )
    llm_tokens_per_job: int = Field(
        1_000_000, ge=0, description="tokens one job (file version) may spend on the chat model; 0: no limit"
    )
    llm_request_tokens: int = Field(
        16_000, ge=1024, description="cap of one chat request: prompt, schema, chunks and output cap together"
    )
    llm_output_tokens: int = Field(
        4096, ge=256, description="output cap of one chat request (an answer cut there is asked again in halves)"
    )
    llm_fallback_extractor: Literal["rules", "spacy"] = Field(
        "rules", description="offline extractor for what the chat model does not answer (budget spent, failures)"
    )
    llm_timeout_seconds: float = Field(120.0, gt=0, description="time limit of one chat request (retries apart)")

    telemetry: Literal["auto", "off"] = Field(
        "auto",
        description="auto: the worker's Azure Monitor set-up (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY), else "
        "APPLICATIONINSIGHTS_CONNECTION_STRING, else OTEL_EXPORTER_OTLP_ENDPOINT, else (not on Azure) JSON lines "
        "under data_dir/telemetry; off: no telemetry",
    )

    falkordb_url: str | None = Field(None, description="redis:// URL of a FalkorDB (the local host starts one)")
    falkordb_graph: str = Field("tributary", description="graph name inside the embedded FalkorDB")
    neo4j_uri: str | None = Field(
        None, description="Bolt URI of Neo4j: neo4j+s://<id>.databases.neo4j.io (Aura), neo4j:// or bolt://host:7687"
    )
    neo4j_user: str = Field("neo4j", description="Neo4j user")
    neo4j_password: str | None = Field(None, description="Neo4j password; on Azure a Key Vault reference")
    neo4j_database: str | None = Field(None, description="Neo4j database (empty: the server's default)")
    vector_table: str = Field("chunks", description="LanceDB table holding chunk vectors")

    bulk_page_size: int = Field(
        500, ge=1, le=5000, description="blobs a bulk run lists per page (one orchestration generation each)"
    )
    bulk_batch_size: int = Field(
        16, ge=1, le=200, description="blobs a bulk run processes at once (activities fanned out per batch)"
    )
    bulk_communities: bool = Field(
        True,
        description="refresh the graph's communities once a bulk run's document jobs have ended (reprocess and delete)",
    )
    bulk_settle_poll_seconds: int = Field(
        30, ge=1, le=3600, description="how often a bulk run checks whether its document jobs have ended"
    )
    bulk_settle_timeout_seconds: int = Field(
        7200, ge=0, le=86400, description="how long a bulk run waits for its document jobs before refreshing anyway"
    )
    community_resolution: float = Field(
        1.0, gt=0, description="Louvain resolution of `tributary communities`: above 1 more, smaller communities"
    )
    community_max_levels: int = Field(4, ge=1, le=16, description="community levels kept at most (level 0: finest)")
    community_min_size: int = Field(
        2, ge=1, description="entities a connected part of the graph needs to get communities (1: lone entities too)"
    )
    community_summary_max_tokens: int = Field(
        600, ge=50, description="output tokens of a community summary when a chat model writes it"
    )

    notify_webhook_url: str | None = Field(
        None,
        description="https URL a CloudEvents 1.0 event (structured JSON) is POSTed to when a job or bulk run ends "
        "(empty: none); a secret in its query string belongs in a Key Vault reference",
    )
    notify_eventgrid_endpoint: str | None = Field(
        None,
        description="Event Grid topic endpoint (https://<topic>.<region>-1.eventgrid.azure.net/api/events) the same "
        "events are published to (empty: none); managed identity needs the EventGrid Data Sender role",
    )
    notify_eventgrid_key: str | None = Field(
        None, description="the topic's access key instead of managed identity; on Azure a Key Vault reference"
    )
    notify_events: Literal["all", "failed"] = Field(
        "all", description="which ends are announced: all, or failed jobs and bulk runs that failed or were cancelled"
    )
    notify_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="time one event's delivery may take, retries included, before it is dead-lettered"
    )
    notify_retries: int = Field(
        3, ge=0, le=10, description="retries of a failed delivery (5xx, 408, 429, connection) within the timeout"
    )

    @cached_property
    def queues(self) -> dict[str, str]:
        """Stage name to queue name."""
        return {
            "enrich": self.queue_enrich,
            "extract": self.queue_extract,
            "graph": self.queue_graph,
            "vector": self.queue_vector,
            "cleanup": self.queue_cleanup,
            "delete": self.queue_delete,
        }


def setting_problems(error: ValidationError) -> list[tuple[str, str, object]]:
    """(the setting as a user names it, what is wrong, the value given) for each value `Settings` refused.

    The value may be a secret (a DSN with its password): show it only to the user who set it, never in an answer."""
    return [
        (ENV_PREFIX + "_".join(str(part) for part in problem["loc"]).upper(), problem["msg"], problem.get("input"))
        for problem in error.errors(include_url=False)
    ]


# The connections the app reads (binding `connection=` settings and our own clients'), as the sample shows them:
# the value's default and what it is, then the identity-based children that name the resource.
_CONNECTIONS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    (
        STORAGE_CONNECTION,
        "UseDevelopmentStorage=true",
        "storage of the incoming/work containers as a connection string (Azurite locally), or empty and the "
        "identity-based settings below",
        {
            "blobServiceUri": "identity-based: https://<account>.blob.core.windows.net",
            "queueServiceUri": "identity-based: https://<account>.queue.core.windows.net (the blob trigger's poison "
            "queue)",
        },
    ),
    (
        SERVICEBUS_CONNECTION,
        "",
        "when TRIBUTARY_BUS=servicebus: a connection string, or empty and the identity form",
        {"fullyQualifiedNamespace": "identity-based: <namespace>.servicebus.windows.net"},
    ),
    (
        COSMOS_CONNECTION,
        "",
        "when TRIBUTARY_JOB_STORE=cosmos: AccountEndpoint=...;AccountKey=...; or empty and the identity form",
        {"accountEndpoint": "identity-based: https://<account>.documents.azure.com:443/"},
    ),
    (
        SEARCH_CONNECTION,
        "",
        "when TRIBUTARY_VECTORS=aisearch: Endpoint=https://<service>.search.windows.net;Key=<admin key>, or empty "
        "and the identity form",
        {"endpoint": "identity-based: https://<service>.search.windows.net"},
    ),
    (
        OPENAI_CONNECTION,
        "",
        "when TRIBUTARY_EMBEDDER=azure_openai or TRIBUTARY_EXTRACTOR=llm: Endpoint=https://<resource>.openai.azure.com;"
        "Key=<key>, or empty and the identity form (role: Cognitive Services OpenAI User)",
        {"endpoint": "identity-based: https://<resource>.openai.azure.com"},
    ),
)
_IDENTITY_CHILDREN = {
    "credential": "managed identity: set `managedidentity` (Core Tools: leave empty for your developer login)",
    "clientId": "client id of a user-assigned identity (empty: system-assigned)",
}


def sample_settings() -> dict[str, object]:
    """The content of local.settings.sample.json: every setting with its default, and what it does."""
    values: dict[str, str] = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "PYTHON_THREADPOOL_THREAD_COUNT": str(WORKER_THREADS),
    }
    help_lines: dict[str, str] = {
        "FUNCTIONS_WORKER_RUNTIME": "Core Tools needs it locally; on Flex Consumption it is not an app setting "
        "(the runtime is part of the site's functionAppConfig) and is rejected",
        "PYTHON_THREADPOOL_THREAD_COUNT": "worker threads: the Service Bus functions' maxConcurrentCalls (host.json) "
        "times their number, so no invocation waits for a thread while its message lock runs",
    }
    for connection, default, meaning, children in _CONNECTIONS:
        values[connection], help_lines[connection] = default, meaning
        for child, text in (children | _IDENTITY_CHILDREN).items():
            values[f"{connection}__{child}"], help_lines[f"{connection}__{child}"] = "", text
    for name, field in Settings.model_fields.items():
        key = f"{ENV_PREFIX}{name.upper()}"
        values[key] = "" if field.default is None else str(field.default)
        help_lines[key] = field.description or ""
    return {"IsEncrypted": False, "Values": values, "SettingsHelp": help_lines}


if __name__ == "__main__":
    import json

    print(json.dumps(sample_settings(), indent=2, ensure_ascii=False))
