"""A local stand-in of the Azure AI Search REST subset the vector sink calls, served over plain HTTP on 127.0.0.1.

Shapes follow the REST API specs (Azure/azure-rest-api-specs, specification/search/data-plane): index create or update
and get, docs/search.index (upload, merge, mergeOrUpload, delete; 200, or 207 with a per-document `status`,
`statusCode` and `errorMessage`), docs/search.post.search with `search` text, vector queries, `$filter` and `count`,
and docs/$count. Vector search is exact (every stored vector is compared) and scores cosine the way the service does:
`@search.score = 1 / (1 + cosine distance)` = `1 / (2 - cosine similarity)`. Full-text search is BM25 (k1 1.2, b 0.75,
the service's defaults) over `searchFields` (else every searchable field), any term matching (`searchMode` any), text
cut into lower-case word runs (the simple syntax's operators are read as the words they hold, not obeyed). Text and
vector queries in one request are fused as the service documents (hybrid search ranking): each ranked list gives a
document `weight / (60 + rank)`, ranks from 1, and the sums order the answer; the text list is its best 50, the
vector list its `k`. `queryType: semantic` is checked (search text and a semantic configuration of the index are
required) but not emulated: no language model runs here, so the answer keeps its RRF order and carries no
`@search.rerankerScore`. Filters: the OData subset `field eq|ne 'literal'`, `and`, `or`, `not`, parentheses, and
`collection/any(x: x eq 'literal')`; anything else is a 400, never a guess.

Faults are injected by the tests through methods of `SearchStandIn`, never through HTTP, so the SDK cannot reach them.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

_INDEX_PATH = re.compile(
    r"^/indexes\('(?P<name>[^']+)'\)(?P<rest>/docs(?:/search\.index|/search\.post\.search|/\$count))?$"
)
_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<punct>[():])|(?P<word>[A-Za-z_][\w/]*))")
_WORD = re.compile(r"\w+")
RRF_K = 60  # the constant of the service's reciprocal rank fusion
TEXT_RESULTS = 50  # how many full-text results take part in a fusion
_BM25_K1, _BM25_B = 1.2, 0.75
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

    def searchable_fields(self) -> list[str]:
        return [f["name"] for f in self.definition["fields"] if f.get("searchable") and f["type"] != _VECTOR_TYPE]

    def semantic_configurations(self) -> set[str]:
        return {c["name"] for c in (self.definition.get("semantic") or {}).get("configurations", [])}

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
        self.search_bodies: dict[str, list[dict[str, Any]]] = {}  # docs/search.post.search bodies, per index
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
                self.search_bodies.setdefault(name, []).append(body)
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
        match = _parse_filter(body.get("filter"))
        candidates = [doc for doc in index.documents.values() if match(doc, {})]
        text = body.get("search")
        ranked_lists: list[tuple[float, list[tuple[float, dict[str, Any]]]]] = []  # (weight, [(score, doc)])
        if text not in (None, "", "*"):
            ranked_lists.append((1.0, self._text_ranked(index, body, text, candidates)))
        vector_queries = body.get("vectorQueries") or []
        if len(vector_queries) > 1:
            raise _Error(400, "The stand-in supports one vector query.")
        for query in vector_queries:
            ranked_lists.append((float(query.get("weight") or 1.0), self._vector_ranked(index, query, candidates)))
        _check_semantic(index, body)
        if not ranked_lists:
            scored = [(1.0, doc) for doc in candidates]
        elif len(ranked_lists) == 1:
            scored = ranked_lists[0][1]
        else:
            scored = _fused(ranked_lists)
        top = 50 if body.get("top") is None else body["top"]  # top 0: only the count
        fields = body["select"].split(",") if body.get("select") else index.returned_fields()
        page = [{"@search.score": score, **{f: doc.get(f) for f in fields}} for score, doc in scored[:top]]
        answer: dict[str, Any] = {"value": page}
        if body.get("count"):
            answer["@odata.count"] = len(scored)
        return answer

    @staticmethod
    def _vector_ranked(
        index: _Index, query: dict[str, Any], candidates: list[dict[str, Any]]
    ) -> list[tuple[float, dict[str, Any]]]:
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
        return ranked[: query.get("k") or 50]

    @staticmethod
    def _text_ranked(
        index: _Index, body: dict[str, Any], text: str, candidates: list[dict[str, Any]]
    ) -> list[tuple[float, dict[str, Any]]]:
        """BM25 over the searched fields, statistics from the whole index; documents matching no term are left out."""
        searchable = index.searchable_fields()
        fields = [f.strip() for f in body["searchFields"].split(",")] if body.get("searchFields") else searchable
        if unknown := [f for f in fields if f not in searchable]:
            raise _Error(400, f"searchFields names fields that are not searchable: {', '.join(unknown)}.")
        terms = set(_words(text))
        documents = list(index.documents.values())
        lengths = {id(doc): len(_field_words(doc, fields)) for doc in documents}
        average = (sum(lengths.values()) / len(documents)) or 1.0 if documents else 1.0
        frequency = Counter(term for doc in documents for term in set(_field_words(doc, fields)) & terms)
        scored = []
        for doc in candidates:
            counts = Counter(_field_words(doc, fields))
            score = 0.0
            for term in terms & counts.keys():
                idf = math.log(1 + (len(documents) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                norm = 1 - _BM25_B + _BM25_B * lengths[id(doc)] / average
                score += idf * counts[term] * (_BM25_K1 + 1) / (counts[term] + _BM25_K1 * norm)
            if score > 0:
                scored.append((score, doc))
        return sorted(scored, key=lambda pair: -pair[0])[:TEXT_RESULTS]


def _fused(
    ranked_lists: list[tuple[float, list[tuple[float, dict[str, Any]]]]],
) -> list[tuple[float, dict[str, Any]]]:
    """Reciprocal rank fusion: each list adds `weight / (60 + rank)` to each of its documents (ranks from 1)."""
    fused: dict[int, list[Any]] = {}
    for weight, ranked in ranked_lists:
        for rank, (_, doc) in enumerate(ranked, start=1):
            fused.setdefault(id(doc), [0.0, doc])[0] += weight / (RRF_K + rank)
    return sorted(((score, doc) for score, doc in fused.values()), key=lambda pair: -pair[0])


def _check_semantic(index: _Index, body: dict[str, Any]) -> None:
    if body.get("queryType", "simple") != "semantic":
        return
    configurations = index.semantic_configurations()
    default = (index.definition.get("semantic") or {}).get("defaultConfiguration")
    name = body.get("semanticConfiguration") or default
    if name not in configurations:
        raise _Error(400, f"Semantic configuration '{name}' is not defined in the index.")
    if body.get("search") in (None, "", "*"):
        raise _Error(400, "A semantic query needs search text.")


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def _field_words(document: dict[str, Any], fields: list[str]) -> list[str]:
    return [word for field in fields if isinstance(document.get(field), str) for word in _words(document[field])]


def _check_definition(definition: dict[str, Any]) -> None:
    """What the service checks of a definition, as far as this sink's index goes."""
    fields = definition.get("fields") or []
    if sum(1 for f in fields if f.get("key")) != 1:
        raise _Error(400, "An index must have exactly one key field.")
    profiles = {p["name"] for p in (definition.get("vectorSearch") or {}).get("profiles", [])}
    searchable = {f["name"] for f in fields if f.get("searchable") and f.get("type") == "Edm.String"}
    for configuration in (definition.get("semantic") or {}).get("configurations", []):
        prioritized = configuration.get("prioritizedFields") or {}
        named = [
            *([prioritized["titleField"]] if prioritized.get("titleField") else []),
            *prioritized.get("prioritizedContentFields", []),
            *prioritized.get("prioritizedKeywordsFields", []),
        ]
        if not named or any(field.get("fieldName") not in searchable for field in named):
            raise _Error(400, f"Semantic configuration '{configuration.get('name')}' must name searchable strings.")
    for f in fields:
        if f.get("type") not in _FIELD_TYPES:
            raise _Error(400, f"Field '{f.get('name')}' has an unsupported type '{f.get('type')}'.")
        if f["type"] == _VECTOR_TYPE and not (f.get("dimensions") and f.get("vectorSearchProfile") in profiles):
            raise _Error(400, f"Vector field '{f['name']}' needs dimensions and a defined vectorSearchProfile.")


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    attributes = ("type", "key", "dimensions", "vectorSearchProfile", "searchable", "filterable")
    before = {f["name"]: f for f in old["fields"]}
    return [
        f["name"]
        for f in new["fields"]
        if f["name"] in before and any(before[f["name"]].get(a) != f.get(a) for a in attributes)
    ]


