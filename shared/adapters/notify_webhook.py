"""`Notifier` on a webhook: each event POSTed as one CloudEvents 1.0 structured JSON body
(`application/cloudevents+json`), through azure-core's pipeline (the HTTP stack every Azure SDK here already uses).

Any 2xx is delivery. Retries and their time cap are `cloud_events.deliver`'s, so the pipeline runs without a retry
policy of its own (two retry layers would multiply the attempts).
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.pipeline.policies import HeadersPolicy, UserAgentPolicy
from azure.core.rest import HttpRequest, HttpResponse

from shared.adapters.cloud_events import classify, cloud_event, deliver, public_target, structured
from shared.domain.notifications import Notification

MEDIA_TYPE = "application/cloudevents+json; charset=utf-8"


class WebhookNotifier:
    """`Notifier` POSTing to one URL (a key in its query string stays out of `target` and the logs)."""

    def __init__(self, url: str, *, retries: int = 3, timeout: float = 5.0) -> None:
        self._url = url
        self.target = public_target(url)
        self._retries = retries
        self._timeout = timeout
        self._client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            base_url=url, policies=[HeadersPolicy(), UserAgentPolicy(sdk_moniker="tributary-notify")]
        )

    def publish(self, event: Notification) -> None:
        body = json.dumps(structured(cloud_event(event)), ensure_ascii=False).encode("utf-8")
        deliver(
            lambda seconds: self._post(body, seconds),
            target=self.target,
            retries=self._retries,
            timeout=self._timeout,
            sleep=time.sleep,
            redact=self._redact,
        )

    def _redact(self, text: str) -> str:
        """`text` without the URL's query string (where a webhook's key usually travels)."""
        query = urlsplit(self._url).query
        return text.replace(query, "<query>") if query else text

    def _post(self, body: bytes, seconds: float) -> None:
        request = HttpRequest("POST", self._url, content=body, headers={"Content-Type": MEDIA_TYPE})
        try:
            response = self._client.send_request(request, connection_timeout=seconds, read_timeout=seconds)
        except Exception as error:
            raise classify(error) from error
        if 200 <= response.status_code < 300:
            return
        try:
            response.raise_for_status()
        except Exception as error:
            raise classify(error) from error
        raise RuntimeError(f"HTTP {response.status_code}: not a success, and redirects are not followed")

    def close(self) -> None:
        self._client.close()
