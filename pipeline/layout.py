"""A page's text with its geometry: PDFium's text objects -> lines -> blocks, in reading order.

    doc = open_layout(data, password)
    layout = read_layout(doc, 3)          # PageLayout of page 3 (1-based)
    for block in layout.blocks:           # in reading order
        print(block.top, block.size, block.text)

A run is a stretch of PDFium's characters, in its order, on one baseline and in one text
object's font and size, with its box, font size and font name. The text is PDFium's: it
turns the fonts' codes into Unicode and puts in the spaces that the font's metrics say a
gap is, so glyphs placed one by one with kerning (Google Docs, Skia) keep their words
whole. Boxes are PDFium's loose ones (advance widths, not ink). Runs on one baseline,
close together, make a line; between two runs PDFium's own text decides when they are
neighbours in it, else a gap wide enough to be a space does, so words drawn one by one
(no space characters in the font) come out separated. Lines directly above one
another, with the same font size and weight and overlapping horizontally, make a block.
Blocks are ordered by a recursive cut of the page: bands across the page, and columns
inside a band when the band's blocks leave a gutter free from top to bottom (one, two or
three columns, full-width titles, abstracts and floats between them). Rotated text (an
arXiv side stamp) is a block of its own, last.

Each page's blocks are checked against its plain text, PDFium's characters in the order
the PDF draws them (`trust`): words changed, split, glued or lost, or lines cut into pieces
beside words they never follow, put the page in doubt (PageLayout.doubt), and its plain text
is then kept with it (PageLayout.plain) to be read instead (pipeline.structure removes only
the furniture, tables and figures geometry still finds).

Superscript marks (digits or footnote symbols, raised and smaller than their line) are
kept out of the line's text and recorded with their place: pipeline.structure decides
whether they are footnote marks.

What it does not do: no classification (pipeline.structure), no OCR (pipeline.ocr makes
Lines of its words and orders them here, `blocks_in_order`), no metadata or
passwords beyond opening (pipeline.extract keeps those, with pypdf), no text clean-up
beyond turning PDFium's line-end hyphen marker back into "-".
"""

from __future__ import annotations

import ctypes
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

# Layout tolerances, as fractions of the font size.
_SPACE_GAP = 0.12  # a gap wider than this between two runs on a line is a word space
_LINE_GAP = 0.9  # a gap wider than this ends the line segment (column gutter, table cell)
_GUTTER_GAP = 0.4  # a gap wider than this ends it too where it lines up with a gutter
_GUTTER_REACH = 10.0  # rows this far above and below a gap show whether it is a gutter
_BLOCK_GAP = 0.9  # lines further apart vertically than this start a new block
_LABEL_GAP = 2.5  # a section number or list label may stand this far before its text
_OCR_WORD_GAP = 4.0  # words of an OCR text layer, next to each other in it, may be this far apart
_INDENT = 0.6  # a line starting this much right of its block starts a paragraph
_FULL_LINE = 2.5  # a line ending closer than this to its block's right edge fills it
_MIN_GUTTER = 6.0  # points: a free vertical strip at least this wide separates columns
_WIDE = 0.6  # a block wider than this share of its region spans the columns
_MAX_CHARS = 400_000  # characters read per page at most (bounded time on hostile files)
_HYPHEN_MARK = re.compile("[\x02\ufffe]")  # PDFium's mark for a hyphen that ends a line
_CONTROLS = re.compile("[\x00-\x1f\x7f]")
_MARK = re.compile(r"[0-9*\u2020\u2021\u00a7\u00b6,]{1,4}")  # digits, * † ‡ § ¶ (and "1,2")
# A list item's first line: a bullet or dash, or "1." "(a)" "b)", then its text.
_LIST_ITEM = re.compile(r"(?:[\u2022\u25e6\u25aa\u2013\u2014*\-]|\(?[a-z\d]{1,2}[.)])\s")
_SECTION_LABEL = re.compile(r"(?:[A-Z]|[IVX]{1,4}|\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+\S")  # "A. Related", "2.1 Setup"
_SENTENCE_END = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]*$")
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|-medi(?:um|ital)?\b|\.B\b|-B\b|CMBX|SFBX", re.I)
_MATH_FONT = re.compile(  # TeX's and others' math fonts
    r"CMMI|CMSY|CMEX|MSBM|MSAM|MnSymbol|EU[SRF]M|EUEX|PX(?:MI|SY|EX)|stmary|wasy|esint|Math|Symbol|STIX|Cambria\s*Math|rsfs|eufm|MTMI|MTSY|TXMI|TXSY|Asana", re.I)