Predicate = Callable[[dict[str, Any], dict[str, Any]], bool]  # (document, lambda variables) -> whether it matches


def _parse_filter(expression: str | None) -> Predicate:
    """The `$filter` subset the stand-in evaluates, parsed whole before any document is read (a 400 otherwise)."""
    if not expression:
        return lambda document, variables: True
    tokens = _tokens(expression)
    predicate, rest = _or(tokens)
    if rest:
        raise _Error(400, f"Invalid expression: unexpected '{rest[0][1]}' in $filter.")
    return predicate


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while expression[position:].strip():
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise _Error(400, f"Invalid expression: cannot read $filter at character {position + 1}.")
        kind = next(name for name in ("string", "punct", "word") if match[name] is not None)
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _or(tokens: list[tuple[str, str]]) -> tuple[Predicate, list[tuple[str, str]]]:
    """`a or b or ...`; `and` binds tighter, as in OData."""
    terms, tokens = _joined(tokens, "or", _and)
    return (lambda document, variables: any(term(document, variables) for term in terms)), tokens


def _and(tokens: list[tuple[str, str]]) -> tuple[Predicate, list[tuple[str, str]]]:
    terms, tokens = _joined(tokens, "and", _unary)
    return (lambda document, variables: all(term(document, variables) for term in terms)), tokens


