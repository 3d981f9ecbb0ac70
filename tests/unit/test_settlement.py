"""The one settle rule every host applies (shared.pipeline.settlement)."""

import pytest

from shared.domain import PermanentError, TransientError
from shared.pipeline.settlement import MAX_DELIVERY_EXCEEDED, Action, Settlement, settle_failure

CAP = 10


@pytest.mark.parametrize(
    ("error", "delivery", "can_dead_letter", "expected"),
    [
        # A transient or unexpected error is retried until the delivery that reaches the cap.
        (TransientError("blob.unavailable", "503"), 1, False, (Action.ABANDON, None)),
        (RuntimeError("boom"), CAP - 1, True, (Action.ABANDON, None)),
        (RuntimeError("boom"), CAP, False, (Action.DEAD_LETTER, MAX_DELIVERY_EXCEEDED)),
        (TransientError("blob.unavailable", "503"), CAP + 2, False, (Action.DEAD_LETTER, MAX_DELIVERY_EXCEEDED)),
        # A permanent error fails the job at once with its own reason, whatever the host can do with the message.
        (PermanentError("parse.xml.malformed", "line 3"), 1, False, (Action.ABANDON, "parse.xml.malformed")),
        (PermanentError("parse.xml.malformed", "line 3"), 1, True, (Action.DEAD_LETTER, "parse.xml.malformed")),
        (PermanentError("parse.xml.malformed", "line 3"), CAP, False, (Action.DEAD_LETTER, "parse.xml.malformed")),
    ],
)
def test_settle_failure(error: Exception, delivery: int, can_dead_letter: bool, expected: tuple) -> None:
    settlement = settle_failure(error, delivery, CAP, can_dead_letter=can_dead_letter)
    assert (settlement.action, settlement.dead_letter_reason) == expected


def test_the_description_says_what_failed_and_is_bounded() -> None:
    settlement = settle_failure(RuntimeError("x" * 5000), CAP, CAP)
    assert settlement == Settlement(Action.DEAD_LETTER, MAX_DELIVERY_EXCEEDED, settlement.description)
    assert settlement.description.startswith("RuntimeError: x")
    assert len(settlement.description) == 2000
