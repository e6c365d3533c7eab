"""What each block of a document is, and the text a podcast writer keeps.

    result = select([(1, layout1), (2, layout2), ...], settings)
    result.pages     # [(page number, kept text)] for pipeline.normalize, in reading order
    result.removed   # every piece taken out, with its page and category (events.Removed)
    result.labels    # [(page number, label, block)] for inspection and tests

Every block gets one label (LABELS), from its place on the page (margins, the body's
extent), its font size relative to the body text's, repetition across pages, and
patterns (pipeline.patterns). Single pages work: repetition only adds evidence.

    furniture        header, footer, page number, stamp (rotated text, download / journal /
                     DOI / copyright lines, a thesis's required statements): always dropped
    figure, table    text inside a figure or a table (labels, cells): always dropped
    title, heading   kept, each as a plain line of its own
    abstract, body   kept
    authors          names, affiliations and e-mails under the title   (keep_authors)
    caption          "Figure 2: ...", "Table 1: ..."                   (keep_captions)
    footnote         small text at the foot of the body                 (keep_footnotes)
    math             display equations                                  (math: drop / placeholder / keep)
    references       the reference list, from its heading on            (keep_references)
    appendix         from an "Appendix" heading on, and a venue's       (keep_appendix)
                     checklist after the references

Inline, in the kept text: superscript footnote marks are dropped, and citations too unless
settings.citations is "keep" ("Smith et al. (2020)" keeps the name).

What it does not do: no reading of the PDF (pipeline.layout), no line joining or
dehyphenation (pipeline.normalize runs on the kept text), no OCR.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import patterns
from pipeline.events import Removed
from pipeline.layout import Block, PageLayout, words_of
from pipeline.settings import Settings

LABELS = (
    "body", "heading", "title", "abstract", "authors", "caption", "figure", "table", "math",
    "footnote", "header", "footer", "page number", "stamp", "references", "appendix",
)
_ALWAYS_KEPT = {"body", "heading", "title", "abstract"}
_ALWAYS_DROPPED = {"header", "footer", "page number", "stamp", "figure", "table"}
_OPTIONAL = {
    "caption": "keep_captions",
    "footnote": "keep_footnotes",
    "authors": "keep_authors",
    "appendix": "keep_appendix",
    "references": "keep_references",
}
_ON_ITS_OWN = {"title", "heading"}  # kept as a plain line, a paragraph of its own
EQUATION = "[equation]"

_MARGIN = 0.09  # of the page height: top and bottom strips where furniture lives
_FRONT_PAGES = 12  # a thesis's required statements come within its first pages
_REFERENCES = re.compile(r"(?:\d+\.?\s*|[IVX]+\.\s*)?(references|bibliography|literature cited|works cited|reference list)\s*", re.I)
_APPENDIX = re.compile(r"(?:appendix|appendices|supplementary material|supplementary information|supplemental material)\b.{0,80}", re.I)
# A venue's checklist after the references ("NeurIPS Paper Checklist", "Reproducibility Checklist"):
# back matter to the end, its numbered questions included.
_CHECKLIST = re.compile(r"(?:[\w-]+\s+){0,2}checklist\b.{0,40}", re.I)
_LETTERED = re.compile(r"[A-H](?:\.\d+)*\.?\s+[A-Z][^.]{2,80}")  # "A Proofs", "B.1 Setup" after the references
_NUMBERED = re.compile(r"(?:\d{1,2}(?:\.\d{1,2}){0,3}\.?|[IVX]{1,4}\.|[A-H]\.\d{1,2}(?:\.\d{1,2})?)\s+\S")
_CAPTION = re.compile(r"(?:figure|fig\.|table|tab\.|algorithm|listing|chart|exhibit|scheme|plate|box)\s*[A-Z]?\d+[a-z]?\s*[.:|\-\u2013\u2014]", re.I)
_ABSTRACT = re.compile(r"abstract\b", re.I)
# A first section's heading, which ends the front matter under a title.
_SECTION_NAME = re.compile(r"(?:\d{1,2}\.?\s*|[IVX]{1,4}\.\s*)?(?:introduction|background|overview|(?:executive\s+)?summary"
                           r"|(?:table\s+of\s+)?contents|preface|foreword|motivation|keywords|index\s+terms)\s*:?", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\{[\w.,\s-]+\}@[\w.-]+")
_PAGE_NUMBER = re.compile(
    r"(?:page\s*)?[-\u2013\u2014]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-\u2013\u2014]?(?:\s*(?:of|/)\s*\d{1,4})?", re.I
)
_SECTION_NUMBER = re.compile(r"\d{1,2}(?:\.\d{1,2}){0,3}\.?")  # "7", "6.2", "3.1.4."
_EQUATION_NUMBER = re.compile(r"\(\s*[A-Z]?\d{1,3}(?:\.\d{1,3})?[a-z]?\s*\)")
_MATH_CHARS = set("=+\u2212\u00b1\u00d7\u00f7\u2211\u220f\u222b\u2202\u221e\u2248\u2260\u2264\u2265\u2208\u2209\u2282\u2286\u222a\u2229\u2207\u221a\u2192\u21d2\u2200\u2203^_|\u2016\u27e8\u27e9")
_GREEK = re.compile(r"[\u0370-\u03ff\U0001d400-\U0001d7ff]")
_FOOTNOTE_START = re.compile(r"(?:[0-9]{1,3}|[*\u2020\u2021\u00a7\u00b6])\s?[A-Z]")
_WORD = re.compile(r"[A-Za-z]{4,}")
_ITALIC = re.compile(r"ital|oblique|-it\b|CMTI|SFTI", re.I)
_BULLET = re.compile(r"[\u2022\u25e6\u25aa\u2023\u25cf\u25cb\u25a0\u25a1\u27a2\u25ba\u2013\u2014\u2043-]\s*(?=\w)")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_SENTENCE_END = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]*$")


@dataclass(frozen=True)
class Selected:
    pages: list[tuple[int, str]]  # (page number, kept text): paragraphs "\n\n", lines "\n"
    removed: tuple[Removed, ...]
    labels: list[tuple[int, str, Block]]


def select(pages: Sequence[tuple[int, PageLayout]], settings: Settings) -> Selected:
    """Label every block of the pages and keep what `settings` asks for."""
    labels = classify(pages)
    return _keep(pages, labels, settings)


# --------------------------------------------------------------------------- classification


def body_size(pages: Sequence[tuple[int, PageLayout]]) -> float:
    """The font size of most of the document's characters (rounded to half a point)."""
    weight: Counter[float] = Counter()
    for _, page in pages:
        for block in page.blocks:
            if not block.rotated:
                weight[round(block.size * 2) / 2] += block.chars
    return weight.most_common(1)[0][0] if weight else 10.0


