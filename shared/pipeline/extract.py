"""Extract: entities and relations of a batch, by whichever extractor the host wired in, plus what the input
declared outright (typed columns, an email's From), whatever the extractor made of it."""

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from shared.domain import BatchExtraction, BatchPayload, Chunk, DocumentRef, Entity, Extraction
from shared.extraction.names import clean_name, title_words
from shared.extraction.provenance import add_entity, add_relation
from shared.extraction.resolution import resolve
from shared.extraction.schema import ExtractionSchema, load_schema
from shared.pipeline import batch_context
from shared.pipeline.outputs import StageOutput
from shared.ports import BatchExtractor, ExtractionRun, Extractor, Ports
from shared.telemetry import metrics


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    """Within a job batch (`batch_context`), the batch's record (which extractor, what it cost) and any issue the
    extractor met are kept with the job (insert-if-absent, so a redelivery records nothing twice)."""
    key = batch_context.current()
    job_id, batch = (key.job_id, key.batch) if key is not None else (None, 0)
    run = run_extractor(ports.extractor, payload.chunks, job_id, batch)
    if job_id is not None:
        if ports.jobs.record_extraction(job_id, run.record):
            metrics.extraction_recorded(run.record)
        if run.issues:
            ports.jobs.record_issues(job_id, run.issues)
    schema, titles = _schema(ports.settings.extraction_schema)
    extraction = merge_declared(run.extraction, payload.chunks, schema, titles)
    extraction = resolve(extraction, payload.chunks, schema, ports.graph)  # one entity per name, across runs too
    enriched = payload.model_copy(
        update={
            "entities": extraction.entities,
            "relations": extraction.relations,
            "extractor": run.record.extractor,
        }
    )
    return StageOutput(payload=enriched)


def run_extractor(extractor: Extractor, chunks: Sequence[Chunk], job_id: str | None, batch: int) -> ExtractionRun:
    """The batch through the extractor, with its record: an accounting extractor (the LLM one) makes its own."""
    if isinstance(extractor, BatchExtractor):
        return extractor.extract_batch(chunks, job_id, batch)
    record = BatchExtraction(batch=batch, extractor=extractor.name, chunks=len(chunks))
    return ExtractionRun(extraction=extractor.extract(chunks), record=record)


@lru_cache(maxsize=8)
def _schema(path: Path | None) -> tuple[ExtractionSchema, dict[str, str]]:
    """Loaded once per process and path: the schema is fixed for the life of a worker."""
    schema = load_schema(path)
    return schema, title_words(schema)


def merge_declared(
    extraction: Extraction, chunks: Sequence[Chunk], schema: ExtractionSchema, titles: dict[str, str] | None = None
) -> Extraction:
    """The extraction with every declared mention and link of the chunks merged in by id (chunk ids unioned).

    Types and triples outside the schema are left out: the ingestion config is checked against the schema when
    it loads, so only a parser's own declarations could hit this.
    """
    titles = title_words(schema) if titles is None else titles
    entities = {entity.entity_id: entity for entity in extraction.entities}
    relations = {relation.relation_id: relation for relation in extraction.relations}
    for chunk in chunks:
        for mention in (mention for entry in chunk.records for mention in entry.mentions):
            _add_entity(entities, schema, titles, mention.type, mention.name, chunk.chunk_id)
        for link in (link for entry in chunk.records for link in entry.links):
            if not schema.allows(link.source.type, link.type, link.target.type):
                continue
            source = _add_entity(entities, schema, titles, link.source.type, link.source.name, chunk.chunk_id)
            target = _add_entity(entities, schema, titles, link.target.type, link.target.name, chunk.chunk_id)
            if source is None or target is None or source == target:
                continue
            if schema.relation_types[link.type].symmetric and target < source:
                source, target = target, source  # one edge whichever way round it was written, as the extractor does
            add_relation(relations, source, link.type, target, chunk)
    return Extraction(entities=list(entities.values()), relations=list(relations.values()))


def _add_entity(
    entities: dict[str, Entity], schema: ExtractionSchema, titles: dict[str, str], type_: str, raw: str, chunk_id: str
) -> str | None:
    name = clean_name(raw, type_, titles) if type_ in schema.entity_types else None
    if name is None:
        return None
    return add_entity(entities, type_, name, chunk_id)
