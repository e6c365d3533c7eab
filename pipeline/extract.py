"""Read a PDF with pypdf: check the bytes, open it (password), read its metadata, and
extract the text of selected pages one page at a time, within a character budget.

    data = read_source("paper.pdf")
    reader = open_pdf(data, password=None)
    info = read_info(reader, len(data))
    pages = parse_page_range("1-3,5,10-", info.page_count)
    for page in iter_pages(reader, pages, max_chars=100_000):
        print(page.page, len(page.text), page.error, page.budget_reached)

With a layout document (pipeline.layout.open_layout: PDFium), a page's text is its blocks
in reading order and the page carries its layout (PageText.layout); without one, or when
PDFium's text looks wrong or a page's forms go past pypdf's limit (_read_with_layout), it
is pypdf's default extraction, which follows the order of the page's content stream. pypdf opens the
file, checks the password, reads the metadata, and decodes and parses every page's content
with its limits either way: a page it refuses is refused.

What it does not do: no normalization (ligatures, hyphenation, headers, ... are
pipeline.normalize's job), no classification of blocks (pipeline.structure), no
joining of pages (callers join them; the separator is theirs to choose). OCR of pages
without a text layer is pipeline.ocr's; this module decides which pages need it.

This module runs wherever it is called; pipeline.sandbox calls it in a child process with
time and memory limits, after apply_pypdf_limits() has tightened pypdf's own limits
(PYPDF_LIMITS). A pypdf limit, a RecursionError or a MemoryError becomes "too complex to
read" with the reason in a few words.

Every failure a user can cause becomes a PipelineError subclass with a message saying
what to do. Only two places catch exceptions broadly: opening the file (pypdf raises
many exception types on broken files) and extracting one page (one bad page must not
cost the others). Anything else that goes wrong is a bug and propagates as one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO

import pypdf
from pypdf.errors import DependencyError, LimitReachedError

from pipeline.errors import (
    DamagedPdfError,
    EmptyFileError,
    FileTooLargeError,
    NoTextError,
    NotAPdfError,
    PageRangeError,
    PasswordRequiredError,
    PipelineError,
    TooComplexError,
    WrongPasswordError,
)
from pipeline.events import DocumentInfo
from pipeline.layout import PageLayout, read_layout

# The PDF spec lets a file carry junk before the header; readers (Acrobat included)
# look for it within the first 1024 bytes.
_HEADER = b"%PDF-"
_HEADER_WINDOW = 1024

# Metadata comes from the file, so it is untrusted: cap what we show.
_MAX_META_CHARS = 300

DAMAGED_MESSAGE = (
    "This PDF is damaged or truncated and cannot be read. "
    "Try re-saving or re-exporting it (for example 'Print to PDF'), then upload it again."
)
NO_TEXT_MESSAGE = (
    "No selectable text on any page: it looks scanned (images of text). "
    "Turn OCR on (ocr 'auto' or 'always'; --ocr on the command line), or run OCR first, e.g. ocrmypdf, "
    "then upload the result."
)
NO_TEXT_MESSAGE_NO_OCR = (
    "No selectable text on any page: it looks scanned (images of text), and it cannot be read by OCR "
    "here because {why}. Or run OCR first, e.g. ocrmypdf, then upload the result."
)
NO_TEXT_OCR_FAILED = (
    "No selectable text on any page (it looks scanned), and OCR could not read it either: {why}. If the pages "
    "hold text, try a higher OCR resolution (ocr_dpi; --ocr-dpi) or the document's language (--ocr-language)."
)
OCR_ERROR = "OCR: "  # how the error of a page that OCR could not read starts
_TOO_COMPLEX = "too complex to read: "
PASSWORD_REQUIRED_MESSAGE = "This PDF is encrypted: enter its password."
WRONG_PASSWORD_MESSAGE = "The password does not open this PDF: check it and try again."
TOO_COMPLEX_MESSAGE = (
    "This PDF is too complex to read: {why}. Try re-saving it with another program "
    "(for example 'Print to PDF'), or select fewer pages."
)
CRYPTO_MISSING_MESSAGE = (
    "This PDF uses AES encryption, which needs the 'cryptography' package: "
    "install it with pip install 'pypdf[crypto]' and try again."
)


# --------------------------------------------------------------------------- pypdf's limits

# pypdf's own limits on what a file can make it do, tightened for text extraction. Every
# value stays far above what real documents need (tests/test_extract.py proves the text of
# the generated normal corpus does not change), and below what lets one small hostile file
# cost seconds of CPU or hundreds of MB: content streams are text and operators, never
# tens of MB; a page draws at most a few hundred forms; page trees are a few levels deep.
PYPDF_LIMITS = {
    "zlib_maximum_output_length": 30_000_000,  # pypdf default 75 MB
    "lzw_maximum_output_length": 30_000_000,
    "run_length_maximum_output_length": 30_000_000,
    "brotli_maximum_output_length": 30_000_000,
    "array_based_stream_maximum_output_length": 30_000_000,
    "stream_decoding_work_maximum_length": 100_000_000,  # default 300 MB
    "stream_filters_maximum_length": 8,  # default 16; real files use one or two
    "stream_parsing_work_maximum_count": 500_000,  # default 2,000,000 operands+operators per stream
    "xform_maximum_invocations_per_extraction": 1_000,  # default 5,000 forms per page
    "page_tree_maximum_depth": 50,  # default 100
}


def apply_pypdf_limits() -> None:
    """Make PYPDF_LIMITS pypdf's configuration for the current context (the reading process)."""
    pypdf.overwrite_configuration(**PYPDF_LIMITS)


