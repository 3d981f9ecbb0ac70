"""The rule extractor's fast paths give what the plain computation gives: names found run by run and remembered,
trigger words tested on bytes, sentence ends screened on one mark."""

import gc

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.extraction import sentences
from shared.extraction.cues import MEMO_CHARS, Cues
from shared.extraction.mentions import MentionFinder
from shared.extraction.schema import load_schema
from shared.extraction.sentences import _ANY_SENTENCE_END, _SENTENCE_END
from shared.extraction.tokens import WORD_RUN, Mention, Token, name_runs, word_run_keys, word_runs

# Words and joins that make names, break them, or sit on a run's edge ("JAMES'S’" is one word, "JAMES'S" a
# possessive; "in Florence" is the city, "Florence said" may be a person).
PIECES = st.sampled_from(
    [
        "Dr.", "Dr", "Zoë", "Okafor", "Okafor's", "O'Neill", "Jean-Luc", "Lisbon-based", "Labs", "Inc", "GmbH",
        "Project", "Heron", "University", "Of", "of", "for", "de", "DE", "Rio", "Janeiro", "&", "Marsh", "Pike",
        "The", "THE", "BANK", "in", "In", "Florence", "Jackson", "said", "U.S.", "U.S", "NATO", "JAMES'S", "’",
        "'s", "CEO", "engineer", "Peter", "Blackburn", "Barcelona", "2", "10", "1996", "São", "Paulo", "Łukasz",
        "KGaA", "Nordlicht", "Agrigento", "Museum", "Zzqx",
    ]
)  # fmt: skip
JOINS = st.sampled_from([" ", " ", " ", "", "  ", ". ", ", ", "-", "'"])
SENTENCES = st.lists(st.tuples(PIECES, JOINS), min_size=1, max_size=20).map(
    lambda parts: "".join(word + join for word, join in parts)
)


@pytest.fixture(scope="module")
def cues() -> Cues:
    return Cues(load_schema())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentence=SENTENCES)
@example(sentence="He met JAMES'S’\" team.")  # a word's look-ahead reads past the run's end
@example(sentence="Dr. Zoë Okafor of University Of Lisbon met Rio de Janeiro's Marsh & Pike.")
def test_every_name_group_lies_inside_one_run(cues: Cues, sentence: str) -> None:
    # GIVEN a sentence of name-ish words, joins and possessives
    finder = MentionFinder(cues)

    # WHEN its words are grouped run by run, and over the whole sentence at once
    runs = list(finder._name_run.finditer(sentence))
    by_run = [group for run in runs for group in finder._name_groups(sentence, run.start(), run.end())]
    whole = finder._name_groups(sentence, 0, len(sentence))

    # THEN the groups are the same: no group crosses from one run into the next
    assert by_run == whole


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seen=st.lists(SENTENCES, max_size=8), sentence=SENTENCES)
def test_remembered_runs_give_the_mentions_a_fresh_finder_gives(cues: Cues, seen: list[str], sentence: str) -> None:
    # GIVEN a finder that has read other sentences first (its runs remembered) and a fresh one
    warm = MentionFinder(cues)
    for other in seen:
        warm.find(other)

    # WHEN both find the names of the same sentence
    found: list[Mention] = warm.find(sentence)

    # THEN the memory changes nothing
    assert found == MentionFinder(cues).find(sentence)


@pytest.mark.parametrize(
    ("first", "second", "name"),
    [
        ("She moved to Florence.", "Florence said so.", "Florence"),  # a locative before the run, then none
        ("Florence said so.", "She moved to Florence.", "Florence"),
        ("He met JAMES'S’\" team.", "He met JAMES'S team.", "JAMES"),  # one word, then a possessive
    ],
)
def test_a_run_read_in_one_context_is_not_reused_in_another(cues: Cues, first: str, second: str, name: str) -> None:
    # GIVEN a finder that has read a run in one context
    finder = MentionFinder(cues)
    finder.find(first)

    # WHEN it reads the same words in another context
    found = finder.find(second)

    # THEN it finds what a fresh finder finds there
    assert found == MentionFinder(cues).find(second)
    assert any(mention.name.startswith(name) for mention in found)


