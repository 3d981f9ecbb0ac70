"""Deterministic benchmark files of a given size, written as a stream (a 1 GB file never sits in memory).

.venv/bin/python perf/make_corpus.py --format csv --megabytes 100 --out perf/out/corpus
"""

import argparse
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

FIRST = ["Ada", "Łukasz", "Mira", "Tomás", "Zoë", "Priya", "Jon", "Amara", "Kenji", "Ines"]
LAST = ["Okafor", "Nowak", "Castell", "Reyes", "Lindqvist", "Raman", "Hale", "Mensah", "Sato", "Duarte"]
ORGS = ["Acme Labs", "Nordlicht Systems GmbH", "Tidewater Foundation", "Coral Ledger Inc", "Heron University"]
PLACES = ["Lisbon", "Oslo", "São Paulo", "Nairobi", "Toronto", "Kraków"]
FORMATS = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "xml": ".xml", "text": ".txt"}


def person(rng: random.Random) -> dict[str, str | int]:
    return {
        "id": rng.randint(1, 10**9),
        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "company": rng.choice(ORGS),
        "city": rng.choice(PLACES),
        "note": "Reviewed quarterly plans, discussed hiring and budget, agreed on next steps.",
    }


def csv_lines(rng: random.Random) -> Iterator[str]:
    yield "id,name,company,city,note\n"
    while True:
        p = person(rng)
        yield f'{p["id"]},{p["name"]},"{p["company"]}",{p["city"]},"{p["note"]}"\n'


def jsonl_lines(rng: random.Random) -> Iterator[str]:
    while True:
        yield json.dumps(person(rng), ensure_ascii=False) + "\n"


def xml_lines(rng: random.Random) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<people>\n'
    while True:
        p = person(rng)
        yield (
            f'  <person id="{p["id"]}"><name>{p["name"]}</name><company>{p["company"]}</company>'
            f"<city>{p['city']}</city><note>{p['note']}</note></person>\n"
        )


def text_lines(rng: random.Random) -> Iterator[str]:
    while True:
        p = person(rng)
        yield f"{p['name']} works at {p['company']}, which is based in {p['city']}. {p['note']}\n\n"


def json_lines(rng: random.Random) -> Iterator[str]:
    yield "[\n"
    first = True
    for line in jsonl_lines(rng):
        yield ("" if first else ",\n") + line.rstrip("\n")
        first = False


CLOSERS = {"xml": "</people>\n", "json": "\n]\n"}
GENERATORS: dict[str, Callable[[random.Random], Iterator[str]]] = {
    "csv": csv_lines,
    "jsonl": jsonl_lines,
    "json": json_lines,
    "xml": xml_lines,
    "text": text_lines,
}


def make_file(kind: str, megabytes: float, out: Path, seed: int = 11) -> Path:
    """Write (or reuse) `out/<kind>-<MB>mb.<ext>` of about `megabytes` MB."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{kind}-{megabytes:g}mb{FORMATS[kind]}"
    if path.exists():
        return path
    target = int(megabytes * 1_000_000)
    written = 0
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as file:
        for line in GENERATORS[kind](random.Random(seed)):
            file.write(line)
            written += len(line.encode())
            if written >= target:
                break
        file.write(CLOSERS.get(kind, ""))
    partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=sorted(FORMATS), required=True)
    parser.add_argument("--megabytes", type=float, required=True)
    parser.add_argument("--out", type=Path, default=Path("perf/out/corpus"))
    args = parser.parse_args()
    print(make_file(args.format, args.megabytes, args.out))


if __name__ == "__main__":
    main()
