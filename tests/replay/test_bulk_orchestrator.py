"""The bulk orchestrator through the SDK's own replay entry point, `handle(context_json)`, the function the worker
indexes for it: fabricated histories (activities answered by tests/replay/fakes.py) and a recorded one. Every
episode is replayed twice and must give the same state; a recorded history must replay to the actions recorded with
it; and a deliberately non-deterministic change of the orchestrator's source must be caught by those checks."""

from __future__ import annotations

import itertools
import json
import types
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

import shared.bulk.orchestrator as orchestrator
from shared.bulk.orchestrator import BEGIN, COMMUNITIES, DOCUMENTS_SETTLED, FINISH, ITEM, LIST_PAGE, SETTLE_BATCH
from tests.replay.fakes import FakeBulk, expected_counts
from tests.replay.record import RECORDED, REFERENCE_RUN, record_reference, registered_handle
from tests.replay.record_local_host import RECORDED as LOCAL_HOST_RECORDED
from tests.replay.simulator import (
    CONTINUE_AS_NEW,
    CREATE_TIMER,
    Handle,
    NonDeterminismError,
    Recording,
    Simulator,
    check_against_history,
    check_against_scheduled,
)

RUN: dict[str, Any] = {"bulk_id": "bulk-replay", "operation": "reprocess", "container": "incoming"}


@pytest.fixture(scope="module")
def handle() -> Handle:
    return registered_handle()


def names(actions: list[dict[str, Any]]) -> list[str]:
    return [action.get("functionName", "continue_as_new") for action in actions]


def final_progress(recording: Recording) -> dict[str, Any]:
    return dict(recording.generations[-1].statuses[-1])