@given(text=st.text(alphabet=st.sampled_from("aZé_-'’. ,;:!?0123456789\tΣß\u00a0xY"), max_size=40))
def test_word_runs_on_bytes_agree_with_the_word_pattern(text: str) -> None:
    # GIVEN trigger words, ASCII and not, and any text
    words = {"funded", "based", "zé", "a_b", "9", "straße", "σ"}
    keys = word_run_keys(words)

    # WHEN the text's words are tested against them the fast way and the plain way
    fast = not keys.isdisjoint(word_runs(text))
    plain = not words.isdisjoint(WORD_RUN.findall(text.casefold()))

    # THEN both agree
    assert fast == plain


@given(text=st.text(alphabet=st.sampled_from("a. !?\"'”’)]\n\t"), max_size=30))
def test_the_sentence_end_screen_finds_an_end_exactly_when_the_splitter_does(text: str) -> None:
    assert bool(_ANY_SENTENCE_END.search(text)) == bool(_SENTENCE_END.search(text))


def test_a_connector_that_casefolds_to_ascii_still_joins_a_run() -> None:
    # GIVEN runs joined by the particle "strasse" (casefolded; a text may spell it "straße")
    runs = name_runs(frozenset({"strasse", "de"}))

    # WHEN names joined by it, by an ASCII particle and by a plain word are scanned
    found = [match.group() for match in runs.finditer("Anna straße Berg, Rio DE Janeiro, Anna and Berg")]

    # THEN the first two joins make one run each (grouping decides the rest); "and" ends a run
    assert found == ["Anna straße Berg", "Rio DE Janeiro", "Anna", "Berg"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("aB1. -*+#>|_`[]()!?\u00a0\t\n'\"é"), max_size=40))
@example(text="1. Barcelona 10 7 2 1")  # a numbered list item
@example(text="# Heading. Then text")
@example(text="> Quoted. Text")
def test_a_plain_text_splits_as_the_markdown_steps_split_it(text: str) -> None:
    # GIVEN any short text, Markdown marks and odd spaces included
    abbreviations = frozenset({"dr"})

    # WHEN it is split with the plain-text shortcut and with every Markdown step
    fast = sentences.split_sentences(text, abbreviations)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sentences, "_is_plain", lambda text: False)
        full = sentences.split_sentences(text, abbreviations)

    # THEN the sentences are the same
    assert fast == full


def test_remembered_runs_leave_the_garbage_collectors_care(cues: Cues) -> None:
    # GIVEN a finder that has read names alone, names in groups and a name after a locative
    finder = MentionFinder(cues)
    for sentence in ("Zoë Okafor met Peter Blackburn of Brightwater Labs.", "She moved to Florence.", "NATO said."):
        finder.find(sentence)

    # WHEN the collector has examined them twice (a tuple is let go once the tuples it holds were, the next time)
    gc.collect()
    gc.collect()

    # THEN no remembered mentions are containers it must follow again (each full collection would)
    memos = [*finder._runs, *finder._runs_in_context.values(), finder._groups]
    remembered = [found for memo in memos for found in memo.values()]
    assert remembered
    assert not any(gc.is_tracked(found) for found in remembered)


GAP_WORDS = st.sampled_from(
    ["works", "at", "is", "based", "in", "funded", "by", "the", "and", ",", "CEO", "of", "said"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seen=st.lists(st.lists(GAP_WORDS, max_size=6).map(" ".join), max_size=10), gap=st.lists(GAP_WORDS).map(" ".join))
def test_a_remembered_gap_gives_the_trigger_fresh_cues_give(seen: list[str], gap: str) -> None:
    # GIVEN cues that have looked for triggers in other gaps (remembered) and fresh ones
    schema = load_schema()
    warm = Cues(schema)
    for other in [*seen, gap]:
        warm.last_trigger(f" {other} ")

    # WHEN both look in the same gap
    found = warm.last_trigger(f" {gap} ")

    # THEN the memory changes nothing
    assert found == Cues(schema).last_trigger(f" {gap} ")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentence=SENTENCES)
def test_a_one_word_run_is_classified_as_its_grouping_would_classify_it(cues: Cues, sentence: str) -> None:
    # GIVEN the runs of a sentence that are one word each
    finder = MentionFinder(cues)
    for run in finder._name_run.finditer(sentence):
        if run.end(1) != run.end():
            continue
        key = finder._name_key(run.group(1))

        # WHEN the word is classified alone (the shortcut) and through the grouping of its run
        alone = finder._classify_word(sentence, Token(run.group(1), run.start(), run.end(), key)) if key else []

        # THEN both give the same mentions
        assert alone == finder._classify_run(sentence, run, sentence.isupper())


