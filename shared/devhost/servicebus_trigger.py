"""Service Bus triggers over the local broker, with the Functions host's settle rules.

Per function: peek-lock up to `maxConcurrentCalls` messages at a time (or one batch of up to `maxMessageBatchSize`
for `cardinality=many`), build the `func.ServiceBusMessage` with the SDK's own converter from the trigger metadata
the host would send, call the function, then complete on return (autoCompleteMessages) or abandon on an exception;
the broker dead-letters at the entity's maxDeliveryCount. Locks of running single messages are renewed until
`maxAutoLockRenewalDuration`, as the host does (never for batches).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from azure.functions import meta

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.broker import LocalBroker
from shared.devhost.broker_models import MessageLockLostError, MessagingEntityNotFoundError, ReceivedMessage
from shared.devhost.host_config import ServiceBusOptions
from shared.devhost.invoke import invoke

log = logging.getLogger(__name__)

TRIGGER = "serviceBusTrigger"


@dataclass
class _Listener:
    spec: FunctionSpec
    queue: str
    many: bool
    lock_duration: float  # seconds: the queue's entity property
    in_flight: int = 0
    # lock token -> (message, started at) for the single messages whose locks the host keeps renewing
    renewing: dict[str, tuple[ReceivedMessage, float]] = field(default_factory=dict)


class ServiceBusDispatcher:
    """Starts invocations for every Service Bus-triggered function; `poll()` is called by the host's loop.

    `functions` are indexed ones (shared/devhost/indexing.py): their queue names are resolved already."""

    def __init__(
        self,
        functions: list[FunctionSpec],
        broker: LocalBroker,
        options: ServiceBusOptions,
        executor: Executor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker = broker
        self.options = options
        self.executor = executor
        self.clock = clock
        self._lock = threading.Lock()
        self._listeners: list[_Listener] = []
        self.errors: dict[str, str] = {}  # function name -> why its listener did not start
        for spec in functions:
            if spec.trigger_type != TRIGGER:
                continue
            queue = spec.trigger["queueName"]
            try:
                properties = broker.get_queue(queue)
            except MessagingEntityNotFoundError as error:
                # The host indexes the function but its listener cannot start on a queue that does not exist.
                self.errors[spec.name] = (
                    f"The listener for function 'Functions.{spec.name}' was unable to start. {error}"
                )
                log.error(self.errors[spec.name])
                continue
            many = str(spec.trigger.get("cardinality", "ONE")).upper() == "MANY"
            self._listeners.append(_Listener(spec, queue, many, properties.lock_duration.total_seconds()))

    @property
    def queues(self) -> list[str]:
        return [listener.queue for listener in self._listeners]

    def poll(self) -> int:
        """Renew running locks, then start what the concurrency limits allow; returns how many calls started."""
        self._renew_locks()
        started = 0
        for listener in self._listeners:
            while True:
                with self._lock:
                    room = (1 if listener.many else self.options.max_concurrent_calls) - listener.in_flight
                if room <= 0:
                    break
                size = self.options.max_message_batch_size if listener.many else 1
                messages = self.broker.receive(listener.queue, size)
                if not messages:
                    break
                with self._lock:
                    listener.in_flight += 1
                    if not listener.many and self.options.max_auto_lock_renewal > 0:
                        listener.renewing[messages[0].lock_token or ""] = (messages[0], self.clock())
                self.executor.submit(self._run, listener, messages)
                started += 1
        return started

    def busy(self) -> bool:
        with self._lock:
            return any(listener.in_flight for listener in self._listeners)

    def pending(self) -> int:
        """Messages visible or locked on the functions' queues (scheduled ones not yet due are not pending)."""
        total = 0
        for queue in self.queues:
            counts = self.broker.counts(queue)
            total += counts.active + counts.locked
        return total

    def _run(self, listener: _Listener, messages: list[ReceivedMessage]) -> None:
        try:
            value = trigger_input(messages, many=listener.many)
            traceparent = messages[0].application_properties.get("traceparent")
            invoke(listener.spec, {listener.spec.trigger["name"]: value}, trace_parent=str(traceparent or ""))
        except Exception:
            log.exception("function %s failed; abandoning %d message(s)", listener.spec.name, len(messages))
            self._settle(listener, messages, self.broker.abandon)
        else:
            if self.options.auto_complete_messages:
                self._settle(listener, messages, self.broker.complete)
        finally:
            with self._lock:
                listener.in_flight -= 1
                for message in messages:
                    listener.renewing.pop(message.lock_token or "", None)

    def _settle(self, listener: _Listener, messages: list[ReceivedMessage], action: Callable[..., Any]) -> None:
        for message in messages:
            try:
                action(message)
            except MessageLockLostError:
                # The lock expired while the function ran: the message is redelivered (at least once).
                log.warning("lock lost on %s message %s", listener.queue, message.message_id)

    def _renew_locks(self) -> None:
        now = self.clock()
        with self._lock:
            running = [
                (listener.lock_duration, message, started)
                for listener in self._listeners
                for message, started in listener.renewing.values()
            ]
        for lock_duration, message, started in running:
            if now - started > self.options.max_auto_lock_renewal or message.locked_until is None:
                continue
            remaining = message.locked_until.timestamp() - time.time()
            if remaining > lock_duration / 2:
                continue
            try:
                renewed = message.model_copy(update={"locked_until": self.broker.renew_lock(message)})
            except MessageLockLostError:
                continue
            with self._lock:
                for listener in self._listeners:
                    if message.lock_token in listener.renewing:
                        listener.renewing[message.lock_token or ""] = (renewed, started)


