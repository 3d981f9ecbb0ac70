"""A local stand-in of the Azure OpenAI embeddings and chat-completions REST routes, over plain HTTP on 127.0.0.1.

`POST /openai/deployments/{deployment}/embeddings?api-version=...` with `api-key` or `Authorization: Bearer`, a body
of `input` (a string or a list of strings), `model`, `dimensions`, `encoding_format` (`float` or `base64`, float32
little-endian as the service sends). The answer is the service's shape (`object: list`, `data[].index/embedding`,
`model`, `usage`). Refusals as the service words them: a 400 for an input over the model's context (counted in
cl100k_base, as the service does) or more than 2048 inputs, a 401 for a missing key, a 404 for another deployment.

Each text's vector is a deterministic function of the text (seeded by its sha256), so tests can predict it.

`POST /openai/deployments/{chat deployment}/chat/completions?api-version=...` answers in the service's shape
(`object: chat.completion`, `choices[0].message.content` holding JSON text, `finish_reason`, `model`, `usage`) with
what the test's `chat_responder` makes of the request body (default: an empty JSON object). Its usage counts the
system and user messages and the response schema as prompt tokens, the answer's text as completion tokens
(cl100k_base), as the service counts the schema of a structured-output request into the prompt.
Faults are queued by the tests through methods of `OpenAIStandIn`, never through HTTP, so the SDK cannot reach them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

KEY = "standin-key"
DEPLOYMENT = "embed-small"
CHAT_DEPLOYMENT = "chat-mini"
CHAT_MODEL = "gpt-4o-mini-2024-07-18"
CONTEXT_TOKENS = 8191
MAX_INPUTS = 2048


def expected_vector(text: str, dimension: int) -> list[float]:
    """The vector the stand-in answers for `text` (unit length, float32 values)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()


@dataclass
class _Fault:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """One embeddings request as the stand-in saw it."""

    path: str
    api_version: str | None
    headers: dict[str, str]
    body: dict[str, Any]


# What a test's chat responder returns for a request body: the answer's JSON (finish_reason "stop"), or the
# answer's text or JSON with the finish reason to report ("length", "content_filter").
ChatReply = dict[str, Any] | tuple[str | dict[str, Any], str]
ChatResponder = Callable[[dict[str, Any]], ChatReply]


def chat_texts(body: dict[str, Any]) -> tuple[str, str]:
    """(system, user) of a chat-completions request body."""
    by_role = {message["role"]: message["content"] for message in body["messages"]}
    return by_role.get("system", ""), by_role.get("user", "")


class OpenAIStandIn:
    def __init__(self, deployment: str = DEPLOYMENT, key: str = KEY, chat_deployment: str = CHAT_DEPLOYMENT) -> None:
        self.deployment = deployment
        self.chat_deployment = chat_deployment
        self.key = key
        self.chat_responder: ChatResponder | None = None
        self.requests: list[Received] = []
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-standin", daemon=True)
        import bpe_openai

        self._encoding = bpe_openai.get_encoding("cl100k_base")

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- fault injection (test-facing) --

    def fail_next(self, count: int, status: int, retry_after: str | None = None, message: str = "") -> None:
        """Answer the next `count` requests with `status` and the service's error body (and `Retry-After`)."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        body = _error_body(message or f"stand-in fault {status}", "429" if status == 429 else None)
        with self._lock:
            self._faults.extend(_Fault(status, body, headers=headers) for _ in range(count))

    def answer_next(self, body: bytes, content_type: str = "application/json", status: int = 200) -> None:
        """Answer the next request with exactly these bytes (a malformed body)."""
        with self._lock:
            self._faults.append(_Fault(status, body, content_type))

    def stall_next(self, seconds: float) -> None:
        """Answer the next request normally, but only after `seconds` (a timeout)."""
        with self._lock:
            self._faults.append(_Fault(0, b"", delay=seconds))

    # -- the route --

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, str, dict[str, str]]:
        url = urlsplit(path)
        body = json.loads(raw or b"{}")
        with self._lock:
            self.requests.append(Received(url.path, parse_qs(url.query).get("api-version", [None])[0], headers, body))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        elif fault is not None:
            return fault.status, fault.body, fault.content_type, fault.headers
        if headers.get("api-key") != self.key and headers.get("authorization") != f"Bearer {self.key}":
            return 401, _error_body("Access denied due to invalid subscription key.", "401"), "application/json", {}
        if url.path == f"/openai/deployments/{self.chat_deployment}/chat/completions" and "api-version" in url.query:
            return self._chat(body)
        if url.path != f"/openai/deployments/{self.deployment}/embeddings" or "api-version" not in url.query:
            return (
                404,
                _error_body("The API deployment for this resource does not exist.", "DeploymentNotFound"),
                ("application/json"),
                {},
            )
        return self._embeddings(body)

    def _embeddings(self, body: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if len(texts) > MAX_INPUTS:
            message = f"Too many inputs. The max number of inputs is {MAX_INPUTS}."
            return 400, _error_body(message), "application/json", {}
        counts = [len(self._encoding.encode_ordinary(text)) for text in texts]
        for count in counts:
            if count > CONTEXT_TOKENS:
                message = (
                    f"This model's maximum context length is {CONTEXT_TOKENS + 1} tokens, however you requested "
                    f"{count} tokens ({count} in your prompt; 0 for the completion). Please reduce your prompt; or "
                    "completion length."
                )
                return 400, _error_body(message), "application/json", {}
        dimension = int(body.get("dimensions") or 1536)
        data = []
        for index, text in enumerate(texts):
            vector = expected_vector(text, dimension)
            if body.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
            else:
                encoded = vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        answer = {
            "object": "list",
            "data": data,
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)},
        }
        return 200, json.dumps(answer).encode("utf-8"), "application/json", {}

    def chat_requests(self) -> list[Received]:
        """The chat-completions requests seen so far."""
        with self._lock:
            return [request for request in self.requests if request.path.endswith("/chat/completions")]

    def _chat(self, body: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        responder = self.chat_responder
        reply: ChatReply = {} if responder is None else responder(body)
        content, finish_reason = reply if isinstance(reply, tuple) else (reply, "stop")
        text = content if isinstance(content, str) else json.dumps(content)
        system, user = chat_texts(body)
        schema = json.dumps(body.get("response_format") or {})
        prompt_tokens = sum(len(self._encoding.encode_ordinary(part)) for part in (system, user, schema))
        completion_tokens = len(self._encoding.encode_ordinary(text))
        answer = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": CHAT_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, json.dumps(answer).encode("utf-8"), "application/json", {}


def _error_body(message: str, code: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    ).encode("utf-8")


def _handler_for(standin: OpenAIStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body, content_type, extra = standin.handle(self.path, headers, raw)
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

    return Handler


# -- fixtures (a pytest plugin: tests/conftest.py) --


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIStandIn]:
    """One stand-in for the session, on a free loopback port."""
    standin = OpenAIStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def openai_standin(openai_server: OpenAIStandIn) -> OpenAIStandIn:
    """The session's stand-in with no request recorded and no fault scripted."""
    openai_server.requests.clear()
    openai_server._faults.clear()
    openai_server.chat_responder = None
    return openai_server