def test_a_run_lists_one_page_per_generation_and_keeps_each_history_bounded(handle: Handle) -> None:
    # GIVEN 450 blobs, pages of 200, batches of 16
    fake = FakeBulk(blobs=450)

    # WHEN the orchestration runs, each episode replayed twice
    recording = Simulator(handle, fake.activities()).run(RUN | {"page_size": 200, "batch_size": 16})

    # THEN three generations, each listing one page and running it in batches, the first two continuing as new
    assert len(recording.generations) == 3
    for number, generation in enumerate(recording.generations):
        called = names(generation.actions)
        assert called[: 3 - bool(number)] == [BEGIN, LIST_PAGE, ITEM][bool(number) :]
        assert called.count(ITEM) == (200 if number < 2 else 50)
        assert called[-1] == ("continue_as_new" if number < 2 else FINISH)
    # AND no history grows with the run: two events per activity (a blob of its page, the listing, the begin or the
    # finish) and two per episode (about one per batch), whatever the number of pages
    sizes = [len(generation.history) for generation in recording.generations]
    assert max(sizes) <= 2 * (200 + 3) + 2 * (200 // 16 + 5), sizes
    # AND what is passed on from one generation to the next is the token and the counters, well under 1 KB
    for number, generation in enumerate(recording.generations[1:], start=1):
        assert len(json.dumps(generation.input)) < 1024
        assert generation.input["progress"]["total"] == 200 * number
    # AND the progress adds up, and the output is the last activity's summary
    assert final_progress(recording) == {
        "total": 450,
        **expected_counts(fake.paths()),
        "pages": 3,
        "listing_complete": True,
        "dry_run": False,
    }
    assert recording.output == {"bulk_id": "bulk-replay", "counts": dict(fake.answered)}


def test_progress_never_goes_back_and_activity_inputs_stay_small(handle: Handle) -> None:
    # GIVEN activities completing one at a time (one episode each: the most replays)
    fake = FakeBulk(blobs=45)

    # WHEN the orchestration runs
    recording = Simulator(handle, fake.activities(), batch=1).run(RUN | {"page_size": 20, "batch_size": 4})

    # THEN every counter of the custom status only grows, episode after episode, across generations
    statuses = [status for generation in recording.generations for status in generation.statuses if status]
    for before, after in itertools.pairwise(statuses):
        assert all(after[key] >= before[key] for key in ("total", "done", "failed", "skipped", "pages"))
    # AND an activity's input is ids and a path, never content
    item_inputs = [a["input"] for g in recording.generations for a in g.actions if a.get("functionName") == ITEM]
    assert len(item_inputs) == 45
    assert max(len(text) for text in item_inputs) < 200


def test_a_request_matching_nothing_completes_at_once(handle: Handle) -> None:
    # GIVEN an empty container WHEN a run starts
    recording = Simulator(handle, FakeBulk(blobs=0).activities()).run(RUN | {"prefix": "nothing/"})

    # THEN it records the job, lists one empty page and finishes: no item, no second generation
    assert len(recording.generations) == 1
    assert names(recording.generations[0].actions) == [BEGIN, LIST_PAGE, FINISH]
    assert final_progress(recording)["total"] == 0
    assert recording.output == {"bulk_id": "bulk-replay", "counts": {}}


def test_a_dry_run_lists_and_counts_only(handle: Handle) -> None:
    # GIVEN 120 blobs WHEN a dry run lists them in pages of 50
    recording = Simulator(handle, FakeBulk(blobs=120).activities()).run(RUN | {"dry_run": True, "page_size": 50})

    # THEN every page is listed and counted, and no blob is run
    called = [name for generation in recording.generations for name in names(generation.actions)]
    assert ITEM not in called
    assert called.count(LIST_PAGE) == 3
    assert final_progress(recording) | {"listing_complete": True} == {
        "total": 120,
        "done": 0,
        "failed": 0,
        "skipped": 0,
        "pages": 3,
        "listing_complete": True,
        "dry_run": True,
    }


def test_explicit_paths_are_paged_from_the_input_not_listed(handle: Handle) -> None:
    # GIVEN 130 explicit paths and pages of 50
    fake = FakeBulk(blobs=130)
    paths = fake.paths()

    # WHEN the run goes through them
    recording = Simulator(handle, fake.activities()).run(RUN | {"paths": paths, "page_size": 50})

    # THEN each generation resolves its slice and passes on only the rest
    listings = [
        json.loads(action["input"])
        for generation in recording.generations
        for action in generation.actions
        if action.get("functionName") == LIST_PAGE
    ]
    assert [listing["paths"] for listing in listings] == [paths[:50], paths[50:100], paths[100:]]
    assert all(listing["continuation"] is None for listing in listings)
    assert [len(generation.input["paths"]) for generation in recording.generations] == [130, 80, 30]
    assert final_progress(recording)["total"] == 130


def test_a_blob_failing_past_its_retries_settles_its_batch(handle: Handle) -> None:
    # GIVEN a blob whose activity fails on each of its 3 attempts (a dependency down)
    fake = FakeBulk(blobs=20, failing={"docs/blob-000005.txt"})

    # WHEN the run goes through it, in batches of 8
    recording = Simulator(handle, fake.activities()).run(RUN | {"page_size": 50, "batch_size": 8})

    # THEN it was tried 3 times, its batch was settled by one activity, and the others went on
    actions = recording.generations[0].actions
    item_inputs = [json.loads(a["input"])["path"] for a in actions if a.get("functionName") == ITEM]
    assert len(item_inputs) == 20  # one action each: the retries are the extension's (timers in the history)
    settles = [json.loads(a["input"]) for a in actions if a.get("functionName") == SETTLE_BATCH]
    assert [settle["paths"] for settle in settles] == [fake.paths()[:8]]
    retried = [e for e in recording.generations[0].history if e["EventType"] == 6]  # TaskFailed
    assert len(retried) == 3
    assert final_progress(recording) | {"listing_complete": True} == {
        "total": 20,
        **expected_counts(fake.paths(), fake.failing),
        "pages": 1,
        "listing_complete": True,
        "dry_run": False,
    }


def test_the_recorded_history_replays_to_the_actions_recorded_with_it(handle: Handle) -> None:
    # GIVEN the reference history recorded when the orchestrator was committed (tests/replay/record.py)
    recorded = Recording.from_json(json.loads(RECORDED.read_text(encoding="utf-8")))
    assert len(recorded.generations) == 3
    assert any(action["actionType"] == CONTINUE_AS_NEW for action in recorded.generations[0].actions)

    # WHEN each of its generations is replayed (twice) by the orchestrator as it is now
    # THEN it issues exactly the recorded actions: an instance in flight survives a deployment of this code
    check_against_history(handle, recorded)
    # AND running the reference scenario afresh records the same history
    assert record_reference(handle).to_json() == recorded.to_json()


# --- the checks catch a non-deterministic orchestrator ---------------------------------------------------------


def mutated_orchestrator(original: str, replacement: str) -> Handle:
    """The orchestrator's own source with one deliberate change, wrapped by the SDK as the decorator wraps it."""
    source = Path(orchestrator.__file__).read_text(encoding="utf-8")
    assert original in source, "the mutation no longer applies: update this test with the orchestrator"
    module = types.ModuleType("bulk_orchestrator_variant")
    exec(compile(source.replace(original, replacement), "bulk_orchestrator_variant", "exec"), module.__dict__)
    handle: Handle = df.Orchestrator.create(module.bulk_orchestrator)
    return handle


# Each a change a developer could make, that Durable's determinism rules forbid.
CLOCK_VALUE = ("started_at=context.current_utc_datetime", "started_at=__import__('datetime').datetime.now()")
UUID_VALUE = ("ItemInput(bulk_id=run.bulk_id,", "ItemInput(bulk_id=__import__('uuid').uuid4().hex,")
# A branch on the clock that went the other way when the history was recorded (it skips recording the bulk job).
CLOCK_BRANCH = (
    "    if run.page == 0:\n",
    "    if run.page == 0 and __import__('datetime').datetime.now().year < 2000:\n",
)
VARIANTS = [CLOCK_VALUE, UUID_VALUE, CLOCK_BRANCH]
VARIANT_IDS = ["datetime.now-value", "uuid4-value", "datetime.now-branch"]


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_the_recorded_history_catches_a_non_deterministic_change(variant: tuple[str, str]) -> None:
    # GIVEN the recorded history, and the orchestrator changed to read the clock or a random uuid
    recorded = Recording.from_json(json.loads(RECORDED.read_text(encoding="utf-8")))
    bad = mutated_orchestrator(*variant)

    # WHEN the variant replays the recorded history THEN the check fails
    with pytest.raises(NonDeterminismError):
        check_against_history(bad, recorded)


@pytest.mark.parametrize("variant", [CLOCK_VALUE, UUID_VALUE], ids=VARIANT_IDS[:2])
def test_replaying_each_episode_twice_catches_a_value_that_changes_on_replay(variant: tuple[str, str]) -> None:
    # GIVEN a variant whose decisions carry a value that differs at every replay
    bad = mutated_orchestrator(*variant)

    # WHEN it runs afresh, each episode replayed twice THEN the first episode that differs fails the run
    with pytest.raises(NonDeterminismError, match="two replays of one history differ"):
        Simulator(bad, FakeBulk(blobs=70).activities()).run(REFERENCE_RUN)


def test_an_unchanged_copy_passes_the_same_checks(handle: Handle) -> None:
    # GIVEN the orchestrator's source executed as a copy with a change that alters nothing it decides
    same = mutated_orchestrator("# The orchestrator's and the activities' names", "# (a comment)")

    # WHEN it replays the recorded history THEN the checks pass: they catch decisions, not the code's identity
    check_against_history(same, Recording.from_json(json.loads(RECORDED.read_text(encoding="utf-8"))))


# --- a history the local host's Durable engine wrote ------------------------------------------------------------


def local_host_history() -> tuple[str, list[dict[str, Any]]]:
    """(instance id, history) of tests/replay/record_local_host.py's run."""
    recorded = json.loads(LOCAL_HOST_RECORDED.read_text(encoding="utf-8"))
    return recorded["instance_id"], recorded["history"]


def test_a_history_the_local_hosts_engine_recorded_replays_to_what_it_scheduled(handle: Handle) -> None:
    # GIVEN the history of a real run on the local host (10 blobs, batches of 4), as its engine stored it
    instance_id, history = local_host_history()

    # WHEN the orchestrator replays it, twice THEN it issues exactly the activities the history scheduled, in order
    state = check_against_scheduled(handle, instance_id, history)
    scheduled = [event["Name"] for event in history if event["EventType"] == 4]  # TaskScheduled
    settling = scheduled[12:-2]  # the checks of the document jobs, a durable timer between two
    assert scheduled == [BEGIN, LIST_PAGE] + [ITEM] * 10 + settling + [COMMUNITIES, FINISH]
    assert settling
    assert set(settling) == {DOCUMENTS_SETTLED}
    timers = sum(event["EventType"] == 10 for event in history)  # TimerCreated
    assert timers == len(settling) - 1
    # AND it ends with the summary the run's last activity read from the job store
    assert state["isDone"] is True
    assert state["output"]["counts"]["done"] == 10


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_the_local_hosts_history_catches_a_non_deterministic_change(variant: tuple[str, str]) -> None:
    # GIVEN the real run's history and a non-deterministic variant of the orchestrator
    instance_id, history = local_host_history()
    bad = mutated_orchestrator(*variant)

    # WHEN the variant replays it THEN the check fails
    with pytest.raises(NonDeterminismError):
        check_against_scheduled(bad, instance_id, history)


# -- the end of a run that refreshes communities: wait for the document jobs, then one refresh

ENDING: dict[str, Any] = {"communities": True, "settle_poll_seconds": 60, "settle_timeout_seconds": 600}


def last_generation_calls(recording: Recording) -> list[str]:
    return [
        "timer" if action["actionType"] == CREATE_TIMER else action.get("functionName", "continue_as_new")
        for action in recording.generations[-1].actions
    ]


def test_a_run_waits_for_its_document_jobs_then_refreshes_communities_once(handle: Handle) -> None:
    # GIVEN 40 blobs in two pages whose document jobs are found still running by the first two checks
    fake = FakeBulk(blobs=40, running_checks=2)

    # WHEN the run ends
    recording = Simulator(handle, fake.activities()).run(RUN | ENDING | {"page_size": 25, "batch_size": 8})

    # THEN only the last generation waits: check, timer, check, timer, check, then one refresh, then the finish
    assert DOCUMENTS_SETTLED not in names(recording.generations[0].actions)
    calls = last_generation_calls(recording)
    tail = [DOCUMENTS_SETTLED, "timer", DOCUMENTS_SETTLED, "timer", DOCUMENTS_SETTLED, COMMUNITIES, FINISH]
    assert calls[-len(tail) :] == tail
    # AND each check starts where the last one stopped, the first from the start
    assert [check["after"] for check in fake.checks] == [None, "docs/blob-000001.txt", "docs/blob-000002.txt"]
    # AND the timers are spaced by the poll interval (the simulator's clock jumps to each)
    timers = [a["fireAt"] for a in recording.generations[-1].actions if a["actionType"] == CREATE_TIMER]
    assert len(timers) == 2
    assert timers[0] < timers[1]
    # AND the custom status said it was waiting, then that the documents ended, and carries the refresh
    statuses = [status for status in recording.generations[-1].statuses if status]
    assert any(status.get("documents") == "waiting" for status in statuses)
    final = final_progress(recording)
    assert final["documents"] == "ended"
    assert final["communities"]["written"] == 3
    assert "communities_error" not in final
    assert final["done"] == expected_counts(fake.paths())["done"]
    # AND the next generation's input carried the settings on, and nothing of the end-of-run status
    carried = recording.generations[1].input
    assert carried["communities"] is True
    assert carried["settle_poll_seconds"] == 60
    assert "documents" not in carried["progress"]


def test_document_jobs_still_running_at_the_time_limit_end_the_wait_and_the_refresh_runs_anyway(handle: Handle) -> None:
    # GIVEN document jobs that never end, a check every 60 s and a limit of 600 s
    fake = FakeBulk(blobs=10, running_checks=10_000)

    # WHEN the run ends
    recording = Simulator(handle, fake.activities()).run(RUN | ENDING)

    # THEN it checked for ten minutes (11 checks: at 0, 60, ..., 600 s), said so, and refreshed anyway
    assert len(fake.checks) == 11
    assert final_progress(recording)["documents"] == "timed_out"
    assert last_generation_calls(recording)[-2:] == [COMMUNITIES, FINISH]
    # AND the wait grew the history by eight events per check (the activity, the timer, two episodes' markers)
    without_wait = Simulator(handle, FakeBulk(blobs=10).activities()).run(RUN | ENDING)
    grown = len(recording.generations[-1].history) - len(without_wait.generations[-1].history)
    assert grown == 8 * 10


def test_a_refresh_failing_past_its_retries_is_reported_and_the_run_still_finishes(handle: Handle) -> None:
    # GIVEN a graph that is down for the refresh
    fake = FakeBulk(blobs=10, communities_fail=True)

    # WHEN the run ends
    recording = Simulator(handle, fake.activities()).run(RUN | ENDING)

    # THEN the refresh was one action tried three times (the retries are the extension's: TaskFailed events), the
    # status names why it failed, and the summary is the finish's
    assert names(recording.generations[-1].actions).count(COMMUNITIES) == 1
    assert sum(event["EventType"] == 6 for event in recording.generations[-1].history) == 3
    final = final_progress(recording)
    assert "graph.unavailable" in final["communities_error"]
    assert "communities" not in final
    assert recording.output == {"bulk_id": "bulk-replay", "counts": dict(fake.answered)}


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(RUN | ENDING | {"dry_run": True}, id="a dry run"),
        pytest.param(RUN | ENDING | {"prefix": "nothing/"}, id="a run that ran nothing"),
        pytest.param(RUN | {"communities": False}, id="a run without communities"),
    ],
)
def test_a_run_that_changed_nothing_or_does_not_refresh_ends_at_once(handle: Handle, run: dict[str, Any]) -> None:
    # GIVEN a run that changes nothing in the graph, or was started without the refresh
    blobs = 0 if run.get("prefix") == "nothing/" else 10
    fake = FakeBulk(blobs=blobs)

    # WHEN it ends
    recording = Simulator(handle, fake.activities()).run(run)

    # THEN it neither waits nor refreshes
    called = [name for generation in recording.generations for name in names(generation.actions)]
    assert DOCUMENTS_SETTLED not in called
    assert COMMUNITIES not in called
    assert called[-1] == FINISH
    assert "documents" not in final_progress(recording)