def classify(pages: Sequence[tuple[int, PageLayout]]) -> list[list[str]]:
    """One label per block, page by page, in each page's reading order."""
    size = body_size(pages)
    repeated = _repeated(pages)
    labels = [[""] * len(page.blocks) for _, page in pages]
    for p, (number, page) in enumerate(pages):
        # The body's extent, from running text at the body's own size (not footnotes).
        body = [b for b in page.blocks if _is_paragraph(b, size) and abs(b.size - size) <= 0.6]
        body_top = min((b.top for b in body), default=page.height * _MARGIN)
        body_bottom = max((b.bottom for b in body), default=page.height * (1 - _MARGIN))
        for i, block in enumerate(page.blocks):
            labels[p][i] = _furniture(block, page, size, body_top, body_bottom, (p, i) in repeated, bool(body))
        _label_page(page, labels[p], size, first=(p == 0 and number == 1), body=body)
        if p < _FRONT_PAGES:
            _label_cover_pages(page.blocks, labels[p], first=(p == 0 and number == 1), size=size)
    _label_sections(pages, labels)
    return labels


def _furniture(block: Block, page: PageLayout, size: float, body_top: float, body_bottom: float,
               repeated: bool, has_body: bool) -> str:
    if block.rotated:
        return "stamp"
    text = " ".join(line.text for line in block.lines).strip()
    # The strips above the body's first line and below its last, near the page's edges.
    top_zone = block.bottom <= body_top + 1 and block.top < page.height * _MARGIN * 1.4
    bottom_zone = block.top >= body_bottom - 1 and block.bottom > page.height * (1 - _MARGIN * 1.4)
    if len(block.lines) <= 3 and len(text) <= 250:
        kinds = [patterns.is_furniture_line(line.text) for line in block.lines]
        found = set(kinds) - {"email"}  # an e-mail line is the author block's, not furniture
        if found == {"page number"}:
            # A lone number is a page number in the margins only (elsewhere: a table cell).
            if top_zone or bottom_zone:
                return "page number"
        elif found and None not in found:
            return "stamp"
        # A copyright, licence, DOI or venue line followed by a pointer to more ("See also
        # LNCS-Homepage: http://..."): the block is the notice.
        elif kinds[0] not in (None, "page number", "email") and all(
                kind is not None or patterns.URL.search(line.text) for kind, line in zip(kinds, block.lines)):
            return "stamp"
    # A venue header above the body ("Proceedings of the ASME 2023" and its lines).
    if top_zone and len(block.lines) <= 5 and patterns.VENUE_LINE.fullmatch(" ".join(block.lines[0].text.split())):
        return "stamp"
    # The authors' names alone above or below the body: a running head ("Schwarz et al.").
    if (top_zone or bottom_zone) and has_body and len(block.lines) == 1 and patterns.RUNNING_AUTHORS.fullmatch(text):
        return "header" if top_zone else "footer"
    # A web address alone in a margin: a running head ("www.nature.com/scientificreports").
    if (top_zone or bottom_zone) and len(block.lines) == 1 and patterns.URL.fullmatch(text):
        return "header" if top_zone else "footer"
    if _is_paragraph(block, size) or len(block.lines) > 2:
        return ""
    if (top_zone or bottom_zone) and _PAGE_NUMBER.fullmatch(text):
        return "page number"
    # Repeated near the same height on other pages: a running head or foot, in the margins
    # at any size (a report's 15 pt title and number on every page), elsewhere if small.
    margin = block.top < page.height * _MARGIN * 1.4 or block.bottom > page.height * (1 - _MARGIN * 1.4)
    if repeated and (block.size <= size + 1.5 or margin):
        return "header" if block.top < page.height / 2 else "footer"
    footnote = re.match(r"[0-9*\u2020\u2021\u00a7\u00b6]{1,3}\s*\S+(?:\s+\S+){3}", text)
    # Position alone names a header or footer only on a page with running text to be above
    # or below, and small text at that: a short page's first line is not furniture.
    if has_body and (top_zone or bottom_zone) and block.size < size - 0.5 and not footnote:
        return "header" if top_zone else "footer"
    return ""


