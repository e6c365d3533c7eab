"""Deterministic clean-up of extracted PDF text before chunking.

    normalize_document([(1, "1\\nA Survey on Knowl-\\nedge Distillation\\n"), ...])
        -> NormalizedText(text="A Survey on Knowledge Distillation ...", page_starts=((0, 1), ...))
    normalize_text("capa-\\nbilities") -> "capabilities"

The rules, in the order they run (each is a small function below, with a before/after
example taken from the reference extraction of arXiv:2402.13116):

    characters   repair_mojibake, or else ligatures.restore (document-wide: glyphs such as
                 "Th" and "tt" that the font left without Unicode), unify_line_breaks,
                 remove_invisible, ftfy_encoding, attach_spacing_accents, apply_nfkc
    lines        remove_arxiv_stamps (on a page's text), clean_line_whitespace,
                 drop_running_headers and drop_page_numbers (need every page's lines)
    joining      rejoin_column_hyphens (pypdf's interleaved columns), then join_lines:
                 dehyphenate line ends, find paragraph breaks, join lines and pages
    words        split_glued_words on the joined paragraphs ("Intheeraof" -> "In the era of",
                 pipeline.words)

The result is paragraphs separated by "\\n\\n" and no other newline: the chunker relies
on that.

What it does not do: it never drops body text (only page numbers, running headers and
footers, arXiv stamps and invisible characters go); glued words are split only where a
dictionary is sure (long runs that are not words, made of common words), so short or
name-heavy glued runs ("Forinstance", "Gouetal.") stay for the LLM step; it does not put
interleaved columns back in reading order or remove pypdf's "(cid:88)" placeholders:
those need layout, and are left to the LLM step too.
"""

from __future__ import annotations

import functools
import re
import statistics
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import ligatures, patterns, words


@dataclass(frozen=True)
class NormalizedText:
    text: str
    # (character offset in text where the page's text begins, page number), ascending by
    # offset; a page that kept no text has no entry.
    page_starts: tuple[tuple[int, int], ...]


def normalize_document(pages: Sequence[tuple[int, str]], glue_evidence: float = 0.0) -> NormalizedText:
    """Apply every rule to (page number, extracted page text) pairs in reading order.
    `glue_evidence`: see split_glued_words (GLUE_EVIDENCE for text that PDFium spaced)."""
    numbers = [number for number, _ in pages]
    texts = [text for _, text in pages]
    codec = detect_mojibake("\n".join(texts))
    if codec is None:  # C1 characters in mojibake are bytes of it, not lost ligatures
        texts = ligatures.restore(texts)
    page_lines = [_page_lines(text, codec) for text in texts]
    page_lines = drop_running_headers(page_lines)
    page_lines = drop_page_numbers(page_lines, numbers)
    return split_glued_words(join_lines(page_lines, numbers), glue_evidence)


def normalize_text(text: str) -> str:
    """The rules that need no page structure, for pasted text.

    No running-header detection and no bare page numbers (a lone "12" could be anything
    when the page breaks are unknown); explicit page labels ("Page 12", "- 12 -",
    "12 of 40") on a line of their own are dropped wherever they are, as pasted text
    from a viewer carries them at page breaks in the middle of the text.
    """
    # Repairing can expose an older layer of mojibake (text encoded twice): repeat.
    found = False
    for _ in range(10):
        codec = detect_mojibake(text)
        if codec is None:
            break
        found = True
        repaired = repair_mojibake(text, codec)
        if repaired == text:
            break
        text = repaired
    lines = _page_lines(text, None, evidence=found)
    lines = [line for line in lines if not _is_page_label(line)]
    joined = split_glued_words(join_lines([lines], [1])).text
    # Joining lines can bring the pieces of a stamp or a page label onto one line: a
    # second sweep over the paragraphs keeps normalize_text idempotent.
    paragraphs = []
    for paragraph in joined.split("\n\n"):
        paragraph = _collapse_spaces(remove_arxiv_stamps(paragraph)).strip()
        if paragraph and not _is_page_label(paragraph):
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _page_lines(text: str, codec: str | None, evidence: bool = False) -> list[str]:
    """The character rules, stamp removal and whitespace clean-up for one page. `evidence`:
    detect_mojibake found some (normalize_text repairs before calling this)."""
    if codec is not None:
        text = repair_mojibake(text, codec)
    text = unify_line_breaks(text)
    text = remove_invisible(text)
    # After the invisible characters go, so that what they split is seen whole (idempotence).
    text = ftfy_encoding(text, evidence=evidence or codec is not None)
    text = attach_spacing_accents(text)
    text = apply_nfkc(text)
    # NFKC can turn a neighbour of a leftover "`" into a letter ("™" -> "TM"): once more.
    text = apply_nfkc(attach_spacing_accents(text))
    text = remove_invisible(text)
    text = remove_arxiv_stamps(text)
    return clean_line_whitespace(text)


