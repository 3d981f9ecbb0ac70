"""The JobStore contract (shared/ports.py), run against every adapter: SQLite, a real PostgreSQL server, the Cosmos DB
stand-in, and real Cosmos DB when TRIBUTARY_TEST_COSMOS_CONNECTION is set.

What a test checks behind the store's back (markers, issue rows, the schema) goes through a small per-backend
`Probe`, so every test runs on every backend.
"""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import psycopg
import pytest
from azure.cosmos import ContainerProxy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.cosmos_jobstore import BUDGETS_CONTAINER, DOCUMENTS_CONTAINER, JOBS_CONTAINER
from shared.adapters.jobstore_sql import load_migrations
from shared.adapters.postgres_jobstore import PostgresJobStore
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.domain import (
    SINK_STAGES,
    BatchExtraction,
    BatchOutcome,
    Counts,
    DocumentState,
    Job,
    JobKind,
    JobState,
    ParseIssue,
    Stage,
    StageCounters,
)
from shared.domain.bulk_jobs import BulkCounts, BulkItem, BulkJob, BulkOperation, BulkState, ItemOutcome
from shared.domain.ids import delete_job_id, message_id
from shared.domain.job_queries import JobFilter, JobKey
from shared.domain.stage_events import in_trace_order
from shared.ports import JobNotFoundError, JobStore
from tests.support.cosmos import open_cosmos_store

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BATCHES = 50
THREADS = 8
PROCESSES = 3


class Location(NamedTuple):
    """Where a store lives, in plain strings, so a spawned process can open it too.

    sqlite: a file path; postgres: a DSN; cosmos: a connection string or an account endpoint, and a database.
    """

    backend: str
    where: str
    database: str = ""


def open_store(location: Location) -> Any:
    """A new store on the location, opened as the app opens it."""
    if location.backend == "sqlite":
        return SQLiteJobStore(Path(location.where))
    if location.backend == "postgres":
        return PostgresJobStore(location.where)
    return open_cosmos_store(location.where, location.database)


class Probe(Protocol):
    """Reads what a store wrote, behind its back."""

    def markers(self) -> int:
        """Batch markers of every job."""
        ...

    def issues(self) -> int:
        """Issue rows (items) of every job."""
        ...

    def schema(self) -> list[Any]:
        """What migrate() recorded or created: migration versions, or container names."""
        ...

    def expected_schema(self) -> list[Any]: ...


class SQLProbe:
    def __init__(self, location: Location) -> None:
        self.location = location

    def _column(self, sql: str) -> list[Any]:
        if self.location.backend == "sqlite":
            with sqlite3.connect(self.location.where) as connection:
                return [row[0] for row in connection.execute(sql).fetchall()]
        with psycopg.connect(self.location.where) as connection:
            return [row[0] for row in connection.execute(sql).fetchall()]

    def markers(self) -> int:
        return self._column("SELECT COUNT(*) FROM batch_markers")[0]

    def issues(self) -> int:
        return self._column("SELECT COUNT(*) FROM job_issues")[0]

    def schema(self) -> list[Any]:
        return self._column("SELECT version FROM schema_migrations ORDER BY version")

    def expected_schema(self) -> list[Any]:
        return [m.version for m in load_migrations(self.location.backend)]


class CosmosProbe:
    """Markers are entries of each job document; issues are items of the job's partition."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def _values(self, query: str) -> list[Any]:
        with open_cosmos_store(self.location.where, self.location.database) as store:
            jobs: ContainerProxy = store._jobs()  # the raw container: reading behind the store's back is the point
            return list(jobs.query_items(query, enable_cross_partition_query=True))

    def markers(self) -> int:
        # Counted here: the stand-in has no ObjectToArray to count an object's keys in the query.
        return sum(len(markers) for markers in self._values("SELECT VALUE c.markers FROM c WHERE c.kind = 'job'"))

    def issues(self) -> int:
        return len(self._values("SELECT VALUE c.id FROM c WHERE c.kind = 'issue'"))

    def schema(self) -> list[Any]:
        with open_cosmos_store(self.location.where, self.location.database) as store:
            return store.containers()

    def expected_schema(self) -> list[Any]:
        return sorted([JOBS_CONTAINER, DOCUMENTS_CONTAINER, BUDGETS_CONTAINER])


def probe(location: Location) -> Probe:
    return CosmosProbe(location) if location.backend == "cosmos" else SQLProbe(location)


def make_job(job_id: str = "job-1", **overrides: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "document_id": f"doc-{job_id}",
        "path": f"incoming/{job_id}.txt",
        "version": f"v-{job_id}",
        "tracking_id": "0af7651916cd43dd8448eb211c80319c",
        "size": 1234,
        "created_at": T0,
        "updated_at": T0,
    }
    return Job(**(fields | overrides))


def processing_job(store: JobStore, job_id: str = "job-1", *, expected: int | None = 2, **overrides: Any) -> Job:
    """A job as ingest leaves it: parsed, `expected` batches published, now processing."""
    store.create_job(make_job(job_id, **overrides))
    assert store.transition(job_id, JobState.PARSING, allowed_from={JobState.QUEUED})
    if expected is not None:
        store.set_batches_expected(job_id, expected)
    assert store.transition(job_id, JobState.PROCESSING, allowed_from={JobState.PARSING})
    job = store.get_job(job_id)
    assert job is not None
    return job


def settle_sinks(store: JobStore, job_id: str, batches: int, outcome: BatchOutcome = BatchOutcome.DONE) -> None:
    for stage in SINK_STAGES:
        for batch in range(batches):
            store.record_batch(job_id, stage, batch, outcome)


def committed_and_generation(store: JobStore, document_id: str) -> tuple[str | None, int]:
    state = store.document_state(document_id)
    assert state is not None
    return state.committed_version, state.generation


def stored(store: JobStore, job_id: str = "job-1") -> Job:
    job = store.get_job(job_id)
    assert job is not None
    return job


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("cosmos", marks=pytest.mark.cosmos),
        pytest.param("cosmos-live", marks=pytest.mark.cosmos),
    ]
)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """An empty database, one per backend; the live Cosmos DB case skips unless configured."""
    if request.param == "sqlite":
        return Location("sqlite", str(tmp_path / "jobs.sqlite"))
    if request.param == "postgres":
        return Location("postgres", request.getfixturevalue("fresh_postgres_dsn"))
    fixture = "fresh_cosmos_database" if request.param == "cosmos" else "live_cosmos_database"
    where, database = request.getfixturevalue(fixture)
    return Location("cosmos", where, database)


@pytest.fixture
def empty_store(store_location: Location) -> Iterator[Any]:
    """A store on an empty database, not migrated yet; one per backend."""
    with open_store(store_location) as store:
        yield store


@pytest.fixture
def job_store(empty_store: JobStore) -> JobStore:
    """A migrated store, ready for jobs; parametrised over every backend by `store_location`."""
    empty_store.migrate()
    return empty_store


# --- processes ---------------------------------------------------------------------------------------------


_start_together: Any = None  # in a pool worker: the barrier shared by all workers


def _init_worker(barrier: Any) -> None:
    global _start_together
    _start_together = barrier


def _run_together(target: Callable[..., Any], *args: Any) -> Any:
    _start_together.wait(timeout=60)  # every process starts its work at the same moment, to really overlap
    return target(*args)


@pytest.fixture(scope="module")
def processes() -> Iterator[Pool]:
    """Spawned worker processes, kept for the module: starting Python with these imports is the slow part."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)  # passed at start-up: synchronisation objects cannot travel in tasks
    with context.Pool(PROCESSES, initializer=_init_worker, initargs=(barrier,)) as pool:
        yield pool


