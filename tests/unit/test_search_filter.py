"""The search filter language: what parses, what is refused, and what each adapter makes of hostile values."""

from __future__ import annotations

import pytest

from shared.adapters.aisearch_vectors import filter_odata
from shared.adapters.lancedb_vectors import filter_sql
from shared.domain.search_filter import MAX_TERMS, InvalidFilterError, SearchFilter, folders_of, parse_filter


def test_terms_on_different_fields_all_hold_and_a_repeated_field_takes_any_value() -> None:
    # GIVEN a filter with two document ids, a quoted path and a folder with stray slashes WHEN parsed
    parsed = parse_filter('document_id:a1  path:"my notes/q 1.txt" document_id:b2 folder:/reports/2024/')
    # THEN each field holds its values in order, folders without their slashes
    assert parsed == SearchFilter(document_id=("a1", "b2"), path=("my notes/q 1.txt",), folder=("reports/2024",))


def test_a_quoted_value_may_hold_quotes_and_backslashes() -> None:
    assert parse_filter(r'path:"say \"hi\" \\ bye"').path == ('say "hi" \\ bye',)


def test_an_empty_filter_selects_everything() -> None:
    assert parse_filter("   ") == SearchFilter()


@pytest.mark.parametrize(
    "text",
    [
        "colour:red",  # unknown field
        "path:",  # no value
        'path:"unterminated',
        'path:a"b',  # a quote inside a bare value
        "just words",
        "path:a AND path:b",  # no operators: terms are joined by spaces
        'path:"nul\x00"',
        "folder:/",  # the root is no folder
        "path:" + "x" * 1025,
        " ".join(["path:a"] * (MAX_TERMS + 1)),
    ],
)
def test_a_malformed_filter_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidFilterError) as refused:
        parse_filter(text)
    assert str(refused.value)


def test_folders_of_a_path_are_every_folder_it_lies_under() -> None:
    assert folders_of("a/b/c.txt") == ["a", "a/b"]
    assert folders_of("/top.txt") == []


HOSTILE = "x' or 1 eq 1 or 'a"


def test_the_sql_filter_quotes_every_value() -> None:
    # GIVEN values holding quotes and SQL WHEN translated for LanceDB THEN each is one doubled-quote literal
    where = SearchFilter(document_id=(HOSTILE, "b"), folder=("o'k",), content_type=("text/plain",))
    assert filter_sql(where) == (
        "(document_id = 'x'' or 1 eq 1 or ''a' OR document_id = 'b') AND (starts_with(path, 'o''k/')) "
        "AND (content_type = 'text/plain')"
    )
    assert filter_sql(SearchFilter()) is None


def test_the_odata_filter_quotes_every_value() -> None:
    # GIVEN the same values WHEN translated for AI Search THEN each is one doubled-quote OData literal
    where = SearchFilter(document_id=(HOSTILE, "b"), folder=("o'k",), path=("p",))
    assert filter_odata(where) == (
        "(document_id eq 'x'' or 1 eq 1 or ''a' or document_id eq 'b') and (path eq 'p') "
        "and folders/any(f: f eq 'o''k')"
    )
    assert filter_odata(SearchFilter()) is None