# --- characters ------------------------------------------------------------------------


def ftfy_encoding(text: str, evidence: bool = False) -> str:
    """ftfy's encoding repair for what repair_mojibake leaves (Latin-1, text broken twice),
    with every other ftfy fix off, so that nothing else changes; only where the text shows
    UTF-8 read one byte per character, or `evidence` says detect_mojibake found some.

    "cafÃ©" -> "café". repair_mojibake runs first: on real math-heavy text (the KD survey's
    Mac Roman "ùë" letters) ftfy alone leaves some broken; after ours it changes nothing
    there (bench/words.py --mojibake-only; docs/QUALITY.md).
    """
    if not evidence and not _UTF8_AS_LATIN.search(text):
        return text  # no sign of UTF-8 read as one byte per character: ftfy is not asked
    import ftfy

    return ftfy.fix_text(text, _ftfy_config())


# A UTF-8 lead byte read as Latin-1 / cp1252 ("Ã", "â") followed by a continuation byte
# read the same way ("©", "€", "\x80"): what text broken this way always shows. ftfy alone
# can take a short run of real text for mojibake ("Àa"), so it runs only on this evidence.
_UTF8_AS_LATIN = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178]")


@functools.cache
def _ftfy_config():
    import ftfy  # imported on first use: it is a second or so of start-up for pasted text only

    return ftfy.TextFixerConfig(
        unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False,
        fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False,
        fix_surrogates=True, remove_control_chars=False, normalization=None,
    )


# Characters that UTF-8 mojibake produces for common punctuation and nothing else does:
# "’" (E2 80 99) read as Mac Roman is "‚Äô", read as Windows-1252 is "â€™".
_MOJIBAKE_PROBES = "’‘“”—–…•"
_MOJIBAKE_CODECS = ("mac_roman", "cp1252")


def _high_byte_table(codec: str) -> dict[str, int]:
    table = {}
    for byte in range(0x80, 0x100):
        try:
            table[bytes([byte]).decode(codec)] = byte
        except UnicodeDecodeError:
            # Bytes Windows-1252 leaves undefined come through as C1 controls when a
            # tool decoded them as Latin-1: keep them decodable.
            table[chr(byte)] = byte
    return table


_HIGH_BYTES = {codec: _high_byte_table(codec) for codec in _MOJIBAKE_CODECS}
_MOJIBAKE_MARKERS = {
    codec: tuple(
        marker
        for ch in _MOJIBAKE_PROBES
        if (marker := ch.encode("utf-8").decode(codec, errors="ignore")) and len(marker) == 3
    )
    for codec in _MOJIBAKE_CODECS
}
_HIGH_RUNS = {
    codec: re.compile("[" + "".join(re.escape(ch) for ch in table) + "]{2,}")
    for codec, table in _HIGH_BYTES.items()
}


def detect_mojibake(text: str) -> str | None:
    """The codec that UTF-8 text was wrongly decoded with, or None.

    Only the three-character forms of common punctuation count as evidence ("‚Äô", "‚Äî",
    "â€™", ...): they do not occur in real text, so a document without them is never
    touched.
    """
    best, best_hits = None, 0
    for codec, markers in _MOJIBAKE_MARKERS.items():
        hits = sum(text.count(marker) for marker in markers)
        if hits > best_hits:
            best, best_hits = codec, hits
    return best


def _utf8_sequence_length(lead: int) -> int:
    """Bytes in the UTF-8 sequence a lead byte starts; 0 for a byte that starts none."""
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def repair_mojibake(text: str, codec: str) -> str:
    """Undo UTF-8 read as `codec` (Mac Roman or Windows-1252), sequence by sequence.

    "KD‚Äôs role" -> "KD’s role";  "Abstract‚ÄîIntheera" -> "Abstract—Intheera";
    "Œ∏" -> "θ";  "\\uf8ffùë¶" -> "𝑦"

    Decision: ftfy.fix_text does this too, but on the reference it left 17 of the 4-byte
    math letters ("\\uf8ffùë¶") broken and its defaults also straighten quotes; this
    narrower repair fixes every sequence in the reference and runs only when
    detect_mojibake found evidence. Each run of high characters is turned back into
    bytes and every valid UTF-8 sequence in it decoded; bytes that do not form one keep
    their character, so nothing is lost.
    """
    table = _HIGH_BYTES[codec]

    def fix(match: re.Match[str]) -> str:
        run = match.group()
        data = bytes(table[ch] for ch in run)
        out = []
        i = 0
        while i < len(data):
            lead = data[i]
            size = _utf8_sequence_length(lead)
            if size and i + size <= len(data):
                try:
                    decoded = data[i : i + size].decode("utf-8")
                except UnicodeDecodeError:
                    decoded = ""
                if decoded and unicodedata.category(decoded) != "Cc":
                    out.append(decoded)
                    i += size
                    continue
            out.append(run[i])
            i += 1
        return "".join(out)

    return _HIGH_RUNS[codec].sub(fix, text)