def trigger_input(messages: list[ReceivedMessage], *, many: bool) -> Any:
    """The function's argument, decoded by azure.functions' own converter from host-style trigger metadata."""
    converter = meta.get_binding_registry().get(TRIGGER)
    if not many:
        message = messages[0]
        return converter.decode(meta.Datum(message.body, "bytes"), trigger_metadata=_metadata(message))
    bodies = meta.Datum(SimpleNamespace(bytes=[message.body for message in messages]), "collection_bytes")
    arrays: dict[str, list[Any]] = {}
    for message in messages:
        for key, datum in _metadata(message).items():
            arrays.setdefault(f"{key}Array", []).append(datum.python_value)
    metadata = {key: meta.Datum(json.dumps(values), "json") for key, values in arrays.items()}
    return converter.decode(bodies, trigger_metadata=metadata)


def _metadata(message: ReceivedMessage) -> dict[str, meta.Datum]:
    """What the Functions host sends with a Service Bus message (the keys the SDK's converter reads)."""
    strings = {
        "MessageId": message.message_id,
        "ContentType": message.content_type,
        "CorrelationId": message.correlation_id,
        "Subject": message.subject,
        "Label": message.subject,
        "LockToken": message.lock_token,
        "DeadLetterReason": message.dead_letter_reason,
        "DeadLetterErrorDescription": message.dead_letter_error_description,
        "DeadLetterSource": message.dead_letter_source,
        "EnqueuedTimeUtc": message.enqueued_time.isoformat(),
        "LockedUntil": message.locked_until.isoformat() if message.locked_until else None,
        "ScheduledEnqueueTimeUtc": (
            message.scheduled_enqueue_time.isoformat() if message.scheduled_enqueue_time else None
        ),
    }
    metadata = {key: meta.Datum(value, "string") for key, value in strings.items() if value is not None}
    metadata["DeliveryCount"] = meta.Datum(message.delivery_count, "int")
    metadata["SequenceNumber"] = meta.Datum(message.sequence_number, "int")
    properties = json.dumps(message.application_properties)
    metadata["ApplicationProperties"] = meta.Datum(properties, "json")
    metadata["UserProperties"] = meta.Datum(properties, "json")  # the converter tells single from batch by it
    return metadata
