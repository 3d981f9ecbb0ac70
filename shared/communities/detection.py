"""Hierarchical communities of one connected component: NetworkX's Louvain, seeded, on a graph built in a fixed order.

Why Louvain: NetworkX 3.6 (the last release for Python 3.11) ships Leiden only as a backend hook with no NetworkX
implementation, and Louvain is what it implements. `louvain_partitions` yields one partition per pass, finest
first; each pass merges the communities of the one before, so the levels nest. Level 0 here is the finest (GraphRAG
numbers from the root down); counting from the bottom keeps a level's number when a graph grows a level on top. A
community a pass leaves as it was is not copied to the level above: a community's level is the pass that formed it,
and its parent is the first community above that holds more than it.

Determinism: Louvain visits nodes in a random order drawn from `seed`, and iterates Python sets of nodes. Nodes are
relabelled 0..n-1 in the order of their entity ids (integers hash to themselves, so set order does not depend on
PYTHONHASHSEED), added in that order, and edges in sorted order: the same component gives the same communities in
any process.

Ids: a community is named by its level and its smallest entity id (`community_id`), not by a hash of all its
members. Communities of one level are disjoint, so that name is unique; and it survives small changes: an entity
joining keeps the id unless its own id sorts first (a chance of 1 in the new size, ids being hashes). What changed
is told by the fingerprints instead (plan.py), so an id that stays means an update in place, not a new node.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from shared.communities.graph import Component
from shared.domain.ids import stable_hash

SEED = 42  # any constant: what matters is that every run uses the same one
THRESHOLD = 1e-7  # NetworkX's default modularity gain below which Louvain stops adding levels


@dataclass(frozen=True)
class DetectedCommunity:
    community_id: str
    level: int
    entity_ids: tuple[str, ...]  # every entity below it, sorted
    member_ids: tuple[str, ...]  # level 0: its entity ids; above: its child community ids (sorted)
    parent_id: str | None
    component: str  # the fingerprint of the component it was found in
    content: str  # fingerprint of its entities and the relations among them (what its summary depends on)
    fingerprint: str  # level, members and content: equal fingerprints mean nothing to write


def community_id(level: int, entity_ids: tuple[str, ...]) -> str:
    """The id of the level-`level` community whose smallest entity id is `entity_ids[0]` (sorted ids)."""
    return stable_hash("community", str(level), entity_ids[0])


def detect(component: Component, resolution: float = 1.0, max_levels: int = 8) -> list[DetectedCommunity]:
    """The component's communities, every level, children before parents; deterministic (see the module)."""
    index = {entity_id: number for number, entity_id in enumerate(component.entity_ids)}
    weights: dict[tuple[int, int], int] = {}
    for link in component.links:
        a, b = sorted((index[link.source_id], index[link.target_id]))
        weights[(a, b)] = weights.get((a, b), 0) + link.weight
    levels = _louvain_levels(len(component.entity_ids), weights, resolution, max_levels)

    found: list[DetectedCommunity] = []
    below: dict[int, str] = {}  # node number → the highest community holding it so far
    for level, partition in enumerate(levels):
        entity_sets = sorted(tuple(sorted(component.entity_ids[n] for n in nodes)) for nodes in partition)
        if level > 0:  # a community the pass left as it was is not repeated: it stays the top of its branch
            entity_sets = [s for s in entity_sets if len({below[index[e]] for e in s}) > 1]
        by_node = dict(below)
        for entity_ids in entity_sets:
            by_node.update(dict.fromkeys((index[e] for e in entity_ids), community_id(level, entity_ids)))
        inner = _inner_links(component, index, by_node)
        for entity_ids in entity_sets:
            cid = community_id(level, entity_ids)
            members = entity_ids if level == 0 else tuple(sorted({below[index[e]] for e in entity_ids}))
            content = stable_hash("community-content", *entity_ids, "|", *inner.get(cid, []))
            fingerprint = stable_hash("community-fingerprint", str(level), content, *members)
            found.append(
                DetectedCommunity(cid, level, entity_ids, members, None, component.fingerprint, content, fingerprint)
            )
        below = by_node
    return _with_parents(found)


def _louvain_levels(
    size: int, weights: dict[tuple[int, int], int], resolution: float, max_levels: int
) -> list[list[set[int]]]:
    if not weights:  # a single entity (a component of several always has links)
        return [[set(range(size))]]
    graph = nx.Graph()
    graph.add_nodes_from(range(size))
    graph.add_weighted_edges_from((a, b, weight) for (a, b), weight in sorted(weights.items()))
    levels: list[list[set[int]]] = []
    for partition in nx.community.louvain_partitions(
        graph, weight="weight", resolution=resolution, threshold=THRESHOLD, seed=SEED
    ):
        levels.append([set(nodes) for nodes in partition])
        if len(levels) == max_levels:
            break
    return levels


def _inner_links(component: Component, index: dict[str, int], by_node: dict[int, str]) -> dict[str, list[str]]:
    """Community id → its relations (id and weight, in relation id order): one pass over the component's links."""
    inner: dict[str, list[str]] = {}
    for link in component.links:
        source = by_node[index[link.source_id]]
        if source == by_node[index[link.target_id]]:
            inner.setdefault(source, []).append(f"{link.relation_id}:{link.weight}")
    return inner


def _with_parents(found: list[DetectedCommunity]) -> list[DetectedCommunity]:
    parent_of: dict[str, str] = {}
    for community in found:
        if community.level > 0:
            parent_of.update(dict.fromkeys(community.member_ids, community.community_id))
    return [
        DetectedCommunity(
            c.community_id,
            c.level,
            c.entity_ids,
            c.member_ids,
            parent_of.get(c.community_id),
            c.component,
            c.content,
            c.fingerprint,
        )
        for c in found
    ]


__all__ = ["SEED", "DetectedCommunity", "community_id", "detect"]
