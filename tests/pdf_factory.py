"""PDFs generated on demand for tests, benchmarks and examples (no binaries in the repo).

    from tests.pdf_factory import paper, simple_pdf
    generated = paper(pages=12)          # GeneratedPaper: .pdf bytes plus the ground truth
    data = simple_pdf(["Page one.", "Page two."])

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
