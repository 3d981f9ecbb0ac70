"""Every setting by name, in one place. Names are app settings on Azure and environment variables locally."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIBUTARY_", extra="ignore")

    data_dir: Path = Field(Path(".tributary"), description="all embedded-default state lives under this folder")
    storage_account: str = Field("local", description="account name used in document ids for the local folder")

    incoming_container: str = "incoming"
    work_container: str = Field("work", description="claim-check payloads")

    queue_enrich: str = "enrich"
    queue_extract: str = "extract"
    queue_graph: str = "graph"
    queue_vector: str = "vector"

    job_store: Literal["sqlite", "postgres"] = "sqlite"
    postgres_dsn: str | None = Field(None, description="libpq connection string; use managed identity on Azure")

    file_max_bytes: int = Field(1 << 30, description="files above this fail with limits.file_too_large")
    chunk_max_chars: int = Field(1200, description="longer records are split into several chunks")
    batch_max_chunks: int = Field(64, description="chunks per message batch")
    claim_check_bytes: int = Field(192_000, description="payloads above this travel as a blob pointer")
    max_delivery_count: int = Field(10, description="deliveries before a message is dead-lettered")

    embedding_dimension: int = Field(256, description="dimension of the hashing embedder")
    extraction_schema: Path | None = Field(None, description="YAML schema of entity and relation types")

    falkordb_graph: str = Field("tributary", description="graph (key) name inside FalkorDB")
    vector_table: str = "chunks"

    @cached_property
    def queues(self) -> dict[str, str]:
        """Stage name to queue name."""
        return {
            "enrich": self.queue_enrich,
            "extract": self.queue_extract,
            "graph": self.queue_graph,
            "vector": self.queue_vector,
        }
