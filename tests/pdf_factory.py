"""PDFs generated on demand for tests, benchmarks and examples (no binaries in the repo).

    from tests.pdf_factory import paper, scanned_pdf, simple_pdf
    generated = paper(pages=12)          # GeneratedPaper: .pdf bytes plus the ground truth
    data = simple_pdf(["Page one.", "Page two."])
    scan = scanned_pdf(generated.pdf, 300, noise=0.02, skew=1.0)   # image-only copy, for OCR

Every function returns the same bytes for the same arguments (reportlab's invariant
mode; seeded randomness), so outputs can be compared and cached.

`paper()` draws an academic-looking paper line by line with reportlab's canvas, so the
generator decides every line break and knows what a perfect clean-up must give back:
a title block, an arXiv side stamp on page 1, two-column justified body text with words
hyphenated at line ends ("capa-" / "bilities"), real hyphenated compounds
("open-source") that must stay as they are, a running header on every page but the first,
a footer, and page numbers alone on their line.

It does not try to look like any particular journal, and it uses the 14 standard PDF
fonts only (so no ligatures: tests for those build their own text).
"""

from __future__ import annotations

import contextlib
import functools
import random
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from io import BytesIO

from reportlab.lib.pagesizes import letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

DEFAULT_TITLE = "A Survey on Knowledge Distillation of Large Language Models"
DEFAULT_FOOTER = "Preprint. Under review."
DEFAULT_STAMP = "arXiv:2402.13116v4  [cs.CL]  21 Oct 2024"
PDF_DATE = "D:20240311015030Z"  # what real LaTeX output carries; readable as 2024-03-11 01:50:30 UTC

# --------------------------------------------------------------------------- prose

_SUBJECTS = [
    "Knowledge distillation",
    "The student model",
    "Our framework",
    "This approach",
    "The proposed method",
    "Recent work",
    "Instruction tuning",
    "The teacher model",
    "Data augmentation",
    "Such a pipeline",
    "The distilled student",
    "Each component",
    "Prior research",
    "Reinforcement learning from human feedback",
    "Curriculum learning",
    "The reward model",
    "Contrastive pre-training",
    "A lightweight adapter",
]
_VERBS = [
    "improves",
    "enables",
    "transfers",
    "captures",
    "preserves",
    "leverages",
    "enhances",
    "reduces",
    "approximates",
    "outperforms",
    "requires",
    "constrains",
    "amplifies",
    "stabilizes",
    "characterizes",
    "generalizes",
]
_OBJECTS = [
    "the reasoning capabilities of smaller models",
    "the generalization performance on downstream tasks",
    "contextual representations learned by proprietary models",
    "the computational cost of inference",
    "alignment with human preferences",
    "the diversity of synthetic training data",
    "multi-step reasoning in open-source models",
    "the robustness of state-of-the-art architectures",
    "task-specific knowledge from the teacher",
    "the trade-off between accuracy and efficiency",
    "zero-shot transfer to unseen domains",
    "chain-of-thought explanations produced by the teacher",
    "the calibration of pre-trained language models",
    "domain-specific vocabulary in specialized corpora",
    "large-scale instruction datasets",
    "real-world deployment under memory constraints",
    "the interpretability of intermediate representations",
    "self-improvement through iterative feedback",
]
_MODIFIERS = [
    "across a wide range of benchmarks",
    "without additional human supervision",
    "under realistic deployment constraints",
    "in low-resource settings",
    "when compared with state-of-the-art baselines",
    "(Hinton et al., 2015)",
    "(Ouyang et al., 2022)",
    "(Touvron et al., 2023)",
    "with a fraction of the parameters",
    "on multilingual evaluation suites",
    "through carefully designed prompts",
    "in a cost-effective manner",
    "for well-known reasoning benchmarks",
    "using human-like demonstrations",
]
_OPENERS = [
    "Moreover,",
    "In contrast,",
    "Consequently,",
    "Furthermore,",
    "However,",
    "Notably,",
    "In practice,",
    "As a result,",
    "Specifically,",
    "In particular,",
]
_CLAIMS = [
    "We observe that",
    "Experiments show that",
    "Our analysis suggests that",
    "It is widely acknowledged that",
    "Empirical evidence indicates that",
]
_SECTIONS = [
    "Introduction",
    "Background",
    "Related Work",
    "Distillation Algorithms",
    "Knowledge Elicitation",
    "Skill Distillation",
    "Verticalization",
    "Experimental Setup",
    "Results and Analysis",
    "Limitations",
    "Open Problems",
    "Discussion",
    "Conclusion",
]
_AUTHORS = [
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Claude Shannon",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "John McCarthy",
    "Frances Allen",
    "Donald Knuth",
    "Karen Sparck Jones",
]
_AFFILIATIONS = "University of Hong Kong · University of Maryland · Peking University"

# Real hyphenated compounds in the vocabulary: a dehyphenator must leave them whole.
COMPOUNDS = sorted(
    {
        w.strip("(),.;:")
        for phrase in _SUBJECTS + _OBJECTS + _MODIFIERS
        for w in phrase.split()
        if "-" in w.strip("(),.;:")
    }
)


def _sentence(rng: random.Random) -> str:
    subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    roll = rng.random()
    if roll < 0.2:
        core = f"{rng.choice(_CLAIMS)} {subject[0].lower() + subject[1:]} {verb} {obj}"
    elif roll < 0.45:
        core = f"{rng.choice(_OPENERS)} {subject[0].lower() + subject[1:]} {verb} {obj}"
    else:
        core = f"{subject} {verb} {obj}"
    if rng.random() < 0.6:
        core += " " + rng.choice(_MODIFIERS)
    if rng.random() < 0.25:
        core += ", which " + rng.choice(_VERBS) + " " + rng.choice(_OBJECTS)
    return core + "."


def _paragraph(rng: random.Random, sentences: tuple[int, int] = (4, 8)) -> list[str]:
    return " ".join(_sentence(rng) for _ in range(rng.randint(*sentences))).split()


# --------------------------------------------------------------------------- line breaking


@dataclass
class _Line:
    words: list[str]  # as drawn; a split word's first part ends with "-"
    font: str
    size: float
    x: float = 0.0  # offset from the frame's left edge (paragraph indent)
    justify_to: float | None = None  # frame width to stretch to (None: ragged, e.g. last line)
    split: str | None = None  # "hyphen" (we added one) or "compound" (broke at its own)
    centered: bool = False
    space_before: float = 0.0
    keep_with_next: int = 0  # lines that must follow in the same column (headings)


_VOWELS = set("aeiouyAEIOUY")


class _Breaker:
    """Greedy line filling with TeX-like hyphenation at line ends."""

    def __init__(self, rng: random.Random, hyphenate: float, compound_breaks: bool):
        self.rng = rng
        self.hyphenate = hyphenate
        self.compound_breaks = compound_breaks
        self._widths: dict[tuple[str, str, float], float] = {}

    def width(self, text: str, font: str, size: float) -> float:
        key = (text, font, size)
        w = self._widths.get(key)
        if w is None:
            w = self._widths[key] = stringWidth(text, font, size)
        return w

    def _split_points(self, word: str) -> list[int]:
        """Where a word may take a hyphen, roughly by syllables: "ca|pa|bil|i|ties" style
        vowel|consonant-vowel and vowel-consonant|consonant, with at least 2 letters
        before and 3 after (TeX's lefthyphenmin and righthyphenmin)."""
        core = word.rstrip(",.;:)")
        if len(core) < 7 or not core.isalpha():
            return []
        v = [ch in _VOWELS for ch in core.lower()]
        return [
            i
            for i in range(2, len(core) - 2)
            if (v[i - 1] and not v[i] and v[i + 1]) or (v[i - 2] and not v[i - 1] and not v[i])
        ]

    def lines(
        self, words: list[str], width: float, font: str, size: float, indent: float = 0.0,
        justify: bool = True,
    ) -> list[_Line]:
        space = self.width(" ", font, size)
        out: list[_Line] = []
        current: list[str] = []
        used = indent
        pending = list(reversed(words))  # a stack, so a split word's rest goes back on top
        while pending:
            word = pending.pop()
            w = self.width(word, font, size)
            need = w + (space if current else 0)
            if used + need <= width or not current:
                current.append(word)
                used += need
                continue
            split = None
            room = width - used - space
            if self.rng.random() < self.hyphenate:
                for i in reversed(self._split_points(word)):
                    head = word[:i] + "-"
                    if self.width(head, font, size) <= room:
                        current.append(head)
                        pending.append(word[i:])
                        split = "hyphen"
                        break
            if split is None and self.compound_breaks and "-" in word.strip("-"):
                i = word.index("-", 1) + 1
                if self.width(word[:i], font, size) <= room:
                    current.append(word[:i])
                    pending.append(word[i:])
                    split = "compound"
            if split is None:
                pending.append(word)
            out.append(
                _Line(current, font, size, x=indent if not out else 0.0,
                      justify_to=width if justify else None, split=split)
            )
            current, used = [], 0.0
        if current:
            out.append(_Line(current, font, size, x=indent if not out else 0.0))
        return out


def _logical_words(lines: list[_Line]) -> tuple[list[str], list[tuple[str, str]]]:
    """The words a perfect clean-up gives back from these lines, and the line-end
    hyphenations as (first part without its hyphen, rest)."""
    words: list[str] = []
    hyphenations: list[tuple[str, str]] = []
    carry: str | None = None
    carry_kind: str | None = None
    for line in lines:
        tokens = list(line.words)
        if carry is not None and tokens:
            first = tokens[0]
            if carry_kind == "hyphen":
                hyphenations.append((carry[:-1], first))
                tokens[0] = carry[:-1] + first
            else:
                tokens[0] = carry + first
            carry = None
        if line.split:
            carry, carry_kind = tokens.pop(), line.split
        words.extend(tokens)
    return words, hyphenations


# --------------------------------------------------------------------------- paper