_LINE_BREAKS = re.compile(r"\r\n|[\r\f\v\x1c\x1d\x1e\x85\u2028]")
_SOFT_HYPHEN_BREAK = re.compile(r"\u00ad[^\S\n]*\n[^\S\n]*")


def unify_line_breaks(text: str) -> str:
    """Every line break becomes "\\n"; a soft hyphen at a line end joins the word.

    "capa\\u00ad\\r\\nbilities" -> "capabilities";  "end.\\u2029Next" -> "end.\\n\\nNext"

    Runs before control characters go, so "\\r" or a form feed between two lines is not
    deleted and the lines glued. Some PDFs map the hyphen glyph of a line-end break to
    U+00AD (soft hyphen), which by definition marks a break inside one word.
    """
    text = _LINE_BREAKS.sub("\n", text).replace("\u2029", "\n\n")
    return _SOFT_HYPHEN_BREAK.sub("", text)


def _invisible_pattern() -> re.Pattern[str]:
    # Control (Cc), format (Cf: zero-width characters, soft hyphen, BOM, bidi controls
    # and overrides, LRM/RLM/ALM, tags) and lone surrogates (Cs, which cannot be written
    # as UTF-8). They live in planes 0-2 and 14 only.
    ranges = []
    start = None
    for code in list(range(0x30000)) + list(range(0xE0000, 0xE1000)) + [sys.maxunicode + 1]:
        hit = (
            code <= sys.maxunicode
            and chr(code) not in "\n\t"
            and unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs")
        )
        if hit and start is None:
            start = code
        elif not hit and start is not None:
            last = code - 1
            ranges.append(f"\\U{start:08x}" if start == last else f"\\U{start:08x}-\\U{last:08x}")
            start = None
    return re.compile("[" + "".join(ranges) + "]")


_INVISIBLE = _invisible_pattern()


def remove_invisible(text: str) -> str:
    """Remove control characters (but "\\n" and "\\t"), zero-width and bidi characters.

    "knowl\\u00adedge" -> "knowledge";  "\\u202eLLM\\u202c" -> "LLM";  "a\\x00b" -> "ab"

    All of Unicode's Cc, Cf and Cs categories go: ZWSP, ZWNJ, ZWJ, word joiner, BOM,
    soft hyphen, U+202A-202E, U+2066-2069, LRM/RLM/ALM and the rest are invisible, and
    a chunk full of them only wastes the model's tokens (and bidi overrides can make the
    shown text differ from the text the model reads).
    """
    return _INVISIBLE.sub("", text)


# Spacing accents that PDFs draw as a separate glyph next to their letter, with the
# combining mark each stands for. Modifier letters (ˆ, ˇ) are letters, not symbols, and
# NFKC leaves them alone, so they stay as they are.
_SPACING_ACCENTS = {
    "\u00a8": "\u0308",  # ¨
    "\u00b4": "\u0301",  # ´
    "\u00b8": "\u0327",  # ¸
    "\u00af": "\u0304",  # ¯
    "\u02d8": "\u0306",  # ˘
    "\u02d9": "\u0307",  # ˙
    "\u02da": "\u030a",  # ˚
    "\u02db": "\u0328",  # ˛
    "\u02dc": "\u0303",  # ˜
    "\u02dd": "\u030b",  # ˝
    "`": "\u0300",  # pypdf's grave accent: "Rozie`re"
}
_ACCENT = re.compile("[%s]" % "".join(_SPACING_ACCENTS))
_VOWELS = set("aeiouyAEIOUYı")


def _is_letter(ch: str) -> bool:
    return ch.isalpha() and ch not in _SPACING_ACCENTS


def attach_spacing_accents(text: str) -> str:
    """Put a spacing accent next to a letter onto that letter.

    "Ko¨pf et al., 2023" -> "Köpf et al., 2023";  "Rozie`re et al." -> "Rozière et al.";
    "Andr´e" -> "André";  "na¨ıve" -> "naïve";  "´Ecole" -> "École"

    Without this NFKC would turn "¨" into a space and a combining mark and split the
    name in two. PDFs put the accent glyph before its letter (TeX) or after it, so
    between two letters the letter is chosen by what composes: the one that takes the
    accent as one precomposed character, a vowel over a consonant, then the following
    letter (TeX's order); a dotless "ı" next to the accent is the "i" it was drawn on.
    A backtick counts as a grave accent only between two letters (elsewhere it quotes
    code).
    """
    # Until nothing changes: a letter that took one accent can take the next ("a¨`a").
    while _ACCENT.search(text):
        attached = _attach_accents_once(text)
        if attached == text:
            break
        text = attached
    return text


