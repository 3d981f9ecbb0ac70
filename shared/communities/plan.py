"""What a run has to do, given the components of the entity graph now and the communities the graph holds.

Communities never span two connected components, and detection is deterministic per component (detection.py), so
a component is the unit of change:
- a component whose fingerprint (its entities, relations and their weights, and the detection settings) is the one
  its stored communities carry, all summarised by the summarizer now configured, is skipped: not even detected;
- any other component is detected again, and each community found is compared with the stored one of the same id:
  the same fingerprint and summarizer → nothing to write (only its `component` is stamped anew if that moved);
  otherwise it is written, keeping the stored summary when its content (entities and inner relations) is the same;
- a stored community that no current component produced or kept is stale, and goes. That is how communities of a
  deleted document's entities are cleaned up: the delete removes the entities (with their IN_COMMUNITY edges), and
  the next run finds their components changed or gone.
GraphRAG recomputes every community on every run; this recomputes the components that changed, and summarises (the
costly part when a chat model does it) only the communities whose content changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from shared.communities.detection import DetectedCommunity
from shared.communities.graph import Component
from shared.ports import Community


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
    kept_components: int = 0  # skipped: their stored communities are current
    detected_components: int = 0
    small_components: int = 0  # below the minimum size: no community
    stale: list[str] = field(default_factory=list)  # stored community ids to delete

    @property
    def writes(self) -> int:
        return sum(len(changes) for changes in self.changes.values())


def plan(
    components: Sequence[Component],
    stored: Iterable[Community],
    summarizer: str,
    detect: Callable[[Component], list[DetectedCommunity]],
    min_size: int,
) -> Plan:
    """The plan of a run (see the module docstring); `detect` runs only on the components that need it."""
    stored_by_id = {community.community_id: community for community in stored}
    by_component: dict[str, list[Community]] = {}
    for community in stored_by_id.values():
        by_component.setdefault(community.component, []).append(community)

    result = Plan()
    current: set[str] = set()
    for component in components:
        if len(component.entity_ids) < min_size:
            result.small_components += 1
            continue
        held = by_component.get(component.fingerprint, [])
        if _current(held, component, summarizer):
            result.kept_components += 1
            result.unchanged += len(held)
            current.update(community.community_id for community in held)
            continue
        result.detected_components += 1
        changes = []
        for found in detect(component):
            current.add(found.community_id)
            before = stored_by_id.get(found.community_id)
            same_summary = before is not None and before.summarizer == summarizer and before.content == found.content
            same = same_summary and before is not None and before.fingerprint == found.fingerprint
            if same and before is not None and before.component == found.component:
                result.unchanged += 1
                continue
            changes.append(Change(found, before, before if same_summary else None))
        if changes:
            result.changes[component.fingerprint] = changes
    result.stale = sorted(set(stored_by_id) - current)
    return result


def _current(held: list[Community], component: Component, summarizer: str) -> bool:
    """Whether the communities stamped with the component's fingerprint are all of them, summarised as wanted: their
    level-0 communities cover its entities (a write stamps a component's communities in one statement, so a run cut
    short leaves none stamped; this also catches a community deleted by other means)."""
    covered = sum(community.size for community in held if community.level == 0)
    return (
        bool(held)
        and covered == len(component.entity_ids)
        and all(community.summarizer == summarizer for community in held)
    )


__all__ = ["Change", "Plan", "plan"]