def test_a_run_longer_than_the_memo_limit_is_found_but_not_remembered(cues: Cues) -> None:
    # GIVEN a Title Case headline whose one run is longer than the memos keep
    headline = " ".join(["Brightwater Labs Opens New Harbour Office"] * 6) + " today."
    finder = MentionFinder(cues)

    # WHEN it is read twice
    first, second = finder.find(headline), finder.find(headline)

    # THEN it gives the same mentions both times, and no memo holds its text
    assert first == second == MentionFinder(cues).find(headline)
    assert all(len(text) <= MEMO_CHARS for memo in (*finder._runs, *finder._runs_in_context.values()) for text in memo)


def _tokens_of(sentence: str, finder: MentionFinder) -> list[list[Token]]:
    return finder._name_groups(sentence, 0, len(sentence))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentence=SENTENCES)
@example(sentence="Chief Executive Peter Blackburn of Marsh & Pike Inc met Rio de Janeiro officials.")
def test_no_split_applies_only_when_every_split_refuses_the_group(cues: Cues, sentence: str) -> None:
    # GIVEN the name groups of a sentence (the packaged lists loaded: first names, places, legal forms)
    finder = MentionFinder(cues)
    for group in _tokens_of(sentence, finder):
        group = finder._strip_connectors(group)
        if len(group) < 2:
            continue
        # WHEN the one set test says no split can apply
        if not cues.no_split_applies([token.key for token in group]):
            continue
        # THEN each split, asked in full, finds nothing either
        assert finder._split_by_title(sentence, group) is None
        assert finder._split_by_head(group) is None
        assert finder._split_by_suffix(group) is None
        assert finder._split_by_gazetteer(group) is None
        assert finder._split_by_known_whole(sentence, group) is None
        assert finder._split_by_first_word(group) is None
        assert finder._split_by_lexicon(group) is None


def test_no_split_applies_sees_each_kind_of_cue(cues: Cues) -> None:
    # a title, a schema suffix, a legal form only the packaged list knows ("KGaA"), a head ("Museum"), a first name,
    # a known place, a place known only in context ("Agrigento"): each lets a split apply; plain words do not
    assert not cues.no_split_applies(["dr", "okafor"])
    assert not cues.no_split_applies(["nordlicht", "gmbh"])
    assert not cues.no_split_applies(["nordlicht", "kgaa"])
    assert not cues.no_split_applies(["museum", "zzqx"])
    assert not cues.no_split_applies(["peter", "blackburn"])
    assert not cues.no_split_applies(["zzqx", "london"])
    assert not cues.no_split_applies(["zzqx", "agrigento"])
    assert cues.no_split_applies(["zzqx", "vvbq"])


GAPS = st.lists(
    st.sampled_from(
        ["works", "at", "WORKS AT", "Works For", "is based in", "IS BASED IN", "leads", "LEADS", "funded", "by",
         "a", "member", "of", "the", "chief", "executive", "CEO", "and", ",", "straße", "Łukasz", "said", "joined"]
    ),
    max_size=12,
).map(" ".join)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap=GAPS)
@example(gap="who WORKS AT")
@example(gap="who Is Headquartered In")
def test_the_ascii_trigger_search_finds_what_the_ignorecase_search_finds(cues: Cues, gap: str) -> None:
    # GIVEN a gap between two names, in any case
    # WHEN the last trigger is found (lower-cased search for ASCII, IGNORECASE otherwise)
    found = cues._last_trigger(gap)
    # THEN it is where the case-insensitive alternation puts it, with the same relations
    matches = list(cues._trigger_search.finditer(gap))
    if found is None:
        assert not matches or len(WORD_RUN.findall(gap[matches[-1].end() :])) > cues.max_words_after_trigger
    else:
        assert (found.start, found.end) == matches[-1].span()
        assert found.candidates == cues._candidates(matches[-1].group())


def test_retyped_is_replace_built_directly() -> None:
    from shared.extraction.tokens import retyped

    mention = Mention(3, 9, "Okafor", None, 1, guessed=True, listed=True)
    assert retyped(mention, "Person") == mention._replace(type="Person")
    assert retyped(mention, "Place", guessed=False) == mention._replace(type="Place", guessed=False)
    assert type(retyped(mention, "Person")) is Mention
