"""Chunking: the notebook's rule reproduced, and our span-based, paragraph-aware rule."""

from __future__ import annotations

import math
import random
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.chunk import chunk_spans, chunk_text, create_word_bounded_chunks

FAST = settings(max_examples=200, deadline=None)


def notebook_create_word_bounded_chunks(text, target_chunk_size):
    """Copied from the NotebookLlama step-1 notebook: the oracle."""
    words = text.split()
    chunks = []
    current_chunk = []
    current_length = 0

    for word in words:
        word_length = len(word) + 1  # +1 for the space
        if current_length + word_length > target_chunk_size and current_chunk:
            # Join the current chunk and add it to chunks
            chunks.append(' '.join(current_chunk))
            current_chunk = [word]
            current_length = word_length
        else:
            current_chunk.append(word)
            current_length += word_length

    # Add the last chunk if it exists
    if current_chunk:
        chunks.append(' '.join(current_chunk))

    return chunks


def tokens_per_4_chars(s: str) -> int:
    return math.ceil(len(s) / 4)


def tokens_per_word(s: str) -> int:
    return len(s.split())


# --- strategies ----------------------------------------------------------------------------

_word = st.one_of(
    st.text("abcxyzABC", min_size=1, max_size=12),
    st.sampled_from(
        ["end.", "Stop!", "why?", 'said."', "(done.)", "e.g.", "et", "al.", "J.", "2.1.", "x" * 30]
    ),
)
_sep = st.sampled_from([" ", " ", " ", " ", "\n\n", "  ", "\t", "\n", " \n\n "])


@st.composite
def texts(draw):
    """Normalizer-like text (words, spaces, paragraph breaks) with some odd whitespace."""
    words = draw(st.lists(_word, max_size=60))
    out = [draw(st.sampled_from(["", " ", "\n\n"]))]
    for w in words:
        out.append(w)
        out.append(draw(_sep))
    return "".join(out)


any_text = st.one_of(texts(), st.text(max_size=200))
sizes = st.integers(min_value=1, max_value=80)


def check_spans(text, spans, size):
    """Properties (3) and (4): ordered, non-overlapping, whitespace-only between, trimmed."""
    pos = 0
    for a, b in spans:
        assert pos <= a < b <= len(text)
        assert text[pos:a].strip() == ""
        chunk = text[a:b]
        assert chunk == chunk.strip()
        assert len(chunk) <= size
        pos = b
    assert text[pos:].strip() == ""


def check_words(text, chunks, too_big):
    """Property (1): the chunks' words, in order, are the input's words; a word may be split
    only if `too_big(word)`, and then into consecutive pieces that join back to it."""
    got = [w for c in chunks for w in c.split()]
    p = 0
    for word in text.split():
        if p < len(got) and got[p] == word:
            p += 1
            continue
        assert too_big(word), f"word {word!r} was split but fits"
        joined = ""
        while len(joined) < len(word):
            assert p < len(got), f"word {word!r} lost"
            joined += got[p]
            p += 1
            assert word.startswith(joined)
        assert joined == word
    assert p == len(got), "chunks hold words the input does not"
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())


def check_cuts_inside_words(text, spans, too_big):
    """A boundary inside a word (no whitespace on one side) only happens for split words."""
    for a, b in spans:
        for cut in (a, b):
            if 0 < cut < len(text) and not text[cut - 1].isspace() and not text[cut].isspace():
                lo = cut
                while lo > 0 and not text[lo - 1].isspace():
                    lo -= 1
                hi = cut
                while hi < len(text) and not text[hi].isspace():
                    hi += 1
                assert too_big(text[lo:hi])


# --- the notebook's rule -------------------------------------------------------------------


@FAST
@given(any_text, st.integers(min_value=-2, max_value=80))
def test_create_word_bounded_chunks_is_the_notebooks(text, target):
    assert create_word_bounded_chunks(text, target) == notebook_create_word_bounded_chunks(
        text, target
    )


def test_notebook_rule_stops_one_below_the_target():
    # The notebook counts a trailing space per word: "ab cd" (5) does not fit target 5.
    assert create_word_bounded_chunks("ab cd", 5) == ["ab", "cd"]
    assert create_word_bounded_chunks("ab cd", 6) == ["ab cd"]
    assert chunk_text("ab cd", 5) == ["ab cd"]


@FAST
@given(st.lists(st.text("abcdefgh", min_size=1, max_size=10), max_size=80), st.integers(12, 60))
def test_without_sentences_our_rule_is_the_notebooks_with_size_minus_one(words, target):
    # Single spaces, no sentence or paragraph ends, no word longer than the limit: only the
    # short-tail rebalancing (last two chunks) can differ.
    text = " ".join(words)
    ours = chunk_text(text, target - 1)
    theirs = notebook_create_word_bounded_chunks(text, target)
    assert ours[:-2] == theirs[:-2]
    if theirs and len(theirs[-1]) >= 0.2 * (target - 1):
        assert ours == theirs


