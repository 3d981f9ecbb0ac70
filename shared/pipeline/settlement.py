"""What becomes of a stage message whose handler failed: the one rule every host applies (DESIGN.md §3).

The Functions host abandons a message whose function raised, and Service Bus dead-letters it once its delivery count
reaches the queue's MaxDeliveryCount. A Python function cannot dead-letter its own message today: the settlement
extension (`azurefunctions-extensions-bindings-servicebus`, `ServiceBusMessageActions`) exists only as a 1.0.0b2
preview that pulls in uamqp and gRPC tooling, so we do not ship it; hosts that can dead-letter (the tests'
in-memory bus) pass `can_dead_letter=True`. Either way the job store learns the outcome from `dead_letter_reason`
in the same place, so a job never stays `processing` because two rules disagreed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain import PermanentError, Reason

MAX_DELIVERY_EXCEEDED = Reason.DELIVERY_MAX_COUNT_EXCEEDED  # alias: tests import it


class Action(StrEnum):
    ABANDON = "abandon"  # redeliver (the queue dead-letters at its MaxDeliveryCount)
    DEAD_LETTER = "dead_letter"  # never delivered again


@dataclass(frozen=True)
class Settlement:
    """The action, and — when the message will never complete — the reason the job store records."""

    action: Action
    dead_letter_reason: str | None  # set when this delivery is the message's last: the job fails with it
    description: str = ""


def settle_failure(
    error: BaseException, delivery_count: int, max_delivery_count: int, *, can_dead_letter: bool = False
) -> Settlement:
    """How to settle a delivery whose stage raised `error`.

    A permanent error fails the job at once whatever the host can do with the message; anything else is retried
    until the delivery that reaches the cap, which is the last one the queue makes.
    """
    description = f"{type(error).__name__}: {error}"[:2000]
    if isinstance(error, PermanentError):
        action = Action.DEAD_LETTER if can_dead_letter or delivery_count >= max_delivery_count else Action.ABANDON
        return Settlement(action, error.reason_code, error.detail[:2000])
    if delivery_count >= max_delivery_count:
        return Settlement(Action.DEAD_LETTER, MAX_DELIVERY_EXCEEDED, description)
    return Settlement(Action.ABANDON, None, description)