_SUBSET = re.compile(r"^[A-Z]{6}\+")  # "ABCDEF+Times-Roman": the subset tag is not the font
# A section number or list label: "1", "6.2", "A.1", "IV.", "(a)", "3)", "•"
_LABEL = re.compile(r"\d{1,2}(?:\.\d{1,2}){0,3}\.?|[A-Z](?:\.\d{1,2}){1,3}\.?|[IVX]{1,4}\.|\(?[a-z\d]\)|[\u2022\u25e6\u25aa\u2013\u2014-]")


@dataclass(frozen=True)
class Line:
    text: str
    x0: float  # points from the page's left edge
    top: float  # points from the page's top edge
    x1: float
    bottom: float
    size: float  # font size in points (of the line's longest run)
    font: str  # base font name of that run, subset tag removed
    marks: tuple[tuple[int, str], ...] = ()  # (offset in text, superscript) kept out of the text

    @property
    def bold(self) -> bool:
        # Weights by name: "Medi" is URW's bold of Times (NimbusRomNo9L-Medi, the headings
        # of papers set with LaTeX's times package), "Demi" Adobe's bold of Bookman and
        # Avant Garde, SFBX cm-super's bold.
        return bool(_BOLD_FONT.search(self.font))

    @property
    def math(self) -> bool:
        """Set in a math font (a display formula's line, or most of it)."""
        return bool(_MATH_FONT.search(self.font))


@dataclass(frozen=True)
class Block:
    lines: tuple[Line, ...]
    rotated: bool = False

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def x0(self) -> float:
        return min(line.x0 for line in self.lines)

    @property
    def x1(self) -> float:
        return max(line.x1 for line in self.lines)

    @property
    def top(self) -> float:
        return min(line.top for line in self.lines)

    @property
    def bottom(self) -> float:
        return max(line.bottom for line in self.lines)

    @property
    def size(self) -> float:
        return statistics.median(line.size for line in self.lines)

    @property
    def chars(self) -> int:
        return sum(len(line.text) for line in self.lines)

    def paragraphs(self) -> list[list[Line]]:
        """The block's lines split where a line is indented past the block's left edge, where
        a list item starts at it, or where a line comes back to it after hanging ones. An
        indented line goes on the paragraph before it where that one plainly runs on: its
        last line ends in a hyphen, or fills the line without ending a sentence (a
        description list's hanging lines: "final Set up for the final copy of a paper: page
        num-" / "    bering to come from elsewhere"), or the paragraph is a list item and
        the line hangs under its text."""
        out: list[list[Line]] = []
        left, right = self.x0, self.x1
        alone = False  # the line before was a heading set in the block: this one starts anew
        for k, line in enumerate(self.lines):
            indent = _INDENT * line.size
            heading = k < len(self.lines) - 1 and self._heading_line(k)
            if not out or heading or alone:
                out.append([line])
            elif line.x0 - left > indent:
                item, previous = out[-1][0], out[-1][-1]
                runs_on = previous.text.endswith("-") or (
                    right - previous.x1 < _FULL_LINE * line.size and not _SENTENCE_END.search(previous.text))
                if runs_on or (_LIST_ITEM.match(item.text) and line.x0 - item.x0 > indent):
                    out[-1].append(line)
                else:
                    out.append([line])
            elif _LIST_ITEM.match(line.text) or out[-1][-1].x0 - out[-1][0].x0 > indent:
                out.append([line])  # a list item, or the end of a hanging paragraph
            else:
                out[-1].append(line)
            alone = heading
        return out

    def _heading_line(self, k: int) -> bool:
        """Line k is a heading set in the block's run of lines (IEEE's "A. Related Work" in
        italics, with no space around it and no indent after it): ending no sentence, and in
        a font of its own. Inside the block it is short, comes after a sentence's end, and
        its font or a section's label sets it apart; as the block's first line its font
        does, with a label or short."""
        line = self.lines[k]
        if _SENTENCE_END.search(line.text) or not re.search(r"[^\W\d_]{2}", line.text):
            return False
        short = self.x1 - line.x1 > 0.3 * (self.x1 - self.x0)
        labelled = bool(_SECTION_LABEL.match(line.text))
        if k == 0:
            return line.font != self.lines[1].font and (labelled or short)
        previous = self.lines[k - 1]
        return short and bool(_SENTENCE_END.search(previous.text)) and (line.font != previous.font or labelled)