def _joined(
    tokens: list[tuple[str, str]],
    keyword: str,
    operand: Callable[[list[tuple[str, str]]], tuple[Predicate, list[tuple[str, str]]]],
) -> tuple[list[Predicate], list[tuple[str, str]]]:
    """One or more operands separated by `keyword`, and the tokens after them."""
    first, tokens = operand(tokens)
    terms = [first]
    while tokens and tokens[0] == ("word", keyword):
        term, tokens = operand(tokens[1:])
        terms.append(term)
    return terms, tokens


def _unary(tokens: list[tuple[str, str]]) -> tuple[Predicate, list[tuple[str, str]]]:
    if not tokens:
        raise _Error(400, "Invalid expression: $filter ends too early.")
    if tokens[0] == ("word", "not"):
        inner, rest = _unary(tokens[1:])
        return (lambda d, v: not inner(d, v)), rest
    if tokens[0] == ("punct", "("):
        inner, rest = _or(tokens[1:])
        return inner, _expect(rest, ("punct", ")"))
    kind, word = tokens[0]
    if kind == "word" and word.endswith("/any"):
        return _any(word[: -len("/any")], tokens[1:])
    if kind == "word" and len(tokens) >= 3 and tokens[1][1] in ("eq", "ne") and tokens[2][0] == "string":
        literal, equal = tokens[2][1][1:-1].replace("''", "'"), tokens[1][1] == "eq"

        def compare(document: dict[str, Any], variables: dict[str, Any]) -> bool:
            value = variables[word] if word in variables else document.get(word)
            return (value == literal) == equal

        return compare, tokens[3:]
    raise _Error(400, f"Invalid expression: the stand-in does not support '{word}' here in $filter.")


def _any(collection: str, tokens: list[tuple[str, str]]) -> tuple[Predicate, list[tuple[str, str]]]:
    """`collection/any(x: <expression over x>)`: whether some element of the collection field matches."""
    tokens = _expect(tokens, ("punct", "("))
    if len(tokens) < 2 or tokens[0][0] != "word" or tokens[1] != ("punct", ":"):
        raise _Error(400, "Invalid expression: any() needs a lambda variable and a colon in $filter.")
    variable = tokens[0][1]
    inner, rest = _or(tokens[2:])

    def some(document: dict[str, Any], variables: dict[str, Any]) -> bool:
        values = document.get(collection) or []
        return any(inner(document, {**variables, variable: value}) for value in values)

    return some, _expect(rest, ("punct", ")"))


def _expect(tokens: list[tuple[str, str]], token: tuple[str, str]) -> list[tuple[str, str]]:
    if not tokens or tokens[0] != token:
        raise _Error(400, f"Invalid expression: expected '{token[1]}' in $filter.")
    return tokens[1:]


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
