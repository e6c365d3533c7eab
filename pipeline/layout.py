"""A page's text with its geometry: PDFium's text objects -> lines -> blocks, in reading order.

    doc = open_layout(data, password)
    layout = read_layout(doc, 3)          # PageLayout of page 3 (1-based)
    for block in layout.blocks:           # in reading order
        print(block.top, block.size, block.text)

A run is one of PDFium's text segments (pypdfium2: a stretch of one text object on one
line) with its box, font size and font name; PDFium turns the fonts' codes into Unicode
and puts in the spaces that kerning leaves implicit. Runs on one baseline, close together, make a line; a space is
put between two runs when the gap between them is wide enough to be one, so words drawn
one by one (no space characters in the font) come out separated. Lines directly above one
another, with the same font size and weight and overlapping horizontally, make a block.
Blocks are ordered by a recursive cut of the page: bands across the page, and columns
inside a band when the band's blocks leave a gutter free from top to bottom (one, two or
three columns, full-width titles, abstracts and floats between them). Rotated text (an
arXiv side stamp) is a block of its own, last.

Superscript marks (digits or footnote symbols, raised and smaller than their line) are
kept out of the line's text and recorded with their place: pipeline.structure decides
whether they are footnote marks.

What it does not do: no classification (pipeline.structure), no OCR (pipeline.ocr makes
Lines of its words and orders them here, `blocks_in_order`), no metadata or
passwords beyond opening (pipeline.extract keeps those, with pypdf), no text clean-up
beyond turning PDFium's line-end hyphen marker back into "-".
"""

from __future__ import annotations

import bisect
import ctypes
import math
import re
import statistics
from dataclasses import dataclass, field

# Layout tolerances, as fractions of the font size.
_SPACE_GAP = 0.12  # a gap wider than this between two runs on a line is a word space
_LINE_GAP = 0.9  # a gap wider than this ends the line segment (column gutter, table cell)
_BLOCK_GAP = 0.9  # lines further apart vertically than this start a new block
_INDENT = 0.6  # a line starting this much right of its block starts a paragraph
_MIN_GUTTER = 6.0  # points: a free vertical strip at least this wide separates columns
_WIDE = 0.6  # a block wider than this share of its region spans the columns
_MAX_RUNS = 100_000  # text segments read per page at most (bounded time on hostile files)
_HYPHEN_MARK = re.compile("[\x02\ufffe]")  # PDFium's mark for a hyphen that ends a line
_CONTROLS = re.compile("[\x00-\x1f\x7f]")
_MARK = re.compile(r"[0-9*\u2020\u2021\u00a7\u00b6,]{1,4}")  # digits, * † ‡ § ¶ (and "1,2")
_SUBSET = re.compile(r"^[A-Z]{6}\+")  # "ABCDEF+Times-Roman": the subset tag is not the font


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
        return bool(re.search(r"bold|black|heavy|semibold|\.B\b|-B\b|CMBX", self.font, re.I))


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
        """The block's lines split where a line is indented past the block's left edge."""
        out: list[list[Line]] = []
        left = self.x0
        for line in self.lines:
            if out and line.x0 - left > _INDENT * line.size and len(self.lines) > 1:
                out.append([line])
            elif out:
                out[-1].append(line)
            else:
                out.append([line])
        return out


@dataclass(frozen=True)
class PageLayout:
    width: float
    height: float
    blocks: tuple[Block, ...] = field(default=())  # in reading order

    @property
    def text(self) -> str:
        """Blocks in reading order, a blank line between blocks."""
        return "\n\n".join(block.text for block in self.blocks if block.text)

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
        return PageLayout(width=data["width"], height=data["height"], blocks=blocks)

    def cut(self, chars: int) -> "PageLayout":
        """The layout of the first `chars` characters of self.text, cut at a line's end."""
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


def open_layout(data: bytes, password: str | None = None):
    """A PDFium document for read_layout (pypdfium2.PdfDocument); raises on failure."""
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(data, password=password)


def read_layout(doc, number: int) -> PageLayout:
    """The layout of page `number` (1-based) of a document from open_layout."""
    page = doc[number - 1]
    try:
        left, bottom, right, top = page.get_bbox()
        runs = _read_runs(page, top, left)
        return PageLayout(width=right - left, height=top - bottom, blocks=tuple(_order_page(runs)))
    finally:
        page.close()


