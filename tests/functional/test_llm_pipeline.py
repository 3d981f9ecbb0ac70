"""The whole pipeline with TRIBUTARY_EXTRACTOR=llm, its chat deployment the OpenAI stand-in: through the CLI on the
embedded default (the wiring as a user gets it), and in process for the budget spent mid-job and a redelivered
extract batch."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.azure_openai_chat import AzureOpenAIChat
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.api_jobs import get_job
from shared.domain import JobState, Stage
from shared.extraction.llm import LLMExtractor
from shared.extraction.llm_budget import TokenBudget
from shared.extraction.llm_cache import AnswerCache
from shared.extraction.llm_prompt import PROMPT_VERSION
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema
from shared.pipeline.delivery import handle_delivery
from shared.ports import Ports
from tests.support.llm_answers import GazetteerModel
from tests.support.openai_standin import CHAT_DEPLOYMENT, KEY, OpenAIStandIn
from tests.support.pipeline import SAMPLES, PipelineFactory

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(600)]

SAMPLE_MODEL = GazetteerModel(
    names={
        "Kaito Arakawa": "Person",
        "Rui Matos": "Person",
        "Zoë Okafor": "Person",
        "Amara Nwosu": "Person",
        "Brightwater Labs": "Organization",
        "Harbour Institute": "Organization",
        "Okapi Analytics": "Organization",
        "Blue Margin Consortium": "Organization",
        "Porto": "Place",
        "Nairobi": "Place",
        "Project Heron": "Project",
    },
    relations=[
        ("Kaito Arakawa", "WORKS_FOR", "Harbour Institute"),
        ("Rui Matos", "WORKS_FOR", "Brightwater Labs"),
        ("Zoë Okafor", "REPORTS_TO", "Rui Matos"),
        ("Okapi Analytics", "LOCATED_IN", "Nairobi"),
        ("Kaito Arakawa", "MEMBER_OF", "Project Heron"),
    ],
)
LLM = f"llm:{CHAT_DEPLOYMENT}"
SOME_SAMPLES = ("people-moves.txt", "okapi-tidewater-update.txt", "staff.csv", "kestrel-review.pptx")


def tributary(*args: str | Path, data_dir: Path, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "shared.cli", *map(str, args), "--data-dir", str(data_dir)]
    env = {"COLUMNS": "220", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", **settings}
    return subprocess.run(command, capture_output=True, text=True, timeout=500, env=env, check=False)


def llm_settings(openai_standin: OpenAIStandIn, **extra: str) -> dict[str, str]:
    return {
        "TRIBUTARY_EXTRACTOR": "llm",
        "TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT": CHAT_DEPLOYMENT,
        "TRIBUTARY_AZURE_OPENAI_MAX_RETRIES": "1",
        "OpenAIConnection": f"Endpoint={openai_standin.endpoint};Key={KEY}",
        **extra,
    }


def test_samples_through_the_cli_with_the_llm_extractor_and_again_from_the_cache(
    openai_standin: OpenAIStandIn, tmp_path: Path
) -> None:
    # GIVEN the chat deployment (the stand-in) knowing some of the samples' names, and the LLM extractor chosen
    openai_standin.chat_responder = SAMPLE_MODEL
    settings = llm_settings(openai_standin)
    data = tmp_path / "data"
    for folder in ("first", "copy"):  # under samples/: ingestion.yaml's rules for the samples apply to both
        (tmp_path / folder / "samples").mkdir(parents=True)
        for name in SOME_SAMPLES:
            shutil.copy(SAMPLES / name, tmp_path / folder / "samples" / name)

    # WHEN some of the samples are ingested
    first = tributary("ingest", tmp_path / "first", data_dir=data, settings=settings)

    # THEN every file succeeded, the model was asked, and each job records its extract batches as the model's
    assert first.returncode == 0, first.stdout + first.stderr
    asked = len(openai_standin.chat_requests())
    assert asked > 0
    with SQLiteJobStore(data / "jobs.sqlite") as store:
        jobs = store.list_jobs(limit=1000)
        assert {job.state for job in jobs} == {JobState.SUCCEEDED}
        records = [record for job in jobs for record in store.list_extractions(job.job_id)]
        tokens = sum(record.input_tokens + record.output_tokens for record in records)
        people = next(job for job in jobs if job.path.endswith("people-moves.txt"))
    assert {record.extractor for record in records} == {LLM}
    assert sum(record.requests for record in records) == asked
    assert tokens > 0

    # AND `tributary job` shows the batches with the extractor and the tokens
    report = tributary("job", people.job_id[:12], data_dir=data, settings=settings)
    assert report.returncode == 0, report.stderr
    assert re.search(r"Extraction \(\d+ batches?\)", report.stdout)
    assert LLM in report.stdout

    # WHEN the same files arrive again under other names (new documents, the same chunks)
    again = tributary("ingest", tmp_path / "copy", data_dir=data, settings=settings)

    # THEN they cost nothing: no request reached the deployment, every chunk's answer came from the cache
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(openai_standin.chat_requests()) == asked
    with SQLiteJobStore(data / "jobs.sqlite") as store:
        copies = [job for job in store.list_jobs(limit=1000) if "copy/samples/" in job.path]
        cached = [record for job in copies for record in store.list_extractions(job.job_id)]
    assert cached
    assert sum(record.requests + record.input_tokens + record.output_tokens for record in cached) == 0
    assert sum(record.cached_chunks for record in cached) == sum(record.model_chunks for record in records)


def with_llm(openai_standin: OpenAIStandIn, per_job: int = 0) -> Callable[[Ports], Ports]:
    """A `wrap` for make_pipeline: the ports with the LLM extractor over the stand-in (budget in the job store,
    cache in the blob folder), as the wiring builds it."""

    def wrap(ports: Ports) -> Ports:
        schema = load_schema(ports.settings.extraction_schema)
        chat = AzureOpenAIChat.from_connection_setting(
            "OpenAIConnection",
            CHAT_DEPLOYMENT,
            "2024-10-21",
            {"OpenAIConnection": f"Endpoint={openai_standin.endpoint};Key={KEY}"},
            max_retries=1,
            timeout=10.0,
        )
        extractor = LLMExtractor(
            chat,
            schema,
            RuleBasedExtractor(schema),
            budget=TokenBudget(ports.jobs, chat.name, per_minute=0, per_job=per_job),
            cache=AnswerCache(
                ports.blobs,
                ports.settings.work_container,
                model=chat.name,
                schema_hash=schema.schema_hash,
                prompt_version=PROMPT_VERSION,
            ),
        )
        return dataclasses.replace(ports, extractor=extractor, chat=chat)

    return wrap


def test_a_job_budget_spent_mid_job_sends_the_rest_to_the_rules_and_the_job_says_so_per_batch(
    openai_standin: OpenAIStandIn, make_pipeline: PipelineFactory
) -> None:
    # GIVEN a file of many one-chunk batches (64 tokens at most), and a job budget that one request's reservation
    # (its prompt, a chunk and the output cap) fits, but not a second once the first is settled
    openai_standin.chat_responder = SAMPLE_MODEL
    text = (SAMPLES / "people-moves.txt").read_bytes()
    schema = load_schema()
    sizing = LLMExtractor(
        AzureOpenAIChat.from_connection_setting(
            "OpenAIConnection", CHAT_DEPLOYMENT, "2024-10-21", {"OpenAIConnection": f"Endpoint=http://x;Key={KEY}"}
        ),
        schema,
        RuleBasedExtractor(schema),
    )
    budget = sizing.request_tokens([]) + 64 + 40
    pipeline = make_pipeline(
        wrap=with_llm(openai_standin, per_job=budget), batch_max_chunks=1, chunk_tokens=64, chunk_overlap_tokens=0
    )

    # WHEN the file is ingested
    outcome = pipeline.drop("people-moves.txt", text)

    # THEN the job succeeded with every batch accounted for
    job = pipeline.job(outcome)
    assert job.state is JobState.SUCCEEDED
    assert job.batches_expected is not None
    assert job.batches_expected > 2
    records = pipeline.ports.jobs.list_extractions(job.job_id)
    assert [record.batch for record in records] == list(range(job.batches_expected))
    # AND the model produced the first batch; once the budget was spent the rules produced the rest, each saying why
    assert records[0].extractor == LLM
    spent = [record for record in records if record.fallback_reason == "llm.job_budget_spent"]
    assert spent
    assert {record.extractor for record in spent} == {"rules"}
    assert all(record.requests == 0 for record in spent)
    assert len(openai_standin.chat_requests()) == sum(record.requests for record in records)
    # AND the job API answers the same, with the sum
    body = get_job(pipeline.ports.jobs, job.job_id).body
    assert body["extraction"]["by_extractor"][LLM] >= 1
    assert body["extraction"]["fallback_reasons"]["llm.job_budget_spent"] == len(spent)
    assert len(body["extraction"]["per_batch"]) == job.batches_expected
    # AND the job's token counter stays within the budget
    assert pipeline.ports.jobs.tokens_used(f"llm-job:{job.job_id}") <= budget


def test_a_redelivered_extract_batch_is_served_from_the_cache_and_recorded_once(
    openai_standin: OpenAIStandIn, make_pipeline: PipelineFactory
) -> None:
    # GIVEN a file ingested with the LLM extractor, its extract message kept
    openai_standin.chat_responder = SAMPLE_MODEL
    pipeline = make_pipeline(wrap=with_llm(openai_standin))
    sent: list[Any] = []
    real_send = pipeline.bus.send

    def keep(queue: str, envelopes: list[Any]) -> None:
        sent.extend(envelope for envelope in envelopes if envelope.stage is Stage.EXTRACT)
        real_send(queue, envelopes)

    pipeline.bus.send = keep  # type: ignore[method-assign]
    outcome = pipeline.drop("people.txt", (SAMPLES / "people-moves.txt").read_bytes())
    job = pipeline.job(outcome)
    records = pipeline.ports.jobs.list_extractions(job.job_id)
    asked = len(openai_standin.chat_requests())
    assert asked >= 1
    assert sent

    # WHEN the extract message is delivered again (a lock lost after the work was done)
    handle_delivery(sent[0], 2, pipeline.ports)

    # THEN the stand-in saw no second request, the batch's record is the first one, and the job is unchanged
    assert len(openai_standin.chat_requests()) == asked
    assert pipeline.ports.jobs.list_extractions(job.job_id) == records
    after = pipeline.job(outcome)
    assert (after.state, after.totals, after.counters(Stage.EXTRACT)) == (
        job.state,
        job.totals,
        job.counters(Stage.EXTRACT),
    )