# --- properties of our rule ----------------------------------------------------------------


@FAST
@given(any_text, sizes)
def test_chunks_are_the_input_cut_at_whitespace(text, size):
    spans = chunk_spans(text, size)
    chunks = [text[a:b] for a, b in spans]
    assert chunk_text(text, size) == chunks
    check_spans(text, spans, size)
    check_words(text, chunks, too_big=lambda w: len(w) > size)
    check_cuts_inside_words(text, spans, too_big=lambda w: len(w) > size)


@FAST
@given(any_text, sizes, st.integers(min_value=1, max_value=12))
def test_token_budget_per_4_chars(text, size, max_tokens):
    spans = chunk_spans(text, size, count_tokens=tokens_per_4_chars, max_tokens=max_tokens)
    chunks = [text[a:b] for a, b in spans]
    check_spans(text, spans, size)
    assert all(tokens_per_4_chars(c) <= max_tokens for c in chunks)

    def too_big(w):
        return len(w) > size or tokens_per_4_chars(w) > max_tokens

    check_words(text, chunks, too_big)
    check_cuts_inside_words(text, spans, too_big)


@FAST
@given(any_text, sizes, st.integers(min_value=1, max_value=8))
def test_token_budget_per_word(text, size, max_tokens):
    spans = chunk_spans(text, size, count_tokens=tokens_per_word, max_tokens=max_tokens)
    chunks = [text[a:b] for a, b in spans]
    check_spans(text, spans, size)
    assert all(tokens_per_word(c) <= max_tokens for c in chunks)
    check_words(text, chunks, too_big=lambda w: len(w) > size)


@FAST
@given(texts(), sizes)
def test_paragraph_breaks_inside_chunks_are_kept(text, size):
    # Only from the strings: each chunk is found verbatim, in order, with whitespace between,
    # so every paragraph break of the input is inside a chunk or between two chunks.
    pos, inside, between = 0, 0, []
    for chunk in chunk_text(text, size):
        at = text.index(chunk, pos)
        assert text[pos:at].strip() == ""
        between.append(text[pos:at])
        inside += chunk.count("\n\n")
        pos = at + len(chunk)
    between.append(text[pos:])
    assert inside + sum(g.count("\n\n") for g in between) == text.count("\n\n")
    if "\n\n" in text.strip() and len(text.strip()) <= size:
        assert inside == text.strip().count("\n\n") > 0


@FAST
@given(any_text, sizes)
def test_text_that_fits_is_one_chunk(text, size):
    stripped = text.strip()
    assume(stripped and len(stripped) <= size)
    assert chunk_text(text, size) == [stripped]


@FAST
@given(texts(), st.integers(min_value=20, max_value=80))
def test_chunks_use_most_of_the_window(text, size):
    # Every chunk but the last two (the short-tail rebalancing) ends no earlier than 70% of
    # the furthest word boundary within the limit.
    spans = chunk_spans(text, size)
    for (a, b), (c, _) in zip(spans[:-2], spans[1:-1]):
        furthest = b
        for w in text[c:].split():
            nxt = text.index(w, furthest) + len(w)
            if nxt - a > size:
                break
            furthest = nxt
        assert b - a >= 0.7 * (furthest - a)


# --- deterministic examples ----------------------------------------------------------------


def test_docstring_example():
    assert chunk_text("a b c d", 4) == ["a b", "c d"]
    assert chunk_spans("a b c d", 4) == [(0, 3), (4, 7)]


def test_empty_and_blank_text():
    assert chunk_spans("", 10) == []
    assert chunk_spans(" \n\n\t ", 10) == []


def test_bad_arguments():
    with pytest.raises(ValueError):
        chunk_spans("a", 0)
    with pytest.raises(ValueError):
        chunk_spans("a", 10, max_tokens=5)
    with pytest.raises(ValueError):
        chunk_spans("a", 10, count_tokens=len)
    with pytest.raises(ValueError):
        chunk_spans("a", 10, count_tokens=len, max_tokens=0)


def test_cut_prefers_a_sentence_end_near_the_limit():
    text = "The first sentence ends here. Then the second one goes on and on."
    # the window for size 36 is "The first sentence ends here. Then" (34)
    assert chunk_text(text, 36) == [
        "The first sentence ends here.",
        "Then the second one goes on and on.",
    ]
    # without the preference the cut would be after "Then"
    assert create_word_bounded_chunks(text, 37)[0].endswith("Then")


