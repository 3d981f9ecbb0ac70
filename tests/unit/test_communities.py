"""Community detection and the incremental plan, on entity graphs built in memory (no server).

Detection must be deterministic (same graph → same communities and ids, in any process); the plan must skip what did
not change, keep summaries whose content did not change, and name what went stale.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from shared.communities import summaries
from shared.communities.detection import DetectedCommunity, community_id, detect
from shared.communities.graph import Component, EntityGraph, Link, Node, components
from shared.communities.plan import plan
from shared.domain.ids import entity_id, relation_id
from shared.ports import Community

SALT = "test-salt"


def two_cliques_and_a_pair(extra: list[tuple[str, str]] | None = None) -> EntityGraph:
    """Two tight groups of five people joined by one weak link, a separate pair, and a lone entity."""
    graph = EntityGraph()
    pairs: list[tuple[str, str]] = []
    for group in ("a", "b"):
        names = [f"{group}{n}" for n in range(5)]
        pairs += [(x, y) for i, x in enumerate(names) for y in names[i + 1 :]]
    pairs += [("a0", "b0"), ("p0", "p1"), *(extra or [])]
    for name in {*sum(pairs, ()), "lonely"}:
        graph.nodes[entity_id("Person", name)] = Node("Person", name)
    for x, y in pairs:
        source, target = entity_id("Person", x), entity_id("Person", y)
        graph.links.append(
            Link(relation_id(source, "KNOWS", target), "KNOWS", source, target, 2 if x[0] == y[0] else 1)
        )
    return graph


def named(graph: EntityGraph, community: DetectedCommunity) -> set[str]:
    return {graph.nodes[e].name for e in community.entity_ids}


def random_graph(seed: int, size: int = 300, links: int = 700) -> EntityGraph:
    rng = random.Random(seed)
    graph = EntityGraph()
    ids = [entity_id("Person", f"p{n}") for n in range(size)]
    for n, e in enumerate(ids):
        graph.nodes[e] = Node("Person", f"p{n}")
    for _ in range(links):
        a, b = rng.sample(ids, 2)
        graph.links.append(Link(relation_id(a, "KNOWS", b), "KNOWS", a, b, rng.randint(1, 3)))
    return graph


def test_components_split_the_graph_and_fingerprint_what_is_in_them() -> None:
    # GIVEN two cliques joined by a link, a pair and a lone entity
    graph = two_cliques_and_a_pair()
    # WHEN split into components
    found = components(graph, SALT)
    # THEN there are three (10 + 2 + 1 entities), each with its own links
    assert sorted(len(c.entity_ids) for c in found) == [1, 2, 10]
    assert sum(len(c.links) for c in found) == len(graph.links)
    # AND a change in one component changes its fingerprint only; the salt changes every fingerprint
    heavier = two_cliques_and_a_pair(extra=[("a1", "b1")])
    after = {len(c.entity_ids): c.fingerprint for c in components(heavier, SALT)}
    before = {len(c.entity_ids): c.fingerprint for c in found}
    assert after[10] != before[10]
    assert (after[2], after[1]) == (before[2], before[1])
    assert not {c.fingerprint for c in components(graph, "other settings")} & set(before.values())


def test_detection_finds_the_two_groups_and_a_level_above() -> None:
    # GIVEN the two cliques' component
    graph = two_cliques_and_a_pair()
    big = next(c for c in components(graph, SALT) if len(c.entity_ids) == 10)
    # WHEN its communities are detected
    found = detect(big)
    # THEN level 0 is the two cliques, each named by its level and smallest entity id
    level0 = [c for c in found if c.level == 0]
    assert sorted(sorted(named(graph, c)) for c in level0) == [[f"a{n}" for n in range(5)], [f"b{n}" for n in range(5)]]
    for c in level0:
        assert c.community_id == community_id(0, c.entity_ids)
        assert c.member_ids == c.entity_ids
    # AND every community's parent, if any, holds all its entities, and lists it as a member
    by_id = {c.community_id: c for c in found}
    for c in found:
        if c.parent_id is not None:
            parent = by_id[c.parent_id]
            assert set(c.entity_ids) < set(parent.entity_ids)
            assert c.community_id in parent.member_ids
    # AND no community repeats its child: every level above 0 holds at least two children
    assert all(len(c.member_ids) >= 2 for c in found if c.level > 0)


def test_detection_is_the_same_run_after_run_and_in_another_process() -> None:
    # GIVEN a random graph with a large component (sets of strings iterate in a per-process order)
    graph = random_graph(7)
    component = max(components(graph, SALT), key=lambda c: len(c.entity_ids))
    # WHEN detected twice here, and in two processes with different hash seeds
    here = [(c.community_id, c.fingerprint, c.parent_id) for c in detect(component)]
    assert here == [(c.community_id, c.fingerprint, c.parent_id) for c in detect(component)]
    script = (
        "import json; from tests.unit.test_communities import random_graph, SALT; "
        "from shared.communities.graph import components; from shared.communities.detection import detect; "
        "c = max(components(random_graph(7), SALT), key=lambda c: len(c.entity_ids)); "
        "print(json.dumps([[d.community_id, d.fingerprint, d.parent_id] for d in detect(c)]))"
    )
    for hash_seed in ("1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        # THEN every process finds the same communities, ids and hierarchy
        assert [tuple(row) for row in json.loads(result.stdout)] == here
    assert len({level for _, _, level in here}) >= 1


def test_an_id_survives_a_new_member_that_does_not_sort_first() -> None:
    # GIVEN the cliques, then the same with a new person joining clique a
    graph = two_cliques_and_a_pair()
    before = {frozenset(named(graph, c)): c for c in detect(max(components(graph, SALT), key=_size)) if c.level == 0}
    grown = two_cliques_and_a_pair(extra=[("a0", "newcomer"), ("a1", "newcomer"), ("a2", "newcomer")])
    after = [c for c in detect(max(components(grown, SALT), key=_size)) if c.level == 0]
    newcomer = entity_id("Person", "newcomer")
    old_a = next(c for members, c in before.items() if "a0" in members)
    new_a = next(c for c in after if newcomer in c.entity_ids)
    # THEN clique a keeps its id unless the newcomer's id sorts first; its fingerprint changes either way
    assert (new_a.community_id == old_a.community_id) == (newcomer > old_a.entity_ids[0])
    assert new_a.fingerprint != old_a.fingerprint
    # AND clique b is exactly the same community
    old_b = next(c for members, c in before.items() if "b0" in members)
    assert next(c for c in after if c.community_id == old_b.community_id).fingerprint == old_b.fingerprint


def _size(component: Component) -> int:
    return len(component.entity_ids)


def stored(found: list[DetectedCommunity], summarizer: str = summaries.EXTRACTIVE) -> list[Community]:
    """What the graph holds after a run wrote `found`."""
    return [
        Community(
            community_id=c.community_id,
            level=c.level,
            size=len(c.entity_ids),
            member_ids=c.member_ids,
            title="t",
            summary=f"summary of {c.community_id}",
            summarizer=summarizer,
            fingerprint=c.fingerprint,
            content=c.content,
            updated="2026-12-01T00:00:00+00:00",
        )
        for c in found
    ]


class Detector:
    """`detect` as the plan calls it, recording what it was given: (component size, number of previous communities)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, component: Component, previous: Sequence[Community]) -> list[DetectedCommunity]:
        self.calls.append((len(component.entity_ids), len(previous)))
        return detect(component, previous=previous)


