"""Communities on a synthetic entity graph: read, detection, first run (with writes), a run with no change, and a run
after a small change, beside a GraphRAG-style full recompute of the same graph.

    .venv/bin/python perf/bench_communities.py --entities 10000 100000

The graph: `--entities` typed entities in planted groups of ~20 (each entity linked to 2 others of its group and,
with probability 0.1, to one entity of another group; 1-3 supporting chunks per relation), written straight into a
fresh FalkorDB graph on the project's own server (raw UNWIND … CREATE: the setup is not what is measured). Then:
- **read**: the entity graph through `GraphSink.entity_graph`, 5,000 entities a page;
- **detect**: connected components and Louvain per component (what a first run detects);
- **first run**: `refresh_communities` on an empty community set: read + detect + extractive summaries + writes;
- **no change**: `refresh_communities` again: read + plan, nothing written (the figure GraphRAG pays in full);
- **one change**: one new relation inside one group, then `refresh_communities`: Louvain runs only around it;
- **reference**: GraphRAG's shape, Louvain over the whole graph at once (`louvain_partitions` on one NetworkX graph of
  every entity), which is what it recomputes on every run, new data or not.
Peak RSS is this process's (`ru_maxrss`), which the setup keeps small by generating rows batch by batch; the
FalkorDB server's memory (`used_memory`) is given after the first run.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402
import redis  # noqa: E402

from shared.adapters.falkordb_graph import FalkorDBGraphSink  # noqa: E402
from shared.communities.detection import SEED, detect  # noqa: E402
from shared.communities.graph import components, read_entity_graph  # noqa: E402
from shared.communities.refresh import ENTITY_PAGE, detection_salt, refresh_communities  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.devhost.servers.falkordb import FalkorDBServer  # noqa: E402
from shared.domain.ids import entity_id, relation_id  # noqa: E402
from shared.ports import Ports  # noqa: E402

GROUP = 20
TYPES = ("Person", "Organization", "Place", "Project")
BATCH = 5000


def entity_rows(count: int) -> Iterator[list[dict[str, Any]]]:
    rows = []
    for n in range(count):
        kind = TYPES[n % len(TYPES)]
        rows.append({"id": entity_id(kind, f"e{n}"), "type": kind, "name": f"{kind} {n}"})
        if len(rows) == BATCH:
            yield rows
            rows = []
    if rows:
        yield rows


def relation_rows(count: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed)
    ids = [entity_id(TYPES[n % len(TYPES)], f"e{n}") for n in range(count)]
    rows = []
    for n in range(count):
        group = n // GROUP
        first, last = group * GROUP, min(count, (group + 1) * GROUP) - 1
        targets = [rng.randint(first, last) for _ in range(2)]
        if rng.random() < 0.1:
            targets.append(rng.randrange(count))
        for t in targets:
            if t != n:
                rid = relation_id(ids[n], "RELATED_TO", ids[t])
                chunks = [f"chunk-{rng.randrange(10**9)}" for _ in range(rng.randint(1, 3))]
                rows.append({"id": rid, "s": ids[n], "t": ids[t], "chunks": chunks, "evidence": f"e{n} and e{t}."})
        if len(rows) >= BATCH:
            yield rows
            rows = []
    if rows:
        yield rows


def build(sink: FalkorDBGraphSink, count: int) -> int:
    for rows in entity_rows(count):
        sink.query("UNWIND $rows AS r CREATE (e:Entity {id: r.id, type: r.type, name: r.name})", {"rows": rows})
    relations = 0
    for rows in relation_rows(count, seed=count):
        sink.query(
            "UNWIND $rows AS r MATCH (s:Entity {id: r.s}) MATCH (t:Entity {id: r.t}) "
            "MERGE (s)-[x:RELATED_TO {id: r.id}]->(t) SET x.chunk_ids = r.chunks, x.evidence = r.evidence",
            {"rows": rows},
        )
        relations += len(rows)
    return relations


def timed(label: str, results: dict[str, float], fn: Any, *args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    results[label] = time.perf_counter() - started
    return value


def reference(sink: FalkorDBGraphSink, settings: Settings) -> tuple[int, int]:
    """GraphRAG's shape: one graph of every entity, Louvain over all of it. (levels, level-0 communities)"""
    entity_graph = read_entity_graph(sink, ENTITY_PAGE)
    graph = nx.Graph()
    graph.add_nodes_from(sorted(entity_graph.nodes))
    graph.add_weighted_edges_from(sorted((k.source_id, k.target_id, k.weight) for k in entity_graph.links))
    levels = list(nx.community.louvain_partitions(graph, resolution=settings.community_resolution, seed=SEED))
    return len(levels), len(levels[0])


