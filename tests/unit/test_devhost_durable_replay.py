"""The local host's orchestration episodes on fabricated completions: the sequence numbers it gives retries and new
tasks agree with the SDK's (or the SDK could not match the next completion), and what it refuses it refuses loudly."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.durable.engine import DurableEngine
from shared.devhost.durable.history import T, event, utc_now
from shared.devhost.durable.runner import Catalog, run_episode
from shared.devhost.durable.store import DurableStore, Outcome, WorkItem
from shared.devhost.invoke import invoke


def orchestrator(name: str, function: Callable[..., Any]) -> FunctionSpec:
    """A FunctionSpec as the worker indexes a DFApp orchestrator: the SDK's `handle`, the generator inside it."""
    return FunctionSpec(
        name=name,
        bindings=({"direction": "IN", "type": "orchestrationTrigger", "name": "context"},),
        user_function=df.Orchestrator.create(function),
    )


def task_any_beside_a_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=3)
    flaky = context.call_activity_with_retry("flaky", options, None)  # sequence 0
    quick = context.call_activity("quick", None)  # sequence 1
    yield context.task_any([flaky, quick])
    return (yield context.call_activity("after", None))


def calls_an_entity(context: df.DurableOrchestrationContext):
    return (yield context.call_entity(df.EntityId("counter", "one"), "add", 1))


@pytest.fixture
def store(tmp_path: Path):
    opened = DurableStore(tmp_path / "durable.sqlite")
    yield opened
    opened.close()


def episode(store: DurableStore, catalog: Catalog, instance_id: str) -> Outcome:
    loaded = store.load(instance_id, time.time() + 3600)  # timers due too: this test plays the clock
    assert loaded is not None
    instance, history, inbox = loaded
    outcome = run_episode(
        instance, history, inbox, catalog, utc_now(), lambda spec, inputs: invoke(spec, inputs).result
    )
    assert store.commit(outcome)
    return outcome


def work(store: DurableStore) -> dict[str, WorkItem]:
    return {item.name: item for item in store.work(after=0, limit=100)}


def test_a_retry_failing_in_the_same_episode_as_a_task_any_winner_gets_the_sdks_sequence_numbers(
    store: DurableStore,
) -> None:
    catalog = Catalog(
        orchestrators={"racer": orchestrator("racer", task_any_beside_a_retry)},
        activities={"flaky", "quick", "after"},
    )
    store.start("race", "racer", None)
    first = episode(store, catalog, "race")
    assert [(e["EventId"], e["Name"]) for e in first.events if e["EventType"] == T.TASK_SCHEDULED] == [
        (0, "flaky"),
        (1, "quick"),
    ]
    # GIVEN the quick task completes and the retried one fails, delivered in that order to one episode
    items = work(store)
    store.complete(items["quick"], event(T.TASK_COMPLETED, utc_now(), TaskScheduledId=1, Result='"fast"'))
    store.complete(items["flaky"], event(T.TASK_FAILED, utc_now(), TaskScheduledId=0, Reason="boom", Details=""))
    # WHEN that episode runs
    second = episode(store, catalog, "race")
    # THEN the retry's timer takes sequence 2 and the task the winner unblocks takes 3 — the SDK's own order, since it
    # handles the failure first within the episode (the host puts such events first)
    assert [
        (e["EventType"], e["EventId"]) for e in second.events if e["EventType"] in (T.TIMER_CREATED, T.TASK_SCHEDULED)
    ] == [
        (T.TIMER_CREATED, 2),
        (T.TASK_SCHEDULED, 3),
    ]
    # AND the SDK matches the completion of task 3 to its `after` call: the orchestration completes with its result
    store.complete(work(store)["after"], event(T.TASK_COMPLETED, utc_now(), TaskScheduledId=3, Result='"after done"'))
    third = episode(store, catalog, "race")
    assert third.status == "Completed"
    assert third.output == '"after done"'


def test_an_orchestrator_calling_an_entity_fails_with_a_clear_refusal(store: DurableStore) -> None:
    catalog = Catalog(orchestrators={"entity_user": orchestrator("entity_user", calls_an_entity)}, activities=set())
    store.start("e1", "entity_user", None)
    outcome = episode(store, catalog, "e1")
    assert outcome.status == "Failed"
    assert "durable entities are not supported by the local host" in (outcome.output or "")


def test_entity_functions_are_refused_at_indexing(tmp_path: Path) -> None:
    entity = FunctionSpec(
        name="counter",
        bindings=({"direction": "IN", "type": "entityTrigger", "name": "context"},),
        user_function=lambda context: None,
    )
    with ThreadPoolExecutor(1) as pool:
        engine = DurableEngine([entity], tmp_path, pool, lambda spec, inputs: None)
        engine.close()
    assert engine.errors == {
        "counter": "The 'counter' function is in error: entityTrigger (durable entities) is not supported by the "
        "local host."
    }


def test_timestamps_are_the_extensions_utc_form() -> None:
    stamped = event(T.ORCHESTRATOR_STARTED, datetime.fromisoformat("2026-12-02T10:00:00.5+01:00"))
    assert stamped["Timestamp"] == "2026-12-02T09:00:00.500000Z"