def test_cut_prefers_a_paragraph_end_over_a_later_sentence_end():
    text = "One paragraph ends right here\n\nNext one. Sentence two goes on and on and on."
    # window for size 42: up to "one." (40); the paragraph end (29) is in its last 30%, the
    # sentence end "one." is later but the paragraph end wins
    chunks = chunk_text(text, 42)
    assert chunks[0] == "One paragraph ends right here"
    assert chunks[1].startswith("Next one. Sentence")


def test_sentence_end_too_early_in_the_window_is_ignored():
    text = "Short. " + "word " * 20
    assert chunk_text(text, 40)[0] == "Short. " + " ".join(["word"] * 6)


def test_paragraph_breaks_survive_inside_a_chunk():
    text = "First paragraph.\n\nSecond paragraph.\n\nThird."
    assert chunk_text(text, 1000) == [text]


@pytest.mark.parametrize(
    "word",
    ["e.g.", "et al.", "i.e.", "cf.", "Fig.", "J.", "U.S.", "2.1.", "(e.g.", "al.)"],
)
def test_abbreviations_are_not_sentence_ends(word):
    text = f"We compare many of the distillation methods {word} Three things follow here"
    chunks = chunk_text(text, len(text) - 12)
    assert not chunks[0].endswith(word)


def test_lowercase_next_word_is_not_a_sentence_end():
    text = "The loss was approx. the same in every single run we made here today"
    assert not chunk_text(text, 56)[0].endswith("approx.")


def test_closing_quote_or_bracket_after_the_period_is_a_sentence_end():
    text = 'He said "it works." Then we measured everything again and again.'
    assert chunk_text(text, 24)[0] == 'He said "it works."'  # window: '... Then' (24)
    text = "It works (see above.) Then we measured everything again and again."
    assert chunk_text(text, 26)[0] == "It works (see above.)"  # window: '... Then' (26)


def test_long_word_is_split_into_pieces_of_size():
    assert chunk_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert chunk_spans("ab abcdefghij c", 4) == [(0, 2), (3, 7), (7, 11), (11, 15)]
    assert chunk_text("ab abcdefghij c", 4) == ["ab", "abcd", "efgh", "ij c"]


def test_word_over_the_token_budget_is_split():
    chunks = chunk_text("a" * 20 + " bb", 100, count_tokens=tokens_per_4_chars, max_tokens=2)
    assert chunks == ["a" * 8, "a" * 8, "aaaa bb"]


def test_token_budget_keeps_the_sentence_preference():
    text = "one two three four. Five six seven eight nine ten"
    chunks = chunk_text(text, 1000, count_tokens=tokens_per_word, max_tokens=5)
    assert chunks[0] == "one two three four."


def test_short_tail_is_rebalanced():
    text = " ".join(["word"] * 21)  # 104 characters
    theirs = create_word_bounded_chunks(text, 101)
    assert [len(c) for c in theirs] == [99, 4]
    ours = chunk_text(text, 100)
    assert [len(c) for c in ours] == [49, 54]  # cut at the furthest boundary within half


def test_token_calls_are_few():
    calls = 0

    def counting(s):
        nonlocal calls
        calls += 1
        return tokens_per_word(s)

    rng = random.Random(1)
    text = " ".join(rng.choice(["alpha", "beta", "gamma", "delta."]) for _ in range(20_000))
    chunks = chunk_text(text, 1000, count_tokens=counting, max_tokens=10_000)
    assert calls <= len(chunks) + 2  # everything fits: one call per chunk
    calls = 0
    chunks = chunk_text(text, 1000, count_tokens=counting, max_tokens=100)
    assert all(tokens_per_word(c) <= 100 for c in chunks)
    assert calls <= 12 * len(chunks)


def test_timing_100k_characters():
    rng = random.Random(0)
    vocab = ["the", "model", "distillation", "knowledge", "student", "teacher", "e.g.", "al."]
    parts = []
    while sum(map(len, parts)) < 100_000:
        sentence = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 25))) + "."
        parts.append(sentence + ("\n\n" if rng.random() < 0.2 else " "))
    text = "".join(parts)[:100_000]
    t0 = time.perf_counter()
    spans = chunk_spans(text, 1000)
    t1 = time.perf_counter()
    tokens = chunk_spans(text, 1000, count_tokens=tokens_per_4_chars, max_tokens=200)
    t2 = time.perf_counter()
    print(
        f"\n100k chars: {len(spans)} chunks in {1000 * (t1 - t0):.1f} ms; "
        f"with a token budget: {len(tokens)} chunks in {1000 * (t2 - t1):.1f} ms"
    )
    check_spans(text, spans, 1000)
    check_spans(text, tokens, 1000)