@dataclass(frozen=True)
class GeneratedPaper:
    """A generated paper and what a perfect clean-up of its text must give.

    body_words: every word of the content in reading order, as whitespace-separated
        tokens with their punctuation, line-end hyphenations undone
        ("capabilities," not "capa-"), compounds intact ("open-source"): the title,
        authors, affiliations, abstract, section headings and paragraphs. Not in it:
        the running header, the footer, page numbers and the arXiv stamp.
    hyphenations: each line-end hyphenation the generator made, in order, as
        ("capa", "bilities,"). One can straddle a page break, as in real papers: "enhan-"
        ends a column at the foot of a page, and the footer, page number and next
        page's header come before "ces".
    compounds: the real hyphenated compounds the vocabulary uses ("open-source", ...).
    """

    pdf: bytes
    title: str
    header: str  # running header, on every page but the first
    footer: str  # on every page
    stamp: str  # the arXiv side stamp on page 1, as drawn
    page_count: int
    body_words: list[str] = field(repr=False)
    hyphenations: list[tuple[str, str]] = field(repr=False)
    compounds: list[str] = field(repr=False)
    authors: list[str] = field(default_factory=list)


_PAGE_W, _PAGE_H = letter
_MARGIN_X = 54.0
_TOP = _PAGE_H - 72.0  # first body baseline
_BOTTOM = 72.0  # lowest body baseline
_GUTTER = 18.0
_BODY_FONT, _BODY_SIZE, _LEADING = "Times-Roman", 10.0, 12.0
_HEAD_FONT, _HEAD_SIZE = "Times-Bold", 11.0


def paper(
    pages: int = 12,
    *,
    title: str = DEFAULT_TITLE,
    header: str | None = None,
    footer: str = DEFAULT_FOOTER,
    stamp: str | None = DEFAULT_STAMP,
    stamp_words: bool = False,
    columns: int = 2,
    hyphenate: float = 0.7,
    compound_breaks: bool = False,
    seed: int = 0,
) -> GeneratedPaper:
    """A paper of exactly `pages` pages, with its ground truth.

    header: the running header (default: the title). stamp: the arXiv side stamp drawn
    rotated in page 1's left margin (None: none); stamp_words=True draws it word by word,
    which pypdf extracts one word per line, as it does for some real arXiv files.
    hyphenate: the chance that a word which does not fit is hyphenated (when it can be).
    compound_breaks: also break compounds at their own hyphen at line ends ("open-" /
    "source"), which no dehyphenator can tell from "capa-" / "bilities" without a
    vocabulary; off by default so that the ground truth is unambiguous.
    """
    if pages < 1:
        raise ValueError("pages must be at least 1")
    if columns not in (1, 2):
        raise ValueError("columns must be 1 or 2")
    rng = random.Random(seed)
    breaker = _Breaker(rng, hyphenate, compound_breaks)
    header = title if header is None else header
    full_width = _PAGE_W - 2 * _MARGIN_X
    col_width = (full_width - _GUTTER * (columns - 1)) / columns
    authors = rng.sample(_AUTHORS, 4)

    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1, pageCompression=1)
    c.setTitle(title)
    c.setAuthor(", ".join(authors))
    c.setSubject("Knowledge distillation of large language models")
    c.setCreator("LaTeX with hyperref")
    c.setProducer("pdfTeX-1.40.25")
    c.setDateFormatter(lambda *_: PDF_DATE)

    drawn: list[_Line] = []  # every content line, in drawing (= reading) order

    # Page 1: the title block across the full width, then the columns below it.
    y = _TOP + 6
    block: list[_Line] = []
    titles = _Breaker(rng, hyphenate=0.0, compound_breaks=False)  # titles are never hyphenated
    for i, line in enumerate(titles.lines(title.split(), full_width * 0.8, "Times-Roman", 24, justify=False)):
        line.centered, line.space_before = True, (0 if i == 0 else 28)
        block.append(line)
    authors_line = _Line(", ".join(authors).split(), "Times-Roman", 12, centered=True, space_before=30)
    affil_line = _Line(_AFFILIATIONS.split(), "Times-Italic", 10, centered=True, space_before=15)
    block += [authors_line, affil_line]
    abstract = ["Abstract\u2014"] + _paragraph(rng, (6, 8))
    # The abstract is indented 18 pt on both sides: broken to the narrower width, drawn
    # 18 pt in, justified to 18 pt before the right edge.
    abstract_lines = breaker.lines(abstract, full_width - 36, _BODY_FONT, 9.0)
    for i, line in enumerate(abstract_lines):
        line.x += 18
        line.justify_to = (full_width - 18) if line.justify_to else None
        line.space_before = 24 if i == 0 else 11
    block += abstract_lines
    for line in block:
        y -= line.space_before
        _draw_line(c, breaker, line, _MARGIN_X, y, full_width)
        drawn.append(line)
    first_page_top = y - 30

    # Body: sections of paragraphs, flowed through the columns page after page.
    frames = _frames(pages, columns, col_width, first_page_top)
    section = 0
    frame_i = 0
    frame_y = frames[0][2]
    page_started: set[int] = set()

    def start_page(page: int) -> None:
        if page in page_started:
            return
        page_started.add(page)
        if page > 1:
            c.setFont("Times-Italic", 9)
            c.setFillGray(0)
            c.drawCentredString(_PAGE_W / 2, _PAGE_H - 40, header)

    def finish_page(page: int) -> None:
        c.setFont("Times-Roman", 8)
        c.drawString(_MARGIN_X, 46, footer)
        c.setFont("Times-Roman", 10)
        c.drawCentredString(_PAGE_W / 2, 30, str(page))
        if page == 1 and stamp:
            _draw_stamp(c, stamp, stamp_words)
        c.showPage()

    start_page(1)
    done = False
    while not done:
        section += 1
        name = _SECTIONS[(section - 1) % len(_SECTIONS)]
        heading = _Line([str(section), *name.split()], _HEAD_FONT, _HEAD_SIZE,
                        space_before=8, keep_with_next=2)
        queue = [heading]
        for _ in range(rng.randint(2, 5)):
            queue += breaker.lines(_paragraph(rng), col_width, _BODY_FONT, _BODY_SIZE, indent=10)
        for line in queue:
            needed = line.space_before + _LEADING * (1 + line.keep_with_next)
            if frame_y - needed < _BOTTOM - 0.01:
                frame_i += 1
                if frame_i == len(frames):
                    done = True
                    break
                if frames[frame_i][0] != frames[frame_i - 1][0]:
                    finish_page(frames[frame_i - 1][0])
                    start_page(frames[frame_i][0])
                frame_y = frames[frame_i][2] + _LEADING
                line.space_before = 0.0
            x = frames[frame_i][1]
            # The last line of the document must not end mid-word.
            is_last = (
                frame_i == len(frames) - 1
                and frame_y - line.space_before - 2 * _LEADING < _BOTTOM - 0.01
            )
            if is_last and line.split:
                # Leave the split word out rather than end the document on "capa-".
                line.words, line.split, line.justify_to = line.words[:-1], None, None
            frame_y -= line.space_before + _LEADING
            _draw_line(c, breaker, line, x, frame_y, col_width)
            drawn.append(line)
            if is_last:
                done = True
                break
    finish_page(frames[-1][0])
    c.save()

    words, hyphenations = _logical_words(drawn)
    return GeneratedPaper(
        pdf=buf.getvalue(),
        title=title,
        header=header,
        footer=footer,
        stamp=stamp or "",
        page_count=pages,
        body_words=words,
        hyphenations=hyphenations,
        compounds=list(COMPOUNDS),
        authors=authors,
    )


def paper_pdf(pages: int = 12, **kwargs) -> bytes:
    """Just the bytes of paper(pages, **kwargs)."""
    return paper(pages, **kwargs).pdf


def _frames(pages: int, columns: int, col_width: float, first_top: float):
    """(page, left x, top baseline) of each column, in reading order."""
    frames = []
    for page in range(1, pages + 1):
        top = first_top if page == 1 else _TOP
        for col in range(columns):
            frames.append((page, _MARGIN_X + col * (col_width + _GUTTER), top))
    return frames


def _draw_line(c: canvas.Canvas, breaker: _Breaker, line: _Line, x: float, y: float, width: float) -> None:
    text = " ".join(line.words)
    natural = breaker.width(text, line.font, line.size)
    start = x + (width - natural) / 2 if line.centered else x + line.x
    gaps = len(line.words) - 1
    t = c.beginText(start, y)
    t.setFont(line.font, line.size)
    justified = line.justify_to is not None and gaps > 0 and not line.centered
    if justified:
        # Justify like LaTeX by widening the spaces (Tw); capped so that a line with one
        # long word does not turn into a few words far apart.
        extra = (line.justify_to - line.x - natural) / gaps
        t.setWordSpace(min(max(extra, 0.0), 4.0))
    t.textOut(text)
    if justified:
        # Tw outlives the text object in the PDF's graphics state, and reportlab does
        # not know it changed: reset it, or the header and footer would be stretched.
        t.setWordSpace(0)
    c.drawText(t)


def _draw_stamp(c: canvas.Canvas, stamp: str, words: bool) -> None:
    # Like arXiv's: grey, 20 pt, rotated 90 degrees, reading upwards in the left margin.
    c.saveState()
    c.setFont("Times-Roman", 20)
    c.setFillGray(0.5)
    c.translate(36, _PAGE_H / 2 - stringWidth(stamp, "Times-Roman", 20) / 2)
    c.rotate(90)
    if words:
        x = 0.0
        for word in stamp.split():
            c.drawString(x, 0, word)
            x += stringWidth(word + "  ", "Times-Roman", 20)
    else:
        c.drawString(0, 0, stamp)
    c.restoreState()


# --------------------------------------------------------------------------- small PDFs


