"""Communities on a synthetic entity graph: read, detection, first run (with writes), a run with no change, and a run
after a small change, beside a GraphRAG-style full recompute of the same graph.

    .venv/bin/python perf/bench_communities.py --entities 10000 100000

The graph: `--entities` typed entities in planted groups of ~20 (each entity linked to 2 others of its group and,
with probability 0.1, to one entity of another group; 1-3 supporting chunks per relation), written straight into a
fresh FalkorDB graph on the project's own server (raw UNWIND … CREATE: the setup is not what is measured). Then:
- **first run**: `refresh_communities` on an empty community set: read (the entity graph through
  `GraphSink.entity_graph`, 5,000 entities a page, and the stored communities), detect, extractive summaries, writes;
- **no change**: `refresh_communities` again: read + check, nothing written;
- **one new relation** inside one group, then `refresh_communities`: Louvain runs only around it;
- **`--full`** after it: every component from scratch (summaries kept where a community's content is the same);
- **reference**: GraphRAG's shape, Louvain over the whole graph at once (`louvain_partitions` on one NetworkX graph of
  every entity), which it recomputes on every run, new data or not.
Each run's time is split as `CommunityRefresh` reports it.
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
from shared.communities.detection import SEED  # noqa: E402
from shared.communities.graph import read_entity_graph  # noqa: E402
from shared.communities.refresh import ENTITY_PAGE, refresh_communities  # noqa: E402
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
        started = time.perf_counter()
        relations = build(sink, count)
        setup = time.perf_counter() - started
        runs = [("first run", refresh_communities(ports))]
        server_memory = redis.Redis.from_url(server_url).info("memory")["used_memory"]
        runs.append(("no change", refresh_communities(ports)))
        a, b = entity_id("Person", "e0"), entity_id("Project", "e3")
        sink.query(
            "MATCH (s:Entity {id: $a}) MATCH (t:Entity {id: $b}) "
            "MERGE (s)-[x:RELATED_TO {id: $id}]->(t) SET x.chunk_ids = ['chunk-new'], x.evidence = 'new.'",
            {"a": a, "b": b, "id": relation_id(a, "RELATED_TO-bench", b)},
        )
        runs.append(("one new relation", refresh_communities(ports)))
        runs.append(("`--full` after it", refresh_communities(ports, full=True)))
        cpu = time.process_time()
        wall = time.perf_counter()
        levels, level0 = reference(sink, settings)
        reference_wall, reference_cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        first = runs[0][1]
        print(
            f"\n{count:,} entities, {relations:,} relations (setup {setup:.1f} s): {first.components:,} components, "
            f"{first.communities:,} communities on {first.levels} levels"
        )
        print("| run | seconds | read | detect + plan | summarise | write | written | summarised | deleted |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label, run in runs:
            print(
                f"| {label} | {run.seconds:.2f} | {run.read_seconds:.2f} | {run.detect_seconds:.2f} | "
                f"{run.summarise_seconds:.2f} | {run.write_seconds:.2f} | {run.written:,} | {run.summarised:,} | "
                f"{run.deleted:,} |"
            )
        print(
            f"| reference: read + Louvain on the whole graph (GraphRAG's shape, every run) | {reference_wall:.2f} "
            f"(CPU {reference_cpu:.2f}) | | {levels} levels, {level0:,} communities at level 0 | | | | | |"
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
