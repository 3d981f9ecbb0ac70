"""`Bus` on Azure Service Bus, through the `azure-servicebus` SDK (the output binding cannot set MessageId)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageBatch, ServiceBusSender
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
from shared.domain import Envelope, Reason, TransientError
from shared.domain.bus import MAX_MESSAGE_BYTES, MessageTooLargeError, OutgoingMessage

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


def _try_add(batch: ServiceBusMessageBatch, message: OutgoingMessage) -> bool:
    try:
        batch.add_message(to_servicebus_message(message))
    except MessageSizeExceededError:
        return False
    return True
