"""The client's tracking id from blob metadata (refused whole when hostile), the trace order of stage events, and
the per-stage totals and times the trace API adds to them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.api_trace import job_trace, stage_totals
from shared.domain import BatchOutcome, Job, JobState, Stage
from shared.domain.ids import message_id
from shared.domain.stage_events import (
    TRACKING_ID_MAX_LENGTH,
    InvalidTrackingIdError,
    StageEvent,
    client_tracking_id,
    in_trace_order,
)

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, None),
        ({"other": "x"}, None),
        ({"tracking_id": "order-42"}, "order-42"),
        ({"Tracking_ID": "0af7651916cd43dd8448eb211c80319c"}, "0af7651916cd43dd8448eb211c80319c"),  # any case
        ({"tracking_id": "urn:shop:order.42_b"}, "urn:shop:order.42_b"),
        ({"tracking_id": "a" * TRACKING_ID_MAX_LENGTH}, "a" * TRACKING_ID_MAX_LENGTH),
    ],
)
def test_a_valid_tracking_id_is_read_whatever_the_keys_case(metadata: dict[str, str], expected: str | None) -> None:
    assert client_tracking_id(metadata) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a" * (TRACKING_ID_MAX_LENGTH + 1),
        "order 42",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "id\nforged log line",
        "-starts-with-a-dash",
        "naïve",
        "' OR 1=1 --",
    ],
)
def test_a_hostile_tracking_id_is_refused_whole_with_a_short_account(value: str) -> None:
    # GIVEN metadata naming a tracking id that is too long or has characters outside letters, digits and -_.:
    # WHEN it is read THEN it is refused (never cut or cleaned into another id), and the account quotes at most 40
    with pytest.raises(InvalidTrackingIdError) as refused:
        client_tracking_id({"tracking_id": value})
    assert "\n" not in str(refused.value)
    assert len(str(refused.value)) < 250


def event(stage: Stage, batch: int, at: datetime | None, ms: float | None = 1.0) -> StageEvent:
    return StageEvent(stage=stage, batch=batch, outcome=BatchOutcome.DONE, recorded_at=at, duration_ms=ms)


def test_trace_order_is_time_then_stage_order_then_batch_with_unknown_times_first() -> None:
    events = [
        event(Stage.GRAPH, 0, T0),
        event(Stage.ENRICH, 1, T0),
        event(Stage.ENRICH, 0, T0),
        event(Stage.PARSE, 0, T0 - timedelta(seconds=1)),
        event(Stage.VECTOR, 3, None),
    ]
    ordered = in_trace_order(events)
    assert [(e.stage, e.batch) for e in ordered] == [
        (Stage.VECTOR, 3), (Stage.PARSE, 0), (Stage.ENRICH, 0), (Stage.ENRICH, 1), (Stage.GRAPH, 0)
    ]  # fmt: skip


def test_stage_totals_add_up_known_durations_and_count_dead_letters() -> None:
    events = [
        event(Stage.EXTRACT, 0, T0, 5.0),
        event(Stage.EXTRACT, 1, T0, 7.5),
        StageEvent(stage=Stage.EXTRACT, batch=2, outcome=BatchOutcome.DEAD_LETTERED, reason_code="extract.x"),
        event(Stage.PARSE, 0, T0, None),
    ]
    totals = {t.stage: t for t in stage_totals(events)}
    assert list(totals) == [Stage.PARSE, Stage.EXTRACT]  # pipeline order, only the stages met
    assert (totals[Stage.EXTRACT].batches, totals[Stage.EXTRACT].dead_lettered) == (3, 1)
    assert (totals[Stage.EXTRACT].total_ms, totals[Stage.EXTRACT].max_ms) == (12.5, 7.5)
    assert (totals[Stage.PARSE].total_ms, totals[Stage.PARSE].max_ms) == (0, None)


def job(state: JobState) -> Job:
    return Job(
        job_id="job-1",
        document_id="doc-1",
        path="incoming/a.txt",
        version="v1",
        tracking_id="t",
        state=state,
        created_at=T0 - timedelta(seconds=5),
        updated_at=T0 + timedelta(minutes=5),
    )


def test_a_job_finishes_at_its_last_sink_batch_when_succeeded_else_at_its_last_change() -> None:
    events = in_trace_order(
        [
            event(Stage.PARSE, 0, T0),
            event(Stage.GRAPH, 0, T0 + timedelta(seconds=2)),
            event(Stage.VECTOR, 0, T0 + timedelta(seconds=3)),
            event(Stage.CLEANUP, 0, T0 + timedelta(seconds=4)),  # after the job succeeded: not its end
        ]
    )
    succeeded = job_trace(job(JobState.SUCCEEDED), events)
    assert (succeeded.started_at, succeeded.finished_at) == (T0, T0 + timedelta(seconds=3))
    assert job_trace(job(JobState.FAILED), events).finished_at == T0 + timedelta(minutes=5)
    assert job_trace(job(JobState.PROCESSING), events).finished_at is None
    assert job_trace(job(JobState.QUEUED), []).started_at is None


def test_cosmos_markers_read_back_in_both_shapes_and_stay_small() -> None:
    # GIVEN a marker as the Cosmos DB store writes it now (its message id the deterministic one), one with another
    # message id, and one written before the trace API (a bare "outcome:reason" string)
    from shared.adapters.cosmos_jobstore import _marker_value, _stage_event

    deterministic = message_id("job-1", Stage.GRAPH, 3)
    derived = _marker_value("job-1", Stage.GRAPH, 3, BatchOutcome.DONE, None, deterministic, 12.3456)
    other = _marker_value("job-1", Stage.ENRICH, 0, BatchOutcome.DONE, None, "resent-by-hand", None)

    # WHEN they are read back as stage events
    graph = _stage_event("job-1", "graph_3", derived)
    enrich = _stage_event("job-1", "enrich_0", other)
    old = _stage_event("job-1", "vector_12", "dead_lettered:sink.write_failed")

    # THEN each keeps what was recorded; the deterministic message id costs no bytes in the job document
    assert (graph.stage, graph.batch, graph.message_id, graph.duration_ms) == (Stage.GRAPH, 3, deterministic, 12.346)
    assert graph.recorded_at is not None
    assert abs(graph.recorded_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (enrich.message_id, enrich.duration_ms) == ("resent-by-hand", None)
    assert (old.stage, old.batch, old.outcome, old.reason_code) == (
        Stage.VECTOR, 12, BatchOutcome.DEAD_LETTERED, "sink.write_failed"
    )  # fmt: skip
    assert (old.recorded_at, old.message_id, old.duration_ms) == (None, None, None)
    assert len(json.dumps({"graph_1234": derived}, separators=(",", ":"))) <= 48
