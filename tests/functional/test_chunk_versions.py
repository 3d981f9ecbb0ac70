"""A change of chunking settings makes a new version of an unchanged file, which replaces the old one whole."""

import dataclasses

import pytest

from shared.domain import JobState
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

TEXT = "\n\n".join(f"Paragraph {i}: Ada Lovelace works at Acme Labs in Paris. It rains." for i in range(60)).encode()


def test_new_chunking_settings_make_a_new_version_that_replaces_the_old_chunks_whole(pipeline: Pipeline) -> None:
    # GIVEN a file ingested with the default chunking
    first = pipeline.job(pipeline.drop("notes.txt", TEXT))
    assert first.state is JobState.SUCCEEDED
    # WHEN the same bytes arrive again under the same settings THEN nothing is redone
    assert pipeline.drop("notes.txt", TEXT).state is JobState.SKIPPED

    # WHEN the target changes and the same bytes arrive again
    smaller = pipeline.ports.settings.model_copy(update={"chunk_tokens": 128})
    pipeline.ports = dataclasses.replace(pipeline.ports, settings=smaller)
    second = pipeline.job(pipeline.trigger("notes.txt"))

    # THEN it is a new version with more, smaller chunks, and only its chunks remain in the graph and the index
    assert second.state is JobState.SUCCEEDED
    assert (second.version != first.version, second.base_version) == (True, first.version)
    assert second.totals.chunks > first.totals.chunks
    assert pipeline.ports.jobs.committed_version(second.document_id) == second.version
    assert pipeline.ports.graph.document_versions(second.document_id) == {second.version: second.totals.chunks}
    assert pipeline.ports.vectors.document_versions(second.document_id) == {second.version: second.totals.chunks}
