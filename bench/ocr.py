"""Benchmark: OCR accuracy and speed on scanned copies of generated papers.

    .venv/bin/python bench/ocr.py                        # 2-page papers, one and two columns
    .venv/bin/python bench/ocr.py --pages 4 --noise 0.05 --skew 2
    .venv/bin/python bench/ocr.py --ocrmypdf             # also OCRmyPDF, where it is installed

Generates a one-column and a two-column paper (tests/pdf_factory.paper) and scans each with
tests/pdf_factory.scanned_pdf: clean at 150 and 300 dpi, and at 300 dpi with salt-and-pepper
noise (--noise, the share of pixels) and with skew (--skew, degrees). For each case:

- reference: pipeline.run on the ORIGINAL text PDF, rules only, OCR off
  (Settings(use_llm=False, max_chars=10**7, ocr="never")), RunFinished.text;
- OCR: the same call on the scan with ocr="always" and ocr_dpi at the scan's dpi;
- word accuracy: 1 - word-level Levenshtein distance / reference words, words split on
  whitespace and compared case-sensitively with surrounding punctuation stripped (can go
  below 0 when the OCR text adds many words); a paragraph out of place costs twice its words;
- found: the share of reference words present in the OCR text as a multiset, in any order:
  recognition alone, so that a low word accuracy with a high "found" means words read
  right and put in the wrong order;
- order: the reference's paragraphs (blank-line separated, 6 words or more, whose first 6
  words occur once in it) looked up by their first 6 words in the OCR text (fuzzy, rapidfuzz
  partial matching, score >= 80); "k/n" is the longest run of them found in increasing
  position, out of all of them: n/n means every paragraph was found, in reading order;
- s/page: the OCR run's wall time (reading process, OCR, structure, normalization) over
  its pages, measured in the same run; conf: the mean of PageRead.ocr_confidence.

Then raw `tesseract` on one page rendered at 300 dpi (a PNG in a temporary folder), with
OMP_THREAD_LIMIT=1 and with it unset, to show what Tesseract's own threads give. With
--ocrmypdf, `ocrmypdf` OCRs the clean 300-dpi scans and its text layer is read by the same
rules-only run (skipped with a note when the command is missing).

It measures the rules-only path; no model is loaded and nothing is written into docs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz  # noqa: E402
from rapidfuzz.distance import Levenshtein  # noqa: E402

from pipeline import PageRead, RunFinished, Settings, run  # noqa: E402
from tests.pdf_factory import paper, scanned_pdf  # noqa: E402

KEY_WORDS = 6  # words of a paragraph's start looked up for the order check
MIN_SCORE = 80.0  # rapidfuzz partial_ratio at which a paragraph start counts as found


@dataclass
class Outcome:
    text: str
    seconds: float
    pages: int
    confidences: list[float]
    errors: list[str]


def read(pdf: bytes, **settings) -> Outcome:
    """One rules-only pipeline run, timed from the call to its RunFinished."""
    text, pages, confidences, errors = None, 0, [], []
    started = time.perf_counter()
    for event in run(pdf, Settings(use_llm=False, max_chars=10**7, **settings)):
        if isinstance(event, PageRead):
            pages += 1
            if event.error:
                errors.append(f"page {event.page}: {event.error}")
            confidence = getattr(event, "ocr_confidence", None)
            if confidence is not None:
                confidences.append(confidence)
        elif isinstance(event, RunFinished):
            text = event.text
    seconds = time.perf_counter() - started
    if text is None:
        raise RuntimeError("the run ended without RunFinished")
    return Outcome(text, seconds, pages, confidences, errors)


def words(text: str) -> list[str]:
    stripped = (w.strip(string.punctuation + "\u2014\u2013\u2018\u2019\u201c\u201d") for w in text.split())
    return [w for w in stripped if w]


def word_accuracy(reference: str, ocr: str) -> float:
    ref = words(reference)
    return 1.0 - Levenshtein.distance(ref, words(ocr)) / len(ref) if ref else 1.0


def words_found(reference: str, ocr: str) -> float:
    ref = Counter(words(reference))
    total = sum(ref.values())
    return sum((ref & Counter(words(ocr))).values()) / total if total else 1.0


def _longest_increasing(values: list[int]) -> int:
    tails: list[int] = []  # tails[k]: the smallest last value of an increasing run of k + 1
    for v in values:
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if tails[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        tails[lo:lo + 1] = [v]
    return len(tails)


def reading_order(reference: str, ocr: str) -> tuple[int, int]:
    """(paragraphs found in order, paragraphs checked): see the module docstring."""
    flat = " ".join(reference.split())
    keys = []
    for paragraph in re.split(r"\n\s*\n", reference):
        start = paragraph.split()[:KEY_WORDS]
        key = " ".join(start)
        if len(start) == KEY_WORDS and flat.count(key) == 1:
            keys.append(key)
    haystack = " ".join(ocr.split())
    positions = []
    for key in keys:
        found = fuzz.partial_ratio_alignment(key, haystack)
        if found is not None and found.score >= MIN_SCORE:
            positions.append(found.dest_start)
    return _longest_increasing(positions), len(keys)


def tesseract_seconds(image_path: Path, threads: str | None) -> float:
    env = dict(os.environ)
    env.pop("OMP_THREAD_LIMIT", None)
    if threads is not None:
        env["OMP_THREAD_LIMIT"] = threads
    started = time.perf_counter()
    subprocess.run(["tesseract", str(image_path), "stdout", "-l", "eng", "--psm", "3"],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def ocrmypdf_outcome(pdf: bytes) -> Outcome:
    """OCRmyPDF's text layer for a scan, read by the same rules-only run; its wall time
    includes ocrmypdf's."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "scan.pdf"), Path(folder, "ocr.pdf")
        source.write_bytes(pdf)
        started = time.perf_counter()
        subprocess.run(["ocrmypdf", "-l", "eng", "--output-type", "pdf", "--optimize", "0", "--quiet",
                        str(source), str(target)], check=True, capture_output=True)
        ocr_seconds = time.perf_counter() - started
        outcome = read(target.read_bytes(), ocr="never")
    outcome.seconds += ocr_seconds
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="pages of each generated paper (default 2)")
    parser.add_argument("--noise", type=float, default=0.02, help="share of noisy pixels in the noise case")
    parser.add_argument("--skew", type=float, default=1.0, help="degrees of rotation in the skew case")
    parser.add_argument("--ocrmypdf", action="store_true", help="also OCRmyPDF on the clean 300-dpi scans")
    args = parser.parse_args(argv)

    variants = [(150, 0.0, 0.0), (300, 0.0, 0.0), (300, args.noise, 0.0), (300, 0.0, args.skew)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    try:
        version = subprocess.run(["tesseract", "--version"], check=False, capture_output=True, text=True).stdout.split("\n")[0]
    except FileNotFoundError:
        version = "tesseract: not installed"
    print(f"{version}; papers of {args.pages} pages, scanned with tests/pdf_factory.scanned_pdf\n")

    header = (f"{'case':<10} {'dpi':>4} {'noise':>6} {'skew':>5} {'pages':>5} {'word acc':>9} "
              f"{'found':>7} {'order':>7} {'s/page':>7} {'conf':>6}")
    print(header)
    print("-" * len(header))
    errors: list[str] = []
    papers = {}
    for columns in (1, 2):
        name = f"{columns}-column"
        generated = paper(pages=args.pages, columns=columns)
        papers[name] = generated.pdf
        reference = read(generated.pdf, ocr="never").text
        for dpi, noise, skew in variants:
            scan = scanned_pdf(generated.pdf, dpi, noise=noise, skew=skew)
            try:
                outcome = read(scan, ocr="always", ocr_dpi=dpi)
            except Exception as e:  # a failing case is reported, the others go on
                errors.append(f"{name} {dpi} dpi noise {noise:g} skew {skew:g}: {type(e).__name__}: {e}")
                print(f"{name:<10} {dpi:>4} {noise:>6g} {skew:>5g}   failed (below)")
                continue
            errors += [f"{name} {dpi} dpi noise {noise:g} skew {skew:g}: {e}" for e in outcome.errors]
            in_order, checked = reading_order(reference, outcome.text)
            confidence = (f"{sum(outcome.confidences) / len(outcome.confidences):6.1f}"
                          if outcome.confidences else f"{'-':>6}")
            print(f"{name:<10} {dpi:>4} {noise:>6g} {skew:>5g} {outcome.pages:>5} "
                  f"{100 * word_accuracy(reference, outcome.text):8.1f}% "
                  f"{100 * words_found(reference, outcome.text):6.1f}% {f'{in_order}/{checked}':>7} "
                  f"{outcome.seconds / max(1, outcome.pages):7.2f} {confidence}")
            sys.stdout.flush()

    if args.ocrmypdf:
        if shutil.which("ocrmypdf") is None:
            print("\nocrmypdf: the command is not installed here; comparison skipped")
        else:
            print("\nocrmypdf, clean 300-dpi scans, its text layer through the same rules-only run:")
            for name, pdf in papers.items():
                reference = read(pdf, ocr="never").text
                try:
                    outcome = ocrmypdf_outcome(scanned_pdf(pdf, 300))
                except (subprocess.CalledProcessError, RuntimeError) as e:
                    print(f"  {name:<10} failed: {e}")
                    continue
                in_order, checked = reading_order(reference, outcome.text)
                print(f"  {name:<10} word accuracy {100 * word_accuracy(reference, outcome.text):5.1f}%   "
                      f"found {100 * words_found(reference, outcome.text):5.1f}%   "
                      f"order {in_order}/{checked}   {outcome.seconds / max(1, outcome.pages):.2f} s/page")

    print("\nraw tesseract, page 1 of the 2-column paper rendered at 300 dpi (eng, --psm 3):")
    if shutil.which("tesseract") is None:
        print("  tesseract is not installed; skipped")
    else:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(papers["2-column"])
        with tempfile.TemporaryDirectory() as folder:
            image_path = Path(folder, "page.png")
            doc[0].render(scale=300 / 72, grayscale=True).to_pil().save(image_path)
            doc.close()
            for label, threads in (("OMP_THREAD_LIMIT=1", "1"), ("OMP_THREAD_LIMIT unset", None)):
                print(f"  {label:<24} {tesseract_seconds(image_path, threads):6.2f} s")

    for error in errors:
        print(f"\nerror: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
