"""A change of the extraction (here the schema) makes a new version of an unchanged file, whose graph replaces the
old one's whole: what only the old extraction found is gone, which rewriting the same version could not do."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from shared.communities.graph import read_entity_graph
from shared.communities.refresh import ENTITY_PAGE
from shared.domain import JobState
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import PACKAGED_SCHEMA, load_schema
from shared.ports import GraphSink
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

TEXT = "\n\n".join(
    f"Paragraph {i}: Ada Lovelace visited Paris with Charles Babbage. Acme Labs opened in Lisbon." for i in range(8)
).encode()


def relation_types(graph: GraphSink) -> set[str]:
    return {link.type for link in read_entity_graph(graph, ENTITY_PAGE).links}


def schema_without_cooccurrence(directory: Path) -> Path:
    """The packaged schema less its co-occurrence relation, RELATED_TO (as its comment suggests doing)."""
    data = yaml.safe_load(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    del data["relation_types"]["RELATED_TO"]
    path = directory / "schema.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_schema_change_makes_a_new_version_whose_graph_replaces_the_old_one(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # GIVEN a file ingested under the packaged schema, whose co-occurrence relations are in the graph
    first = pipeline.job(pipeline.drop("visit.txt", TEXT))
    assert first.state is JobState.SUCCEEDED
    assert "RELATED_TO" in relation_types(pipeline.ports.graph)
    entities_before = pipeline.ports.graph.counts().entities

    # WHEN the schema drops RELATED_TO and the unchanged file is processed again (a bulk reprocess, or a re-upload)
    path = schema_without_cooccurrence(tmp_path)
    settings = pipeline.ports.settings.model_copy(update={"extraction_schema": path})
    extractor = RuleBasedExtractor(load_schema(path))
    pipeline.ports = dataclasses.replace(pipeline.ports, settings=settings, extractor=extractor)
    second = pipeline.job(pipeline.trigger("visit.txt"))

    # THEN it is a new version that replaced the old one whole: no RELATED_TO is left, the entities are the same
    assert second.state is JobState.SUCCEEDED
    assert (second.version != first.version, second.base_version) == (True, first.version)
    assert pipeline.ports.jobs.committed_version(second.document_id) == second.version
    assert pipeline.ports.graph.document_versions(second.document_id) == {second.version: second.totals.chunks}
    assert "RELATED_TO" not in relation_types(pipeline.ports.graph)
    assert pipeline.ports.graph.counts().entities == entities_before
    # AND the same bytes under the same settings are unchanged again
    assert pipeline.drop("visit.txt", TEXT).state is JobState.SKIPPED