def first_run(graph: EntityGraph) -> list[DetectedCommunity]:
    return [c for part in components(graph, SALT) if len(part.entity_ids) >= 2 for c in detect(part)]


def test_a_first_plan_detects_every_component_of_the_minimum_size() -> None:
    # GIVEN a graph and an empty store
    parts = components(two_cliques_and_a_pair(), SALT)
    detector = Detector()
    # WHEN planned with a minimum size of 2
    work = plan(parts, [], summaries.EXTRACTIVE, detector, min_size=2)
    # THEN the cliques and the pair are detected with nothing stored, the lone entity is not
    assert sorted(detector.calls) == [(2, 0), (10, 0)]
    assert (work.components, work.small_components) == (2, 1)
    # AND everything is to be written and summarised
    changes = [change for c in work.changes.values() for change in c]
    assert len(changes) == work.writes > 0
    assert all(change.stored is None and change.summary_from is None for change in changes)
    assert work.unchanged == 0
    assert work.stale == []


def test_a_plan_over_an_unchanged_graph_writes_nothing() -> None:
    # GIVEN what a first run wrote
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    detector = Detector()
    # WHEN the same graph is planned again
    work = plan(components(graph, SALT), stored(first), summaries.EXTRACTIVE, detector, min_size=2)
    # THEN each component is detected with the stored communities over it, and nothing is written or deleted
    assert sorted(size for size, _ in detector.calls) == [2, 10]
    assert sum(previous for _, previous in detector.calls) == len(first)
    assert (work.writes, work.stale, work.unchanged) == (0, [], len(first))


