"""pipeline.ocr and OCR in the reading process: real Tesseract on small rasterised pages.

Skipped only where Tesseract is not installed (CI installs it: scripts/quickstart.py). The
scans are the factory's own pages rendered to images (tests/pdf_factory.scanned_pdf), so the
words they must give back are known.
"""

from __future__ import annotations

import json
import threading

import psutil
import pytest

from pipeline import NoTextError, OcrProgress, PageRead, RunFinished, Settings, TooComplexError, run
from pipeline import ocr
from pipeline.events import ChunkPlan
from pipeline.extract import PageText
from pipeline.sandbox import ReadLimit, read_pdf
from tests.pdf_factory import (
    GOOD_SCAN_TEXT,
    corrupt_image_pdf,
    huge_image_pdf,
    mixed_pdf,
    scanned_pdf,
    simple_pdf,
    zero_size_image_pdf,
)

needs_tesseract = pytest.mark.skipif(ocr.tesseract_missing() is not None,
                                     reason=f"Tesseract is not installed here: {ocr.tesseract_missing()}")

TEXTS = [
    "The garden was planned over the winter, bed by bed, with the paths drawn first.",
    "Tomatoes went where the sun stays longest, and the beans climbed the old fence.",
    "The harvest came late that year, but the cellar was full before the first frost.",
]
RULES = Settings(use_llm=False)


def words(text: str) -> list[str]:
    return [w.strip(".,") for w in text.split()]


def share_found(expected: str, got: str) -> float:
    """The share of the expected words that the text has, in any order."""
    have = set(words(got))
    want = words(expected)
    return sum(w in have for w in want) / len(want)


@pytest.fixture(scope="module")
def scan():
    return scanned_pdf(simple_pdf(TEXTS), 200)


def tesseracts() -> list[psutil.Process]:
    return [c for c in psutil.Process().children(recursive=True) if "tesseract" in c.name()]


# --------------------------------------------------------------------------- no Tesseract needed


def test_a_text_layer_of_codes_or_replacement_characters_is_no_text():
    assert ocr.needs_ocr("") and ocr.needs_ocr("  \n ")
    assert ocr.needs_ocr("(cid:12)(cid:7) (cid:99)") and ocr.needs_ocr("\ufffd\ufffd \ufffd")
    assert not ocr.needs_ocr("(cid:12) a") and not ocr.needs_ocr("Text")


def test_ocr_settings_are_checked():
    from pipeline.settings import SettingsError

    assert Settings(ocr="always", ocr_language="deu+eng", ocr_dpi=150).validate()
    for bad, flag in (({"ocr": "yes"}, "--ocr"), ({"ocr_language": "eng; rm -rf /"}, "--ocr-language"),
                      ({"ocr_dpi": 20}, "--ocr-dpi"), ({"ocr_page_seconds": 0}, "--ocr-page-seconds")):
        with pytest.raises(SettingsError, match=flag):
            Settings(**bad).validate()