def _attach_accents_once(text: str) -> str:
    out = []
    last = 0  # text[:last] is in out; a letter before `last` has taken an accent already
    for match in _ACCENT.finditer(text):
        i = match.start()
        if i < last:
            continue
        before = text[i - 1] if i - 1 >= last and _is_letter(text[i - 1]) else None
        after = text[i + 1] if i + 1 < len(text) and _is_letter(text[i + 1]) else None
        if (before is None and after is None) or (text[i] == "`" and None in (before, after)):
            continue
        mark = _SPACING_ACCENTS[text[i]]

        def score(letter: str | None) -> tuple[bool, bool, bool]:
            if letter is None:
                return (False, False, False)
            base = "i" if letter == "ı" else letter
            return (True, len(unicodedata.normalize("NFC", base + mark)) == 1, letter in _VOWELS)

        if after == "ı" or score(after) >= score(before):
            base = "i" if after == "ı" else after
            out.append(text[last:i] + unicodedata.normalize("NFC", base + mark))
            last = i + 2
        else:
            base = "i" if before == "ı" else before
            out.append(text[last : i - 1] + unicodedata.normalize("NFC", base + mark))
            last = i + 1
    out.append(text[last:])
    return "".join(out)


def apply_nfkc(text: str) -> str:
    """Unicode NFKC: ligatures, full-width forms, math letters and the like to plain text.

    "ﬁne-tuning" -> "fine-tuning";  "ＧＰＴ" -> "GPT";  "𝐼 𝑥 𝑦" -> "I x y" (the
    reference's figure labels once the mojibake is repaired)
    """
    return unicodedata.normalize("NFKC", text)


# --- lines -----------------------------------------------------------------------------

# The stamp with every space removed (id with version, category, date), and a cheap test.
_STAMP = patterns.ARXIV_STAMP_COMPACT
_STAMP_HINT = patterns.ARXIV_STAMP_HINT


def remove_arxiv_stamps(text: str) -> str:
    """Remove arXiv side stamps, forwards, reversed, spaced or split over lines.

    "open-source modelsarXiv:2402.13116v3 [cs.CL] 8 Mar 2024These" -> "open-source models These"
    "...Oneoftheprimary\\n4202\\ntcO\\n12\\n]LC.sc[\\n4v61131.2042:viXra\\n2"
        -> "...Oneoftheprimary\\n2"
    (the second is what pypdf gives for the rotated stamp at the end of the reference's page 1)

    The stamp is searched in the text with all whitespace removed, and in its reverse
    (rotated text comes out reversed), so "a r X i v : ..." and a stamp spread over five
    lines are found too; only the matched characters go. A stamp glued between two words
    becomes a space; a stamp that filled whole lines takes its line breaks with it. Only
    the full form (id with version, category and date) counts, so citations such as
    "arXiv:2402.13116" in a reference list stay.
    """
    if not _STAMP_HINT.search(text):
        return text
    for _ in range(8):  # removing one stamp can join the pieces of another
        kept = [i for i, ch in enumerate(text) if not ch.isspace()]
        compact = "".join(text[i] for i in kept)
        spans = [(m.start(), m.end()) for m in _STAMP.finditer(compact)]
        backwards = compact[::-1]
        size = len(compact)
        spans += [(size - m.end(), size - m.start()) for m in _STAMP.finditer(backwards)]
        if not spans:
            return text
        start, end = max(spans)
        text = _cut(text, kept[start], kept[end - 1] + 1)
    return text


def _cut(text: str, start: int, end: int) -> str:
    before, after = text[:start], text[end:]
    line_start = not before.strip(" \t") or before.rstrip(" \t").endswith("\n")
    line_end = not after.strip(" \t") or after.lstrip(" \t").startswith("\n")
    if line_start and line_end:
        # Whole lines: drop their break too, so no blank line (a paragraph break) is left.
        before = before.rstrip(" \t")
        after = after.lstrip(" \t")
        if after.startswith("\n"):
            after = after[1:]
        elif before.endswith("\n"):
            before = before[:-1]
        return before + after
    if before and after and not before[-1].isspace() and not after[0].isspace():
        return before + " " + after
    return before + after


_SPACES = re.compile(r"[^\S\n]+")


def _collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text)


