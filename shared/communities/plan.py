"""What a run has to do, given the components of the entity graph now and the communities the graph holds.

Communities never span two connected components, so each component is detected on its own, with the stored
communities over its entities (detection.py keeps every one whose fingerprint still matches the graph and runs
Louvain only on the rest). Each community found is then compared with the stored one of the same id:
- same fingerprint and same summarizer → nothing to write (a component where nothing changed writes nothing, and
  runs no Louvain: every stored community in it is intact);
- otherwise it is written, keeping the stored title and summary when its content (entities and the relations
  among them) and summarizer are the same, so only communities whose content changed are summarised again;
- a stored community no component produced is stale, and goes. That is how a deleted document's communities are
  cleaned up: the delete removes its entities (with their IN_COMMUNITY edges), and the next run finds what is left.
GraphRAG recomputes every community on every run; this recomputes around what changed, and summarises (the costly
part when a chat model does it) only the communities whose content changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from shared.communities.detection import DetectedCommunity
from shared.communities.graph import Component
from shared.ports import Community

Detect = Callable[[Component, Sequence[Community]], list[DetectedCommunity]]


@dataclass(frozen=True)
class Change:
    """A detected community to write; `summary_from` is the stored community whose title and summary still fit."""

    community: DetectedCommunity
    stored: Community | None  # the stored community of the same id, if any
    summary_from: Community | None


@dataclass
class Plan:
    changes: dict[str, list[Change]] = field(default_factory=dict)  # component fingerprint → what to write in it
    unchanged: int = 0
    components: int = 0  # of at least the minimum size
    small_components: int = 0  # below it: no community
    stale: list[str] = field(default_factory=list)  # stored community ids to delete

    @property
    def writes(self) -> int:
        return sum(len(changes) for changes in self.changes.values())


def plan(
    components: Sequence[Component],
    stored: Iterable[Community],
    summarizer: str,
    detect: Detect,
    min_size: int,
    *,
    full: bool = False,
) -> Plan:
    """The plan of a run (see the module docstring). `detect(component, previous)` gets the stored communities over
    the component's entities, or none when `full` (every component from scratch)."""
    stored_by_id = {community.community_id: community for community in stored}
    previous = _Previous(stored_by_id)
    result = Plan()
    current: set[str] = set()
    for component in components:
        if len(component.entity_ids) < min_size:
            result.small_components += 1
            continue
        result.components += 1
        changes = []
        for found in detect(component, [] if full else previous.of(component)):
            current.add(found.community_id)
            before = stored_by_id.get(found.community_id)
            same_summary = before is not None and before.summarizer == summarizer and before.content == found.content
            if same_summary and before is not None and before.fingerprint == found.fingerprint:
                result.unchanged += 1
                continue
            changes.append(Change(found, before, before if same_summary else None))
        if changes:
            result.changes[component.fingerprint] = changes
    result.stale = sorted(set(stored_by_id) - current)
    return result


class _Previous:
    """The stored communities over a component's entities: its entities' level-0 communities and their ancestors."""

    def __init__(self, stored: dict[str, Community]) -> None:
        self.stored = stored
        self.level0: dict[str, str] = {}
        self.parent: dict[str, str] = {}
        for community in stored.values():
            target = self.level0 if community.level == 0 else self.parent
            target.update(dict.fromkeys(community.member_ids, community.community_id))

    def of(self, component: Component) -> list[Community]:
        found: set[str] = set()
        frontier = {self.level0[e] for e in component.entity_ids if e in self.level0}
        while frontier:
            found |= frontier
            frontier = {self.parent[c] for c in frontier if c in self.parent} - found
        return [self.stored[community_id] for community_id in sorted(found)]


__all__ = ["Change", "Detect", "Plan", "plan"]
