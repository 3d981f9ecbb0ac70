"""A local stand-in of Azure AI Document Intelligence's analyze REST API (2024-11-30), for the real
`azure-ai-documentintelligence` client: the long-running analyze (POST `…/documentModels/{model}:analyze` answers 202
with an `Operation-Location`, which the client polls until `status` is `succeeded` or `failed`), key authentication
(`Ocp-Apim-Subscription-Key`), and answers a test scripts (throttling, an outage, a failed analysis).

It does no OCR: a test states the paragraphs the "analysis" finds, per page and with their roles, and reads back the
bodies it was sent. Started by the test that uses it, on a free loopback port.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_VERSION = "2024-11-30"
_ANALYZE = re.compile(r"^/documentintelligence/documentModels/(?P<model>[\w.-]+):analyze$")
_RESULT = re.compile(r"^/documentintelligence/documentModels/(?P<model>[\w.-]+)/analyzeResults/(?P<id>[\w-]+)$")


@dataclass
class DocIntelStandIn:
    key: str = "test-key"
    # per page: (role or None, content) of each paragraph, in reading order
    pages: list[list[tuple[str | None, str]]] = field(default_factory=list)
    analysis_fails: bool = False
    statuses: list[int] = field(default_factory=list)  # answers to the next analyze requests, before a 202
    received: list[bytes] = field(default_factory=list)
    url: str = ""
    _results: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def analyze_result(self, model: str) -> dict[str, Any]:
        paragraphs, content = [], []
        for number, page in enumerate(self.pages, start=1):
            for role, text in page:
                paragraph: dict[str, Any] = {
                    "content": text,
                    "boundingRegions": [{"pageNumber": number, "polygon": [0, 0, 1, 0, 1, 1, 0, 1]}],
                    "spans": [{"offset": sum(len(c) + 1 for c in content), "length": len(text)}],
                }
                if role:
                    paragraph["role"] = role
                paragraphs.append(paragraph)
                content.append(text)
        pages = [
            {"pageNumber": n, "width": 8.5, "height": 11, "unit": "inch", "spans": []}
            for n in range(1, len(self.pages) + 1)
        ]
        return {
            "apiVersion": API_VERSION,
            "modelId": model,
            "stringIndexType": "textElements",
            "content": "\n".join(content),
            "pages": pages,
            "paragraphs": paragraphs,
        }


def _handler(standin: DocIntelStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _path(self) -> tuple[str, str]:
            path, _, query = self.path.partition("?")
            return path, query

        def _authorised(self) -> bool:
            if self.headers.get("Ocp-Apim-Subscription-Key") == standin.key:
                return True
            error = {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}
            self._answer(401, {"error": error})
            return False

        def do_POST(self) -> None:
            path, query = self._path()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            match = _ANALYZE.match(path)
            if match is None or f"api-version={API_VERSION}" not in query:
                self._answer(404, {"error": {"code": "NotFound", "message": path}})
                return
            if not self._authorised():
                return
            with standin._lock:
                status = standin.statuses.pop(0) if standin.statuses else 202
            if status != 202:
                error = {"code": str(status), "message": "scripted"}
                # Like the service, only throttling and outages say when to come back (azure-core retries any
                # answer that carries Retry-After).
                self._answer(status, {"error": error}, {"Retry-After": "0"} if status in (429, 503) else None)
                return
            standin.received.append(body)
            result_id = str(uuid.uuid4())
            if standin.analysis_fails:
                standin._results[result_id] = {
                    "status": "failed",
                    "error": {"code": "InvalidContent", "message": "The file is corrupted or format is unsupported."},
                }
            else:
                standin._results[result_id] = {
                    "status": "succeeded",
                    "createdDateTime": "2026-12-02T00:00:00Z",
                    "lastUpdatedDateTime": "2026-12-02T00:00:01Z",
                    "analyzeResult": standin.analyze_result(match["model"]),
                }
            location = (
                f"{standin.url}{path.replace(':analyze', '')}/analyzeResults/{result_id}?api-version={API_VERSION}"
            )
            self._answer(202, None, {"Operation-Location": location, "Retry-After": "0"})

        def do_GET(self) -> None:
            path, _ = self._path()
            match = _RESULT.match(path)
            if match is None or match["id"] not in standin._results:
                self._answer(404, {"error": {"code": "NotFound", "message": path}})
                return
            if not self._authorised():
                return
            self._answer(200, standin._results[match["id"]])

    return Handler


@contextmanager
def docintel_standin(**options: Any) -> Iterator[DocIntelStandIn]:
    standin = DocIntelStandIn(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