def clean_line_whitespace(text: str) -> list[str]:
    """Split into lines, collapse runs of spaces and tabs, strip each line.

    "1 INTRODUCTION\\t  extendsfar  \\n" -> ["1 INTRODUCTION extendsfar", ""]

    Blank lines stay (as "") because they are paragraph breaks.
    """
    return [_collapse_spaces(line).strip() for line in text.split("\n")]


_ROMAN = patterns.ROMAN
_BARE_NUMBER = patterns.BARE_NUMBER
_is_page_label = patterns.is_page_label


def _page_number_value(line: str) -> tuple[str, int] | None:
    """("arabic", 12) for "12", ("roman", 4) for "iv", else None."""
    if _BARE_NUMBER.fullmatch(line):
        return ("arabic", int(line))
    if line and len(line) <= 6 and _ROMAN.fullmatch(line):
        value, i = 0, 0
        numerals = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
        for i, ch in enumerate(line):
            n = numerals[ch]
            value += -n if i + 1 < len(line) and numerals[line[i + 1]] > n else n
        return ("roman", value)
    return None


def _is_number_like(line: str) -> bool:
    return _is_page_label(line) or _page_number_value(line) is not None


def _edge_indexes(lines: list[str], depth: int, skip) -> tuple[list[int], list[int]]:
    """Indexes of a page's top and bottom lines: the first (last) `depth` non-blank lines
    not matched by `skip`, with the skipped lines met on the way."""
    sides: list[list[int]] = []
    for order in (range(len(lines)), range(len(lines) - 1, -1, -1)):
        picked, seen = [], 0
        for i in order:
            if seen >= depth:
                break
            if not lines[i]:
                continue
            picked.append(i)
            if not skip(i):
                seen += 1
        sides.append(picked)
    return sides[0], sides[1]


_HEADER_MIN_PAGES = 3
_HEADER_SHARE = 0.4
_HEADER_DEPTH = 3
_HEADER_MAX_SHARE = 0.5  # of the document's characters; more is not a running header


def _header_key(line: str) -> str | None:
    if not re.search(r"[^\W\d_]", line):
        return None  # no letters: left to drop_page_numbers
    return re.sub(r"\d+", "#", line).casefold()


def drop_running_headers(pages: list[list[str]]) -> list[list[str]]:
    """Drop lines that repeat at the top, or at the bottom, of many pages (digits masked).

    ["7", "JOURNAL OF LATEX CLASS FILES, VOL. 14, NO. 8", "body ..."] on every page
    -> ["7", "body ..."] (the reference itself has no running header, only page numbers)

    A line is a running header (footer) when, with its digits masked ("Page 3 of 9" ->
    "page # of #"), it is among the first (last) 3 lines of a page, page numbers not
    counted, on at least 3 pages and at least 40% of the pages; 40% rather than half so
    that headers alternating between odd and even pages (title / authors) are caught.
    Only those edge positions are dropped: the same line in the middle of a page is body
    text, and a line met on fewer pages is never dropped. Nor is anything dropped when the
    "headers" would be most of the text (a document of one-line pages, "Sheet 1: ...",
    "Sheet 2: ..."): running headers are a small part of a real document.
    """
    if len(pages) < _HEADER_MIN_PAGES:
        return pages
    edges = [
        _edge_indexes(lines, _HEADER_DEPTH, lambda i, lines=lines: _is_number_like(lines[i]))
        for lines in pages
    ]
    counts: Counter[tuple[int, str]] = Counter()
    for lines, sides in zip(pages, edges):
        counts.update(
            {
                (side, key)
                for side, indexes in enumerate(sides)
                for i in indexes
                if (key := _header_key(lines[i]))
            }
        )
    needed = max(_HEADER_MIN_PAGES, _HEADER_SHARE * len(pages))
    repeated = {side_key for side_key, n in counts.items() if n >= needed}
    if not repeated:
        return pages
    result = []
    dropped = 0
    for lines, sides in zip(pages, edges):
        drop = {
            i
            for side, indexes in enumerate(sides)
            for i in indexes
            if (side, _header_key(lines[i])) in repeated
        }
        dropped += sum(len(lines[i]) for i in drop)
        result.append([line for i, line in enumerate(lines) if i not in drop])
    if dropped > _HEADER_MAX_SHARE * sum(len(line) for lines in pages for line in lines):
        return pages
    return result


_PAGE_NUMBER_DEPTH = 3


