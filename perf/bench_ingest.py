"""End-to-end throughput of the embedded default on a generated corpus.

    .venv/bin/python perf/bench_ingest.py --megabytes 20

Generates text and CSV files of realistic shape (people, organisations, places), runs them through every stage
in-process (FalkorDB, LanceDB, SQLite, hashing embedder, rule-based extractor), and prints MB/s, chunks/s and peak RSS.
"""

import argparse
import json
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf.make_corpus import make_file
from shared.config import Settings
from shared.domain import BlobEvent, JobState
from shared.inprocess import run_blob
from shared.runtime import embedded_runtime


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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tributary-bench-") as scratch:
        root = Path(scratch)
        corpus = root / "corpus"
        corpus.mkdir()
        files = make_corpus(corpus, args.megabytes)
        settings = Settings(data_dir=root / "data")
        with embedded_runtime(settings) as runtime:
            ports = runtime.ports
            for file in files:
                ports.blobs.upload(settings.incoming_container, _blob_name(file, corpus), file.read_bytes())
            started = time.perf_counter()
            jobs = []
            for file in files:
                name = _blob_name(file, corpus)
                event = BlobEvent(event_id=uuid.uuid4().hex, container=settings.incoming_container, path=name)
                jobs.append(ports.jobs.get_job(run_blob(event, ports, runtime.bus).job_id))
            elapsed = time.perf_counter() - started
            counts = ports.graph.counts()

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
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
