"""Ingestion config and issues through the whole pipeline, driven by the local host (function_app.py's triggers):
rules pick the options, declared columns reach the graph, part-of-file problems are counted on a job that still
succeeds, and too many of them fail it."""

from pathlib import Path

import pytest

from shared.domain import JobState
from tests.support.host_pipeline import HostPipelineFactory
from tests.support.office import xlsx

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

# Headers the schema's own column roles do not know, so only the ingestion config can type them.
ORG_CHART = b"employee_name,boss,desk\nAda Lovelace,Grace Hopper,12\nAlan Turing,Grace Hopper,14\n"
CONFIG = """
rules:
  - name: org-chart
    match: ["incoming*/hr/*.csv"]
    options:
      id_column: employee_name
      text_columns: [employee_name, boss]
      entity_columns: {employee_name: Person, boss: Person}
      relations: [{source: employee_name, type: REPORTS_TO, target: boss}]
"""


def test_a_rule_types_columns_and_their_relations_reach_the_graph(
    make_host_pipeline: HostPipelineFactory, tmp_path: Path
):
    # GIVEN one pipeline with a rule for the incoming container's hr/*.csv and one with the packaged config
    config = tmp_path / "ingestion.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    # WHEN the same org chart is dropped into both under hr/ (one after the other: one worker's ports at a time)
    configured = make_host_pipeline(ingestion_config=config)
    assert configured.drop("hr/org.csv", ORG_CHART).state is JobState.SUCCEEDED
    configured_counts = configured.store_counts()
    dimension = configured.ports.settings.embedding_dimension
    chunk_texts = [hit.text for hit in configured.ports.vectors.search([1.0] * dimension, k=10)]
    plain = make_host_pipeline()
    assert plain.drop("hr/org.csv", ORG_CHART).state is JobState.SUCCEEDED
    # THEN only the configured one knows the three people and the two REPORTS_TO edges
    assert configured_counts["relations"] - plain.store_counts()["relations"] >= 2
    assert configured_counts["entities"] >= 3
    assert all("desk" not in text for text in chunk_texts)  # text came from the text columns only


def test_issues_are_counted_on_a_job_that_still_succeeds(make_host_pipeline: HostPipelineFactory):
    pipeline = make_host_pipeline()
    job = pipeline.drop("ragged.csv", b"a,b\n1,2,3\n4,5\n6\n")
    assert (job.state, job.issues) == (JobState.SUCCEEDED, 2)
    assert job.totals.chunks == 1  # the three rows, ragged ones kept, packed into one chunk of their file
    assert [i.locator for i in pipeline.ports.jobs.list_issues(job.job_id)] == ["row 2", "row 4"]


def test_more_issues_than_the_cap_fail_the_file_and_keep_what_was_found(make_host_pipeline: HostPipelineFactory):
    pipeline = make_host_pipeline(max_issues_per_file=2)
    job = pipeline.drop("ragged.csv", b"a,b\n1,2,3\n4\n5,6,7\n8\n")
    assert (job.state, job.reason_code) == (JobState.FAILED, "limits.too_many_issues")
    assert job.issues == 2


def test_an_invalid_ingestion_config_fails_files_with_its_reason(
    make_host_pipeline: HostPipelineFactory, tmp_path: Path
):
    config = tmp_path / "ingestion.yaml"
    config.write_text("rules: [{name: x, match: ['*'], options: {entity_columns: {a: Team}}}]", encoding="utf-8")
    pipeline = make_host_pipeline(ingestion_config=config)
    job = pipeline.drop("a.txt", b"Ada Lovelace works at Acme Labs.\n")
    assert (job.state, job.reason_code) == (JobState.FAILED, "config.ingestion_invalid")
    assert "Team" in (job.last_error or "")


WORKBOOK_CONFIG = """
rules:
  - name: managers-workbook
    match: ["incoming*/hr/*.xlsx"]
    options:
      sheet: Managers
      id_column: name
      entity_columns: {name: Person, company: Organization, manager: Person}
      relations:
        - {source: name, type: WORKS_FOR, target: company}
        - {source: name, type: REPORTS_TO, target: manager}
"""


def test_a_rule_maps_a_workbook_sheets_columns_to_entities_and_relations_in_the_graph(
    make_host_pipeline: HostPipelineFactory, tmp_path: Path
):
    # GIVEN a rule selecting the Managers sheet of hr/*.xlsx, typing three of its columns and two relations
    config = tmp_path / "ingestion.yaml"
    config.write_text(WORKBOOK_CONFIG, encoding="utf-8")
    workbook = xlsx(
        {
            "Readme": [["note"], ["Edited by HR"]],
            "Managers": [
                ["name", "company", "manager", "desk"],
                ["Zoë Okafor", "Tidewater Holdings", "Lena Brandt", 12],
                ["Lena Brandt", "Tidewater Holdings", None, 14],
            ],
        }
    )
    pipeline = make_host_pipeline(ingestion_config=config)
    # WHEN the workbook is dropped
    job = pipeline.drop("hr/managers.xlsx", workbook)
    # THEN the job succeeded with the selected sheet's two rows packed into one chunk, in order, and nothing of the
    # other sheet (each row a `name: value` line; enrich folds the line break into a space)
    assert (job.state, job.issues) == (JobState.SUCCEEDED, 0)
    dimension = pipeline.ports.settings.embedding_dimension
    hits = pipeline.ports.vectors.search([1.0] * dimension, k=20)
    assert [hit.text for hit in hits] == [
        "name: Zoë Okafor; company: Tidewater Holdings; manager: Lena Brandt; desk: 12"
        " name: Lena Brandt; company: Tidewater Holdings; desk: 14"
    ]
    # AND the graph holds the people, the organization and the declared relations between them
    context = pipeline.ports.graph.context([hit.chunk_id for hit in hits])
    entities = {entity.entity_id: (entity.type, entity.name) for entity in context.entities.values()}
    assert {("Person", "Zoë Okafor"), ("Person", "Lena Brandt"), ("Organization", "Tidewater Holdings")} <= set(
        entities.values()
    )
    relations = {(entities[r.source_id][1], r.type, entities[r.target_id][1]) for r in context.relations}
    assert {
        ("Zoë Okafor", "WORKS_FOR", "Tidewater Holdings"),
        ("Zoë Okafor", "REPORTS_TO", "Lena Brandt"),
        ("Lena Brandt", "WORKS_FOR", "Tidewater Holdings"),
    } <= relations
