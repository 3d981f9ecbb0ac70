"""The LLM extractor (DESIGN.md §5): entities and relations by a chat model with structured output, within a token
budget shared by every worker, cached per chunk text, and covered by the offline extractor whenever the model
cannot answer.

Per batch of chunks: answers cached for a chunk's text are used as they are; the other chunks are packed into
requests of at most `request_tokens` (prompt and output cap together), each reserved against the per-minute and
per-job budgets before it is sent and settled with the tokens it really used. The chunks the model does not
answer go to the offline extractor: when a budget is spent, when the model still fails after the SDK's retries
(then no further request is tried for the batch), when it refuses a request (a permanent failure, also recorded
as an issue on the job so it is never silent), or when one chunk alone is larger than a request may be. An answer
cut at the output cap is asked again in halves, down to single chunks. The batch's record says which extractor
produced it and what it cost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from shared.domain import (
    BatchExtraction,
    Chunk,
    Entity,
    Extraction,
    ParseIssue,
    PermanentError,
    Reason,
    Relation,
    TransientError,
)
from shared.extraction.llm_budget import BudgetSpentError, Reservation, TokenBudget
from shared.extraction.llm_cache import AnswerCache
from shared.extraction.llm_prompt import (
    SCHEMA_NAME,
    ChunkFacts,
    answer_schema,
    read_answer,
    system_prompt,
    user_prompt,
)
from shared.extraction.provenance import add_entity, add_relation
from shared.extraction.schema import ExtractionSchema
from shared.ports import ChatModel, ExtractionRun, Extractor
from shared.tokens import TokenCounter, token_counter

log = logging.getLogger(__name__)

# Chat models of the gpt-4o, gpt-4.1, o-series and gpt-5 families tokenize with o200k_base.
ENCODING = "o200k_base"
# Per message and per reply the chat format adds a few tokens; per chunk its JSON wrapping ({"chunk": n, "text": }).
_MESSAGE_OVERHEAD = 4
_REPLY_OVERHEAD = 3
_ITEM_OVERHEAD = 12


@dataclass
class _Tally:
    """What one batch's requests cost and where each chunk's answer came from."""

    facts: dict[int, ChunkFacts] = field(default_factory=dict)  # position -> facts (asked or cached)
    cached: int = 0
    fallback: list[int] = field(default_factory=list)
    fallback_reason: str | None = None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    issues: list[ParseIssue] = field(default_factory=list)
    stop: bool = False  # a transient failure or a spent budget: ask nothing more in this batch

    def fall_back(self, positions: Sequence[int], reason: str) -> None:
        self.fallback.extend(positions)
        self.fallback_reason = self.fallback_reason or reason


class LLMExtractor:
    """`Extractor` (and `BatchExtractor`) over a `ChatModel`, with the offline extractor as its fallback."""

    def __init__(
        self,
        chat: ChatModel,
        schema: ExtractionSchema,
        fallback: Extractor,
        *,
        budget: TokenBudget | None = None,
        cache: AnswerCache | None = None,
        request_tokens: int = 16_000,
        output_tokens: int = 4_096,
        count_tokens: TokenCounter | None = None,
    ) -> None:
        self.chat = chat
        self.schema = schema
        self.fallback = fallback
        self.budget = budget
        self.cache = cache
        self.name = f"llm:{chat.name}"
        self.output_tokens = output_tokens
        self._count = count_tokens or token_counter(ENCODING)
        self._system = system_prompt(schema)
        self._schema = answer_schema(schema)
        # The structured-output schema is sent with every request and counts into its prompt.
        fixed = self._count(self._system) + self._count(json.dumps(self._schema)) + self._count(user_prompt([]))
        self._fixed_tokens = fixed + 2 * _MESSAGE_OVERHEAD + _REPLY_OVERHEAD
        self.input_room = request_tokens - output_tokens - self._fixed_tokens
        if self.input_room <= 0:
            raise ValueError(
                f"a request of {request_tokens} tokens leaves no room for chunks: the prompt and schema take "
                f"{self._fixed_tokens} and the output cap {output_tokens}"
            )

    def request_tokens(self, texts: Sequence[str]) -> int:
        """What a request for these chunk texts reserves: its prompt (instructions, schema, chunks) and output cap."""
        return self._fixed_tokens + sum(self._count(text) + _ITEM_OVERHEAD for text in texts) + self.output_tokens

    def extract(self, chunks: Sequence[Chunk]) -> Extraction:
        """The batch's extraction outside any job (only the per-minute budget applies)."""
        return self.extract_batch(chunks, None, 0).extraction

    def extract_batch(self, chunks: Sequence[Chunk], job_id: str | None, batch: int) -> ExtractionRun:
        tally = _Tally()
        sizes = [self._count(chunk.text) + _ITEM_OVERHEAD for chunk in chunks]
        to_ask: list[int] = []
        for position, chunk in enumerate(chunks):
            if not chunk.text.strip():
                tally.facts[position] = ChunkFacts()  # nothing to read: no request, no fallback
                continue
            cached = self.cache.get(chunk.text) if self.cache is not None else None
            if cached is not None:
                tally.facts[position] = cached
                tally.cached += 1
            elif sizes[position] > self.input_room:
                tally.fall_back([position], Reason.LLM_CHUNK_TOO_LONG)
            else:
                to_ask.append(position)
        for request in _packs(to_ask, sizes, self.input_room):
            if tally.stop:
                tally.fall_back(request, tally.fallback_reason or Reason.LLM_UNAVAILABLE)
                continue
            self._ask(chunks, request, sizes, job_id, batch, tally)
        return self._run(chunks, batch, tally)

    def _ask(
        self,
        chunks: Sequence[Chunk],
        request: list[int],
        sizes: Sequence[int],
        job_id: str | None,
        batch: int,
        tally: _Tally,
    ) -> None:
        """One request for these chunks (split in halves when the answer is cut at the output cap)."""
        texts = [chunks[position].text for position in request]
        estimate = self._fixed_tokens + sum(sizes[position] for position in request) + self.output_tokens  # as
        # request_tokens(texts) counts it, from the sizes counted once per batch
        try:
            reservation = self.budget.reserve(estimate, job_id) if self.budget is not None else None
        except BudgetSpentError as spent:
            log.info("LLM budget spent, batch %s falls back: %s", batch, spent)
            tally.fall_back(request, spent.reason)
            tally.stop = True
            return
        used = 0
        try:
            tally.requests += 1
            answer = self.chat.complete_json(
                self._system,
                user_prompt(texts),
                schema_name=SCHEMA_NAME,
                schema=self._schema,
                max_tokens=self.output_tokens,
            )
            used = answer.input_tokens + answer.output_tokens
            tally.input_tokens += answer.input_tokens
            tally.output_tokens += answer.output_tokens
            facts = read_answer(answer.content, texts, self.schema)
        except PermanentError as error:
            if error.reason_code == Reason.LLM_TRUNCATED:
                used = estimate  # the model ran to the cap: count it spent (the error carries no usage)
                if len(request) > 1:
                    middle = len(request) // 2
                    self._settle(reservation, used)
                    for half in (request[:middle], request[middle:]):
                        self._ask(chunks, half, sizes, job_id, batch, tally)
                    return
            self._settle(reservation, used)
            log.warning(
                "LLM refused batch %s (%s), the offline extractor reads it: %s", batch, error.reason_code, error
            )
            tally.fall_back(request, error.reason_code)
            tally.issues.append(
                ParseIssue(locator=f"extract batch {batch}", reason_code=error.reason_code, detail=str(error))
            )
            return
        except TransientError as error:
            self._settle(reservation, used)
            log.warning(
                "LLM failed on batch %s (%s), the offline extractor reads it: %s", batch, error.reason_code, error
            )
            tally.fall_back(request, error.reason_code)
            tally.stop = True
            return
        self._settle(reservation, used)
        for position, text, found in zip(request, texts, facts, strict=True):
            tally.facts[position] = found
            if self.cache is not None:
                self.cache.put(text, found)

    def _settle(self, reservation: Reservation | None, used: int) -> None:
        if self.budget is not None and reservation is not None:
            self.budget.settle(reservation, used)

    def _run(self, chunks: Sequence[Chunk], batch: int, tally: _Tally) -> ExtractionRun:
        answered = [(chunks[position], facts) for position, facts in sorted(tally.facts.items())]
        parts = [to_extraction(answered, self.schema)]
        fallback_chunks = [chunks[position] for position in sorted(tally.fallback)]
        if fallback_chunks:
            parts.append(self.fallback.extract(fallback_chunks))
        model_used = len(tally.facts) > 0
        names = [self.name] * model_used + [self.fallback.name] * bool(fallback_chunks)
        record = BatchExtraction(
            batch=batch,
            extractor="+".join(names) or self.name,
            chunks=len(chunks),
            model_chunks=len(tally.facts) - tally.cached,
            cached_chunks=tally.cached,
            fallback_chunks=len(fallback_chunks),
            requests=tally.requests,
            input_tokens=tally.input_tokens,
            output_tokens=tally.output_tokens,
            dropped=sum(facts.dropped for _, facts in answered),
            fallback_reason=tally.fallback_reason,
        )
        return ExtractionRun(extraction=union(parts), record=record, issues=tuple(tally.issues))