def _repeated(pages: Sequence[tuple[int, PageLayout]]) -> set[tuple[int, int]]:
    """(page, block) of short blocks whose text (digits aside) recurs on other pages near the
    same height, at the same size."""
    if len(pages) < 2:
        return set()
    seen: dict[str, list[tuple[int, int, float]]] = {}
    for p, (_, page) in enumerate(pages):
        for i, block in enumerate(page.blocks):
            if len(block.lines) > 2 or block.rotated:
                continue
            key = re.sub(r"\d+", "#", " ".join(block.text.lower().split()))
            if len(key) < 3 and "#" not in key:
                continue
            # At its size: a title is not the running head that repeats it smaller.
            seen.setdefault((key, round(block.size)), []).append((p, i, block.top))
    out = set()
    for places in seen.values():
        pages_with = {p for p, _, _ in places}
        if len(pages_with) < 2:
            continue
        for p, i, top in places:
            if sum(1 for q, _, t in places if q != p and abs(t - top) < 20) >= 1:
                out.add((p, i))
    return out


def _is_paragraph(block: Block, size: float) -> bool:
    """Running text near the body's size (an abstract may be a point smaller): never figure
    debris, never furniture."""
    if not 0.8 * size <= block.size <= 1.2 * size or block.rotated:
        return False
    lengths = [len(line.text) for line in block.lines]
    if len(lengths) >= 2:
        return statistics.mean(lengths) >= 30 and len(_WORD.findall(block.text)) >= 6
    return lengths[0] >= 60 and len(_WORD.findall(block.text)) >= 8