def drop_page_numbers(pages: list[list[str]], numbers: Sequence[int]) -> list[list[str]]:
    """Drop lines that are only a page number, at the top or bottom of a page.

    ["1", "A Survey on Knowledge Distillation of Large", ...] -> ["A Survey on ...", ...]

    Explicit labels ("Page 12", "- 12 -", "12 of 40", "Page 3 / 9") go wherever they
    sit among a page's first or last lines (until 3 other lines are met). A bare number
    ("12", or "iv" in front matter) goes only when it follows the pages: its difference
    to the page's own number must recur on at least 2 pages (a one-page document: it
    must equal the page number). So the "20" and "2" of a rotated figure label in the
    middle of the reference's page 11, or a year alone at a page end, stay.
    """
    candidates: list[dict[int, tuple[str, int] | None]] = []
    offsets: Counter[tuple[str, int]] = Counter()
    for lines, number in zip(pages, numbers):
        top, bottom = _edge_indexes(
            lines, _PAGE_NUMBER_DEPTH, lambda i, lines=lines: _is_number_like(lines[i])
        )
        found = {}
        for i in top + bottom:
            if _is_page_label(lines[i]):
                found[i] = None
            elif (value := _page_number_value(lines[i])) is not None:
                found[i] = value
        candidates.append(found)
        offsets.update({(kind, value - number) for kind, value in (v for v in found.values() if v)})
    if len(pages) == 1:
        accepted = {("arabic", 0), ("roman", 0)}
    else:
        accepted = {offset for offset, n in offsets.items() if n >= 2}
    result = []
    for lines, number, found in zip(pages, numbers, candidates):
        drop = {i for i, v in found.items() if v is None or (v[0], v[1] - number) in accepted}
        result.append([line for i, line in enumerate(lines) if i not in drop])
    return result


# --- joining ---------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\w]*([^\W_]+(?:-[^\W_]+)*)[^\w]*")
_LEAD_WORD = re.compile(r"[^\W_]+")
_LEAD_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
# A word fragment, a hyphen and a space in the middle of a line: where pypdf put the
# other column's line right after a hyphenated line end ("the en- thegrowingdemand").
# Suspended hyphens ("pre- and post-training") are followed by a conjunction.
_MID_HYPHEN = re.compile(
    r"(?<![\w-])([^\W\d_]{2,})- (?!(?:and|or|to|nor|as|through|versus|vs\.?|&)(?:\s|$))(?=[^\W\d_])"
)


def _vocabulary(pages: list[list[str]]) -> Counter[str]:
    """Lower-cased words of the document with their counts, hyphen fragments left out:
    a word that ends in a hyphen, and the first word of a line after a line that ends in
    one or has a column break, may be half a word."""
    vocab: Counter[str] = Counter()
    for lines in pages:
        previous = ""
        for line in lines:
            words = line.split()
            skip_first = previous.endswith("-") or bool(_MID_HYPHEN.search(previous))
            for j, word in enumerate(words):
                if word.endswith("-") or (j == 0 and skip_first):
                    continue
                match = _TOKEN.fullmatch(word)
                if match:
                    vocab[match.group(1).lower()] += 1
            previous = line
    return vocab


def _looks_interleaved(pages: list[list[str]]) -> bool:
    """pypdf's default mode often emits two-column pages with lines of both columns
    mixed, so a line end is not followed by its continuation. The sign: many lines with
    a word fragment, a hyphen and a space in the middle (69 of the reference's 1374
    non-blank lines; a single-column text has next to none: suspended hyphens as in
    "pre- and post-training" are not counted)."""
    lines = [line for page in pages for line in page if line]
    hits = sum(1 for line in lines if _MID_HYPHEN.search(line))
    return hits >= 3 and hits >= 0.01 * len(lines)


