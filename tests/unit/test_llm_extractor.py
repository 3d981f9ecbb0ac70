"""The LLM extractor through the real `openai` client against the OpenAI stand-in, with a real SQLite job store
(the shared token budget) and a real blob folder (the response cache): answers read against the schema, the
service's failures covered by the offline extractor, the budget, the cache and the split of a cut answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.azure_openai_chat import AzureOpenAIChat
from shared.adapters.local_blob import LocalFolderBlobStore
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.domain import Chunk, Job
from shared.domain.ids import chunk_id, entity_id, relation_id
from shared.extraction.llm import LLMExtractor
from shared.extraction.llm_budget import TokenBudget
from shared.extraction.llm_cache import AnswerCache
from shared.extraction.llm_prompt import PROMPT_VERSION
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema
from shared.ports import ExtractionRun
from tests.support.llm_answers import GazetteerModel, request_chunks
from tests.support.openai_standin import CHAT_DEPLOYMENT, KEY, OpenAIStandIn

SCHEMA = load_schema()
OKAFOR = "Zoë Okafor, chief scientist at Brightwater Labs, moved to Lisbon in May."
PARTNERS = "Brightwater Labs signed a partnership with Okapi Analytics for the Heron pilot."
MODEL = GazetteerModel(
    names={
        "Zoë Okafor": "Person",
        "Brightwater Labs": "Organization",
        "Lisbon": "Place",
        "Okapi Analytics": "Organization",
    },
    relations=[
        ("Zoë Okafor", "WORKS_FOR", "Brightwater Labs"),
        ("Zoë Okafor", "BASED_IN", "Lisbon"),
        ("Okapi Analytics", "PARTNERS_WITH", "Brightwater Labs"),
    ],
)
NAME = f"llm:{CHAT_DEPLOYMENT}"


def chunks_of(*texts: str, document: str = "doc-1") -> list[Chunk]:
    return [
        Chunk(
            chunk_id=chunk_id(document, "v1", ordinal),
            document_id=document,
            version="v1",
            ordinal=ordinal,
            text=text,
            locator=f"line {ordinal + 1}",
        )
        for ordinal, text in enumerate(texts)
    ]


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[SQLiteJobStore]:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    store.migrate()
    stamp = datetime.now(UTC)
    store.create_job(
        Job(
            job_id="job-1",
            document_id="doc-1",
            path="a.txt",
            version="v1",
            tracking_id="t",
            created_at=stamp,
            updated_at=stamp,
        )
    )
    yield store
    store.close()


def extractor_for(
    openai_standin: OpenAIStandIn,
    tmp_path: Path,
    jobs: SQLiteJobStore,
    *,
    per_minute: int = 0,
    per_job: int = 0,
    max_retries: int = 1,
    timeout: float = 10.0,
    **options: Any,
) -> LLMExtractor:
    chat = AzureOpenAIChat.from_connection_setting(
        "OpenAIConnection",
        CHAT_DEPLOYMENT,
        "2024-10-21",
        {"OpenAIConnection": f"Endpoint={openai_standin.endpoint};Key={KEY}"},
        max_retries=max_retries,
        timeout=timeout,
    )
    blobs = LocalFolderBlobStore(tmp_path / "blobs", "local")
    cache = AnswerCache(blobs, "work", model=chat.name, schema_hash=SCHEMA.schema_hash, prompt_version=PROMPT_VERSION)
    budget = TokenBudget(jobs, chat.name, per_minute=per_minute, per_job=per_job)
    return LLMExtractor(chat, SCHEMA, RuleBasedExtractor(SCHEMA), budget=budget, cache=cache, **options)


def one_chunk_per_request(extractor: LLMExtractor) -> None:
    """Room in a request for the larger of the two texts, not for both."""
    sizes = [extractor.request_tokens([text]) - extractor.request_tokens([]) for text in (OKAFOR, PARTNERS)]
    extractor.input_room = max(sizes)
    assert sum(sizes) > extractor.input_room


def names(run: ExtractionRun) -> set[tuple[str, str]]:
    return {(entity.type, entity.name) for entity in run.extraction.entities}


def test_a_structured_answer_becomes_entities_and_relations_with_ids_and_provenance(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN a model that knows the names of two chunks
    openai_standin.chat_responder = MODEL
    chunks = chunks_of(OKAFOR, PARTNERS)

    # WHEN the batch is extracted for a job
    run = extractor_for(openai_standin, tmp_path, jobs).extract_batch(chunks, "job-1", 0)

    # THEN one request asked for both chunks, under the schema's types and allowed triples
    (request,) = openai_standin.chat_requests()
    assert [chunk["text"] for chunk in request_chunks(request.body)] == [OKAFOR, PARTNERS]
    schema = request.body["response_format"]["json_schema"]["schema"]
    item = schema["properties"]["chunks"]["items"]["properties"]
    assert item["entities"]["items"]["properties"]["type"]["enum"] == ["Person", "Organization", "Place", "Project"]
    triples = {
        (
            b["properties"]["source_type"]["enum"][0],
            b["properties"]["type"]["enum"][0],
            b["properties"]["target_type"]["enum"][0],
        )
        for b in item["relations"]["items"]["anyOf"]
    }
    assert ("Person", "WORKS_FOR", "Organization") in triples
    assert ("Organization", "WORKS_FOR", "Organization") not in triples
    # AND the answer became entities with the deterministic ids, each with the chunks that mention it
    okafor, labs = entity_id("Person", "Zoë Okafor"), entity_id("Organization", "Brightwater Labs")
    entities = {entity.entity_id: entity for entity in run.extraction.entities}
    assert entities[labs].chunk_ids == [chunks[0].chunk_id, chunks[1].chunk_id]
    assert entities[okafor].chunk_ids == [chunks[0].chunk_id]
    assert names(run) == {
        ("Person", "Zoë Okafor"),
        ("Organization", "Brightwater Labs"),
        ("Place", "Lisbon"),
        ("Organization", "Okapi Analytics"),
    }
    # AND relations with their ids and evidence; the symmetric one stored one way round whoever wrote it
    relations = {relation.relation_id: relation for relation in run.extraction.relations}
    works = relations[relation_id(okafor, "WORKS_FOR", labs)]
    assert (works.chunk_ids, works.evidence) == ([chunks[0].chunk_id], OKAFOR)
    okapi = entity_id("Organization", "Okapi Analytics")
    assert relation_id(min(okapi, labs), "PARTNERS_WITH", max(okapi, labs)) in relations
    assert len(relations) == 3
    # AND the record says the model produced the batch, and what it cost
    record = run.record
    assert (record.extractor, record.chunks, record.model_chunks, record.requests) == (NAME, 2, 2, 1)
    assert (record.cached_chunks, record.fallback_chunks, record.fallback_reason, record.dropped) == (0, 0, None, 0)
    assert record.input_tokens > 0
    assert record.output_tokens > 0
    assert run.issues == ()


def test_what_the_schema_does_not_allow_is_dropped_and_counted(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN answers holding an unknown type, a name the text does not hold, a relation to an entity not listed and
    # a relation the schema does not allow between those types
    openai_standin.chat_responder = GazetteerModel(
        names=MODEL.names,
        relations=MODEL.relations,
        extra_entities=[{"name": "Brightwater Labs", "type": "Spaceship"}, {"name": "Ada Lovelace", "type": "Person"}],
        extra_relations=[
            {
                "source": "Zoë Okafor",
                "source_type": "Person",
                "type": "LEADS",
                "target": "Heron",
                "target_type": "Project",
            },
            {
                "source": "Lisbon",
                "source_type": "Place",
                "type": "FUNDS",
                "target": "Zoë Okafor",
                "target_type": "Person",
            },
        ],
    )
    # WHEN one chunk is extracted
    run = extractor_for(openai_standin, tmp_path, jobs).extract_batch(chunks_of(OKAFOR), "job-1", 0)
    # THEN the four are left out and counted, and what the schema allows is kept
    assert run.record.dropped == 4
    assert names(run) == {("Person", "Zoë Okafor"), ("Organization", "Brightwater Labs"), ("Place", "Lisbon")}
    assert {relation.type for relation in run.extraction.relations} == {"WORKS_FOR", "BASED_IN"}
    assert run.record.extractor == NAME


def test_a_429_is_retried_after_its_wait_and_the_model_still_answers(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    openai_standin.chat_responder = MODEL
    openai_standin.fail_next(1, 429, retry_after="1")
    started = time.monotonic()
    run = extractor_for(openai_standin, tmp_path, jobs).extract_batch(chunks_of(OKAFOR), "job-1", 0)
    assert time.monotonic() - started >= 1.0
    assert len(openai_standin.chat_requests()) == 2
    assert (run.record.extractor, run.record.fallback_chunks) == (NAME, 0)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (lambda standin: standin.fail_next(2, 500), "llm.unavailable"),
        (lambda standin: standin.fail_next(2, 429, retry_after="0.1"), "llm.throttled"),
        (lambda standin: standin.answer_next(b"<html>Bad gateway</html>", "text/html"), "llm.bad_response"),
        (lambda standin: [standin.stall_next(1.5) for _ in range(2)], "llm.unavailable"),
    ],
    ids=["500", "429-past-retries", "malformed-body", "timeout"],
)
def test_a_model_failing_past_its_retries_falls_back_to_the_offline_extractor(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore, fault: Any, reason: str
) -> None:
    # GIVEN a batch that needs two requests, and a service failing the first past its retries
    openai_standin.chat_responder = MODEL
    extractor = extractor_for(openai_standin, tmp_path, jobs, timeout=0.5)
    one_chunk_per_request(extractor)
    fault(openai_standin)
    # WHEN the batch is extracted
    run = extractor.extract_batch(chunks_of(OKAFOR, PARTNERS), "job-1", 3)
    # THEN the offline extractor read the whole batch, and the record says so with the reason
    assert (run.record.extractor, run.record.fallback_chunks, run.record.fallback_reason) == ("rules", 2, reason)
    assert ("Person", "Zoë Okafor") in names(run)
    # AND after a failure past the retries the batch's next request was not tried (one try and one retry at most)
    assert len(openai_standin.chat_requests()) <= 2
    assert run.issues == ()


def test_a_refused_request_falls_back_and_is_recorded_as_an_issue(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN a model refusing the first request (a 400), answering the next
    openai_standin.chat_responder = MODEL
    extractor = extractor_for(openai_standin, tmp_path, jobs)
    one_chunk_per_request(extractor)
    openai_standin.fail_next(1, 400, message="unsupported request")
    # WHEN a batch of two requests is extracted
    run = extractor.extract_batch(chunks_of(OKAFOR, PARTNERS), "job-1", 5)
    # THEN the refused chunk went to the offline extractor, the other to the model, and the refusal is an issue
    record = run.record
    assert (record.extractor, record.model_chunks, record.fallback_chunks) == (f"{NAME}+rules", 1, 1)
    assert record.fallback_reason == "llm.refused"
    assert [(issue.locator, issue.reason_code) for issue in run.issues] == [("extract batch 5", "llm.refused")]


def test_the_job_budget_spent_mid_job_sends_the_rest_to_the_offline_extractor(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN a job budget that fits one request's reservation (its prompt and output cap), not two
    openai_standin.chat_responder = MODEL
    probe = extractor_for(openai_standin, tmp_path, jobs)
    budget = probe.request_tokens([OKAFOR]) + 10
    extractor = extractor_for(openai_standin, tmp_path, jobs, per_job=budget)
    # WHEN two batches of the job are extracted
    first = extractor.extract_batch(chunks_of(OKAFOR), "job-1", 0)
    second = extractor.extract_batch(chunks_of(PARTNERS), "job-1", 1)
    # THEN the first was the model's, and the job's counter holds what it really used (the rest given back)
    assert (first.record.extractor, first.record.fallback_chunks) == (NAME, 0)
    assert jobs.tokens_used("llm-job:job-1") == first.record.input_tokens + first.record.output_tokens
    # AND the second did not fit: the offline extractor read it, no request was sent, and the record says why
    assert (second.record.extractor, second.record.fallback_reason) == ("rules", "llm.job_budget_spent")
    assert second.record.requests == 0
    assert len(openai_standin.chat_requests()) == 1
    # AND another job has its own budget
    assert extractor.extract_batch(chunks_of(PARTNERS), "job-2", 0).record.extractor == NAME


def test_the_minute_budget_shared_by_workers_is_kept(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN two workers (two extractors on one job store) and a minute budget of one request
    openai_standin.chat_responder = MODEL
    probe = extractor_for(openai_standin, tmp_path, jobs)
    per_minute = probe.request_tokens([OKAFOR]) + 10
    one = extractor_for(openai_standin, tmp_path / "one", jobs, per_minute=per_minute)
    two = extractor_for(openai_standin, tmp_path / "two", jobs, per_minute=per_minute)
    # WHEN each extracts a batch in the same minute, the second reserving while the first's call is on
    held = one.budget.reserve(per_minute - 5, None)  # the first worker's request in flight
    run = two.extract_batch(chunks_of(PARTNERS), "job-1", 0)
    one.budget.settle(held, 0)
    # THEN the second worker fell back for the minute
    assert (run.record.extractor, run.record.fallback_reason) == ("rules", "llm.minute_budget_spent")
    assert openai_standin.chat_requests() == []


def test_a_redelivered_batch_is_served_from_the_cache(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN a batch extracted once by the model
    openai_standin.chat_responder = MODEL
    extractor = extractor_for(openai_standin, tmp_path, jobs)
    first = extractor.extract_batch(chunks_of(OKAFOR, PARTNERS), "job-1", 0)
    # WHEN the same texts come again, in another worker, for another document (a re-ingest or a redelivery)
    again = extractor_for(openai_standin, tmp_path, jobs).extract_batch(
        chunks_of(OKAFOR, PARTNERS, document="doc-2"), "job-2", 0
    )
    # THEN the stand-in saw no second request, the answer is the same, and the record says it cost nothing
    assert len(openai_standin.chat_requests()) == 1
    assert names(again) == names(first)
    assert {tuple(e.chunk_ids) for e in again.extraction.entities} >= {(chunk_id("doc-2", "v1", 1),)}
    assert (again.record.extractor, again.record.cached_chunks, again.record.requests) == (NAME, 2, 0)
    assert (again.record.input_tokens, again.record.output_tokens) == (0, 0)


def test_an_answer_cut_at_the_output_cap_is_asked_again_in_halves(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    # GIVEN a model whose answer for more than one chunk is cut at the output cap
    def cut_when_long(body: dict[str, Any]) -> Any:
        return ('{"chunks": [{"chunk": 0, "entit', "length") if len(request_chunks(body)) > 1 else MODEL(body)

    openai_standin.chat_responder = cut_when_long
    # WHEN a batch of two chunks is extracted
    run = extractor_for(openai_standin, tmp_path, jobs).extract_batch(chunks_of(OKAFOR, PARTNERS), "job-1", 0)
    # THEN the pair was asked again one chunk at a time, and the model produced the whole batch
    assert [len(request_chunks(r.body)) for r in openai_standin.chat_requests()] == [2, 1, 1]
    assert (run.record.extractor, run.record.model_chunks, run.record.requests) == (NAME, 2, 3)
    assert ("Organization", "Okapi Analytics") in names(run)


def test_a_chunk_larger_than_a_request_goes_to_the_offline_extractor(
    openai_standin: OpenAIStandIn, tmp_path: Path, jobs: SQLiteJobStore
) -> None:
    openai_standin.chat_responder = MODEL
    extractor = extractor_for(openai_standin, tmp_path, jobs)
    extractor.input_room = 40  # tokens: the short chunk fits, the long one does not
    long_text = OKAFOR + " " + "More words about nothing in particular. " * 20
    run = extractor.extract_batch(chunks_of("Lisbon is sunny.", long_text), "job-1", 0)
    assert (run.record.model_chunks, run.record.fallback_chunks) == (1, 1)
    assert run.record.fallback_reason == "llm.chunk_too_long"
    assert ("Person", "Zoë Okafor") in names(run)  # read by the rules
