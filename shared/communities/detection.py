"""Hierarchical communities of one connected component: Louvain (NetworkX, seeded) level by level, re-detecting only
the part of the component that changed when the communities of an earlier run are given.

Why Louvain: NetworkX 3.6 (the last release for Python 3.11) ships Leiden only as a backend hook with no NetworkX
implementation, and Louvain is what it implements.

Levels: level 0 partitions the entities; level n+1 partitions the level-n communities (the graph aggregated, as
Louvain's own passes do), until a pass merges nothing or `max_levels` is reached. Each level is one pass of Louvain's
local moving (the first partition `louvain_partitions` yields). Level 0 is the finest (GraphRAG numbers from the root
down); counting from the bottom keeps a level's number when the graph grows a level on top. A community a pass leaves
alone is not copied to the level above: a community's level is the pass that formed it, and its parent is the first
community above that holds more than it.

Incremental: given the communities an earlier run stored for this component, a stored community whose fingerprint
still matches the graph (same members, same entities, same relations inside it *and* at its boundary) is kept as it
is, and Louvain runs on the other nodes of the level only: the entities (or communities) of the communities a change
touched, and the new ones. A change therefore rewrites the communities around it and the few above them, not the
whole component, which re-running Louvain from scratch does (its node order is a random draw, so one new relation
sends it down another path). The price: the result depends on the order data came in, as with any incremental
clustering; `full=True` (`tributary communities --full`) recomputes from the graph alone.

Determinism: Louvain visits nodes in an order drawn from `seed`, and iterates Python sets of nodes. Nodes are
relabelled 0..n-1 in the order of their ids (integers hash to themselves, so set order does not depend on
PYTHONHASHSEED), added in that order, and edges in sorted order: the same input gives the same communities in any
process.

Ids: a community is named by its level and its smallest entity id (`community_id`), not by a hash of all its
members. Communities of one level are disjoint, so that name is unique; and it survives small changes: an entity
joining keeps the id unless its own id sorts first (a chance of 1 in the new size, ids being hashes). What changed
is told by the fingerprints instead (plan.py), so an id that stays means an update in place, not a new node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import networkx as nx

from shared.communities.graph import Component, Link
from shared.domain.ids import stable_hash
from shared.ports import Community

SEED = 42  # any constant: what matters is that every run uses the same one
THRESHOLD = 1e-7  # NetworkX's default modularity gain


@dataclass(frozen=True)
class DetectedCommunity:
    community_id: str
    level: int
    entity_ids: tuple[str, ...]  # every entity below it, sorted
    member_ids: tuple[str, ...]  # level 0: its entity ids; above: its child community ids (sorted)
    parent_id: str | None
    content: str  # fingerprint of its entities and the relations among them (what its summary depends on)
    fingerprint: str  # level, members, content and the relations at its boundary: equal → nothing changed


def community_id(level: int, entity_ids: Sequence[str]) -> str:
    """The id of the level-`level` community whose smallest entity id is `entity_ids[0]` (sorted ids)."""
    return stable_hash("community", str(level), entity_ids[0])


def detect(
    component: Component, resolution: float = 1.0, max_levels: int = 8, previous: Sequence[Community] = ()
) -> list[DetectedCommunity]:
    """The component's communities by level (children before parents), then id. `previous`: the communities an earlier
    run stored for it (see the module docstring); none → from scratch."""
    stored: dict[int, list[Community]] = {}
    for community in sorted(previous, key=lambda c: c.community_id):
        stored.setdefault(community.level, []).append(community)
    nodes: dict[str, tuple[str, ...]] = {entity_id: (entity_id,) for entity_id in component.entity_ids}
    owner = {entity_id: entity_id for entity_id in component.entity_ids}  # entity → its node at this level
    found: list[DetectedCommunity] = []
    for level in range(max_levels):
        groups = _partition(level, nodes, owner, component, stored.get(level, []), resolution)
        formed = [group for group in groups if level == 0 or len(group) > 1]
        if not formed:
            break
        made: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # id → (entity ids, member ids)
        for group in formed:
            entity_ids = tuple(sorted(entity for node in group for entity in nodes[node]))
            made[community_id(level, entity_ids)] = (entity_ids, group)
        digests = _digests({e: cid for cid, (entity_ids, _) in made.items() for e in entity_ids}, component.links)
        for cid, (entity_ids, members) in made.items():
            content, fingerprint = _fingerprints(component.salt, level, entity_ids, members, digests.get(cid))
            found.append(DetectedCommunity(cid, level, entity_ids, members, None, content, fingerprint))
        merged = {node for group in formed for node in group}
        nodes = {node: entities for node, entities in nodes.items() if node not in merged}
        nodes.update((cid, entity_ids) for cid, (entity_ids, _) in made.items())
        owner = {entity: node for node, entities in nodes.items() for entity in entities}
        if len(nodes) == 1:
            break
    return _with_parents(found)


def _partition(
    level: int,
    nodes: dict[str, tuple[str, ...]],
    owner: dict[str, str],
    component: Component,
    stored: Sequence[Community],
    resolution: float,
) -> list[tuple[str, ...]]:
    """Groups of this level's nodes: the stored communities still intact, then Louvain over the other nodes."""
    kept: list[tuple[str, ...]] = []
    candidates = []
    taken: set[str] = set()
    for community in stored:
        members = community.member_ids
        if members and all(member in nodes and member not in taken for member in members):
            entity_ids = tuple(sorted(entity for member in members for entity in nodes[member]))
            if community_id(level, entity_ids) == community.community_id:
                candidates.append((community, entity_ids))
                taken.update(members)
    if candidates:
        by_entity = {e: c.community_id for c, entity_ids in candidates for e in entity_ids}
        digests = _digests(by_entity, component.links)
        for community, entity_ids in candidates:
            digest = digests.get(community.community_id)
            _, fingerprint = _fingerprints(component.salt, level, entity_ids, community.member_ids, digest)
            if fingerprint == community.fingerprint:
                kept.append(community.member_ids)
    held = {member for group in kept for member in group}
    free = sorted(node for node in nodes if node not in held)
    return kept + _louvain(free, owner, component.links, resolution)


