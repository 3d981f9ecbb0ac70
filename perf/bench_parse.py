"""Parser throughput and memory per format, against the raw decoder floors on the same bytes.

    .venv/bin/python perf/bench_parse.py --megabytes 1 100 1000 --formats csv jsonl json xml text --repeat 2
    .venv/bin/python perf/bench_parse.py --megabytes 1 10 --formats pdf docx xlsx

For each format and size: MB/s and records/s of `shared.parsing.parse`, its peak RSS, and the ratio of its time to
each floor's, the decoders the parsers issue names: `pandas.read_csv` (C engine, every column as str) and pyarrow's
streaming CSV reader for CSV; the stdlib `json.loads` and orjson (per line for JSON Lines, the whole document for
JSON); lxml iterparse for XML; a plain line loop for text; for PDF, docx and xlsx the library the parser is built
on, read bare (PDFium's page text, python-docx's paragraphs, openpyxl's read-only rows): records/s is pages/s,
paragraphs/s and rows/s. The first floor of each format is the one its target is
read against (perf/README.md says why); the others are printed beside it. Each measurement runs in a fresh process
so peak RSS belongs to that run alone. With --repeat N, ours and every floor run N times each, interleaved: the best
time of each is reported, with the spread (slowest / fastest - 1) so that noise from other work on the machine
shows, and the ratio of CPU times ("cpu r."), which that noise moves less than it moves wall-clock times.
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
    "pdf": "application/pdf",
    "docx": "application/zip",  # Office files are zips; shared.parsing.package picks the reader
    "xlsx": "application/zip",
}


def run_ours(path: str, kind: str) -> dict[str, float]:
    from shared.domain import Record
    from shared.parsing import ParseLimits, ParseOptions, parse

    limits = ParseLimits(max_bytes=1 << 40, max_records=1 << 40)
    options = ParseOptions(record_element="person") if kind == "xml" else ParseOptions()
    records = issues = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(path, "rb") as stream:
        for item in parse(stream, CONTENT_TYPES[kind], limits, options):
            if isinstance(item, Record):
                records += 1
            else:
                issues += 1
    cpu = time.process_time() - cpu_started
    return {"seconds": time.perf_counter() - started, "cpu_seconds": cpu, "records": records, "issues": issues}


# Format -> its floors, the target's first.
FLOORS: dict[str, tuple[str, ...]] = {
    "csv": ("pandas", "pyarrow"),
    "jsonl": ("json", "orjson"),
    "json": ("json", "orjson"),
    "xml": ("lxml",),
    "text": ("lines",),
    "pdf": ("pypdfium2",),
    "docx": ("python-docx",),
    "xlsx": ("openpyxl",),
}


def run_floor(path: str, kind: str, floor: str) -> dict[str, float]:
    # Libraries are imported before the clock starts: the floor is decoding, not start-up.
    import orjson
    import pandas
    import pyarrow.csv
    from lxml import etree

    started, cpu_started = time.perf_counter(), time.process_time()
    records = 0
    if kind == "csv" and floor == "pandas":
        for frame in pandas.read_csv(path, chunksize=200_000, engine="c", dtype=str):
            records += len(frame)
    elif kind == "csv":  # pyarrow: its streaming reader, every column as a string
        with open(path, "rb") as file:
            header = file.readline().decode("utf-8").strip().split(",")
        options = pyarrow.csv.ConvertOptions(column_types=dict.fromkeys(header, pyarrow.string()))
        for batch in pyarrow.csv.open_csv(path, convert_options=options):
            records += batch.num_rows
    elif kind == "jsonl":
        loads = orjson.loads if floor == "orjson" else json.loads
        with open(path, "rb") as file:
            for line in file:
                loads(line)
                records += 1
    elif kind == "json":
        loads = orjson.loads if floor == "orjson" else json.loads
        with open(path, "rb") as file:
            records = len(loads(file.read()))
    elif kind == "xml":
        for _, element in etree.iterparse(path, tag="person"):
            records += 1
            element.clear()
    elif kind == "pdf":  # PDFium's text of every page, nothing else
        import pypdfium2

        document = pypdfium2.PdfDocument(path)
        records = sum(1 for page in document if page.get_textpage().get_text_range())
        document.close()
    elif kind == "docx":  # python-docx's paragraphs
        import docx

        records = sum(1 for paragraph in docx.Document(path).paragraphs if paragraph.text)
    elif kind == "xlsx":  # openpyxl's read-only rows, values only
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        records = sum(1 for sheet in workbook.worksheets for _ in sheet.iter_rows(values_only=True))
        workbook.close()
    else:
        with open(path, encoding="utf-8") as file:
            records = sum(1 for line in file if not line.strip())
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "records": records,
    }


def measure(path: Path, kind: str, floor: str | None = None) -> dict[str, float]:
    """Run ours (or one floor) in a child process and return its figures with its peak RSS."""
    call = "run_ours(sys.argv[2], sys.argv[3])" if floor is None else "run_floor(sys.argv[2], sys.argv[3], sys.argv[4])"
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from perf.bench_parse import run_ours, run_floor;"
        f"result = {call};"
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so the child would report this
        # process's peak when it is larger (after writing a corpus file, say).
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0];"
        "result['peak_rss_mb'] = int(status) / 1024;"
        "print(json.dumps(result))"
    )
    arguments = [str(ROOT), str(path), kind, *([floor] if floor else [])]
    completed = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed"}
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, nargs="+", default=[1, 100])
    parser.add_argument("--formats", nargs="+", choices=sorted(CONTENT_TYPES), default=sorted(CONTENT_TYPES))
    parser.add_argument("--corpus", type=Path, default=ROOT / "perf" / "out" / "corpus")
    parser.add_argument("--no-floor", action="store_true", help="skip the raw decoder runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best one is reported")
    args = parser.parse_args()

    print("command:", " ".join(["python", *sys.argv]))
    columns = (
        "format",
        "MB",
        "MB/s",
        "rec/s",
        "records",
        "RSS MB",
        "s",
        "±ours",
        "floor",
        "floor s",
        "ratio",
        "cpu r.",
    )
    widths = (6, 7, 8, 10, 10, 8, 8, 6, 8, 8, 6, 6)
    ours_width = sum(widths[:8]) + 7  # our eight columns and the spaces between them: where a floor's columns start
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)), "  ±floor")
    rows = []
    for kind in args.formats:
        floors = () if args.no_floor else FLOORS[kind]
        for megabytes in args.megabytes:
            path = make_file(kind, megabytes, args.corpus)
            size_mb = path.stat().st_size / 1e6
            ours_runs: list[dict[str, float]] = []
            floor_runs: dict[str, list[dict[str, float]]] = {floor: [] for floor in floors}
            for _ in range(args.repeat):  # interleaved, so that a burst of other work hits all alike
                ours_runs.append(measure(path, kind))
                for floor in floors:
                    floor_runs[floor].append(measure(path, kind, floor))
            rows.append({"format": kind, "megabytes": round(size_mb, 1), "ours": ours_runs, "floors": floor_runs})
            ours = best(ours_runs)
            if "error" in ours:
                print(f"{kind:6} {size_mb:7.1f} error: {ours['error']}")
                continue
            print(
                f"{kind:6} {size_mb:7.1f} {size_mb / ours['seconds']:8.1f} {ours['records'] / ours['seconds']:10.0f} "
                f"{ours['records']:10.0f} {ours['peak_rss_mb']:8.1f} {ours['seconds']:8.2f} {spread(ours_runs):>6}",
                end="",
            )
            for index, floor in enumerate(floors):
                figures = best(floor_runs[floor])
                lead = "" if index == 0 else " " * ours_width
                if "error" in figures:
                    print(f"{lead} {floor:>8} error: {figures['error']}")
                    continue
                ratio = ours["seconds"] / figures["seconds"]
                cpu_ratio = ours["cpu_seconds"] / figures["cpu_seconds"]
                print(
                    f"{lead} {floor:>8} {figures['seconds']:8.2f} {ratio:6.2f} {cpu_ratio:6.2f} "
                    f"{spread(floor_runs[floor]):>8}"
                )
            if not floors:
                print()
    print(json.dumps(rows))


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The fastest run (its CPU time the least of all runs), with the highest peak RSS (memory is not noise)."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return runs[0] if runs else {}
    fastest = dict(min(good, key=lambda run: run["seconds"]))
    fastest["cpu_seconds"] = min(run["cpu_seconds"] for run in good)
    fastest["peak_rss_mb"] = max(run["peak_rss_mb"] for run in good)
    return fastest


def spread(runs: list[dict[str, float]]) -> str:
    times = [run["seconds"] for run in runs if "error" not in run]
    return f"{max(times) / min(times) - 1:+.0%}" if len(times) > 1 else "-"


if __name__ == "__main__":
    main()
