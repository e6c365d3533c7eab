"""Pages without a text layer, read by OCR: rendered with PDFium, recognised by Tesseract, and
laid out as blocks in reading order like any other page.

    reader = PageReader(pdfium_doc, language="eng", dpi=300, page_seconds=60)
    if needs_ocr(text_layer):                     # empty, or nothing but (cid:NN) or U+FFFD
        image = reader.render(pypdf_page, 7)      # raises OcrPageError for a page too big to read
        page = recognize(image, ...)              # OcrPage: layout, text, mean confidence

Tesseract (Debian's tesseract-ocr, driven by pytesseract) finds the page's columns, lines
and words; each of its lines becomes a layout.Line with its box in points, and
pipeline.layout groups the lines into blocks and orders them as it does a text page's
(lines set sideways, such as an arXiv stamp, become rotated blocks), so the structure
stage (running heads, page numbers, captions...) and the rules work on OCR'd pages too. Font
sizes are estimated from the lines' heights, and snapped to the page's body size when near
it: an OCR'd line has no font, so headings show only by size.

Each recognition runs in its own tesseract process with one thread (OMP_THREAD_LIMIT=1: its
OpenMP threads cost more than they give), several pages at once across the cores, each with
a time limit. A page that cannot be read fails alone: an image too large to decode within
the memory limit is refused before rendering, a page too large to render at a useful
resolution likewise, and a page where OCR finds no text is reported as such.

What it does not do: no reading of text layers (pipeline.extract decides which pages need
OCR and keeps the budget), no time limit of the whole reading (pipeline.sandbox), no Gradio.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import statistics
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from pipeline.layout import Line, PageLayout, blocks_in_order

DEFAULT_LANGUAGE = "eng"
MAX_IMAGE_PIXELS = 150_000_000  # an embedded image larger than this is not decoded (600 dpi A3 is 70 MP)
MAX_RENDER_PIXELS = 40_000_000  # a page is rendered at most this large (A4 at 300 dpi is 8.7 MP)
MIN_DPI = 70  # a page that fits MAX_RENDER_PIXELS only below this is too large to read
LOW_CONFIDENCE = 60.0  # mean word confidence (0-100) below which a page is flagged
_SNAP = 0.12  # line sizes within this share of the page's body size are the body size
_ROW_PER_EM = 0.89  # Tesseract's row height (x_size) in ems of the font, measured on generated pages
_BOLD_INK = 1.4  # a line with this much more ink than the page's median line is bold
NO_TEXT_FOUND = "no text found on the page (a blank page, or an image that could not be decoded)"
INSTALL_HINT = (
    "install Tesseract OCR (Debian/Ubuntu: sudo apt-get install tesseract-ocr; macOS: brew install "
    "tesseract) and pip install pytesseract"
)
_JUNK = re.compile(r"\(cid:\d+\)|\ufffd|\s")


class OcrPageError(Exception):
    """One page could not be read by OCR; the message says why, for the user."""


@dataclass(frozen=True)
class OcrPage:
    layout: PageLayout
    confidence: float  # mean word confidence, 0-100, weighted by the words' lengths
    words: int

    @property
    def text(self) -> str:
        return self.layout.text


def needs_ocr(text: str) -> bool:
    """Whether a page's text layer is empty or plainly not text: nothing but (cid:NN)
    codes (fonts without a Unicode map), replacement characters and spaces."""
    return not _JUNK.sub("", text or "")


def _tesseract_command() -> str:
    return os.environ.get("PDF_CLEANER_TESSERACT") or "tesseract"


def tesseract_missing() -> str | None:
    """Why OCR cannot run here (with how to install it), or None when it can."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return f"the pytesseract package is not installed: {INSTALL_HINT}"
    if shutil.which(_tesseract_command()) is None:
        return f"Tesseract OCR is not installed: {INSTALL_HINT}"
    return None


def languages() -> list[str]:
    """The languages Tesseract has data for here (empty when it is missing)."""
    if tesseract_missing():
        return []
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = _tesseract_command()
    try:
        return sorted(set(pytesseract.get_languages(config="")) - {"osd"})
    except Exception:  # a broken install: the run says so when it tries
        return []


