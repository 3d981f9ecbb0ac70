"""Domain contracts: pydantic models, error types and the reason codes. No Azure imports here."""

from shared.domain.errors import ConfigError, PermanentError, TransientError, TributaryError
from shared.domain.jobs import (
    TERMINAL_STATES,
    BatchExtraction,
    BatchOutcome,
    Counts,
    DocumentState,
    Job,
    JobKind,
    JobState,
    StageCounters,
)
from shared.domain.messages import BlobEvent, Envelope
from shared.domain.models import (
    SINK_STAGES,
    BatchPayload,
    Chunk,
    DocumentRef,
    Entity,
    Extraction,
    Link,
    Mention,
    ParseIssue,
    Record,
    RecordEntry,
    Relation,
    Stage,
)
from shared.domain.reasons import DESCRIPTIONS, Reason
from shared.domain.results import IngestOutcome, StageResult

__all__ = [
    "DESCRIPTIONS",
    "SINK_STAGES",
    "TERMINAL_STATES",
    "BatchExtraction",
    "BatchOutcome",
    "BatchPayload",
    "BlobEvent",
    "Chunk",
    "ConfigError",
    "Counts",
    "DocumentRef",
    "DocumentState",
    "Entity",
    "Envelope",
    "Extraction",
    "IngestOutcome",
    "Job",
    "JobKind",
    "JobState",
    "Link",
    "Mention",
    "ParseIssue",
    "PermanentError",
    "Reason",
    "Record",
    "RecordEntry",
    "Relation",
    "Stage",
    "StageCounters",
    "StageResult",
    "TransientError",
    "TributaryError",
]