def _is_list_item(block: Block, size: float) -> bool:
    """A bulleted item at the body's size with words in it ("• Training: 50 epochs with
    Adam", "• Deformation Parameters: γ′ ∈ {0.0, −0.5}"), however short: prose, never a
    table's cell or a formula (a table's cells and a formula do not start with a bullet)."""
    if not 0.8 * size <= block.size <= 1.2 * size or block.rotated:
        return False
    first = block.lines[0].text
    return bool(_BULLET.match(first)) and len(_LETTERS.findall(block.text)) >= 2


def _starts_with_mark(block: Block) -> bool:
    first = block.lines[0]
    return any(offset == 0 for offset, _ in first.marks) or bool(_FOOTNOTE_START.match(first.text))


def _is_footnote(block: Block, page: PageLayout, size: float, body: list[Block]) -> bool:
    """Smaller text with no running text under it in its column: starting with a mark, or
    in the page's lower part (a column's foot: the other column may run lower)."""
    if block.size >= size - 0.6:
        return False
    if any(b.top >= block.bottom - 2 and _overlaps(b, block) for b in body):
        return False
    return _starts_with_mark(block) or block.top > 0.6 * page.height


def _is_heading(block: Block, size: float) -> bool:
    text = " ".join(line.text for line in block.lines)
    if len(block.lines) > 3 or len(text) > 150 or not re.search(r"[A-Za-z]{2}", text):
        return False
    if text.endswith((",", ";")) or (text.endswith(".") and not _NUMBERED.match(text) and len(text) > 60):
        return False
    bigger = block.size >= size * 1.08
    bold = all(line.bold for line in block.lines)
    caps = text.isupper() and len(text) >= 4
    numbered = bool(_NUMBERED.match(text)) and block.size >= size - 0.5 and len(text) <= 90
    # IEEE's "I. INTRODUCTION": numbered, in small capitals, whose size is the small one.
    small_caps = bool(_NUMBERED.match(text)) and caps and len(block.lines) == 1 and block.size >= 0.7 * size and len(text) <= 60
    # IEEE's subsections: "A. 9pt, 10pt, 11pt, 12pt" in italics.
    italic = all(_ITALIC.search(line.font) for line in block.lines)
    lettered = numbered or (bool(re.match(r"[A-H]\.\s+\S", text)) and block.size >= size - 0.5 and len(text) <= 90)
    return (bigger or (bold and block.size >= size - 0.6) or (caps and block.size >= size - 0.6 and len(text) <= 60)
            or (numbered and bold) or small_caps or (lettered and italic and not text.endswith(".")))


def _is_math(block: Block, size: float) -> bool:
    text = " ".join(line.text for line in block.lines)
    if len(block.lines) > 6 or not text.strip():
        return False
    if _EQUATION_NUMBER.fullmatch(text.strip()):
        return True
    symbols = sum(ch in _MATH_CHARS for ch in text) + len(_GREEK.findall(text))
    math_font = any(line.math for line in block.lines)
    words = len(_WORD.findall(text))
    numbered = bool(_EQUATION_NUMBER.search(text[-12:]))
    # Words set in bold are a run-in heading ("Standard Network (γ′ = 0.0):"), not a formula.
    if words > 8 or (words >= 2 and all(line.bold for line in block.lines)):
        return False
    return (symbols >= 2 and (numbered or words <= 3 or math_font)) or (math_font and (symbols >= 1 or words == 0) and words <= 4)


def _label_page(page: PageLayout, labels: list[str], size: float, first: bool, body: list[Block]) -> None:
    blocks = page.blocks
    # Captions, and the figure or table each one names.
    for i, block in enumerate(blocks):
        if labels[i]:
            continue
        if _CAPTION.match(block.text):
            labels[i] = "caption"
    for i, block in enumerate(blocks):
        if labels[i]:
            continue
        if _is_list_item(block, size):
            labels[i] = "body"
        elif _is_math(block, size):
            labels[i] = "math"
        elif _is_footnote(block, page, size, body):
            labels[i] = "footnote"
        elif _is_paragraph(block, size):
            labels[i] = "body"
        elif _is_heading(block, size):
            labels[i] = "heading"
    # What is left is neither running text nor a heading: labels and cells of a figure or a
    # table (the nearest caption says which), or stray pieces of one.
    for i, block in enumerate(blocks):
        if labels[i]:
            continue
        labels[i] = _float_kind(page, labels, i, size)
    # Notes set small just under a table or a figure ("Reaction conditions: ...") are the float's.
    for i, block in enumerate(blocks):
        if labels[i] != "body" or block.size >= size * 0.92:
            continue
        for j, other in enumerate(blocks):
            if labels[j] in ("table", "figure") and 0 <= block.top - other.bottom < 2 * size and _overlaps(other, block):
                labels[i] = labels[j]
                break
    if first:
        _label_front(blocks, labels, size)
        _label_front_matter(blocks, labels, size)
    for i, block in enumerate(blocks):
        if labels[i] == "body" and _ABSTRACT.match(block.text):
            labels[i] = "abstract"
        elif labels[i] == "heading" and _ABSTRACT.fullmatch(block.text.strip(" .:\u2014-")):
            nxt = i + 1
            if nxt < len(blocks) and labels[nxt] == "body":
                labels[nxt] = "abstract"