def run_in_processes(pool: Pool, target: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
    """Run target(*a) for each a, one per worker process, all at once; worker exceptions are re-raised here."""
    assert len(args) == PROCESSES  # one task per worker, or the barrier would wait for ever
    return pool.starmap(_run_together, [(target, *a) for a in args], chunksize=1)


def migrate_at(location: Location) -> None:
    with open_store(location) as store:
        store.migrate()


def record_every_batch(location: Location, job_id: str, seed: int) -> int:
    """Record every sink batch of the job, in a shuffled order; returns how many markers were new."""
    work = [(stage, batch) for stage in SINK_STAGES for batch in range(BATCHES)]
    random.Random(seed).shuffle(work)
    with open_store(location) as store:
        return sum(
            store.record_batch(job_id, stage, batch, BatchOutcome.DONE, batch_counts(batch)) for stage, batch in work
        )


def batch_counts(batch: int) -> Counts:
    return Counts(chunks=batch + 1, entities=2, relations=1, bytes=100 * (batch + 1))


def expected_totals() -> Counts:
    """What recording every sink batch once adds up to."""
    per_stage = [batch_counts(b) for b in range(BATCHES)] * len(SINK_STAGES)
    return Counts(
        chunks=sum(c.chunks for c in per_stage),
        entities=sum(c.entities for c in per_stage),
        relations=sum(c.relations for c in per_stage),
        bytes=sum(c.bytes for c in per_stage),
    )


def assert_every_batch_counted_once(job: Job) -> None:
    for stage in SINK_STAGES:
        assert job.counters(stage) == StageCounters(done=BATCHES, dead_lettered=0)
    assert job.totals == expected_totals()


# --- schema ------------------------------------------------------------------------------------------------


def test_migrate_twice_changes_nothing(job_store: JobStore, store_location: Location) -> None:
    # GIVEN a migrated store holding a job
    job_store.create_job(make_job())

    # WHEN migrate runs again
    job_store.migrate()

    # THEN the job is still there and each migration is recorded (each container created) once
    assert job_store.get_job("job-1") is not None
    schema = probe(store_location)
    assert schema.schema() == schema.expected_schema()


def test_migrate_from_several_processes_at_once(
    empty_store: JobStore, store_location: Location, processes: Pool
) -> None:
    # GIVEN an empty database

    # WHEN three processes migrate it at the same moment
    run_in_processes(processes, migrate_at, [(store_location,)] * PROCESSES)

    # THEN all succeed, each migration is applied once, and the schema works
    schema = probe(store_location)
    assert schema.schema() == schema.expected_schema()
    _, created = empty_store.create_job(make_job())
    assert created


# --- jobs --------------------------------------------------------------------------------------------------


def test_create_job_inserts_an_absent_job(job_store: JobStore) -> None:
    # GIVEN a job the store has never seen
    job = make_job(base_version="v-0", batches_expected=None, extractor=None)

    # WHEN it is created
    returned, created = job_store.create_job(job)

    # THEN this call created it and every field round-trips (updated_at belongs to the store)
    assert created
    assert returned == stored(job_store)
    assert returned.model_dump(exclude={"updated_at"}) == job.model_dump(exclude={"updated_at"})
    assert returned.created_at.tzinfo == UTC
    assert returned.updated_at.tzinfo == UTC


def test_create_job_returns_the_stored_job_when_present(job_store: JobStore) -> None:
    # GIVEN a stored job
    first, _ = job_store.create_job(make_job())

    # WHEN a different job with the same id is created
    returned, created = job_store.create_job(make_job(path="elsewhere.txt", state=JobState.FAILED, size=9))

    # THEN the stored job comes back unchanged and this call did not create it
    assert not created
    assert returned == first
    assert stored(job_store) == first


def test_create_job_rejects_naive_timestamps(job_store: JobStore) -> None:
    # GIVEN a job whose timestamps carry no time zone
    naive = make_job(created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1))

    # WHEN / THEN the store refuses to guess the zone
    with pytest.raises(ValueError, match="timezone-aware"):
        job_store.create_job(naive)


def test_get_job_returns_none_for_an_unknown_job(job_store: JobStore) -> None:
    assert job_store.get_job("no-such-job") is None


def test_list_jobs_newest_first_by_state_with_limit(job_store: JobStore) -> None:
    # GIVEN five jobs created a second apart, the odd ones failed
    for i in range(5):
        state = JobState.FAILED if i % 2 else JobState.QUEUED
        job_store.create_job(make_job(f"job-{i}", created_at=T0 + timedelta(seconds=i), state=state))
    job_store.record_batch("job-3", Stage.GRAPH, 0, BatchOutcome.DONE)

    # WHEN / THEN all come newest first, a state filters, a limit cuts
    assert [j.job_id for j in job_store.list_jobs()] == ["job-4", "job-3", "job-2", "job-1", "job-0"]
    assert [j.job_id for j in job_store.list_jobs(JobState.FAILED)] == ["job-3", "job-1"]
    assert [j.job_id for j in job_store.list_jobs(limit=2)] == ["job-4", "job-3"]
    assert [j.job_id for j in job_store.list_jobs(JobState.SUCCEEDED)] == []
    # and listed jobs carry their counters like get_job does
    assert job_store.list_jobs(JobState.FAILED)[0] == stored(job_store, "job-3")
    assert stored(job_store, "job-3").counters(Stage.GRAPH).done == 1


def test_transition_moves_an_allowed_state(job_store: JobStore) -> None:
    # GIVEN a queued job
    before, _ = job_store.create_job(make_job())

    # WHEN it moves to parsing from an allowed state
    moved = job_store.transition("job-1", JobState.PARSING, allowed_from={JobState.QUEUED, JobState.PARSING})

    # THEN the state changed and updated_at moved on
    after = stored(job_store)
    assert moved
    assert after.state is JobState.PARSING
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


def test_transition_refuses_a_state_not_allowed(job_store: JobStore) -> None:
    # GIVEN a queued job
    before, _ = job_store.create_job(make_job())

    # WHEN a transition expects it to be processing
    moved = job_store.transition("job-1", JobState.SUCCEEDED, allowed_from={JobState.PROCESSING}, reason_code="x")

    # THEN nothing changed at all
    assert not moved
    assert stored(job_store) == before


def test_transition_of_an_unknown_job_is_refused(job_store: JobStore) -> None:
    assert not job_store.transition("no-such-job", JobState.FAILED, allowed_from=set(JobState))


def test_transition_stores_reason_code_and_last_error(job_store: JobStore) -> None:
    # GIVEN a processing job
    processing_job(job_store)

    # WHEN it fails with a reason
    moved = job_store.transition(
        "job-1",
        JobState.FAILED,
        allowed_from={JobState.PROCESSING},
        reason_code="parse.xml.entities_forbidden",
        last_error="line 3: entity declaration",
    )

    # THEN the reason and the error are stored with the state
    job = stored(job_store)
    assert moved
    assert (job.state, job.reason_code, job.last_error) == (
        JobState.FAILED,
        "parse.xml.entities_forbidden",
        "line 3: entity declaration",
    )
    assert job.terminal


def test_set_batches_expected_and_extractor(job_store: JobStore) -> None:
    # GIVEN a job
    before, _ = job_store.create_job(make_job())

    # WHEN parsing reports its batches and extraction its extractor
    job_store.set_batches_expected("job-1", 7)
    job_store.set_extractor("job-1", "rules")

    # THEN both are stored and updated_at moved on
    after = stored(job_store)
    assert (after.batches_expected, after.extractor) == (7, "rules")
    assert after.updated_at > before.updated_at


def test_updates_to_an_unknown_job_raise(job_store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        job_store.set_batches_expected("no-such-job", 1)
    with pytest.raises(JobNotFoundError):
        job_store.set_extractor("no-such-job", "rules")
    with pytest.raises(JobNotFoundError):
        job_store.record_batch("no-such-job", Stage.GRAPH, 0, BatchOutcome.DONE)


def test_committed_version_of_an_unknown_document_is_none(job_store: JobStore) -> None:
    job_store.create_job(make_job())

    assert job_store.committed_version("no-such-document") is None
    assert job_store.committed_version("doc-job-1") is None  # known, but nothing committed yet


# --- record_batch ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "counters"),
    [
        (BatchOutcome.DONE, StageCounters(done=1)),
        (BatchOutcome.DEAD_LETTERED, StageCounters(dead_lettered=1)),
    ],
)
def test_record_batch_new_marker_moves_counter_and_totals(
    job_store: JobStore, outcome: BatchOutcome, counters: StageCounters
) -> None:
    # GIVEN a processing job
    before = processing_job(job_store)

    # WHEN a batch is recorded for the first time
    new = job_store.record_batch("job-1", Stage.GRAPH, 0, outcome, Counts(chunks=3, entities=4, relations=5, bytes=6))

    # THEN the marker is new, its outcome's counter moved and the counts were added
    job = stored(job_store)
    assert new
    assert job.stages == {Stage.GRAPH: counters}
    assert job.totals == Counts(chunks=3, entities=4, relations=5, bytes=6)
    assert job.updated_at > before.updated_at


