"""Entity resolution: one canonical entity for the names of one real entity, within a batch, across documents and
across runs ("Okapi Analytics Ltd" in tomorrow's file joins today's "Okapi Analytics").

Per entity type, in this order:

1. Names with the same match key (matchkeys.py: case, accents, punctuation, honorifics, legal forms) are one
   entity, whose id is made of the key: `entity_id(type, key)`. No look-up decides it, so a redelivered batch, or two
   workers meeting the same new name at once, write one node.
2. The graph is asked for the entities sharing a blocking key with the batch's names (`entity_candidates`). A name
   whose key is the key of a stored entity's name, or of exactly one stored entity's alias, joins it. Since a
   resolved name is written as an alias of the entity it joined, a batch resolved again (redelivered) finds what its
   first resolution wrote and lands on the same ids.
3. A name that found no entity so far may still be a variant of one (similarity.py says on what evidence): of one
   stored entity (the context there is a relation to the same entity, such as the same organisation, through
   `linked_entities`), then of another name in the batch (the batch is one document: that is context already; an
   organisation or email domain in common corroborates). Only a match with exactly one entity is taken: a name two
   entities could claim stays apart.

The canonical entity keeps its stored (or first) name; every other spelling becomes an alias on it. Relations follow
their ends; a relation whose two ends became one entity is dropped.

Deletes. Aliases carry no provenance: an alias outlives the document that brought it for as long as its entity stays
(another document still mentions it), and goes with the entity when the last mention does. A spelling once seen
goes on naming the entity it was resolved to; that is what keeps a later batch, or a redelivered one, landing on
the same node.

Conservative by design: a missed merge leaves two nodes a later run can still join, a wrong merge mixes two
entities' relations for good. Two *different* new spellings of one entity resolved by two workers at the same time
can still make two nodes (neither sees the other yet): a missed merge, never a wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.domain import Chunk, Entity, Extraction, Relation
from shared.domain.ids import entity_id, relation_id
from shared.extraction.matchkeys import NameRules, blocking_keys, match_key, name_rules
from shared.extraction.schema import ExtractionSchema
from shared.extraction.similarity import Evidence, needed

CANDIDATES_PER_BLOCK = 20  # stored entities compared per blocking key: a common surname's key stays bounded
_EMAIL = re.compile(r"([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)")


class Candidate(Protocol):
    @property
    def entity_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def aliases(self) -> Sequence[str]: ...


class CandidateSource(Protocol):
    """What resolution reads from the graph (`GraphSink` has both)."""

    def entity_candidates(
        self, entity_type: str, blocks: Sequence[str], per_block: int = ..., ids: Sequence[str] = ...
    ) -> Sequence[Candidate]:
        """Stored entities of the type sharing a blocking key, and those among `ids`."""
        ...

    def linked_entities(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The pairs of entity ids a relation joins."""
        ...


@dataclass
class _Group:
    """The batch's entities of one type sharing one match key."""

    type: str
    key: str
    names: dict[str, None] = field(default_factory=dict)  # surface forms, first seen first: name, then aliases
    chunk_ids: dict[str, None] = field(default_factory=dict)
    source_ids: list[str] = field(default_factory=list)  # the extractor's ids of its entities
    target: str | None = None  # the stored entity it joins
    target_name: str | None = None

    @property
    def own_id(self) -> str:
        return entity_id(self.type, self.key)

    def rank(self) -> tuple[int, int, int, str]:
        """Which group of a merged set names it: the fullest name (initials count for nothing), the most mentioned."""
        full_words = sum(len(word) > 1 for word in self.key.split())
        return (-full_words, -len(self.chunk_ids), -len(self.key), self.key)


def resolve(
    extraction: Extraction,
    chunks: Sequence[Chunk],
    schema: ExtractionSchema,
    graph: CandidateSource | None = None,
    *,
    rules: Mapping[str, NameRules] | None = None,
) -> Extraction:
    """`extraction` with each entity re-keyed on its canonical entity, aliases on it, relations following.

    `graph`: where stored entities are looked up (None: the batch is resolved on its own). `rules`: the types'
    folding rules, `name_rules(schema)` by default (pass them in to read the schema once).
    """
    rules = name_rules(schema) if rules is None else rules
    groups, passthrough = _groups(extraction.entities, rules)
    by_type: dict[str, list[_Group]] = {}
    for group in groups.values():
        by_type.setdefault(group.type, []).append(group)
    neighbours = _neighbours(extraction.relations, groups)
    domains = _email_domains(groups, chunks, rules)
    parent: dict[str, str] = {}  # own id -> the own id of the group that names its merged set (absent: itself)
    for entity_type, members in by_type.items():
        if graph is not None:
            _join_stored(graph, entity_type, rules[entity_type], members, neighbours, groups)
        _join_within(members, rules[entity_type].personal, neighbours, domains, parent)
    return _rewritten(extraction, groups, passthrough, parent, rules, schema)


# -- grouping the batch --


