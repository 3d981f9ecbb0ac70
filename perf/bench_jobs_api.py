"""GET /api/jobs and /api/stats on a SQLite job store of many jobs: the time of a page near the start and deep in the
listing by keyset (what the API does) beside the same page by OFFSET (the reference an offset API would run), and the
time of the stats' three windows.

    .venv/bin/python perf/bench_jobs_api.py --jobs 200000 --page 100
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.api_jobs import JobsQuery, decode_cursor, encode_cursor, jobs_page
from shared.api_stats import stats

STATES = ("succeeded",) * 8 + ("failed", "skipped")
FORMATS = ("pdf", "csv", "txt", "docx", "json")
REASONS = ("parse.pdf.encrypted", "validate.refused_type", "limits.file_too_large")


def fill(path: Path, jobs: int) -> None:
    """`jobs` rows written straight into the migrated schema (the benchmark measures reads, not inserts)."""
    random.seed(7)
    start = datetime.now(UTC) - timedelta(days=30)
    rows = []
    for n in range(jobs):
        state = random.choice(STATES)
        created = (start + timedelta(seconds=30 * 86400 * n / jobs)).isoformat(timespec="microseconds")
        rows.append(
            (
                f"{n:012x}",
                f"doc-{n % (jobs // 2 or 1)}",
                f"incoming/folder{n % 50}/file{n}.{random.choice(FORMATS)}",
                f"v{n}",
                state,
                random.choice(REASONS) if state == "failed" else None,
                "t",
                random.randint(1, 1 << 20),
                random.randint(0, 50),
                created,
                created,
            )
        )
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO jobs (job_id, document_id, path, version, state, reason_code, tracking_id, size, total_chunks,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def best_ms(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best, median) wall time of `run` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-api-") as folder:
        path = Path(folder) / "jobs.sqlite"
        store = SQLiteJobStore(path)
        store.migrate()
        started = time.perf_counter()
        fill(path, args.jobs)
        print(f"{args.jobs} jobs written in {time.perf_counter() - started:.1f} s")
        query = JobsQuery(limit=args.page)
        raw = sqlite3.connect(path)

        def offset_page(offset: int) -> list[object]:
            sql = "SELECT * FROM jobs ORDER BY created_at DESC, job_id DESC LIMIT ? OFFSET ?"
            return raw.execute(sql, (args.page, offset)).fetchall()

        print(f"| page of {args.page} at | keyset (API) best / median ms | OFFSET (reference) best / median ms |")
        print("|---|---|---|")
        for depth in (0, args.jobs // 2, args.jobs - args.page):
            ordered = raw.execute(
                "SELECT created_at, job_id FROM jobs ORDER BY created_at DESC, job_id DESC LIMIT 1 OFFSET ?",
                (max(depth - 1, 0),),
            ).fetchone()
            after = None
            if depth:
                anchor = store.get_job(ordered[1])
                assert anchor is not None
                after = decode_cursor(encode_cursor(anchor))
            keyset = best_ms(lambda after=after: jobs_page(store, query, after), args.repeat)
            offset = best_ms(lambda depth=depth: offset_page(depth), args.repeat)
            print(f"| {depth} | {keyset[0]:.1f} / {keyset[1]:.1f} | {offset[0]:.1f} / {offset[1]:.1f} |")
        failed = JobsQuery(limit=args.page, state="failed", reason=REASONS[0])
        filtered_ms = best_ms(lambda: jobs_page(store, failed, None), args.repeat)[0]
        print(f"filtered page (state+reason, first page): {filtered_ms:.1f} ms")
        prefixed = JobsQuery(limit=args.page, prefix="incoming/folder7/")
        prefixed_ms = best_ms(lambda: jobs_page(store, prefixed, None), args.repeat)[0]
        print(f"filtered page (prefix, first page): {prefixed_ms:.1f} ms")
        stats_ms = best_ms(lambda: stats(store), max(1, args.repeat // 2))
        print(f"GET /api/stats (3 windows): best {stats_ms[0]:.0f} ms, median {stats_ms[1]:.0f} ms")
        raw.close()
        store.close()


if __name__ == "__main__":
    main()
