"""`Bus` on Azure Service Bus, through the `azure-servicebus` SDK (the output binding cannot set MessageId)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageBatch,
    ServiceBusReceivedMessage,
    ServiceBusReceiver,
    ServiceBusSender,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityDisabledError,
    OperationTimeoutError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    ServiceBusCommunicationError,
    ServiceBusConnectionError,
    ServiceBusQuotaExceededError,
    ServiceBusServerBusyError,
)
from azure.servicebus.management import ServiceBusAdministrationClient

from shared.adapters.bus_messages import to_outgoing
from shared.connections import connection_section, token_credential
from shared.domain import Envelope, Reason, TransientError, TributaryError
from shared.domain.bus import MAX_MESSAGE_BYTES, MessageTooLargeError, OutgoingMessage
from shared.ports import DeadLetter, DeadLetterReceiver

log = logging.getLogger(__name__)

# The errors the SDK itself marks retryable on a send, plus a full queue (consumers drain it): a later
# redelivery of the stage message may succeed, so the stage should be retried rather than failed.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    ServiceBusConnectionError,
    ServiceBusCommunicationError,
    OperationTimeoutError,
    ServiceBusServerBusyError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    MessagingEntityDisabledError,
    ServiceBusQuotaExceededError,
)


def to_servicebus_message(message: OutgoingMessage) -> ServiceBusMessage:
    """The SDK message for one outgoing message (MessageId, properties and schedule included)."""
    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        application_properties=dict(message.application_properties),  # type: ignore[arg-type]
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
    )


class ServiceBusBus:
    """Sends envelopes to Service Bus queues, in as few size-limited batches as fit; one cached sender per queue.

    A send that fails half-way may be retried whole: the queue's duplicate detection drops what already arrived.
    """

    def __init__(
        self,
        client: ServiceBusClient,
        *,
        credential: Any = None,
        admin: ServiceBusAdministrationClient | None = None,
    ) -> None:
        self.client = client
        self._credential = credential  # closed with the bus when we created it
        self._admin = admin  # reads queue properties; needs Manage (SAS) or Data Owner (Entra) rights
        self._senders: dict[str, ServiceBusSender] = {}
        # The SDK's clients, senders and batches are not thread-safe; the host sends from a pool of threads.
        self._lock = threading.Lock()

    @classmethod
    def from_connection_setting(cls, name: str, environ: Mapping[str, str] | None = None) -> ServiceBusBus:
        """Connect as the Functions Service Bus extension does (shared.connections): setting `name` holds a
        connection string, else `<name>__fullyQualifiedNamespace` names the namespace, reached with a token
        credential (`__credential=managedidentity` + `__clientId` for a user-assigned identity)."""
        value, children = connection_section(name, os.environ if environ is None else environ)
        if value:
            return cls(
                ServiceBusClient.from_connection_string(value),
                admin=ServiceBusAdministrationClient.from_connection_string(value),
            )
        namespace = children.get("fullyqualifiednamespace")
        if not namespace:
            raise ValueError(f"set {name} to a connection string, or {name}__fullyQualifiedNamespace to a namespace")
        credential = token_credential(children)
        return cls(
            ServiceBusClient(namespace, credential),
            credential=credential,
            admin=ServiceBusAdministrationClient(namespace, credential),
        )

    def max_delivery_count(self, queue: str) -> int | None:
        """The queue's MaxDeliveryCount, read through the management API; None without the rights to read it."""
        if self._admin is None:
            return None
        try:
            return self._admin.get_queue(queue).max_delivery_count
        except (HttpResponseError, ServiceRequestError) as error:
            log.warning("cannot read MaxDeliveryCount of queue %s (%s): not checked", queue, type(error).__name__)
            return None

    def send(self, queue: str, envelopes: Sequence[Envelope]) -> None:
        messages = [to_outgoing(envelope) for envelope in envelopes]
        for message in messages:
            if (size := message.size()) > MAX_MESSAGE_BYTES:
                raise MessageTooLargeError(message.message_id, size)
        if not messages:
            return
        with self._lock:
            try:
                self._send_batches(self._sender(queue), messages)
            except RETRYABLE_ERRORS as error:
                self._drop_sender(queue)  # start the next attempt on a fresh link
                raise TransientError(Reason.BUS_SEND_FAILED, f"{queue}: {type(error).__name__}: {error}") from error

    def _send_batches(self, sender: ServiceBusSender, messages: Sequence[OutgoingMessage]) -> None:
        # Fill every batch before sending any, so a message too large to send fails the call with nothing sent.
        batches = [sender.create_message_batch()]
        for message in messages:
            if _try_add(batches[-1], message):
                continue
            if len(batches[-1]):  # full: start the next one
                batches.append(sender.create_message_batch())
                if _try_add(batches[-1], message):
                    continue
            # Alone over the limit once the SDK counts its own headers too.
            raise MessageTooLargeError(message.message_id, message.size())
        for batch in batches:
            sender.send_messages(batch)

    def _sender(self, queue: str) -> ServiceBusSender:
        if queue not in self._senders:
            self._senders[queue] = self.client.get_queue_sender(queue)
        return self._senders[queue]

    def _drop_sender(self, queue: str) -> None:
        sender = self._senders.pop(queue, None)
        if sender is not None:
            with suppress(Exception):  # the link may be broken already; the send error is what matters
                sender.close()

    def close(self) -> None:
        """Close every sender, the client and (when we made it) the credential."""
        with self._lock:
            for queue in list(self._senders):
                self._drop_sender(queue)
            self.client.close()
            if self._admin is not None:
                self._admin.close()
            if self._credential is not None:
                self._credential.close()

    # -- dead letters (shared.ports.DeadLetterQueues)

    def duplicate_detection_window(self, queue: str) -> timedelta | None:
        """The queue's DuplicateDetectionHistoryTimeWindow (timedelta(0) without duplicate detection), read through
        the management API; None without the rights to read it (the app's identity has Data Sender/Receiver only)."""
        if self._admin is None:
            return None
        try:
            properties = self._admin.get_queue(queue)
        except ResourceNotFoundError as error:
            raise TributaryError(
                Reason.BUS_ENTITY_NOT_FOUND, f"the messaging entity {queue!r} could not be found"
            ) from error
        except (HttpResponseError, ServiceRequestError) as error:
            log.warning("cannot read the duplicate detection window of %s (%s)", queue, type(error).__name__)
            return None
        if not properties.requires_duplicate_detection:
            return timedelta(0)
        window = properties.duplicate_detection_history_time_window
        return window if isinstance(window, timedelta) else None

    def peek_dead_letters(self, queue: str, max_messages: int) -> list[DeadLetter]:
        peeked: list[DeadLetter] = []
        with self.client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
            next_sequence = 0  # 0: the SDK starts at the first message
            while len(peeked) < max_messages:
                page = receiver.peek_messages(min(max_messages - len(peeked), 250), sequence_number=next_sequence)
                if not page:
                    break
                peeked += [_dead_letter(queue, message, peeked=True) for message in page]
                next_sequence = (page[-1].sequence_number or 0) + 1
        return peeked[:max_messages]

    @contextmanager
    def dead_letter_receiver(self, queue: str) -> Iterator[DeadLetterReceiver]:
        with self.client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver:
            wrapped = _ServiceBusDeadLetterReceiver(queue, receiver)
            try:
                yield wrapped
            finally:
                wrapped.release_all()

    def resend(self, queue: str, message: DeadLetter) -> None:
        with self._lock:
            try:
                self._sender(queue).send_messages(to_servicebus_message(message.resend()))
            except RETRYABLE_ERRORS as error:
                self._drop_sender(queue)
                raise TransientError(Reason.BUS_SEND_FAILED, f"{queue}: {type(error).__name__}: {error}") from error


