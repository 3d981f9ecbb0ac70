"""What flows through the pipeline: documents, records, chunks, entities and relations."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    """Pipeline stages, in order. Parse runs in the blob trigger; the others are queue-triggered."""

    PARSE = "parse"
    ENRICH = "enrich"
    EXTRACT = "extract"
    GRAPH = "graph"
    VECTOR = "vector"


SINK_STAGES: tuple[Stage, ...] = (Stage.GRAPH, Stage.VECTOR)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentRef(Frozen):
    """One version of one blob."""

    account: str
    container: str
    path: str
    document_id: str
    version: str = Field(description="sha256 of the content")
    size: int = Field(ge=0)
    content_type: str


class Mention(Frozen):
    """An entity the input declares outright (a typed column, an email's From), rather than one guessed."""

    type: str
    name: str


class Link(Frozen):
    """A relation the input declares outright (two typed columns of one row, sender to recipient)."""

    source: Mention
    type: str
    target: Mention


class Record(Frozen):
    """One unit a parser yields, with where it came from in the file."""

    text: str
    locator: str = Field(description="source position: 'line 12', 'row 5', '/catalog/book[3]', 'part 2'")
    fields: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict, description="title, subject, section path, …")
    mentions: list[Mention] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class ParseIssue(Frozen):
    """A problem with one part of a file (a ragged row, a bad JSON line) that does not fail the whole file."""

    locator: str
    reason_code: str
    detail: str = ""


class Chunk(Frozen):
    chunk_id: str
    document_id: str
    version: str
    ordinal: int = Field(ge=0)
    text: str
    locator: str
    fields: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    mentions: list[Mention] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    embedding: list[float] | None = None


class Entity(Frozen):
    entity_id: str
    type: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    chunk_ids: list[str] = Field(default_factory=list)


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