def dehyphenate(left: str, right: str, vocab: Counter[str], interleaved: bool) -> str | None:
    """How to join a line ending in `left` + "-" to a line starting with `right`:
    "join" (drop the hyphen), "keep" (keep it, no space) or None (a plain line break).

    "capa" / "bilities" -> "join" when "capabilities" occurs elsewhere in the document
    "open" / "source"   -> "keep" when "open-source" does (or "open" and "source" are
                           words of the document and "opensource" is not)
    "state" / "of-the-art" -> "keep" when "state-of-the-art" does
    "GPT" / "4", "Self" / "Instruct" -> "keep" (a capital or digit after the hyphen)

    Policy, with the document itself as the dictionary: the form (joined or hyphenated)
    that occurs more often elsewhere wins (a tie keeps the hyphen). When neither occurs:
    a capital or digit starting the second part, or a digit ending the first, keeps the
    hyphen, and so does a compound already going on ("zero-width-non-" / "joiner"); two
    parts that are both words of the document keep it; then a joined form that is a word
    (wordfreq) is joined, and two parts that are both words keep it ("alkyl" /
    "substituted"); anything else is a syllable break and is joined. In a document whose columns pypdf interleaved
    (_looks_interleaved) the next line is usually not the continuation, so there only
    the first rule applies and an unconfirmed pair stays apart ("revo- lutionize" rather
    than "attainto").

    Measured on the reference (interleaved): of 161 line-end hyphens followed by a word,
    11 were joined and 2 kept, all correctly; the 148 left apart are nearly all followed
    by the other column's line ("attain-" / "to offering"), a few true breaks among them
    are missed ("revo-" / "lutionizeindustries", glued by kerning). With the column
    breaks of rejoin_column_hyphens: 36 more joined, 4 more kept, all correct.
    """
    left_word = re.search(r"[^\W_]+$", left)
    right_word = _LEAD_WORD.match(right)
    if not left_word or not right_word:
        return None
    head, tail = left_word.group(), right_word.group()
    # A compound going on after the break ("state-" / "of-the-art") is looked up whole.
    compound = _LEAD_COMPOUND.match(right).group()
    for rest in dict.fromkeys((compound, tail)):
        n_joined, n_hyphenated = vocab[(head + rest).lower()], vocab[(head + "-" + rest).lower()]
        if n_joined or n_hyphenated:
            return "join" if n_joined > n_hyphenated else "keep"
    if interleaved:
        return None
    if tail[0].isupper() or tail[0].isdigit() or head[-1].isdigit():
        return "keep"
    if re.search(r"[^\W_]-[^\W_]+$", left):  # a compound going on: "zero-width-non-" / "joiner"
        return "keep"
    if vocab[head.lower()] and vocab[tail.lower()]:
        return "keep"
    if words.is_word(head + tail):  # "discus" / "sion"
        return "join"
    if words.is_word(head) and words.is_word(tail):  # "alkyl" / "substituted", "odd" / "numbered"
        return "keep"
    return "join"


def rejoin_column_hyphens(lines: list[str], vocab: Counter[str]) -> list[str]:
    """In interleaved two-column text, move the rest of a hyphenated word back to it.

    ["models(Gouetal.,2021;GuptaandAgrawal,2022).Knowl- Through a suite of ...",
     "edge distillation ..."]
    -> ["models(Gouetal.,2021;GuptaandAgrawal,2022).Knowledge Through a suite of ...",
        "distillation ..."]

    pypdf wrote the left column's line, then the right column's line on the same line, so
    the left column's continuation starts the next line. The first word of the next line
    is moved only when the document confirms the joined word ("knowledge") or the
    hyphenated one; nothing else changes, so no word is lost, one word moves.
    """
    lines = list(lines)
    i = 0
    while i + 1 < len(lines):
        line, following = lines[i], lines[i + 1]
        if not following or not following[0].isalpha() or not following[0].islower():
            i += 1
            continue
        first, _, rest = following.partition(" ")
        for match in reversed(list(_MID_HYPHEN.finditer(line))):
            how = dehyphenate(match.group(1), first, vocab, interleaved=True)
            if how is None:
                continue
            glue = "" if how == "join" else "-"
            lines[i] = line[: match.end(1)] + glue + first + " " + line[match.end() :]
            if rest:
                lines[i + 1] = rest
            else:
                del lines[i + 1]
            break
        i += 1
    return lines


_HEADING = re.compile(r"(?:\d{1,2}(?:\.\d{1,2}){0,3}\.?|[IVX]{1,4}\.)\s+[A-Z]")
_CAPS_HEADING = re.compile(r"[A-Z][A-Z &,:\-]{4,}")
_BULLET = re.compile(r"[•◦▪‣●○■□►✓✔]\s")
_SENTENCE_END = re.compile(r"[.!?:][\"'”’)\]]*$")
_ABBREVIATIONS = set("""
    al. e.g. i.e. fig. figs. eq. eqs. vs. cf. sec. no. dr. mr. mrs. ms. prof. pp. p.
    vol. tab. ref. resp. approx. ch. et. st. jr. inc. ltd. co.
    """.split())
_SHORT_LINE = 0.7  # of the typical line length: shorter and ending a sentence = paragraph end
_HEADING_MAX = 60  # characters


def _is_heading(line: str, typical: float) -> bool:
    short = len(line) <= min(_HEADING_MAX, 0.75 * typical)
    if not short or line.endswith((".", ",", ";")):
        return False
    return bool(_HEADING.match(line) or _CAPS_HEADING.fullmatch(line))


def _ends_sentence(line: str) -> bool:
    if not _SENTENCE_END.search(line):
        return False
    last = line.rsplit(" ", 1)[-1].lower()
    return last not in _ABBREVIATIONS and not re.fullmatch(r"[a-z]\.", last)


def _typical_length(pages: list[list[str]]) -> float:
    lengths = [len(line) for lines in pages for line in lines if len(line) >= 20]
    return statistics.median(lengths) if lengths else 60.0