# --------------------------------------------------------------------------- bytes


def read_source(
    source: str | os.PathLike | bytes | bytearray | memoryview, max_mb: float | None = None
) -> bytes:
    """The bytes of a path, of bytes-like data, or of a binary file object.

    Only the path's existence matters here, never its name: whether it is a PDF is
    decided from the bytes (see sniff()). Over `max_mb` megabytes (MiB, 2^20 bytes, as the
    web server's upload limit counts them) is FileTooLargeError, checked before a file is read.
    """
    limit = None if max_mb is None else (int(max_mb * 1024 * 1024), max_mb)
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_size(len(source), limit)
        return bytes(source)
    if hasattr(source, "read"):  # an open binary file (e.g. an upload's temp file)
        data = source.read() if limit is None else source.read(limit[0] + 1)
        if isinstance(data, str):
            raise TypeError("read_source needs a binary file object, got a text one")
        _check_size(len(data), limit)
        return bytes(data)
    path = os.fspath(source)
    try:
        with open(path, "rb") as fh:
            _check_size(os.fstat(fh.fileno()).st_size, limit)
            return fh.read()
    except FileNotFoundError as exc:
        raise PipelineError(f"File not found: {path}. Check the path and try again.") from exc
    except IsADirectoryError as exc:
        raise PipelineError(f"{path} is a folder, not a file: give the path of a PDF.") from exc
    except PermissionError as exc:
        raise PipelineError(f"Cannot read {path}: permission denied.") from exc


def _check_size(size: int, limit: tuple[int, float] | None) -> None:
    """FileTooLargeError when `size` bytes are over `limit` (bytes, and the MB the user set)."""
    if limit is not None and size > limit[0]:
        raise FileTooLargeError(
            f"This file is {size / 2**20:,.1f} MB, over the {limit[1]:g} MB file size limit. "
            "Select fewer pages in another program and save them as a smaller PDF, or raise the "
            "limit (max_file_mb; --max-file-mb on the command line, --max-file-size for the web app)."
        )


# Magic numbers for files people upload by mistake. Cheap to check and makes the
# message say more than "not a PDF".
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document (.doc/.xls/.ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)