def _groups(entities: Iterable[Entity], rules: Mapping[str, NameRules]) -> tuple[dict[str, _Group], dict[str, Entity]]:
    """Groups by (type, key), keyed by their own id; entities of a type outside the schema, or with no key, apart."""
    groups: dict[str, _Group] = {}
    passthrough: dict[str, Entity] = {}
    for entity in entities:
        type_rules = rules.get(entity.type)
        key = match_key(entity.name, type_rules) if type_rules is not None else ""
        if not key:
            passthrough[entity.entity_id] = entity
            continue
        own = entity_id(entity.type, key)
        group = groups.setdefault(own, _Group(entity.type, key))
        group.names.update(dict.fromkeys([entity.name, *entity.aliases]))
        group.chunk_ids.update(dict.fromkeys(entity.chunk_ids))
        group.source_ids.append(entity.entity_id)
    return groups, passthrough


def _neighbours(relations: Iterable[Relation], groups: Mapping[str, _Group]) -> dict[str, set[str]]:
    """Own id -> the own ids of the groups a relation of the batch joins it to."""
    own_of = {source: own for own, group in groups.items() for source in group.source_ids}
    found: dict[str, set[str]] = {}
    for relation in relations:
        a, b = own_of.get(relation.source_id), own_of.get(relation.target_id)
        if a is not None and b is not None and a != b:
            found.setdefault(a, set()).add(b)
            found.setdefault(b, set()).add(a)
    return found


def _email_domains(
    groups: Mapping[str, _Group], chunks: Sequence[Chunk], rules: Mapping[str, NameRules]
) -> dict[str, set[str]]:
    """Own id of a personal name -> domains of the addresses in its chunks whose local part holds its surname."""
    texts = {chunk.chunk_id: chunk.text for chunk in chunks}
    addresses: dict[str, list[tuple[str, str]]] = {}
    found: dict[str, set[str]] = {}
    for own, group in groups.items():
        if not rules[group.type].personal or len(group.key.split()) < 2:
            continue
        surname = group.key.split()[-1]
        for chunk_id in group.chunk_ids:
            if chunk_id not in addresses:
                addresses[chunk_id] = [
                    (local.casefold(), domain.casefold()) for local, domain in _EMAIL.findall(texts.get(chunk_id, ""))
                ]
            for local, domain in addresses[chunk_id]:
                if surname in re.split(r"[._+-]", local) or local.endswith(surname):
                    found.setdefault(own, set()).add(domain)
    return found


# -- joining stored entities --


def _join_stored(
    graph: CandidateSource,
    entity_type: str,
    type_rules: NameRules,
    members: list[_Group],
    neighbours: Mapping[str, set[str]],
    groups: Mapping[str, _Group],
) -> None:
    """Set each group's `target`: the stored entity its key names exactly, or its spelling does with evidence."""
    blocks = sorted({block for group in members for block in blocking_keys(group.key)})
    # The groups' own ids are asked for by id as well: a crowded key must never hide the node a name keys to.
    own_ids = sorted(group.own_id for group in members)
    candidates = list(graph.entity_candidates(entity_type, blocks, CANDIDATES_PER_BLOCK, own_ids))
    if not candidates:
        return
    names = {candidate.entity_id: candidate.name for candidate in candidates}
    keys = {
        candidate.entity_id: {
            key for name in (candidate.name, *candidate.aliases) if (key := match_key(name, type_rules))
        }
        for candidate in candidates
    }
    maybe: dict[str, list[tuple[str, Evidence]]] = {}  # own id -> (stored id, evidence needed)
    for group in members:
        if group.own_id in keys:
            group.target = group.own_id
        elif holders := [stored for stored, stored_keys in keys.items() if group.key in stored_keys]:
            if len(holders) == 1:  # two stored entities claiming the name: it stays apart
                group.target = holders[0]
        else:
            evidence = (
                (stored, min(needed(group.key, key, type_rules.personal) for key in stored_keys))
                for stored, stored_keys in keys.items()
            )
            if found := [(stored, need) for stored, need in evidence if need < Evidence.NEVER]:
                maybe[group.own_id] = found
    linked = _stored_links(graph, maybe, neighbours, groups)
    for own, found in maybe.items():
        backed = [stored for stored, need in found if need == Evidence.STRONG or (own, stored) in linked]
        if len(backed) == 1:
            groups[own].target = backed[0]
    for group in members:
        if group.target is not None:
            group.target_name = names[group.target]


