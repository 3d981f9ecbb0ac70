"""End-to-end throughput of the embedded default on a generated corpus.

    .venv/bin/python perf/bench_ingest.py --megabytes 20          # stages called in process, in-memory queues
    .venv/bin/python perf/bench_ingest.py --megabytes 20 --host   # the Function app in the local Functions host
    .venv/bin/python perf/bench_ingest.py --megabytes 4 --telemetry local   # spans and metrics exported to files

Generates text and CSV files of realistic shape (people, organisations, places), runs them through every stage
(FalkorDB, LanceDB, SQLite, hashing embedder, rule-based extractor), and prints MB/s, chunks/s and peak RSS.
With `--host` the files go to Azurite and the app's own triggers run them through the durable local broker, as
`tributary ingest` does; the clock starts once the files are uploaded.
"""

import argparse
import json
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf.make_corpus import make_file
from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.app_ports import app_ports
from shared.config import STORAGE_CONNECTION, Settings
from shared.devhost.environment import SAMPLE_SETTINGS, app_settings
from shared.devhost.host import APP_SCRIPT, DevHost
from shared.devhost.local_services import local_services
from shared.devhost.servers.falkordb import ensure_running as ensure_falkordb
from shared.domain import BlobEvent, Job, JobState
from shared.ports import GraphCounts, Ports
from shared.telemetry import configure_telemetry, flush_telemetry
from tests.support.inprocess import run_blob
from tests.support.memory_bus import InMemoryBus
from tests.support.pipeline import in_process_ports


def make_corpus(folder: Path, megabytes: float) -> list[Path]:
    """Prose and CSV files of about 1 MB each, alternating, from perf/make_corpus.py's generators."""
    count = max(1, round(megabytes))
    return [make_file("text" if i % 2 == 0 else "csv", 1, folder / str(i), seed=i) for i in range(count)]


def _blob_name(file: Path, corpus: Path) -> str:
    return file.relative_to(corpus).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--host", action="store_true", help="run through the local Functions host (Azurite, broker)")
    parser.add_argument(
        "--telemetry",
        choices=("off", "local"),
        default="off",
        help="in process: off (no exporter: the API's no-op) or local (the JSON-lines exporter the local host uses); "
        "through the host, TRIBUTARY_TELEMETRY decides",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tributary-bench-") as scratch:
        root = Path(scratch)
        corpus = root / "corpus"
        corpus.mkdir()
        files = make_corpus(corpus, args.megabytes)
        if args.telemetry == "local" and not args.host:
            configure_telemetry(root / "data")
        run = _run_through_host if args.host else _run_in_process
        jobs, elapsed, counts = run(files, corpus, root / "data")
    _report(args, jobs, elapsed, counts)


def _run_in_process(files: list[Path], corpus: Path, data_dir: Path) -> tuple[list[Job], float, GraphCounts]:
    settings = Settings(data_dir=data_dir)
    with _in_process_runtime(settings) as (ports, bus):
        for file in files:
            ports.blobs.upload(settings.incoming_container, _blob_name(file, corpus), file.read_bytes())
        started = time.perf_counter()
        jobs = []
        for file in files:
            name = _blob_name(file, corpus)
            event = BlobEvent(event_id=uuid.uuid4().hex, container=settings.incoming_container, path=name)
            jobs.append(ports.jobs.get_job(run_blob(event, ports, bus).job_id))
        flush_telemetry()  # what the exporter still buffers is part of the cost
        elapsed = time.perf_counter() - started
        return jobs, elapsed, ports.graph.counts()


@contextmanager
def _in_process_runtime(settings: Settings) -> Iterator[tuple[Ports, InMemoryBus]]:
    """The embedded ports in this process, FalkorDB started (or reused) under the data directory."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server = ensure_falkordb(settings.data_dir / "falkordb")
        if server.started_here:
            stack.callback(server.stop)
        jobs = SQLiteJobStore(settings.data_dir / "jobs.sqlite")
        stack.callback(jobs.close)
        jobs.migrate()
        graph = FalkorDBGraphSink(server.url, settings.falkordb_graph)
        stack.callback(graph.close)
        graph.ensure_schema()
        bus = InMemoryBus()
        ports = in_process_ports(settings, jobs=jobs, graph=graph, bus=bus)
        stack.callback(ports.vectors.close)
        yield ports, bus


def _run_through_host(files: list[Path], corpus: Path, data_dir: Path) -> tuple[list[Job], float, GraphCounts]:
    sample = APP_SCRIPT.parent / SAMPLE_SETTINGS  # every setting the app binds, as a fresh checkout has them
    settings = app_settings(APP_SCRIPT.parent, {"TRIBUTARY_DATA_DIR": str(data_dir)}, settings_file=sample)
    with local_services(settings) as resolved, DevHost(APP_SCRIPT, settings=resolved) as host:
        store = host.blob_store(STORAGE_CONNECTION)
        for file in files:
            with file.open("rb") as content:
                store.upload(host.settings.incoming_container, _blob_name(file, corpus), content)
        started = time.perf_counter()
        host.run_until_idle(timeout=7200)
        elapsed = time.perf_counter() - started
        ports = app_ports()
        return ports.jobs.list_jobs(limit=len(files)), elapsed, ports.graph.counts()


def _report(args: argparse.Namespace, jobs: list[Job], elapsed: float, counts: GraphCounts) -> None:
    megabytes = sum(job.size for job in jobs) / 1e6
    chunks = sum(job.totals.chunks for job in jobs)
    figures = {
        "command": " ".join(["python", *sys.argv]),
        "files": len(jobs),
        "succeeded": sum(job.state is JobState.SUCCEEDED for job in jobs),
        "megabytes": round(megabytes, 2),
        "seconds": round(elapsed, 2),
        "mb_per_s": round(megabytes / elapsed, 3),
        "chunks": chunks,
        "chunks_per_s": round(chunks / elapsed, 1),
        "entities": counts.entities,
        "relations": counts.relations,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "telemetry": args.telemetry if not args.host else "TRIBUTARY_TELEMETRY",
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