def _float_kind(page: PageLayout, labels: list[str], i: int, size: float) -> str:
    """A block that is neither running text nor a heading: part of a figure or a table when
    a caption is near with no running text between them, or when it is small, short-lined
    text; otherwise body (a short document's lines must never vanish as debris)."""
    block = page.blocks[i]
    for j, other in enumerate(page.blocks):
        if labels[j] != "caption":
            continue
        low, high = sorted((other.top, block.top))
        between = any(
            labels[k] == "body" and low < b.top < high and _overlaps(b, block)
            for k, b in enumerate(page.blocks)
        )
        if not between and _overlaps(other, block, loose=True):
            return "table" if re.match(r"tab", other.text, re.I) else "figure"
    lengths = [len(line.text) for line in block.lines]
    if block.size < size * 0.9 and sum(lengths) / len(lengths) < 25:
        return "figure"
    return "body"


def _overlaps(a: Block, b: Block, loose: bool = False) -> bool:
    """Whether two blocks share some horizontal extent (loose: or sit within a column's width)."""
    margin = 40.0 if loose else 0.0
    return min(a.x1, b.x1) + margin > max(a.x0, b.x0)


def _label_cover_pages(blocks: tuple[Block, ...], labels: list[str], first: bool, size: float) -> None:
    """A cover or title page, and a thesis's required statements.

    A first page without running text that says what it is the cover of ("A dissertation
    submitted ... for the degree of", "Prepared for", "CONTRACT NAS 3-14348", "NASA
    Reference Publication 1311") keeps its title only: the largest block of three words or
    more that is none of those lines and no affiliation, with a block of its size right
    after it (a subtitle); every other block (author, degree, school, contract, report
    number, date, agency) is the front matter's (authors). A required statement
    ("Originality Statement", "Declaration of Authorship"), from its heading to the next
    other heading, is a notice (stamp)."""
    if first and _is_cover(blocks, labels, size):
        _label_cover(blocks, labels)
    statement = False
    for i, block in enumerate(blocks):
        if labels[i] in ("heading", "stamp", "title") and len(block.lines) <= 2:
            statement = bool(patterns.STATEMENT_HEADING.fullmatch(" ".join(block.text.split()).strip(" .:")))
        if statement and labels[i] not in ("header", "footer", "page number"):
            labels[i] = "stamp"


_FURNITURE_LABELS = ("header", "footer", "page number", "stamp")


def _cover_line(text: str) -> bool:
    return bool(patterns.DEGREE_STATEMENT.search(text) or patterns.REPORT_COVER.search(text))


def _is_cover(blocks: tuple[Block, ...], labels: list[str], size: float) -> bool:
    running = any(len(b.lines) >= 3 and _is_paragraph(b, size) and _SENTENCE_END.search(b.text)
                  for i, b in enumerate(blocks) if labels[i] not in _FURNITURE_LABELS)
    return not running and any(_cover_line(" ".join(b.text.split())) for b in blocks)


