"""Ingestion config and issues through the whole pipeline: rules pick the options, declared columns reach the graph,
part-of-file problems are counted on a job that still succeeds, and too many of them fail it."""

from pathlib import Path

import pytest

from shared.domain import JobState
from tests.support.pipeline import PipelineFactory

pytestmark = pytest.mark.falkordb

# Headers the schema's own column roles do not know, so only the ingestion config can type them.
ORG_CHART = b"employee_name,boss,desk\nAda Lovelace,Grace Hopper,12\nAlan Turing,Grace Hopper,14\n"
CONFIG = """
rules:
  - name: org-chart
    match: ["incoming/hr/*.csv"]
    options:
      id_column: employee_name
      text_columns: [employee_name, boss]
      entity_columns: {employee_name: Person, boss: Person}
      relations: [{source: employee_name, type: REPORTS_TO, target: boss}]
"""


def test_a_rule_types_columns_and_their_relations_reach_the_graph(make_pipeline: PipelineFactory, tmp_path: Path):
    # GIVEN one pipeline with a rule for incoming/hr/*.csv and one with the packaged config
    config = tmp_path / "ingestion.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    configured = make_pipeline(ingestion_config=config)
    plain = make_pipeline()
    # WHEN the same org chart is dropped into both under hr/
    for pipeline in (configured, plain):
        assert pipeline.job(pipeline.drop("hr/org.csv", ORG_CHART)).state is JobState.SUCCEEDED
    # THEN only the configured one knows the three people and the two REPORTS_TO edges
    assert configured.store_counts()["relations"] - plain.store_counts()["relations"] >= 2
    assert configured.store_counts()["entities"] >= 3
    chunk_texts = [
        hit.text for hit in configured.ports.vectors.search([1.0] * configured.ports.settings.embedding_dimension, k=10)
    ]
    assert all("desk" not in text for text in chunk_texts)  # text came from the text columns only


def test_issues_are_counted_on_a_job_that_still_succeeds(make_pipeline: PipelineFactory):
    pipeline = make_pipeline()
    job = pipeline.job(pipeline.drop("ragged.csv", b"a,b\n1,2,3\n4,5\n6\n"))
    assert (job.state, job.issues) == (JobState.SUCCEEDED, 2)
    assert job.totals.chunks == 3  # the ragged rows are kept, not dropped
    assert [i.locator for i in pipeline.ports.jobs.list_issues(job.job_id)] == ["row 2", "row 4"]


def test_more_issues_than_the_cap_fail_the_file_and_keep_what_was_found(make_pipeline: PipelineFactory):
    pipeline = make_pipeline(max_issues_per_file=2)
    job = pipeline.job(pipeline.drop("ragged.csv", b"a,b\n1,2,3\n4\n5,6,7\n8\n"))
    assert (job.state, job.reason_code) == (JobState.FAILED, "limits.too_many_issues")
    assert job.issues == 2


def test_an_invalid_ingestion_config_fails_files_with_its_reason(make_pipeline: PipelineFactory, tmp_path: Path):
    config = tmp_path / "ingestion.yaml"
    config.write_text("rules: [{name: x, match: ['*'], options: {entity_columns: {a: Team}}}]", encoding="utf-8")
    pipeline = make_pipeline(ingestion_config=config)
    job = pipeline.job(pipeline.drop("a.txt", b"Ada Lovelace works at Acme Labs.\n"))
    assert (job.state, job.reason_code) == (JobState.FAILED, "config.ingestion_invalid")
    assert "Team" in (job.last_error or "")