@dataclass(frozen=True)
class PageLayout:
    width: float
    height: float
    blocks: tuple[Block, ...] = field(default=())  # in reading order
    doubt: str | None = None  # why the blocks' text is not trusted (trust()); None: it is
    plain: str = ""  # the page's text in PDFium's plain order, kept only when in doubt

    @property
    def text(self) -> str:
        """Blocks in reading order, a blank line between blocks."""
        return "\n\n".join(block.text for block in self.blocks if block.text)

    @property
    def reading_text(self) -> str:
        """The page's text as read: the blocks', or the plain text when they are in doubt."""
        return self.plain if self.doubt else self.text

    @staticmethod
    def from_dict(data: dict) -> "PageLayout":
        """Back from dataclasses.asdict (the reading process sends pages as JSON)."""
        blocks = tuple(
            Block(
                lines=tuple(
                    Line(**{**line, "marks": tuple(tuple(m) for m in line.get("marks", ()))})
                    for line in block["lines"]
                ),
                rotated=block.get("rotated", False),
            )
            for block in data.get("blocks", ())
        )
        return PageLayout(width=data["width"], height=data["height"], blocks=blocks, doubt=data.get("doubt"),
                          plain=data.get("plain", ""))

    def cut(self, chars: int) -> "PageLayout":
        """The layout of the first `chars` characters of self.reading_text, cut at a line's end."""
        if self.doubt:
            lines, used = [], 0
            for line in self.plain.split("\n"):
                if used + len(line) > chars:
                    break
                lines.append(line)
                used += len(line) + 1
            return PageLayout(self.width, self.height, self.blocks, self.doubt, "\n".join(lines))
        kept: list[Block] = []
        used = 0
        for block in self.blocks:
            lines = []
            for line in block.lines:
                if used + len(line.text) > chars:
                    break
                lines.append(line)
                used += len(line.text) + 1
            if lines:
                kept.append(Block(tuple(lines), block.rotated))
            if len(lines) < len(block.lines):
                break
            used += 1  # the blank line between blocks
        return PageLayout(self.width, self.height, tuple(kept))


# --------------------------------------------------------------------------- runs


@dataclass
class _Run:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    font: str
    rotated: bool
    first: int = -1  # PDFium's index of its first character
    last: int = -1  # and of its last
    invisible: bool = False  # drawn invisibly: an OCR text layer over a scan


def open_layout(data: bytes, password: str | None = None):
    """A PDFium document for read_layout (pypdfium2.PdfDocument); raises on failure."""
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(data, password=password)


def read_layout(doc, number: int) -> PageLayout:
    """The layout of page `number` (1-based) of a document from open_layout, checked against
    the page's plain text (trust())."""
    page = doc[number - 1]
    try:
        left, bottom, right, top = page.get_bbox()
        runs, plain = _read_runs(page, top, left, right - left, top - bottom)
        laid_out = PageLayout(width=right - left, height=top - bottom, blocks=tuple(_order_page(runs)))
        doubt = trust(laid_out, plain)
        if doubt is None:
            return laid_out
        return PageLayout(laid_out.width, laid_out.height, laid_out.blocks, doubt, _plain_lines(plain))
    finally:
        page.close()


# --------------------------------------------------------------------------- the check

_WORDS = re.compile(r"[^\W_]+")
_TRUST_MIN_WORDS = 30  # fewer words on a page say too little to judge its layout
_MAX_CHANGED = 0.25  # words of the plain text the blocks lose, or add, at most
_MAX_INVENTED = 0.60  # word pairs the blocks set side by side that the plain text never does
_MAX_PIECES = 3.0  # the blocks' lines against the plain text's, when pairs are invented too


def trust(layout: PageLayout, plain: str) -> str | None:
    """Why the blocks' text of a page is not to be trusted against its plain text (PDFium's
    characters in the order the PDF draws them), or None.

    Reading order is a bet on geometry; the plain text is what a plain extractor gives. The
    blocks must hold the same words (a word split, glued or lost shows as words changed)
    and must not cut the page's lines into pieces set side by side with words they never
    met (scrambled small print). Thresholds: no page of the real corpus where the blocks
    read better than plain text falls back (docs/QUALITY.md)."""
    plain_words = words_of(plain)
    if len(plain_words) < _TRUST_MIN_WORDS:
        return None
    words = words_of(layout.text)
    shared = sum((Counter(words) & Counter(plain_words)).values())
    changed = max(1 - shared / len(plain_words), 1 - shared / max(1, len(words)))
    if changed > _MAX_CHANGED:
        return f"{changed:.0%} of its words came out of the layout changed, split, glued or lost"
    pairs = set(zip(plain_words, plain_words[1:]))
    ours = list(zip(words, words[1:]))
    invented = sum(pair not in pairs for pair in ours) / max(1, len(ours))
    lines = sum(len(block.lines) for block in layout.blocks)
    plain_lines = max(1, sum(1 for line in plain.splitlines() if line.strip()))
    if invented > _MAX_INVENTED and lines / plain_lines > _MAX_PIECES:
        return (f"the layout cut its lines into pieces ({lines} against {plain_lines}) and set {invented:.0%} of "
                "its words beside words they do not follow on the page")
    return None


