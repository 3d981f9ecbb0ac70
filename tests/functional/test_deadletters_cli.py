"""`tributary deadletters` as a user runs it: a real process on the embedded default and its local broker."""

import json
from pathlib import Path

import pytest

from shared.adapters.bus_messages import to_outgoing
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.devhost.broker import LocalBroker, OutgoingMessage
from shared.domain import JobState, Stage
from tests.contract.test_bus import make_envelope
from tests.functional.test_cli import tributary

pytestmark = pytest.mark.falkordb


def test_deadletters_lists_and_replays_with_json_for_scripts(tmp_path: Path):
    # GIVEN a data folder whose graph queue holds two dead letters: one not an envelope, one of a job that succeeded
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "notes.txt").write_text("Ada Lovelace works at Acme Labs in Paris.\n")
    data = tmp_path / "data"
    assert tributary("ingest", drop, data_dir=data).returncode == 0
    with SQLiteJobStore(data / "jobs.sqlite") as store:
        [job] = store.list_jobs()
    assert job.state is JobState.SUCCEEDED
    with LocalBroker(data / "broker.sqlite") as broker:
        late = to_outgoing(make_envelope("late-graph", job_id=job.job_id, stage=Stage.GRAPH))
        broker.send("graph", [OutgoingMessage(body=b"not json", message_id="garbage"), late])
        for message in broker.receive("graph", 2):
            broker.dead_letter(message, "graph.unavailable", "graph batch 0: down")

    # WHEN they are listed as JSON, every stage queue and then the graph queue alone
    every = tributary("deadletters", "-o", "json", data_dir=data)
    graph = tributary("deadletters", "graph", "-o", "json", data_dir=data)

    # THEN it is GET /api/deadletters's answer for each queue
    assert every.returncode == 0, every.stderr
    counted = {summary["queue"]: summary["by_reason"] for summary in json.loads(every.stdout)["queues"]}
    assert counted["graph"] == {"graph.unavailable": 2}
    assert counted["enrich"] == {}
    summary = json.loads(graph.stdout)
    assert (summary["scanned"], summary["by_reason_code"]) == (2, {"graph.unavailable": 2})
    assert {s["message_id"] for s in summary["samples"]} == {"garbage", "late-graph"}

    # WHEN they are replayed THEN neither moves, each with its reason, and the command exits 0
    replayed = tributary("deadletters", "replay", "graph", "--limit", "5", "-o", "json", data_dir=data)
    assert replayed.returncode == 0, replayed.stderr
    report = json.loads(replayed.stdout)
    assert sorted((item["message_id"], item["reason_code"]) for item in report["items"]) == [
        ("garbage", "message.malformed"),
        ("late-graph", "deadletter.job_finished"),
    ]
    assert (report["replayed"], report["skipped"]) == (0, 2)
    table = tributary("deadletters", "replay", "graph", "--dry-run", data_dir=data)
    assert "would replay 0, held 0, skipped 2" in table.stdout

    # AND an unknown queue and a misplaced option are refused with exit code 2
    unknown = tributary("deadletters", "nope", "-o", "json", data_dir=data)
    assert (unknown.returncode, json.loads(unknown.stdout)["reason_code"]) == (2, "deadletter.queue_unknown")
    assert tributary("deadletters", "graph", "--dry-run", data_dir=data).returncode == 2
    assert tributary("deadletters", "replay", data_dir=data).returncode == 2
