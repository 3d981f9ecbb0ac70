"""Parser throughput and memory per format, against the raw decoder floor on the same bytes.

    .venv/bin/python perf/bench_parse.py --megabytes 1 100 1000 --formats csv jsonl json xml text

For each format and size: MB/s and records/s of `shared.parsing.parse`, its peak RSS, and the ratio of its time to
the floor's (pandas/pyarrow for CSV, orjson per line for JSONL, orjson.loads for JSON, lxml iterparse for XML, a
plain line loop for text). Each measurement runs in a fresh process so peak RSS belongs to that run alone.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perf.make_corpus import make_file  # noqa: E402

CONTENT_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "xml": "application/xml",
    "text": "text/plain",
}


def run_ours(path: str, kind: str) -> dict[str, float]:
    from shared.domain import Record
    from shared.parsing import ParseLimits, ParseOptions, parse

    limits = ParseLimits(max_bytes=1 << 40, max_records=1 << 40)
    options = ParseOptions(record_element="person") if kind == "xml" else ParseOptions()
    records = issues = 0
    started = time.perf_counter()
    with open(path, "rb") as stream:
        for item in parse(stream, CONTENT_TYPES[kind], limits, options):
            if isinstance(item, Record):
                records += 1
            else:
                issues += 1
    return {"seconds": time.perf_counter() - started, "records": records, "issues": issues}


def run_floor(path: str, kind: str) -> dict[str, float]:
    # Libraries are imported before the clock starts: the floor is decoding, not start-up.
    import orjson
    import pandas
    from lxml import etree

    started = time.perf_counter()
    records = 0
    if kind == "csv":
        for frame in pandas.read_csv(path, chunksize=200_000, engine="c", dtype=str):
            records += len(frame)
    elif kind == "jsonl":
        with open(path, "rb") as file:
            for line in file:
                orjson.loads(line)
                records += 1
    elif kind == "json":
        with open(path, "rb") as file:
            records = len(orjson.loads(file.read()))
    elif kind == "xml":
        for _, element in etree.iterparse(path, tag="person"):
            records += 1
            element.clear()
    else:
        with open(path, encoding="utf-8") as file:
            records = sum(1 for line in file if not line.strip())
    return {"seconds": time.perf_counter() - started, "records": records}


def measure(which: str, path: Path, kind: str) -> dict[str, float]:
    """Run one measurement in a child process and return its figures with its peak RSS."""
    code = (
        "import json, resource, sys; sys.path.insert(0, sys.argv[1]);"
        "from perf.bench_parse import run_ours, run_floor;"
        f"result = run_{which}(sys.argv[2], sys.argv[3]);"
        "result['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "print(json.dumps(result))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(path), kind], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed"}
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, nargs="+", default=[1, 100])
    parser.add_argument("--formats", nargs="+", choices=sorted(CONTENT_TYPES), default=sorted(CONTENT_TYPES))
    parser.add_argument("--corpus", type=Path, default=ROOT / "perf" / "out" / "corpus")
    parser.add_argument("--no-floor", action="store_true", help="skip the raw decoder runs")
    args = parser.parse_args()

    print("command:", " ".join(["python", *sys.argv]))
    columns = ("format", "MB", "MB/s", "rec/s", "records", "RSS MB", "floor s", "ratio")
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, (6, 7, 8, 10, 10, 8, 8, 6), strict=True)))
    rows = []
    for kind in args.formats:
        for megabytes in args.megabytes:
            path = make_file(kind, megabytes, args.corpus)
            size_mb = path.stat().st_size / 1e6
            ours = measure("ours", path, kind)
            floor = {} if args.no_floor else measure("floor", path, kind)
            row = {"format": kind, "megabytes": round(size_mb, 1), "ours": ours, "floor": floor}
            rows.append(row)
            if "error" in ours:
                print(f"{kind:6} {size_mb:7.1f} error: {ours['error']}")
                continue
            ratio = ours["seconds"] / floor["seconds"] if floor.get("seconds") else float("nan")
            print(
                f"{kind:6} {size_mb:7.1f} {size_mb / ours['seconds']:8.1f} {ours['records'] / ours['seconds']:10.0f} "
                f"{ours['records']:10.0f} {ours['peak_rss_mb']:8.1f} {floor.get('seconds', float('nan')):8.2f} "
                f"{ratio:6.2f}"
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