def words_of(text: str) -> list[str]:
    """Lower-cased words (letters and digits): words_of("Page 3, Fig_a") -> ["page", "3", "fig", "a"]."""
    return [w.lower() for w in _WORDS.findall(text)]


def _plain_lines(plain: str) -> str:
    """PDFium's plain text as lines, PDFium's hyphen marks back to hyphens."""
    lines = (_CONTROLS.sub(" ", _HYPHEN_MARK.sub("-", line)).strip() for line in plain.splitlines())
    return "\n".join(line for line in lines if line)


def _read_runs(page, page_top: float, page_left: float, width: float, height: float) -> tuple[list[_Run], str]:
    """The page's characters, in PDFium's order, as runs: stretches on one baseline, of one
    text object's font and size, with no jump between them, each with its box.

    The text is PDFium's own: its characters and the spaces it reads in the PDF or puts
    where a gap is a word space by the font's metrics (`FPDFText_IsGenerated`), so a word
    whose glyphs are placed one by one (Google Docs, Skia) stays whole. Boxes are PDFium's
    loose boxes (the glyph's advance across, the font's ascent and descent up and down),
    so a gap between two boxes is a gap in the text, not between two glyphs' ink. A run
    ends at PDFium's line breaks, where the text object changes its font or size (a
    superscript, bold, italic), where the baseline changes and where the next character is
    far to the right (a gutter, a table's cells) or back to the left. Font size, name and
    angle are read once per text object. Characters off the page (`width` by `height`
    from its top left corner: a printer's proof slug above the trimmed page) are not shown
    and not read. Returns the runs and PDFium's plain text (of the page's area only).
    """
    import pypdfium2.raw as raw

    text_object, render_mode = _text_object_functions()
    textpage = page.get_textpage()
    try:
        count = min(textpage.count_chars(), _MAX_CHARS)
        full = textpage.get_text_range()
        if len(full) < count:  # characters outside the BMP: read them one by one
            full = "".join(chr(raw.FPDFText_GetUnicode(textpage, i) or 32) for i in range(count))
        handle = ctypes.cast(textpage.raw, ctypes.c_void_p)
        loose_box, box = raw.FPDFText_GetLooseCharBox, raw.FS_RECTF()
        name = ctypes.create_string_buffer(128)
        flags = ctypes.c_int()
        matrix = raw.FS_MATRIX()
        runs: list[_Run] = []
        current: _Run | None = None
        seen = None
        size, font, rotated, invisible, changed = 0.0, "", False, False, True
        off_page = False
        glyph_left = math.nan  # the left edge of the last character's box
        for i in range(count):
            ch = full[i]
            if ch == "\r" or ch == "\n":
                current = None
                continue
            if ch == " " or ch == "\u00a0":
                if current is not None and not current.text.endswith(" "):
                    current.text += " "
                continue
            if not loose_box(textpage, i, box):
                continue
            address = text_object(handle, i)
            if address != seen or address is None:
                seen, changed = address, True
                # The font size times the text matrix's vertical scale: producers that set
                # the font at 1 pt and scale it with the matrix are common.
                new_size = raw.FPDFText_GetFontSize(textpage, i)
                if raw.FPDFText_GetMatrix(textpage, i, matrix):
                    new_size *= math.hypot(matrix.c, matrix.d) or 1.0
                raw.FPDFText_GetFontInfo(textpage, i, name, ctypes.sizeof(name), ctypes.byref(flags))
                new_font = _SUBSET.sub("", name.value.decode("latin-1", "replace"))
                angle = raw.FPDFText_GetCharAngle(textpage, i)
                new_rotated = 0.3 < (angle % math.pi) < math.pi - 0.3
                new_invisible = address is not None and render_mode(address) == _INVISIBLE
                changed = (new_font, round(new_size, 2), new_rotated, new_invisible) != (
                    font, round(size, 2), rotated, invisible)
                size, font, rotated, invisible = new_size, new_font, new_rotated, new_invisible
            left, right = box.left - page_left, box.right - page_left
            top, bottom = page_top - box.top, page_top - box.bottom
            if not (0 <= (left + right) / 2 <= width and 0 <= (top + bottom) / 2 <= height):
                off_page = True
                continue
            # PDFium gives a ligature's letters ("fi") each with the whole glyph's box: the
            # second one starts where the first did, which is no jump back.
            same_glyph = current is not None and left == glyph_left
            glyph_left = left
            if (current is not None and not changed
                    and (rotated or (abs(bottom - current.bottom) <= 0.3 * (current.bottom - current.top)
                                     and (same_glyph or -0.5 * current.size <= left - current.x1 <= _LINE_GAP * current.size)))):
                current.text += ch if ch.isprintable() else _CONTROLS.sub(" ", _HYPHEN_MARK.sub("-", ch))
                if left < current.x0:
                    current.x0 = left
                if right > current.x1:
                    current.x1 = right
                if top < current.top:
                    current.top = top
                if bottom > current.bottom:
                    current.bottom = bottom
                current.last = i
                continue
            changed = False
            run_size = size if size > 0 else ((right - left) if rotated else (bottom - top))
            text = ch if ch.isprintable() else _CONTROLS.sub(" ", _HYPHEN_MARK.sub("-", ch))
            current = _Run(text, left, top, right, bottom, round(run_size, 2), font, rotated, i, i, invisible)
            runs.append(current)
        plain = textpage.get_text_bounded() if off_page else full[:count]
        return [run for run in runs if run.text.strip()], plain
    finally:
        textpage.close()


