"""Search, independent of HTTP and the CLI: the top-k chunks for a text, and what the graph knows around them."""

from __future__ import annotations

from http import HTTPStatus

from pydantic import BaseModel, ConfigDict, Field

from shared.api_answers import ApiAnswer, parse_query, problem
from shared.domain import Reason
from shared.domain.search_filter import InvalidFilterError, SearchFilter, parse_filter
from shared.ports import EntityRef, Ports, RelationRef, VectorHit

MAX_RELATIONS = 100  # one-hop relations in an answer: enough to read, bounded for a hub entity
# Hits of versions not served (being written, or replaced and awaiting clean-up) are dropped after the vector
# search, so it asks for more than k: a document mid-re-ingest holds at most two versions.
OVERFETCH = 3


class SearchQuery(BaseModel):
    """The query string of GET /api/search."""

    model_config = ConfigDict(extra="ignore")

    q: str = Field(min_length=1, max_length=2000)
    k: int = Field(5, ge=1, le=50)
    filter: str = Field("", max_length=4000, description="field:value terms (shared/domain/search_filter.py)")


class SearchHit(BaseModel):
    """A chunk found, with where it comes from and the entities it mentions."""

    chunk_id: str
    document_id: str
    path: str | None = Field(description="null when the graph no longer holds the chunk")
    locator: str | None
    score: float = Field(description="higher is better; comparable within one answer only")
    text: str
    entities: list[str] = Field(description="ids of the entities it mentions (keys of `entities`)")


class SearchAnswer(BaseModel):
    query: str
    hits: list[SearchHit]
    entities: dict[str, EntityRef]
    relations: list[RelationRef] = Field(description="one-hop relations of the entities mentioned")


def served_only(hits: list[VectorHit], ports: Ports) -> list[VectorHit]:
    """The hits of each document's committed version: until a new version commits, readers see the old one, and a
    replaced version is never served while its clean-up is pending."""
    committed: dict[str, str | None] = {}
    served = []
    for hit in hits:
        if hit.document_id not in committed:
            committed[hit.document_id] = ports.jobs.committed_version(hit.document_id)
        if committed[hit.document_id] == hit.version:
            served.append(hit)
    return served


def search(ports: Ports, query: dict[str, str]) -> ApiAnswer:
    """Embed the text, take the k best chunks of committed versions by hybrid search (the text's words and its
    vector) within the filter, and add their documents, locators, mentions and one-hop graph."""
    parsed = parse_query(SearchQuery, query)
    if isinstance(parsed, ApiAnswer):
        return parsed
    try:
        where: SearchFilter | None = parse_filter(parsed.filter) if parsed.filter.strip() else None
    except InvalidFilterError as error:
        return problem(HTTPStatus.BAD_REQUEST, Reason.REQUEST_INVALID_FILTER, str(error))
    (vector,) = ports.embedder.embed([parsed.q])
    found = ports.vectors.search(vector, k=parsed.k * OVERFETCH, text=parsed.q, filter=where)
    hits = served_only(found, ports)[: parsed.k]
    context = ports.graph.context([hit.chunk_id for hit in hits], max_relations=MAX_RELATIONS)
    answers = []
    for hit in hits:
        chunk = context.chunks.get(hit.chunk_id)
        answers.append(
            SearchHit(
                chunk_id=hit.chunk_id,
                document_id=hit.document_id,
                path=chunk.path if chunk else None,
                locator=chunk.locator if chunk else None,
                score=round(hit.score, 6),
                text=hit.text,
                entities=list(chunk.entity_ids) if chunk else [],
            )
        )
    body = SearchAnswer(query=parsed.q, hits=answers, entities=context.entities, relations=list(context.relations))
    return ApiAnswer(status=200, body=body.model_dump(mode="json"))