def _label_cover(blocks: tuple[Block, ...], labels: list[str]) -> None:
    inside = [i for i in range(len(blocks)) if labels[i] not in _FURNITURE_LABELS]
    candidates = [i for i in inside
                  if len(re.findall(r"[A-Za-z]{3,}", blocks[i].text)) >= 3
                  and not _cover_line(" ".join(blocks[i].text.split())) and not _AFFILIATION.search(blocks[i].text)]
    if not candidates:
        return
    title = max(candidates, key=lambda i: (round(blocks[i].size * 2), -inside.index(i)))
    kept = {title}
    after = inside.index(title) + 1
    if after < len(inside) and inside[after] in candidates and abs(blocks[inside[after]].size - blocks[title].size) <= 0.5:
        kept.add(inside[after])  # a subtitle in the title's size
    for i in inside:
        labels[i] = "title" if i in kept else "authors"


_NOTICE_LABEL = re.compile(r"(?i:citation|academic\s+editors?|received|revised|accepted|published|copyright"
                           r"|publisher[\u2019']s\s+note|key\s*words|index\s+terms|authors?[\u2019']?\s+addresses"
                           r"|code\s+and\s+data\s+links)\s*:")


def _label_front_matter(blocks: tuple[Block, ...], labels: list[str], size: float) -> None:
    """The first page's front matter wherever its layout puts it (a sidebar, under the
    abstract, at a column's foot): blocks made of affiliations, correspondence and e-mail
    lines are the author block's; a small block led by "Citation:", "Received:",
    "Copyright:", "Keywords:", "Authors' addresses:" (a journal's sidebar) is a notice, and
    so is a block of dates alone. Running text at the body's size is left alone."""
    for i, block in enumerate(blocks):
        if labels[i] not in ("body", "heading", "") or block.size > size + 0.5:
            continue
        lines = [line.text for line in block.lines]
        if block.size < size - 0.5 and _NOTICE_LABEL.match(lines[0].lstrip("*\u2020\u2021 ")):
            labels[i] = "stamp"
            continue
        if patterns.DATED_LINE.fullmatch(" ".join(" ".join(lines).split())):
            labels[i] = "stamp"  # a sidebar's dates, a label and a date a line: "Received" / "3 November 2014"
            continue
        front = sum(patterns.is_front_matter_line(line) for line in lines)
        if patterns.is_front_matter_line(lines[0]) and front >= 0.6 * len(lines):
            labels[i] = "authors"


def _label_front(blocks: tuple[Block, ...], labels: list[str], size: float) -> None:
    """Title, then the author block under it, on the document's first page."""
    candidates = [i for i, b in enumerate(blocks) if labels[i] in ("heading", "figure", "body", "") and b.size >= size * 1.25]
    if candidates:
        title = max(candidates, key=lambda i: (blocks[i].size, -blocks[i].top))
    else:
        # A title set at the body's size (TUGboat): the first heading, unnumbered, before any running text.
        first = next((i for i, label in enumerate(labels) if label in ("heading", "body", "abstract")), None)
        if first is None or labels[first] != "heading" or _NUMBERED.match(blocks[first].text):
            return
        title = first
    labels[title] = "title"
    for i in range(title + 1, len(blocks)):
        block = blocks[i]
        if labels[i] in ("header", "footer", "page number", "stamp"):
            continue
        if labels[i] in ("abstract",) or _ABSTRACT.match(block.text) or labels[i] == "caption":
            break
        if labels[i] == "body" and not _author_like(block):
            break
        if (labels[i] == "heading" and _NUMBERED.match(block.text)) or _SECTION_NAME.fullmatch(block.text.strip()):
            if labels[i] != "heading" and len(block.lines) == 1:
                labels[i] = "heading"  # "INTRODUCTION" set small
            break
        if len(block.lines) > 8:
            break
        labels[i] = "authors"
    for i, block in enumerate(blocks):
        if labels[i] in ("body", "figure", "heading") and _EMAIL.search(block.text) and len(block.text) < 300:
            labels[i] = "authors"


_AFFILIATION = re.compile(
    r"universit|institut|department|dept\.|school|college|laborator|\blab\b|research|academy|centre|center|"
    r"inc\.|corporation|google|microsoft|meta\b|deepmind|openai|hospital|faculty", re.I
)


_PLACEHOLDER = re.compile(r"affiliation|address|e-?mail|institution|city,?\s+country", re.I)