def test_hocr_lines_become_blocks_sideways_lines_rotated_bold_lines_by_their_ink():
    """Tesseract's hOCR made by hand: a heading with twice the ink, two body lines, and a
    line set sideways in the margin; at 144 dpi a pixel is half a point."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (1200, 800), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((200, 100, 700, 130), fill=0)  # the heading: all ink
    for top in (200, 240):  # body lines: half ink
        for x in range(200, 1000, 4):
            draw.line((x, top, x, top + 30), fill=0, width=2)
    draw.rectangle((40, 200, 70, 700), fill=0)

    def line(box, text, size, angle=0):
        x0, y0, x1, y1 = box
        words = "".join(f"<span class='ocrx_word' title='bbox {x0} {y0} {x1} {y1}; x_wconf 90'>{w}</span>"
                        for w in text.split())
        extra = f"; textangle {angle}" if angle else ""
        return f"<span class='ocr_line' title='bbox {x0} {y0} {x1} {y1}{extra}; x_size {size}'>{words}</span>"

    hocr = ("<html xmlns='http://www.w3.org/1999/xhtml'><body><div class='ocr_page'>"
            + line((200, 100, 700, 130), "1 Introduction", 24)
            + line((200, 200, 1000, 230), "The first line of the body", 23)
            + line((200, 240, 1000, 270), "and its second line.", 25)
            + line((40, 200, 70, 700), "arXiv:2402.13116v4 [cs.CL]", 24, angle=90)
            + "</div></body></html>").encode()
    page = ocr.page_from_hocr(hocr, image, 0.5)
    blocks = page.layout.blocks
    assert [b.text for b in blocks] == ["1 Introduction", "The first line of the body\nand its second line.",
                                        "arXiv:2402.13116v4 [cs.CL]"]
    assert blocks[0].lines[0].bold and not blocks[1].lines[0].bold
    assert blocks[2].rotated and not blocks[0].rotated
    assert blocks[1].lines[0].size == blocks[1].lines[1].size  # snapped to the body's size
    assert page.confidence == 90.0 and page.words == 14
    with pytest.raises(ocr.OcrPageError, match="no text"):
        ocr.page_from_hocr(b"<html xmlns='http://www.w3.org/1999/xhtml'><body/></html>", image, 0.5)


def test_ocr_off_says_how_to_turn_it_on(scan):
    with pytest.raises(NoTextError, match=r"it looks scanned.*Turn OCR on"):
        list(run(scan, RULES.with_(ocr="never")))


def test_without_tesseract_a_scan_gets_the_message_that_names_how_to_install_it(scan, monkeypatch):
    monkeypatch.setenv("PDF_CLEANER_TESSERACT", "/no/such/tesseract")  # the reading process inherits it
    with pytest.raises(NoTextError, match=r"cannot be read by OCR here because Tesseract OCR is not installed: "
                                          r"install Tesseract OCR \(Debian/Ubuntu: sudo apt-get install tesseract-ocr"):
        list(run(scan, RULES))


# --------------------------------------------------------------------------- real Tesseract


@needs_tesseract
def test_a_scanned_page_is_read_with_progress_confidence_and_a_report(scan, tmp_path):
    report = tmp_path / "report.jsonl"
    events = list(run(scan, RULES, report_path=report))
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("OcrProgress") < kinds.index("PageRead")
    progress = [(e.page, e.position, e.selected) for e in events if isinstance(e, OcrProgress)]
    assert progress == [(1, 1, 3), (2, 2, 3), (3, 3, 3)]
    reads = [e for e in events if isinstance(e, PageRead)]
    assert all(r.error is None and r.ocr_confidence > 80 for r in reads)
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    assert plan.ocr_pages == tuple((r.page, r.ocr_confidence) for r in reads) and not plan.notes
    text = events[-1].text
    assert share_found(" ".join(TEXTS), text) >= 0.97, text
    summary = json.loads(report.read_text(encoding="utf-8").splitlines()[-1])
    assert summary["ocr"] == [{"page": r.page, "confidence": r.ocr_confidence} for r in reads]


@needs_tesseract
def test_a_mixed_document_is_read_page_by_page():
    pdf = mixed_pdf(simple_pdf(TEXTS), scanned=[2], dpi=200)
    events = list(run(pdf, RULES))
    reads = [e for e in events if isinstance(e, PageRead)]
    assert [r.ocr_confidence is not None for r in reads] == [False, True, False]
    assert [e.page for e in events if isinstance(e, OcrProgress)] == [2]
    text = events[-1].text
    assert text.index("garden") < text.index("Tomatoes") < text.index("harvest")
    # "always" reads the text pages by OCR too.
    always = list(run(pdf, RULES.with_(ocr="always")))
    assert all(e.ocr_confidence is not None for e in always if isinstance(e, PageRead))


@needs_tesseract
@pytest.mark.parametrize("make, why", [
    (lambda: huge_image_pdf(good_page=True), "an image of 20,000 x 20,000 pixels is too large to read"),
    (lambda: huge_image_pdf(nested=True, good_page=True), "an image of 20,000 x 20,000 pixels is too large to read"),
    (lambda: zero_size_image_pdf(good_page=True), ocr.NO_TEXT_FOUND),
    (lambda: corrupt_image_pdf(good_page=True), ocr.NO_TEXT_FOUND),
])
def test_a_hostile_image_fails_its_page_only_within_bounds(make, why):
    items = list(read_pdf(make(), RULES))
    pages = [i for i in items if isinstance(i, PageText)]
    assert [p.page for p in pages] == [1, 2] and not any(isinstance(i, ReadLimit) for i in items)
    assert pages[0].error == f"OCR: {why}" and pages[0].text == ""
    assert pages[1].error is None and share_found(GOOD_SCAN_TEXT, pages[1].text) >= 0.9


@needs_tesseract
def test_every_page_failing_ocr_says_so():
    with pytest.raises(NoTextError, match=r"OCR could not read it either: no text found on the page"):
        list(run(zero_size_image_pdf(), RULES))


@needs_tesseract
def test_the_time_limit_grows_with_each_ocr_page_and_names_its_setting():
    pdf = scanned_pdf(simple_pdf(TEXTS * 3), 300)  # nine scanned pages
    # Two seconds for the whole reading, less than nine pages of OCR take: only OCR's own
    # allowance lets every page through.
    stats = []
    items = list(read_pdf(pdf, RULES.with_(read_timeout=2, ocr_page_seconds=20), stats=stats))
    assert [i.page for i in items if isinstance(i, PageText) and not i.error] == list(range(1, 10))
    assert stats[0].seconds > 2
    # Too little time per page (no Tesseract starts, reads a page and answers in 10 ms): each
    # page fails alone, saying why; the reading's limit, if it comes first, names both settings.
    try:
        items = list(read_pdf(pdf, RULES.with_(read_timeout=2, ocr_page_seconds=0.01)))
    except NoTextError as exc:  # every page failed: the message says why
        assert "it took longer than 0.01 s" in str(exc)
    except TooComplexError as exc:  # on a busy machine the reading's limit came before any page
        assert "for each page read by OCR" in str(exc) and "--ocr-page-seconds" in str(exc)
    else:  # the reading's limit ended it after some pages: kept, with the note
        limit = items[-1]
        assert isinstance(limit, ReadLimit), items
        assert "for each page read by OCR" in limit.message and "--ocr-page-seconds" in limit.message
    assert not tesseracts()


@needs_tesseract
def test_stop_kills_the_reading_and_its_tesseract_processes():
    pdf = scanned_pdf(simple_pdf(TEXTS * 3), 300)
    stop = threading.Event()
    seen = []
    for item in read_pdf(pdf, RULES, stop):
        seen.append(item)
        if type(item).__name__ == "OcrStarted":
            stop.set()
    assert not [i for i in seen if isinstance(i, PageText)]
    assert not tesseracts()


@needs_tesseract
def test_a_two_column_scan_keeps_its_reading_order():
    from tests.pdf_factory import paper

    made = paper(pages=1, columns=2)
    reference = next(e for e in run(made.pdf, RULES.with_(ocr="never")) if isinstance(e, RunFinished)).text
    got = next(e for e in run(scanned_pdf(made.pdf, 300), RULES) if isinstance(e, RunFinished)).text
    paragraphs = [p for p in reference.split("\n\n") if len(p.split()) >= 12]
    starts = [got.find(" ".join(p.split()[:6])) for p in paragraphs]
    found = [s for s in starts if s >= 0]
    assert len(found) >= 0.8 * len(paragraphs) and found == sorted(found), (paragraphs, got)


# --------------------------------------------------------------------------- end to end (slow)


@pytest.mark.slow
@needs_tesseract
def test_the_command_line_cleans_a_scan_with_the_model_and_shows_ocr(scan, tmp_path):
    import subprocess
    import sys

    from tests.test_cli import ROOT

    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(scan)
    out, report = tmp_path / "scan.txt", tmp_path / "scan.jsonl"
    done = subprocess.run([sys.executable, "-m", "pipeline", str(pdf), "-o", str(out), "--report", str(report),
                           "--max-new-tokens", "128"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "OCR page 3/3" in done.stderr and "OCR: 3 pages (1, 2, 3), mean confidence" in done.stderr
    assert share_found(" ".join(TEXTS), out.read_text(encoding="utf-8")) >= 0.95
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [item["page"] for item in lines[-1]["ocr"]] == [1, 2, 3]
    assert any(line.get("source") == "llm" for line in lines[:-1])  # the model cleaned OCR'd text


@pytest.mark.slow
@needs_tesseract
def test_the_api_streams_ocr_progress_and_the_document_panel_names_the_ocr_pages(server, scan, tmp_path):
    from gradio_client import Client, handle_file

    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(scan)
    client = Client(server.url, verbose=False)
    job = client.submit(handle_file(str(pdf)), api_name="/clean", max_chars=2400, max_new_tokens=128)
    final = job.result(timeout=600)
    progress = [outputs[1] for outputs in job.outputs()]
    assert any(line.startswith("OCR page ") for line in progress), progress
    document, text = final[0], final[2]
    assert "read by OCR: pages 1–3, mean confidence" in document
    assert share_found(" ".join(TEXTS), text) >= 0.95
    # The panel before a run reads the text layer only: OCR runs once, in the run.
    panel, raw = client.predict(handle_file(str(pdf)), api_name="/extract")
    assert "no text layer: pages 1–3 (read by OCR when you run)" in panel and raw == ""
