"""Drive an orchestrator through the SDK's own replay entry point, `handle(context_json)`, as the Durable extension
does: build the history, call `handle`, read the actions it returns, play the activities, append their events, call
again. The history events are those of the SDK's own tests (azure-functions-durable-python,
tests/test_utils/ContextBuilder.py): OrchestratorStarted/Completed around each episode, ExecutionStarted with the
input, TaskScheduled with an EventId, TaskCompleted/TaskFailed naming its TaskScheduledId, and for
`call_activity_with_retry` the retry timer the extension adds (TimerCreated, TimerFired, then the task scheduled
again; after the last attempt one more timer, then the failure).

The determinism checks are here too: `replay_twice` (the same history twice gives the same state) and
`check_against_history` (replaying a recorded history gives the actions that were recorded with it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# HistoryEventType values (azure.durable_functions.models.history.HistoryEventType)
EXECUTION_STARTED, TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 0, 4, 5, 6
TIMER_CREATED, TIMER_FIRED, ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 10, 11, 12, 13
# ActionType values (azure.durable_functions.models.actions.ActionType)
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CONTINUE_AS_NEW, CREATE_TIMER = 0, 1, 4, 5
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Handle = Callable[[str], str]
Activity = Callable[[Any], Any]


class NonDeterminismError(AssertionError):
    """A replay of the same history did not give the same decisions."""


@dataclass
class Generation:
    """One execution of the instance (a `continue_as_new` starts the next): its input, its history as it ended,
    the actions in the order they were first issued, and the custom status after each episode."""

    input: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)
    episodes: int = 0


@dataclass
class Recording:
    instance_id: str
    generations: list[Generation]
    output: Any = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "output": self.output,
            "generations": [
                {"input": g.input, "history": g.history, "actions": g.actions, "statuses": g.statuses}
                for g in self.generations
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recording:
        generations = [
            Generation(input=g["input"], history=g["history"], actions=g["actions"], statuses=g["statuses"])
            for g in data["generations"]
        ]
        return cls(instance_id=data["instance_id"], generations=generations, output=data["output"])


@dataclass
class _Pending:
    event_id: int
    name: str
    input: Any
    attempts_allowed: int
    attempt: int = 1


class Simulator:
    """Plays the extension's part for one instance. `batch`: activities completed per episode (None: all pending)."""

    def __init__(
        self,
        handle: Handle,
        activities: Mapping[str, Activity],
        *,
        instance_id: str = "bulk-replay",
        start: datetime = datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        batch: int | None = None,
        check_every_episode: bool = True,
    ) -> None:
        self.handle = handle
        self.activities = activities
        self.instance_id = instance_id
        self.clock = start
        self.batch = batch
        self.check_every_episode = check_every_episode
        self._fire_at: dict[int, datetime] = {}  # durable timers (not retry timers) by id: when they fire

    def run(self, orchestration_input: Any, max_episodes: int = 100_000) -> Recording:
        recording = Recording(self.instance_id, [])
        generation = self._start(orchestration_input)
        recording.generations.append(generation)
        pending: list[_Pending] = []
        timers: list[tuple[int, _Pending | None]] = []  # retry timers to fire, with the task to schedule again
        next_id = 0
        for _ in range(max_episodes):
            context = context_json(self.instance_id, generation.input, generation.history)
            state = replay_twice(self.handle, context) if self.check_every_episode else _state(self.handle, context)
            generation.episodes += 1
            generation.statuses.append(state.get("customStatus"))
            issued = flat_actions(state)
            for action in issued[len(generation.actions) :]:
                generation.actions.append(action)
                if action["actionType"] in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
                    attempts = action.get("retryOptions", {}).get("maxNumberOfAttempts", 1)
                    pending.append(_Pending(next_id, action["functionName"], action.get("input"), attempts))
                    self._add(generation, TASK_SCHEDULED, EventId=next_id, Name=action["functionName"],
                              Input=_text(action.get("input")))  # fmt: skip
                    next_id += 1
                elif action["actionType"] == CREATE_TIMER:  # a durable timer: fires at its time, the clock jumps there
                    self._add(generation, TIMER_CREATED, EventId=next_id, FireAt=action["fireAt"])
                    timers.append((next_id, None))
                    self._fire_at[next_id] = datetime.strptime(action["fireAt"], _TIME_FORMAT).replace(tzinfo=UTC)
                    next_id += 1
            continue_as_new = next((a for a in issued if a["actionType"] == CONTINUE_AS_NEW), None)
            if state.get("isDone") or continue_as_new is not None:
                self._add(generation, ORCHESTRATOR_COMPLETED)
                if continue_as_new is None:
                    recording.output, recording.error = state.get("output"), state.get("error")
                    return recording
                generation = self._start(_parsed(continue_as_new.get("input")))
                recording.generations.append(generation)
                pending, timers, next_id = [], [], 0
                continue
            if not pending and not timers:
                raise AssertionError(f"the orchestration waits for nothing the simulator plays: {state}")
            self._add(generation, ORCHESTRATOR_COMPLETED)
            self._add(generation, ORCHESTRATOR_STARTED)
            next_id = self._complete(generation, pending, timers, next_id)
        raise AssertionError(f"not done after {max_episodes} episodes")

    def _start(self, orchestration_input: Any) -> Generation:
        generation = Generation(input=orchestration_input)
        self._add(generation, ORCHESTRATOR_STARTED)
        self._add(generation, EXECUTION_STARTED, Name="bulk_orchestrator", Version="", Input=_text(orchestration_input),
                  OrchestrationInstance={"InstanceId": self.instance_id, "ExecutionId": "x"})  # fmt: skip
        return generation

    def _complete(
        self, generation: Generation, pending: list[_Pending], timers: list[tuple[int, _Pending | None]], next_id: int
    ) -> int:
        """Fire the retry timers due, then complete the next pending activities (events in that order)."""
        for timer_id, retry in timers:
            self.clock = max(self.clock, self._fire_at.pop(timer_id, self.clock))
            self._add(generation, TIMER_FIRED, TimerId=timer_id, FireAt=self._time())
            if retry is not None:  # the extension schedules the task again under a new id
                retry.event_id, retry.attempt = next_id, retry.attempt + 1
                self._add(generation, TASK_SCHEDULED, EventId=next_id, Name=retry.name, Input=_text(retry.input))
                next_id += 1
                pending.append(retry)
        timers.clear()
        count = len(pending) if self.batch is None else min(self.batch, len(pending))
        running, pending[:] = pending[:count], pending[count:]
        for task in running:
            try:
                result = self.activities[task.name](_parsed(task.input))
            except Exception as error:
                self._add(generation, TASK_FAILED, TaskScheduledId=task.event_id, Reason=str(error), Details="")
                # The retry's timer, even after the last attempt (the SDK waits for it before it fails the task).
                self._add(generation, TIMER_CREATED, EventId=next_id, FireAt=self._time())
                last = task.attempt >= task.attempts_allowed
                timers.append((next_id, None if last else task))
                next_id += 1
                continue
            self._add(generation, TASK_COMPLETED, TaskScheduledId=task.event_id, Result=json.dumps(result))
        return next_id

    def _add(self, generation: Generation, event_type: int, **fields: Any) -> None:
        self.clock += timedelta(milliseconds=10)
        event = {"EventType": event_type, "EventId": fields.pop("EventId", -1), "IsPlayed": False}
        generation.history.append(event | {"Timestamp": self._time()} | fields)

    def _time(self) -> str:
        return self.clock.strftime(_TIME_FORMAT)


