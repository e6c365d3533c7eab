"""Cut normalized text into the chunks that the LLM cleans one by one.

    chunk_text("a b c d", 4) -> ["a b", "c d"]
    chunk_spans("a b c d", 4) -> [(0, 3), (4, 7)]

Two rules live here:

- `create_word_bounded_chunks` is the NotebookLlama notebook's function, kept verbatim in
  behaviour so that benchmarks can reproduce the notebook. It re-joins words with single
  spaces, so paragraph breaks are lost.

- `chunk_spans` / `chunk_text` are ours. A chunk is a slice `text[start:end]` of the input,
  so it keeps the input's own whitespace (paragraph breaks "\\n\\n" included) and the caller
  can map it back to the pages it came from.

  Length rule: a chunk's length is `len(text[start:end])`, every character of the slice
  counted, the whitespace inside it as it stands in the input (a "\\n\\n" paragraph break
  counts 2, a run of three spaces counts 3). No chunk is longer than `size`. (The notebook
  counts one space per word *including a trailing one*, so its chunks stay below its target:
  the notebook's target N allows what we allow with `size=N-1`.)

  Cut rule: take the furthest word boundary that keeps the chunk within `size` (and within
  `max_tokens` when a token counter is given). Then look back from it, within that window,
  for a paragraph end (a gap holding two or more newlines) in the last 30% of the window;
  failing that, a sentence end (a word ending in ".", "!" or "?", optionally followed by
  closing quotes or brackets, not a known abbreviation such as "e.g." or "et al.", not an
  initial or a section number such as "J." or "2.1.", and not followed by a lowercase word)
  in the last 25%; failing that, cut at the furthest word boundary itself.

  Cuts fall only on whitespace, with one exception: a single word longer than `size`
  characters (or one that alone exceeds `max_tokens`) is split into consecutive pieces,
  each of at most `size` characters (and `max_tokens` tokens); that is the only way a chunk
  boundary falls inside a word, and then nothing lies between the two spans. A single
  character is never split, so a token budget smaller than one character's count is
  exceeded by that one character.

  Short tail: when the cut would leave a final chunk shorter than 20% of `size` (a few
  words the previous chunk could not take), the last two chunks are rebalanced around the
  middle of what remains, with the same preference for paragraph and sentence ends,
  provided both halves still fit. A text that fits in one chunk is one chunk.

What it does not do: it never changes, drops or reorders text (normalize.py does the
cleaning), it does not look at pages (spans let the caller do that), and it knows nothing
about tokenizers beyond the `count_tokens` callable it is given.

Cost: linear in the text for the character rule; with a token budget, one `count_tokens`
call per chunk that fits, and about log2(words in the window) more for a chunk that does
not.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["create_word_bounded_chunks", "chunk_spans", "chunk_text"]

_WORD = re.compile(r"\S+")

# A paragraph break is preferred if it lies in the last 30% of the window, a sentence end if
# in the last 25%; a final chunk shorter than 20% of `size` triggers the rebalancing.
_PARAGRAPH_ZONE = 0.30
_SENTENCE_ZONE = 0.25
_SHORT_TAIL = 0.20

_OPENERS = "\"'([{<«‘“"
_CLOSERS = "\"')]}>»’”"
_ENDERS = ".!?"

# Words ending in "." that seldom end a sentence in papers. Lowercase, leading openers and
# trailing closers removed before the look-up.
_ABBREVIATIONS = frozenset(
    """
    al. e.g. i.e. cf. vs. viz. approx. ca. resp. incl. esp. etc.
    fig. figs. eq. eqs. sec. secs. tab. tbl. ch. chap. app. appx. ref. refs. no. nos.
    vol. vols. pp. p. ed. eds. def. thm. lem. prop. cor.
    dr. mr. mrs. ms. prof. st. jr. sr. inc. ltd. co. corp. dept. univ.
    jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec.
    """.split()
)
# "J.", "U.S.", "e.g." written without the list: single letters each followed by a period.
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")
# Section and list numbers such as "2." or "3.1." (years such as "2023." still end sentences).
_NUMBERING = re.compile(r"\d{1,2}(?:\.\d{1,2})*\.")


def create_word_bounded_chunks(text: str, target_chunk_size: int) -> list[str]:
    """The notebook's chunker, unchanged in behaviour.

    Words (split on any whitespace) accumulate while the sum of (len(word) + 1) stays within
    `target_chunk_size`, so a chunk joined by single spaces is at most target - 1 characters;
    a word longer than the target becomes a chunk of its own. Paragraph breaks are lost.
    """
    words = text.split()
    chunks = []
    current_chunk = []
    current_length = 0

    for word in words:
        word_length = len(word) + 1  # +1 for the space
        if current_length + word_length > target_chunk_size and current_chunk:
            chunks.append(" ".join(current_chunk))
            current_chunk = [word]
            current_length = word_length
        else:
            current_chunk.append(word)
            current_length += word_length

    if current_chunk:
        chunks.append(" ".join(current_chunk))

    return chunks


def chunk_text(text: str, size: int = 1000, **kw) -> list[str]:
    """The chunks as strings: `[text[a:b] for a, b in chunk_spans(text, size, **kw)]`."""
    return [text[a:b] for a, b in chunk_spans(text, size, **kw)]


def chunk_spans(
    text: str,
    size: int = 1000,
    *,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int | None = None,
) -> list[tuple[int, int]]:
    """(start, end) offsets of the chunks of `text`, in order; see the module docstring.

    `size` is the most characters a chunk may have (the notebook's CHUNK_SIZE, default 1000).
    With `count_tokens` and `max_tokens`, every chunk also satisfies
    `count_tokens(chunk) <= max_tokens` (assuming a longer prefix never has fewer tokens,
    which holds closely enough for BPE tokenizers; every chunk returned is checked anyway,
    except a single character that alone exceeds the budget).
    Whitespace-only text gives no chunks.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 character, got {size}")
    if (count_tokens is None) != (max_tokens is None):
        raise ValueError("count_tokens and max_tokens must be given together")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    words = []
    for m in _WORD.finditer(text):
        a, b = m.span()
        while b - a > size:  # the one exception to "cut only at whitespace"
            words.append((a, a + size))
            a += size
        words.append((a, b))
    return _Chunker(text, words, size, count_tokens, max_tokens).run()


class _Chunker:
    """One pass over the word spans; `words` is a list of (start, end) pieces, each at most
    `size` characters. It may grow when a word is split to fit the token budget."""

    def __init__(self, text, words, size, count_tokens, max_tokens):
        self.text = text
        self.words = words
        self.size = size
        self.count = count_tokens
        self.max_tokens = max_tokens

    def run(self) -> list[tuple[int, int]]:
        words, size = self.words, self.size
        spans: list[tuple[int, int]] = []
        i = j = 0
        while i < len(words):
            start = words[i][0]
            last = len(words) - 1
            j = max(j, i)
            while j < last and words[j + 1][1] - start <= size:
                j += 1
            k = j if j == last else self._prefer(i, j)
            if self.count is not None:
                k = self._fit_tokens(i, k)
                if k is None:  # word i alone is over the token budget: split it, retry
                    self._split_word(i)
                    j = i
                    continue
            if k < last and words[last][1] - words[k + 1][0] < _SHORT_TAIL * size:
                k = self._rebalance(i, k)
            spans.append((start, words[k][1]))
            i = k + 1
        return spans

    def _fits(self, a: int, b: int) -> bool:
        return self.count(self.text[a:b]) <= self.max_tokens

    def _prefer(self, i: int, m: int) -> int:
        """Where to end a chunk made of words i..m (m is not the last word): a paragraph end,
        else a sentence end, near the end of the window; else m itself."""
        words, text = self.words, self.text
        start = words[i][0]
        window = words[m][1] - start
        paragraph_floor = start + (1 - _PARAGRAPH_ZONE) * window
        sentence_floor = start + (1 - _SENTENCE_ZONE) * window
        sentence = None
        k = m
        while k >= i and words[k][1] >= paragraph_floor:
            end, next_start = words[k][1], words[k + 1][0]
            if text.count("\n", end, next_start) >= 2:
                return k
            if sentence is None and end >= sentence_floor and self._sentence_end(k):
                sentence = k
            k -= 1
        return m if sentence is None else sentence

    def _sentence_end(self, k: int) -> bool:
        words, text = self.words, self.text
        a, b = words[k]
        following = words[k + 1][0]
        if following == b:  # inside a split word
            return False
        core = text[a:b].rstrip(_CLOSERS)
        if not core or core[-1] not in _ENDERS:
            return False
        if core[-1] == ".":
            bare = core.lstrip(_OPENERS).lower()
            if bare in _ABBREVIATIONS or _INITIALS.fullmatch(bare) or _NUMBERING.fullmatch(bare):
                return False
        next_word = text[following : words[k + 1][1]].lstrip(_OPENERS)
        return not (next_word and next_word[0].islower())

    def _fit_tokens(self, i: int, k: int) -> int | None:
        """The end word for a chunk starting at word i that ends no later than k and fits the
        token budget; None when word i alone does not fit and can be split."""
        words = self.words
        start = words[i][0]
        if self._fits(start, words[k][1]):
            return k
        lo, hi = i - 1, k  # chunk ending at lo fits (lo = i - 1: empty), at hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._fits(start, words[mid][1]):
                lo = mid
            else:
                hi = mid
        if lo < i:
            a, b = words[i]
            return i if b - a <= 1 else None
        best = self._prefer(i, lo)
        if best != lo and not self._fits(start, words[best][1]):
            best = lo
        return best

    def _split_word(self, i: int) -> None:
        """Replace word i by greedy pieces that each fit the token budget (at least one
        character each)."""
        a, b = self.words[i]
        pieces = []
        while a < b:
            if self._fits(a, b):
                pieces.append((a, b))
                break
            lo, hi = a + 1, b  # a piece ending at lo is accepted, one ending at hi does not fit
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._fits(a, mid):
                    lo = mid
                else:
                    hi = mid
            pieces.append((a, lo))
            a = lo
        self.words[i : i + 1] = pieces

    def _rebalance(self, i: int, k: int) -> int:
        """The chunk starting at word i would end at k and leave a short final chunk: move
        the cut towards the middle of what is left, if both halves still fit."""
        words = self.words
        start, end = words[i][0], words[-1][1]
        half = start + (end - start + 1) // 2
        m = k
        while m >= i and words[m][1] > half:
            m -= 1
        if m < i:
            return k
        best = self._prefer(i, m)
        tail = words[best + 1][0]
        if end - tail > self.size:
            return k
        if self.count is not None and not (
            self._fits(start, words[best][1]) and self._fits(tail, end)
        ):
            return k
        return best