def test_record_batch_again_changes_nothing(job_store: JobStore) -> None:
    # GIVEN a recorded batch
    processing_job(job_store)
    job_store.record_batch("job-1", Stage.GRAPH, 0, BatchOutcome.DONE, Counts(chunks=3))
    before = stored(job_store)

    # WHEN the same (job, stage, batch) is recorded again, even with another outcome and counts
    again = job_store.record_batch(
        "job-1", Stage.GRAPH, 0, BatchOutcome.DEAD_LETTERED, Counts(chunks=99), reason_code="x"
    )

    # THEN it reports an old marker and nothing changed, not even updated_at
    assert not again
    assert stored(job_store) == before


def test_record_batch_keeps_stages_and_batches_apart(job_store: JobStore) -> None:
    # GIVEN a processing job
    processing_job(job_store)

    # WHEN batch 0 is recorded in two stages and batch 1 in one, without counts
    results = [
        job_store.record_batch("job-1", Stage.GRAPH, 0, BatchOutcome.DONE),
        job_store.record_batch("job-1", Stage.VECTOR, 0, BatchOutcome.DONE),
        job_store.record_batch("job-1", Stage.GRAPH, 1, BatchOutcome.DEAD_LETTERED, reason_code="graph.bad"),
    ]

    # THEN each is a marker of its own; no counts means zero counts
    job = stored(job_store)
    assert results == [True, True, True]
    assert job.stages == {
        Stage.GRAPH: StageCounters(done=1, dead_lettered=1),
        Stage.VECTOR: StageCounters(done=1),
    }
    assert job.totals == Counts()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    calls=st.lists(
        st.tuples(st.sampled_from(list(Stage)), st.integers(0, 4), st.sampled_from(list(BatchOutcome))),
        max_size=25,
    )
)
def test_record_batch_counts_each_marker_once_whatever_the_sequence(
    job_store: JobStore, calls: list[tuple[Stage, int, BatchOutcome]]
) -> None:
    # GIVEN a fresh job (the store is shared by the examples, the job is not)
    job_id = f"job-{uuid.uuid4().hex}"  # not `random`: Hypothesis reseeds it for every example
    job_store.create_job(make_job(job_id))

    # WHEN any sequence of batches is recorded, repeats included
    returned = [job_store.record_batch(job_id, s, b, o, Counts(chunks=1)) for s, b, o in calls]

    # THEN only first sightings were new, and they alone moved counters and totals
    first_outcome: dict[tuple[Stage, int], BatchOutcome] = {}
    for stage, batch, outcome in calls:
        first_outcome.setdefault((stage, batch), outcome)
    assert sum(returned) == len(first_outcome)
    expected: dict[Stage, StageCounters] = {}
    for (stage, _), outcome in first_outcome.items():
        counters = expected.setdefault(stage, StageCounters())
        if outcome is BatchOutcome.DONE:
            counters.done += 1
        else:
            counters.dead_lettered += 1
    job = stored(job_store, job_id)
    assert job.stages == expected
    assert job.totals == Counts(chunks=len(first_outcome))


# --- finish_if_complete ------------------------------------------------------------------------------------


def test_finish_if_complete_succeeds_once_both_sinks_settled(job_store: JobStore) -> None:
    # GIVEN a processing job of 2 batches, both done in both sinks
    processing_job(job_store, expected=2)
    settle_sinks(job_store, "job-1", 2)

    # WHEN it is finished
    finished = job_store.finish_if_complete("job-1")

    # THEN it succeeded, its version is committed, and a second call does not finish it again
    assert finished is not None
    assert finished.state is JobState.SUCCEEDED
    assert finished == stored(job_store)
    assert job_store.committed_version("doc-job-1") == "v-job-1"
    assert job_store.finish_if_complete("job-1") is None


def test_finish_if_complete_with_no_batches(job_store: JobStore) -> None:
    # GIVEN a processing job whose file had no records
    processing_job(job_store, expected=0)

    # WHEN / THEN there is nothing to wait for
    finished = job_store.finish_if_complete("job-1")
    assert finished is not None
    assert finished.state is JobState.SUCCEEDED


def _parsing_job_all_settled(store: JobStore) -> None:
    store.create_job(make_job())
    store.transition("job-1", JobState.PARSING, allowed_from={JobState.QUEUED})
    store.set_batches_expected("job-1", 2)
    settle_sinks(store, "job-1", 2)


def _expected_unknown(store: JobStore) -> None:
    processing_job(store, expected=None)
    settle_sinks(store, "job-1", 2)


def _only_graph_settled(store: JobStore) -> None:
    processing_job(store, expected=2)
    for batch in range(2):
        store.record_batch("job-1", Stage.GRAPH, batch, BatchOutcome.DONE)


def _vector_one_short(store: JobStore) -> None:
    processing_job(store, expected=2)
    settle_sinks(store, "job-1", 1)
    store.record_batch("job-1", Stage.GRAPH, 1, BatchOutcome.DONE)


def _sink_dead_lettered(store: JobStore) -> None:
    processing_job(store, expected=2)
    settle_sinks(store, "job-1", 1)
    store.record_batch("job-1", Stage.GRAPH, 1, BatchOutcome.DEAD_LETTERED, reason_code="graph.rejected")
    store.record_batch("job-1", Stage.VECTOR, 1, BatchOutcome.DONE)


def _upstream_dead_lettered(store: JobStore) -> None:
    processing_job(store, expected=2)
    settle_sinks(store, "job-1", 2)
    store.record_batch("job-1", Stage.EXTRACT, 1, BatchOutcome.DEAD_LETTERED, reason_code="extract.failed")


@pytest.mark.parametrize(
    "arrange",
    [
        pytest.param(_parsing_job_all_settled, id="not-processing-yet"),
        pytest.param(_expected_unknown, id="batches-expected-unknown"),
        pytest.param(_only_graph_settled, id="vector-sink-not-settled"),
        pytest.param(_vector_one_short, id="a-vector-batch-missing"),
        pytest.param(_sink_dead_lettered, id="dead-letter-in-a-sink"),
        pytest.param(_upstream_dead_lettered, id="dead-letter-upstream"),
    ],
)
def test_finish_if_complete_leaves_an_incomplete_job_alone(
    job_store: JobStore, arrange: Callable[[JobStore], None]
) -> None:
    # GIVEN a job that is not complete, for one reason or another
    arrange(job_store)
    before = stored(job_store)

    # WHEN finishing is attempted
    finished = job_store.finish_if_complete("job-1")

    # THEN nothing changes and no version is committed
    assert finished is None
    assert stored(job_store) == before
    assert job_store.committed_version(before.document_id) is None


def test_finish_if_complete_of_an_unknown_job(job_store: JobStore) -> None:
    assert job_store.finish_if_complete("no-such-job") is None


def test_finish_commits_only_over_the_base_version(job_store: JobStore) -> None:
    # GIVEN two jobs of the same document, both built on "nothing committed yet"
    document = {"document_id": "doc-1", "path": "incoming/doc-1.txt"}
    processing_job(job_store, "job-a", expected=1, version="v-a", **document)
    processing_job(job_store, "job-b", expected=1, version="v-b", **document)
    settle_sinks(job_store, "job-a", 1)
    settle_sinks(job_store, "job-b", 1)

    # WHEN job-a finishes first, then job-b
    assert job_store.finish_if_complete("job-a") is not None
    finished_b = job_store.finish_if_complete("job-b")

    # THEN job-b succeeds but does not overwrite the version committed over its base
    assert finished_b is not None
    assert finished_b.state is JobState.SUCCEEDED
    assert job_store.committed_version("doc-1") == "v-a"

    # AND a job built on v-a does commit over it
    processing_job(job_store, "job-c", expected=1, version="v-c", base_version="v-a", **document)
    settle_sinks(job_store, "job-c", 1)
    assert job_store.finish_if_complete("job-c") is not None
    assert job_store.committed_version("doc-1") == "v-c"


