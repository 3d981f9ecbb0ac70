"""An in-memory Bus with Service Bus semantics that matter to the pipeline: MessageId duplicate detection,
delivery counts, abandon and dead-letter with a reason. For in-process runs; nothing survives the process."""

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.domain import Envelope


@dataclass
class Delivery:
    queue: str
    envelope: Envelope
    delivery_count: int = 1


@dataclass
class DeadLetter:
    queue: str
    envelope: Envelope
    reason: str
    description: str


@dataclass
class InMemoryBus:
    queues: dict[str, deque[Envelope]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _deliveries: dict[str, int] = field(default_factory=dict)

    def max_delivery_count(self, queue: str) -> int | None:
        return None  # the in-process settle applies the settings' cap itself

    def send(self, queue: str, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            if envelope.message_id in self._seen:
                continue  # duplicate detection on MessageId, as Service Bus does within its window
            self._seen.add(envelope.message_id)
            self.queues.setdefault(queue, deque()).append(envelope)

    def receive(self, order: Sequence[str]) -> Delivery | None:
        """The next message, taking queues in `order` (downstream first keeps few batches in flight)."""
        for queue in order:
            pending = self.queues.get(queue)
            if pending:
                envelope = pending.popleft()
                count = self._deliveries.get(envelope.message_id, 0) + 1
                self._deliveries[envelope.message_id] = count
                return Delivery(queue, envelope, count)
        return None

    def abandon(self, delivery: Delivery) -> None:
        self.queues[delivery.queue].appendleft(delivery.envelope)

    def dead_letter(self, delivery: Delivery, reason: str, description: str) -> None:
        self.dead_letters.append(DeadLetter(delivery.queue, delivery.envelope, reason, description))

    def pending(self) -> int:
        return sum(len(queue) for queue in self.queues.values())
