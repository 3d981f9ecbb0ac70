"""The actions an orchestrator returns (replay schema V2: one flat list of everything it has scheduled so far in this
execution, `WhenAll`/`WhenAny` nesting the tasks they combine), reduced to the leaves the host schedules, and the
determinism check the Durable Task Framework makes when it replays them against the history."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType

__all__ = ["CONSUMES_SEQUENCE", "UNSUPPORTED", "Leaf", "leaves", "non_determinism"]

_COMPOUND = {ActionType.WHEN_ALL, ActionType.WHEN_ANY}
# Every scheduled thing takes the next sequence number in the SDK (`_add_to_open_tasks`, and fire-and-forget
# actions), except an external event, whose task is keyed by its name.
CONSUMES_SEQUENCE = frozenset(
    {
        ActionType.CALL_ACTIVITY,
        ActionType.CALL_ACTIVITY_WITH_RETRY,
        ActionType.CALL_SUB_ORCHESTRATOR,
        ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ActionType.CONTINUE_AS_NEW,
        ActionType.CREATE_TIMER,
    }
)
UNSUPPORTED = {
    ActionType.CALL_ENTITY: "durable entities",
    ActionType.SIGNAL_ENTITY: "durable entities",
    ActionType.CALL_HTTP: "durable HTTP calls (call_http)",
}
_WHAT = {
    ActionType.CALL_ACTIVITY: "an activity task",
    ActionType.CALL_ACTIVITY_WITH_RETRY: "an activity task",
    ActionType.CALL_SUB_ORCHESTRATOR: "a sub-orchestration",
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: "a sub-orchestration",
    ActionType.CREATE_TIMER: "a timer",
    ActionType.CONTINUE_AS_NEW: "a continue-as-new",
    ActionType.WAIT_FOR_EXTERNAL_EVENT: "a wait for an external event",
}


@dataclass(frozen=True)
class Leaf:
    kind: int
    name: str
    action: dict[str, Any]

    @property
    def signature(self) -> list[Any]:
        """What must be the same on every replay: the kind (retry or not counts as the same call) and the name."""
        return [_family(self.kind), self.name]


def _family(kind: int) -> int:
    return {ActionType.CALL_ACTIVITY_WITH_RETRY: 0, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: 2}.get(kind, kind)


def leaves(actions: Iterable[Iterable[dict[str, Any]]]) -> list[Leaf]:
    """Depth-first, the order in which the SDK gives the tasks their sequence numbers."""
    return [leaf for group in actions for action in group for leaf in _walk(action)]


def _walk(action: dict[str, Any]) -> Iterator[Leaf]:
    kind = int(action["actionType"])
    if kind in _COMPOUND:
        for child in action.get("compoundActions", []):
            yield from _walk(child)
        return
    name = action.get("functionName") or action.get("externalEventName") or ""
    yield Leaf(kind, str(name), action)


def non_determinism(recorded: list[list[Any]], replayed: list[Leaf], done: bool) -> str | None:
    """The Durable Task Framework's NonDeterministicOrchestrationException message, or None if the replay matches."""
    for position, signature in enumerate(recorded):
        if position >= len(replayed):
            if done:
                return None
            kind, name = signature
            return _message(kind, name, position)
        if replayed[position].signature != signature:
            kind, name = signature
            return _message(kind, name, position)
    return None


def _message(kind: int, name: str, position: int) -> str:
    return (
        f"Non-Deterministic workflow detected: A previous execution of this orchestration scheduled "
        f"{_WHAT.get(kind, 'a task')} with sequence ID {position} and name '{name}' (version ''), but the current "
        "replay execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator code after this "
        "instance had already started running?"
    )