def paragraph_break(previous: str, line: str, typical: float, page_break: bool) -> bool:
    """Whether a paragraph ends between two non-blank lines (blank lines always end one).

    "ourinteractionwithtechnology." / "DespitetheremarkablecapabilitiesofproprietaryLLMs"
    -> True (a sentence ends on a line much shorter than the typical line);
    "char-" ... / "acterizedbytheir..." -> False;  ... / "2.1 ComparingTraditionalRecipe" -> True

    pypdf puts no blank line between paragraphs, only a line break per visual line. A
    paragraph ends after a line that ends a sentence and is shorter than 70% of the
    typical (median) line, before and after a short numbered or all-capitals heading
    ("1 INTRODUCTION", "4.2.2 Preference"), before a bullet, and at a page end that ends
    a sentence (otherwise the sentence goes on over the page break).
    """
    if _is_heading(line, typical) or _is_heading(previous, typical) or _BULLET.match(line):
        return True
    if not _ends_sentence(previous):
        return False
    return page_break or len(previous) < _SHORT_LINE * typical


def join_lines(pages: list[list[str]], numbers: Sequence[int]) -> NormalizedText:
    """Join lines into paragraphs and pages into one text; record where each page starts.

    ["In the evolving landscape", "of natural language processing (NLP). These models, char-",
     "acterized by their vast scale"] -> "In the evolving landscape of natural language
    processing (NLP). These models, characterized by their vast scale"

    A line break becomes a space, a paragraph break (paragraph_break) "\\n\\n", and a
    line-end hyphen is resolved by dehyphenate. A page break is a line break like any
    other: a paragraph break after a finished sentence, a space when the sentence goes
    on, and a hyphen at a page end is joined like a line-end hyphen.
    """
    vocab = _vocabulary(pages)
    interleaved = _looks_interleaved(pages)
    if interleaved:
        pages = [rejoin_column_hyphens(lines, vocab) for lines in pages]
    typical = _typical_length(pages)
    out: list[str] = []
    length = 0
    starts: list[tuple[int, int]] = []
    previous: str | None = None
    blank = False
    for lines, number in zip(pages, numbers):
        page_break = True
        # Blank lines at a page's edges are not paragraph breaks: pypdf ends most pages
        # with a newline, and a sentence can go on over the page break.
        while lines and not lines[-1]:
            lines = lines[:-1]
        while lines and not lines[0]:
            lines = lines[1:]
        for line in lines:
            if not line:
                blank = previous is not None
                continue
            if previous is None:
                sep = ""
            elif blank or paragraph_break(previous, line, typical, page_break):
                sep = "\n\n"
            elif previous.endswith("-") and (
                how := dehyphenate(previous[:-1], line, vocab, interleaved)
            ):
                sep = ""
                if how == "join":
                    out[-1] = out[-1][:-1]
                    length -= 1
            else:
                sep = " "
            if page_break:
                starts.append((length + len(sep), number))
            out.append(sep + line)
            length += len(sep) + len(line)
            previous, blank, page_break = line, False, False
    return NormalizedText("".join(out), tuple(starts))


# --- words -----------------------------------------------------------------------------


GLUE_EVIDENCE = 0.05  # text read with its layout: spaces to insert per word, at least, before any is


def split_glued_words(normalized: NormalizedText, evidence: float = 0.0) -> NormalizedText:
    """Split words the extraction glued together; page offsets follow the inserted spaces.

    "IntheeraofLargeLanguageModels(LLMs),KnowledgeDistillation(KD)emergesasapivotal"
    -> "In the era of Large Language Models (LLMs), KnowledgeDistillation (KD) emerges as a pivotal"

    Runs on the joined paragraphs, after dehyphenation, so a word broken at a line end is
    whole again before it is looked up. pipeline.words.split_glued says which runs are
    split (only spaces are inserted); the dictionary is loaded on the first long run.

    `evidence`: split only where the text shows that its extraction glues words, at least
    that many spaces to put in per word. Text read with its layout has PDFium's spaces and
    the gaps' (pipeline.layout), and there the few long runs the dictionary does not know
    are terms and names ("quantumarticle", "archivability", "pseudopotential"): cutting
    them does harm. Measured with the rules-only pipeline and layout: the KD survey's text
    as extracted (glued by pypdf), drawn into a PDF, asks for 2,376 spaces in 10,559 words
    (22.5%); no document of the real corpus asks for more than 1.6% (chemrxiv), and every
    one of those was a term cut wrongly. pypdf's own text (no layout) is split at any rate.
    """
    spaces = words.glued_spaces(normalized.text)
    if not spaces or len(spaces) < evidence * len(normalized.text.split()):
        return normalized
    starts = []
    i = 0
    for offset, number in normalized.page_starts:
        while i < len(spaces) and spaces[i] <= offset:
            i += 1
        starts.append((offset + i, number))
    return NormalizedText(words.insert_spaces(normalized.text, spaces), tuple(starts))
