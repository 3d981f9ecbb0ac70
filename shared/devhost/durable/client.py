"""The durable HTTP API of the local host, and the `durableClient` binding that points to it.

Two doors, as in the Functions host:
- the management webhooks, `/runtime/webhooks/durabletask/...` on the host's HTTP server, behind the system key
  (`durabletask_extension` on Azure; a key derived from the master key here, the master key works too). These are the
  URLs `create_check_status_response` hands out (statusQueryGetUri, terminatePostUri, purgeHistoryDeleteUri, ...);
- the RPC endpoint the Python client (`DurableOrchestrationClient`) calls, `rpcBaseUrl` = `/durabletask/` on a
  loopback-only server of its own, which on Azure too is reachable only from inside the app.

Status codes follow the extension's HttpApiHandler: status 202 while Pending/Running (with Location), 200 once
Completed/Failed/Terminated, 404 for an unknown instance; terminate and raise event 202, 410 when the instance has
finished, 404 when unknown; purge 200 with `instancesDeleted`, 404 when nothing was purged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from shared.devhost.durable.history import T
from shared.devhost.durable.store import TERMINAL, DurableStore, Instance
from shared.devhost.http_server import HostKeys, HostRequest, HostResponse, is_authorized

__all__ = ["RPC_PATH", "WEBHOOK_PATH", "DurableApi", "system_key"]

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
_ID_PLACEHOLDER = "INSTANCEID"


def system_key(keys: HostKeys) -> str:
    """The `durabletask_extension` system key: derived from the master key, so it is stable across restarts."""
    return hmac.new(keys.master.encode(), b"durabletask_extension", hashlib.sha256).hexdigest()[:40]


class DurableApi:
    """The handlers of both doors over one store; `web_base` / `rpc_base` are set once the servers listen."""

    def __init__(self, store: DurableStore, orchestrators: set[str], keys: HostKeys, hub_name: str) -> None:
        self.store = store
        self.orchestrators = orchestrators
        self.keys = keys
        self.hub_name = hub_name
        self.web_base = "http://localhost:7071"  # Core Tools' address, until the host's HTTP server is up
        self.rpc_base = ""

    # -- the client binding

    def client_binding(self) -> str:
        """The JSON the extension gives a `durableClient` binding (DurableOrchestrationBindings)."""
        code = f"code={system_key(self.keys)}"
        base = f"{self.web_base}{WEBHOOK_PATH}"
        return json.dumps(
            {
                "taskHubName": self.hub_name,
                "creationUrls": {
                    "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{code}",
                    "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{code}",
                },
                "managementUrls": self.management_urls(_ID_PLACEHOLDER),
                "baseUrl": base,
                "requiredQueryStringParameters": code,
                "rpcBaseUrl": f"{self.rpc_base}{RPC_PATH}/",
                "httpBaseUrl": "",
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    def management_urls(self, instance_id: str) -> dict[str, str]:
        base = f"{self.web_base}{WEBHOOK_PATH}/instances/{instance_id}"
        tail = f"taskHub={self.hub_name}&connection=Storage&code={system_key(self.keys)}"
        return {
            "id": instance_id,
            "purgeHistoryDeleteUri": f"{base}?{tail}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{tail}",
            "statusQueryGetUri": f"{base}?{tail}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{tail}",
            "rewindPostUri": f"{base}/rewind?reason={{text}}&{tail}",
            "restartPostUri": f"{base}/restart?{tail}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{tail}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{tail}",
        }

    # -- the two doors

    def webhook(self, request: HostRequest) -> HostResponse:
        key = request.key
        if not (key and hmac.compare_digest(key.encode(), system_key(self.keys).encode())) and not is_authorized(
            "ADMIN", key, self.keys
        ):
            return HostResponse(401)
        # A client posting JSON to the webhook sends the input itself.
        return self._route(request, request.path[len(WEBHOOK_PATH) :], body_is_text=False)

    def rpc(self, request: HostRequest) -> HostResponse:
        # The Python client posts `json=df_dumps(input)`: a JSON string whose text is the input's JSON.
        return self._route(request, request.path[len(RPC_PATH) :], body_is_text=True)

    def _route(self, request: HostRequest, rest: str, *, body_is_text: bool) -> HostResponse:
        parts = [part for part in rest.split("/") if part]
        method = request.method.upper()
        try:
            payload = _payload(request.body, body_is_text)
        except ValueError:
            return HostResponse.json(400, {"Message": "Only application/json request content is supported"})
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3) and method == "POST":
            return self._start(parts[1], parts[2] if len(parts) == 3 else None, payload)
        if parts[:1] != ["instances"]:
            return HostResponse(404)
        if len(parts) == 1 and method == "GET":
            return HostResponse.json(200, [self.status(instance, False, False) for instance in self.store.instances()])
        instance_id = parts[1] if len(parts) > 1 else ""
        if len(parts) == 2 and method == "GET":
            return self._get(instance_id, request)
        if len(parts) == 2 and method == "DELETE":
            deleted = self.store.purge(instance_id)
            return HostResponse.json(200 if deleted else 404, {"instancesDeleted": deleted})
        if len(parts) == 3 and parts[2] == "terminate" and method == "POST":
            before = self.store.terminate(instance_id, request.query.get("reason", ""))
            return _gone_or_accepted(before, instance_id)
        if len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
            before = self.store.raise_event(instance_id, parts[3], payload)
            return _gone_or_accepted(before, instance_id)
        return HostResponse(404)

    def _start(self, name: str, instance_id: str | None, input_text: str | None) -> HostResponse:
        if name not in self.orchestrators:
            listed = ", ".join(f"'{known}'" for known in sorted(self.orchestrators))
            message = (
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Additional info: The following are the known orchestrator functions: {listed}."
            )
            return HostResponse.json(400, {"Message": message, "ExceptionMessage": message})
        instance_id = instance_id or uuid.uuid4().hex
        if not self.store.start(instance_id, name, input_text):
            message = f"An Orchestration instance with the status Running already exists: '{instance_id}'."
            return HostResponse.json(409, {"Message": message, "ExceptionMessage": message})
        urls = self.management_urls(instance_id)
        return HostResponse.json(202, urls, {"Location": urls["statusQueryGetUri"], "Retry-After": "10"})

    def _get(self, instance_id: str, request: HostRequest) -> HostResponse:
        instance = self.store.get(instance_id)
        if instance is None:
            return HostResponse.json(404, f"No instance with ID '{instance_id}' found.")
        show_input = request.query.get("showInput", "true").lower() != "false"
        show_history = request.query.get("showHistory", "false").lower() == "true"
        body = self.status(instance, show_input, show_history)
        if instance.status in TERMINAL:
            return HostResponse.json(200, body)
        return HostResponse.json(202, body, {"Location": request.url, "Retry-After": "10"})

    def status(self, instance: Instance, show_input: bool, show_history: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": instance.name,
            "instanceId": instance.instance_id,
            "runtimeStatus": instance.status,
            "input": _parsed(instance.input) if show_input else None,
            "customStatus": _parsed(instance.custom_status),
            "output": _parsed(instance.output),
            "createdTime": instance.created,
            "lastUpdatedTime": instance.updated,
        }
        if show_history:
            body["historyEvents"] = [
                {**item, "EventType": T(item["EventType"]).name} for item in self.store.history(instance.instance_id)
            ]
        return body


def _payload(body: bytes, body_is_text: bool) -> str | None:
    """The JSON text of an input or event payload (None when the body is empty)."""
    if not body.strip():
        return None
    value = json.loads(body)
    if body_is_text:
        if value is None:
            return None
        if not isinstance(value, str):
            return json.dumps(value)
        json.loads(value)  # must itself be JSON
        return value
    return json.dumps(value)


def _parsed(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _gone_or_accepted(before: str | None, instance_id: str) -> HostResponse:
    if before is None:
        return HostResponse.json(404, {"Message": f"No instance with ID '{instance_id}' found."})
    if before in TERMINAL:
        return HostResponse.json(410, {"Message": f"Instance '{instance_id}' is {before.lower()}."})
    return HostResponse(202)