# --- documents and deletes ---------------------------------------------------------------------------------


def test_document_state_follows_commits(job_store: JobStore) -> None:
    # GIVEN a document's first job, running
    processing_job(job_store, expected=1)

    # THEN the document is known, with nothing committed, in its first generation
    assert job_store.document_state("no-such-document") is None
    assert job_store.document_state("doc-job-1") == DocumentState(
        document_id="doc-job-1", path="incoming/job-1.txt", committed_version=None, generation=0
    )

    # AND once the job finishes its version is the committed one
    settle_sinks(job_store, "job-1", 1)
    assert job_store.finish_if_complete("job-1") is not None
    assert committed_and_generation(job_store, "doc-job-1") == ("v-job-1", 0)


def test_begin_delete_forgets_the_version_opens_a_generation_and_starts_a_delete_job(job_store: JobStore) -> None:
    # GIVEN a document with a committed version
    processing_job(job_store, expected=1)
    settle_sinks(job_store, "job-1", 1)
    job_store.finish_if_complete("job-1")

    # WHEN it is deleted
    deletion = job_store.begin_delete("doc-job-1", "1" * 32)

    # THEN a processing delete job of generation 0 names the version it removes
    assert deletion is not None
    assert deletion == stored(job_store, delete_job_id("doc-job-1", 0))
    assert (deletion.kind, deletion.state, deletion.generation) == (JobKind.DELETE, JobState.PROCESSING, 0)
    assert (deletion.document_id, deletion.path, deletion.base_version) == (
        "doc-job-1",
        "incoming/job-1.txt",
        "v-job-1",
    )
    # AND nothing is committed any more, in the next generation
    assert committed_and_generation(job_store, "doc-job-1") == (None, 1)
    assert job_store.committed_version("doc-job-1") is None

    # AND a second delete opens the generation after, with a job of its own
    again = job_store.begin_delete("doc-job-1", "2" * 32)
    assert again is not None
    assert (again.job_id, again.generation, again.base_version) == (delete_job_id("doc-job-1", 1), 1, None)
    assert committed_and_generation(job_store, "doc-job-1") == (None, 2)


def test_begin_delete_of_an_unknown_document_does_nothing(job_store: JobStore) -> None:
    assert job_store.begin_delete("no-such-document", "1" * 32) is None
    assert job_store.document_state("no-such-document") is None
    assert job_store.list_jobs() == []


def test_a_job_of_a_deleted_generation_never_commits(job_store: JobStore) -> None:
    # GIVEN a document's first job, still running when the document is deleted
    processing_job(job_store, expected=1)
    assert job_store.begin_delete("doc-job-1", "1" * 32) is not None

    # WHEN the job completes
    settle_sinks(job_store, "job-1", 1)
    finished = job_store.finish_if_complete("job-1")

    # THEN it succeeds, but the deleted document stays deleted
    assert finished is not None
    assert finished.state is JobState.SUCCEEDED
    assert job_store.committed_version("doc-job-1") is None

    # AND a job of the new generation commits as a first version does
    processing_job(job_store, "job-2", expected=1, document_id="doc-job-1", version="v-2", generation=1)
    settle_sinks(job_store, "job-2", 1)
    assert job_store.finish_if_complete("job-2") is not None
    assert committed_and_generation(job_store, "doc-job-1") == ("v-2", 1)


def test_concurrent_deletes_each_open_a_generation(job_store: JobStore) -> None:
    # GIVEN a known document
    processing_job(job_store, expected=1)

    # WHEN several threads delete it at the same moment
    start = threading.Barrier(4)

    def deleter(_: int) -> Job | None:
        start.wait(timeout=30)
        return job_store.begin_delete("doc-job-1", "1" * 32)

    with ThreadPoolExecutor(4) as pool:
        deletions = list(pool.map(deleter, range(4)))

    # THEN every call got a delete job, and the generations opened match the distinct jobs (none lost, none twice)
    jobs = {job.job_id: job for job in deletions if job is not None}
    assert len(deletions) == 4
    assert all(deletions)
    assert committed_and_generation(job_store, "doc-job-1") == (None, len(jobs))
    assert sorted(job.generation for job in jobs.values()) == list(range(len(jobs)))


# --- issues ------------------------------------------------------------------------------------------------


def issue(locator: str, reason_code: str = "parse.csv.ragged_row", detail: str = "") -> ParseIssue:
    return ParseIssue(locator=locator, reason_code=reason_code, detail=detail)


def test_record_issues_inserts_them_and_counts_them_on_the_job(job_store: JobStore) -> None:
    # GIVEN a parsing job
    job_store.create_job(make_job())

    # WHEN three issues are recorded, two on the same locator with different codes
    added = job_store.record_issues(
        "job-1", [issue("row 3"), issue("row 3", "parse.csv.bad_quote", "line 3: stray quote"), issue("file", "x.y")]
    )

    # THEN all three are stored in order and counted
    assert added == 3
    assert stored(job_store).issues == 3
    assert job_store.list_issues("job-1") == [
        issue("row 3"),
        issue("row 3", "parse.csv.bad_quote", "line 3: stray quote"),
        issue("file", "x.y"),
    ]


def test_record_issues_again_after_a_crash_counts_nothing_twice(job_store: JobStore) -> None:
    # GIVEN a job with two issues recorded by a first parse
    job_store.create_job(make_job())
    job_store.record_issues("job-1", [issue("row 3"), issue("row 9")])

    # WHEN a re-parse records them again, with one new one and a repeat inside the same call
    added = job_store.record_issues("job-1", [issue("row 3"), issue("row 9"), issue("row 12"), issue("row 12")])

    # THEN only the new one is added; the first detail recorded is the one kept
    assert added == 1
    assert stored(job_store).issues == 3
    assert [i.locator for i in job_store.list_issues("job-1")] == ["row 3", "row 9", "row 12"]


def test_record_issues_with_nothing_changes_nothing(job_store: JobStore) -> None:
    job_store.create_job(make_job())
    before = stored(job_store)
    assert job_store.record_issues("job-1", []) == 0
    assert stored(job_store) == before


def test_list_issues_honours_the_limit_and_keeps_jobs_apart(job_store: JobStore) -> None:
    job_store.create_job(make_job("job-1"))
    job_store.create_job(make_job("job-2"))
    job_store.record_issues("job-1", [issue(f"row {n}") for n in range(5)])
    job_store.record_issues("job-2", [issue("line 1")])
    assert [i.locator for i in job_store.list_issues("job-1", limit=2)] == ["row 0", "row 1"]
    assert job_store.list_issues("job-1", limit=0) == []
    assert job_store.list_issues("job-2") == [issue("line 1")]
    assert job_store.list_issues("no-such-job") == []
    assert stored(job_store, "job-2").issues == 1


def test_long_locators_and_details_are_cut_not_refused(job_store: JobStore) -> None:
    job_store.create_job(make_job())
    assert job_store.record_issues("job-1", [issue("/a" * 5000, detail="d" * 10_000)]) == 1
    [kept] = job_store.list_issues("job-1")
    assert 0 < len(kept.locator) <= 500
    assert 0 < len(kept.detail) <= 2000


def test_record_issues_of_an_unknown_job_raises(job_store: JobStore) -> None:
    with pytest.raises(JobNotFoundError):
        job_store.record_issues("no-such-job", [issue("row 1")])


