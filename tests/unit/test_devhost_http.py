"""The local host's HTTP front end, driven through real HTTP against a tiny fixture app."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.devhost.app_loader import FunctionSpec, LoadedApp, load_app
from shared.devhost.http_server import (
    FUNCTION_KEY_ENV,
    KEYS_FILE,
    MASTER_KEY_ENV,
    HostKeys,
    HostRequest,
    HostResponse,
    HttpServer,
    KeyFileError,
    RouteTemplateError,
    is_authorized,
    load_or_create_keys,
)

FIXTURE_APP = Path(__file__).parents[1] / "fixtures" / "apps" / "http_app" / "http_function_app.py"
KEYS = HostKeys(master="master-key", function="function-key")
BODY_CAP = 1024


def invoke(spec: FunctionSpec, inputs: dict[str, Any]) -> Any:
    return spec.user_function(**inputs)


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(
    server: HttpServer,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    chunks: list[bytes] | None = None,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        if chunks is not None:
            connection.request(method, path, body=iter(chunks), headers=dict(headers or {}), encode_chunked=True)
        else:
            connection.request(method, path, body=body, headers=dict(headers or {}))
        return Reply(connection.getresponse())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def app() -> LoadedApp:
    return load_app(FIXTURE_APP)


@pytest.fixture(scope="module")
def server(app: LoadedApp) -> Iterator[HttpServer]:
    with HttpServer(app.functions, invoke, KEYS, max_body_bytes=BODY_CAP) as running:
        yield running


@pytest.fixture(scope="module")
def lenient(app: LoadedApp) -> Iterator[HttpServer]:
    with HttpServer(app.functions, invoke, KEYS, lenient_returns=True) as running:
        yield running


# ------------------------------------------------------------------------------------------------------ routing


def test_anonymous_route_answers_without_a_key(server: HttpServer) -> None:
    reply = call(server, "GET", "/api/ping")

    assert reply.status == 200
    assert reply.text == "pong"
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_literals_match_case_insensitively_and_a_trailing_slash_is_ignored(server: HttpServer) -> None:
    assert call(server, "GET", "/API/Ping").status == 200
    assert call(server, "GET", "/api/ping/").status == 200


def test_route_parameters_reach_the_function_as_strings(server: HttpServer) -> None:
    reply = call(server, "GET", "/api/items/42", headers={"x-functions-key": KEYS.function})

    assert reply.status == 200
    assert json.loads(reply.body) == {"id": "42", "method": "GET"}
    assert reply.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("value", ["abc", "4.2", "99999999999", "9" * 4000, "%D9%A3"])  # 32-bit, ASCII digits (not ٣)
def test_a_failed_int_constraint_is_a_404(server: HttpServer, value: str) -> None:
    assert call(server, "GET", f"/api/items/{value}", headers={"x-functions-key": KEYS.master}).status == 404


def test_guid_alpha_and_min_constraints(server: HttpServer) -> None:
    guid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

    ok = call(server, "GET", f"/api/orders/{guid}/lines/3")

    assert json.loads(ok.body) == {"oid": guid, "line": "3"}
    assert call(server, "GET", "/api/orders/not-a-guid/lines/3").status == 404
    assert call(server, "GET", f"/api/orders/{guid}/lines/0").status == 404  # min(1)
    assert call(server, "GET", "/api/tags/Blue").text == "Blue"
    assert call(server, "GET", "/api/tags/blue2").status == 404


def test_catch_all_takes_the_rest_of_the_path_and_may_be_empty(server: HttpServer) -> None:
    assert json.loads(call(server, "GET", "/api/files/a/b/c%20d.txt").body) == {"path": "a/b/c d.txt"}
    assert json.loads(call(server, "GET", "/api/files").body) == {"path": None}


def test_optional_parameter(server: HttpServer) -> None:
    assert call(server, "GET", "/api/greet").text == "hello world"
    assert call(server, "GET", "/api/greet/Ann").text == "hello Ann"
    assert call(server, "GET", "/api/greet/Ann/more").status == 404


def test_a_literal_segment_wins_over_a_parameter_whatever_the_registration_order(server: HttpServer) -> None:
    assert call(server, "GET", "/api/things/special").text == "literal"
    assert call(server, "GET", "/api/things/other").text == "param other"


def route_spec(name: str, route: str) -> FunctionSpec:
    binding = {"direction": "IN", "type": "httpTrigger", "name": "req", "authLevel": "ANONYMOUS", "route": route}
    return FunctionSpec(name=name, bindings=(binding,), user_function=lambda req: json.dumps(dict(req.route_params)))


TEMPLATES = [
    route_spec("file", "files/{name}.{ext?}"),
    route_spec("version", "v{version:int}/info"),
    route_spec("page", "pages/{number:int=1}"),
    route_spec("code", "codes/{code:regex(^[a-z]{{3}}$)}"),
    route_spec("ranged", "ranged/{n:range(1,5)}"),
    route_spec("raw", "raw/{value}"),
]


@pytest.fixture(scope="module")
def templates() -> Iterator[HttpServer]:
    with HttpServer(TEMPLATES, invoke, KEYS) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/files/a.b.md", {"name": "a.b", "ext": "md"}),  # a literal is found from the right, as ASP.NET does
        ("/api/files/readme", {"name": "readme"}),
        ("/api/V2/info", {"version": "2"}),
        ("/api/vx/info", None),
        ("/api/pages", {"number": "1"}),  # the default fills an absent parameter
        ("/api/pages/x", None),
        ("/api/codes/abc", {"code": "abc"}),
        ("/api/codes/abcd", None),
        ("/api/ranged/5", {"n": "5"}),
        ("/api/ranged/6", None),
        ("/api/raw/a%2Fb", {"value": "a/b"}),  # an encoded slash stays inside its segment
    ],
)
def test_route_template_features(templates: HttpServer, path: str, expected: dict[str, str] | None) -> None:
    reply = call(templates, "GET", path)

    if expected is None:
        assert reply.status == 404
    else:
        assert (reply.status, json.loads(reply.body)) == (200, expected)


def test_a_function_without_a_route_is_served_at_its_name(server: HttpServer) -> None:
    assert call(server, "GET", "/api/noroute").text == "served at my name"


def test_a_binding_without_route_uses_the_function_name() -> None:
    # GIVEN a binding as function.json-style apps give it: no route, no methods
    spec = FunctionSpec(
        name="Bare",
        bindings=({"direction": "IN", "type": "httpTrigger", "name": "request", "authLevel": "anonymous"},),
        user_function=lambda request: f"{request.method} bare",
    )
    # WHEN served; THEN any method reaches it at its name, and the trigger's own parameter name is used
    with HttpServer([spec], invoke, KEYS) as server:
        assert call(server, "PATCH", "/api/Bare").text == "PATCH bare"


def test_unknown_paths_and_the_missing_prefix_are_404_with_an_empty_body(server: HttpServer) -> None:
    for path in ("/api/nope", "/ping", "/", "/api"):
        reply = call(server, "GET", path)
        assert (reply.status, reply.body) == (404, b"")


def test_route_prefix_is_configurable(app: LoadedApp) -> None:
    with HttpServer(app.functions, invoke, KEYS, route_prefix="") as server:
        assert call(server, "GET", "/ping").text == "pong"
        assert call(server, "GET", "/api/ping").status == 404


def test_non_http_functions_are_ignored() -> None:
    spec = FunctionSpec(
        name="timer",
        bindings=({"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 * * * * *"},),
        user_function=lambda timer: None,
    )
    with HttpServer([spec], invoke, KEYS) as server:
        assert call(server, "GET", "/api/timer").status == 404


def test_an_invalid_route_template_is_refused_up_front() -> None:
    spec = FunctionSpec(
        name="bad",
        bindings=({"direction": "IN", "type": "httpTrigger", "name": "req", "route": "x/{*rest}/y"},),
        user_function=lambda req: "",
    )
    with pytest.raises(RouteTemplateError, match=r"devhost\.route_invalid"):
        HttpServer([spec], invoke, KEYS)


# ------------------------------------------------------------------------------------------------------ methods


def test_a_method_outside_the_binding_list_is_a_404_as_the_host_answers(server: HttpServer) -> None:
    key = {"x-functions-key": KEYS.master}

    assert call(server, "DELETE", "/api/items/7", headers=key).status == 200
    assert call(server, "POST", "/api/items/7", headers=key).status == 404
    assert call(server, "HEAD", "/api/ping").status == 404  # GET does not imply HEAD on the host


def test_no_methods_list_means_every_method(server: HttpServer) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        assert call(server, method, "/api/files/x").status == 200


# --------------------------------------------------------------------------------------------------------- auth


def test_function_level_refuses_a_missing_or_wrong_key_with_an_empty_401(server: HttpServer) -> None:
    for headers in ({}, {"x-functions-key": "wrong"}, {"x-functions-key": ""}):
        reply = call(server, "GET", "/api/items/1", headers=headers)
        assert (reply.status, reply.body) == (401, b"")
    assert call(server, "GET", "/api/items/1?code=wrong").status == 401


def test_function_level_accepts_the_function_or_master_key_by_header_or_code(server: HttpServer) -> None:
    assert call(server, "GET", "/api/items/1", headers={"X-Functions-Key": KEYS.function}).status == 200
    assert call(server, "GET", f"/api/items/1?code={KEYS.function}").status == 200
    assert call(server, "GET", f"/api/items/1?code={KEYS.master}").status == 200


def test_the_header_takes_precedence_over_the_code_parameter(server: HttpServer) -> None:
    reply = call(server, "GET", f"/api/items/1?code={KEYS.master}", headers={"x-functions-key": "wrong"})

    assert reply.status == 401


def test_admin_level_needs_the_master_key(server: HttpServer) -> None:
    assert call(server, "GET", "/api/admin-only", headers={"x-functions-key": KEYS.function}).status == 401
    assert call(server, "GET", "/api/admin-only").status == 401
    assert call(server, "GET", "/api/admin-only", headers={"x-functions-key": KEYS.master}).text == "admin ok"


def test_is_authorized_levels_are_case_insensitive_and_unknown_levels_need_the_master_key() -> None:
    assert is_authorized("anonymous", None, KEYS)
    assert is_authorized("function", KEYS.function, KEYS)
    assert not is_authorized("Admin", KEYS.function, KEYS)
    assert not is_authorized("system", KEYS.function, KEYS)
    assert is_authorized("system", KEYS.master, KEYS)
    assert not is_authorized("function", "ключ", KEYS)  # a non-ASCII key is refused, not a crash


# -------------------------------------------------------------------------------------------------- the request


def test_the_request_carries_query_headers_url_and_body(server: HttpServer) -> None:
    reply = call(server, "POST", "/api/echo?a=1&a=2&empty=", body=b"payload", headers={"X-Probe": "yes"})

    assert reply.status == 201
    assert reply.body == b"payload"
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["Set-Cookie"] == "a=1"
    seen = json.loads(reply.headers["X-Seen"])
    assert seen["params"] == {"a": "1,2", "empty": ""}  # repeated names joined as the host does
    assert seen["header"] == "yes"
    assert seen["url"] == f"{server.base_url}/api/echo?a=1&a=2&empty="
    assert seen["length"] == len(b"payload")


def test_a_chunked_body_is_read(server: HttpServer) -> None:
    reply = call(server, "POST", "/api/echo", chunks=[b"ab", b"cd"])

    assert (reply.status, reply.body) == (201, b"abcd")


def test_a_body_over_the_cap_is_413(server: HttpServer) -> None:
    assert call(server, "POST", "/api/echo", body=b"x" * BODY_CAP).status == 201
    assert call(server, "POST", "/api/echo", body=b"x" * (BODY_CAP + 1)).status == 413
    assert call(server, "POST", "/api/echo", chunks=[b"x" * 600, b"x" * 600]).status == 413


def test_a_url_over_4_kb_is_414_before_the_function_runs(server: HttpServer) -> None:
    # GIVEN URLs of exactly 4,096 bytes and of one byte more (the HTTP trigger's documented limit)
    base = "/api/echo?a="
    at_limit = base + "x" * (4096 - len(base))

    # THEN the first reaches the function and the second is refused by the host
    assert call(server, "POST", at_limit).status == 201
    assert call(server, "POST", at_limit + "x").status == 414


def test_an_announced_oversized_body_is_refused_before_it_is_sent(server: HttpServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\nExpect: 100-continue\r\n\r\n")
        head = raw.recv(4096)

    assert head.startswith(b"HTTP/1.1 413")


# ------------------------------------------------------------------------------------------------- the response


def test_an_exception_is_a_500_without_the_message_and_the_stack_is_logged(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.devhost.http_server"):
        reply = call(server, "GET", "/api/boom")

    assert (reply.status, reply.body) == (500, b"")
    failure = next(record for record in caplog.records if "Functions.boom" in record.getMessage())
    assert failure.exc_info is not None
    assert "secret-detail-42" in str(failure.exc_info[1])


@pytest.mark.parametrize("path", ["/api/as-dict", "/api/as-list", "/api/as-bytes", "/api/as-none"])
def test_returns_the_worker_cannot_encode_are_500_as_in_azure(
    server: HttpServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.devhost.http_server"):
        reply = call(server, "GET", path)

    assert (reply.status, reply.body) == (500, b"")
    failures = [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    assert any("unable to encode outgoing TypedData" in failure for failure in failures)


def test_lenient_returns_convert_dict_list_bytes_and_none(lenient: HttpServer) -> None:
    as_dict = call(lenient, "GET", "/api/as-dict")
    as_list = call(lenient, "GET", "/api/as-list")
    as_bytes = call(lenient, "GET", "/api/as-bytes")
    as_none = call(lenient, "GET", "/api/as-none")

    assert (as_dict.status, json.loads(as_dict.body)) == (200, {"ok": True})
    assert as_dict.headers["Content-Type"].startswith("application/json")
    assert json.loads(as_list.body) == [1, 2]
    assert (as_bytes.status, as_bytes.body) == (200, b"\x00\x01")
    assert as_bytes.headers["Content-Type"] == "application/octet-stream"
    assert (as_none.status, as_none.body) == (204, b"")


def test_an_async_function_is_awaited(server: HttpServer) -> None:
    assert call(server, "GET", "/api/async").text == "awaited"


# ------------------------------------------------------------------------------------------ host-owned handlers


def test_host_handlers_serve_their_prefix_before_function_routes(app: LoadedApp) -> None:
    seen: list[HostRequest] = []

    def status(request: HostRequest) -> HostResponse:
        seen.append(request)
        if not is_authorized("ADMIN", request.key, KEYS):
            return HostResponse(401)
        return HostResponse.json(200, {"state": "Running"})

    with HttpServer(app.functions, invoke, KEYS) as server:
        server.add_handler("/admin", lambda request: HostResponse(404))
        server.add_handler("/admin/host/status/", status)
        server.add_handler("/api/ping", lambda request: HostResponse(200, {"X-Host": "1"}, b"host"))

        ok = call(server, "POST", "/Admin/Host/Status?code=master-key&x=1", body=b"{}", headers={"X-A": "b"})
        refused = call(server, "GET", "/admin/host/status")
        other = call(server, "GET", "/admin/other")
        shadowed = call(server, "GET", "/api/ping")

    assert (ok.status, json.loads(ok.body)) == (200, {"state": "Running"})
    assert (seen[0].method, seen[0].path, seen[0].body) == ("POST", "/Admin/Host/Status", b"{}")
    assert seen[0].query == {"code": "master-key", "x": "1"}
    assert seen[0].headers["x-a"] == "b"
    assert refused.status == 401
    assert other.status == 404
    assert (shadowed.text, shadowed.headers["X-Host"]) == ("host", "1")


def test_a_failing_host_handler_is_a_500(app: LoadedApp) -> None:
    def broken(request: HostRequest) -> HostResponse:
        raise ValueError("nope")

    with HttpServer(app.functions, invoke, KEYS) as server:
        server.add_handler("/runtime", broken)
        assert call(server, "GET", "/runtime/webhooks/x").status == 500


# -------------------------------------------------------------------------------------------------- lifecycle


def test_base_url_port_and_stop(app: LoadedApp) -> None:
    server = HttpServer(app.functions, invoke, KEYS).start()
    port = server.port
    try:
        assert server.base_url == f"http://127.0.0.1:{port}"
        assert server.url_for("items") == f"{server.base_url}/api/items/{{id:int}}"
    finally:
        server.stop()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        connection.request("GET", "/api/ping")


def test_keep_alive_connections_survive_refusals_and_are_closed_on_stop(app: LoadedApp) -> None:
    server = HttpServer(app.functions, invoke, KEYS, max_body_bytes=BODY_CAP).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        # GIVEN one connection, WHEN a refused request with a body is followed by others, THEN each gets its answer
        statuses = []
        for method, path, body in [
            ("POST", "/api/items/1", b"{}"),
            ("POST", "/api/echo", b"ab"),
            ("GET", "/api/ping", None),
        ]:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        assert statuses == [404, 201, 200]
    finally:
        server.stop()
    # AND the idle keep-alive connection is closed by stop rather than left to be served
    assert connection.sock is not None
    assert connection.sock.recv(1) == b""
    connection.close()


# ------------------------------------------------------------------------------------------------------- keys


def test_keys_are_generated_once_persisted_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_keys(tmp_path / "data", {})
    second = load_or_create_keys(tmp_path / "data", {})

    key_file = tmp_path / "data" / KEYS_FILE
    assert first == second
    assert first.master != first.function
    assert len(first.master) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert json.loads(key_file.read_text()) == {"master": first.master, "function": first.function}


def test_keys_from_the_environment_take_precedence(tmp_path: Path) -> None:
    stored = load_or_create_keys(tmp_path, {})

    both = load_or_create_keys(tmp_path, {MASTER_KEY_ENV: "m", FUNCTION_KEY_ENV: "f"})
    only_master = load_or_create_keys(tmp_path, {MASTER_KEY_ENV: "m", FUNCTION_KEY_ENV: ""})

    assert both == HostKeys(master="m", function="f")
    assert only_master == HostKeys(master="m", function=stored.function)


def test_environment_keys_alone_write_no_file(tmp_path: Path) -> None:
    load_or_create_keys(tmp_path, {MASTER_KEY_ENV: "m", FUNCTION_KEY_ENV: "f"})

    assert not (tmp_path / KEYS_FILE).exists()


def test_keys_do_not_show_in_repr() -> None:
    assert "master-key" not in repr(KEYS)


def test_an_unusable_key_file_is_a_searchable_error(tmp_path: Path) -> None:
    (tmp_path / KEYS_FILE).write_text('{"master": ""}')

    with pytest.raises(KeyFileError, match=r"devhost\.keys_unreadable"):
        load_or_create_keys(tmp_path, {})
