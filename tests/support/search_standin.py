"""A local stand-in of the Azure AI Search REST subset the vector sink calls, served over plain HTTP on 127.0.0.1.

Shapes follow the REST API specs (Azure/azure-rest-api-specs, specification/search/data-plane): index create or update
and get, docs/search.index (upload, merge, mergeOrUpload, delete; 200, or 207 with a per-document `status`,
`statusCode` and `errorMessage`), docs/search.post.search with vector queries, an `eq` filter and `count`, and
docs/$count. Vector search is exact (every stored vector is compared) and scores cosine the way the service does:
`@search.score = 1 / (1 + cosine distance)` = `1 / (2 - cosine similarity)`.

Faults are injected by the tests through methods of `SearchStandIn`, never through HTTP, so the SDK cannot reach them.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

_INDEX_PATH = re.compile(
    r"^/indexes\('(?P<name>[^']+)'\)(?P<rest>/docs(?:/search\.index|/search\.post\.search|/\$count))?$"
)
_CLAUSE = re.compile(r"^\s*(?P<field>\w+)\s+(?P<op>eq|ne)\s+'(?P<value>(?:[^']|'')*)'\s*$")
_VECTOR_TYPE = "Collection(Edm.Single)"
_PRIMITIVE_TYPES = ("Edm.String", "Edm.Int32", "Edm.Int64", "Edm.Double", "Edm.Boolean", "Edm.DateTimeOffset")
_FIELD_TYPES = frozenset({*_PRIMITIVE_TYPES, *(f"Collection({t})" for t in _PRIMITIVE_TYPES), _VECTOR_TYPE})


@dataclass
class _Index:
    definition: dict[str, Any]
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def key_field(self) -> str:
        return next(f["name"] for f in self.definition["fields"] if f.get("key"))

    def vector_fields(self) -> dict[str, int]:
        return {f["name"]: f["dimensions"] for f in self.definition["fields"] if f["type"] == _VECTOR_TYPE}

    def returned_fields(self) -> list[str]:
        """Retrievable fields; vector fields only when stored and retrievable (this sink hides them)."""
        return [f["name"] for f in self.definition["fields"] if f.get("retrievable", True) and f.get("stored", True)]


@dataclass
class _Fault:
    """What the next index request answers instead of indexing: a whole-request status, or per-key failures."""

    status: int
    failing_keys: frozenset[str] = frozenset()
    key_status: int = 503
    retry_after: str | None = None


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SearchStandIn:
    """The server and its state; one instance serves every test of a session (each test uses its own index)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[str, _Index] = {}
        self._faults: deque[_Fault] = deque()
        self.index_requests: Counter[str] = Counter()  # docs/search.index requests received, per index
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="search-standin", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SearchStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- fault injection (test-facing) --

    def fail_next_index_requests(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        """Answer the next `count` index requests with `status` (and `Retry-After`, seconds) for the whole request."""
        after = None if retry_after is None else f"{retry_after:g}"
        with self._lock:
            self._faults.extend(_Fault(status, retry_after=after) for _ in range(count))

    def fail_keys_in_next_index_requests(self, keys: Iterable[str], count: int = 1, status: int = 503) -> None:
        """Answer the next `count` index requests with a 207 where `keys` fail with `status` (the rest are indexed)."""
        with self._lock:
            self._faults.extend(_Fault(207, frozenset(keys), status) for _ in range(count))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- the REST operations --

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        """(status, answer, extra headers) for one request; a whole-request fault answers before anything is read."""
        match = _INDEX_PATH.match(path)
        if match and match["rest"] == "/docs/search.index" and method == "POST":
            with self._lock:
                fault = self._faults.popleft() if self._faults and self._faults[0].status != 207 else None
                if fault is not None:
                    self.index_requests[match["name"]] += 1
            if fault is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return fault.status, _error_body("Injected failure of the whole request."), headers
        return (*self._handle(method, path, body), {})

    def _handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        match = _INDEX_PATH.match(path)
        if not match:
            raise _Error(404, f"no such resource: {path}")
        name, rest = match["name"], match["rest"]
        with self._lock:
            if rest is None and method == "PUT":
                return self._put_index(name, body)
            if rest is None and method == "GET":
                return 200, self._index(name).definition
            if rest is None and method == "DELETE":
                return (204, None) if self._indexes.pop(name, None) else (404, _error_body("index not found"))
            if rest == "/docs/search.index" and method == "POST":
                self.index_requests[name] += 1
                return self._index_documents(self._index(name), body)
            if rest == "/docs/search.post.search" and method == "POST":
                return 200, self._search(self._index(name), body)
            if rest == "/docs/$count" and method == "GET":
                return 200, len(self._index(name).documents)
        raise _Error(405, f"{method} is not supported on {path}")

    def _index(self, name: str) -> _Index:
        try:
            return self._indexes[name]
        except KeyError:
            raise _Error(404, f"No index with the name '{name}' was found in the service.") from None

    def _put_index(self, name: str, definition: dict[str, Any]) -> tuple[int, Any]:
        if definition.get("name") != name:
            raise _Error(400, "The index name in the body does not match the one in the URL.")
        _check_definition(definition)
        existing = self._indexes.get(name)
        if existing is None:
            self._indexes[name] = _Index(definition)
            return 201, definition
        changed = _changed_fields(existing.definition, definition)
        if changed:  # the service refuses to change an existing field in place
            raise _Error(400, f"Existing field(s) {', '.join(changed)} cannot be changed.")
        existing.definition = definition
        return 200, definition

    def _index_documents(self, index: _Index, body: dict[str, Any]) -> tuple[int, Any]:
        fault = self._faults.popleft() if self._faults else None  # whole-request faults were answered before
        actions = body.get("value", [])
        if len(actions) > 32000:
            raise _Error(413, "Too many actions in one request.")
        key_field, vectors = index.key_field, index.vector_fields()
        for action in actions:  # a malformed vector refuses the whole request, as the service does
            for name, dimensions in vectors.items():
                value = action.get(name)
                if value is not None and len(value) != dimensions:
                    raise _Error(400, f"The vector field '{name}' must have {dimensions} dimensions, not {len(value)}.")
        results = []
        for action in actions:
            key = action[key_field]
            if fault is not None and key in fault.failing_keys:
                results.append(_result(key, fault.key_status, "Injected failure."))
                continue
            results.append(_result(key, *self._apply(index, action.get("@search.action", "upload"), key, action)))
        return (200 if all(r["status"] for r in results) else 207), {"value": results}

    @staticmethod
    def _apply(index: _Index, verb: str, key: str, action: dict[str, Any]) -> tuple[int, str | None]:
        document = {name: value for name, value in action.items() if not name.startswith("@")}
        existing = index.documents.get(key)
        if verb == "delete":
            index.documents.pop(key, None)
            return 200, None
        if verb == "merge" and existing is None:
            return 404, "Document not found."
        if verb in ("merge", "mergeOrUpload") and existing is not None:
            index.documents[key] = existing | document
            return 200, None
        if verb in ("upload", "mergeOrUpload"):
            index.documents[key] = document
            return (201 if existing is None else 200), None
        return 400, f"Unknown action '{verb}'."

    def _search(self, index: _Index, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("search") not in (None, "", "*"):
            raise _Error(400, "The stand-in supports vector queries only.")
        candidates = [doc for doc in index.documents.values() if _matches(body.get("filter"), doc)]
        scored: list[tuple[float, dict[str, Any]]] = [(1.0, doc) for doc in candidates]
        vector_queries = body.get("vectorQueries") or []
        if len(vector_queries) > 1:
            raise _Error(400, "The stand-in supports one vector query.")
        for query in vector_queries:
            if query.get("kind") != "vector":
                raise _Error(400, f"Unsupported vector query kind '{query.get('kind')}'.")
            vector_field = query["fields"]
            dimensions = index.vector_fields().get(vector_field)
            if dimensions is None:
                raise _Error(400, f"Unknown vector field '{vector_field}'.")
            if len(query["vector"]) != dimensions:
                raise _Error(400, f"The vector query must have {dimensions} dimensions, not {len(query['vector'])}.")
            nearest = ((_cosine(query["vector"], doc.get(vector_field)), doc) for doc in candidates)
            ranked = sorted(((1 / (2 - cos), doc) for cos, doc in nearest if cos is not None), key=lambda p: -p[0])
            scored = ranked[: query.get("k") or 50]
        top = 50 if body.get("top") is None else body["top"]  # top 0: only the count
        fields = body["select"].split(",") if body.get("select") else index.returned_fields()
        page = [{"@search.score": score, **{f: doc.get(f) for f in fields}} for score, doc in scored[:top]]
        answer: dict[str, Any] = {"value": page}
        if body.get("count"):
            answer["@odata.count"] = len(scored)
        return answer


def _check_definition(definition: dict[str, Any]) -> None:
    """What the service checks of a definition, as far as this sink's index goes."""
    fields = definition.get("fields") or []
    if sum(1 for f in fields if f.get("key")) != 1:
        raise _Error(400, "An index must have exactly one key field.")
    profiles = {p["name"] for p in (definition.get("vectorSearch") or {}).get("profiles", [])}
    for f in fields:
        if f.get("type") not in _FIELD_TYPES:
            raise _Error(400, f"Field '{f.get('name')}' has an unsupported type '{f.get('type')}'.")
        if f["type"] == _VECTOR_TYPE and not (f.get("dimensions") and f.get("vectorSearchProfile") in profiles):
            raise _Error(400, f"Vector field '{f['name']}' needs dimensions and a defined vectorSearchProfile.")


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    attributes = ("type", "key", "dimensions", "vectorSearchProfile")
    before = {f["name"]: f for f in old["fields"]}
    return [
        f["name"]
        for f in new["fields"]
        if f["name"] in before and any(before[f["name"]].get(a) != f.get(a) for a in attributes)
    ]


def _matches(expression: str | None, document: dict[str, Any]) -> bool:
    """The filter subset this sink sends: `field eq 'value'` and `field ne 'value'` clauses joined by `and`."""
    if not expression:
        return True
    for clause in re.split(r"\s+and\s+", expression):
        match = _CLAUSE.match(clause)
        if not match:
            raise _Error(400, f"Unsupported filter: {expression}")
        equal = document.get(match["field"]) == match["value"].replace("''", "'")
        if equal != (match["op"] == "eq"):
            return False
    return True


def _cosine(query: list[float], stored: list[float] | None) -> float | None:
    """Cosine similarity; None when either side is a zero vector (it has no direction to compare)."""
    if not stored:
        return None
    norms = math.sqrt(sum(v * v for v in query)) * math.sqrt(sum(v * v for v in stored))
    return None if norms == 0 else sum(a * b for a, b in zip(query, stored, strict=True)) / norms


def _result(key: str, status: int, message: str | None) -> dict[str, Any]:
    return {"key": key, "status": status < 300, "errorMessage": message, "statusCode": status}


def _error_body(message: str) -> dict[str, Any]:
    return {"error": {"code": "", "message": message}}


def _handler_for(standin: SearchStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not (self.headers.get("api-key") or self.headers.get("Authorization")):
                self._send(403, _error_body("Authentication is required: send an api-key header."), {})
                return
            try:
                body = json.loads(raw) if raw else None
                status, answer, headers = standin.handle(method, unquote(urlsplit(self.path).path), body)
            except _Error as error:
                status, answer, headers = error.status, _error_body(str(error)), {}
            except (ValueError, KeyError, TypeError) as error:
                status, answer, headers = 400, _error_body(f"Malformed request: {error!r}"), {}
            self._send(status, answer, headers)

        def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(answer, int):  # $count answers a bare number as text
                payload, content_type = str(answer).encode(), "text/plain"
            else:
                payload, content_type = json.dumps(answer).encode() if answer is not None else b"", "application/json"
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest would show every request."""

    return Handler


@pytest.fixture(scope="session")
def search_standin() -> Iterator[SearchStandIn]:
    """The AI Search stand-in, started once per session on a free port of 127.0.0.1."""
    standin = SearchStandIn().start()
    yield standin
    standin.stop()