class _ServiceBusDeadLetterReceiver:
    """Peek-lock on a dead-letter subqueue; the SDK message of each lock is kept to settle it."""

    def __init__(self, queue: str, receiver: ServiceBusReceiver) -> None:
        self.queue = queue
        self.receiver = receiver
        self._locked: dict[str, ServiceBusReceivedMessage] = {}

    def receive(self, max_messages: int) -> list[DeadLetter]:
        if max_messages < 1:
            return []
        received = self.receiver.receive_messages(max_message_count=max_messages, max_wait_time=5)
        for message in received:
            self._locked[str(message.lock_token)] = message
        return [_dead_letter(self.queue, message) for message in received]

    def complete(self, message: DeadLetter) -> None:
        self.receiver.complete_message(self._locked.pop(message.lock_token or ""))

    def release(self, message: DeadLetter) -> None:
        self.receiver.abandon_message(self._locked.pop(message.lock_token or ""))

    def release_all(self) -> None:
        for token in list(self._locked):
            with suppress(Exception):  # a lapsed lock is released all the same
                self.receiver.abandon_message(self._locked.pop(token))


def _text(value: Any) -> Any:
    # Received application properties come back with bytes keys and bytes string values (pyamqp).
    return value.decode() if isinstance(value, bytes) else value


def _dead_letter(queue: str, message: ServiceBusReceivedMessage, *, peeked: bool = False) -> DeadLetter:
    body = message.body if isinstance(message.body, bytes) else b"".join(message.body)
    return DeadLetter(
        queue=queue,
        sequence_number=message.sequence_number or 0,
        message_id=message.message_id or "",
        body=body,
        application_properties={_text(k): _text(v) for k, v in (message.application_properties or {}).items()},
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        delivery_count=(message.delivery_count or 0) + 1,  # as the Functions host reports it (see tests/support/bus)
        # The start of its MessageId's window: the original enqueue time, or if the service stamps the dead-lettering
        # instead, a later one, with which a replay only holds the message longer (never resends inside the window).
        enqueued_time=message.enqueued_time_utc or datetime.now(UTC),
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=message.dead_letter_error_description,
        lock_token=None if peeked else str(message.lock_token),
    )


def _try_add(batch: ServiceBusMessageBatch, message: OutgoingMessage) -> bool:
    try:
        batch.add_message(to_servicebus_message(message))
    except MessageSizeExceededError:
        return False
    return True
