"""`Notifier` on several targets (a webhook and an Event Grid topic): each event to each, one after the other."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.notifications import DeliveryFailedError, Notification
from shared.ports import Notifier


class FanOutNotifier:
    """Publishes to every notifier; fails (after trying them all) if any failed, naming those that did.

    A dead-letter record then holds the event once; a resend reaches the targets that already had it again, which
    the deterministic event id lets them drop."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self._notifiers = tuple(notifiers)
        self.target = " + ".join(notifier.target for notifier in self._notifiers)

    def publish(self, event: Notification) -> None:
        failures: list[DeliveryFailedError] = []
        for notifier in self._notifiers:
            try:
                notifier.publish(event)
            except DeliveryFailedError as failure:
                failures.append(failure)
        if failures:
            detail = "; ".join(f"{failure.target}: {failure.detail}" for failure in failures)
            attempts = max(failure.attempts for failure in failures)
            raise DeliveryFailedError(" + ".join(failure.target for failure in failures), attempts, detail)

    def close(self) -> None:
        for notifier in self._notifiers:
            notifier.close()