def test_a_plan_rewrites_only_the_changed_community_and_summarises_it_again() -> None:
    # GIVEN what a first run wrote, then the pair gains a third person (whose id does not sort first)
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    smallest = min(entity_id("Person", name) for name in ("p0", "p1"))
    third = next(name for name in (f"p{n}" for n in range(2, 50)) if entity_id("Person", name) > smallest)
    changed = components(two_cliques_and_a_pair(extra=[("p1", third)]), SALT)
    # WHEN planned
    work = plan(changed, stored(first), summaries.EXTRACTIVE, Detector(), min_size=2)
    # THEN only the pair's community is written, under the same id, with a summary to make (its content changed)
    [changes] = work.changes.values()
    assert len(changes) == 1
    pair = next(c for c in first if len(c.entity_ids) == 2)
    assert changes[0].community.community_id == pair.community_id
    assert changes[0].stored is not None
    assert changes[0].summary_from is None
    assert (work.unchanged, work.stale) == (len(first) - 1, [])


def test_a_plan_deletes_the_communities_of_entities_that_went() -> None:
    # GIVEN what a first run wrote, then the pair's entities deleted (their document was)
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    for name in ("p0", "p1"):
        del graph.nodes[entity_id("Person", name)]
    # WHEN planned on what is left
    work = plan(components(graph, SALT), stored(first), summaries.EXTRACTIVE, Detector(), min_size=2)
    # THEN the pair's community is stale, nothing else changes
    pair = [c.community_id for c in first if len(c.entity_ids) == 2]
    assert work.stale == pair
    assert work.writes == 0


def test_a_new_summarizer_rewrites_the_summaries_only() -> None:
    # GIVEN communities summarised extractively
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    # WHEN a chat model is configured
    work = plan(components(graph, SALT), stored(first), "chat:gpt-4o/1", Detector(), min_size=2)
    # THEN every community is rewritten, the same communities, each with a summary to make, and none is stale
    changes = [change for c in work.changes.values() for change in c]
    assert sorted(change.community.community_id for change in changes) == sorted(c.community_id for c in first)
    assert all(change.summary_from is None for change in changes)
    assert work.stale == []


def test_new_settings_detect_again_but_keep_the_summaries_of_what_comes_out_the_same() -> None:
    # GIVEN what a first run wrote
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    # WHEN planned under other detection settings (another salt)
    work = plan(components(graph, "other settings"), stored(first), summaries.EXTRACTIVE, Detector(), min_size=2)
    # THEN every community is written again (its fingerprint changed), each keeping its summary (same content)
    changes = [change for c in work.changes.values() for change in c]
    assert len(changes) == len(first)
    assert all(change.summary_from is not None and change.summary_from == change.stored for change in changes)


def test_a_full_plan_detects_from_scratch() -> None:
    # GIVEN what a first run wrote
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    detector = Detector()
    # WHEN planned in full
    work = plan(components(graph, SALT), stored(first), summaries.EXTRACTIVE, detector, min_size=2, full=True)
    # THEN detection got no stored community, and found the same ones: nothing to write
    assert all(previous == 0 for _, previous in detector.calls)
    assert (work.writes, work.stale) == (0, [])