def _read_runs(page, page_top: float, page_left: float) -> list[_Run]:
    """PDFium's text segments of the page (its "rects": one per stretch of a text object on
    one line), with their text, box, font size and font.

    A segment's text is the page text from its first character to the next segment's first
    character or PDFium's next line break, whichever comes first: one pass over the text and
    a handful of calls per segment (asking PDFium for each segment's text is many times slower).
    """
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    try:
        full = textpage.get_text_range()
        count = min(textpage.count_rects(), _MAX_RUNS)
        if len(full) != textpage.count_chars():
            full = None  # characters outside the BMP: indexes and text offsets differ
        rects = [textpage.get_rect(k) for k in range(count)]
        starts = []
        for left, bottom, right, top in rects:
            middle = (bottom + top) / 2
            found = -1
            if full is not None:
                found = raw.FPDFText_GetCharIndexAtPos(textpage, left + 0.01, middle, 0.5, 0.5)
            starts.append(found)
        known = sorted(i for i in starts if i >= 0)
        name = ctypes.create_string_buffer(128)
        flags = ctypes.c_int()
        matrix = raw.FS_MATRIX()
        runs = []
        for (left, bottom, right, top), start in zip(rects, starts):
            if start >= 0:
                later = bisect.bisect_right(known, start)
                stop = known[later] if later < len(known) else len(full)
                text = full[start:stop].split("\r", 1)[0].split("\n", 1)[0]
            else:
                text = textpage.get_text_bounded(left, bottom, right, top)
                start = raw.FPDFText_GetCharIndexAtPos(textpage, (left + right) / 2, (bottom + top) / 2, 2.0, 2.0)
            text = _CONTROLS.sub(" ", _HYPHEN_MARK.sub("-", text))
            if not text.strip():
                continue
            size, font, angle = 0.0, "", 0.0
            if start >= 0:
                # The font size times the text matrix's vertical scale: producers that set
                # the font at 1 pt and scale it with the matrix are common.
                size = raw.FPDFText_GetFontSize(textpage, start)
                if raw.FPDFText_GetMatrix(textpage, start, matrix):
                    size *= math.hypot(matrix.c, matrix.d) or 1.0
                raw.FPDFText_GetFontInfo(textpage, start, name, ctypes.sizeof(name), ctypes.byref(flags))
                font = _SUBSET.sub("", name.value.decode("latin-1", "replace"))
                angle = raw.FPDFText_GetCharAngle(textpage, start)
            rotated = 0.3 < (angle % math.pi) < math.pi - 0.3 or (size == 0 and top - bottom > 3 * (right - left))
            if size <= 0:
                size = (right - left) if rotated else (top - bottom)
            runs.append(_Run(text, left - page_left, page_top - top, right - page_left, page_top - bottom,
                             round(size, 2), font, rotated))
        return runs
    finally:
        textpage.close()


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
            if height > 0 and overlap / height >= share:
                best, share = row, overlap / height
        if best is None:
            rows.append([run])
        else:
            best.append(run)
            if run.bottom - run.top > best[0].bottom - best[0].top:
                best.insert(0, best.pop())
    lines = []
    for row in rows:
        segment: list[_Run] = []
        for run in sorted(row, key=lambda r: r.x0):
            if segment:
                right = max(r.x1 for r in segment)
                if run.x0 - right > _LINE_GAP * max(run.size, segment[0].size, 1.0):
                    lines.append(_make_line(segment))
                    segment = []
            segment.append(run)
        if segment:
            lines.append(_make_line(segment))
    return lines


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
            gap = run.x0 - previous.x1
            if gap > _SPACE_GAP * max(main.size, 1.0):
                text += " "
        text += piece
        previous = run
    clean = " ".join(text.split())
    # Offsets of marks were measured in the raw text; spaces collapse only ever shorten it.
    marks = [(min(offset, len(clean)), mark) for offset, mark in marks]
    return Line(
        text=clean,
        x0=min(r.x0 for r in runs),
        top=min(r.top for r in runs),
        x1=max(r.x1 for r in runs),
        bottom=max(r.bottom for r in runs),
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
    return [Block(tuple(group[0])) for group in groups]


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
