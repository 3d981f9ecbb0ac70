"""`Notifier` on an Event Grid topic (basic tier, CloudEvents 1.0 input schema) through azure-eventgrid's
`EventGridPublisherClient`: the topic's access key when one is set, else a token credential (managed identity on
Azure: the "EventGrid Data Sender" role on the topic).

The client serialises the CloudEvent itself (a CloudEvents batch of one, `application/cloudevents-batch+json`), with
the same attributes and data the webhook receives. Each attempt runs with the SDK's own retries off
(`retry_total=0`): the bounded loop of `cloud_events.deliver` decides, as for the webhook.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient

from shared.adapters.cloud_events import classify, cloud_event, deliver, public_target
from shared.connections import close_credential, token_credential
from shared.domain.notifications import Notification

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# Per-attempt options: the only way to set them on a basic-topic client (4.22 drops client options), which also hands
# them to its CloudEvent model, whose serialiser ignores them with a warning per option and per event. Only those
# warnings are dropped.
_OPTIONS = ("retry_total", "connection_timeout", "read_timeout")


class _OptionsAreNotAttributes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, tuple) and record.args and record.args[0] in _OPTIONS)


logging.getLogger("azure.eventgrid._legacy._generated._serialization").addFilter(_OptionsAreNotAttributes())


class EventGridNotifier:
    """`Notifier` publishing to one topic endpoint."""

    def __init__(self, endpoint: str, key: str | None = None, *, retries: int = 3, timeout: float = 5.0) -> None:
        self.target = public_target(endpoint)
        credential: AzureKeyCredential | TokenCredential = AzureKeyCredential(key) if key else token_credential({})
        self._credential = credential
        self._client = EventGridPublisherClient(endpoint, credential)
        self._retries = retries
        self._timeout = timeout

    def publish(self, event: Notification) -> None:
        envelope = cloud_event(event)
        deliver(
            lambda seconds: self._send(envelope, seconds),
            target=self.target,
            retries=self._retries,
            timeout=self._timeout,
            sleep=time.sleep,
        )

    def _send(self, envelope: CloudEvent[Any], seconds: float) -> None:
        try:
            options: dict[str, Any] = dict(zip(_OPTIONS, (0, seconds, seconds), strict=True))
            self._client.send(envelope, **options)
        except Exception as error:
            raise classify(error) from error

    def close(self) -> None:
        self._client.close()
        close_credential(self._credential)
