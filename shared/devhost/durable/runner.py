"""One orchestration episode, as the Durable extension runs it for an out-of-process (Python) orchestrator.

The host builds the context JSON (the history so far, then `OrchestratorStarted` and the new events), calls the
function the worker would call — the SDK's `handle(context)` — and turns the state it returns into an `Outcome`:
history to append, activities to run, timers, sub-orchestrations, the new status. Like the Durable Task Framework it
checks the replayed actions against what earlier episodes scheduled and fails the instance when they differ.

Retries (`call_activity_with_retry`, `call_sub_orchestrator_with_retry`) are carried out here, as DTFx does: after a
failed attempt a timer of `firstRetryIntervalInMilliseconds`, after the timer the next attempt, each taking the next
sequence number — the same numbers the SDK's RetryAbleTask gives its hidden timer and re-scheduled task. Within an
episode the events that make such an allocation go first, so the host and the SDK count in the same order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.functions import meta
from dateutil.parser import isoparse

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.durable.actions import CONSUMES_SEQUENCE, UNSUPPORTED, Leaf, leaves, non_determinism
from shared.devhost.durable.history import Event, T, event, timestamp
from shared.devhost.durable.store import COMPLETED, FAILED, RUNNING, TERMINAL, ChildStart, Instance, Outcome

__all__ = ["OUT_OF_PROC_MARKER", "Catalog", "run_episode"]

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"  # how the SDK appends its state to the exception of a failed orchestrator
REPLAY_SCHEMA = 1  # ReplaySchema.V2: one flat action list (the extension's `upperSchemaVersion`)
_ORCHESTRATION_TRIGGER = meta.get_binding_registry().get("orchestrationTrigger")


@dataclass(frozen=True)
class Catalog:
    """The functions an orchestrator may call, by the name `call_activity` / `call_sub_orchestrator` use."""

    orchestrators: Mapping[str, FunctionSpec]
    activities: Collection[str]


Invoke = Callable[[FunctionSpec, dict[str, Any]], Any]


def run_episode(
    instance: Instance,
    history: list[str],
    inbox: list[tuple[int, Event]],
    catalog: Catalog,
    now: datetime,
    call: Invoke,
) -> Outcome:
    """Replay `instance` over `history` + the `inbox` events and decide what follows."""
    state = copy.deepcopy(instance.state)
    ordered = _allocating_first(inbox, state["retries"])
    episode = _Episode(instance, state, catalog, now)
    for _, item in ordered:
        episode.retry_step(item)
    started = event(T.ORCHESTRATOR_STARTED, now)
    new_events = [started, *(item for _, item in ordered)]
    context = _context_json(instance, history, new_events)
    spec = catalog.orchestrators.get(instance.name)
    if spec is None:
        return episode.fail(
            new_events,
            ordered,
            f"The function '{instance.name}' doesn't exist, is disabled, or is not an orchestrator function.",
        )
    result, error = _call(spec, context, call)
    if result is None:
        return episode.fail(new_events, ordered, error or "the orchestrator returned no state")
    return episode.decide(new_events, ordered, result, error)


def _allocating_first(inbox: list[tuple[int, Event]], retries: dict[str, Any]) -> list[tuple[int, Event]]:
    def allocates(item: Event) -> bool:
        kind = item["EventType"]
        if kind in (T.TASK_FAILED, T.SUB_ORCHESTRATION_INSTANCE_FAILED):
            retry = retries.get(str(item.get("TaskScheduledId")))
            return retry is not None and retry["phase"] == "attempt"
        if kind == T.TIMER_FIRED:
            retry = retries.get(str(item.get("TimerId")))
            return retry is not None and retry["phase"] == "timer" and retry["attempt"] < retry["max"]
        return False

    return [entry for entry in inbox if allocates(entry[1])] + [entry for entry in inbox if not allocates(entry[1])]


def _context_json(instance: Instance, history: list[str], new_events: list[Event]) -> str:
    # The stored history is JSON text already: splice it in rather than parse and re-serialise thousands of events.
    head = json.dumps(
        {
            "instanceId": instance.instance_id,
            "isReplaying": bool(history),
            "parentInstanceId": instance.parent_id,
            "input": instance.input,
            "upperSchemaVersion": REPLAY_SCHEMA,
        }
    )
    events = ",".join([*history, *(json.dumps(item) for item in new_events)])
    return f'{head[:-1]}, "history": [{events}]}}'


def _call(spec: FunctionSpec, context: str, call: Invoke) -> tuple[dict[str, Any] | None, str | None]:
    """The state the SDK returns, and the orchestrator's error if it failed (the state then follows the marker)."""
    argument = _ORCHESTRATION_TRIGGER.decode(meta.Datum(context, "string"), trigger_metadata={})
    try:
        returned = call(spec, {spec.trigger["name"]: argument})
    except Exception as failure:  # the SDK reports a failed orchestrator by raising, its state appended
        message = str(failure)
        text, marker, state = message.partition(OUT_OF_PROC_MARKER)
        if not marker:
            return None, message
        return json.loads(state), text
    return json.loads(returned), None