def _binary_signature(data: bytes) -> bool:
    return data.startswith((b"PK\x03\x04", b"PK\x05\x06")) or any(
        data.startswith(magic) for magic, _ in _SIGNATURES
    )


def _looks_like(data: bytes) -> str | None:
    """A short guess at what non-PDF bytes are ("an HTML page", "a ZIP archive"), or None."""
    head = data[:_HEADER_WINDOW]
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        # Office and e-book formats are ZIP files; their first entry names give them away.
        if b"word/" in head:
            return "a Word document (.docx)"
        if b"ppt/" in head:
            return "a PowerPoint document (.pptx)"
        if b"xl/" in head:
            return "an Excel workbook (.xlsx)"
        if b"application/epub+zip" in head:
            return "an EPUB e-book"
        if b"opendocument" in head:
            return "an OpenDocument file"
        return "a ZIP archive"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:200]:
        return "an HTML page (perhaps a download page or an error page saved instead of the PDF)"
    if text.startswith(b"<?xml") or text.startswith(b"<svg"):
        return "an XML or SVG file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 1024-byte window is still text.
        if exc.start < len(head) - 4:
            return None
    if all(b >= 0x20 or b in b"\t\r\n\f" for b in head):
        return "plain text"
    return None


def sniff(data: bytes) -> None:
    """Raise EmptyFileError or NotAPdfError unless the bytes look like a PDF."""
    if not data:
        raise EmptyFileError("The file is empty: upload a PDF that has content.")
    if not data.strip():
        raise EmptyFileError(
            "The file holds only blank space (spaces and line breaks), no PDF: upload the PDF itself."
        )
    start = data.find(_HEADER, 0, _HEADER_WINDOW)
    # Junk before the header is allowed, but not a known file type's signature: a ZIP
    # that stores a PDF uncompressed has %PDF- near its start and is still a ZIP.
    if start != 0 and (start < 0 or _binary_signature(data)):
        what = _looks_like(data)
        seems = f" (it looks like {what})" if what else ""
        raise NotAPdfError(
            f"This file is not a PDF{seems}. Upload a PDF file: its content must start "
            "with %PDF-, whatever the file is called."
        )


# --------------------------------------------------------------------------- opening


def open_pdf(data: bytes, password: str | None = None) -> pypdf.PdfReader:
    """A PdfReader for the bytes, decrypted when they are encrypted.

    The empty password is always tried first (many "encrypted" PDFs only restrict
    printing or copying and open without one); `password` is tried only when it fails.
    A password given for an unencrypted file is ignored.
    """
    sniff(data)
    try:
        # strict=False: pypdf repairs what it can (bad xref offsets, junk before the
        # header) instead of refusing files that every viewer opens.
        reader = pypdf.PdfReader(BytesIO(data), strict=False)
    except DependencyError as exc:
        # pypdf tries the empty password while constructing the reader.
        raise PipelineError(CRYPTO_MISSING_MESSAGE) from exc
    except Exception as exc:  # pypdf raises many types on broken files; see module doc
        raise structure_error(exc, data) from exc

    if _is_encrypted(reader):
        _decrypt(reader, password)

    try:
        # Reading the page tree here makes a broken one fail now, as "damaged",
        # rather than later in the middle of a run.
        page_count = len(reader.pages)
    except DependencyError as exc:
        raise PipelineError(CRYPTO_MISSING_MESSAGE) from exc
    except Exception as exc:
        raise structure_error(exc, data) from exc
    if page_count == 0:
        raise DamagedPdfError(
            "This PDF has no pages. Try re-saving or re-exporting it, then upload it again."
        )
    return reader