def _text_object_functions():
    """PDFium's FPDFText_GetTextObject returning the object's address as an int (pypdfium2's
    binding returns a new pointer object each call, which cannot be compared cheaply), and
    FPDFTextObj_GetTextRenderMode taking that address."""
    global _TEXT_OBJECT
    if _TEXT_OBJECT is None:
        import pypdfium2.raw as raw

        def typed(function, *signature):
            return ctypes.CFUNCTYPE(*signature)(ctypes.cast(function, ctypes.c_void_p).value)

        _TEXT_OBJECT = (typed(raw.FPDFText_GetTextObject, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int),
                        typed(raw.FPDFTextObj_GetTextRenderMode, ctypes.c_int, ctypes.c_void_p))
    return _TEXT_OBJECT


_TEXT_OBJECT = None
_INVISIBLE = 3  # FPDF_TEXTRENDERMODE_INVISIBLE


# --------------------------------------------------------------------------- lines


def _lines(runs: list[_Run]) -> list[Line]:
    """Runs on one baseline, left to right, split where a gap is wider than a word space
    can be (a column gutter, a table's cells)."""
    rows: list[list[_Run]] = []  # runs sharing a baseline, the tallest first
    for run in sorted(runs, key=lambda r: (r.top, r.x0)):
        best, share = None, 0.4
        # Sorted by top, so a run's row is among the last few started.
        for row in rows[-8:]:
            main = row[0]
            height = min(main.bottom - main.top, run.bottom - run.top)
            overlap = min(main.bottom, run.bottom) - max(main.top, run.top)
            # A run under another of the row, on a baseline of its own, is on the next line,
            # however tall the row's main run (a heading beside two lines of the next column,
            # a drop cap beside the next line's reference marks, each narrower than its size).
            if height > 0 and overlap / height >= share and not any(
                    min(r.x1, run.x1) - max(r.x0, run.x0) > 0.5 * _reach(run, r)
                    and abs(r.bottom - run.bottom) > 0.5 * min(r.size, run.size) for r in row):
                best, share = row, overlap / height
        if best is None:
            rows.append([run])
        else:
            best.append(run)
            if run.bottom - run.top > best[0].bottom - best[0].top:
                best.insert(0, best.pop())
    lines = []
    for k, row in enumerate(rows):
        segment: list[_Run] = []
        before = math.inf  # the gap before the segment (none: it starts the row)
        for run in sorted(row, key=lambda r: r.x0):
            if segment:
                right = max(r.x1 for r in segment)
                gap = run.x0 - right
                # In the smaller text's size: a gutter beside a large heading is as narrow
                # as the body text's, not the heading's.
                size = max(min(run.size, segment[-1].size), 1.0)
                # A section number or a list label set a quad or more before its text, in
                # its font, and nearer to it than to what is before it ("1  Introduction",
                # "(a)  Each"), stays on its line; line numbers in a margin (smaller, in a
                # font of their own) and an index's page numbers (a gutter after them) do not.
                first = segment[0]
                label = (len(segment) == 1 and _LABEL.fullmatch(first.text.strip()) and first.font == run.font
                         and abs(first.size - run.size) <= 0.1 * run.size and gap < before)
                # An OCR text layer's words are placed each over its word in the scan, so a
                # justified line's gaps can be wider than a gutter; its lines are the OCR's
                # own, one after the other in the text: neighbours in it stay together.
                last = segment[-1]
                ocr_line = (last.invisible and run.invisible and 0 < run.first - last.last <= 2
                            and gap <= _OCR_WORD_GAP * size)
                gutter = (_GUTTER_GAP * size < gap <= _LINE_GAP * size and _text_before(segment, right)
                          and _gutter(rows, k, (right + run.x0) / 2, run.x0, size))
                # A run-in heading ("Research question." in italics, a quad, then the
                # paragraph) stays on its line where the paragraph's next line runs on
                # under the gap; beside a gutter it would not.
                run_in = (before == math.inf and _LINE_GAP * size < gap <= _LABEL_GAP * size
                          and _run_in_heading(segment, run)
                          and _crossed_below(rows, k, segment[0].x0, (right + run.x0) / 2, size))
                if (gap > _LINE_GAP * size or gutter) and not (label and gap <= _LABEL_GAP * size) and not ocr_line and not run_in:
                    # After a narrow gutter a column starts, as a row does, and so it does
                    # after a margin's line number set smaller: its section number may stand
                    # further from its text than the gutter or the margin is wide.
                    apart = gutter or segment[-1].size < 0.8 * run.size
                    lines.append(_make_line(segment))
                    segment, before = [], math.inf if apart else gap
            segment.append(run)
        if segment:
            lines.append(_make_line(segment))
    return lines


