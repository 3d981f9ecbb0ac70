"""A bulk reprocess through the local Functions host: duration, peak RSS and whether the progress was right.

    .venv/bin/python perf/bench_bulk.py                      # 2,000 blobs, pages of 500, batches of 16
    .venv/bin/python perf/bench_bulk.py --blobs 200 --page-size 50 --batch-size 8

The Function app runs in the local host (Azurite, the durable broker, SQLite, FalkorDB, LanceDB, and the host's
Durable engine), with its HTTP API served. First the blobs are uploaded and ingested by the blob trigger: that
duration is the reference, what a user pays today to get every file through the pipeline again (re-upload them).
Then `POST /api/bulk` reprocesses them all and the run is followed through `GET /api/bulk/{id}` as a user would;
the clock stops when Durable reports it completed, and again when every reprocess job has succeeded. Peak RSS is
the process's VmHWM (the host runs in this process), reset before the bulk run so it is the run's own peak.
Correct progress: the custom status never goes back, never counts more than it listed, and ends at every blob done;
the summary equals what the job store holds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.app_ports import app_ports
from shared.config import STORAGE_CONNECTION
from shared.devhost.environment import SAMPLE_SETTINGS, app_settings
from shared.devhost.host import APP_SCRIPT, DevHost
from shared.devhost.local_services import local_services
from shared.domain import JobState
from tests.support.devhost import api_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blobs", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as scratch:
        overrides = {
            "TRIBUTARY_DATA_DIR": str(Path(scratch) / "data"),
            "TRIBUTARY_BULK_PAGE_SIZE": str(args.page_size),
            "TRIBUTARY_BULK_BATCH_SIZE": str(args.batch_size),
        }
        sample = APP_SCRIPT.parent / SAMPLE_SETTINGS
        settings = app_settings(APP_SCRIPT.parent, overrides, settings_file=sample)
        with local_services(settings) as resolved, DevHost(APP_SCRIPT, settings=resolved, serve_http=True) as host:
            host.start()
            figures = run(host, args.blobs)
            host.stop()
    figures = {"command": " ".join(["python", *sys.argv])} | figures
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def run(host: DevHost, blobs: int) -> dict[str, Any]:
    store = host.blob_store(STORAGE_CONNECTION)
    for number in range(blobs):
        text = f"Note {number}: Ada Lovelace met Charles Babbage in London; Grace Hopper joined them in {number}.\n"
        store.upload(host.settings.incoming_container, f"notes/{number:05d}.txt", text.encode())
    started = time.perf_counter()
    wait_for_jobs(blobs)
    ingest_seconds = time.perf_counter() - started

    reset_peak_rss()
    rss_before = rss_mb()
    started = time.perf_counter()
    accepted = api_json(host, "POST", "/api/bulk", {"operation": "reprocess", "prefix": "notes/"})
    progress: list[dict[str, Any]] = []
    while True:
        status = api_json(host, "GET", f"/api/bulk/{accepted['id']}")
        if status["progress"]:
            progress.append(status["progress"])
        if (
            status["runtime_status"] in {"Completed", "Failed", "Terminated"}
            and status["summary"]["state"] != "running"
        ):
            break
        time.sleep(0.2)
    orchestration_seconds = time.perf_counter() - started
    wait_for_jobs(2 * blobs)
    pipeline_seconds = time.perf_counter() - started

    summary = status["summary"]
    jobs = app_ports().jobs
    stored = jobs.get_bulk_job(accepted["id"])
    assert stored is not None
    items = list(all_items(accepted["id"]))
    return {
        "blobs": blobs,
        "reference_ingest_by_upload_seconds": round(ingest_seconds, 1),
        "bulk_orchestration_seconds": round(orchestration_seconds, 1),
        "bulk_until_every_job_succeeded_seconds": round(pipeline_seconds, 1),
        "blobs_per_second_orchestrated": round(blobs / orchestration_seconds, 1),
        "rss_mb_before_bulk": rss_before,
        "peak_rss_mb_during_bulk": peak_rss_mb(),
        "runtime_status": status["runtime_status"],
        "progress_samples": len(progress),
        "progress_only_grew": all(
            all(after[k] >= before[k] for k in ("total", "done", "failed", "skipped"))
            and after["done"] + after["failed"] + after["skipped"] <= after["total"]
            for before, after in itertools.pairwise(progress)
        ),
        "final_progress": progress[-1] if progress else None,
        "summary_counts": summary["counts"],
        "summary_equals_job_store": summary["counts"] == stored.counts.model_dump(),
        "items_linked_to_distinct_jobs": len({item.job_id for item in items}) == blobs == len(items),
    }


def all_items(bulk_id: str) -> Any:
    after = None
    while page := app_ports().jobs.list_bulk_items(bulk_id, after=after, limit=500):
        yield from page
        after = page[-1].path


def wait_for_jobs(count: int, timeout: float = 7200) -> None:
    deadline = time.monotonic() + timeout
    while True:
        jobs = app_ports().jobs.list_jobs(limit=count + 10)
        if len(jobs) >= count and all(job.terminal for job in jobs):
            failed = [job for job in jobs if job.state is not JobState.SUCCEEDED]
            assert not failed, failed[:3]
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(jobs)} jobs after {timeout} s")
        time.sleep(0.5)


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux: writing 5 to clear_refs), so the next reading is this phase's peak."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return round(int(status.split(f"{field}:")[1].split()[0]) / 1024, 1)


if __name__ == "__main__":
    main()
