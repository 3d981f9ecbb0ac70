"""The entity graph in memory, read from the graph port page by page, and split into its connected components.

Only what detection and summaries need is kept, in plain tuples (a 100k-entity graph is held as a few hundred
thousand small tuples, not pydantic models). Relations between the same two entities add up into one undirected
edge, weighted by the chunks that support them: two entities linked in many places pull together harder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from shared.domain.ids import stable_hash
from shared.ports import EntityGraphPage, GraphSink


class Node(NamedTuple):
    type: str
    name: str


class Link(NamedTuple):
    """One relation, directed as stored."""

    relation_id: str
    type: str
    source_id: str
    target_id: str
    weight: int

    @property
    def key(self) -> str:
        """What a fingerprint says of it: a relation with another weight (more support) is another key."""
        return f"{self.relation_id}:{self.weight}"


@dataclass
class EntityGraph:
    nodes: dict[str, Node] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)

    def add_page(self, page: EntityGraphPage) -> None:
        for entity in page.entities:
            self.nodes[entity.entity_id] = Node(entity.type, entity.name)
        for relation in page.relations:
            if relation.source_id != relation.target_id:  # a self-loop says nothing about grouping
                self.links.append(
                    Link(relation.relation_id, relation.type, relation.source_id, relation.target_id, relation.weight)
                )

    def known_links(self) -> list[Link]:
        """Links whose both ends were read (an entity deleted between two pages drops its links)."""
        return [link for link in self.links if link.source_id in self.nodes and link.target_id in self.nodes]


@dataclass(frozen=True)
class Component:
    """A connected part of the entity graph: communities never span two, so each is detected on its own."""

    entity_ids: tuple[str, ...]  # sorted
    links: tuple[Link, ...]  # sorted by relation id
    fingerprint: str  # of the entities, the relations and their weights, and the salt
    salt: str = ""  # the detection settings: in every fingerprint made from the component


def read_entity_graph(graph: GraphSink, page_size: int) -> EntityGraph:
    """The whole entity graph, read in pages of `page_size` entities (bounded result sets, resumable order)."""
    entity_graph = EntityGraph()
    for page in _pages(graph, page_size):
        entity_graph.add_page(page)
    return entity_graph


def components(entity_graph: EntityGraph, salt: str) -> list[Component]:
    """The connected components, in the order of their smallest entity id. `salt` goes into every fingerprint (the
    detection settings: changing them must recompute everything)."""
    parent: dict[str, str] = {entity_id: entity_id for entity_id in entity_graph.nodes}

    def root(entity_id: str) -> str:
        while parent[entity_id] != entity_id:
            parent[entity_id] = parent[parent[entity_id]]  # path halving
            entity_id = parent[entity_id]
        return entity_id

    links = entity_graph.known_links()
    for link in links:
        a, b = root(link.source_id), root(link.target_id)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for entity_id in entity_graph.nodes:
        members.setdefault(root(entity_id), []).append(entity_id)
    links_of: dict[str, list[Link]] = {}
    for link in links:
        links_of.setdefault(root(link.source_id), []).append(link)
    found = []
    for key in sorted(members, key=lambda key: min(members[key])):
        entity_ids = tuple(sorted(members[key]))
        component_links = tuple(sorted(links_of.get(key, []), key=lambda link: link.relation_id))
        found.append(Component(entity_ids, component_links, _fingerprint(salt, entity_ids, component_links), salt))
    return found


def _fingerprint(salt: str, entity_ids: tuple[str, ...], links: tuple[Link, ...]) -> str:
    parts = [salt, *entity_ids, "|", *(link.key for link in links)]
    return stable_hash("component", *parts)


def _pages(graph: GraphSink, page_size: int) -> Iterator[EntityGraphPage]:
    after: str | None = ""
    while after is not None:
        page = graph.entity_graph(after, page_size)
        yield page
        after = page.next_after


__all__ = ["Component", "EntityGraph", "Link", "Node", "components", "read_entity_graph"]
