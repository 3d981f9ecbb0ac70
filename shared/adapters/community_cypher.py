"""The Cypher of communities, shared by every graph adapter (as `cypher.py` is for documents, chunks and entities).

Graph model, beside the one in cypher.py::

    (:Entity)-[:IN_COMMUNITY]->(:Community {id, level, size, title, summary, summarizer, fingerprint, content,
                                           updated})-[:IN_COMMUNITY]->(:Community {level + 1})

An entity is in one level-0 community at most; a community is in one parent at most (the level above). So "the
entities of a community" is `(:Entity)-[:IN_COMMUNITY*]->(c)`, and each member has one edge, not one per level.
Communities are keyed on `id` (a unique constraint, made by the adapter before it first writes one). Every statement
runs in both dialects: no temporal function (`updated` is a parameter), no `IF NOT EXISTS`, and no query that both
SETs and DELETEs (FalkorDB drops the SETs of such a query).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shared.adapters.cypher import ENTITY, Dialect, Run
from shared.ports import Community, EntityGraphPage, EntityRef, GraphRelation

COMMUNITY = "Community"
IN_COMMUNITY = "IN_COMMUNITY"

# The page's entities first (ordered and limited on the indexed id), then their outgoing relations to entities:
# a relation is read once, with the page of its source (an entity with none comes back once, with nulls).
ENTITY_GRAPH_PAGE = """
MATCH (e:Entity)
WHERE e.id > $after
WITH e ORDER BY e.id LIMIT $limit
OPTIONAL MATCH (e)-[r]->(t:Entity)
RETURN e.id, e.type, e.name, r.id, type(r), t.id, size(coalesce(r.chunk_ids, []))
"""
# Found by its two ends (indexed), then its id: a relation has no label to look it up by alone.
RELATION_EVIDENCE = """
UNWIND $rows AS row
MATCH (:Entity {id: row.source_id})-[r]->(:Entity {id: row.target_id})
WHERE r.id = row.id AND r.evidence IS NOT NULL
RETURN r.id, r.evidence
"""
# Nodes in two steps around the edges: a node is made (or found) first, so edges can reach it, and gets its
# properties last, in one statement for the whole call. A community whose `fingerprint` is current therefore has its
# edges, which is what lets the next run keep it (shared/communities/detection.py); a call cut short leaves the old
# fingerprint (none on a new node), and the next run does that community again.
MERGE_COMMUNITIES = """
UNWIND $ids AS cid
MERGE (:Community {id: cid})
"""
SET_COMMUNITIES = """
UNWIND $rows AS r
MATCH (c:Community {id: r.id})
SET c.level = r.level, c.size = r.size, c.title = r.title, c.summary = r.summary, c.summarizer = r.summarizer,
    c.fingerprint = r.fingerprint, c.content = r.content, c.updated = r.updated
"""
CURRENT_MEMBERS = """
UNWIND $ids AS cid
MATCH (m)-[:IN_COMMUNITY]->(:Community {id: cid})
RETURN cid, m.id
"""
# {label}: Entity for level-0 communities, Community above (validated constants, never user input).
UNLINK_MEMBERS = """
UNWIND $pairs AS p
MATCH (:{label} {{id: p.member}})-[x:IN_COMMUNITY]->(:Community {{id: p.community}})
DELETE x
"""
UNLINK_FROM_OTHERS = """
UNWIND $rows AS r
UNWIND r.member_ids AS mid
MATCH (:{label} {{id: mid}})-[x:IN_COMMUNITY]->(o:Community)
WHERE o.id <> r.id
DELETE x
"""
LINK_MEMBERS = """
UNWIND $rows AS r
MATCH (c:Community {{id: r.id}})
UNWIND r.member_ids AS mid
MATCH (m:{label} {{id: mid}})
MERGE (m)-[:IN_COMMUNITY]->(c)
"""
COMMUNITY_PAGE = """
MATCH (c:Community)
WHERE c.id > $after
WITH c ORDER BY c.id LIMIT $limit
OPTIONAL MATCH (m)-[:IN_COMMUNITY]->(c)
RETURN c.id, c.level, c.size, c.title, c.summary, c.summarizer, c.fingerprint, c.content, c.updated, collect(m.id)
"""
DELETE_COMMUNITIES = """
UNWIND $ids AS cid
MATCH (c:Community {id: cid})
DETACH DELETE c
"""


def entity_graph_page(read: Run, after: str, limit: int, dialect: Dialect) -> EntityGraphPage:
    """One page of the entity graph (see `GraphSink.entity_graph`)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    entities: dict[str, EntityRef] = {}
    relations: dict[str, GraphRelation] = {}
    for entity_id, entity_type, name, relation_id, rel_type, target_id, supports in read(
        ENTITY_GRAPH_PAGE, {"after": after, "limit": limit}
    ):
        entities.setdefault(entity_id, EntityRef(entity_id=entity_id, type=entity_type, name=name))
        if relation_id is not None and target_id is not None:
            relations[relation_id] = GraphRelation(
                relation_id=relation_id,
                type=rel_type,
                source_id=entity_id,
                target_id=target_id,
                weight=max(1, dialect.to_int(supports)),  # written before provenance was stored: seen once
            )
    ordered = sorted(entities)
    return EntityGraphPage(
        entities=tuple(entities[entity_id] for entity_id in ordered),
        relations=tuple(relations[relation_id] for relation_id in sorted(relations)),
        next_after=ordered[-1] if len(ordered) == limit else None,
    )