def _reach(run: _Run, other: _Run) -> float:
    """How wide an overlap with `other` puts `run` under it: its size; a small run set lower
    than `other` (a reference mark of the next line) may be narrower than that, and its
    width is enough. A small run set higher (the "A" of the LaTeX logo) keeps its size."""
    if run.size < 0.85 * other.size and run.bottom > other.bottom:
        return min(run.size, run.x1 - run.x0)
    return run.size


def _gutter(rows: list[list[_Run]], k: int, x: float, start: float, size: float) -> bool:
    """Whether `x`, amid a gap of row k narrower than a gutter usually is and before a run
    starting at `start`, lies in a strip of white that runs up and down from it, with a
    column's left edge at `start` beyond it in at least three more rows: a narrow column
    gutter (a two-column paper's can be under 0.9 of its font's size), not a wide word
    space, which the lines above and below cross, nor a gap that happens to line up with a
    table's. The strip ends at the first row that crosses it (a caption or a title over
    both columns)."""
    top, reach = rows[k][0].top, _GUTTER_REACH * size
    edge = 0
    for step in (-1, 1):
        j = k + step
        while 0 <= j < len(rows) and abs(rows[j][0].top - top) <= reach:
            row = rows[j]
            if any(r.x0 < x < r.x1 for r in row):
                break
            beyond = [r.x0 for r in row if r.x0 >= x]
            edge += _text_before(row, x) and bool(beyond) and abs(min(beyond) - start) <= 0.1 * size
            j += step
    return edge >= 3


def _run_in_heading(segment: list[_Run], run: _Run) -> bool:
    """A few words in a font of their own, ending with a full stop, a colon or a dash, or set
    in bold (NeurIPS's "Paragraphs" and a quad), before a run in another font of about its
    size: a run-in heading and its paragraph's first words (an icon's small label is not)."""
    text = " ".join(r.text for r in segment).strip()
    return (segment[-1].font != run.font and abs(segment[-1].size - run.size) <= 0.2 * run.size
            and (text.endswith((".", ":", "\u2014")) or bool(_BOLD_FONT.search(segment[-1].font)))
            and len(text.split()) <= 8 and bool(re.search(r"[^\W\d_]{2}", text)))


def _crossed_below(rows: list[list[_Run]], k: int, x0: float, x: float, size: float) -> bool:
    """Whether the next line under row k (within two lines' height) starts where row k does,
    at `x0`, and runs across `x`: the paragraph goes on under a run-in heading, where text
    set around a margin's icon ("CAUTION") is indented beside it."""
    top = rows[k][0].top
    below = [row for row in rows[k + 1:k + 9] if 0.5 * size < row[0].top - top <= 2.5 * size]
    if not below:
        return False
    nearest = min(below, key=lambda row: row[0].top)
    return any(abs(r.x0 - x0) <= size and r.x1 > x for r in nearest)