def test_threads_recording_the_same_issues_count_each_once(job_store: JobStore, store_location: Location) -> None:
    # GIVEN a job, and 8 threads that each record the same 40 issues in their own order
    job_store.create_job(make_job())
    issues = [issue(f"row {n}") for n in range(40)]
    start = threading.Barrier(THREADS)

    def worker(seed: int) -> int:
        mine = issues[:]
        random.Random(seed).shuffle(mine)
        start.wait(timeout=30)
        return sum(job_store.record_issues("job-1", mine[i : i + 10]) for i in range(0, len(mine), 10))

    with ThreadPoolExecutor(THREADS) as pool:
        added = sum(pool.map(worker, range(THREADS)))

    # THEN each issue was added once, and the counter agrees with the rows
    assert added == 40
    assert stored(job_store).issues == 40
    assert probe(store_location).issues() == 40


# --- concurrency -------------------------------------------------------------------------------------------


def test_threads_recording_the_same_batches_count_each_once(job_store: JobStore, store_location: Location) -> None:
    # GIVEN a processing job of 50 batches
    processing_job(job_store, expected=BATCHES)

    # WHEN 8 threads record every sink batch at once, through one store
    start = threading.Barrier(THREADS)

    def worker(seed: int) -> int:
        work = [(stage, batch) for stage in SINK_STAGES for batch in range(BATCHES)]
        random.Random(seed).shuffle(work)
        start.wait(timeout=30)
        return sum(
            job_store.record_batch("job-1", stage, batch, BatchOutcome.DONE, batch_counts(batch))
            for stage, batch in work
        )

    with ThreadPoolExecutor(THREADS) as pool:
        new_markers = sum(pool.map(worker, range(THREADS)))

    # THEN every batch counted exactly once, and the job completes
    assert new_markers == BATCHES * len(SINK_STAGES)
    assert_every_batch_counted_once(stored(job_store))
    assert probe(store_location).markers() == BATCHES * len(SINK_STAGES)
    assert job_store.finish_if_complete("job-1") is not None


def test_processes_recording_the_same_batches_count_each_once(
    job_store: JobStore, store_location: Location, processes: Pool
) -> None:
    # GIVEN a processing job of 50 batches
    processing_job(job_store, expected=BATCHES)

    # WHEN 3 processes, each with its own store, record every sink batch at once
    new_markers = run_in_processes(
        processes, record_every_batch, [(store_location, "job-1", seed) for seed in range(PROCESSES)]
    )

    # THEN every batch counted exactly once
    assert sum(new_markers) == BATCHES * len(SINK_STAGES)
    assert_every_batch_counted_once(stored(job_store))


def test_racing_finishers_have_exactly_one_winner(job_store: JobStore) -> None:
    # GIVEN a complete processing job
    processing_job(job_store, expected=3)
    settle_sinks(job_store, "job-1", 3)

    # WHEN 8 threads try to finish it at the same moment
    start = threading.Barrier(THREADS)

    def finisher(_: int) -> Job | None:
        start.wait(timeout=30)
        return job_store.finish_if_complete("job-1")

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(finisher, range(THREADS)))

    # THEN exactly one got the job back
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].state is JobState.SUCCEEDED
    assert job_store.committed_version("doc-job-1") == "v-job-1"


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_store_is_a_context_manager_and_close_is_idempotent(job_store: JobStore, store_location: Location) -> None:
    # GIVEN a second store on the same database, used on two threads
    with open_store(store_location) as other:
        other.create_job(make_job())
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(other.get_job, "job-1").result() is not None

    # WHEN it is closed again after the with-block closed it
    other.close()

    # THEN nothing breaks, it refuses further work, and the data is there for others
    with pytest.raises(RuntimeError, match="closed"):
        other.get_job("job-1")
    assert job_store.get_job("job-1") is not None


# --- bulk jobs ---------------------------------------------------------------------------------------------


def make_bulk(bulk_id: str = "bulk-1", **overrides: Any) -> BulkJob:
    fields: dict[str, Any] = {
        "bulk_id": bulk_id,
        "operation": BulkOperation.REPROCESS,
        "container": "incoming",
        "selector": '{"prefix": "docs/"}',
        "created_at": T0,
        "updated_at": T0,
    }
    return BulkJob(**(fields | overrides))


def bulk_counts(store: JobStore, bulk_id: str = "bulk-1") -> BulkCounts:
    bulk = store.get_bulk_job(bulk_id)
    assert bulk is not None
    return bulk.counts


def test_create_bulk_job_inserts_if_absent_with_nothing_counted(job_store: JobStore) -> None:
    # GIVEN no bulk job WHEN one is created, then created again with other fields
    created, new = job_store.create_bulk_job(make_bulk(dry_run=True))
    again, new_again = job_store.create_bulk_job(make_bulk(operation=BulkOperation.DELETE))

    # THEN the first call created it, running, with zero counts; the second returned it unchanged
    assert new
    assert not new_again
    assert created.state is BulkState.RUNNING
    assert created.dry_run
    assert created.counts == BulkCounts()
    assert again.operation is BulkOperation.REPROCESS
    assert again.created_at == T0
    assert (again.container, again.selector) == ("incoming", '{"prefix": "docs/"}')
    assert job_store.get_bulk_job("unknown") is None
    # AND a bulk job is not a document job: the job listing does not show it
    assert job_store.list_jobs() == []


def test_record_bulk_page_counts_each_page_once(job_store: JobStore) -> None:
    # GIVEN a bulk job
    job_store.create_bulk_job(make_bulk())

    # WHEN two pages are recorded, the first twice (a redelivered listing activity)
    first = job_store.record_bulk_page("bulk-1", 0, listed=500, listed_bytes=5_000_000_000)
    second = job_store.record_bulk_page("bulk-1", 1, listed=7, listed_bytes=70)
    repeated = job_store.record_bulk_page("bulk-1", 0, listed=500, listed_bytes=5_000_000_000)

    # THEN each page counts once, byte counts past 32 bits included
    assert (first, second, repeated) == (True, True, False)
    assert bulk_counts(job_store) == BulkCounts(pages=2, listed=507, listed_bytes=5_000_000_070)
    with pytest.raises(JobNotFoundError):
        job_store.record_bulk_page("unknown", 0, listed=1, listed_bytes=1)


def test_record_bulk_item_keeps_the_first_outcome_and_links_the_document_job(job_store: JobStore) -> None:
    # GIVEN a bulk job and another one
    job_store.create_bulk_job(make_bulk())
    job_store.create_bulk_job(make_bulk("bulk-2"))

    # WHEN items are recorded, one of them twice with another outcome, one in the other bulk job
    recorded = [
        job_store.record_bulk_item("bulk-1", BulkItem(path="docs/b.txt", outcome=ItemOutcome.DONE, job_id="job-b")),
        job_store.record_bulk_item(
            "bulk-1", BulkItem(path="docs/a.txt", outcome=ItemOutcome.FAILED, job_id="job-a", reason_code="x.y")
        ),
        job_store.record_bulk_item("bulk-1", BulkItem(path="docs/c.txt", outcome=ItemOutcome.SKIPPED)),
        job_store.record_bulk_item("bulk-1", BulkItem(path="docs/b.txt", outcome=ItemOutcome.FAILED)),
        job_store.record_bulk_item("bulk-2", BulkItem(path="docs/b.txt", outcome=ItemOutcome.SKIPPED)),
    ]

    # THEN only the repeat was refused; counts come from the items, per bulk job
    assert recorded == [True, True, True, False, True]
    assert bulk_counts(job_store) == BulkCounts(done=1, failed=1, skipped=1)
    assert bulk_counts(job_store, "bulk-2") == BulkCounts(skipped=1)
    # AND the items list in path order with their links, the first outcome standing
    assert job_store.list_bulk_items("bulk-1") == [
        BulkItem(path="docs/a.txt", outcome=ItemOutcome.FAILED, job_id="job-a", reason_code="x.y"),
        BulkItem(path="docs/b.txt", outcome=ItemOutcome.DONE, job_id="job-b"),
        BulkItem(path="docs/c.txt", outcome=ItemOutcome.SKIPPED),
    ]
    with pytest.raises(JobNotFoundError):
        job_store.record_bulk_item("unknown", BulkItem(path="x", outcome=ItemOutcome.DONE))


