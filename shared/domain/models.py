"""What flows through the pipeline: documents, records, chunks, entities and relations."""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    """Pipeline stages, in order. Parse runs in the blob trigger; the others are queue-triggered."""

    PARSE = "parse"
    ENRICH = "enrich"
    EXTRACT = "extract"
    GRAPH = "graph"
    VECTOR = "vector"
    CLEANUP = "cleanup"  # after a version is committed: the version it replaced leaves both sinks
    DELETE = "delete"  # a deleted document's versions leave both sinks


SINK_STAGES: tuple[Stage, ...] = (Stage.GRAPH, Stage.VECTOR)
NO_ENTRIES: Mapping[str, str] = MappingProxyType({})  # the immutable empty default of Record's mappings


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentRef(Frozen):
    """One version of one blob."""

    account: str
    container: str
    path: str
    document_id: str
    version: str = Field(description="content, chunking settings and generation (ids.document_version)")
    size: int = Field(ge=0)
    content_type: str
    generation: int = Field(0, ge=0, description="how many times the document was deleted before this version")


class Mention(Frozen):
    """An entity the input declares outright (a typed column, an email's From), rather than one guessed."""

    type: str
    name: str


class Link(Frozen):
    """A relation the input declares outright (two typed columns of one row, sender to recipient)."""

    source: Mention
    type: str
    target: Mention


class Record(NamedTuple):
    """One unit a parser yields, with where it came from in the file.

    A named tuple, not a pydantic model: parsers make one per CSV row or JSON line, millions a file, and a model's
    construction cost more than the row's tokenizing (perf/README.md). It never crosses a process boundary; the
    chunk made from it is the validated model. Immutable, and its empty defaults are immutable too, so no two
    records can share a mutable default.
    """

    text: str
    locator: str  # source position: 'line 12', 'row 5', '/catalog/book[3]', 'part 2'
    fields: Mapping[str, str] = NO_ENTRIES
    metadata: Mapping[str, str] = NO_ENTRIES  # title, subject, section path, …
    mentions: Sequence[Mention] = ()
    links: Sequence[Link] = ()


class ParseIssue(Frozen):
    """A problem with one part of a file (a ragged row, a bad JSON line) that does not fail the whole file."""

    locator: str
    reason_code: str
    detail: str = ""


class RecordEntry(Frozen):
    """What one record of a chunk declared, kept apart from its neighbours' so extraction still reads it as a row.

    Only records that declared something (fields, mentions, links or metadata of their own, such as the id column)
    get an entry, and each record gets at most one, on the first chunk that holds its text: nothing the ingestion
    config declares is lost or read twice, however the records were packed or split.
    """

    locator: str
    fields: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)  # the record's own keys, beyond the chunk's metadata
    mentions: list[Mention] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class Chunk(Frozen):
    """Consecutive records of one section, packed to a token target (shared/pipeline/chunking.py)."""

    chunk_id: str
    document_id: str
    version: str
    ordinal: int = Field(ge=0)
    text: str
    locator: str  # the range it covers: 'rows 12–48', '§ Install > Linux, lines 3–40'
    metadata: dict[str, str] = Field(default_factory=dict)  # what all its records share: section, title, subject
    records: list[RecordEntry] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    embedding: list[float] | None = None
    language: str | None = None  # ISO 639 code set by enrich (two letters where one exists); None: unknown


class Entity(Frozen):
    entity_id: str
    type: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    chunk_ids: list[str] = Field(default_factory=list)
    # Set by entity resolution (shared/extraction/matchkeys.py): the keys a later batch finds this entity by in the
    # graph (GraphSink.entity_candidates). The graph keeps the first ones it was given, as it keeps the first name.
    blocks: list[str] = Field(default_factory=list, max_length=2)


class Relation(Frozen):
    relation_id: str
    source_id: str
    type: str
    target_id: str
    chunk_ids: list[str] = Field(default_factory=list)
    evidence: str | None = None


class Extraction(Frozen):
    entities: list[Entity] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)


class BatchPayload(Frozen):
    """A batch of chunks and what later stages added to it."""

    chunks: list[Chunk]
    entities: list[Entity] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    extractor: str | None = None
