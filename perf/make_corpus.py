"""Deterministic benchmark files of a given size, written as a stream (a 1 GB file never sits in memory).

.venv/bin/python perf/make_corpus.py --format csv --megabytes 100 --out perf/out/corpus
"""

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

FIRST = ["Ada", "Łukasz", "Mira", "Tomás", "Zoë", "Priya", "Jon", "Amara", "Kenji", "Ines"]
LAST = ["Okafor", "Nowak", "Castell", "Reyes", "Lindqvist", "Raman", "Hale", "Mensah", "Sato", "Duarte"]
ORGS = ["Acme Labs", "Nordlicht Systems GmbH", "Tidewater Foundation", "Coral Ledger Inc", "Heron University"]
PLACES = ["Lisbon", "Oslo", "São Paulo", "Nairobi", "Toronto", "Kraków"]
FORMATS = {
    "csv": ".csv",
    "jsonl": ".jsonl",
    "json": ".json",
    "xml": ".xml",
    "text": ".txt",
    "pdf": ".pdf",
    "docx": ".docx",
    "xlsx": ".xlsx",
}
# Bytes of file per unit (PDF page of 40 lines, docx paragraph, xlsx row of the people columns), measured on 1 MB.
_BINARY_UNIT_BYTES = {"pdf": 900, "docx": 6, "xlsx": 31}


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
    if kind in _BINARY_UNIT_BYTES:
        path.write_bytes(_binary(kind, max(1, target // _BINARY_UNIT_BYTES[kind]), random.Random(seed)))
        return path
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


def _binary(kind: str, units: int, rng: random.Random) -> bytes:
    """A PDF of `units` pages, a docx of `units` paragraphs under headings, or an xlsx of `units` rows."""
    import io

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    lines = [line.rstrip("\n") for line, _ in zip(text_lines(rng), range(4000), strict=False) if line.strip()]
    if kind == "pdf":
        from tests.support.pdf import text_pdf

        return text_pdf([lines[(n * 40) % 3900 : (n * 40) % 3900 + 40] for n in range(units)], footer="Page {page}")
    buffer = io.BytesIO()
    if kind == "docx":  # python-docx's template, its body written directly (add_paragraph is quadratic in length)
        import zipfile
        from xml.sax.saxutils import escape

        import docx

        docx.Document().save(buffer)
        w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
        body = []
        for n in range(units):
            if n % 50 == 0:
                body.append(
                    f'<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Section {n // 50 + 1}</w:t></w:r></w:p>'
                )
            body.append(f"<w:p><w:r><w:t>{escape(lines[n % len(lines)])}</w:t></w:r></w:p>")
        document = f'<w:document xmlns:w="{w}"><w:body>{"".join(body)}</w:body></w:document>'.encode()
        out = io.BytesIO()
        with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = document if info.filename == "word/document.xml" else source.read(info)
                target.writestr(info.filename, data)
        return out.getvalue()
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("People")
    header = list(person(rng))
    sheet.append(header)
    for _ in range(units):
        sheet.append(list(person(rng).values()))
    workbook.save(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=sorted(FORMATS), required=True)
    parser.add_argument("--megabytes", type=float, required=True)
    parser.add_argument("--out", type=Path, default=Path("perf/out/corpus"))
    args = parser.parse_args()
    print(make_file(args.format, args.megabytes, args.out))


if __name__ == "__main__":
    main()