def test_list_bulk_items_pages_by_path_and_stays_stable_under_inserts(job_store: JobStore) -> None:
    # GIVEN a bulk job with five items
    job_store.create_bulk_job(make_bulk())
    for name in ["e", "a", "c", "d", "b"]:
        job_store.record_bulk_item("bulk-1", BulkItem(path=f"{name}.txt", outcome=ItemOutcome.DONE))

    # WHEN read two at a time, an item inserted before the cursor between two pages
    first = job_store.list_bulk_items("bulk-1", limit=2)
    job_store.record_bulk_item("bulk-1", BulkItem(path="0.txt", outcome=ItemOutcome.DONE))
    second = job_store.list_bulk_items("bulk-1", after=first[-1].path, limit=2)
    third = job_store.list_bulk_items("bulk-1", after=second[-1].path, limit=2)

    # THEN the pages continue where the last one stopped, nothing repeated or lost
    assert [item.path for item in first + second + third] == ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]
    assert job_store.list_bulk_items("bulk-1", after="e.txt") == []
    assert job_store.list_bulk_items("bulk-1", limit=0) == []
    assert job_store.list_bulk_items("unknown") == []


def test_finish_bulk_job_is_a_compare_and_set_from_running(job_store: JobStore) -> None:
    # GIVEN a running bulk job
    job_store.create_bulk_job(make_bulk())

    # WHEN it is cancelled, then completed
    cancelled = job_store.finish_bulk_job("bulk-1", BulkState.CANCELLED, reason_code="bulk.cancelled")
    completed = job_store.finish_bulk_job("bulk-1", BulkState.COMPLETED)

    # THEN only the first change happened: a finished bulk job stays as it finished
    assert (cancelled, completed) == (True, False)
    bulk = job_store.get_bulk_job("bulk-1")
    assert bulk is not None
    assert bulk.state is BulkState.CANCELLED
    assert bulk.terminal
    assert bulk.reason_code == "bulk.cancelled"
    assert not job_store.finish_bulk_job("unknown", BulkState.COMPLETED)
    with pytest.raises(ValueError, match="terminal"):
        job_store.finish_bulk_job("bulk-1", BulkState.RUNNING)


def test_list_bulk_jobs_newest_first_with_limit(job_store: JobStore) -> None:
    # GIVEN three bulk jobs created a minute apart, one with an item
    for minute in range(3):
        job_store.create_bulk_job(make_bulk(f"bulk-{minute}", created_at=T0 + timedelta(minutes=minute)))
    job_store.record_bulk_item("bulk-1", BulkItem(path="a", outcome=ItemOutcome.DONE))

    # WHEN listed THEN newest first, with their counts, honouring the limit
    listed = job_store.list_bulk_jobs(limit=2)
    assert [bulk.bulk_id for bulk in listed] == ["bulk-2", "bulk-1"]
    assert listed[1].counts.done == 1
    assert job_store.list_bulk_jobs(limit=0) == []


def test_threads_recording_the_same_bulk_items_count_each_once(job_store: JobStore) -> None:
    # GIVEN a bulk job
    job_store.create_bulk_job(make_bulk())
    paths = [f"docs/{n:03d}.txt" for n in range(40)]

    # WHEN 8 threads record every item at once (redelivered activities racing)
    start = threading.Barrier(THREADS)

    def worker(seed: int) -> int:
        order = random.Random(seed).sample(paths, len(paths))
        start.wait(timeout=30)
        return sum(job_store.record_bulk_item("bulk-1", BulkItem(path=p, outcome=ItemOutcome.DONE)) for p in order)

    with ThreadPoolExecutor(THREADS) as pool:
        new_items = sum(pool.map(worker, range(THREADS)))

    # THEN each item was new exactly once, and counted once
    assert new_items == len(paths)
    assert bulk_counts(job_store) == BulkCounts(done=len(paths))


# --- token budget and extraction records (the LLM extractor) -----------------------------------------------


def test_reserve_tokens_adds_only_what_fits_the_limit(job_store: JobStore) -> None:
    # GIVEN a counter nobody has used, with a limit of 100
    assert job_store.tokens_used("minute:gpt:1") == 0

    # WHEN 60, then 50 (would be 110), then 40 (exactly 100) are asked for
    first = job_store.reserve_tokens("minute:gpt:1", 60, 100)
    second = job_store.reserve_tokens("minute:gpt:1", 50, 100)
    third = job_store.reserve_tokens("minute:gpt:1", 40, 100)

    # THEN the one that would pass the limit got nothing and added nothing
    assert (first, second, third) == (True, False, True)
    assert job_store.tokens_used("minute:gpt:1") == 100
    # AND a request larger than the limit never fits, even on an empty counter
    assert not job_store.reserve_tokens("minute:gpt:2", 101, 100)
    assert job_store.tokens_used("minute:gpt:2") == 0


def test_adjust_tokens_reconciles_a_reservation_with_what_was_used(job_store: JobStore) -> None:
    # GIVEN 80 tokens reserved of 100
    assert job_store.reserve_tokens("job:job-1", 80, 100)

    # WHEN the call used only 30 (50 given back), and a counter never reserved is adjusted
    job_store.adjust_tokens("job:job-1", -50)
    job_store.adjust_tokens("job:other", 7)

    # THEN the freed tokens can be reserved again, and the new counter holds its adjustment
    assert job_store.tokens_used("job:job-1") == 30
    assert job_store.reserve_tokens("job:job-1", 70, 100)
    assert job_store.tokens_used("job:other") == 7


def test_counters_are_kept_apart_and_a_past_window_reads_zero(job_store: JobStore) -> None:
    # GIVEN a counter whose window has passed and one still open
    past = datetime.now(UTC) - timedelta(minutes=5)
    job_store.adjust_tokens("minute:gpt:old", 500, expires_at=past)
    assert job_store.reserve_tokens("minute:gpt:now", 10, 100, expires_at=datetime.now(UTC) + timedelta(minutes=2))

    # THEN the past one reads as unused and the open one as what it holds
    assert job_store.tokens_used("minute:gpt:old") == 0
    assert job_store.tokens_used("minute:gpt:now") == 10


def test_threads_reserving_at_once_never_overrun_the_limit(job_store: JobStore, store_location: Location) -> None:
    # GIVEN 8 workers (each with its own store) racing for 10-token slices of a 45-token budget, 4 tries each
    start = threading.Barrier(THREADS)

    def worker(_: int) -> int:
        with open_store(store_location) as store:
            start.wait(timeout=30)
            return sum(store.reserve_tokens("minute:race", 10, 45) for _ in range(4))

    with ThreadPoolExecutor(THREADS) as pool:
        granted = sum(pool.map(worker, range(THREADS)))

    # THEN exactly four slices were granted in all, and the counter holds exactly them
    assert granted == 4
    assert job_store.tokens_used("minute:race") == 40


def test_record_extraction_keeps_the_first_record_of_a_batch(job_store: JobStore) -> None:
    # GIVEN a job with two extract batches recorded, the second out of order
    processing_job(job_store)
    second = BatchExtraction(
        batch=1, extractor="rules", chunks=3, fallback_chunks=3, fallback_reason="llm.job_budget_spent"
    )
    first = BatchExtraction(
        batch=0,
        extractor="llm:gpt-4o-mini",
        chunks=3,
        model_chunks=2,
        cached_chunks=1,
        requests=1,
        input_tokens=900,
        output_tokens=200,
        dropped=2,
    )
    assert job_store.record_extraction("job-1", second)
    assert job_store.record_extraction("job-1", first)

    # WHEN a redelivery records batch 0 again, served from the cache this time
    again = job_store.record_extraction("job-1", first.model_copy(update={"cached_chunks": 3, "requests": 0}))

    # THEN the first record stays, and the records come back by batch
    assert not again
    assert job_store.list_extractions("job-1") == [first, second]
    assert job_store.list_extractions("no-such-job") == []


def test_record_extraction_of_an_unknown_job_raises(job_store: JobStore) -> None:
    with pytest.raises(LookupError):
        job_store.record_extraction("no-such-job", BatchExtraction(batch=0, extractor="rules"))


# --- the operations API: listing a page at a time, counting by group ---------------------------------------------


