"""pipeline.anchor: the pointer into the source only moves forward, and re-joins after edits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.anchor import NEAR, Anchor

END = 0


def follow(source, output):
    a = Anchor(source, END)
    for token in output:
        a.advance(token)
    return a


def test_a_copy_moves_the_pointer_to_the_end_and_asks_for_the_end_token():
    a = follow([5, 6, 7], [5, 6, 7])
    assert a.pointer == 3 and a.at_end
    assert a.expected() == END and a.draft(4) == [END]
    assert (a.copied, a.edits) == (3, 0)


def test_drafts_are_the_next_source_tokens_then_the_end():
    a = Anchor([5, 6, 7, 8], END)
    assert a.draft(2) == [5, 6]
    assert a.draft(8) == [5, 6, 7, 8, END]
    assert [a.expected(i) for i in range(6)] == [5, 6, 7, 8, END, None]
    assert a.draft(0) == []


def test_a_changed_word_rejoins_on_the_next_token():
    a = follow([1, 2, 3, 4], [1, 9, 3])  # 2 replaced by 9
    assert a.synced and a.pointer == 3 and a.draft(2) == [4, END]


def test_an_inserted_word_rejoins_where_it_left():
    a = follow([1, 2, 3], [1, 9])
    assert not a.synced and a.draft(3) == [] and a.expected() is None
    a.advance(2)
    assert a.synced and a.pointer == 2


def test_a_skipped_span_jumps_ahead_on_two_agreeing_tokens():
    source = [10, 11, 12, 13, 14, 15, 16]
    a = follow(source, [10, 14])  # 11-13 dropped (a footnote mark, a page number)
    assert not a.synced and a.pointer == 1
    a.advance(15)
    assert a.synced and a.pointer == 6


def test_a_far_jump_needs_three_agreeing_tokens():
    source = list(range(100, 100 + NEAR + 10))
    a = follow(source, [100, source[NEAR + 4], source[NEAR + 5]])
    assert not a.synced  # two tokens agree, but the place is far ahead
    a.advance(source[NEAR + 6])
    assert a.synced and a.pointer == NEAR + 7


def test_the_pointer_never_goes_back_to_text_already_copied():
    # Plain prompt-lookup re-matches "1 2" at the start and loops through the chunk again.
    a = follow([1, 2, 3, 1, 2, 4], [1, 2, 3, 1, 2, 4, 1, 2])
    assert a.pointer == 6
    assert not a.synced and a.draft(4) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=40), st.lists(st.integers(1, 6), max_size=60))
def test_the_pointer_is_monotonic_and_in_range(source, output):
    a = Anchor(source, END)
    last = 0
    for token in output:
        a.advance(token)
        assert last <= a.pointer <= len(source)
        last = a.pointer
        if a.synced:
            assert a.output[-1] == source[a.pointer - 1]  # in sync: the last token is the source's


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=60))
def test_copying_any_source_follows_it_exactly(source):
    a = Anchor(source, END)
    for token in source:
        assert a.synced and a.expected() == token
        a.advance(token)
    assert a.at_end and a.edits == 0