def test_a_community_cut_short_by_a_crash_is_written_again() -> None:
    # GIVEN what a first run wrote, one community of it left without properties by a write cut short
    graph = two_cliques_and_a_pair()
    first = first_run(graph)
    held = stored(first)
    held[0] = held[0].model_copy(update={"fingerprint": "", "content": "", "summary": "", "summarizer": ""})
    # WHEN planned
    work = plan(components(graph, SALT), held, summaries.EXTRACTIVE, Detector(), min_size=2)
    # THEN that community is written (and summarised) again; nothing else is
    changes = [change for c in work.changes.values() for change in c]
    assert [change.community.community_id for change in changes] == [held[0].community_id]
    assert changes[0].summary_from is None


def test_the_extractive_summary_states_the_central_entities_strongest_relations_and_evidence() -> None:
    # GIVEN clique a with one strong link carrying evidence
    graph = two_cliques_and_a_pair()
    a0, a1 = entity_id("Person", "a0"), entity_id("Person", "a1")
    strong = Link(relation_id(a0, "WORKS_WITH", a1), "WORKS_WITH", a0, a1, 9)
    graph.links.append(strong)
    clique = sorted(entity_id("Person", f"a{n}") for n in range(5))
    inner = [link for link in graph.links if {link.source_id, link.target_id} <= set(clique)]
    # WHEN summarised with the evidence of its strongest relation
    view = summaries.view(clique, inner, graph.nodes, 10)
    assert summaries.evidence_wanted(view)[0].relation_id == strong.relation_id
    title, text = summaries.extractive(summaries.with_evidence(view, {strong.relation_id: "a0 and a1 work together."}))
    # THEN the title names the most central entities; the text counts, ranks and quotes
    assert title.startswith("a0, a1")
    assert text.startswith("5 entities (5 Person).")
    assert "a0 WORKS_WITH a1 (9 chunks)" in text
    assert text.endswith("Evidence: “a0 and a1 work together.”")
    # AND the same view gives the same text
    assert summaries.extractive(summaries.with_evidence(view, {strong.relation_id: "a0 and a1 work together."})) == (
        title,
        text,
    )


def test_a_change_rewrites_the_communities_around_it_and_keeps_the_others() -> None:
    # GIVEN the communities of a random graph with a large component
    graph = random_graph(11, size=400, links=800)
    component = max(components(graph, SALT), key=_size)
    first = detect(component)
    # WHEN one relation is added between two entities of one level-0 community, and the component detected again
    # with the stored communities, and from scratch
    target = next(c for c in first if c.level == 0 and len(c.entity_ids) >= 3)
    a, b = target.entity_ids[0], target.entity_ids[-1]
    graph.links.append(Link(relation_id(a, "MET", b), "MET", a, b, 1))
    changed = max(components(graph, SALT), key=_size)
    again = detect(changed, previous=stored(first))
    scratch = detect(changed)
    # THEN incrementally, the level-0 communities away from the change are the very same, and fewer communities
    # change than from scratch
    before = {c.community_id: c.fingerprint for c in first}
    rewritten = [c for c in again if before.get(c.community_id) != c.fingerprint]
    from_scratch = [c for c in scratch if before.get(c.community_id) != c.fingerprint]
    assert target.community_id in {c.community_id for c in rewritten}
    assert len(rewritten) < len(from_scratch)
    level0_kept = [c for c in again if c.level == 0 and before.get(c.community_id) == c.fingerprint]
    assert len(level0_kept) >= len([c for c in first if c.level == 0]) - 3
    # AND the result is still a hierarchy over every entity of the component, once at level 0
    assert sorted(e for c in again if c.level == 0 for e in c.entity_ids) == list(changed.entity_ids)
    # AND given the communities it produced, the next detection keeps every one of them
    assert detect(changed, previous=stored(again)) == again


def test_the_summary_schema_is_one_strict_structured_output_accepts() -> None:
    # GIVEN the schema sent with every chat summary request
    schema = summaries.SUMMARY_SCHEMA
    # THEN it is a closed object whose every property is required, with no keyword strict mode refuses
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == list(schema["properties"])
    text = json.dumps(schema)
    for keyword in ("minLength", "maxLength", '"title": "', "$defs", "default"):
        assert keyword not in text
    # AND an answer matching it validates, one missing a field does not
    assert summaries.CommunityReport.model_validate({"title": "t", "summary": "s"}).title == "t"
    with pytest.raises(ValidationError):
        summaries.CommunityReport.model_validate({"title": "t"})