def _listed(store: JobStore, where: JobFilter | None = None, page: int = 2) -> list[str]:
    """Every job id matching `where`, read page by page (keyset), in the order the pages gave them."""
    seen: list[str] = []
    after: JobKey | None = None
    while True:
        jobs = store.list_jobs_page(where or JobFilter(), limit=page, after=after)
        seen += [job.job_id for job in jobs]
        if len(jobs) < page:
            return seen
        after = JobKey(created_at=jobs[-1].created_at, job_id=jobs[-1].job_id)


def test_pages_list_every_job_once_newest_first_with_ties_broken_by_id(job_store: JobStore) -> None:
    # GIVEN five jobs, two of them created in the same microsecond
    times = {"a": T0, "b": T0 + timedelta(seconds=1), "c": T0 + timedelta(seconds=1), "d": T0 + timedelta(2), "e": T0}
    for job_id, created in times.items():
        job_store.create_job(make_job(job_id, created_at=created))

    # WHEN they are read two at a time
    listed = _listed(job_store)

    # THEN each comes once, newest first, and the same instant orders by id, descending
    assert listed == ["d", "c", "b", "e", "a"]


def test_a_job_inserted_between_pages_neither_repeats_nor_hides_one(job_store: JobStore) -> None:
    # GIVEN four jobs and the first page of two
    for minute in range(4):
        job_store.create_job(make_job(f"job-{minute}", created_at=T0 + timedelta(minutes=minute)))
    first = job_store.list_jobs_page(JobFilter(), limit=2)
    assert [job.job_id for job in first] == ["job-3", "job-2"]

    # WHEN a newer job arrives before the next page is read
    job_store.create_job(make_job("job-new", created_at=T0 + timedelta(hours=1)))
    rest = job_store.list_jobs_page(
        JobFilter(), limit=10, after=JobKey(created_at=first[-1].created_at, job_id=first[-1].job_id)
    )

    # THEN the next page goes on where the first ended (an offset would have repeated job-2)
    assert [job.job_id for job in rest] == ["job-1", "job-0"]


def test_filters_select_by_state_time_path_prefix_and_reason(job_store: JobStore) -> None:
    # GIVEN jobs in several states, times, folders and with several reasons
    job_store.create_job(make_job("old", created_at=T0, path="incoming/reports/old.pdf"))
    job_store.create_job(make_job("new", created_at=T0 + timedelta(hours=2), path="incoming/reports/new.PDF"))
    job_store.create_job(make_job("other", created_at=T0 + timedelta(hours=3), path="incoming/Reports/x.csv"))
    job_store.create_job(make_job("wild", created_at=T0 + timedelta(hours=4), path="incoming/re%orts/y.csv"))
    job_store.transition("new", JobState.FAILED, allowed_from={JobState.QUEUED}, reason_code="parse.pdf.encrypted")
    job_store.transition("other", JobState.FAILED, allowed_from={JobState.QUEUED}, reason_code="limits.file_too_large")

    # WHEN / THEN each filter holds alone and together
    assert _listed(job_store, JobFilter(state=JobState.FAILED)) == ["other", "new"]
    assert _listed(job_store, JobFilter(since=T0 + timedelta(hours=2))) == ["wild", "other", "new"]
    # case-sensitive, and % is a character like any other (not a LIKE wildcard)
    assert _listed(job_store, JobFilter(prefix="incoming/reports/")) == ["new", "old"]
    assert _listed(job_store, JobFilter(prefix="incoming/re%")) == ["wild"]
    assert _listed(job_store, JobFilter(reason="parse.pdf.encrypted")) == ["new"]
    together = JobFilter(state=JobState.FAILED, since=T0 + timedelta(hours=1), prefix="incoming/reports/")
    assert _listed(job_store, together) == ["new"]
    assert job_store.list_jobs_page(JobFilter(reason="no.such_code"), limit=5) == []


def test_a_listed_job_carries_its_counters_like_get_job(job_store: JobStore) -> None:
    processing_job(job_store, "job-1", expected=1)
    job_store.record_batch("job-1", Stage.GRAPH, 0, BatchOutcome.DONE, Counts(chunks=3))
    [listed] = job_store.list_jobs_page(JobFilter(), limit=5)
    assert listed.model_dump(exclude={"updated_at"}) == stored(job_store).model_dump(exclude={"updated_at"})


def test_job_groups_count_by_kind_state_reason_and_format_since_a_time(job_store: JobStore) -> None:
    # GIVEN two PDFs (one failed), a CSV with totals, and an old text file
    job_store.create_job(make_job("a", path="incoming/a.pdf", size=10, created_at=T0 + timedelta(hours=1)))
    job_store.create_job(make_job("b", path="incoming/dir.v2/b.PDF", size=5, created_at=T0 + timedelta(hours=1)))
    job_store.transition("b", JobState.FAILED, allowed_from={JobState.QUEUED}, reason_code="parse.pdf.encrypted")
    processing_job(job_store, "c", expected=1, path="incoming/c.csv", size=7, created_at=T0 + timedelta(hours=2))
    job_store.record_batch("c", Stage.GRAPH, 0, BatchOutcome.DONE, Counts(chunks=4, entities=2))
    job_store.create_job(make_job("d", path="incoming/folder.x/README", size=1, created_at=T0))

    # WHEN they are counted since the first hour, and over all time
    recent = {(g.state, g.reason_code, g.format): g for g in job_store.job_groups(since=T0 + timedelta(minutes=30))}
    every = job_store.job_groups()

    # THEN each group has its count and sums, the format is the lower-cased extension, and the old job is left out
    assert set(recent) == {
        (JobState.QUEUED, None, "pdf"),
        (JobState.FAILED, "parse.pdf.encrypted", "pdf"),
        (JobState.PROCESSING, None, "csv"),
    }
    assert recent[(JobState.QUEUED, None, "pdf")].jobs == 1
    assert recent[(JobState.QUEUED, None, "pdf")].bytes == 10
    csv = recent[(JobState.PROCESSING, None, "csv")]
    assert (csv.kind, csv.jobs, csv.bytes, csv.chunks, csv.entities) == (JobKind.INGEST, 1, 7, 4, 2)
    assert sum(g.jobs for g in every) == 4
    assert {g.format for g in every} == {"pdf", "csv", ""}
    assert job_store.job_groups(since=T0 + timedelta(days=1)) == []


# --- the trace API (stage events, jobs by tracking id) ------------------------------------------------------------


def test_stage_events_keep_message_ids_and_durations_in_recorded_order(job_store: JobStore) -> None:
    # GIVEN a job whose batches are recorded out of pipeline order, one dead-lettered, one with no message id
    processing_job(job_store, "job-1", expected=2)
    recorded = [
        (Stage.PARSE, 1, BatchOutcome.DONE, None, None, 3.5),
        (Stage.PARSE, 0, BatchOutcome.DONE, None, None, 2.25),
        (Stage.ENRICH, 0, BatchOutcome.DONE, None, message_id("job-1", Stage.ENRICH, 0), 10.0),
        (Stage.ENRICH, 1, BatchOutcome.DEAD_LETTERED, "parse.bad", "custom-message-id", None),
    ]
    for stage, batch, outcome, reason, message, duration in recorded:
        assert job_store.record_batch(
            "job-1", stage, batch, outcome, reason_code=reason, message_id=message, duration_ms=duration
        )

    # WHEN the same batch is recorded again with other figures (a redelivery), and the events are read
    assert not job_store.record_batch("job-1", Stage.PARSE, 0, BatchOutcome.DONE, message_id="later", duration_ms=99.0)
    events = job_store.stage_events("job-1")

    # THEN every batch comes once, in the order recorded, with the first call's message id and duration
    assert [(e.stage, e.batch, e.outcome, e.reason_code, e.message_id, e.duration_ms) for e in events] == recorded
    times = [e.recorded_at for e in events]
    assert all(t is not None and t.tzinfo is not None for t in times)
    assert times == sorted(t for t in times if t is not None)