def context_json(instance_id: str, orchestration_input: Any, history: list[dict[str, Any]]) -> str:
    """What the extension hands `handle`: the instance, its input and its history."""
    return json.dumps(
        {
            "history": history,
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": _text(orchestration_input),
            "upperSchemaVersion": 0,
        }
    )


def replay_twice(handle: Handle, context: str) -> dict[str, Any]:
    """The state `handle` returns for a history, checked to be the same when the history is replayed again."""
    first, second = _state(handle, context), _state(handle, context)
    if first != second:
        raise NonDeterminismError(f"two replays of one history differ:\n{first}\n{second}")
    return first


def check_against_history(handle: Handle, recording: Recording) -> None:
    """Replay each generation's recorded history (twice) and require the actions recorded with it, in order: what a
    new version of the orchestrator must do for an instance that was in flight when it was deployed."""
    for number, generation in enumerate(recording.generations):
        state = _replay_recorded(handle, context_json(recording.instance_id, generation.input, generation.history))
        replayed = flat_actions(state)
        if replayed != generation.actions:
            first = next(
                (i for i, pair in enumerate(zip(replayed, generation.actions, strict=False)) if pair[0] != pair[1]),
                min(len(replayed), len(generation.actions)),
            )
            raise NonDeterminismError(
                f"generation {number}: replay issued other actions than the history holds, from action {first}:"
                f" {replayed[first : first + 1]} instead of {generation.actions[first : first + 1]}"
            )


def check_against_scheduled(handle: Handle, instance_id: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay a history another engine wrote (twice) and require the activities its TaskScheduled events name, in
    order (such a history records no actions, only what was scheduled); returns the replayed state."""
    started = next(event for event in history if event["EventType"] == EXECUTION_STARTED)
    state = _replay_recorded(handle, context_json(instance_id, started.get("Input"), history))
    issued = [(a["functionName"], a["input"]) for a in flat_actions(state) if "functionName" in a]  # not timers
    scheduled = [(event["Name"], event["Input"]) for event in history if event["EventType"] == TASK_SCHEDULED]
    if issued != scheduled:
        first = next((i for i, pair in enumerate(zip(issued, scheduled, strict=False)) if pair[0] != pair[1]), None)
        raise NonDeterminismError(f"the replay issued other activities than the history scheduled, from call {first}")
    return state


def _replay_recorded(handle: Handle, context: str) -> dict[str, Any]:
    """Replay a history that once ran: the orchestrator raising on it now is a replay that went another way (the
    SDK hands each result to the task of its sequence number, whatever that task is now)."""
    try:
        return replay_twice(handle, context)
    except NonDeterminismError:
        raise
    except Exception as error:
        raise NonDeterminismError(f"replaying a recorded history raised {type(error).__name__}: {error}") from error


def flat_actions(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The actions of a state, in order, each reduced to what decides it (type, function, input)."""
    flat: list[dict[str, Any]] = []
    for entry in state.get("actions", []):
        for action in entry if isinstance(entry, list) else [entry]:
            reduced = {key: action[key] for key in ("actionType", "functionName", "input", "fireAt") if key in action}
            if "retryOptions" in action:
                reduced["retryOptions"] = action["retryOptions"]
            flat.append(reduced)
    return flat


def _state(handle: Handle, context: str) -> dict[str, Any]:
    return dict(json.loads(handle(context)))


def _text(value: Any) -> str | None:
    """An input as the history holds it: JSON text (an action's input is already JSON text)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
