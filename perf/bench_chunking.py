"""Parse alone vs parse + chunk assembly, per format, each in a fresh process: MB/s, chunks per MB, peak RSS.

.venv/bin/python perf/bench_chunking.py --megabytes 50 --formats csv text jsonl
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf.make_corpus import make_file

CONTENT_TYPES = {"csv": "text/csv", "text": "text/plain", "jsonl": "application/x-ndjson", "json": "application/json"}


def measure(path: Path, content_type: str, chunk: bool) -> dict[str, float]:
    """One pass in this process (run it in a fresh one)."""
    from shared.domain import DocumentRef, Record
    from shared.parsing import ParseLimits, parse
    from shared.pipeline.chunking import ChunkSettings, chunk_records
    from shared.tokens import token_counter

    settings = ChunkSettings()
    token_counter(settings.encoding)("warm")  # loading the encoding is a once-per-process cost, not per byte
    size = path.stat().st_size
    document = DocumentRef(
        account="a", container="c", path=path.name, document_id="d", version="v", size=size, content_type=content_type
    )
    started = time.perf_counter()
    with path.open("rb") as stream:
        records = (
            item for item in parse(stream, content_type, ParseLimits(max_bytes=1 << 40)) if isinstance(item, Record)
        )
        count = sum(1 for _ in chunk_records(records, document, settings)) if chunk else sum(1 for _ in records)
    seconds = time.perf_counter() - started
    return {
        "mb_per_s": round(size / 1e6 / seconds, 2),
        "items": count,
        "items_per_mb": round(count / (size / 1e6), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--formats", nargs="+", default=["csv", "text"], choices=sorted(CONTENT_TYPES))
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # path, content type, parse|chunk: a child run
    args = parser.parse_args()
    if args.one:
        path, content_type, mode = args.one
        print(json.dumps(measure(Path(path), content_type, mode == "chunk")))
        return
    out = Path(__file__).resolve().parent / "out"
    for kind in args.formats:
        path = make_file(kind, args.megabytes, out)
        for mode in ("parse", "chunk"):
            command = [sys.executable, __file__, "--one", str(path), CONTENT_TYPES[kind], mode]
            figures = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(f"{kind:6} {args.megabytes:g} MB {mode:6} {json.dumps(figures)}")


if __name__ == "__main__":
    main()
