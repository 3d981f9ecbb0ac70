"""POST /api/bulk: what a request may say, how a bad one is refused (400, a problem document with a reason code,
never a 5xx), and that the registered starter hands a good one to Durable's client and answers its 202."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import azure.functions as func
import pytest

from shared.api_answers import PROBLEM_TYPE_BASE
from shared.app_ports import app_ports
from shared.bulk.models import MAX_PATHS, BulkRun
from shared.bulk.starter import Refusal, prepare_run
from shared.config import Settings
from shared.devhost.app_loader import load_app
from shared.devhost.host import DevHost
from shared.devhost.invoke import worker_loop
from shared.domain import Reason
from shared.domain.bulk_jobs import BulkState

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(incoming_container="incoming", bulk_page_size=300, bulk_batch_size=12)


def refused(body: str | bytes) -> Refusal:
    answer = prepare_run(body.encode() if isinstance(body, str) else body, SETTINGS)
    assert isinstance(answer, Refusal), answer
    return answer


def test_a_valid_request_becomes_the_orchestrations_input() -> None:
    # GIVEN a reprocess of a prefix and of explicit paths (one repeated), changed since a time, as a dry run
    body = {
        "operation": "reprocess",
        "prefix": "docs/",
        "modified_since": "2026-12-01T00:00:00Z",
        "paths": ["docs/a.txt", "docs/b.txt", "docs/a.txt"],
        "dry_run": True,
    }

    # WHEN it is prepared
    run = prepare_run(json.dumps(body).encode(), SETTINGS, bulk_id="b-1")

    # THEN the input names the incoming container, the paths once each, the tunables from the settings
    assert isinstance(run, BulkRun)
    assert (run.bulk_id, run.container, run.prefix, run.dry_run) == ("b-1", "incoming", "docs/", True)
    assert run.paths == ["docs/a.txt", "docs/b.txt"]
    assert (run.page_size, run.batch_size) == (300, 12)
    assert json.loads(run.selector) == {"prefix": "docs/", "modified_since": "2026-12-01T00:00:00+00:00", "paths": 2}
    # AND a new id each time when none is given
    ids = {prepare_run(b'{"operation": "delete", "prefix": ""}', SETTINGS).bulk_id for _ in range(3)}  # type: ignore[union-attr]
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", Reason.REQUEST_INVALID_JSON),
        ("", Reason.BULK_INVALID_REQUEST),
        ('["reprocess"]', Reason.BULK_INVALID_REQUEST),
        ('{"operation": "rebuild", "prefix": ""}', Reason.BULK_INVALID_REQUEST),
        ('{"operation": "reprocess", "prefix": "", "colour": "red"}', Reason.BULK_INVALID_REQUEST),
        ('{"operation": "reprocess", "modified_since": "2026-12-01T00:00:00"}', Reason.BULK_INVALID_REQUEST),
        ('{"operation": "reprocess", "paths": [""]}', Reason.BULK_INVALID_REQUEST),
        ('{"operation": "reprocess", "dry_run": "maybe", "prefix": ""}', Reason.BULK_INVALID_REQUEST),
        ('{"operation": "reprocess"}', Reason.BULK_NO_SELECTOR),
        ('{"operation": "delete", "container": "work", "prefix": ""}', Reason.BULK_NOT_INCOMING_CONTAINER),
        (
            json.dumps({"operation": "delete", "paths": [f"p{n}" for n in range(MAX_PATHS + 1)]}),
            Reason.BULK_TOO_MANY_PATHS,
        ),
        (b"\xff\xfe", Reason.REQUEST_INVALID_JSON),
    ],
    ids=[
        "not-json",
        "empty",
        "not-an-object",
        "unknown-operation",
        "unknown-field",
        "naive-time",
        "empty-path",
        "not-a-bool",
        "no-selector",
        "other-container",
        "too-many-paths",
        "not-utf8",
    ],
)
def test_a_bad_request_is_refused_with_its_reason(body: str | bytes, reason: Reason) -> None:
    # WHEN a bad body is prepared THEN it is a 400 problem document of the reason's type
    refusal = refused(body)
    problem = refusal.problem()
    assert refusal.status == 400
    assert problem["reason_code"] == reason
    assert problem["type"] == PROBLEM_TYPE_BASE + reason
    assert problem["status"] == 400
    assert problem["title"]
    assert problem["detail"]
    if reason is Reason.BULK_INVALID_REQUEST:  # each invalid field named, without echoing the input
        assert problem["errors"]
        assert all(set(error) == {"loc", "msg", "type"} for error in problem["errors"])


# --- the registered starter, with Durable's client talking to a stand-in of the extension's RPC endpoint ------


class _Extension(BaseHTTPRequestHandler):
    """Answers `POST {rpcBaseUrl}orchestrators/{name}/{id}` as the Durable extension does (202 with the id)."""

    started: ClassVar[list[tuple[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"null")
        type(self).started.append((self.path, body))
        instance = self.path.rstrip("/").rsplit("/", 1)[-1]
        answer = json.dumps({"id": instance}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def extension() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Extension)
    _Extension.started = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/runtime/webhooks/durabletask/"
    server.shutdown()
    server.server_close()


def client_binding(rpc_base_url: str) -> str:
    """The durableClient binding's JSON, as the extension passes it to the worker."""
    base = "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID"
    query = "?taskHub=TestHub&connection=Storage&code=SYSTEMKEY"
    return json.dumps(
        {
            "taskHubName": "TestHub",
            "creationUrls": {},
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": base + query,
                "sendEventPostUri": base + "/raiseEvent/{eventName}" + query,
                "terminatePostUri": base + "/terminate?reason={text}&" + query[1:],
                "rewindPostUri": base + "/rewind?reason={text}&" + query[1:],
                "purgeHistoryDeleteUri": base + query,
                "restartPostUri": base + "/restart" + query,
                "suspendPostUri": base + "/suspend?reason={text}&" + query[1:],
                "resumePostUri": base + "/resume?reason={text}&" + query[1:],
            },
            "baseUrl": "http://localhost:7071/runtime/webhooks/durabletask",
            "requiredQueryStringParameters": "code=SYSTEMKEY",
            "rpcBaseUrl": rpc_base_url,
        }
    )


