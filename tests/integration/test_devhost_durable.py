"""The local host runs Durable Functions orchestrations: a DFApp's HTTP starter, orchestrators and activities,
through the SDK's own client (RPC endpoint) and replay entry point (`handle`), with the history in the host's store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shared.devhost.durable.engine import STORE_FILE
from shared.devhost.durable.store import DurableStore
from shared.devhost.host import DevHost

pytestmark = pytest.mark.timeout(180)

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "durable_app" / "durable_function_app.py"
TERMINAL = {"Completed", "Failed", "Terminated"}


@pytest.fixture
def host(host_settings: dict[str, str]):
    with DevHost(APP, settings=host_settings, serve_http=True) as opened:
        opened.start()
        yield opened


def app_module() -> Any:
    return __import__(APP.stem)


def request(method: str, url: str, body: object = None, key: str | None = None) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("x-functions-key", key)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def start(host: DevHost, name: str, body: object = None) -> dict[str, str]:
    assert host.http is not None
    status, headers, payload = request(
        "POST", f"{host.http.base_url}/api/orchestrators/{name}", body, host.http.keys.function
    )
    assert status == 202, payload
    assert headers["Location"] == payload["statusQueryGetUri"]
    return payload


def wait_for(urls: dict[str, str], timeout: float = 60, until: set[str] = TERMINAL) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, _, payload = request("GET", urls["statusQueryGetUri"])
        assert status in (200, 202), payload
        if payload["runtimeStatus"] in until:
            return payload
        assert time.monotonic() < deadline, f"still {payload['runtimeStatus']} after {timeout} s: {payload}"
        time.sleep(0.05)


def history(urls: dict[str, str]) -> list[dict[str, Any]]:
    _, _, payload = request("GET", urls["statusQueryGetUri"] + "&showHistory=true")
    return payload["historyEvents"]


def test_an_http_start_answers_202_with_status_urls_and_the_orchestration_completes(host: DevHost) -> None:
    # GIVEN the app's HTTP starter (a durableClient binding)
    # WHEN a sequence of three activities is started over HTTP
    urls = start(host, "sequence")
    # THEN the 202 carries the management URLs of the instance, behind the system key
    assert urls["id"] in urls["statusQueryGetUri"]
    assert "/runtime/webhooks/durabletask/instances/" in urls["statusQueryGetUri"]
    unkeyed = urls["statusQueryGetUri"].split("?")[0]
    assert request("GET", unkeyed)[0] == 401
    # AND polling it ends Completed with the activities' results in order
    final = wait_for(urls)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    # AND the history is the host-style one: each task scheduled and completed once, by sequence number
    events = history(urls)
    assert [e["EventType"] for e in events[:2]] == ["ORCHESTRATOR_STARTED", "EXECUTION_STARTED"]
    assert [e["EventId"] for e in events if e["EventType"] == "TASK_SCHEDULED"] == [0, 1, 2]
    assert [e["TaskScheduledId"] for e in events if e["EventType"] == "TASK_COMPLETED"] == [0, 1, 2]
    assert events[-1]["EventType"] == "EXECUTION_COMPLETED"


def test_a_fan_out_of_fifty_activities_completes_in_a_few_episodes(host: DevHost) -> None:
    # WHEN 50 activities are fanned out with task_all
    urls = start(host, "fan_out", {"count": 50})
    final = wait_for(urls)
    # THEN the sum of their results comes back
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == sum(n * n for n in range(50))
    # AND the completions were replayed in batches, not one episode per activity (the count depends on the
    # machine's speed: an episode waits up to the batch window while activities are still running)
    episodes = sum(1 for e in history(urls) if e["EventType"] == "ORCHESTRATOR_STARTED")
    assert episodes < 25, episodes


def test_task_any_returns_the_first_task_to_finish(host: DevHost) -> None:
    final = wait_for(start(host, "first_of"))
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == "fast"


def test_sub_orchestrations_run_and_return_their_output(host: DevHost) -> None:
    urls = start(host, "parent")
    final = wait_for(urls)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"first": ["Hello a!", "Hello b!"], "second": 14}
    # AND the child with a fixed instance id is an instance of its own
    child = dict(urls, statusQueryGetUri=urls["statusQueryGetUri"].replace(urls["id"], "fixed-child-id"))
    assert wait_for(child)["output"] == 14


def test_an_activity_failing_twice_succeeds_on_the_third_attempt_with_retry_options(host: DevHost) -> None:
    # GIVEN an activity that fails its first two attempts, called with RetryOptions(200 ms, 3 attempts)
    urls = start(host, "with_retry", {"key": "retry-1", "failures": 2})
    final = wait_for(urls)
    # THEN the third attempt's result is the output
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == "succeeded on attempt 3"
    # AND the history shows attempt, timer, attempt, timer, attempt, as the Durable Task Framework writes it
    kinds = [e["EventType"] for e in history(urls) if e["EventType"] in {"TASK_SCHEDULED", "TIMER_CREATED"}]
    assert kinds == ["TASK_SCHEDULED", "TIMER_CREATED", "TASK_SCHEDULED", "TIMER_CREATED", "TASK_SCHEDULED"]


def test_retries_exhausted_fail_the_task_which_the_orchestrator_can_catch(host: DevHost) -> None:
    final = wait_for(start(host, "retry_exhausted"))
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == "gave up: True"


def test_a_durable_timer_fires_after_its_time(host: DevHost) -> None:
    final = wait_for(start(host, "timer"))
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] >= 1.0


def test_continue_as_new_runs_three_generations_with_a_fresh_history(host: DevHost) -> None:
    urls = start(host, "generations", {"generation": 1, "seen": []})
    final = wait_for(urls)
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == ["Hello generation 1!", "Hello generation 2!", "Hello generation 3!"]
    # AND the history is that of the last generation only
    scheduled = [e for e in history(urls) if e["EventType"] == "TASK_SCHEDULED"]
    assert [json.loads(e["Input"]) for e in scheduled] == ["generation 3"]


def test_custom_status_is_visible_mid_run_and_an_external_event_resumes_it(host: DevHost) -> None:
    assert host.http is not None
    urls = start(host, "progress")
    # WHEN the orchestrator waits for its "go" event
    waiting = wait_for(urls, until={"Running"})
    deadline = time.monotonic() + 30
    while waiting["customStatus"] != {"stage": "waiting", "done": 1}:
        assert time.monotonic() < deadline, waiting
        time.sleep(0.05)
        waiting = wait_for(urls, until={"Running"})
    # THEN the client sees the same custom status through the RPC endpoint
    base = f"{host.http.base_url}/api/instances/{urls['id']}"
    _, _, seen = request("GET", f"{base}/status", key=host.http.keys.function)
    assert seen == {"runtimeStatus": "Running", "customStatus": {"stage": "waiting", "done": 1}, "output": None}
    # AND raising the event through the client completes it with the event's data
    assert request("POST", f"{base}/raise?event=go", {"answer": 42}, host.http.keys.function)[0] == 202
    final = wait_for(urls)
    assert final["output"] == {"answer": 42}
    assert final["customStatus"] == {"stage": "finished", "done": 2}


def test_terminate_stops_an_orchestration_with_its_reason_and_purge_deletes_it(host: DevHost) -> None:
    assert host.http is not None
    urls = start(host, "forever")
    wait_for(urls, until={"Running"})
    base = f"{host.http.base_url}/api/instances/{urls['id']}"
    # WHEN the client terminates it
    assert request("POST", f"{base}/terminate?reason=operator%20said%20stop", key=host.http.keys.function)[0] == 202
    # THEN it is Terminated with the reason as its output, and the history records it
    final = wait_for(urls)
    assert final["runtimeStatus"] == "Terminated"
    assert final["output"] == "operator said stop"
    assert history(urls)[-1]["EventType"] == "EXECUTION_TERMINATED"
    # AND terminating it again through the management URL answers 410 Gone
    terminate = urls["terminatePostUri"].replace("{text}", "again")
    assert request("POST", terminate)[0] == 410
    # WHEN the client purges it
    _, _, purged = request("POST", f"{base}/purge", key=host.http.keys.function)
    # THEN it is gone
    assert purged == {"instancesDeleted": 1}
    assert request("GET", urls["statusQueryGetUri"])[0] == 404
    # AND the client's get_status answers an empty (falsy) status, as for an instance that never existed
    _, _, after = request("GET", f"{base}/status", key=host.http.keys.function)
    assert after == {"runtimeStatus": None, "customStatus": None, "output": None}


def test_a_host_restarted_mid_orchestration_resumes_it_and_records_each_result_once(
    host_settings: dict[str, str],
) -> None:
    module_calls = None
    spec = {"batches": 6, "size": 5, "seconds": 0.2}
    # GIVEN an orchestration of six batches of five slow activities, and a host stopped after two batches
    with DevHost(APP, settings=host_settings, serve_http=True) as first:
        first.start()
        urls = start(first, "batches", spec)
        wait_until_custom(urls, lambda status: (status or {}).get("batches_done", 0) >= 2)
    module_calls = app_module().CALLS
    ran_before = {key for key in module_calls if key.startswith("slow_square:")}
    assert len(ran_before) < 30
    # WHEN a new host starts on the same data directory
    with DevHost(APP, settings=host_settings, serve_http=True) as second:
        second.start()
        assert second.http is not None
        urls = {key: _rebase(value, second.http.base_url) for key, value in urls.items()}
        final = wait_for(urls, timeout=120)
        events = history(urls)
    # THEN it completes with every activity's result
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == sum(n * n for n in range(30))
    # AND each task was scheduled once and completed once (a run cut short by the stop may have run twice)
    scheduled = Counter(e["EventId"] for e in events if e["EventType"] == "TASK_SCHEDULED")
    completed = Counter(e["TaskScheduledId"] for e in events if e["EventType"] == "TASK_COMPLETED")
    assert len(scheduled) == 30
    assert set(scheduled.values()) == {1}
    assert completed == scheduled


def wait_until_custom(urls: dict[str, str], predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate(wait_for(urls, until={"Running", *TERMINAL})["customStatus"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _rebase(url: str, base: str) -> str:
    if not url.startswith("http"):
        return url
    _, _, rest = url.partition("://")
    return base + "/" + rest.partition("/")[2]


def test_an_orchestrator_that_changes_its_actions_on_replay_fails_as_non_deterministic(host: DevHost) -> None:
    module = app_module()
    module.CHANGED_CODE["on"] = False
    urls = start(host, "drifting")
    # GIVEN an instance that scheduled `hello` and now waits for an event
    deadline = time.monotonic() + 30
    while not any(e["EventType"] == "TASK_COMPLETED" for e in history(urls)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # WHEN the code changes to schedule another activity there, and the next episode replays the history
    module.CHANGED_CODE["on"] = True
    try:
        event_url = urls["sendEventPostUri"].replace("{eventName}", "go")
        assert request("POST", event_url, "now")[0] == 202
        final = wait_for(urls)
    finally:
        module.CHANGED_CODE["on"] = False
    # THEN the instance fails with the Durable Task Framework's non-determinism error
    assert final["runtimeStatus"] == "Failed"
    assert "Non-Deterministic workflow detected" in final["output"]
    assert "name 'hello'" in final["output"]


def test_an_unknown_activity_fails_the_orchestration_naming_the_known_ones(host: DevHost) -> None:
    final = wait_for(start(host, "calls_unknown"))
    assert final["runtimeStatus"] == "Failed"
    assert "The function 'no_such_activity' doesn't exist" in final["output"]
    assert "'hello'" in final["output"]


def test_an_activity_output_that_is_not_json_fails_its_task(host: DevHost) -> None:
    final = wait_for(start(host, "bad_output"))
    assert final["runtimeStatus"] == "Failed"
    assert "activity trigger output must be json serializable" in final["output"]


def test_starting_an_unknown_orchestrator_is_refused_by_the_client(host: DevHost) -> None:
    assert host.http is not None
    status, _, _ = request("POST", f"{host.http.base_url}/api/orchestrators/nope", None, host.http.keys.function)
    assert status == 500  # the starter's client.start_new raised the extension's message


_HOST_PROCESS = """
import json, sys
from pathlib import Path
from shared.devhost.host import DevHost
with DevHost(Path(sys.argv[1]), settings=json.loads(sys.argv[2])) as host:
    host.run_until_idle(timeout=120)