def bench(server_url: str, count: int) -> None:
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "communities-bench")
    sink = FalkorDBGraphSink(server_url, f"bench_communities_{uuid.uuid4().hex[:8]}")
    sink.ensure_schema()
    ports: Any = Ports(
        blobs=None,  # type: ignore[arg-type]
        bus=None,  # type: ignore[arg-type]
        jobs=None,  # type: ignore[arg-type]
        graph=sink,
        vectors=None,  # type: ignore[arg-type]
        embedder=None,  # type: ignore[arg-type]
        extractor=None,  # type: ignore[arg-type]
        settings=settings,
    )
    try:
        t: dict[str, float] = {}
        relations = timed("setup", t, build, sink, count)
        entity_graph = timed("read", t, read_entity_graph, sink, ENTITY_PAGE)
        parts = components(entity_graph, detection_salt(settings))
        started = time.perf_counter()
        detected = [
            d
            for part in parts
            if len(part.entity_ids) >= settings.community_min_size
            for d in detect(part, settings.community_resolution, settings.community_max_levels)
        ]
        t["detect"] = time.perf_counter() - started
        del entity_graph, parts
        first = timed("first", t, refresh_communities, ports)
        server_memory = redis.Redis.from_url(server_url).info("memory")["used_memory"]
        again = timed("again", t, refresh_communities, ports)
        a, b = entity_id("Person", "e0"), entity_id("Project", "e3")
        sink.query(
            "MATCH (s:Entity {id: $a}) MATCH (t:Entity {id: $b}) "
            "MERGE (s)-[x:RELATED_TO {id: $id}]->(t) SET x.chunk_ids = ['chunk-new'], x.evidence = 'new.'",
            {"a": a, "b": b, "id": relation_id(a, "RELATED_TO-bench", b)},
        )
        changed = timed("changed", t, refresh_communities, ports)
        levels, level0 = timed("reference", t, reference, sink, settings)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"\n{count:,} entities, {relations:,} relations (setup {t['setup']:.1f} s): "
            f"{first.components:,} components, {first.communities:,} communities on {first.levels} levels "
            f"({sum(1 for d in detected if d.level == 0):,} at level 0)"
        )
        print("| step | seconds | what it did |")
        print("|---|---|---|")
        print(f"| read (pages of {ENTITY_PAGE:,}) | {t['read']:.2f} | {count:,} entities, {relations:,} relations |")
        print(f"| detect (per component) | {t['detect']:.2f} | {len(detected):,} communities |")
        print(
            f"| first run | {t['first']:.2f} | {first.written:,} written, {first.summarised:,} summarised "
            f"(write ≈ {t['first'] - t['read'] - t['detect']:.2f} s with summaries) |"
        )
        print(f"| no change | {t['again']:.2f} | {again.written} written, {again.components_changed} parts changed |")
        print(
            f"| one new relation | {t['changed']:.2f} | {changed.components_changed} part changed, "
            f"{changed.written} written, {changed.deleted} deleted |"
        )
        print(
            f"| reference: Louvain on the whole graph | {t['reference']:.2f} | read + {levels} levels, "
            f"{level0:,} level-0 communities, every run |"
        )
        print(f"peak RSS {rss:,.0f} MB (this process); FalkorDB used_memory {server_memory / 2**20:,.0f} MB")
    finally:
        sink.delete_graph()
        sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, nargs="+", default=[10_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="communities-bench-") as folder, FalkorDBServer(Path(folder)) as server:
        for count in args.entities:
            bench(server.url, count)


if __name__ == "__main__":
    main()
