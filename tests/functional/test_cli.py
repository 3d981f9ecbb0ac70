"""`tributary ingest` and `tributary status` as a user runs them: a real process on the embedded default."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.adapters.sqlite_jobstore import SQLiteJobStore
from tests.support.pipeline import SAMPLES

pytestmark = pytest.mark.falkordb


def tributary(*args: str | Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "shared.cli", *map(str, args), "--data-dir", str(data_dir)]
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)


def store_counts(output: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"(\w+) \(in store\)\s*│\s*(\d+)", output)}


def test_ingest_samples_twice_then_status(tmp_path: Path):
    # GIVEN a fresh data directory WHEN the samples are ingested
    first = tributary("ingest", SAMPLES, data_dir=tmp_path)
    # THEN every file succeeds and the graph holds entities and relations
    assert first.returncode == 0, first.stdout + first.stderr
    counts = store_counts(first.stdout)
    assert counts["entities"] > 0
    assert counts["relations"] > 0
    assert counts["vectors"] == counts["chunks"] > 0
    files = len([p for p in SAMPLES.rglob("*") if p.is_file()])
    assert f"succeeded: {files}" in first.stdout

    # WHEN they are ingested again THEN all are skipped as unchanged and the stores hold the same counts
    second = tributary("ingest", SAMPLES, data_dir=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"skipped: {files}" in second.stdout
    assert store_counts(second.stdout) == counts

    # AND status lists the jobs of both runs
    status = tributary("status", "--limit", "100", data_dir=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("succeeded") == files
    assert status.stdout.count("skipped") == files


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
