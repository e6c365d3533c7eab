"""Split words that PDF extraction glued together: "Intheeraof" -> "In the era of".

    split_glued("Abstract—IntheeraofLargeLanguageModels(LLMs),KnowledgeDistillation")
        -> "Abstract—In the era of Large Language Models (LLMs), KnowledgeDistillation"
    split_glued("ourinteractionwithtechnology.Despite") -> "our interaction with technology. Despite"

Some PDF fonts make the space between words by moving the pen instead of drawing a space
glyph, and pypdf then returns whole lines without spaces. A long run of letters that is
not a word is cut into the words that make it most likely, with word frequencies from
wordfreq (a dynamic programme over the run: the cost of a piece is its negative log
frequency plus a fixed cost per piece). bench/words.py compared this with wordninja and
symspellpy on glued text from the reference paper and on tokens that must stay whole; the
figures are in docs/QUALITY.md ("Glued words and mojibake").

What it changes: only letter runs of at least MIN_LETTERS ASCII letters that are not a
word, and only when every piece is a common word (or an acronym such as "LLMs"), the split
costs less than the run as one word, and a run with capitals inside ("KnowledgeDistillation",
"StackOverflow", "InstructGPT") has a lower-case piece or at least three pieces. Inside a
token that was split, and for "technology.Despite", a space goes after ".,;:!?" and ")" and
before "(" where letters follow or precede. The split only inserts spaces: no character is
changed, dropped or moved (glued_spaces gives the offsets, so callers can map positions).

What it does not do: it never touches a token with a URL, an e-mail address or a LaTeX
command, a run next to a digit ("LLaMA2", "GPT4All"), a citation glued as "Wangetal." (the
name could be cut wrongly), words with accents, or runs shorter than MIN_LETTERS
("Forinstance" stays). It does not know names and rare terms, so a run made of them stays
glued rather than cut at random.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Callable

MIN_LETTERS = 12  # shorter runs are mostly real words and names; see docs/QUALITY.md

# The cost of a piece is 9 - zipf (zipf = log10 of the frequency per billion words), plus
# this for every piece, so that a known whole word beats two rarer halves.
_PIECE_COST = 1.5
_ACRONYM_COST = 6.0  # "LLMs", "KD": as costly as a word of zipf 3
# The rarest word a piece may be, by length: short pieces must be very common ("of", "a"),
# or a name would be cut into syllables ("Wangetal" -> "Wan get al").
_MIN_ZIPF = {1: 7.0, 2: 5.5, 3: 4.0, 4: 3.0, 5: 2.5, 6: 2.5, 7: 2.5}
_MIN_ZIPF_LONG = 1.5  # 8 letters and more: "eliciting" (2.6), "adeptness" (1.5)
# In a token where a long run was split (so the text there is glued), shorter runs are
# split too: "alike,guidingthem" -> "alike, guiding them".
_MIN_LETTERS_GLUED = 6
_MAX_PIECE = 24  # longest dictionary word tried

_RUN = re.compile(r"[A-Za-z]+")
_ACRONYM = re.compile(r"[A-Z]{2,}s?")
_SKIP_TOKEN = re.compile(
    r"@|://|www\.|\\[A-Za-z]"
    r"|[A-Za-z0-9-]\.(?:com|org|net|edu|gov|io|ai|html?|pdf|py|md|txt"
    r"|tex|sty|cls|bib|bst|json|csv|xml|ya?ml|cfg|ini|sh|js|ts|cpp|java|rs|zip|png|jpe?g|svg|docx?|xlsx?|pptx?)\b",
    re.I,
)
# "technology.Despite": a lower-case word, a sentence end, a capitalised word.
_SENTENCE_JOIN = re.compile(r"(?<=[a-z]{3}[.!?])(?=[A-Z][a-z])")
# Inside a token that was split: ",;:" between letters, ")" before a letter, "(" after
# a word of at least three letters.
_GLUED_PUNCT = re.compile(
    r"(?<=[A-Za-z)][,;:])(?=[A-Za-z])|(?<=[.!?])(?=[A-Z][a-z])|(?<=\))(?=[A-Za-z])"
    r"|(?<=[A-Za-z]{3})(?=\([A-Za-z])"
)


# --- the dictionary, loaded on first use ------------------------------------------------

_lock = threading.Lock()
_zipf: dict[str, float] | None = None


def _frequencies() -> dict[str, float]:
    """wordfreq's English list as word -> zipf, restricted to plain ASCII letters.

    Loaded once, on the first glued run met (about 0.6 s: importing wordfreq and reading
    its list); a text without long runs never pays it.
    """
    global _zipf
    if _zipf is None:
        with _lock:
            if _zipf is None:
                import wordfreq

                table = {}
                for word, freq in wordfreq.get_frequency_dict("en").items():
                    if word.isascii() and word.isalpha():
                        table[word] = math.log10(freq) + 9
                _zipf = table
    return _zipf


def is_word(word: str) -> bool:
    """Is `word` (any case) in the frequency list?"""
    return word.lower() in _frequencies()


def zipf(word: str) -> float:
    """`word`'s (any case) zipf frequency: log10 of its frequency per billion words; 0 if
    the list lacks it."""
    return _frequencies().get(word.lower(), 0.0)


# --- segmentation -----------------------------------------------------------------------


def _piece_cost(piece: str, whole_upper: bool, zipf: dict[str, float]) -> float:
    """Cost of one piece of a run, or inf when it may not be a piece."""
    if _ACRONYM.fullmatch(piece) and not whole_upper:
        return _ACRONYM_COST
    lower = piece.lower()
    # Case: "of", "Large"; "INTRODUCTION" only inside an all-capitals run.
    if not (piece == lower or piece[1:] == lower[1:] or whole_upper):
        return math.inf
    z = zipf.get(lower)
    if z is None or z < _MIN_ZIPF.get(len(piece), _MIN_ZIPF_LONG):
        return math.inf
    if len(piece) == 1 and lower not in ("a", "i"):
        return math.inf
    return 9.0 - z


def segment(run: str) -> list[str] | None:
    """The cheapest split of a run of letters into words, or None when there is none or
    the run as one word is cheaper. `segment("Intheeraof") -> ["In", "the", "era", "of"]`"""
    zipf = _frequencies()
    whole_upper = run.isupper()
    n = len(run)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_PIECE), end):
            if best[start] == math.inf:
                continue
            cost = best[start] + _piece_cost(run[start:end], whole_upper, zipf) + _PIECE_COST
            if cost < best[end]:
                best[end], back[end] = cost, start
    if best[n] == math.inf:
        return None
    pieces = []
    end = n
    while end > 0:
        pieces.append(run[back[end] : end])
        end = back[end]
    pieces.reverse()
    whole = zipf.get(run.lower())
    if len(pieces) < 2 or (whole is not None and 9.0 - whole + _PIECE_COST <= best[n]):
        return None
    return pieces


# Prefixes that make real words the dictionary may lack: "overparameterized",
# "counterfactually" are one word, not two.
_PREFIXES = frozenset(
    "over under counter multi hyper inter intra super sub semi non pre post re de un anti "
    "meta self cross out auto micro macro mini electro neuro bio photo thermo hydro geo "
    "psycho immuno cardio nano poly mono".split()
)


def _confident(run: str, pieces: list[str]) -> bool:
    """A run with capitals inside ("KnowledgeDistillation", "OpenAssistant") may be a name:
    split it only with a lower-case piece or at least three pieces. A prefix and a word
    ("over" + "parameterized") is one word. A split into mostly one-letter pieces is not one."""
    if len(pieces) == 2 and pieces[0].lower() in _PREFIXES:
        return False
    # Many one-letter pieces ("AAAAAAAAAAAA" -> "A A A ...") is letters, not words.
    if 3 * sum(len(p) == 1 for p in pieces) > len(pieces):
        return False
    if run[1:] != run[1:].lower() and not run.isupper():
        return len(pieces) >= 3 or any(p == p.lower() for p in pieces)
    return True


Segmenter = Callable[[str], "list[str] | None"]


def glued_spaces(
    text: str,
    min_letters: int = MIN_LETTERS,
    segmenter: Segmenter | None = None,
    word_check: Callable[[str], bool] | None = None,
) -> list[int]:
    """Offsets in `text`, ascending, before which split_glued inserts a space.

    `segmenter` and `word_check` replace the wordfreq ones (bench/words.py plugs in other
    libraries with the same rules around them)."""
    segmenter = segmenter or segment
    word_check = word_check or is_word
    spaces: list[int] = []
    # Only tokens with a long run of letters or a glued sentence end are looked at: a
    # single search over the text skips the ordinary words fast.
    candidate = _candidates(min_letters)
    for token in candidate.finditer(text):
        word = token.group()
        if _SKIP_TOKEN.search(word):
            continue
        inside: list[int] = []
        runs = list(_RUN.finditer(word))
        for run in runs:
            inside += _split_run(word, run, min_letters, segmenter, word_check)
        if inside:
            for run in runs:
                if _MIN_LETTERS_GLUED <= len(run.group()) < min_letters:
                    inside += _split_run(word, run, _MIN_LETTERS_GLUED, segmenter, word_check)
        if inside:
            inside += [m.start() for m in _GLUED_PUNCT.finditer(word)]
        else:
            inside += [m.start() for m in _SENTENCE_JOIN.finditer(word) if _sentence_join_ok(word, m.start())]
        spaces += sorted(token.start() + i for i in set(inside) if 0 < i < len(word))
    return spaces


_CANDIDATES: dict[int, re.Pattern[str]] = {}


def _candidates(min_letters: int) -> re.Pattern[str]:
    if min_letters not in _CANDIDATES:
        _CANDIDATES[min_letters] = re.compile(
            rf"(?<!\S)\S*?(?:[A-Za-z]{{{min_letters},}}|[a-z]{{3}}[.!?][A-Z][a-z])\S*"
        )
    return _CANDIDATES[min_letters]


def _split_run(word: str, run: re.Match[str], min_letters: int, segmenter: Segmenter,
               word_check: Callable[[str], bool]) -> list[int]:
    """Offsets in `word` where the letter run `run` is cut, or [] to leave it."""
    letters = run.group()
    if len(letters) < min_letters:
        return []
    before = word[run.start() - 1] if run.start() else ""
    after = word[run.end()] if run.end() < len(word) else ""
    if before.isdigit() or after.isdigit() or before == "_" or after == "_":
        return []  # an identifier: "LLaMA2", "GPT4All", "x_train"
    if before.isalpha() or after.isalpha() or unicodedata.combining(after or " "):
        return []  # part of a word with accents: "Rozièreetal"
    if letters.lower().endswith("etal") and after in (".", ","):
        return []  # a glued citation: "Wangetal.,2023c"
    if after == "-" and run.end() + 1 == len(word):
        return []  # the first half of a word broken at a line end: "shortcom-"
    if word_check(letters):
        return []
    pieces = segmenter(letters)
    if not pieces or len(pieces) < 2 or "".join(pieces) != letters:
        return []
    if not _confident(letters, pieces):
        return []
    cuts, at = [], run.start()
    for piece in pieces[:-1]:
        at += len(piece)
        cuts.append(at)
    return cuts


def _sentence_join_ok(word: str, at: int) -> bool:
    """"technology.Despite": both sides dictionary words, so not "Fig.Three" or a name."""
    left = re.search(r"[A-Za-z]+(?=[.!?]$)", word[:at])
    right = re.match(r"[A-Za-z]+", word[at:])
    return bool(left and right and is_word(left.group()) and is_word(right.group())
                and len(left.group()) >= 3)


def insert_spaces(text: str, offsets: list[int]) -> str:
    """`text` with a space inserted before each offset (ascending)."""
    if not offsets:
        return text
    parts, last = [], 0
    for at in offsets:
        parts.append(text[last:at])
        last = at
    parts.append(text[last:])
    return " ".join(parts)


def split_glued(text: str, min_letters: int = MIN_LETTERS) -> str:
    """`text` with glued words split and glued punctuation spaced (only spaces are added)."""
    return insert_spaces(text, glued_spaces(text, min_letters))