class _Episode:
    def __init__(self, instance: Instance, state: dict[str, Any], catalog: Catalog, now: datetime) -> None:
        self.instance = instance
        self.state = state
        self.catalog = catalog
        self.now = now
        self.scheduled: list[Event] = []
        self.work: list[tuple[int, str, str | None]] = []
        self.timers: list[tuple[Event, float]] = []
        self.children: list[ChildStart] = []

    # -- retries (DTFx's RetryInterceptor: attempt, timer, attempt, ... and one last timer after the last failure)

    def retry_step(self, item: Event) -> None:
        retries = self.state["retries"]
        kind = item["EventType"]
        if kind in (T.TASK_COMPLETED, T.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
            retries.pop(str(item.get("TaskScheduledId")), None)
        elif kind in (T.TASK_FAILED, T.SUB_ORCHESTRATION_INSTANCE_FAILED):
            retry = retries.pop(str(item.get("TaskScheduledId")), None)
            if retry is not None:
                seq = self._next()
                fire_at = self.now + timedelta(milliseconds=retry["interval_ms"])
                self._timer(seq, fire_at)
                retries[str(seq)] = retry | {"phase": "timer"}
        elif kind == T.TIMER_FIRED:
            retry = retries.pop(str(item.get("TimerId")), None)
            if retry is not None and retry["attempt"] < retry["max"]:
                seq = self._next()
                self._schedule(retry["kind"], retry["name"], retry["input"], seq, retry.get("instance_id"))
                retries[str(seq)] = retry | {"phase": "attempt", "attempt": retry["attempt"] + 1}

    # -- deciding

    def decide(
        self, new_events: list[Event], consumed: list[tuple[int, Event]], result: dict[str, Any], error: str | None
    ) -> Outcome:
        replayed = leaves(result.get("actions") or [])
        done = bool(result.get("isDone"))
        custom = json.dumps(result["customStatus"]) if "customStatus" in result else self.instance.custom_status
        if error is not None:
            return self.fail(new_events, consumed, error, custom)
        mismatch = non_determinism(self.state["leaves"], replayed, done)
        if mismatch is not None:
            return self.fail(new_events, consumed, mismatch, custom)
        fresh = replayed[len(self.state["leaves"]) :]
        continue_input: str | None = None
        continued = False
        for leaf in fresh:
            refusal = self._refusal(leaf)
            if refusal is not None:
                return self.fail(new_events, consumed, refusal, custom)
            self.state["leaves"].append(leaf.signature)
            if leaf.kind == ActionType.CONTINUE_AS_NEW:
                self._next()
                continued, continue_input = True, leaf.action.get("input")
                break
            if done:
                continue  # returned: nothing more runs (the extension drops fire-and-forget work of a finished run)
            self._start(leaf)
        if continued:
            return self._outcome(new_events, consumed, RUNNING, custom=custom, continued=True, cont=continue_input)
        if done:
            output = json.dumps(result.get("output"))
            return self._outcome(new_events, consumed, COMPLETED, output=output, custom=custom)
        return self._outcome(new_events, consumed, RUNNING, custom=custom)

    def fail(
        self, new_events: list[Event], consumed: list[tuple[int, Event]], error: str, custom: str | None = None
    ) -> Outcome:
        message = f"Orchestrator function '{self.instance.name}' failed: {error}"
        self.scheduled, self.work, self.timers, self.children = [], [], [], []
        return self._outcome(
            new_events,
            consumed,
            FAILED,
            output=json.dumps(message),
            custom=custom or self.instance.custom_status,
            reason=message,
        )

    def _refusal(self, leaf: Leaf) -> str | None:
        if leaf.kind in UNSUPPORTED:
            return f"{UNSUPPORTED[leaf.kind]} are not supported by the local host (shared/devhost/durable)."
        if leaf.kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            known = self.catalog.activities
            if leaf.name not in known:
                listed = ", ".join(f"'{name}'" for name in sorted(known))
                return (
                    f"The function '{leaf.name}' doesn't exist, is disabled, or is not an activity or orchestrator "
                    f"function. Additional info: The following are the known activity functions: {listed}."
                )
        sub_orchestration = leaf.kind in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY)
        if sub_orchestration and leaf.name not in self.catalog.orchestrators:
            listed = ", ".join(f"'{name}'" for name in sorted(self.catalog.orchestrators))
            return (
                f"The function '{leaf.name}' doesn't exist, is disabled, or is not an activity or orchestrator "
                f"function. Additional info: The following are the known orchestrator functions: {listed}."
            )
        return None

    def _start(self, leaf: Leaf) -> None:
        if leaf.kind not in CONSUMES_SEQUENCE:
            return  # an external event waits for `raise_event`; nothing to schedule
        seq = self._next()
        action = leaf.action
        if leaf.kind == ActionType.CREATE_TIMER:
            self._timer(seq, isoparse(action["fireAt"]))
            return
        activity = leaf.kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY)
        kind = "activity" if activity else "orchestrator"
        self._schedule(kind, leaf.name, action.get("input"), seq, action.get("instanceId"))
        options = action.get("retryOptions")
        if options is not None:
            self.state["retries"][str(seq)] = {
                "kind": kind,
                "name": leaf.name,
                "input": action.get("input"),
                "instance_id": action.get("instanceId"),
                "attempt": 1,
                "max": int(options["maxNumberOfAttempts"]),
                "interval_ms": int(options["firstRetryIntervalInMilliseconds"]),
                "phase": "attempt",
            }

    def _schedule(self, kind: str, name: str, input_text: str | None, seq: int, instance_id: str | None) -> None:
        if kind == "activity":
            self.scheduled.append(event(T.TASK_SCHEDULED, self.now, seq, Name=name, Version="", Input=input_text))
            self.work.append((seq, name, input_text))
            return
        child_id = instance_id or f"{self.instance.instance_id}:{seq}"
        self.scheduled.append(
            event(T.SUB_ORCHESTRATION_INSTANCE_CREATED, self.now, seq, Name=name, Input=input_text, InstanceId=child_id)
        )
        self.children.append(ChildStart(child_id, name, input_text, seq))

    def _timer(self, seq: int, fire_at: datetime) -> None:
        self.scheduled.append(event(T.TIMER_CREATED, self.now, seq, FireAt=timestamp(fire_at)))
        fired = event(T.TIMER_FIRED, fire_at, TimerId=seq, FireAt=timestamp(fire_at))
        self.timers.append((fired, fire_at.timestamp()))

    def _next(self) -> int:
        seq = int(self.state["next_seq"])
        self.state["next_seq"] = seq + 1
        return seq

    def _outcome(
        self,
        new_events: list[Event],
        consumed: list[tuple[int, Event]],
        status: str,
        *,
        output: str | None = None,
        custom: str | None = None,
        continued: bool = False,
        cont: str | None = None,
        reason: str | None = None,
    ) -> Outcome:
        appended = [*new_events, *self.scheduled, event(T.ORCHESTRATOR_COMPLETED, self.now)]
        if status in TERMINAL:
            appended.append(event(T.EXECUTION_COMPLETED, self.now, OrchestrationStatus=status, Result=output))
        for item in appended:
            item["IsPlayed"] = True  # what a later episode replays
        parent_event = None
        instance = self.instance
        if status in TERMINAL and instance.parent_id is not None:
            if status == COMPLETED:
                notice = event(
                    T.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                    self.now,
                    TaskScheduledId=instance.parent_task,
                    Result=output,
                )
            else:
                notice = event(
                    T.SUB_ORCHESTRATION_INSTANCE_FAILED,
                    self.now,
                    TaskScheduledId=instance.parent_task,
                    Reason=reason or "",
                    Details="",
                )
            parent_event = (instance.parent_id, int(instance.parent_execution or 0), notice)
        return Outcome(
            instance_id=instance.instance_id,
            execution=instance.execution,
            consumed=[row for row, _ in consumed],
            events=appended,
            state=self.state,
            status=status,
            output=output,
            custom_status=custom,
            work=self.work,
            timers=self.timers,
            children=self.children,
            continue_input=cont,
            continued=continued,
            parent_event=parent_event,
        )