@pytest.fixture
def app_environment(open_host: Callable[..., DevHost]) -> None:
    """The app as the local host runs it (its settings applied, its broker the bus), on a data folder of its own;
    the starter is still called directly here, with Durable's client pointed at the test's stand-in."""
    open_host()


def call_starter(body: bytes, rpc_base_url: str) -> func.HttpResponse:
    starter = load_app(ROOT / "function_app.py").function("bulk_start").user_function
    request = func.HttpRequest("POST", "http://localhost:7071/api/bulk", body=body, headers={})
    # On the local host's one worker loop, as the host calls it: the SDK keeps its HTTP session on the loop it first
    # ran on, and another test's host may have run it there already.
    running = asyncio.run_coroutine_threadsafe(starter(req=request, client=client_binding(rpc_base_url)), worker_loop())
    response: func.HttpResponse = running.result()
    return response


@pytest.mark.falkordb
@pytest.mark.usefixtures("app_environment")
def test_the_starter_records_the_run_starts_the_orchestration_and_answers_202(extension: str) -> None:
    # WHEN the registered starter gets a valid request
    response = call_starter(b'{"operation": "reprocess", "prefix": "docs/"}', extension)

    # THEN it asked Durable to start bulk_orchestrator under a new id with the prepared input
    assert len(_Extension.started) == 1
    path, started_input = _Extension.started[0]
    instance = path.rsplit("/", 1)[-1]
    assert path == f"/runtime/webhooks/durabletask/orchestrators/bulk_orchestrator/{instance}"
    # (the SDK posts the input as JSON text, which the extension stores as it is)
    assert BulkRun.model_validate_json(started_input).bulk_id == instance
    # AND answered 202 with the status URLs of that instance (create_check_status_response)
    assert response.status_code == 202
    links = json.loads(response.get_body())
    assert links["id"] == instance
    assert instance in links["statusQueryGetUri"]
    assert response.headers["Location"] == links["statusQueryGetUri"]
    # AND the run's bulk job was recorded before: GET /api/bulk/{id} knows it from the first moment
    bulk = app_ports().jobs.get_bulk_job(instance)
    assert bulk is not None
    assert (bulk.state, bulk.selector) == (BulkState.RUNNING, '{"prefix": "docs/"}')


@pytest.mark.falkordb
@pytest.mark.usefixtures("app_environment")
def test_a_start_durable_refuses_closes_the_record_as_failed() -> None:
    # GIVEN Durable's endpoint unreachable (nothing listens on the port)
    # WHEN the starter gets a valid request THEN the start fails loudly, and the run's record says it failed
    with pytest.raises(Exception, match=r"(?i)connect"):
        call_starter(b'{"operation": "delete", "prefix": "docs/"}', "http://127.0.0.1:9/runtime/webhooks/durabletask/")
    failed = [bulk for bulk in app_ports().jobs.list_bulk_jobs() if bulk.operation == "delete"]
    assert len(failed) == 1
    assert (failed[0].state, failed[0].reason_code) == (BulkState.FAILED, Reason.BULK_ORCHESTRATION_FAILED)


def test_the_starter_refuses_a_bad_request_without_starting_anything(extension: str) -> None:
    # WHEN the registered starter gets a request that selects nothing (no settings needed: nothing is opened)
    response = call_starter(b'{"operation": "delete"}', extension)

    # THEN it answers a 400 problem document and Durable was never asked
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body())["reason_code"] == Reason.BULK_NO_SELECTOR
    assert _Extension.started == []