def _text_before(runs: list[_Run], x: float) -> bool:
    """Whether some run left of `x` is more than a list's bullet or number: beside a column
    of those, a strip of white and aligned text are a list's items, not a gutter."""
    return any(r.x1 <= x and not _LABEL.fullmatch(r.text.strip()) for r in runs)


def _make_line(runs: list[_Run]) -> Line:
    main = max(runs, key=lambda r: len(r.text.strip()))
    baseline = main.bottom
    text = ""
    marks: list[tuple[int, str]] = []
    previous: _Run | None = None
    for run in runs:
        piece = run.text
        raised = (
            run is not main
            and run.size < 0.85 * main.size
            and baseline - run.bottom > 0.2 * main.size
            and _MARK.fullmatch(piece.strip())
        )
        if raised:
            marks.append((len(text.rstrip()), piece.strip()))
            previous = run
            continue
        if previous is not None and text and not text.endswith(" ") and not piece.startswith(" "):
            # Next to each other in PDFium's text with nothing between: PDFium, which knows
            # the font's spacing, saw no word break. Otherwise the gap decides.
            adjoining = previous.last >= 0 and run.first == previous.last + 1
            gap = run.x0 - previous.x1
            if not adjoining and gap > _SPACE_GAP * max(main.size, 1.0):
                text += " "
        text += piece
        previous = run
    clean = " ".join(text.split())
    # Offsets of marks were measured in the raw text; spaces collapse only ever shorten it.
    marks = [(min(offset, len(clean)), mark) for offset, mark in marks]
    # A drop cap (a first letter two or three lines tall) is the line's, but its height is
    # not: the lines beside it are the same paragraph's.
    level = [r for r in runs if r.bottom - r.top <= 1.5 * (main.bottom - main.top)]
    return Line(
        text=clean,
        x0=min(r.x0 for r in runs),
        top=min(r.top for r in level),
        x1=max(r.x1 for r in runs),
        bottom=max(r.bottom for r in level),
        size=main.size,
        font=main.font,
        marks=tuple(marks),
    )


# --------------------------------------------------------------------------- blocks


def _blocks(lines: list[Line]) -> list[Block]:
    """Lines directly above one another, alike in size and weight, as blocks."""
    groups: list[list] = []  # [lines, left, right, bold]
    for line in sorted(lines, key=lambda line: (line.top, line.x0)):
        home, best = None, None
        bold = line.bold
        for group in groups:
            last = group[0][-1]
            gap = line.top - last.bottom
            if gap < -0.3 * line.size or gap > _BLOCK_GAP * max(line.size, last.size):
                continue
            if abs(line.size - last.size) > 0.5 or bold != group[3]:
                continue
            left, right = group[1], group[2]
            overlap = min(right, line.x1) - max(left, line.x0)
            if overlap < 0.5 * min(right - left, line.x1 - line.x0):
                continue
            if best is None or gap < best:
                home, best = group, gap
        if home is None:
            groups.append([[line], line.x0, line.x1, bold])
        else:
            home[0].append(line)
            home[1], home[2] = min(home[1], line.x0), max(home[2], line.x1)
    return [Block(tuple(part)) for group in groups for part in _displays_apart(group[0], group[1], group[2])]


def _displays_apart(lines: list[Line], left: float, right: float) -> list[list[Line]]:
    """A block's lines cut around display formulas set close under its text: lines in a
    math font set in from both of the block's sides. A formula's tail at the start of a
    line ("calligraphic letters:" / "C + E − [X + Y].") is the sentence's and stays."""
    def display(line: Line) -> bool:
        inset = 1.5 * line.size
        return line.math and line.x0 - left > inset and right - line.x1 > inset

    parts: list[list[Line]] = []
    for line in lines:
        if parts and display(line) == display(parts[-1][-1]):
            parts[-1].append(line)
        else:
            parts.append([line])
    return parts


def blocks_in_order(lines: list[Line], rotated: list[Line] = ()) -> list[Block]:
    """Lines from another source (pipeline.ocr's) as blocks in reading order, grouped and
    ordered as a text page's are; rotated lines come last, a block each."""
    return order_blocks(_blocks(lines)) + [Block((line,), rotated=True) for line in rotated]