def structure_error(exc: BaseException, data: bytes = b"") -> PipelineError:
    """The user's error for an exception pypdf raised while reading the file's structure.

    The bytes say more than pypdf's exception about common kinds of damage: a file cut
    short (no end-of-file marker near its end), or one with nothing PDF-like after its header.
    """
    why = _limit_reason(exc)
    if why is None and "cyclic" in str(exc).lower():
        why = "damaged: its page tree refers back to itself"
    if why is None:
        if data and b"obj" not in data[:_HEADER_WINDOW * 64]:
            return DamagedPdfError(
                "This file starts like a PDF but holds no PDF content after its first line. "
                "Export or download it again from where it came from."
            )
        if data and b"%%EOF" not in data[-_HEADER_WINDOW:]:
            return DamagedPdfError(
                "This PDF is cut short: its end is missing, as after an interrupted download or copy. "
                "Download or export it again, then upload the complete file."
            )
        return DamagedPdfError(DAMAGED_MESSAGE)
    if why.startswith("damaged: "):
        return DamagedPdfError(f"This PDF is damaged ({why.removeprefix('damaged: ')}) and cannot be read. "
                               "Try re-saving or re-exporting it, then upload it again.")
    return TooComplexError(TOO_COMPLEX_MESSAGE.format(why=why))


def _limit_reason(exc: BaseException) -> str | None:
    """Why an exception means the file is too complex (or loops), in a few words; None otherwise."""
    if isinstance(exc, RecursionError):
        return "its structure is nested too deeply"
    if isinstance(exc, MemoryError):
        return "it needs more memory than the reading limit allows; raise read_memory_mb (--read-memory-mb)"
    if isinstance(exc, LimitReachedError):
        text = str(exc).lower()
        if "cycle" in text or "loop" in text or "self reference" in text:
            return "damaged: its page tree refers back to itself"
        if "depth" in text:
            return "its page tree is nested too deeply"
        if "filter" in text:
            return "a stream has too many stacked filters"
        if "declared" in text:
            return "a stream declares a length far beyond what a PDF can hold"
        if any(word in text for word in ("length", "output", "decod", "decompress", "too large")):
            return "a stream decompresses to more data than a page of text can need"
        if "parsing" in text or "budget" in text or "tokens" in text:
            return "a page has too many drawing operations"
        if "xobject" in text or "form" in text or "invocation" in text:
            return "a page draws too many nested forms"
        return "it exceeds a safety limit of the PDF reader: " + " ".join(str(exc).split())[:120].rstrip(".")
    return None


def _is_encrypted(reader: pypdf.PdfReader) -> bool:
    try:
        return bool(reader.is_encrypted)
    except Exception:  # a trailer too broken to say: treat as unencrypted
        return False


def _decrypt(reader: pypdf.PdfReader, password: str | None) -> None:
    try:
        # The reader already tried the empty password, but it does not tell whether
        # that worked, so ask again (cheap: one key derivation).
        if reader.decrypt("") != pypdf.PasswordType.NOT_DECRYPTED:
            return
        if not password:
            raise PasswordRequiredError(PASSWORD_REQUIRED_MESSAGE)
        if reader.decrypt(password) == pypdf.PasswordType.NOT_DECRYPTED:
            raise WrongPasswordError(WRONG_PASSWORD_MESSAGE)
    except PipelineError:
        raise
    except DependencyError as exc:
        raise PipelineError(CRYPTO_MISSING_MESSAGE) from exc
    except NotImplementedError as exc:
        # e.g. certificate (public-key) security or an unknown security handler.
        raise PipelineError(
            "This PDF uses an encryption method that cannot be opened here "
            f"({exc}). Save an unencrypted copy and upload that."
        ) from exc
    except Exception as exc:  # a malformed /Encrypt dictionary
        raise DamagedPdfError(DAMAGED_MESSAGE) from exc


# --------------------------------------------------------------------------- metadata