def check_language(language: str) -> str | None:
    """Why `language` cannot be used (not installed), or None."""
    have = languages()
    missing = [code for code in language.split("+") if have and code not in have]
    if missing:
        return (f"Tesseract has no data for {', '.join(missing)} here (installed: {', '.join(have) or 'none'}); "
                f"install it, e.g. sudo apt-get install tesseract-ocr-{missing[0]}")
    return None


def default_workers() -> int:
    """Pages recognised at once: one tesseract process a core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


class OcrReader:
    """OCR for the pages of one document, in the reading process.

    `wanted(text_layer)` says whether a page is read by OCR; `submit(reader, number)` renders
    the page (here: PDFium is not thread-safe) and hands it to a pool of `workers` threads,
    each running one tesseract process; the Future gives an OcrPage or raises OcrPageError.
    `started(number)` is called as each page is submitted (progress, and the reading's time
    limit grows by `page_seconds` a page). `unavailable` says why OCR cannot run, or is None.
    `open_doc()` gives the PDFium document (or None), called once, when a page needs it.
    """

    def __init__(self, open_doc, mode: str = "auto", language: str = DEFAULT_LANGUAGE, dpi: int = 300,
                 page_seconds: float = 60.0, started=None, workers: int | None = None):
        self.open_doc, self.mode, self.language, self.dpi = open_doc, mode, language, dpi
        self.page_seconds, self.started = page_seconds, started
        self.workers = workers or default_workers()
        self._pool: ThreadPoolExecutor | None = None

    @functools.cached_property
    def doc(self):
        """The PDFium document pages are rendered from, opened when the first page needs it."""
        return self.open_doc()

    @functools.cached_property
    def unavailable(self) -> str | None:
        """Why OCR cannot run, or None; found out when the first page needs OCR (it asks
        Tesseract for its languages: a document with a text layer never pays for that)."""
        if self.mode == "never":
            return None
        why = tesseract_missing() or check_language(self.language)
        if why is None and self.doc is None:
            why = "PDFium could not open the file to render its pages"
        return why

    def wanted(self, text_layer: str) -> bool:
        return self.mode == "always" or (self.mode == "auto" and needs_ocr(text_layer))

    def submit(self, reader, number: int) -> Future:
        if self.started is not None:
            self.started(number)
        if self.unavailable:
            return _failed(OcrPageError(self.unavailable))
        try:
            image, resolution = render(self.doc, reader.pages[number - 1], number, self.dpi)
        except OcrPageError as exc:
            return _failed(exc)
        except MemoryError:
            return _failed(OcrPageError("the page is too large to render within the memory limit"))
        except Exception as exc:  # PDFium refusing a page: that page fails, the others go on
            return _failed(OcrPageError(f"the page could not be rendered ({type(exc).__name__})"))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="pdf-cleaner-ocr")
        return self._pool.submit(recognize, image, resolution, self.language, self.page_seconds)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _failed(exc: Exception) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


# --------------------------------------------------------------------------- rendering


def largest_image(page) -> tuple[int, int]:
    """(width, height) in pixels of the largest image the page draws, from the images'
    dictionaries only (nothing is decoded); forms are looked into one level deep."""
    best = (0, 0)

    def look(resources, depth: int) -> None:
        nonlocal best
        try:
            objects = resources.get("/XObject") if resources is not None else None
            objects = objects.get_object() if objects is not None else {}
            for name in list(objects.keys())[:1000]:
                xobject = objects[name].get_object()
                kind = xobject.get("/Subtype")
                if kind == "/Image":
                    width, height = int(xobject.get("/Width", 0)), int(xobject.get("/Height", 0))
                    if width * height > best[0] * best[1]:
                        best = (width, height)
                elif kind == "/Form" and depth < 2:
                    look(xobject.get("/Resources"), depth + 1)
        except Exception:  # a damaged dictionary: PDFium decides what it can draw
            return

    look(page.get("/Resources"), 0)
    return best


def render(pdfium_doc, pypdf_page, number: int, dpi: int):
    """Page `number` (1-based) as a grayscale PIL image at `dpi`, or at less when the page is
    larger than MAX_RENDER_PIXELS; OcrPageError when it cannot be read."""
    width, height = largest_image(pypdf_page)
    if width * height > MAX_IMAGE_PIXELS:
        raise OcrPageError(f"an image of {width:,} x {height:,} pixels is too large to read")
    page = pdfium_doc[number - 1]
    try:
        points_w, points_h = page.get_size()
        if points_w <= 0 or points_h <= 0:
            raise OcrPageError("the page has no area")
        scale = dpi / 72
        pixels = points_w * scale * points_h * scale
        if pixels > MAX_RENDER_PIXELS:
            scale *= (MAX_RENDER_PIXELS / pixels) ** 0.5
            if scale * 72 < MIN_DPI:
                raise OcrPageError(f"the page is {points_w / 72:,.0f} x {points_h / 72:,.0f} inches, "
                                   "too large to read by OCR")
        bitmap = page.render(scale=scale, grayscale=True)
        try:
            return bitmap.to_pil(), scale * 72
        finally:
            bitmap.close()
    finally:
        page.close()


# --------------------------------------------------------------------------- recognition


def recognize(image, resolution: float, language: str, seconds: float) -> OcrPage:
    """Recognise one page image (rendered at `resolution` dpi) within `seconds`."""
    import pytesseract

    os.environ["OMP_THREAD_LIMIT"] = "1"  # read by the tesseract process this starts
    if resolution >= _DESPECKLE_DPI:
        from PIL import ImageFilter

        # Specks of a photocopy or a fax make Tesseract see stray marks and swell its rows;
        # a 3x3 median removes them. Strokes are several pixels wide at this resolution, so
        # the letters stay (below it, thin strokes would go too).
        image = image.filter(ImageFilter.MedianFilter(3))
    pytesseract.pytesseract.tesseract_cmd = _tesseract_command()
    try:
        with tempfile.TemporaryDirectory(prefix="pdf-cleaner-ocr-") as folder:
            # An uncompressed bitmap: writing a page as PNG (pytesseract's way) costs a third of a second.
            path = os.path.join(folder, "page.bmp")
            image.save(path)
            hocr = pytesseract.image_to_pdf_or_hocr(path, lang=language, config="--psm 3", extension="hocr",
                                                    timeout=seconds)
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" in str(exc).lower():
            raise OcrPageError(f"it took longer than {seconds:g} s") from None
        raise OcrPageError(f"Tesseract failed: {exc}") from None
    except pytesseract.TesseractError as exc:
        raise OcrPageError(f"Tesseract failed: {exc.message or exc.status}") from None
    return page_from_hocr(hocr, image, 72 / resolution)


@dataclass
class _OcrLine:
    text: str
    box: tuple[float, float, float, float]  # x0, top, x1, bottom in pixels: the words' ink
    size: float  # Tesseract's row height (x_size) in pixels, ascenders to descenders
    descent: float  # how far descenders reach below the baseline, in pixels
    slope: float  # the baseline's slope (dy/dx); 0 for a line set sideways
    offset: float  # the baseline's height at the box's left edge, from the box's bottom
    sideways: bool
    confidences: list[tuple[float, int]]  # (word confidence, word length)
    ink: float = 0.0  # share of dark pixels in the line's box


_LINE_CLASSES = {"ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"}
_BBOX = re.compile(r"bbox (-?\d+) (-?\d+) (-?\d+) (-?\d+)")
_BASELINE = re.compile(r"baseline (-?[\d.]+) (-?[\d.]+)")
_FIELD = re.compile(r"(x_size|x_descenders|x_wconf|textangle) (-?[\d.]+)")
_DESPECKLE_DPI = 250  # pages rendered at this resolution or more are despeckled before OCR
_SPECK = 50  # a word of no letter or digit recognised with less confidence than this is a speck


def _hocr_lines(hocr: bytes) -> list[_OcrLine]:
    """The lines of Tesseract's hOCR, each with its words' text and confidences."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.fromstring(hocr)
    lines = []
    for element in root.iter():
        if element.get("class") not in _LINE_CLASSES:
            continue
        title = element.get("title", "")
        box = _BBOX.search(title)
        fields = dict(_FIELD.findall(title))
        words, confidences, boxes = [], [], []
        for word in element:
            if word.get("class") != "ocrx_word":
                continue
            text = "".join(word.itertext()).strip()
            word_title = word.get("title", "")
            confidence = float(dict(_FIELD.findall(word_title)).get("x_wconf", 0))
            word_box = _BBOX.search(word_title)
            # Noise in a scan comes back as stray punctuation read with little confidence.
            if not text or word_box is None or (confidence < _SPECK and not any(c.isalnum() for c in text)):
                continue
            words.append(text)
            confidences.append((confidence, len(text)))
            boxes.append([float(v) for v in word_box.groups()])
        if not words or box is None:
            continue
        x0, top, x1, bottom = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                               max(b[2] for b in boxes), max(b[3] for b in boxes))
        line_bottom = float(box.group(4))
        baseline = _BASELINE.search(title)
        slope, offset = (float(baseline.group(1)), float(baseline.group(2))) if baseline else (0.0, 0.0)
        sideways = float(fields.get("textangle", 0)) % 180 != 0
        lines.append(_OcrLine(" ".join(words), (x0, top, x1, bottom), float(fields.get("x_size", bottom - top)),
                              float(fields.get("x_descenders", 0)), slope, offset + (line_bottom - bottom),
                              sideways, confidences))
    return lines


