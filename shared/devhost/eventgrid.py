"""The host's Event Grid webhooks: the blob extension's (BlobCreated for `source=EventGrid` blob triggers),
`POST /runtime/webhooks/blobs?functionName=Host.Functions.<name>`, and the Event Grid extension's (any event, for
`eventGridTrigger` functions), `POST /runtime/webhooks/eventgrid?functionName=<name>`.

On Azure, Event Grid pushes BlobCreated events to this endpoint of the host; Core Tools users POST such an event by
hand to trigger a `source=EventGrid` function locally. The local host serves it too, so both ways work here. The
subscription handshake (`aeg-event-type: SubscriptionValidation`) is answered with the validation code. Azure guards
the endpoint with the `blobs_extension` system key; here the master key stands for it. As on Azure, an event is
delivered to the named function whatever container it comes from (the subscription's filter is the only gate):
the function checks the container itself.
"""

from __future__ import annotations

import json

from shared.devhost.blob_trigger import BlobTriggerWatcher
from shared.devhost.eventgrid_trigger import EventGridDispatcher
from shared.devhost.http_server import HostHandler, HostKeys, HostRequest, HostResponse, is_authorized
from shared.domain.reasons import Reason

PATH = "/runtime/webhooks/blobs"
EVENTGRID_PATH = "/runtime/webhooks/eventgrid"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"


def _events(request: HostRequest, keys: HostKeys) -> list[dict] | HostResponse:
    """The events a webhook request carries, or the answer it gets instead (refused, or the subscription handshake)."""
    if request.method != "POST":
        return HostResponse(404)
    if not is_authorized("ADMIN", request.key, keys):
        return HostResponse(401)
    try:
        events = json.loads(request.body)
    except ValueError:
        return HostResponse.json(400, {"error": Reason.REQUEST_INVALID_JSON})
    events = events if isinstance(events, list) else [events]
    if request.headers.get("aeg-event-type") == "SubscriptionValidation":
        return HostResponse.json(200, {"validationResponse": events[0]["data"]["validationCode"]})
    return events


def eventgrid_webhook(dispatcher: EventGridDispatcher, keys: HostKeys) -> HostHandler:
    def handle(request: HostRequest) -> HostResponse:
        events = _events(request, keys)
        if isinstance(events, HostResponse):
            return events
        function = request.query.get("functionName", "")
        if not all(dispatcher.deliver(function, event) for event in events):
            return HostResponse.json(404, {"error": Reason.WEBHOOK_NO_MATCHING_TRIGGER, "function": function})
        return HostResponse(202)

    return handle


def blob_webhook(watcher: BlobTriggerWatcher, keys: HostKeys) -> HostHandler:
    def handle(request: HostRequest) -> HostResponse:
        events = _events(request, keys)
        if isinstance(events, HostResponse):
            return events
        function = request.query.get("functionName", "").removeprefix("Host.Functions.")
        unknown = [
            event.get("id")
            for event in events
            if event.get("eventType") == BLOB_CREATED and not watcher.deliver(function, event["data"]["url"])
        ]
        if unknown:
            return HostResponse.json(404, {"error": Reason.WEBHOOK_NO_MATCHING_TRIGGER, "events": unknown})
        return HostResponse(202)

    return handle