def test_stage_events_of_one_instant_follow_stage_order_then_batch(job_store: JobStore) -> None:
    # GIVEN markers whose times cannot tell them apart (recorded in reverse pipeline order)
    processing_job(job_store, "job-1", expected=2)
    for stage in (Stage.VECTOR, Stage.GRAPH, Stage.EXTRACT):
        for batch in (1, 0):
            job_store.record_batch("job-1", stage, batch, BatchOutcome.DONE)
    events = job_store.stage_events("job-1")

    # WHEN they are put in trace order as if recorded at one instant
    same_instant = in_trace_order(e.model_copy(update={"recorded_at": T0}) for e in events)

    # THEN the pipeline order of the stages, then the batch, decides; and a job with no markers has no events
    assert [(e.stage, e.batch) for e in same_instant] == [
        (Stage.EXTRACT, 0), (Stage.EXTRACT, 1), (Stage.GRAPH, 0), (Stage.GRAPH, 1), (Stage.VECTOR, 0), (Stage.VECTOR, 1)
    ]  # fmt: skip
    job_store.create_job(make_job("job-2"))
    assert job_store.stage_events("job-2") == []
    assert job_store.stage_events("no-such-job") == []


def test_jobs_by_tracking_id_finds_only_that_ids_jobs_newest_first(job_store: JobStore) -> None:
    # GIVEN three jobs of one client tracking id (one with counters) and one of another
    for minute, job_id in enumerate(["a", "b", "c"]):
        job_store.create_job(make_job(job_id, tracking_id="order-42", created_at=T0 + timedelta(minutes=minute)))
    job_store.create_job(make_job("other", tracking_id="order-43"))
    processing_job(job_store, "d", expected=1, tracking_id="order-42", created_at=T0 + timedelta(hours=1))
    job_store.record_batch("d", Stage.GRAPH, 0, BatchOutcome.DONE, Counts(chunks=3))

    # WHEN they are looked up by the tracking id, whole and with a limit
    found = job_store.jobs_by_tracking_id("order-42")
    newest_two = job_store.jobs_by_tracking_id("order-42", limit=2)

    # THEN the id's jobs come newest first, each as get_job reads it, and nothing else matches
    assert [job.job_id for job in found] == ["d", "c", "b", "a"]
    assert found[0].model_dump(exclude={"updated_at"}) == stored(job_store, "d").model_dump(exclude={"updated_at"})
    assert [job.job_id for job in newest_two] == ["d", "c"]
    assert job_store.jobs_by_tracking_id("order-4") == []  # an exact match, not a prefix
    assert job_store.jobs_by_tracking_id("order-42", limit=0) == []


# --- reopen_batch (dead-letter replay) -----------------------------------------------------------------------


def dead_lettered_job(store: JobStore, job_id: str = "job-1", *, batches: tuple[int, ...] = (1,)) -> Job:
    """A job of 3 batches whose graph `batches` were dead-lettered (as shared.pipeline.stages.record_dead_letter
    leaves it), the other graph batches and every vector batch done."""
    processing_job(store, job_id, expected=3)
    for batch in range(3):
        store.record_batch(job_id, Stage.VECTOR, batch, BatchOutcome.DONE)
        if batch not in batches:
            store.record_batch(job_id, Stage.GRAPH, batch, BatchOutcome.DONE)
    for batch in batches:
        store.record_batch(job_id, Stage.GRAPH, batch, BatchOutcome.DEAD_LETTERED, reason_code="graph.unavailable")
    assert store.transition(
        job_id,
        JobState.FAILED,
        allowed_from={JobState.PROCESSING},
        reason_code="graph.unavailable",
        last_error="graph batch 1: down",
    )
    return stored(store, job_id)


def test_reopen_batch_removes_the_dead_letter_and_reopens_the_job_which_can_then_finish(job_store: JobStore) -> None:
    # GIVEN a job failed by one dead-lettered graph batch
    dead_lettered_job(job_store)
    assert job_store.finish_if_complete("job-1") is None

    # WHEN the batch is reopened for a replay
    reopened = job_store.reopen_batch("job-1", Stage.GRAPH, 1)

    # THEN the marker and its count are gone and the job processes again, its last error kept for the record
    job = stored(job_store)
    assert reopened is True
    assert job.counters(Stage.GRAPH) == StageCounters(done=2, dead_lettered=0)
    assert (job.state, job.reason_code, job.last_error) == (JobState.PROCESSING, None, "graph batch 1: down")
    # AND the replayed batch, now done, counts (its marker is new again) and finishes the job
    assert job_store.record_batch("job-1", Stage.GRAPH, 1, BatchOutcome.DONE, Counts(chunks=5)) is True
    finished = job_store.finish_if_complete("job-1")
    assert finished is not None
    assert finished.state is JobState.SUCCEEDED
    assert stored(job_store).totals.chunks == 5


def test_reopen_batch_twice_changes_nothing_the_second_time(job_store: JobStore) -> None:
    # GIVEN a reopened batch
    dead_lettered_job(job_store)
    assert job_store.reopen_batch("job-1", Stage.GRAPH, 1)
    before = stored(job_store)

    # WHEN it is reopened again (a replay run again after a crash)
    again = job_store.reopen_batch("job-1", Stage.GRAPH, 1)

    # THEN nothing moves: no counter below zero, no state change
    assert again is False
    after = stored(job_store)
    assert (after.state, after.stages, after.totals) == (before.state, before.stages, before.totals)


def test_reopen_batch_never_touches_a_done_marker_or_an_unknown_job(job_store: JobStore) -> None:
    # GIVEN a failed job whose graph batch 0 is done
    dead_lettered_job(job_store)

    # WHEN a done batch, a batch with no marker, and an unknown job are "reopened"
    answers = [
        job_store.reopen_batch("job-1", Stage.GRAPH, 0),
        job_store.reopen_batch("job-1", Stage.ENRICH, 0),
        job_store.reopen_batch("no-such-job", Stage.GRAPH, 1),
    ]

    # THEN none is, and the job is still failed with its reason
    assert answers == [False, False, False]
    job = stored(job_store)
    assert job.counters(Stage.GRAPH) == StageCounters(done=2, dead_lettered=1)
    assert (job.state, job.reason_code) == (JobState.FAILED, "graph.unavailable")


def test_a_job_with_another_dead_lettered_batch_stays_failed_until_the_last_is_reopened(job_store: JobStore) -> None:
    # GIVEN a job failed by two dead-lettered graph batches
    dead_lettered_job(job_store, batches=(1, 2))

    # WHEN the first is reopened
    assert job_store.reopen_batch("job-1", Stage.GRAPH, 1)

    # THEN the job stays failed (batch 2 will never complete unless it is replayed too)
    assert stored(job_store).state is JobState.FAILED
    # AND reopening the last one moves it back to processing
    assert job_store.reopen_batch("job-1", Stage.GRAPH, 2)
    assert stored(job_store).state is JobState.PROCESSING


def test_a_job_failed_before_its_batch_count_was_known_is_not_reopened(job_store: JobStore) -> None:
    # GIVEN a job whose enrich batch was dead-lettered while parsing had not finished, then failed
    processing_job(job_store, expected=None)
    job_store.record_batch("job-1", Stage.ENRICH, 0, BatchOutcome.DEAD_LETTERED, reason_code="embed.refused")
    assert job_store.transition("job-1", JobState.FAILED, allowed_from={JobState.PROCESSING})

    # WHEN its batch is reopened
    assert job_store.reopen_batch("job-1", Stage.ENRICH, 0)

    # THEN the marker goes but the job stays failed: it could never finish (a retry of the job is the way)
    job = stored(job_store)
    assert job.counters(Stage.ENRICH).dead_lettered == 0
    assert job.state is JobState.FAILED


def test_threads_reopening_the_same_batch_reopen_it_once(job_store: JobStore) -> None:
    # GIVEN a failed job
    dead_lettered_job(job_store)

    # WHEN 8 threads reopen its batch at once
    start = threading.Barrier(THREADS)

    def worker(_: int) -> bool:
        start.wait(timeout=30)
        return job_store.reopen_batch("job-1", Stage.GRAPH, 1)

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(worker, range(THREADS)))

    # THEN exactly one removed the marker, and the counter went down once
    assert answers.count(True) == 1
    assert stored(job_store).counters(Stage.GRAPH) == StageCounters(done=2, dead_lettered=0)