def _order_page(runs: list[_Run]) -> list[Block]:
    upright = [r for r in runs if not r.rotated]
    rotated = [r for r in runs if r.rotated]
    blocks = order_blocks(_blocks(_lines(upright)))
    if rotated:
        blocks += [Block((line,), rotated=True) for line in _rotated_lines(rotated)]
    return blocks


def _rotated_lines(runs: list[_Run]) -> list[Line]:
    """Rotated runs as lines, one per column of text (read bottom to top)."""
    groups: list[list[_Run]] = []
    for run in sorted(runs, key=lambda r: (round(r.x0), -r.bottom)):
        if groups and abs(groups[-1][-1].x0 - run.x0) < 0.5 * max(run.size, 1.0):
            groups[-1].append(run)
        else:
            groups.append([run])
    out = []
    for group in groups:
        text = " ".join(" ".join(r.text for r in group).split())
        out.append(Line(text, min(r.x0 for r in group), min(r.top for r in group),
                        max(r.x1 for r in group), max(r.bottom for r in group),
                        group[0].size, group[0].font))
    return out


# --------------------------------------------------------------------------- reading order


def order_blocks(blocks: list[Block]) -> list[Block]:
    """Blocks in reading order: bands from top to bottom, columns left to right in a band.

    The page is cut across wherever no block crosses; neighbouring bands that share a
    column gutter, or where one band's blocks all sit inside the other's columns, and that
    hold no block spanning the page, are one band again (two columns whose paragraph
    breaks happen to line up must not be read across; a column that runs on below a
    shorter one is still a column). A band with a gutter is
    cut into columns, each ordered the same way; a band without one is read top to bottom.
    """
    if len(blocks) <= 1:
        return list(blocks)
    left, right = min(b.x0 for b in blocks), max(b.x1 for b in blocks)
    width = max(right - left, 1.0)
    bands = _bands(blocks)
    merged: list[tuple[list[Block], list[tuple[float, float]], bool]] = []  # (blocks, gutters, wide)
    for band in bands:
        wide = any(b.x1 - b.x0 > _WIDE * width for b in band)
        gaps = [] if wide else _gutters(band)
        if merged and not wide and not merged[-1][2]:
            before, before_gaps, _ = merged[-1]
            # Columns go on: the gutters line up, or one band's blocks all sit inside the
            # other's columns (a column that runs on below a shorter one).
            joined = None
            if gaps and before_gaps:
                joined = _shared(before_gaps, gaps) or None
            elif before_gaps and not any(_crosses(b, before_gaps) for b in band):
                joined = before_gaps
            elif gaps and not any(_crosses(b, gaps) for b in before):
                joined = gaps
            if joined:
                merged[-1] = (before + band, joined, False)
                continue
        merged.append((band, gaps, wide))
    out: list[Block] = []
    for band, gaps, _ in merged:
        if not gaps:
            out += sorted(band, key=lambda b: (b.top, b.x0))
            continue
        cuts = [(a + b) / 2 for a, b in gaps]
        columns: list[list[Block]] = [[] for _ in range(len(cuts) + 1)]
        for block in band:
            centre = (block.x0 + block.x1) / 2
            columns[sum(centre > cut for cut in cuts)].append(block)
        for column in columns:
            if len(column) == len(band):  # no progress: avoid endless recursion
                out += sorted(column, key=lambda b: (b.top, b.x0))
            else:
                out += order_blocks(column)
    return out


def _bands(blocks: list[Block]) -> list[list[Block]]:
    """Blocks grouped into horizontal bands separated by a strip no block crosses."""
    bands: list[list[Block]] = []
    bottom = -math.inf  # lowest edge of the current band
    for block in sorted(blocks, key=lambda b: b.top):
        if bands and block.top < bottom:
            bands[-1].append(block)
            bottom = max(bottom, block.bottom)
        else:
            bands.append([block])
            bottom = block.bottom
    return bands


def _gutters(band: list[Block]) -> list[tuple[float, float]]:
    """Free vertical strips between the band's blocks, at least _MIN_GUTTER wide."""
    spans = sorted((b.x0, b.x1) for b in band)
    gaps = []
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= _MIN_GUTTER:
            gaps.append((reach, x0))
        reach = max(reach, x1)
    return gaps


def _crosses(block: Block, gaps: list[tuple[float, float]]) -> bool:
    return any(block.x0 < g1 and block.x1 > g0 for g0, g1 in gaps)


def _shared(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The gutters of two bands that overlap each other, as their common part."""
    out = []
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if hi - lo >= _MIN_GUTTER / 2:
                out.append((lo, hi))
    return out