def _author_like(block: Block) -> bool:
    """Names, affiliations or e-mails: short lines of capitalised words, not sentences; or an
    anonymous submission's placeholders ("Affiliation", "Address", "email": NeurIPS's)."""
    text = " ".join(line.text for line in block.lines)
    if all(_PLACEHOLDER.fullmatch(line.text.strip()) for line in block.lines):
        return True
    if _EMAIL.search(text) or _AFFILIATION.search(text):
        return len(block.lines) <= 6
    words = re.findall(r"[A-Za-z][\w'\-]*", text)
    if len(block.lines) > 4 or not words or _SENTENCE_END.search(text):
        return False
    capitalised = sum(w[0].isupper() for w in words)
    return capitalised / len(words) >= 0.7


def _label_sections(pages: Sequence[tuple[int, PageLayout]], labels: list[list[str]]) -> None:
    """From a References heading on: references; from an Appendix heading on: appendix; from
    a checklist's heading after the references on ("NeurIPS Paper Checklist"): appendix to
    the end, its numbered questions included.

    A numbered heading after a reference list or an appendix ("4 Results": a chapter's
    references in a longer document; "7 Titles": a guide's section after one on
    appendices) ends it, since appendices are lettered; after the references, a lettered
    heading ("A Proofs") starts the appendix. A numbered heading named like one ("6.2
    Appendices", the section number a block of its own or not) is a section of the text.
    """
    section = ""
    number = False  # the block before was a section number alone ("7", "6.2")
    referenced = False  # a reference list came before
    to_the_end = False  # a checklist after the references: nothing ends it
    for p, (_, page) in enumerate(pages):
        for i, block in enumerate(page.blocks):
            label = labels[p][i]
            text = " ".join(block.text.split())
            first_line = block.lines[0].text.strip()
            numbered = label == "heading" and (number or bool(re.match(r"\d", text) and _NUMBERED.match(text)))
            if to_the_end:
                pass
            elif _REFERENCES.fullmatch(text) or (label != "title" and _REFERENCES.fullmatch(first_line)):
                section, referenced = "references", True
            elif label == "heading" and referenced and not numbered and _CHECKLIST.fullmatch(text):
                section, to_the_end = "appendix", True
            elif label == "heading" and not numbered and (
                    _APPENDIX.match(text) or (section == "references" and _LETTERED.fullmatch(text))):
                section = "appendix"
            elif numbered and section in ("references", "appendix"):
                section = ""
            number = bool(_SECTION_NUMBER.fullmatch(text))  # labelled body or heading, by its size
            if number and section == "appendix" and not to_the_end:
                section = ""  # "7" then "Titles, ...": the text goes on
            if section and label not in _ALWAYS_DROPPED - {"figure", "table"}:
                labels[p][i] = section


# --------------------------------------------------------------------------- what is kept


def _keep(pages: Sequence[tuple[int, PageLayout]], labels: list[list[str]], settings: Settings) -> Selected:
    removed: list[Removed] = []
    out_pages: list[tuple[int, str]] = []
    flat: list[tuple[int, str, Block]] = []
    for (number, page), page_labels in zip(pages, labels):
        flat += [(number, label, block) for block, label in zip(page.blocks, page_labels)]
        if page.doubt:  # the blocks' text is not trusted: the plain text, less its furniture
            text, furniture = _plain_less_furniture(page, page_labels)
            removed += [Removed(number, label, block.text) for block, label in furniture]
            out_pages.append((number, text))
            continue
        footnote_starts = set()  # the marks the page's footnotes start with
        for block, label in zip(page.blocks, page_labels):
            if label == "footnote":
                for line in block.lines:
                    footnote_starts.update(mark for offset, mark in line.marks if offset == 0)
                    if m := re.match(r"[0-9]{1,3}|[*\u2020\u2021\u00a7\u00b6]", line.text):
                        footnote_starts.add(m.group(0))
        parts: list[str] = []
        previous_open = False  # the last kept text block ended mid-sentence
        for block, label in zip(page.blocks, page_labels):
            if not _kept(label, settings):
                removed.append(Removed(number, label, block.text))
                if label == "math" and settings.math == "placeholder":
                    parts.append("\n\n" + EQUATION + "\n\n")
                    previous_open = False
                continue
            text = _block_text(block, number, footnote_starts, removed, settings.citations == "remove")
            if label in _ON_ITS_OWN:
                headings = _headings_in(text) if label == "heading" else [text]
                parts.append("\n\n" + "\n\n".join(" ".join(part.split()) for part in headings) + "\n\n")
                previous_open = False
                continue
            parts.append(("\n" if previous_open else "\n\n") + text)
            previous_open = not _SENTENCE_END.search(text)
        text = "".join(parts).strip("\n")
        text = re.sub(r"\n{3,}", "\n\n", text)
        # Marks a font gives as superscript characters ("models¹"), not as raised runs.
        text, marks = patterns.remove_footnote_marks(text)
        removed += [Removed(number, "footnote mark", mark) for mark in marks]
        if settings.citations == "remove":
            text, spans = patterns.remove_citations(text)
            removed += [Removed(number, "citation", span) for span in spans]
        out_pages.append((number, text))
    return Selected(pages=out_pages, removed=tuple(removed), labels=flat)