"""


def test_a_host_killed_mid_orchestration_resumes_it_and_reruns_only_what_had_not_completed(
    host_settings: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN an orchestration of six batches of five slow activities, each finished run written to a ledger
    ledger = tmp_path / "ledger.txt"
    store_path = Path(host_settings["TRIBUTARY_DATA_DIR"]) / STORE_FILE
    with DurableStore(store_path) as store:
        spec = {"batches": 6, "size": 5, "seconds": 0.3, "ledger": str(ledger)}
        store.start("crash-1", "batches", json.dumps(spec))
    # WHEN a host in its own process is killed (SIGKILL) once two batches are done
    process = subprocess.Popen(
        [sys.executable, "-c", _HOST_PROCESS, str(APP), json.dumps(host_settings)],
        env={**os.environ, **host_settings},
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    try:
        with DurableStore(store_path) as watcher:
            deadline = time.monotonic() + 120
            while _batches_done(watcher, "crash-1") < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    runs_before = ledger.read_text().split()
    # AND a new host starts on the same data directory
    with DevHost(APP, settings=host_settings) as host:
        host.run_until_idle(timeout=120)
        assert host.durable is not None
        instance = host.durable.engine.store.get("crash-1")
        events = host.durable.engine.store.history("crash-1")
    # THEN the orchestration completes with every result
    assert instance is not None
    assert instance.status == "Completed", instance.output
    assert json.loads(instance.output or "null") == sum(n * n for n in range(30))
    # AND the history holds each task once, scheduled and completed, although some activities ran twice
    scheduled = Counter(e["EventId"] for e in events if e["EventType"] == 4)
    completed = Counter(e["TaskScheduledId"] for e in events if e["EventType"] == 5)
    assert sorted(scheduled) == list(range(30))
    assert completed == scheduled
    runs = Counter(ledger.read_text().split())
    assert set(runs) == {str(n) for n in range(30)}
    assert len(runs_before) < 30


def _batches_done(store: DurableStore, instance_id: str) -> int:
    instance = store.get(instance_id)
    return 0 if instance is None else int(json.loads(instance.custom_status or "{}").get("batches_done", 0))