def _upright_box(line: _OcrLine, angle: float) -> tuple[float, float, float, float]:
    """The line's box on the page turned by -`angle` (radians; the page's skew): its
    baseline's middle turned, with the row's height above and below it. A skewed scan's
    lines then lie one under another as on the page that was scanned, not in overlapping
    slanted boxes; noise specks above or below a line do not stretch its box either."""
    x0, top, x1, bottom = line.box
    half = (x1 - x0) / 2
    middle_x, baseline = x0 + half, bottom + line.offset + line.slope * half
    cos, sin = math.cos(angle), math.sin(angle)
    x, y = middle_x * cos + baseline * sin, -middle_x * sin + baseline * cos
    return x - half, y - (line.size - line.descent), x + half, y + line.descent


def page_from_hocr(hocr: bytes, image, points_per_pixel: float) -> OcrPage:
    """Tesseract's lines as a PageLayout in points: sizes from its row heights, bold from the
    ink in a line's box, blocks grouped and ordered by pipeline.layout."""
    lines = _hocr_lines(hocr)
    if not lines:
        raise OcrPageError(NO_TEXT_FOUND)
    for line in lines:
        histogram = image.crop(tuple(int(v) for v in line.box)).histogram()
        line.ink = sum(histogram[:128]) / max(1, sum(histogram))
    upright_ink = [line.ink for line in lines if not line.sideways] or [1.0]
    ink = statistics.median(upright_ink) or 1.0
    # The page's skew: the median slope of the baselines of its longer lines.
    long = [line.slope for line in lines if not line.sideways and line.box[2] - line.box[0] > 0.2 * image.width]
    angle = math.atan(statistics.median(long)) if long else 0.0
    made: list[Line] = []
    rotated: list[Line] = []
    for line in lines:
        box = line.box if line.sideways else _upright_box(line, angle)
        x0, top, x1, bottom = (v * points_per_pixel for v in box)
        size = round(line.size * points_per_pixel / _ROW_PER_EM, 1)
        bold = not line.sideways and line.ink >= _BOLD_INK * ink
        made_line = Line(text=line.text, x0=x0, top=top, x1=x1, bottom=bottom, size=size,
                         font="OCR-Bold" if bold else "OCR")
        (rotated if line.sideways else made).append(made_line)
    if made:
        body = statistics.median(line.size for line in made)
        # Within a few per cent of the body's size, a line is the body's size: the row
        # height Tesseract measures varies a little from line to line, the font does not.
        made = [replace(line, size=body) if abs(line.size - body) <= _SNAP * body else line for line in made]
    words = [c for line in lines for c in line.confidences]
    confidence = sum(c * n for c, n in words) / max(1, sum(n for _, n in words))
    layout = PageLayout(width=image.width * points_per_pixel, height=image.height * points_per_pixel,
                        blocks=tuple(blocks_in_order(made, rotated)))
    return OcrPage(layout, round(confidence, 1), len(words))