def _packs(positions: Sequence[int], sizes: Sequence[int], room: int) -> list[list[int]]:
    """Consecutive runs of `positions` whose sizes add up to at most `room` each."""
    packs: list[list[int]] = []
    current: list[int] = []
    used = 0
    for position in positions:
        if current and used + sizes[position] > room:
            packs.append(current)
            current, used = [], 0
        current.append(position)
        used += sizes[position]
    if current:
        packs.append(current)
    return packs


def to_extraction(answered: Sequence[tuple[Chunk, ChunkFacts]], schema: ExtractionSchema) -> Extraction:
    """Domain entities and relations of the chunks' facts: deterministic ids, each chunk as provenance."""
    entities: dict[str, Entity] = {}
    relations: dict[str, Relation] = {}
    for chunk, facts in answered:
        for type_, name in facts.entities:
            add_entity(entities, type_, name, chunk.chunk_id)
        for source_type, source_name, relation_type, target_type, target_name in facts.relations:
            source = add_entity(entities, source_type, source_name, chunk.chunk_id)
            target = add_entity(entities, target_type, target_name, chunk.chunk_id)
            spec = schema.relation_types.get(relation_type)
            if spec is not None and spec.symmetric and target < source:
                source, target = target, source  # one edge whichever way round it was written
            add_relation(relations, source, relation_type, target, chunk)
    return Extraction(entities=list(entities.values()), relations=list(relations.values()))


def union(parts: Sequence[Extraction]) -> Extraction:
    """Extractions merged by id: an entity or relation found by several keeps the first's fields, chunks unioned."""
    entities: dict[str, Entity] = {}
    relations: dict[str, Relation] = {}
    for part in parts:
        for entity in part.entities:
            found = entities.get(entity.entity_id)
            entities[entity.entity_id] = entity if found is None else _with_chunks(found, entity.chunk_ids)
        for relation in part.relations:
            seen = relations.get(relation.relation_id)
            relations[relation.relation_id] = relation if seen is None else _with_chunks(seen, relation.chunk_ids)
    return Extraction(entities=list(entities.values()), relations=list(relations.values()))


_Item = TypeVar("_Item", Entity, Relation)


def _with_chunks(item: _Item, chunk_ids: Sequence[str]) -> _Item:
    added: list[str] = [chunk_id for chunk_id in chunk_ids if chunk_id not in item.chunk_ids]
    return item.model_copy(update={"chunk_ids": [*item.chunk_ids, *added]}) if added else item