def relation_evidence(read: Run, relations: Sequence[GraphRelation]) -> dict[str, str]:
    """Relation id → evidence, for those of `relations` the graph holds with one."""
    if not relations:
        return {}
    rows = [{"id": r.relation_id, "source_id": r.source_id, "target_id": r.target_id} for r in relations]
    return {str(relation_id): str(evidence) for relation_id, evidence in read(RELATION_EVIDENCE, {"rows": rows})}


def write_communities(read: Run, write: Run, communities: Sequence[Community], dialect: Dialect) -> None:
    """Upsert the communities, then make their IN_COMMUNITY edges exactly their members (see the port).

    Nodes first, so that a parent written in the same call finds its children; then the members each community
    lost, then the members' edges to other communities, then the new edges; the properties last, in one statement
    (see MERGE_COMMUNITIES). Each step is idempotent, so a write cut short is finished by writing the same
    communities again.
    """
    if not communities:
        return
    write(MERGE_COMMUNITIES, {"ids": [community.community_id for community in communities]})
    current: dict[str, set[str]] = {}
    for community_id, member_id in read(CURRENT_MEMBERS, {"ids": [c.community_id for c in communities]}):
        current.setdefault(str(community_id), set()).add(str(member_id))
    for label, group in _by_member_label(communities).items():
        lost = [
            {"member": member_id, "community": community.community_id}
            for community in group
            for member_id in sorted(current.get(community.community_id, set()) - set(community.member_ids))
        ]
        if lost:
            write(UNLINK_MEMBERS.format(label=label), {"pairs": lost})
        rows = [{"id": community.community_id, "member_ids": list(community.member_ids)} for community in group]
        write(UNLINK_FROM_OTHERS.format(label=label), {"rows": rows})
        write(LINK_MEMBERS.format(label=label), {"rows": rows})
    write(SET_COMMUNITIES, {"rows": [_node_row(community, dialect) for community in communities]})


def read_communities(read: Run, after: str, limit: int, dialect: Dialect) -> list[Community]:
    """One page of communities in id order, with their members (see `GraphSink.communities`)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    found = [_community(row, dialect) for row in read(COMMUNITY_PAGE, {"after": after, "limit": limit})]
    return sorted(found, key=lambda community: community.community_id)


def delete_communities(write: Run, community_ids: Iterable[str]) -> None:
    """DETACH DELETE the communities; unknown ids match nothing."""
    ids = list(dict.fromkeys(community_ids))
    if ids:
        write(DELETE_COMMUNITIES, {"ids": ids})


def _community(row: list[Any], dialect: Dialect) -> Community:
    community_id, level, size, title, summary, summarizer, fingerprint, content, updated, members = row
    return Community(
        community_id=community_id,
        level=dialect.to_int(level),
        size=dialect.to_int(size),
        member_ids=tuple(sorted(str(member) for member in members)),
        title=title or "",
        summary=summary or "",
        summarizer=summarizer or "",
        fingerprint=fingerprint or "",
        content=content or "",
        updated=updated or "",
    )


def _node_row(community: Community, dialect: Dialect) -> dict[str, Any]:
    text = dialect.text
    return {
        "id": community.community_id,
        "level": community.level,
        "size": community.size,
        "title": text(community.title),
        "summary": text(community.summary),
        "summarizer": text(community.summarizer),
        "fingerprint": community.fingerprint,
        "content": community.content,
        "updated": community.updated,
    }


def _by_member_label(communities: Iterable[Community]) -> dict[str, list[Community]]:
    groups: dict[str, list[Community]] = {}
    for community in communities:
        groups.setdefault(ENTITY if community.level == 0 else COMMUNITY, []).append(community)
    return groups


__all__ = [
    "COMMUNITY",
    "IN_COMMUNITY",
    "delete_communities",
    "entity_graph_page",
    "read_communities",
    "relation_evidence",
    "write_communities",
]
