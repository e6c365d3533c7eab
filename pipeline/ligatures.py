"""Restore ligatures that a PDF's font left without Unicode: "A Mathematical \\x91eory" ->
"A Mathematical Theory", "transmi\\x8cing" -> "transmitting".

A font may draw "Th", "tt", "ff", "fi" and the like as one glyph and give no Unicode for
it. PDFium then returns the glyph's code as a C1 control character (U+0080-U+009F), which
the character rules delete with the other control characters, leaving "e fundamental
problem", "leers" and "eory" in the text. Each such code is one glyph of one font
throughout the document, so it is decided once, from every word it stands in: each
candidate ligature is put in its place, and the candidate that makes the most of those
words into English words (wordfreq) wins, when it makes at least half of them words. A
"th" whose code never stands inside a word is the capital "Th" (a lower-case "th" would
be met inside "other" or "with").

What it does not do: a code that no candidate makes words of is left, to go with the other
control characters; a code next to no letter is left; text with mojibake (whose C1
characters are bytes of broken UTF-8) is not passed here; ligatures a font maps to wrong
letters, or drops without a trace, cannot be seen.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from pipeline.words import zipf

# The ligatures fonts draw as one glyph.
CANDIDATES = ("fi", "fl", "ff", "ffi", "ffl", "th", "tt", "ft", "st", "ct", "fj", "tf")
_LOST = re.compile("[\u0080-\u009f]")
# A word with at least one lost glyph in it: letters and C1 controls.
_TOKEN = re.compile(r"(?:[^\W\d_]|[\u0080-\u009f])*[\u0080-\u009f](?:[^\W\d_]|[\u0080-\u009f])*")


def restore(pages: Sequence[str]) -> list[str]:
    """The pages with each lost ligature's code replaced by the ligature it stands for."""
    if not any(_LOST.search(page) for page in pages):
        return list(pages)
    words: dict[str, list[str]] = defaultdict(list)  # code -> the words it stands in
    for page in pages:
        for token in _TOKEN.findall(page):
            codes = set(_LOST.findall(token))
            if len(codes) == 1 and len(token) > 1:
                words[codes.pop()].append(token)
    table = {}
    for code, tokens in words.items():
        ligature = _decide(code, tokens)
        if ligature:
            table[ord(code)] = ligature
    if not table:
        return list(pages)
    return [_apply(page, table) for page in pages]


def _decide(code: str, tokens: list[str]) -> str | None:
    """The candidate that makes the most tokens words, the more frequent words on a tie
    ("\x91e": "the" over "fie"); None if it makes fewer than half of them words."""
    best, best_score = None, (0, 0.0)
    for candidate in CANDIDATES:
        found = [zipf(token.replace(code, candidate)) for token in tokens]
        score = (sum(f > 0 for f in found), sum(found))
        if score > best_score:
            best, best_score = candidate, score
    if best is None or 2 * best_score[0] < len(tokens):
        return None
    if best == "th" and all(token.startswith(code) for token in tokens):
        return "Th"
    return best


def _apply(page: str, table: dict[int, str]) -> str:
    # Only inside words: a code standing alone is no letter of any.
    return _TOKEN.sub(lambda match: match.group().translate(table), page)
