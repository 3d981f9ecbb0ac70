"""`refresh_communities(ports)`: bring the graph's communities up to date with its entities, incrementally.

Read the entity graph in pages → split it into connected components → plan (plan.py: detect each component with
its stored communities, keeping those still intact) → summarise the communities whose content changed → write the
changed ones, a component's in one call → delete the stale ones. A second run over an unchanged graph writes
nothing at all.

Callers: `tributary communities` (shared/cli_communities.py) and, after a bulk run, the bulk orchestration (an
activity calls `refresh_communities(ports)` and puts `.model_dump()` of the answer in its summary). It is meant to
run one at a time per graph: two concurrent runs compute the same communities and write the same values (every
write is a MERGE on ids), but can each delete a community the other just wrote only in a race with new data, which
the next run repairs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import networkx as nx
from pydantic import BaseModel, ConfigDict

from shared.communities import summaries
from shared.communities.detection import SEED, DetectedCommunity, detect
from shared.communities.graph import Component, EntityGraph, Link, components, read_entity_graph
from shared.communities.plan import Change, plan
from shared.config import Settings
from shared.ports import Community, GraphSink, Ports

log = logging.getLogger(__name__)

ENTITY_PAGE = 5000  # entities per read of the entity graph
COMMUNITY_PAGE = 1000  # communities per read of the stored ones
WRITE_BATCH = 500  # communities per write call (a component bigger than that is written in one call of its own)
EVIDENCE_BATCH = 500  # relations per evidence read


class CommunityRefresh(BaseModel):
    """What a run found and did (the CLI prints it; the bulk run puts it in its summary)."""

    model_config = ConfigDict(frozen=True)

    entities: int
    relations: int
    components: int  # connected components of at least the minimum size
    components_changed: int  # of those, where some community was written
    communities: int  # in the graph after the run
    levels: int  # the highest level + 1
    written: int  # new or changed communities written
    summarised: int  # of those, summarised anew (the others kept their summary)
    unchanged: int
    deleted: int
    summarizer: str  # the summarizer configured: extractive/… or chat:<model>/…
    chat_answers: int
    chat_fallbacks: int  # summaries made extractive because the chat model failed
    input_tokens: int
    output_tokens: int
    seconds: float
    read_seconds: float  # the entity graph and the stored communities
    detect_seconds: float  # components, detection and the plan
    summarise_seconds: float  # summaries, with the evidence they read
    write_seconds: float  # writes and deletes


def detection_salt(settings: Settings) -> str:
    """What, besides the graph, decides the communities: in every fingerprint, so changing it detects everything again
    (summaries stay where a community's content comes out the same)."""
    return (
        f"louvain/networkx-{nx.__version__}/seed-{SEED}/resolution-{settings.community_resolution}"
        f"/levels-{settings.community_max_levels}"
    )


def refresh_communities(ports: Ports, *, full: bool = False, now: datetime | None = None) -> CommunityRefresh:
    """Detect, summarise and write the communities of `ports.graph` where its entities changed since the last run;
    delete those left stale. Summaries by `ports.chat` when set, else extractive. See the module docstring.

    `full`: detect every component from scratch, as if no community were stored (summaries are still kept where a
    community's content did not change); the result then depends on the graph alone, not on the order data came in.
    """
    started = time.perf_counter()
    settings = ports.settings
    graph = ports.graph
    updated = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    summarizer = summaries.EXTRACTIVE if ports.chat is None else summaries.chat_summarizer(ports.chat)

    entity_graph = read_entity_graph(graph, ENTITY_PAGE)
    stored = list(stored_communities(graph))
    read_done = time.perf_counter()
    parts = components(entity_graph, detection_salt(settings))

    def detect_component(component: Component, previous: Sequence[Community]) -> list[DetectedCommunity]:
        return detect(component, settings.community_resolution, settings.community_max_levels, previous)

    work = plan(parts, stored, summarizer, detect_component, settings.community_min_size, full=full)
    detect_done = time.perf_counter()
    usage = summaries.Usage()
    by_fingerprint = {component.fingerprint: component for component in parts}
    batch: list[Community] = []
    write_seconds = 0.0

    def write(communities: list[Community]) -> None:
        nonlocal write_seconds
        begun = time.perf_counter()
        graph.write_communities(communities)
        write_seconds += time.perf_counter() - begun

    for fingerprint, changes in work.changes.items():
        written = _communities(changes, by_fingerprint[fingerprint], entity_graph, ports, summarizer, usage, updated)
        if batch and len(batch) + len(written) > WRITE_BATCH:
            write(batch)
            batch = []
        batch.extend(written)  # a component's communities in one call: a parent and its children together
    if batch:
        write(batch)
    begun = time.perf_counter()
    graph.delete_communities(work.stale)
    write_seconds += time.perf_counter() - begun
    finished = time.perf_counter()

    # What the graph holds now, without reading it again: what was kept, and what was written.
    stale = set(work.stale)
    levels = {c.community_id: c.level for c in stored if c.community_id not in stale}
    levels.update(
        (change.community.community_id, change.community.level) for c in work.changes.values() for change in c
    )
    refresh = CommunityRefresh(
        entities=len(entity_graph.nodes),
        relations=len(entity_graph.links),
        components=work.components,
        components_changed=len(work.changes),
        communities=len(levels),
        levels=max(levels.values(), default=-1) + 1,
        written=work.writes,
        summarised=usage.summarised,
        unchanged=work.unchanged,
        deleted=len(work.stale),
        summarizer=summarizer,
        chat_answers=usage.chat_answers,
        chat_fallbacks=usage.chat_fallbacks,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        seconds=round(finished - started, 3),
        read_seconds=round(read_done - started, 3),
        detect_seconds=round(detect_done - read_done, 3),
        summarise_seconds=round(finished - detect_done - write_seconds, 3),
        write_seconds=round(write_seconds, 3),
    )
    log.info("communities refreshed: %s", refresh.model_dump())
    return refresh


def stored_communities(graph: GraphSink) -> Iterator[Community]:
    """Every community the graph holds, read in pages."""
    after = ""
    while True:
        page = graph.communities(after, COMMUNITY_PAGE)
        yield from page
        if len(page) < COMMUNITY_PAGE:
            return
        after = page[-1].community_id


def _communities(
    changes: Sequence[Change],
    component: Component,
    entity_graph: EntityGraph,
    ports: Ports,
    summarizer: str,
    usage: summaries.Usage,
    updated: str,
) -> list[Community]:
    """The Community rows of one component's changes, summarised where their content changed."""
    to_summarise = [change for change in changes if change.summary_from is None]
    views = _views([change.community for change in to_summarise], component, entity_graph)
    wanted = [relation for v in views.values() for relation in summaries.evidence_wanted(v)]
    evidence: dict[str, str] = {}
    for start in range(0, len(wanted), EVIDENCE_BATCH):
        evidence.update(ports.graph.relation_evidence(wanted[start : start + EVIDENCE_BATCH]))
    rows = []
    for change in changes:
        detected, source = change.community, change.summary_from
        if source is not None:
            title, summary, by = source.title, source.summary, source.summarizer
        else:
            community_view = summaries.with_evidence(views[detected.community_id], evidence)
            title, summary, by = summaries.summarise(
                community_view, ports.chat, ports.settings.community_summary_max_tokens, usage
            )
        rows.append(
            Community(
                community_id=detected.community_id,
                level=detected.level,
                size=len(detected.entity_ids),
                member_ids=detected.member_ids,
                title=title,
                summary=summary,
                summarizer=by,
                fingerprint=detected.fingerprint,
                content=detected.content,
                updated=updated,
            )
        )
    return rows


def _views(
    communities: Sequence[DetectedCommunity], component: Component, entity_graph: EntityGraph
) -> dict[str, summaries.CommunityView]:
    """Each community's view, from one pass over the component's links: a link is inside every community that holds
    both its ends, i.e. the communities its two ends' chains of ancestors share."""
    if not communities:
        return {}
    chains = _chains(communities)
    inner: dict[str, list[Link]] = {community.community_id: [] for community in communities}
    for link in component.links:
        shared = set(chains.get(link.source_id, ())) & set(chains.get(link.target_id, ()))
        for community_id in shared:
            inner[community_id].append(link)
    limit = max(summaries.TOP_ENTITIES, summaries.CHAT_ENTITIES)
    return {
        community.community_id: summaries.view(
            community.entity_ids, inner[community.community_id], entity_graph.nodes, limit
        )
        for community in communities
    }


def _chains(communities: Sequence[DetectedCommunity]) -> dict[str, list[str]]:
    """Entity id → the ids of the given communities that hold it."""
    chains: dict[str, list[str]] = {}
    for community in communities:
        for entity_id in community.entity_ids:
            chains.setdefault(entity_id, []).append(community.community_id)
    return chains


__all__ = ["CommunityRefresh", "detection_salt", "refresh_communities", "stored_communities"]
