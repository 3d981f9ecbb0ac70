"""Communities on the embedded default: the samples through the whole pipeline (FalkorDB graph), then
`refresh_communities` as `tributary communities` and the bulk run call it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.communities import CommunityRefresh, refresh_communities, stored_communities
from shared.communities.summaries import EXTRACTIVE
from shared.domain import JobState
from shared.domain.ids import document_id
from shared.ports import Community
from tests.support.pipeline import Pipeline, sample_files

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

FIRST_RUN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECOND_RUN = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
THIRD_RUN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

# People, an organisation and a place that no sample names: a new part of the graph.
NEW_GROUP = (
    b"Freya Lindqvist works for Tern Systems AB in Uppsala.\n\n"
    b"Oskar Berg works for Tern Systems AB. Oskar Berg reports to Freya Lindqvist.\n"
)


def ingest_samples(pipeline: Pipeline) -> None:
    for name, content in sample_files().items():
        assert pipeline.job(pipeline.drop(name, content)).state is JobState.SUCCEEDED, name


def held(pipeline: Pipeline) -> dict[str, Community]:
    return {community.community_id: community for community in stored_communities(pipeline.ports.graph)}


def graph_state(pipeline: Pipeline) -> tuple[Any, Any]:
    """Every Community node's properties and every IN_COMMUNITY edge."""
    graph: Any = pipeline.ports.graph
    nodes = graph.query("MATCH (c:Community) RETURN c.id, properties(c) ORDER BY c.id")
    edges = graph.query("MATCH (m)-[:IN_COMMUNITY]->(c:Community) RETURN m.id, c.id ORDER BY m.id, c.id")
    return nodes, edges


def entity_ids(pipeline: Pipeline) -> set[str]:
    graph: Any = pipeline.ports.graph
    return {row[0] for row in graph.query("MATCH (e:Entity) RETURN e.id")}


def test_the_samples_get_communities_with_summaries_and_a_second_run_changes_nothing(pipeline: Pipeline) -> None:
    # GIVEN the samples through the pipeline
    ingest_samples(pipeline)
    # WHEN communities are refreshed
    first = refresh_communities(pipeline.ports, now=FIRST_RUN)
    # THEN the graph holds them, each with a title and an extractive summary, written at this run's time
    communities = held(pipeline)
    assert first.written == first.communities == len(communities) > 1
    assert first.summarised == first.written
    assert first.summarizer == EXTRACTIVE
    for community in communities.values():
        assert community.title
        assert community.summary.startswith(f"{community.size} entities")
        assert community.updated == "2026-12-01T09:00:00+00:00"
        assert community.summarizer == EXTRACTIVE
    # AND every entity linked to another is in exactly one level-0 community; levels above group communities
    graph: Any = pipeline.ports.graph
    linked = {row[0] for row in graph.query("MATCH (e:Entity)-[r]-(:Entity) RETURN DISTINCT e.id")}
    in_level0 = graph.query("MATCH (e:Entity)-[:IN_COMMUNITY]->(c:Community {level: 0}) RETURN e.id, count(c)")
    assert {row[0] for row in in_level0} == linked
    assert all(row[1] == 1 for row in in_level0)
    for community in communities.values():
        assert len(community.member_ids) == (community.size if community.level == 0 else len(community.member_ids))
        if community.level > 0:
            assert set(community.member_ids) <= set(communities)
            assert community.size == sum(communities[m].size for m in community.member_ids)
    # AND some summary quotes evidence from the documents
    assert any("Evidence: “" in community.summary for community in communities.values())

    # WHEN refreshed again with no new data
    before = graph_state(pipeline)
    second = refresh_communities(pipeline.ports, now=SECOND_RUN)
    # THEN nothing is detected, written or deleted, and the graph is the same, `updated` included
    assert (second.components_changed, second.written, second.summarised, second.deleted) == (0, 0, 0, 0)
    assert second.unchanged == second.communities == first.communities
    assert graph_state(pipeline) == before


def test_new_data_changes_only_the_communities_it_touches(pipeline: Pipeline) -> None:
    # GIVEN the samples with their communities
    ingest_samples(pipeline)
    refresh_communities(pipeline.ports, now=FIRST_RUN)
    before = held(pipeline)

    # WHEN a file about people no sample names is ingested, and communities refreshed
    assert pipeline.job(pipeline.drop("later/tern-systems.txt", NEW_GROUP)).state is JobState.SUCCEEDED
    refresh = refresh_communities(pipeline.ports, now=SECOND_RUN)
    after = held(pipeline)
    # THEN only the new part of the graph changed; every earlier community is exactly as it was
    assert refresh.components_changed == 1
    assert refresh.deleted == 0
    assert {cid: after[cid] for cid in before} == before
    new = [after[cid] for cid in set(after) - set(before)]
    assert new
    assert refresh.written == len(new)
    assert all(community.updated == "2026-12-02T09:00:00+00:00" for community in new)
    assert any("Tern Systems AB" in community.title for community in new)

    # WHEN that file goes (its entities with it) and communities are refreshed
    pipeline.ports.graph.delete_document(document_id("testaccount", "incoming", "later/tern-systems.txt"))
    gone = refresh_communities(pipeline.ports, now=THIRD_RUN)
    # THEN its communities are deleted, the others stay as they were, and no community has a vanished member
    assert gone.deleted == len(new)
    assert held(pipeline) == before
    members = {m for c in held(pipeline).values() if c.level == 0 for m in c.member_ids}
    assert members <= entity_ids(pipeline)


def test_a_change_inside_a_part_of_the_graph_rewrites_only_what_changed_there(pipeline: Pipeline) -> None:
    # GIVEN the samples with their communities
    ingest_samples(pipeline)
    refresh_communities(pipeline.ports, now=FIRST_RUN)
    before = held(pipeline)
    # WHEN a file repeats a relation the samples hold (its weight grows) and communities are refreshed
    graph: Any = pipeline.ports.graph
    [[source, target]] = graph.query(
        "MATCH (s:Entity)-[r:WORKS_FOR]->(t:Entity) RETURN s.name, t.name ORDER BY r.id LIMIT 1"
    )
    text = f"{source} works for {target}.\n".encode()
    assert pipeline.job(pipeline.drop("later/again.txt", text)).state is JobState.SUCCEEDED
    refresh: CommunityRefresh = refresh_communities(pipeline.ports, now=SECOND_RUN)
    after = held(pipeline)
    # THEN the communities whose content is the same keep their summary and time; those rewritten got this run's
    rewritten = {cid for cid, c in after.items() if c.updated == "2026-12-02T09:00:00+00:00"}
    assert rewritten
    assert len(rewritten) < len(after)
    for cid, community in after.items():
        if cid in before and cid not in rewritten:
            assert community.summary == before[cid].summary
            assert community.fingerprint == before[cid].fingerprint
    # AND the community holding the relation's source is one of those rewritten (its content changed)
    source_id = graph.query("MATCH (e:Entity {name: $name}) RETURN e.id", {"name": source})[0][0]
    holder = next(c for c in after.values() if c.level == 0 and source_id in c.member_ids)
    assert holder.community_id in rewritten
    assert refresh.written >= len(rewritten)