def _louvain(free: list[str], owner: dict[str, str], links: Iterable[Link], resolution: float) -> list[tuple[str, ...]]:
    """One pass of Louvain's local moving over the free nodes and the links among them (summed per pair)."""
    index = {node: number for number, node in enumerate(free)}
    weights: dict[tuple[int, int], int] = {}
    for link in links:
        a, b = index.get(owner[link.source_id]), index.get(owner[link.target_id])
        if a is not None and b is not None and a != b:
            pair = (a, b) if a < b else (b, a)
            weights[pair] = weights.get(pair, 0) + link.weight
    if not weights:
        return [(node,) for node in free]
    graph = nx.Graph()
    graph.add_nodes_from(range(len(free)))
    graph.add_weighted_edges_from((a, b, weight) for (a, b), weight in sorted(weights.items()))
    first = next(
        iter(
            nx.community.louvain_partitions(
                graph, weight="weight", resolution=resolution, threshold=THRESHOLD, seed=SEED
            )
        )
    )
    return sorted(tuple(sorted(free[number] for number in group)) for group in first)


class _Digest:
    __slots__ = ("boundary", "inner")

    def __init__(self) -> None:
        self.inner: list[str] = []
        self.boundary: list[str] = []


def _digests(group_of: dict[str, str], links: Iterable[Link]) -> dict[str, _Digest]:
    """Group id → its relations inside and at its boundary (`relation:weight`, in relation id order), in one pass."""
    digests: dict[str, _Digest] = {}

    def digest(group: str) -> _Digest:
        found = digests.get(group)
        if found is None:
            found = digests[group] = _Digest()
        return found

    for link in links:
        source, target = group_of.get(link.source_id), group_of.get(link.target_id)
        if source is None and target is None:
            continue
        key = link.key
        if source is not None and source == target:
            digest(source).inner.append(key)
            continue
        if source is not None:
            digest(source).boundary.append(key)
        if target is not None:
            digest(target).boundary.append(key)
    return digests


def _fingerprints(
    salt: str, level: int, entity_ids: Sequence[str], member_ids: Sequence[str], digest: _Digest | None
) -> tuple[str, str]:
    """(content, fingerprint) of a community; the salt (detection settings) in the fingerprint only: new settings
    detect again, but a community found the same keeps its summary."""
    inner, boundary = (digest.inner, digest.boundary) if digest is not None else ([], [])
    content = stable_hash("community-content", *entity_ids, "|", *inner)
    return content, stable_hash("community-fingerprint", salt, str(level), content, *member_ids, "|", *boundary)


def _with_parents(found: list[DetectedCommunity]) -> list[DetectedCommunity]:
    parent_of: dict[str, str] = {}
    for community in found:
        if community.level > 0:
            parent_of.update(dict.fromkeys(community.member_ids, community.community_id))
    ordered = sorted(found, key=lambda c: (c.level, c.community_id))
    return [replace(c, parent_id=parent_of.get(c.community_id)) for c in ordered]


__all__ = ["SEED", "DetectedCommunity", "community_id", "detect"]
