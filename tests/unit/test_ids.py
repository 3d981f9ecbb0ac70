from shared.domain import ids
from shared.domain.ids import document_version, version_generation


def test_ids_are_deterministic_and_distinct_per_input():
    # GIVEN the same inputs twice and a slightly different one
    first = ids.document_id("acct", "incoming", "a/b.csv")
    again = ids.document_id("acct", "incoming", "a/b.csv")
    other = ids.document_id("acct", "incoming", "a/b.csv ")
    # THEN the same inputs give the same id and any change gives another
    assert first == again
    assert first != other
    assert len(first) == 32


def test_parts_never_run_together():
    # GIVEN two part lists whose concatenation is equal
    assert ids.stable_hash("ab", "c") != ids.stable_hash("a", "bc")


def test_entity_id_ignores_case_spacing_and_punctuation_but_not_type():
    # WHEN the same name is written differently
    plain = ids.entity_id("Organization", "Acme Labs")
    noisy = ids.entity_id("Organization", "  ACME   labs. ")
    # THEN it keys the same entity, but a different type is a different entity
    assert plain == noisy
    assert plain != ids.entity_id("Place", "Acme Labs")


def test_job_id_depends_on_the_version_it_replaces():
    # GIVEN content v1 uploaded first, and again after v2 was committed
    first_time = ids.job_id("doc", "v1", None)
    after_v2 = ids.job_id("doc", "v1", "v2")
    # THEN they are different jobs, while a redelivery of the first maps to the same job
    assert first_time != after_v2
    assert first_time == ids.job_id("doc", "v1", None)


def test_message_id_differs_per_stage_and_batch():
    assert len({ids.message_id("job", stage, batch) for stage in ("enrich", "graph") for batch in (0, 1)}) == 4


def test_a_version_of_a_later_generation_is_another_version_that_names_its_generation():
    first = document_version("sha", "chunking")
    assert version_generation(first) == 0
    assert [version_generation(document_version("sha", "chunking", n)) for n in (1, 2, 12)] == [1, 2, 12]
    assert len({first, document_version("sha", "chunking", 1), document_version("sha", "chunking", 2)}) == 3
    assert document_version("sha", "chunking", 1) != document_version("sha", "other", 1)