def _stored_links(
    graph: CandidateSource,
    maybe: Mapping[str, list[tuple[str, Evidence]]],
    neighbours: Mapping[str, set[str]],
    groups: Mapping[str, _Group],
) -> set[tuple[str, str]]:
    """(own id, stored id) pairs where the stored entity is related to an entity the group is related to here."""
    asked: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (stored id, neighbour's id) -> the pairs it backs
    for own, found in maybe.items():
        for stored, need in found:
            if need == Evidence.STRONG:
                continue
            for neighbour in neighbours.get(own, ()):
                other = groups[neighbour]
                asked.setdefault((stored, other.target or other.own_id), set()).add((own, stored))
    if not asked:
        return set()
    return {pair for link in graph.linked_entities(sorted(asked)) for pair in asked[link]}


# -- joining names of the batch --


def _join_within(
    members: list[_Group],
    personal: bool,
    neighbours: Mapping[str, set[str]],
    domains: Mapping[str, set[str]],
    parent: dict[str, str],
) -> None:
    """Merge groups of one type the batch shows to be one entity (the batch is one document: context is given)."""
    by_block: dict[str, list[_Group]] = {}
    for group in members:
        for block in blocking_keys(group.key):
            by_block.setdefault(block, []).append(group)
    partners: dict[str, set[str]] = {group.own_id: set() for group in members}
    for block_members in by_block.values():
        for i, a in enumerate(block_members):
            for b in block_members[i + 1 :]:
                need = needed(a.key, b.key, personal)
                shared_domain = domains.get(a.own_id, set()) & domains.get(b.own_id, set())
                shared_neighbour = neighbours.get(a.own_id, set()) & neighbours.get(b.own_id, set())
                if need <= Evidence.CONTEXT or (need == Evidence.CORROBORATED and (shared_domain or shared_neighbour)):
                    partners[a.own_id].add(b.own_id)
                    partners[b.own_id].add(a.own_id)
    groups = {group.own_id: group for group in members}
    seen: set[str] = set()
    for own in sorted(partners):
        if own in seen or not partners[own]:
            continue
        component = _component(own, partners)
        seen |= component
        # Only a set of names that all match one another merges: "J Smith" beside "John Smith" and "Jane Smith"
        # could be either, so none of the three joins another.
        if all(partners[x] >= component - {x} for x in component):
            _merge(parent, [groups[x] for x in sorted(component)])


def _component(start: str, partners: Mapping[str, set[str]]) -> set[str]:
    found, todo = {start}, [start]
    while todo:
        for other in partners[todo.pop()] - found:
            found.add(other)
            todo.append(other)
    return found


def _merge(parent: dict[str, str], merged: list[_Group]) -> None:
    """One entity of `merged`, named by its best-ranked group, unless they already joined different stored ones."""
    if len({group.target for group in merged if group.target is not None}) > 1:
        return
    winner = min(merged, key=_Group.rank)
    for group in merged:
        parent[group.own_id] = winner.own_id


def _root(parent: Mapping[str, str], own: str) -> str:
    return parent.get(own, own)


# -- the resolved extraction --


def _rewritten(
    extraction: Extraction,
    groups: Mapping[str, _Group],
    passthrough: Mapping[str, Entity],
    parent: Mapping[str, str],
    rules: Mapping[str, NameRules],
    schema: ExtractionSchema,
) -> Extraction:
    members: dict[str, list[_Group]] = {}
    for own in groups:
        members.setdefault(_root(parent, own), []).append(groups[own])
    entities: dict[str, Entity] = {}
    new_id: dict[str, str] = {}
    for root, merged in members.items():
        canonical = groups[root]
        target = next((g for g in merged if g.target is not None), None)
        final_id = target.target if target is not None and target.target is not None else canonical.own_id
        name = target.target_name if target is not None and target.target_name else next(iter(canonical.names))
        names = dict.fromkeys(n for g in [canonical, *(g for g in merged if g is not canonical)] for n in g.names)
        key = match_key(name, rules[canonical.type])
        entities[final_id] = Entity(
            entity_id=final_id,
            type=canonical.type,
            name=name,
            aliases=[n for n in names if n != name],
            chunk_ids=list(dict.fromkeys(c for g in merged for c in g.chunk_ids)),
            blocks=list(blocking_keys(key)),
        )
        new_id.update((source, final_id) for g in merged for source in g.source_ids)
    entities.update(passthrough)
    new_id.update((source, source) for source in passthrough)
    relations = _relations(extraction.relations, new_id, schema)
    return Extraction(entities=list(entities.values()), relations=relations)


def _relations(relations: Iterable[Relation], new_id: Mapping[str, str], schema: ExtractionSchema) -> list[Relation]:
    """Relations between the resolved ids; one per new id, chunk ids unioned, the first evidence kept."""
    merged: dict[str, Relation] = {}
    for relation in relations:
        source, target = new_id.get(relation.source_id), new_id.get(relation.target_id)
        if source is None or target is None or source == target:
            continue
        spec = schema.relation_types.get(relation.type)
        if spec is not None and spec.symmetric and target < source:
            source, target = target, source  # one edge whichever way round, as the extractors write it
        key = relation_id(source, relation.type, target)
        first = merged.get(key)
        if first is None:
            merged[key] = relation.model_copy(update={"relation_id": key, "source_id": source, "target_id": target})
        else:
            chunk_ids = list(dict.fromkeys([*first.chunk_ids, *relation.chunk_ids]))
            merged[key] = first.model_copy(update={"chunk_ids": chunk_ids})
    return list(merged.values())