def simple_pdf(page_texts: list[str], *, title: str = "", author: str = "") -> bytes:
    """One page per text, Helvetica 11 pt, wrapped at the right margin.

    Paragraphs (separated by a blank line) stay apart; an empty text gives an empty page.
    Metadata fields not given are written empty (reportlab would say "untitled",
    "anonymous", ...).
    """
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setTitle(title)
    c.setAuthor(author)
    c.setSubject("")
    c.setCreator("")
    c.setProducer("")
    c.setDateFormatter(lambda *_: PDF_DATE)
    width = _PAGE_W - 2 * 72
    for text in page_texts:
        t = c.beginText(72, _PAGE_H - 72)
        t.setFont("Helvetica", 11)
        t.setLeading(14)
        for para in text.split("\n\n"):
            line = ""
            for word in para.split():
                candidate = f"{line} {word}" if line else word
                if line and stringWidth(candidate, "Helvetica", 11) > width:
                    t.textLine(line)
                    line = word
                else:
                    line = candidate
            if line:
                t.textLine(line)
            t.textLine("")
        c.drawText(t)
        c.showPage()
    if not page_texts:
        c.showPage()
    c.save()
    return buf.getvalue()


# Kerning pairs (in ems) of the kind Google Docs and other Skia-based producers apply when they
# place every glyph by itself: pairs whose boxes overlap ("Va", "AV", "To").
GLYPH_KERNING = {("V", "a"): -0.08, ("A", "V"): -0.09, ("T", "o"): -0.08, ("o", "f"): -0.01, ("f", "t"): -0.03,
                 ("W", "a"): -0.07, ("y", "."): -0.06, ("r", "."): -0.04, ("P", "a"): -0.05, ("L", "T"): -0.06}


def glyph_by_glyph_pdf(lines: list[str], *, font: str = "Helvetica", size: float = 11.0) -> bytes:
    """One page whose every glyph is its own positioned text object, kerned, with no space
    characters at all (a space is only a wider move): how Google Docs (Skia/PDF) writes
    text. The words' glyphs sit closer than their ink suggests; only the font's advances
    say where a word ends."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    y = 720.0
    for line in lines:
        x = 72.0
        for i, ch in enumerate(line):
            if ch == " ":
                x += stringWidth(" ", font, size)
                continue
            c.setFont(font, size)
            c.drawString(x, y, ch)
            x += stringWidth(ch, font, size)
            if i + 1 < len(line):
                x += GLYPH_KERNING.get((ch, line[i + 1]), 0.0) * size
        y -= 1.4 * size
    c.showPage()
    c.save()
    return buf.getvalue()


def text_pdf(page_texts: list[str], *, size: float = 9.0, title: str = "") -> bytes:
    """Each text's lines as they are (not re-wrapped), Helvetica at `size` pt, continued on
    a new page when a page is full: a PDF whose extracted text is the given text, used to
    read an existing extraction (the KD survey's) back through the whole pipeline. Characters
    outside WinAnsi are drawn as reportlab draws them.
    """
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setTitle(title)
    c.setDateFormatter(lambda *_: PDF_DATE)
    leading = size * 1.25
    per_page = int((_PAGE_H - 2 * 54) // leading)
    for text in page_texts:
        lines = text.split("\n")
        for start in range(0, max(1, len(lines)), per_page):
            t = c.beginText(36, _PAGE_H - 54)
            t.setFont("Helvetica", size)
            t.setLeading(leading)
            for line in lines[start : start + per_page]:
                t.textLine(line)
            c.drawText(t)
            c.showPage()
    c.save()
    return buf.getvalue()


def with_metadata(pdf: bytes, metadata: dict[str, str]) -> bytes:
    """The same PDF with these raw /Info entries, e.g. {"/CreationDate": "last Tuesday"}.

    Writes the strings as they are (no date formatting), so tests can plant malformed
    values.
    """
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    writer.add_metadata(metadata)
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.write(out)
    return out.getvalue()


def with_unreadable_page(pdf: bytes, page: int) -> bytes:
    """The same PDF with page `page` (1-based) made unreadable: its content stream stacks
    twelve filters, past the reader's limit, so extracting that page raises while the file
    and its other pages stay fine."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, NameObject

    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    stream = DecodedStreamObject()
    stream[NameObject("/Filter")] = ArrayObject([NameObject("/ASCIIHexDecode")] * 12)
    stream.set_data(_hex_nested(b"BT /F1 12 Tf 72 720 Td (unreadable) Tj ET", 12))
    writer.pages[page - 1][NameObject("/Contents")] = writer._add_object(stream)
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.write(out)
    return out.getvalue()


def with_slow_page(pdf: bytes, page: int, operators: int = 240_000, compressed: bool = False) -> bytes:
    """The same PDF with page `page` (1-based) replaced by one that is slow to read but
    within the reader's limits: `operators` text-showing operators (about 240,000 take
    the reader several seconds). `compressed` stores them deflated (a few kB, not MBs)."""
    import zlib

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    content = b"BT /F1 12 Tf 72 720 Td " + b"(ab) Tj " * operators + b"ET"
    if compressed:
        stream = StreamObject()
        stream._data = zlib.compress(content, 9)
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    else:
        stream = DecodedStreamObject()
        stream.set_data(content)
    writer.pages[page - 1][NameObject("/Contents")] = writer._add_object(stream)
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.write(out)
    return out.getvalue()


def slow_pages_pdf(pages: int, operators: int) -> bytes:
    """`pages` pages that all draw one shared, deflated content stream of `operators`
    text-showing operators: each page costs the reader the same time, the file stays small."""
    import zlib

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(BytesIO(simple_pdf(["placeholder"] * pages))))
    stream = StreamObject()
    stream._data = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(ab) Tj " * operators + b"ET", 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    shared = writer._add_object(stream)
    for page in writer.pages:
        page[NameObject("/Contents")] = shared
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.write(out)
    return out.getvalue()


def with_big_page(pdf: bytes, page: int, megabytes: int = 29) -> bytes:
    """The same PDF with page `page` (1-based) showing the word "big" and then `megabytes`
    MB of spaces, compressed to a few kB: cheap to store, costly to hold in memory."""
    import zlib

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    stream = StreamObject()
    packer = zlib.compressobj(9)
    spaces = b" " * 1_000_000
    parts = [packer.compress(b"BT /F1 12 Tf 72 720 Td (big) Tj ET")]
    parts += [packer.compress(spaces) for _ in range(megabytes)]
    stream._data = b"".join(parts) + packer.flush()
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    writer.pages[page - 1][NameObject("/Contents")] = writer._add_object(stream)
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.write(out)
    return out.getvalue()


def _hex_nested(data: bytes, times: int) -> bytes:
    for _ in range(times):
        data = data.hex().encode() + b">"
    return data


ALGORITHMS = ("RC4-40", "RC4-128", "AES-128", "AES-256")


def encrypted_pdf(
    algorithm: str = "AES-256",
    user_password: str = "secret",
    owner_password: str | None = None,
    base: bytes | None = None,
) -> bytes:
    """`base` (default: a two-page simple_pdf) encrypted with pypdf.

    algorithm: "RC4-40", "RC4-128", "AES-128" or "AES-256". With user_password="" the
    file opens with the empty password (an owner password still restricts it).
    """
    from pypdf import PdfReader, PdfWriter

    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}")
    if base is None:
        base = simple_pdf(
            [
                "This confidential report explains the distillation results in detail.",
                "The second page lists the remaining findings and the conclusion.",
            ],
            title="Confidential report",
        )
    writer = PdfWriter(clone_from=PdfReader(BytesIO(base)))
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.encrypt(
            user_password=user_password,
            owner_password=owner_password if owner_password is not None else user_password + "-owner",
            algorithm=algorithm,
        )
        writer.write(out)
    return out.getvalue()


_random_lock = threading.Lock()


@contextlib.contextmanager
def _seeded_pypdf_randomness(seed: int):
    """Make pypdf's salts, IVs and file IDs repeatable while writing a test file.

    pypdf draws them from the `secrets` module (as it should for real files); tests want
    the same bytes every time. Replaces the `secrets` name in pypdf's modules only, under
    a lock; if pypdf moves its randomness elsewhere, files are merely not repeatable.
    """
    import importlib

    rng = random.Random(seed)

    class _Seeded:
        @staticmethod
        def token_bytes(n: int | None = None) -> bytes:
            return rng.randbytes(32 if n is None else n)

    modules = []
    for name in (
        "pypdf._writer",
        "pypdf._encryption",
        "pypdf._crypt_providers._cryptography",
        "pypdf._crypt_providers._pycryptodome",
    ):
        try:
            modules.append(importlib.import_module(name))
        except Exception:  # provider not installed
            continue
    with _random_lock:
        saved = [(m, m.__dict__.get("secrets")) for m in modules if "secrets" in m.__dict__]
        try:
            for module, _ in saved:
                module.secrets = _Seeded
            yield
        finally:
            for module, original in saved:
                module.secrets = original


def image_only_pdf(pages: int = 2) -> bytes:
    """Pages that carry only an image and vector drawing, no text operators: a "scan"."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    # A small grey image with dark bars, like a low-resolution scan of printed lines.
    w, h = 64, 80
    rows = []
    for yy in range(h):
        dark = (yy % 6) in (2, 3) and 8 <= yy < h - 8
        rows.append(bytes(40 if dark and 6 <= xx < w - 6 else 235 for xx in range(w)))
    from reportlab.lib.utils import ImageReader

    image = ImageReader(_png(w, h, b"".join(rows)))
    for _ in range(pages):
        c.drawImage(image, 72, 300, width=_PAGE_W - 144, height=420)
        c.setStrokeGray(0.2)
        c.setLineWidth(2)
        c.rect(72, 100, _PAGE_W - 144, 160)
        for i in range(8):  # vector "lines of text": strokes, not glyphs
            c.line(90, 240 - i * 16, _PAGE_W - 90 - (i % 3) * 40, 240 - i * 16)
        c.showPage()
    c.save()
    return buf.getvalue()


def _png(width: int, height: int, gray: bytes) -> BytesIO:
    """An 8-bit greyscale PNG, built by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + gray[y * width:(y + 1) * width] for y in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return BytesIO(png)


