"""A local HTTP receiver of completion events (a webhook, or an Event Grid topic endpoint): a real HTTP server in a
thread that records every request and answers from a script (status codes, and a Retry-After when asked)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    retry_after: str | None = None


@dataclass
class EventReceiver:
    """Answers each request with the next scripted answer, then with `default` once the script is spent."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=lambda: Answer(200))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def answer_with(self, *statuses: int | Answer, then: int = 200) -> None:
        self.script = [status if isinstance(status, Answer) else Answer(status) for status in statuses]
        self.default = Answer(then)

    def events(self) -> list[dict[str, Any]]:
        """The bodies of the POSTs (each a structured CloudEvent)."""
        return [request.json() for request in self.requests if request.method == "POST"]

    def _next(self, request: Received) -> Answer:
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.default


def _handler(receiver: EventReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = receiver._next(Received("POST", self.path, dict(self.headers.items()), body))
            self.send_response(answer.status)
            if answer.retry_after is not None:
                self.send_header("Retry-After", answer.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads `requests`
            pass

    return Handler


@pytest.fixture
def event_receiver() -> Iterator[EventReceiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = EventReceiver(server)
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