# What geometry tells wherever the text comes from: the margins' furniture, and the cells
# and labels of tables and figures (their lines are short pieces side by side).
_CERTAIN = {"header", "footer", "page number", "stamp", "table", "figure"}


def _plain_less_furniture(page: PageLayout, labels: list[str]) -> tuple[str, list[tuple[Block, str]]]:
    """A page read in plain order (its layout in doubt): the plain text without the lines
    made only of the words of its certain blocks (_CERTAIN), which geometry still tells from
    the body; those (block, label) taken out. Nothing else is removed: the blocks that would
    say what a caption or a footnote is are the ones in doubt."""
    certain = [(block, label) for block, label in zip(page.blocks, labels) if label in _CERTAIN]
    left = Counter(w for block, _ in certain for w in words_of(block.text))
    kept = []
    for line in page.plain.split("\n"):
        words = Counter(words_of(line))
        if words and not words - left:  # every word of the line is one of theirs
            left -= words
            continue
        kept.append(line)
    return "\n".join(kept).strip(), certain


def _kept(label: str, settings: Settings) -> bool:
    if label in _ALWAYS_KEPT:
        return True
    if label in _ALWAYS_DROPPED:
        return False
    if label == "math":
        return settings.math == "keep"
    return bool(getattr(settings, _OPTIONAL[label]))


def _headings_in(text: str) -> list[str]:
    """A numbered heading block's text, a part for each numbered heading in it ("3. Data
    and Methodology" and "3.1 Sample and Data Sources" set one under the other). A title,
    or a heading that does not start with a number, is one part ("Deep Learning in" / "10
    Minutes")."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines or not _NUMBERED.match(lines[0].strip()):
        return [" ".join(lines)]
    parts: list[list[str]] = []
    for line in lines:
        if not parts or _NUMBERED.match(line.strip()):
            parts.append([line])
        else:
            parts[-1].append(line)
    return [" ".join(part) for part in parts]


def _block_text(block: Block, page: int, footnote_starts: set[str], removed: list[Removed],
                drop_citation_marks: bool) -> str:
    """The block's lines, paragraphs apart, with footnote marks out and other superscripts
    back in, except superscript reference numbers ("... (entry 5).⁷") when citations go."""
    paragraphs = []
    for lines in block.paragraphs():
        texts = []
        for line in lines:
            text = line.text
            for offset, mark in sorted(line.marks, reverse=True):
                before = text[offset - 1] if offset else ""
                after_word = before.isalpha() or before in ".,;:)\"'\u201d\u2019"
                footnote = mark in footnote_starts or mark.strip(",") in footnote_starts or not mark[0].isdigit()
                # A number raised after punctuation, or after a word of three letters or more,
                # refers to a note or a reference; after "x" or "10" it may be an exponent.
                word = re.search(r"(\w+)$", text[:offset])
                reference = mark[0].isdigit() and (not word or (len(word.group(1)) >= 3 and not word.group(1).isdigit()))
                if footnote and after_word:
                    removed.append(Removed(page, "footnote mark", mark))
                elif drop_citation_marks and after_word and reference:
                    removed.append(Removed(page, "citation", mark))
                else:
                    text = text[:offset] + mark + text[offset:]
            texts.append(text)
        paragraphs.append("\n".join(texts))
    return "\n\n".join(paragraphs)
