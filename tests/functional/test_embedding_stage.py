"""The enrich stage on the real Azure OpenAI embedder (the `openai` client against the local stand-in of the
service): vectors and languages reach the chunks, a refused chunk fails its job with the `embed.*` reason at once,
and a service that stays down is retried until the delivery cap dead-letters the batch."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.adapters.azure_openai_embedder import AzureOpenAIEmbedder
from shared.domain import Chunk, JobState, Stage
from shared.pipeline.settlement import MAX_DELIVERY_EXCEEDED
from tests.support.openai_standin import DEPLOYMENT, KEY, OpenAIStandIn, expected_vector
from tests.support.pipeline import Pipeline, PipelineFactory

pytestmark = pytest.mark.falkordb

ENGLISH = b"Ada Lovelace works at Acme Labs in London and writes about analytical engines.\n"
GERMAN = b"Die Rechenmaschine wurde im Jahr 1843 von einer englischen Mathematikerin beschrieben.\n"


class RecordingExtractor:
    """The real extractor, keeping the chunks enrich handed on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.chunks: list[Chunk] = []

    def extract(self, chunks: list[Chunk]) -> Any:
        self.chunks.extend(chunks)
        return self.inner.extract(chunks)


def pipeline_on(make_pipeline: PipelineFactory, openai_standin: OpenAIStandIn, **options: Any) -> Pipeline:
    max_delivery_count = options.pop("max_delivery_count", 10)

    def with_azure_openai(ports: Any) -> Any:
        embedder = AzureOpenAIEmbedder.from_connection_setting(
            "OpenAIConnection",
            DEPLOYMENT,
            "2024-10-21",
            ports.settings.embedding_dimension,
            {"OpenAIConnection": f"Endpoint={openai_standin.endpoint};Key={KEY}"},
            max_retries=0,
            **options,
        )
        return dataclasses.replace(ports, embedder=embedder, extractor=RecordingExtractor(ports.extractor))

    return make_pipeline(wrap=with_azure_openai, max_delivery_count=max_delivery_count)


def test_chunks_carry_the_services_vectors_and_their_language(
    make_pipeline: PipelineFactory, openai_standin: OpenAIStandIn
) -> None:
    # GIVEN the pipeline embedding through the service, and what enrich hands on
    pipeline = pipeline_on(make_pipeline, openai_standin)
    # WHEN an English and a German file are ingested
    english = pipeline.job(pipeline.drop("en.txt", ENGLISH))
    german = pipeline.job(pipeline.drop("de.txt", GERMAN))
    # THEN both succeed, the vector index answers a query with the service's vector of a chunk by that chunk
    assert (english.state, german.state) == (JobState.SUCCEEDED, JobState.SUCCEEDED)
    sent = [text for request in openai_standin.requests for text in request.body["input"]]
    assert len(sent) == 2
    hits = pipeline.ports.vectors.search(expected_vector(sent[1], pipeline.ports.settings.embedding_dimension), 1)
    assert hits[0].text == sent[1]
    # AND the chunks' languages were told by enrich (extract sees them in the batch it receives)
    extractor = pipeline.ports.extractor
    assert isinstance(extractor, RecordingExtractor)
    assert sorted(chunk.language or "" for chunk in extractor.chunks) == ["de", "en"]


def test_a_chunk_the_model_refuses_fails_its_job_at_once_with_the_reason(
    make_pipeline: PipelineFactory, openai_standin: OpenAIStandIn
) -> None:
    # GIVEN a deployment that takes at most 5 tokens an input
    pipeline = pipeline_on(make_pipeline, openai_standin, max_input_tokens=5)
    # WHEN a longer chunk is ingested
    job = pipeline.job(pipeline.drop("long.txt", ENGLISH))
    # THEN the batch is dead-lettered on the first delivery and the job fails with embed.input_too_long
    assert (job.state, job.reason_code) == (JobState.FAILED, "embed.input_too_long")
    assert job.counters(Stage.ENRICH).dead_lettered == 1
    assert [(d.queue, d.reason) for d in pipeline.bus.dead_letters] == [("enrich", "embed.input_too_long")]
    assert openai_standin.requests == []


def test_a_service_that_stays_down_is_retried_until_the_delivery_cap(
    make_pipeline: PipelineFactory, openai_standin: OpenAIStandIn
) -> None:
    # GIVEN a service answering 503 to everything, and a cap of 3 deliveries
    openai_standin.fail_next(100, 503)
    pipeline = pipeline_on(make_pipeline, openai_standin, max_delivery_count=3)
    # WHEN a file is ingested
    job = pipeline.job(pipeline.drop("doc.txt", ENGLISH))
    # THEN the enrich batch was delivered 3 times (one request each: no SDK retries here), then dead-lettered
    assert len(openai_standin.requests) == 3
    assert (job.state, job.reason_code) == (JobState.FAILED, MAX_DELIVERY_EXCEEDED)
    assert job.counters(Stage.ENRICH).dead_lettered == 1


def test_the_local_model_through_the_wiring_finds_a_chunk_by_meaning(make_pipeline: PipelineFactory) -> None:
    # GIVEN the pipeline with the embedder the wiring opens for TRIBUTARY_EMBEDDER=local (384-d vectors)
    from contextlib import ExitStack

    from shared import wiring

    stack = ExitStack()

    def with_local_model(ports: Any) -> Any:
        embedder = wiring._backend("embedder", "local").open(ports.settings, {}, stack)
        return dataclasses.replace(ports, embedder=embedder)

    pipeline = make_pipeline(wrap=with_local_model, embedding_dimension=384, embedder="local")
    assert wiring._backend("embedder", "local").requires(pipeline.ports.settings, {}) is None
    # WHEN two unrelated files are ingested
    pipeline.drop("finance.txt", b"The quarterly invoice from Contoso was paid late because of a billing dispute.\n")
    pipeline.drop("birds.txt", b"Emperor penguins huddle together to survive the long Antarctic winter.\n")
    # THEN a question sharing no content word with the answer finds it first
    query = pipeline.ports.embedder.embed(["Which animals stay warm in the cold at the south pole?"])[0]
    hits = pipeline.ports.vectors.search(query, 2)
    assert "penguins" in hits[0].text
    stack.close()
