"""GET /api/search end to end on the local host: hybrid search of committed chunks, narrowed by a filter, and a
filter that does not parse answered as a 400 with its reason code."""

from __future__ import annotations

import pytest

from shared.api_search import search
from tests.support.host_pipeline import HostPipeline

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

FILES = {
    "reports/2024/heron.txt": b"Project Heron reached Lisbon in March.\n\nThe quartz shipment was invoiced twice.\n",
    "notes/heron.md": b"Project Heron notes: meet the Lisbon team in March.\n",
}


@pytest.fixture
def ingested(host_pipeline: HostPipeline) -> HostPipeline:
    jobs = host_pipeline.drop_all(FILES)
    assert all(job.state.value == "succeeded" for job in jobs.values())
    return host_pipeline


def test_a_filter_narrows_the_answer_to_a_folder_or_a_type(ingested: HostPipeline) -> None:
    # GIVEN a report and a note about the same project WHEN searching with no filter THEN both answer
    everything = search(ingested.ports, {"q": "Project Heron Lisbon", "k": "10"})
    assert {hit["path"] for hit in everything.body["hits"]} == set(FILES)
    # WHEN the search is narrowed to a folder, or to a content type THEN only that document's chunks answer
    reports = search(ingested.ports, {"q": "Project Heron Lisbon", "k": "10", "filter": "folder:reports"})
    assert {hit["path"] for hit in reports.body["hits"]} == {"reports/2024/heron.txt"}
    notes = search(ingested.ports, {"q": "Project Heron Lisbon", "k": "10", "filter": "content_type:text/markdown"})
    assert {hit["path"] for hit in notes.body["hits"]} == {"notes/heron.md"}


def test_a_word_only_one_chunk_holds_brings_that_chunk_first(ingested: HostPipeline) -> None:
    # WHEN searching for a word only the report's second paragraph holds THEN that chunk comes first
    answer = search(ingested.ports, {"q": "quartz", "k": "3"})
    assert answer.status == 200
    assert "quartz" in answer.body["hits"][0]["text"]


@pytest.mark.parametrize("bad", ["colour:red", "path:", 'path:"open', "folder:notes OR 1=1"])
def test_a_filter_that_does_not_parse_is_a_400_with_its_reason(ingested: HostPipeline, bad: str) -> None:
    answer = search(ingested.ports, {"q": "Project Heron", "filter": bad})
    assert answer.status == 400
    assert (answer.content_type, answer.body["status"]) == ("application/problem+json", 400)
    assert answer.body["reason_code"] == "request.invalid_filter"
    assert answer.body["type"] == "https://tributary.dev/problems/request.invalid_filter"
    assert answer.body["detail"]


def test_a_filter_value_holding_filter_syntax_matches_nothing(ingested: HostPipeline) -> None:
    answer = search(ingested.ports, {"q": "Project Heron", "filter": "path:\"x' OR '1'='1\""})
    assert (answer.status, answer.body["hits"]) == (200, [])