def read_info(reader: pypdf.PdfReader, file_size: int) -> DocumentInfo:
    """Page count and the document information fields, readable; never fails on them.

    A field that is missing, empty or unreadable is None. Dates are shown as
    "2024-03-11 01:50:30 UTC" (or with their UTC offset); a date pypdf cannot parse is
    shown as its cleaned raw string rather than dropped.
    """
    try:
        meta = reader.metadata
    except Exception:  # an unreadable /Info must not stop the run
        meta = None

    def field(key: str) -> str | None:
        if meta is None:
            return None
        try:
            value = meta.get(key)
            if value is not None and hasattr(value, "get_object"):
                value = value.get_object()
        except Exception:
            return None
        return _clean_text(value)

    return DocumentInfo(
        page_count=len(reader.pages),
        title=field("/Title"),
        author=field("/Author"),
        subject=field("/Subject"),
        creator=field("/Creator"),
        producer=field("/Producer"),
        created=_readable_date(field("/CreationDate")),
        modified=_readable_date(field("/ModDate")),
        encrypted=_is_encrypted(reader),
        file_size=file_size,
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _clean_text(value: object) -> str | None:
    """A metadata value as a one-line string, or None when there is nothing in it."""
    if value is None:
        return None
    if isinstance(value, bytes):
        # pypdf gives undecodable strings as bytes; a BOM says UTF-16, else PDFDoc ~ latin-1.
        if value.startswith((b"\xfe\xff", b"\xff\xfe")):
            value = value.decode("utf-16", "replace")
        else:
            value = value.decode("latin-1")
    elif not isinstance(value, str):
        return None  # a number, a dictionary...: not a text field
    text = " ".join(_CONTROL.sub(" ", str(value).replace("\ufeff", "")).split())
    if not text:
        return None
    if len(text) > _MAX_META_CHARS:
        text = text[: _MAX_META_CHARS - 1].rstrip() + "\u2026"
    return text


# D:YYYYMMDDHHmmSSOHH'mm' with everything after the year optional (PDF 1.7, 7.9.4).
# Real files also omit "D:", drop the apostrophes or add spaces; accept those, but
# the whole string must match: "2024-13-45" is not "2024".
_PDF_DATE = re.compile(
    r"(?:D:)?\s*(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"\s*(?:(Z)|([+-])(\d{2})'?(\d{2})?'?)?(?:\d{2}'?\d{2}'?)?\s*"
)


def _readable_date(raw: str | None) -> str | None:
    """A PDF date string as "2024-03-11 01:50:30 UTC"; what it says when it is not one.

    _readable_date("D:20240311015030Z") -> "2024-03-11 01:50:30 UTC"
    _readable_date("D:20240311") -> "2024-03-11"
    _readable_date("last Tuesday") -> "last Tuesday"
    """
    if raw is None:
        return None
    m = _PDF_DATE.fullmatch(raw)
    if m:
        parts = [int(g) if g else None for g in m.groups()[:6]]
        year, month, day, hour, minute, second = parts
        try:
            when = datetime(year, month or 1, day or 1, hour or 0, minute or 0, second or 0)
        except ValueError:  # month 13, hour 25, ...
            when = None
        if when is not None:
            # Show only the precision the file gives.
            if month is None:
                return f"{year:04d}"
            if day is None:
                return when.strftime("%Y-%m")
            if hour is None:
                return when.strftime("%Y-%m-%d")
            text = when.strftime("%Y-%m-%d %H:%M:%S")
            zulu, sign, tz_h, tz_m = m.groups()[6:]
            if zulu or (sign and int(tz_h) == 0 and int(tz_m or 0) == 0):
                return text + " UTC"
            if sign and int(tz_h) < 24 and int(tz_m or 0) < 60:
                return f"{text} UTC{sign}{tz_h}:{tz_m or '00'}"
            return text
    # Not a date we understand: show what the file says rather than nothing.
    return raw.removeprefix("D:").strip() or None


# --------------------------------------------------------------------------- pages


def parse_page_range(spec: str | None, page_count: int) -> list[int]:
    """1-based page numbers selected by `spec`, sorted and unique.

    "1-3,5,10-" -> [1, 2, 3, 5, 10, 11, ...]; "-3" -> [1, 2, 3]; None, "" or "all" ->
    every page. Spaces are allowed. Numbers past the end are clipped; a spec that
    cannot be parsed, or that selects no page of this document, raises PageRangeError.
    """
    everything = list(range(1, page_count + 1))
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        if not everything:
            raise PageRangeError("This document has no pages.")
        return everything

    def bad(why: str) -> PageRangeError:
        return PageRangeError(
            f"Page range {spec.strip()!r} {why}. Use a form like 1-3,5,10- "
            f"(this document has {_pages(page_count)})."
        )

    selected: set[int] = set()
    parts = [p.strip() for p in spec.split(",")]
    if not any(parts):
        raise bad("is empty")
    for part in parts:
        if not part:
            continue  # tolerate "1,,3" and a trailing comma
        # People paste en or em dashes from documents.
        part = part.replace("\u2013", "-").replace("\u2014", "-")
        m = re.fullmatch(r"(\d*)\s*-\s*(\d*)|(\d+)", part)
        if not m or (m.group(3) is None and not m.group(1) and not m.group(2)):
            raise bad(f"cannot be read at {part!r}")
        if m.group(3) is not None:
            first = last = _number(m.group(3), page_count)
        else:
            first = _number(m.group(1), page_count) if m.group(1) else 1
            last = _number(m.group(2), page_count) if m.group(2) else page_count
            if first > last and m.group(1) and m.group(2):
                raise bad(f"runs backwards at {part!r}")  # "5-3"; "-0" merely selects nothing
        # Clip to the document; a range wholly past the end selects nothing.
        selected.update(range(max(first, 1), min(last, page_count) + 1))
    if not selected:
        raise bad("selects no page")
    return sorted(selected)


def _number(digits: str, page_count: int) -> int:
    # int() refuses very long digit strings; anything this long is past the end anyway.
    if len(digits) > 12:
        return page_count + 1
    return int(digits)


def _pages(n: int) -> str:
    return "1 page" if n == 1 else f"{n} pages"


@dataclass(frozen=True)
class PageText:
    page: int  # 1-based page number in the document
    text: str  # extracted text, cut at a word boundary when the budget ran out
    error: str | None = None  # why the page could not be read (its text is then "")
    budget_reached: bool = False  # the character budget stopped reading on this page
    incomplete: str | None = None  # why the text may miss parts of the page (a reader limit)
    layout: PageLayout | None = None  # blocks with geometry, when read with a layout document
    ocr_confidence: float | None = None  # read by OCR: its mean word confidence (0-100)


class _SkippedForms(logging.Handler):
    """Notices pypdf's warning that it stopped following a page's forms (its only sign)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if "form XObject invocations" in record.getMessage():
            self.seen = True


@contextlib.contextmanager
def _watch_skipped_forms():
    logger = logging.getLogger("pypdf._page")
    handler = _SkippedForms()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # watched, not printed
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def iter_pages(
    reader: pypdf.PdfReader, pages: list[int], max_chars: int | None = 100_000, layout_doc=None, ocr=None
) -> Iterator[PageText]:
    """Yield the text of each selected page as it is read.

    The budget (the notebook's max_chars) counts the characters of the pages' texts
    only: callers join pages with separators of their choice, which are not counted.
    When a page would take the total past the budget, its text is cut at the last
    whitespace at or before the budget, it is yielded with budget_reached=True, and
    reading stops. (The notebook cut mid-word.) A first word longer than the whole
    budget is the one case cut mid-word, so that something is returned.
    None means no budget.

    With `layout_doc` (pipeline.layout.open_layout of the same file), each page's text and
    layout come from it; the budget then cuts the layout at a line's end too.

    With `ocr` (a pipeline.ocr.OcrReader), a page whose text layer is empty or junk (or
    every page, in its "always" mode) is read by OCR instead, several at once; pages are
    still yielded in order, and the budget counts their OCR'd text.

    A page whose extraction raises is yielded with text "" and `error` set, and the
    others continue. After the last page, if no page gave any non-whitespace text:
    DamagedPdfError when every page failed, NoTextError otherwise (a scan).
    """
    if not pages:
        raise ValueError("iter_pages needs at least one page (see parse_page_range)")
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be at least 1 or None, got {max_chars}")

    total = 0
    failed = 0
    too_complex: list[str] = []  # why pages failed on a limit rather than on damage
    any_text = False
    ocr_errors: list[str] = []
    for page in _pages_in_order(reader, pages, layout_doc, ocr):
        if page.error:
            failed += 1
            if page.error.startswith(OCR_ERROR):
                ocr_errors.append(page.error.removeprefix(OCR_ERROR))
            elif page.error.startswith(_TOO_COMPLEX) and not page.error.startswith(_TOO_COMPLEX + "damaged: "):
                too_complex.append(page.error.removeprefix(_TOO_COMPLEX))
            yield page
            continue
        text, layout = page.text, page.layout
        if max_chars is not None and total + len(text) > max_chars:
            text = _cut(text, max_chars - total, nothing_kept=total == 0)
            if layout is not None:
                layout = layout.cut(len(text))
                text = layout.reading_text
            any_text = any_text or bool(text.strip())
            yield replace(page, text=text, layout=layout, budget_reached=True)
            break
        total += len(text)
        any_text = any_text or bool(text.strip())
        yield page

    if not any_text:
        if ocr_errors and failed == len(pages):
            raise NoTextError(NO_TEXT_OCR_FAILED.format(why=ocr_errors[0]))
        if failed == len(pages) and too_complex:
            raise TooComplexError(TOO_COMPLEX_MESSAGE.format(why=too_complex[0]))
        if failed == len(pages):
            raise DamagedPdfError(
                f"No page could be read ({_pages(failed)} failed): " + DAMAGED_MESSAGE
            )
        if ocr is not None and ocr.unavailable:
            raise NoTextError(NO_TEXT_MESSAGE_NO_OCR.format(why=ocr.unavailable))
        raise NoTextError(NO_TEXT_MESSAGE)


def _pages_in_order(reader: pypdf.PdfReader, pages: list[int], layout_doc, ocr) -> Iterator[PageText]:
    """Every selected page read, in order: its text layer, or its OCR (in the background,
    at most as many pages ahead as OCR runs at once)."""
    window: deque = deque()  # (page number, PageText or a Future of an OCR'd page), in order
    try:
        for number in pages:
            if ocr is not None and ocr.mode == "always":
                window.append((number, ocr.submit(reader, number)))
            else:
                page = _read_text_layer(reader, number, layout_doc)
                if ocr is not None and not page.error and ocr.wanted(page.text):
                    if ocr.unavailable:  # kept as it is, and said
                        page = replace(page, incomplete=f"no text layer, and OCR cannot run: {ocr.unavailable}")
                        window.append((number, page))
                    else:
                        window.append((number, ocr.submit(reader, number)))
                else:
                    window.append((number, page))
            while window and (len(window) > (ocr.workers if ocr else 0) or isinstance(window[0][1], PageText)):
                yield _settled(*window.popleft())
        while window:
            yield _settled(*window.popleft())
    finally:
        for _, item in window:
            if not isinstance(item, PageText):
                item.cancel()


def _settled(number: int, item) -> PageText:
    if isinstance(item, PageText):
        return item
    from pipeline.ocr import OcrPageError

    try:
        page = item.result()
    except OcrPageError as exc:
        return PageText(page=number, text="", error=f"{OCR_ERROR}{exc}")
    return PageText(page=number, text=page.text, layout=page.layout, ocr_confidence=page.confidence)


def _read_text_layer(reader: pypdf.PdfReader, number: int, layout_doc) -> PageText:
    """One page's text layer (and its layout, with a layout document); a page whose
    extraction raises comes back with `error` set."""
    layout = None
    try:
        with _watch_skipped_forms() as forms:
            page = reader.pages[number - 1]
            text = None
            if layout_doc is not None:
                layout, text = _read_with_layout(layout_doc, page, number, forms)
            if text is None:
                text = page.extract_text()
    except Exception as exc:  # one bad page must not cost the others; see module doc
        return PageText(page=number, text="", error=_describe(exc))
    incomplete = None
    if forms.seen:
        limit = pypdf.get_configuration().xform_maximum_invocations_per_extraction
        incomplete = f"the page draws more than {limit:,} forms; the text of the others is skipped"
    return PageText(page=number, text=text, incomplete=incomplete, layout=layout)


_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def _read_with_layout(
    layout_doc, page: pypdf.PageObject, number: int, forms: _SkippedForms
) -> tuple[PageLayout | None, str | None]:
    """(layout, its text) of a page from PDFium; (None, pypdf's text) or (None, None) when
    pypdf's text must serve (None: not read yet).

    pypdf decodes and parses the page's content stream first, with its limits: a page it
    refuses is refused (raises as extract_text would), so hostile content never reaches
    PDFium. A page that draws forms (figures often are) is read by pypdf's extract_text too,
    whose form limit bounds them: past the limit, or when PDFium's text is far longer or
    shorter than pypdf's (PDFium follows every form), pypdf's text serves. So it does when
    the layout looks wrong otherwise: far fewer characters than the stream's strings hold,
    or a right-to-left script (PDFium gives visual order).
    """
    contents = page.get_contents()
    shown = _shown_bytes(contents.operations) if contents is not None else 0
    plain = None
    if _draws_forms(page):
        plain = page.extract_text()
        if forms.seen:
            return None, plain
    try:
        layout = read_layout(layout_doc, number)
    except Exception:  # PDFium failing on a page pypdf parsed: keep pypdf's text
        return None, plain
    text = layout.reading_text
    letters = sum(not ch.isspace() for ch in text)
    # Far fewer characters than the page's strings hold, even at two bytes a character:
    # PDFium lost text (it cuts a run of tens of thousands of characters, for one).
    if letters < 0.25 * shown - 50 or _RIGHT_TO_LEFT.search(text):
        return None, plain
    if plain is not None:
        plain_letters = sum(not ch.isspace() for ch in plain)
        if not 0.5 * plain_letters <= letters <= 1.5 * plain_letters + 200:
            return None, plain
    return layout, text


_SHOW_TEXT = {b"Tj", b"TJ", b"'", b'"'}


def _shown_bytes(operations) -> int:
    """Bytes of the strings the content stream shows (Tj, TJ, ', ")."""
    total = 0
    for operands, operator in operations:
        if operator not in _SHOW_TEXT or not operands:
            continue
        value = operands[-1]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (str, bytes)):
                total += len(item)
    return total


def _draws_forms(page: pypdf.PageObject) -> bool:
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if isinstance(resources, dict) else None
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not isinstance(xobjects, dict):
        return False
    return any(getattr(x.get_object(), "get", lambda *_: None)("/Subtype") == "/Form" for x in xobjects.values())


def _cut(text: str, room: int, nothing_kept: bool) -> str:
    """text cut to at most `room` characters, at whitespace.

    _cut("alpha beta gamma", 12) -> "alpha beta"
    """
    if room >= len(text):
        return text
    # The last whitespace at or before the limit: text[room] itself may be a space,
    # in which case text[:room] ends on a whole word.
    for i in range(room, -1, -1):
        if text[i].isspace():
            return text[:i].rstrip()
    return text[:room] if nothing_kept else ""


def _describe(exc: BaseException) -> str:
    """A one-line account of why a page failed, for the progress display."""
    why = _limit_reason(exc)
    if why is not None:
        return f"{_TOO_COMPLEX}{why}"
    message = " ".join(str(exc).split())
    if len(message) > 160:
        message = message[:159] + "\u2026"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