def not_pdf_bytes(kind: str = "html") -> bytes:
    """Bytes people upload by mistake: "html", "png", "zip", "docx", "text" or "random"."""
    if kind == "html":
        return (
            b"<!DOCTYPE html>\n<html><head><title>Download paper</title></head>\n"
            b"<body><p>Your download will start shortly: paper.pdf</p></body></html>\n"
        )
    if kind == "png":
        return _png(8, 8, bytes(range(0, 256, 4))).getvalue()
    if kind in ("zip", "docx"):
        buf = BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            if kind == "docx":
                z.writestr(_zip_entry("word/document.xml"), "<w:document/>")
            else:
                z.writestr(_zip_entry("paper.pdf"), simple_pdf(["zipped"]))
        return buf.getvalue()
    if kind == "text":
        return b"A Survey on Knowledge Distillation of Large Language Models\n\nAbstract. ...\n"
    if kind == "random":
        data = random.Random(1234).randbytes(4096)
        assert b"%PDF-" not in data
        return data
    raise ValueError(f"unknown kind {kind!r}")


def _zip_entry(name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))  # fixed date: same bytes each time
    entry.compress_type = zipfile.ZIP_DEFLATED
    return entry


def truncated_pdf() -> bytes:
    """A real PDF (a 6-page paper) cut in half, as an interrupted download leaves it."""
    data = paper_pdf(6)
    return data[: len(data) // 2]


EMPTY = b""


# --------------------------------------------------------------------------- structure set
#
# Small documents (1-3 pages) for measuring layout-aware reading: each one exercises one
# kind of page furniture or layout, and carries olmOCR-Bench-style tests (bench/olmocr_tests.py)
# plus the body text a perfect podcast-ready extraction keeps. tests/structure_set.py lists them.


@dataclass(frozen=True)
class SetDocument:
    """One generated document of the structure set.

    tests: olmOCR-Bench JSONL records (dicts): "present" on body sentences, headings and the
        abstract; "absent" on furniture and on what a podcast writer drops by default
        (captions, figure and table internals, footnotes, display math, author block,
        references, appendix); "order" between body lines across columns, floats and pages.
    body_text: the kept words in reading order, one space between words, line-end
        hyphenations undone, footnote marks left out.
    """

    name: str
    category: str
    pdf: bytes = field(repr=False)
    tests: list[dict] = field(repr=False)
    body_text: str = field(repr=False)
    pages: int = 1


@dataclass(frozen=True)
class _Frame:
    x: float
    top: float  # first baseline
    bottom: float  # lowest baseline allowed
    width: float
    group: str  # drawing group (content-stream order is chosen per page by group)
    page: int = 1


# Modifiers without parenthesized citations: the pipeline removes citations by default, and
# a test sentence must be what a perfect extraction keeps.
_PLAIN_MODIFIERS = [m for m in _MODIFIERS if not m.startswith("(")]


class _SetBuilder:
    """Draws one set document: queued drawing operations per page (so the content stream can
    be ordered unlike the reading order), kept lines in reading order, and the tests."""

    def __init__(self, name: str, category: str, seed: int, hyphenate: float = 0.8):
        self.name, self.category = name, category
        self.pdf_name = f"{name}.pdf"
        self.rng = random.Random(seed)
        self.breaker = _Breaker(self.rng, hyphenate=hyphenate, compound_breaks=False)
        self.buf = BytesIO()
        self.c = canvas.Canvas(self.buf, pagesize=letter, invariant=1, pageCompression=1)
        self.c.setDateFormatter(lambda *_: PDF_DATE)
        self.page = 1
        self.ops: list[tuple[int, str, object]] = []  # (page, group, draw function)
        self.kept: list[_Line] = []
        self.tests: list[dict] = []
        self._sentences: set[str] = set()

    # ---- prose
    def sentence(self) -> str:
        """A sentence not used before in this document (order tests need unique text)."""
        rng = self.rng
        while True:
            subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
            if rng.random() < 0.35:
                core = f"{rng.choice(_OPENERS)} {subject[0].lower() + subject[1:]} {verb} {obj}"
            else:
                core = f"{subject} {verb} {obj}"
            if rng.random() < 0.6:
                core += " " + rng.choice(_PLAIN_MODIFIERS)
            if core not in self._sentences:
                self._sentences.add(core)
                return core + "."

    def paragraph(self, n: int) -> list[str]:
        return [self.sentence() for _ in range(n)]

    # ---- drawing
    def op(self, group: str, fn, page: int | None = None) -> None:
        self.ops.append((page or self.page, group, fn))

    def draw_line(self, group: str, line: _Line, x: float, y: float, width: float, keep: bool,
                  page: int | None = None) -> None:
        line.op_index = len(self.ops)  # so that a footnote mark can be drawn right after it
        self.op(group, lambda c, line=line: _draw_line(c, self.breaker, line, x, y, width), page)
        if keep:
            self.kept.append(line)

    def text(self, group: str, x: float, y: float, s: str, font: str = "Times-Roman",
             size: float = 8.0, align: str = "left", gray: float = 0.0) -> None:
        def draw(c):
            c.setFont(font, size)
            c.setFillGray(gray)
            if align == "center":
                c.drawCentredString(x, y, s)
            elif align == "right":
                c.drawRightString(x, y, s)
            else:
                c.drawString(x, y, s)
            c.setFillGray(0)

        self.op(group, draw)

    def block(self, group: str, words: list[str], x: float, y: float, width: float, font: str,
              size: float, leading: float, keep: bool, centered: bool = False) -> float:
        """Unhyphenated ragged or centered lines (titles, author blocks); returns the y
        below the last line."""
        plain = _Breaker(self.rng, hyphenate=0.0, compound_breaks=False)
        for line in plain.lines(words, width, font, size, justify=False):
            line.centered = centered
            self.draw_line(group, line, x, y, width, keep)
            y -= leading
        return y

    def end_page(self, first: tuple[str, ...] = ()) -> None:
        """Emit this page's operations: the groups named in `first` in that order, then the
        rest in the order they were queued."""
        rank = {g: i for i, g in enumerate(first)}
        mine = [o for o in self.ops if o[0] == self.page]
        for _, _, fn in sorted(mine, key=lambda o: rank.get(o[1], len(rank))):
            fn(self.c)
        self.ops = [o for o in self.ops if o[0] != self.page]
        self.c.showPage()
        self.page += 1

    def flow(self, items: list[tuple[str, object]], frames: list[_Frame], font: str = _BODY_FONT,
             size: float = _BODY_SIZE, leading: float = _LEADING, indent: float = 10.0,
             positioned: bool = False) -> list[tuple[int, _Line]]:
        """Place ("heading", text) and ("para", [sentences]) items through the frames in
        order. A paragraph that does not fit loses sentences from its end; items that do not
        fit at all are left out. Returns (frame index, line) for each placed line.

        The paragraphs' sentences that were placed are recorded in self.placed_sentences."""
        width = frames[0].width
        slots = []  # (frame index, baseline)
        for fi, f in enumerate(frames):
            y = f.top
            while y >= f.bottom - 0.01:
                slots.append((fi, y))
                y -= leading
        queue: list[_Line | None] = []  # None = blank slot before a heading
        self.placed_sentences = getattr(self, "placed_sentences", [])
        for kind, value in items:
            room = len(slots) - len(queue)
            if kind == "heading":
                lines = [None, _Line(str(value).split(), _HEAD_FONT, _HEAD_SIZE)] if queue else \
                    [_Line(str(value).split(), _HEAD_FONT, _HEAD_SIZE)]
                if len(lines) + 2 > room:  # a heading needs two body lines after it
                    break
                queue += lines
                continue
            sentences = list(value)
            while sentences:
                lines = self.breaker.lines(" ".join(sentences).split(), width, font, size, indent=indent)
                if len(lines) <= room:
                    break
                sentences.pop()
            if not sentences:
                break
            queue += lines
            self.placed_sentences += sentences
        placed = []
        for (fi, y), line in zip(slots, queue):
            if line is None:
                continue
            f = frames[fi]
            if positioned:
                self.op(f.group, lambda c, line=line, x=f.x, y=y: _draw_positioned(c, line, x, y), f.page)
                self.kept.append(line)
            else:
                self.draw_line(f.group, line, f.x, y, width, keep=True, page=f.page)
            line.y = y  # for marks drawn next to a line
            placed.append((fi, line))
        return placed

    # ---- tests
    def _test(self, kind: str, tid: str, page: int, **fields) -> None:
        record = {"pdf": self.pdf_name, "page": page, "id": f"{self.name}_{tid}", "type": kind,
                  "max_diffs": fields.pop("max_diffs", 0), "checked": "verified"}
        record.update(fields)
        self.tests.append(record)

    def present(self, tid: str, text: str, page: int = 1, **kw) -> None:
        self._test("present", tid, page, text=text, **kw)

    def absent(self, tid: str, text: str, page: int = 1, **kw) -> None:
        self._test("absent", tid, page, text=text, **kw)

    def order(self, tid: str, before: str, after: str, page: int = 1) -> None:
        self._test("order", tid, page, before=before, after=after)

    def body_so_far(self) -> str:
        return " ".join(_logical_words(self.kept)[0])

    def line_in(self, placed: list[tuple[int, _Line]], frame: int, last: bool = False) -> str:
        return _line_in(placed, frame, self.body_so_far(), last)

    def finish(self) -> SetDocument:
        self.c.setTitle(self.name.replace("_", " "))
        self.c.save()
        words, _ = _logical_words(self.kept)
        return SetDocument(self.name, self.category, self.buf.getvalue(), self.tests,
                           " ".join(words), self.page - 1)


def _draw_positioned(c: canvas.Canvas, line: _Line, x: float, y: float) -> None:
    # Each word placed by its own text matrix, no space glyphs; the gap (2.5 pt) is less
    # than half of Courier's 6 pt space, so extractors that infer spaces from the font's
    # space width glue the words ("Intheeraof").
    t = c.beginText(x + line.x, y)
    t.setFont(line.font, line.size)
    pos = x + line.x
    for word in line.words:
        t.setTextOrigin(pos, y)
        t.textOut(word)
        pos += stringWidth(word, line.font, line.size) + 2.5
    c.drawText(t)


def _interior(placed: list[tuple[int, _Line]], k: int) -> str:
    """The text of placed line k as a perfect extraction gives it, without a split word's
    parts at its ends (so it is an exact substring of the body text)."""
    line = placed[k][1]
    words = list(line.words)
    if line.split:
        words = words[:-1]
    if k > 0 and placed[k - 1][1].split:
        words = words[1:]
    return " ".join(words)


def _line_in(placed: list[tuple[int, _Line]], frame: int, body: str, last: bool = False,
             min_words: int = 4) -> str:
    """An interior text of the first (or last) body line of a frame that has enough words
    and occurs once in the body text (the vocabulary is small, so phrases repeat)."""
    ks = [k for k, (fi, line) in enumerate(placed) if fi == frame and line.font == _BODY_FONT]
    for k in (reversed(ks) if last else ks):
        text = _interior(placed, k)
        if len(text.split()) >= min_words and body.count(text) == 1:
            return text
    raise ValueError(f"no usable line in frame {frame}")


def _line_fonts(placed, font):
    return [(fi, line) for fi, line in placed if line.font == font]


_FULL_W = _PAGE_W - 2 * _MARGIN_X


def _columns(count: int, top: float, bottom: float, page: int = 1, prefix: str = "col") -> list[_Frame]:
    width = (_FULL_W - _GUTTER * (count - 1)) / count
    return [_Frame(_MARGIN_X + i * (width + _GUTTER), top, bottom, width, f"{prefix}{i + 1}", page)
            for i in range(count)]


def _title_block(b: _SetBuilder, title: str, y: float, authors: bool = True, abstract: bool = True,
                 abstract_sentences: int = 3) -> float:
    """Full-width title (kept), author block (dropped by default) and abstract (kept);
    returns the y below them."""
    y = b.block("title", title.split(), _MARGIN_X, y, _FULL_W * 0.85, "Times-Bold", 16, 20,
                keep=True, centered=True)
    b.present("title_present", title)
    if authors:
        names = b.rng.sample(_AUTHORS, 3)
        author_line = f"{names[0]}\u00b9, {names[1]}\u00b2, {names[2]}\u00b9"
        affil = "\u00b9University of Hong Kong   \u00b2University of Maryland"
        users = [n.split()[0].lower() + "." + n.split()[-1].lower() for n in names]
        mails = f"{{{users[0]}, {users[2]}}}@hku.hk   {users[1]}@umd.edu"
        y -= 6
        b.text("title", _PAGE_W / 2, y, author_line, "Times-Roman", 11, align="center")
        b.text("title", _PAGE_W / 2, y - 13, affil, "Times-Italic", 9, align="center")
        b.text("title", _PAGE_W / 2, y - 25, mails, "Courier", 8, align="center")
        b.absent("authors_absent", names[1])
        b.absent("affiliation_absent", "University of Maryland")
        b.absent("emails_absent", f"{users[1]}@umd.edu")
        y -= 44
    if abstract:
        b.draw_line("title", _Line(["Abstract"], _HEAD_FONT, _HEAD_SIZE, centered=True),
                    _MARGIN_X, y, _FULL_W, keep=True)
        y -= 14
        sentences = b.paragraph(abstract_sentences)
        for line in b.breaker.lines(" ".join(sentences).split(), _FULL_W - 36, _BODY_FONT, 9.0):
            line.x += 18
            line.justify_to = (_FULL_W - 18) if line.justify_to else None
            b.draw_line("title", line, _MARGIN_X, y, _FULL_W, keep=True)
            y -= 11
        b.present("abstract_present", sentences[0])
        y -= 10
    return y


def _present_sentences(b: _SetBuilder, n: int, prefix: str = "body_sentence", page: int = 1) -> None:
    chosen = b.placed_sentences[:: max(1, len(b.placed_sentences) // n)][:n]
    for i, s in enumerate(chosen):
        b.present(f"{prefix}_{i + 1}_present", s, page)


BERT_LABELS = ["E[CLS]", "E1", "E2", "EN", "E[SEP]", "[CLS]", "Tok 1", "Tok 2", "Tok N", "[SEP]"]


def _draw_diagram(c: canvas.Canvas, x: float, top: float, width: float) -> float:
    """An architecture diagram: token boxes, embedding boxes, transformer boxes, arrows;
    labels in 7 pt Helvetica. Returns its height."""
    height = 110.0
    n = 5
    cell = width / n
    rows = [("Tok", ["[CLS]", "Tok 1", "Tok 2", "Tok N", "[SEP]"], top - height + 8),
            ("E", ["E[CLS]", "E1", "E2", "EN", "E[SEP]"], top - height + 45),
            ("T", ["Trm", "Trm", "Trm", "Trm", "Trm"], top - height + 82)]
    c.setLineWidth(0.6)
    for _, labels, y in rows:
        for i, label in enumerate(labels):
            bx = x + i * cell + 8
            c.rect(bx, y, cell - 16, 18, stroke=1, fill=0)
            c.setFont("Helvetica", 7)
            c.drawCentredString(bx + (cell - 16) / 2, y + 6, label)
    for i in range(n):  # arrows from each row to the one above
        cx = x + i * cell + cell / 2
        for (_, _, y0), (_, _, y1) in zip(rows, rows[1:]):
            c.line(cx, y0 + 18, cx, y1)
            c.line(cx - 2, y1 - 3, cx, y1)
            c.line(cx + 2, y1 - 3, cx, y1)
    return height


def _draw_table(c: canvas.Canvas, x: float, top: float, widths: list[float], rows: list[list[str]]) -> float:
    """A ruled grid of short cells, 8 pt; returns its height."""
    row_h = 13.0
    height = row_h * len(rows)
    c.setLineWidth(0.5)
    for r in range(len(rows) + 1):
        c.line(x, top - r * row_h, x + sum(widths), top - r * row_h)
    for r, row in enumerate(rows):
        cx = x
        for w, cell in zip(widths, row):
            c.setFont("Times-Bold" if r == 0 else "Times-Roman", 8)
            c.drawCentredString(cx + w / 2, top - (r + 1) * row_h + 4, cell)
            cx += w
    return height


TABLE_ROWS = [
    ["Model", "Params", "MNLI", "QNLI", "SST-2", "Avg"],
    ["Teacher-XL", "1.3B", "88.4", "93.1", "95.2", "92.2"],
    ["Student-base", "110M", "84.6", "90.5", "93.5", "89.5"],
    ["Student-tiny", "14.5M", "82.5", "87.7", "92.6", "87.6"],
]


def _float_table(b: _SetBuilder, group: str, top: float, caption_above: bool = True) -> float:
    """A full-width table with its caption; returns the y below it."""
    caption = "Table 1: Accuracy of distilled students on three benchmarks."
    widths = [90, 60, 60, 60, 60, 60]
    x = _MARGIN_X + (_FULL_W - sum(widths)) / 2
    b.text(group, _PAGE_W / 2, top, caption, "Times-Roman", 9, align="center")
    b.op(group, lambda c: _draw_table(c, x, top - 8, widths, TABLE_ROWS))
    b.absent("table_caption_absent", caption)
    b.absent("table_cell_params_absent", "14.5M")
    b.absent("table_cell_name_absent", "Student-tiny")
    b.absent("table_row_absent", "84.6 90.5 93.5")
    return top - 8 - 13 * len(TABLE_ROWS) - 14


def _float_figure(b: _SetBuilder, group: str, top: float, number: int = 2) -> float:
    """A full-width diagram with its caption below; returns the y below it."""
    width = _FULL_W * 0.8
    x = _MARGIN_X + (_FULL_W - width) / 2
    b.op(group, lambda c: _draw_diagram(c, x, top, width))
    caption = f"Figure {number}: Overall pre-training and fine-tuning procedures of the student."
    b.text(group, _PAGE_W / 2, top - 122, caption, "Times-Roman", 9, align="center")
    b.absent("figure_caption_absent", caption)
    b.absent("figure_label_cls_absent", "E[CLS]")
    b.absent("figure_label_tok_absent", "Tok 1")
    b.absent("figure_label_sep_absent", "[SEP]")
    b.absent("figure_label_trm_absent", "Trm")
    return top - 140


def structure_plain_single() -> SetDocument:
    """One plain single-column page: title, headings, paragraphs; nothing to remove."""
    b = _SetBuilder("plain_single", "baseline", seed=101)
    y = _title_block(b, "Distilling Reasoning into Compact Students", _TOP, authors=False, abstract=False)
    items = [("heading", "1 Introduction"), ("para", b.paragraph(5)), ("para", b.paragraph(4)),
             ("heading", "2 Method"), ("para", b.paragraph(6)), ("para", b.paragraph(5))]
    placed = b.flow(items, [_Frame(_MARGIN_X, y - 10, _BOTTOM, _FULL_W, "body")])
    b.present("heading_method_present", "2 Method")
    _present_sentences(b, 4)
    b.order("first_line_before_last_line", b.line_in(placed, 0), b.line_in(placed, 0, last=True))
    b.end_page()
    return b.finish()


def structure_furniture_single() -> SetDocument:
    """One single-column page carrying journal furniture: journal line with volume, issue
    and article number, journal name with web address, "Downloaded from ... at ..." and
    "Download date" stamps, a "Published by" line, a DOI line, a copyright line and a lone
    page number; the furniture is drawn before the body in the content stream."""
    b = _SetBuilder("furniture_single", "furniture", seed=102)
    top = _PAGE_H - 40
    journal = "Journal of Machine Learning Research 24 (2023) 1-48"
    volume = "Vol. 12, No. 3, Article 45"
    homepage = "Neural Computation Letters  |  journal homepage: www.elsevier.com/locate/ncl"
    b.text("furniture", _MARGIN_X, top, journal, "Times-Roman", 8)
    b.text("furniture", _PAGE_W - _MARGIN_X, top, volume, "Times-Roman", 8, align="right")
    b.text("furniture", _PAGE_W / 2, top - 14, homepage, "Helvetica", 8, align="center")
    downloaded = "Downloaded from https://academic.oup.com/ncl/article/36/5/1/7654321 at 10:32 on 3 May 2024"
    download_date = "Download date: 12/05/2024"
    published = "Published by Elsevier B.V. on behalf of the Neural Computation Society."
    doi = "https://doi.org/10.1162/ncl.2024.01234"
    copyright_ = "\u00a9 2024 The Authors. This is an open access article under the CC BY licence."
    b.text("furniture", _MARGIN_X, 92, "DOI: " + doi, "Times-Roman", 8)
    b.text("furniture", _MARGIN_X, 82, copyright_, "Times-Roman", 8)
    b.text("furniture", _MARGIN_X, 72, published, "Times-Roman", 8)
    b.text("furniture", _PAGE_W / 2, 44, "7", "Times-Roman", 10, align="center")
    b.text("furniture", _PAGE_W / 2, 28, downloaded, "Helvetica", 7, align="center", gray=0.4)
    b.text("furniture", _PAGE_W - _MARGIN_X, 16, download_date, "Helvetica", 7, align="right", gray=0.4)
    y = _title_block(b, "Compact Students for Multi-Step Reasoning", top - 50, authors=False, abstract=False)
    items = [("heading", "1 Introduction"), ("para", b.paragraph(5)), ("para", b.paragraph(5)),
             ("heading", "2 Background"), ("para", b.paragraph(6)), ("para", b.paragraph(5))]
    placed = b.flow(items, [_Frame(_MARGIN_X, y - 10, 112, _FULL_W, "body")])
    for tid, text in [("journal_line", journal), ("volume_issue_article", volume),
                      ("journal_homepage", "www.elsevier.com/locate/ncl"), ("downloaded_stamp", downloaded),
                      ("download_date", download_date), ("published_by", published), ("doi", doi),
                      ("copyright", copyright_), ("page_number", "7")]:
        b.absent(f"{tid}_absent", text)
    b.present("heading_background_present", "2 Background")
    _present_sentences(b, 4)
    b.order("body_first_before_last", b.line_in(placed, 0), b.line_in(placed, 0, last=True))
    b.end_page(first=("furniture",))
    return b.finish()


def _two_column_float(name: str, seed: int, columns: int, float_kind: str, draw_first: tuple[str, ...]) -> SetDocument:
    b = _SetBuilder(name, "columns", seed=seed)
    title = {2: "Teacher Signals for Efficient Students", 3: "Three Views on Knowledge Transfer"}[columns]
    y = _title_block(b, title, _TOP + 6)
    float_top = y - 150 if columns == 2 else y - 130
    upper = _columns(columns, y - 6, float_top + 12, prefix="upper")
    if float_kind == "table":
        below = _float_table(b, "float", float_top)
    else:
        below = _float_figure(b, "float", float_top, number=1)
    lower = _columns(columns, below - 10, _BOTTOM, prefix="lower")
    frames = upper + lower
    items = [("heading", "1 Introduction")]
    for i in range(12):
        if i == 5:
            items.append(("heading", "2 Related Work"))
        items.append(("para", b.paragraph(4)))
    # Each band is read column by column before the float and the band below it.
    placed = b.flow(items, frames, size=9.0, leading=11.0)
    b.present("heading_related_present", "2 Related Work")
    _present_sentences(b, 5)
    n = len(upper)
    for i in range(n - 1):
        b.order(f"upper_col{i + 1}_before_upper_col{i + 2}", b.line_in(placed, i, last=True), b.line_in(placed, i + 1))
    b.order("upper_last_col_before_lower_first_col_across_float", b.line_in(placed, n - 1, last=True),
            b.line_in(placed, n))
    b.order("lower_col1_before_lower_col2", b.line_in(placed, n, last=True), b.line_in(placed, n + 1))
    b.order("abstract_before_body", b.tests[[t["id"] for t in b.tests].index(f"{name}_abstract_present")]["text"],
            b.line_in(placed, 0))
    b.end_page(first=draw_first)
    return b.finish()


def structure_two_columns_table() -> SetDocument:
    """One two-column page: full-width title, author block, abstract, and a full-width
    table in the middle; the right columns are drawn first in the content stream."""
    return _two_column_float("two_columns_table", 103, 2, "table", ("upper2", "lower2", "float"))


def structure_three_columns_figure() -> SetDocument:
    """One three-column page: full-width title, author block, abstract, and a full-width
    diagram in the middle; columns drawn in the order 3, 1, 2."""
    return _two_column_float("three_columns_figure", 104, 3, "figure",
                             ("upper3", "lower3", "float", "upper1", "lower1"))


def structure_figure_interrupts_hyphen() -> SetDocument:
    """One single-column page where a diagram with text inside (boxes labelled "E[CLS]",
    "Tok 1", "[SEP]", arrows) and its caption "Figure 2: ..." interrupt a paragraph right
    after a line that ends with a hyphenated word."""
    b = _SetBuilder("figure_interrupts_hyphen", "floats", seed=105, hyphenate=1.0)
    y = _title_block(b, "Pre-Training Students with Teacher Guidance", _TOP, authors=False, abstract=False)
    y -= 8
    first = b.paragraph(4)
    placed = b.flow([("heading", "1 Introduction"), ("para", first)],
                    [_Frame(_MARGIN_X, y, _BOTTOM, _FULL_W, "body")])
    y -= _LEADING * len(placed)
    # The interrupted paragraph: break it, cut after the first hyphenated line past the second.
    sentences = b.paragraph(6)
    lines = b.breaker.lines(" ".join(sentences).split(), _FULL_W, _BODY_FONT, _BODY_SIZE, indent=10)
    cut = next(i for i, line in enumerate(lines) if i >= 1 and line.split == "hyphen") + 1
    for line in lines[:cut]:
        b.draw_line("body", line, _MARGIN_X, y, _FULL_W, keep=True)
        y -= _LEADING
    broken_word = lines[cut - 1].words[-1][:-1] + lines[cut].words[0]
    y = _float_figure(b, "figure", y - 4) - 6
    for line in lines[cut:]:
        b.draw_line("body", line, _MARGIN_X, y, _FULL_W, keep=True)
        y -= _LEADING
    b.placed_sentences = []
    rest = b.flow([("para", b.paragraph(4))], [_Frame(_MARGIN_X, y, _BOTTOM, _FULL_W, "body")])
    split_sentence = next(s for s in sentences if broken_word.rstrip(",.") in s.split() or broken_word in s)
    b.present("sentence_hyphenated_across_figure_present", split_sentence)
    b.present("word_hyphenated_across_figure_present", broken_word.rstrip(",."))
    before = " ".join(lines[cut - 2].words[1 if lines[cut - 3].split else 0:] if cut >= 3 else lines[cut - 2].words)
    after_words = lines[cut + 1].words[(1 if lines[cut].split else 0):]
    if lines[cut + 1].split:
        after_words = after_words[:-1]
    b.order("line_before_figure_before_line_after", before, " ".join(after_words))
    b.order("paragraph_before_after_figure", first[0], _interior(rest, 0))
    b.present("first_paragraph_present", first[1])
    b.end_page(first=("figure",))
    return b.finish()


def structure_table_caption() -> SetDocument:
    """One single-column page with a ruled table of short cells and its caption
    "Table 1: ..." between two paragraphs."""
    b = _SetBuilder("table_caption", "floats", seed=106)
    y = _title_block(b, "How Small Can a Student Be", _TOP, authors=False, abstract=False)
    first = b.flow([("heading", "4 Results"), ("para", b.paragraph(5))],
                   [_Frame(_MARGIN_X, y - 8, _BOTTOM, _FULL_W, "body")])
    y -= 8 + _LEADING * len(first) + 10
    y = _float_table(b, "table", y)
    b.placed_sentences_before = list(b.placed_sentences)
    second = b.flow([("para", b.paragraph(5)), ("heading", "5 Discussion"), ("para", b.paragraph(4))],
                    [_Frame(_MARGIN_X, y - 6, _BOTTOM, _FULL_W, "body")])
    b.order("paragraph_before_table_before_paragraph_after", b.line_in(first, 0, last=True), b.line_in(second, 0))
    b.present("heading_discussion_present", "5 Discussion")
    _present_sentences(b, 4)
    b.end_page(first=("table",))
    return b.finish()


FOOTNOTES = [
    "Code and data are available at https://github.com/example/kd-students.",
    "We use the public checkpoints released by the original authors.",
]


def structure_footnotes() -> SetDocument:
    """One single-column page with two superscript footnote marks in the body (after the
    last sentence of a paragraph) and the footnotes at the page bottom, in a smaller font,
    under a short rule."""
    b = _SetBuilder("footnotes", "notes", seed=107)
    y = _title_block(b, "Footnotes Are Not for Listening", _TOP, authors=False, abstract=False)
    paras = [b.paragraph(5), b.paragraph(5), b.paragraph(5)]
    placed = b.flow([("heading", "1 Introduction")] + [("para", p) for p in paras],
                    [_Frame(_MARGIN_X, y - 8, 130, _FULL_W, "body")])
    ends = [k for k, (_, line) in enumerate(placed) if line.justify_to is None and line.font == _BODY_FONT]
    for mark, k in ((2, ends[1]), (1, ends[0])):  # later first: inserting shifts what follows
        line = placed[k][1]
        x = _MARGIN_X + line.x + b.breaker.width(" ".join(line.words), line.font, line.size) + 0.5
        b.text("body", x, line.y + 4, str(mark), "Times-Roman", 6)
        # In the content stream right after its line, as typesetters emit it.
        b.ops.insert(line.op_index + 1, b.ops.pop())
    b.op("footnotes", lambda c: c.line(_MARGIN_X, 112, _MARGIN_X + 120, 112))
    for i, note in enumerate(FOOTNOTES):
        yy = 100 - i * 10
        b.text("footnotes", _MARGIN_X, yy + 3, str(i + 1), "Times-Roman", 5)
        b.text("footnotes", _MARGIN_X + 5, yy, note, "Times-Roman", 8)
        b.absent(f"footnote_{i + 1}_text_absent", note)
    # The sentence that carries the mark, then the next paragraph's start: a perfect
    # extraction has no digit between them.
    for mark, p, nxt in ((1, paras[0], paras[1]), (2, paras[1], paras[2])):
        b.present(f"sentence_with_mark_{mark}_present", p[-1])
        b.present(f"no_mark_{mark}_between_paragraphs_present", f"{p[-1]} {nxt[0]}")
    _present_sentences(b, 3)
    b.order("paragraph_1_before_3", paras[0][0], paras[2][0])
    b.end_page()
    return b.finish()


def structure_display_math() -> SetDocument:
    """One single-column page with two centered display equations, numbered at the right
    margin, between paragraphs: "L = − Σ_i y_i log p(y_i | x)  (3)" drawn as separate runs
    (Symbol font for Σ and −, lowered subscripts), and "p(y | x) = softmax(W h + b)  (4)"."""
    b = _SetBuilder("display_math", "math", seed=108)
    y = _title_block(b, "A Loss for Students", _TOP, authors=False, abstract=False)
    p1, p2, p3 = b.paragraph(4), b.paragraph(4), b.paragraph(3)
    first = b.flow([("heading", "3 Objective"), ("para", p1)], [_Frame(_MARGIN_X, y - 8, _BOTTOM, _FULL_W, "body")])
    y -= 8 + _LEADING * len(first) + 14
    cx = _PAGE_W / 2 - 60

    def equation_3(c, y=y):
        runs = [("Times-Italic", 11, "L", 0), ("Times-Roman", 11, " = ", 0), ("Symbol", 11, "\u2212", 0),
                ("Symbol", 14, "\u03a3", -1), ("Times-Italic", 7, "i", -4), ("Times-Italic", 11, " y", 0),
                ("Times-Italic", 7, "i", -3), ("Times-Roman", 11, " log ", 0), ("Times-Italic", 11, "p", 0),
                ("Times-Roman", 11, "(", 0), ("Times-Italic", 11, "y", 0), ("Times-Italic", 7, "i", -3),
                ("Times-Roman", 11, " | ", 0), ("Times-Italic", 11, "x", 0), ("Times-Roman", 11, ")", 0)]
        x = cx
        for font, size, s, dy in runs:
            c.setFont(font, size)
            c.drawString(x, y + dy, s)
            x += stringWidth(s, font, size)
        c.setFont("Times-Roman", 10)
        c.drawRightString(_PAGE_W - _MARGIN_X, y, "(3)")

    b.op("body", equation_3)
    y -= 24
    second = b.flow([("para", p2)], [_Frame(_MARGIN_X, y, _BOTTOM, _FULL_W, "body")])
    y -= _LEADING * len(second) + 14

    def equation_4(c, y=y):
        c.setFont("Times-Italic", 11)
        c.drawString(cx, y, "p(y | x) = softmax(W h + b)")
        c.setFont("Times-Roman", 10)
        c.drawRightString(_PAGE_W - _MARGIN_X, y, "(4)")

    b.op("body", equation_4)
    y -= 24
    b.flow([("para", p3)], [_Frame(_MARGIN_X, y, _BOTTOM, _FULL_W, "body")])
    b.absent("equation_3_log_term_absent", "log p(y")
    b.absent("equation_3_number_absent", "(3)")
    b.absent("equation_4_absent", "softmax(W h + b)")
    b.absent("equation_4_number_absent", "(4)")
    b.present("sentences_around_equation_3_joined_present", f"{p1[-1]} {p2[0]}")
    b.present("sentences_around_equation_4_joined_present", f"{p2[-1]} {p3[0]}")
    b.order("paragraph_before_equation_before_paragraph_after", p1[0], p3[-1])
    _present_sentences(b, 3)
    b.end_page()
    return b.finish()


REFERENCES = [
    "[1] A. Lovelace, A. Turing. Notes on the analytical engine. In Proc. of the Royal Society, 2020.",
    "[2] G. Hopper, D. Knuth. Compiling students from teachers. In Proc. of NeurIPS, 2021.",
    "[3] C. Shannon. A mathematical theory of distillation. Bell System Technical Journal, 2019.",
    "[4] B. Liskov, J. McCarthy. Abstraction in knowledge transfer. In Proc. of ICML, 2022.",
    "[5] F. Allen, E. Dijkstra. Structured pruning considered helpful. In Proc. of ACL, 2023.",
    "[6] K. Sparck Jones. Term weighting for small students. In Proc. of SIGIR, 2018.",
]


def structure_references_appendix() -> SetDocument:
    """Two single-column pages: body and conclusion, a "References" section of numbered
    entries, then "Appendix A Proofs"; a running header on page 2 and a page number on each
    page (drawn before the body)."""
    b = _SetBuilder("references_appendix", "back_matter", seed=109)
    header = "Compact Students for Multi-Step Reasoning"
    y = _title_block(b, "Students That Know Their References", _TOP, authors=False, abstract=False)
    items = [("heading", "1 Introduction"), ("para", b.paragraph(5)), ("para", b.paragraph(5)),
             ("heading", "2 Method"), ("para", b.paragraph(6)), ("para", b.paragraph(5)),
             ("heading", "3 Conclusion"), ("para", b.paragraph(4))]
    placed = b.flow(items, [_Frame(_MARGIN_X, y - 8, 300, _FULL_W, "body")])
    conclusion = b.placed_sentences[-4:]
    y = 300 - 30
    b.text("references", _MARGIN_X, y, "References", _HEAD_FONT, _HEAD_SIZE)
    y -= 16
    for i, entry in enumerate(REFERENCES[:4]):
        b.text("references", _MARGIN_X, y, entry, "Times-Roman", 9)
        y -= 12
    b.text("furniture", _PAGE_W / 2, 40, "1", "Times-Roman", 10, align="center")
    b.end_page(first=("furniture",))
    # Page 2: the rest of the references, then the appendix.
    y = _TOP
    b.text("furniture", _PAGE_W / 2, _PAGE_H - 40, header, "Times-Italic", 9, align="center")
    for entry in REFERENCES[4:]:
        b.text("references", _MARGIN_X, y, entry, "Times-Roman", 9)
        y -= 12
    y -= 20
    b.text("appendix", _MARGIN_X, y, "Appendix A Proofs", _HEAD_FONT, _HEAD_SIZE)
    y -= 16
    appendix = b.paragraph(5)
    plain = _Breaker(b.rng, hyphenate=0.0, compound_breaks=False)
    for line in plain.lines(" ".join(appendix).split(), _FULL_W, _BODY_FONT, _BODY_SIZE, indent=10):
        b.op("appendix", lambda c, line=line, y=y: _draw_line(c, b.breaker, line, _MARGIN_X, y, _FULL_W))
        y -= _LEADING
    b.text("furniture", _PAGE_W / 2, 40, "2", "Times-Roman", 10, align="center")
    b.end_page(first=("furniture",))
    for i, entry in enumerate(REFERENCES):
        b.absent(f"reference_{i + 1}_absent", entry, page=1 if i < 4 else 2)
    b.absent("appendix_heading_absent", "Appendix A Proofs", page=2)
    b.absent("appendix_sentence_1_absent", appendix[0], page=2)
    b.absent("appendix_sentence_3_absent", appendix[2], page=2)
    b.absent("running_header_absent", header, page=2)
    b.present("heading_conclusion_present", "3 Conclusion")
    b.present("conclusion_sentence_present", conclusion[1])
    b.order("introduction_before_conclusion", b.line_in(placed, 0), conclusion[-1])
    _present_sentences(b, 3)
    return b.finish()


def structure_multipage_running() -> SetDocument:
    """Three two-column pages: title and abstract on page 1, an arXiv side stamp rotated in
    page 1's left margin, a running header on pages 2-3, a footer and a page number on every
    page; furniture is drawn first, and page 2's right column before its left one."""
    b = _SetBuilder("multipage_running", "pages", seed=110)
    header = "Distilling Reasoning Skills into Small Models"
    footer = "Preprint. Under review."
    stamp = "arXiv:2407.01234v2  [cs.CL]  9 Jul 2024"
    y = _title_block(b, "Reasoning Students at Scale", _TOP + 6, authors=False)
    frames = _columns(2, y - 6, _BOTTOM, page=1) + _columns(2, _TOP, _BOTTOM, page=2) + \
        _columns(2, _TOP, _BOTTOM, page=3)
    items = []
    for i, name in enumerate(["Introduction", "Background", "Method", "Experiments", "Analysis",
                              "Limitations", "Conclusion"]):
        items.append(("heading", f"{i + 1} {name}"))
        items += [("para", b.paragraph(4)) for _ in range(5)]
    placed_all = b.flow(items, frames)
    for page in (1, 2, 3):
        if page == 1:
            b.op("furniture", lambda c: _draw_stamp(c, stamp, False))
        else:
            b.text("furniture", _PAGE_W / 2, _PAGE_H - 40, header, "Times-Italic", 9, align="center")
        b.text("furniture", _MARGIN_X, 46, footer, "Times-Roman", 8)
        b.text("furniture", _PAGE_W / 2, 30, str(page), "Times-Roman", 10, align="center")
        b.end_page(first=("furniture", "col2") if page == 2 else ("furniture",))
    b.absent("running_header_absent", header, page=2)
    b.absent("footer_absent", footer, page=1)
    b.absent("arxiv_stamp_absent", "arXiv:2407.01234v2", page=1)
    for fi in range(5):
        page = fi // 2 + 1
        b.order(f"frame_{fi + 1}_before_frame_{fi + 2}", b.line_in(placed_all, fi, last=True),
                b.line_in(placed_all, fi + 1), page=page)
    _present_sentences(b, 6)
    return b.finish()


def structure_glued_words() -> SetDocument:
    """One single-column page whose body words are placed one by one with 2.5 pt gaps and
    no space characters, in Courier (whose space is 6 pt wide): extractors that infer
    spaces from the font's space width glue the words."""
    b = _SetBuilder("glued_words", "spacing", seed=111, hyphenate=0.0)
    y = _title_block(b, "In the Era of Small Students", _TOP, authors=False, abstract=False)
    items = [("para", b.paragraph(4)), ("para", b.paragraph(4)), ("para", b.paragraph(4))]
    width = _FULL_W
    # Line breaking with the narrow gaps the words are drawn with.
    b.breaker._widths.clear()
    b.flow(items, [_Frame(_MARGIN_X, y - 8, _BOTTOM, width * 0.82, "body")],
           font="Courier", size=10.0, indent=0.0, positioned=True)
    _present_sentences(b, 5)
    b.order("paragraph_1_before_paragraph_3", items[0][1][0], items[2][1][-1])
    b.end_page()
    return b.finish()


STRUCTURE_GENERATORS = [
    structure_plain_single,
    structure_furniture_single,
    structure_two_columns_table,
    structure_three_columns_figure,
    structure_figure_interrupts_hyphen,
    structure_table_caption,
    structure_footnotes,
    structure_display_math,
    structure_references_appendix,
    structure_multipage_running,
    structure_glued_words,
]


# --------------------------------------------------------------------------- scans and OCR inputs
#
# Image-only copies of generated documents, as a scanner or photocopier makes them, for the
# OCR path (pipeline.ocr), and small hostile files whose page image must not be decoded.


def scanned_pdf(
    pdf: bytes,
    dpi: int = 300,
    *,
    noise: float = 0.0,
    skew: float = 0.0,
    seed: int = 0,
    pages: list[int] | None = None,
) -> bytes:
    """An image-only copy of `pdf`, as a scanner makes it: each page rendered by PDFium at
    `dpi` in 8-bit grey and drawn as one image over a page of the original's size in points.
    No text layer at all: pypdf extracts "" from every page.

    skew: the page rotated by this many degrees (counter-clockwise, white corners, same image
    size), as when it lay crooked on the glass. noise: the share of pixels (0-1) then set to
    random grey values, salt-and-pepper specks like a photocopy's, drawn from `seed`.
    pages: the 1-based pages to scan, in that order (default: all); the copy holds those only.

    Images are deflated (about 0.5 MB a clean letter page at 300 dpi, 0.15 MB at 150; noise
    adds to it). The same arguments give the same bytes.
    """
    import pypdfium2 as pdfium
    from PIL import Image
    from pypdf import PdfWriter

    if not 0.0 <= noise <= 1.0:
        raise ValueError("noise must be between 0 and 1")
    rng = random.Random(seed)
    doc = pdfium.PdfDocument(pdf)
    writer = PdfWriter()
    try:
        numbers = list(range(1, len(doc) + 1)) if pages is None else list(pages)
        for number in numbers:
            if not 1 <= number <= len(doc):
                raise ValueError(f"page {number} is not in the document (1-{len(doc)})")
            page = doc[number - 1]
            try:
                width, height = page.get_size()
                bitmap = page.render(scale=dpi / 72, grayscale=True)
                image = bitmap.to_pil().convert("L")
                bitmap.close()
            finally:
                page.close()
            if skew:
                image = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
            pixels = image.tobytes()
            if noise:
                specked = bytearray(pixels)
                count = round(noise * len(specked))
                for i, value in zip(rng.sample(range(len(specked)), count), rng.randbytes(count)):
                    specked[i] = value
                pixels = bytes(specked)
            _add_image_page(writer, width, height, image.width, image.height, zlib.compress(pixels, 6))
    finally:
        doc.close()
    return _written(writer)


def mixed_pdf(pdf: bytes | None = None, *, scanned: list[int] | None = None, dpi: int = 300) -> bytes:
    """`pdf` (default: paper(pages=4).pdf) with the pages in `scanned` (1-based; default: the
    even ones) replaced by their scanned_pdf() copies at `dpi`: text-layer and image-only
    pages alternate, so OCR's "auto" mode must decide page by page. The other pages, and the
    document's metadata, are the original's.
    """
    from pypdf import PdfReader, PdfWriter

    if pdf is None:
        pdf = paper(pages=4).pdf
    original = PdfReader(BytesIO(pdf))
    count = len(original.pages)
    if scanned is None:
        scanned = list(range(2, count + 1, 2))
    scan = PdfReader(BytesIO(scanned_pdf(pdf, dpi, pages=scanned)))
    scan_of = dict(zip(scanned, scan.pages))
    writer = PdfWriter()
    for number in range(1, count + 1):
        writer.add_page(scan_of.get(number, original.pages[number - 1]))
    if original.metadata:
        writer.add_metadata(dict(original.metadata))
    return _written(writer)


GOOD_SCAN_TEXT = (
    "This page was scanned cleanly. A reader must still find these words when the page "
    "before it fails."
)


def huge_image_pdf(side: int = 20_000, *, nested: bool = False, good_page: bool = False) -> bytes:
    """One page, no text layer, that draws a `side` x `side` 8-bit grey image (20,000 x
    20,000: 400 MB once decoded), all white, deflated to about 390 kB. A reader must refuse
    it from its dictionary's /Width and /Height, not decode it to find out.

    nested: deflated twice ([/FlateDecode /FlateDecode]), so the file is a few kB for the
    same 400 MB. good_page: a second page, a clean 200-dpi scan of GOOD_SCAN_TEXT, so a test
    can check that only the bad page fails.
    """
    data = _deflated_white(side * side)
    filters: object = "/FlateDecode"
    if nested:
        data, filters = zlib.compress(data, 9), ["/FlateDecode", "/FlateDecode"]
    return _hostile_pdf(side, side, data, filters, good_page)


def zero_size_image_pdf(*, good_page: bool = False) -> bytes:
    """One page, no text layer, that draws an image of /Width 0 and /Height 0 (an empty
    deflated stream) over the whole page. good_page: as for huge_image_pdf()."""
    return _hostile_pdf(0, 0, zlib.compress(b""), "/FlateDecode", good_page)


def corrupt_image_pdf(*, good_page: bool = False, seed: int = 0) -> bytes:
    """One page, no text layer, that draws a 1275 x 1650 grey image (letter at 150 dpi) whose
    FlateDecode stream is a zlib header and then 4 kB of random bytes: it cannot be inflated
    (zlib fails within the first bytes). good_page: as for huge_image_pdf()."""
    garbage = b"\x78\x9c" + random.Random(seed).randbytes(4096)
    try:
        zlib.decompress(garbage)
    except zlib.error:
        pass
    else:  # pragma: no cover - the seeded bytes are checked to be garbage
        raise AssertionError("the random stream inflated")
    return _hostile_pdf(1275, 1650, garbage, "/FlateDecode", good_page)


def _hostile_pdf(width: int, height: int, data: bytes, filters, good_page: bool) -> bytes:
    """A letter page drawing one grey image (width x height pixels, `data` as stored,
    `filters` a filter name or list of names), optionally followed by a good scanned page."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    _add_image_page(writer, _PAGE_W, _PAGE_H, width, height, data, filters)
    if good_page:
        writer.add_page(PdfReader(BytesIO(scanned_pdf(simple_pdf([GOOD_SCAN_TEXT]), 200))).pages[0])
    return _written(writer)


def _add_image_page(writer, width: float, height: float, pixels_w: int, pixels_h: int, data: bytes,
                    filters="/FlateDecode") -> None:
    """Append a page of width x height points to a pypdf writer, showing one 8-bit
    DeviceGray image XObject (`data` stored as given, not checked) stretched over all of it."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        StreamObject,
    )

    page = writer.add_blank_page(width, height)
    image = StreamObject()
    image._data = data
    image.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Image"),
        NameObject("/Width"): NumberObject(pixels_w),
        NameObject("/Height"): NumberObject(pixels_h),
        NameObject("/ColorSpace"): NameObject("/DeviceGray"),
        NameObject("/BitsPerComponent"): NumberObject(8),
        NameObject("/Filter"): (
            NameObject(filters) if isinstance(filters, str) else ArrayObject(NameObject(f) for f in filters)
        ),
    })
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)}),
    })
    content = DecodedStreamObject()
    content.set_data(f"q {width:.4f} 0 0 {height:.4f} 0 0 cm /Im0 Do Q".encode())
    page[NameObject("/Contents")] = writer._add_object(content)


def _written(writer) -> bytes:
    out = BytesIO()
    with _seeded_pypdf_randomness(0):
        writer.write(out)
    return out.getvalue()


@functools.lru_cache(maxsize=2)
def _deflated_white(size: int) -> bytes:
    """`size` bytes of 0xFF as one zlib stream, in a fraction of the time deflating them
    takes (400 MB: 0.2 s, not 3 s). Each 1 MB block ends with a full flush, after which
    the compressor starts afresh, so every whole block after the first deflates to the same
    bytes: deflate two, repeat the second, finish with the rest and the checksum of all."""
    block = b"\xff" * (1 << 20)
    whole, rest = divmod(size, len(block))
    packer = zlib.compressobj(9)
    parts, checksum = [], zlib.adler32(b"")
    for _ in range(min(whole, 2)):
        parts.append(packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH))
        checksum = zlib.adler32(block, checksum)
    repeated = parts[-1] if parts else b""
    for _ in range(whole - len(parts)):
        parts.append(repeated)
        checksum = zlib.adler32(block, checksum)
    tail = packer.compress(block[:rest]) + packer.flush()
    checksum = zlib.adler32(block[:rest], checksum)
    return b"".join(parts) + tail[:-4] + struct.pack(">I", checksum)
