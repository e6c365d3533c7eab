"""Benchmark: layout-aware reading quality on the structure set, olmOCR-Bench style.

    .venv/bin/python bench/structure.py                      # every case, every extractor
    .venv/bin/python bench/structure.py --case footnotes --case display_math
    .venv/bin/python bench/structure.py --verbose            # also each failing test
    .venv/bin/python bench/structure.py --extractor pypdf --extractor rules-nolayout

Builds the structure set in memory (tests/structure_set.py), runs each extractor on every
PDF, and scores its text with olmOCR-Bench's present/absent/order tests
(bench/olmocr_tests.py). Extractors, side by side:

  pypdf           "\\n".join(page.extract_text() for page in PdfReader(...).pages)
  rules-nolayout  pipeline.run(pdf, Settings(use_llm=False, layout=False)): today's
                  rules-only path without the structure stage
  rules-layout    pipeline.run(pdf, Settings(use_llm=False, layout=True)): the rules-only
                  path with the structure stage, where the pipeline has one
  pdftotext       poppler's pdftotext (Debian's poppler-utils), default order
  pymupdf4llm     pymupdf4llm.to_markdown (PyPI), its defaults
  opendataloader  opendataloader-pdf's Markdown (PyPI, runs Java), its defaults

The peers (the last three) run where they are installed and are skipped, saying how to
install them, where not; they are compared, never copied.

Printed per extractor: pass rates per test type and pooled, upstream's overall score (the
mean of per-category pass rates), body-word retention (the share of the ground-truth body
words, as a multiset of lower-cased word tokens, found in the output) and pages/s (pages
over the extractor's wall time, PDF parsing included). Then a per-case table, and with
--verbose each failing test with a short excerpt of why.

Each test is scored against the whole document's text (cases have 1-3 pages), not one
page's as upstream does, so that order tests can cross pages. An extractor that raises on
a case scores 0 on its tests and is reported. It measures the rules-only path; no model is
loaded.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.olmocr_tests import Result, load_tests, normalize_text, score  # noqa: E402
from tests.structure_set import build_set, case_names  # noqa: E402


def extract_pypdf(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def _pipeline(layout: bool):
    def extract(pdf: bytes) -> str:
        from pipeline import RunFinished, Settings, run

        text = None
        for event in run(pdf, Settings(use_llm=False, layout=layout)):
            if isinstance(event, RunFinished):
                text = event.text
        if text is None:
            raise RuntimeError("the run ended without RunFinished")
        return text

    return extract


def extract_pdftotext(pdf: bytes) -> str:
    """poppler's pdftotext (Debian's poppler-utils), its default reading order."""
    import subprocess

    done = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, timeout=120)
    if done.returncode:
        raise RuntimeError(done.stderr.decode(errors="replace")[:200])
    return done.stdout.decode("utf-8", errors="replace")


def extract_pymupdf4llm(pdf: bytes) -> str:
    """pymupdf4llm's Markdown for LLMs (PyPI), its defaults."""
    import contextlib
    import io

    import pymupdf
    import pymupdf4llm

    pymupdf.set_messages(path=os.devnull)  # its notes ("Using Tesseract ...") are not text
    with pymupdf.open(stream=pdf, filetype="pdf") as doc, contextlib.redirect_stdout(io.StringIO()):
        return pymupdf4llm.to_markdown(doc, show_progress=False)


def extract_opendataloader(pdf: bytes) -> str:
    """opendataloader-pdf's Markdown (PyPI; Java), its defaults; one Java start per PDF,
    which its pages/s include."""
    import tempfile

    import opendataloader_pdf

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.pdf"
        source.write_bytes(pdf)
        opendataloader_pdf.convert(str(source), output_dir=folder, format="markdown", quiet=True)
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(Path(folder).glob("*.md")))


EXTRACTORS = {
    "pypdf": extract_pypdf,
    "rules-nolayout": _pipeline(False),
    "rules-layout": _pipeline(True),
    "pdftotext": extract_pdftotext,
    "pymupdf4llm": extract_pymupdf4llm,
    "opendataloader": extract_opendataloader,
}
OURS, BASELINE = "rules-layout", "pypdf"


def available(name: str) -> str | None:
    """Why extractor `name` cannot run here (not installed), or None."""
    import importlib.util
    import shutil

    needs = {"pdftotext": ("pdftotext", "apt-get install poppler-utils"),
             # pymupdf4llm 2.0 on PyPI is an empty package: 1.28 is the last with code
             "pymupdf4llm": ("pymupdf4llm", "pip install 'pymupdf4llm<2'"),
             "opendataloader": ("opendataloader_pdf", "pip install opendataloader-pdf; apt-get install default-jre-headless")}
    if name not in needs:
        return None
    thing, how = needs[name]
    found = shutil.which(thing) if name == "pdftotext" else importlib.util.find_spec(thing)
    if name == "opendataloader" and found is not None and shutil.which("java") is None:
        found = None
    return None if found else f"not installed ({how})"

_WORD = re.compile(r"[0-9A-Za-z]+(?:['\-][0-9A-Za-z]+)*")


def words(text: str) -> Counter:
    return Counter(w.lower() for w in _WORD.findall(normalize_text(text)))


def retention(body_text: str, output: str) -> tuple[int, int]:
    """(ground-truth body words found in the output, ground-truth body words), as multisets."""
    truth = words(body_text)
    return sum((truth & words(output)).values()), sum(truth.values())


def evaluate(cases, extractor) -> dict:
    results, kept, total, seconds, pages, errors, per_case = [], 0, 0, 0.0, 0, [], {}
    for case in cases:
        tests = load_tests(case.tests)
        started = time.perf_counter()
        try:
            text = extractor(case.pdf)
        except Exception as e:  # scored as an empty output, and reported
            text = ""
            errors.append(f"{case.name}: {type(e).__name__}: {e}")
        seconds += time.perf_counter() - started
        pages += case.pages
        case_results = []
        for test in tests:
            passed, why = test.run(text)
            case_results.append(Result(test, case.category, passed, why))
        results += case_results
        k, t = retention(case.body_text, text)
        kept, total = kept + k, total + t
        per_case[case.name] = (sum(r.passed for r in case_results), len(case_results), k / t if t else 1.0)
    summary = score(results)
    summary.update(results=results, retention=kept / total if total else 1.0,
                   pages_per_s=pages / seconds if seconds else float("inf"), errors=errors, per_case=per_case)
    return summary


REFERENCE = ROOT.parent / "shared" / "reference" / "kd-survey-arxiv-2402.13116-extracted.txt"


def reference_report() -> None:
    """The KD survey as extracted, drawn into a PDF page by page (tests/pdf_factory.text_pdf),
    through the rules-only pipeline without and with the structure stage: body-word retention
    against the extracted text, its glued words split (citations kept, so that only the structure stage's own
    removals count; then with the defaults), characters left for the model stage, and what
    was removed. The drawn PDF has one font and one column: it shows what the stage keeps
    and what its patterns remove, not what layout finds in the original paper."""
    from pipeline import ChunkPlan, RunFinished, Settings, run
    from pipeline.events import removed_counts
    from tests.pdf_factory import text_pdf
    from tests.test_normalize import reference_pages

    source = REFERENCE.read_text(encoding="utf-8")
    pdf = text_pdf([text for _, text in reference_pages(source)])
    print(f"\nreference: {REFERENCE.name}, {len(source):,} characters, drawn into a PDF page by page")
    from pipeline.words import split_glued

    # Line-end hyphens joined and glued words split, as the pipeline does both: retention
    # then counts what the stage drops, not how words are spaced.
    truth = split_glued(re.sub(r"-\n", "", source))
    for label, settings in (
        ("no layout", Settings(use_llm=False, layout=False, max_chars=10**7)),
        ("layout, citations kept", Settings(use_llm=False, citations="keep", max_chars=10**7)),
        ("layout, defaults", Settings(use_llm=False, max_chars=10**7)),
    ):
        plan = text = None
        for event in run(pdf, settings):
            if isinstance(event, ChunkPlan):
                plan = event
            elif isinstance(event, RunFinished):
                text = event.text
        kept, total = retention(truth, text)
        print(f"  {label:<24} retention {100 * kept / total:5.1f}%   characters for the model {len(text):>8,}   "
              f"removed {removed_counts(plan.removed) or 'nothing'}")


def _rate(passed_total) -> str:
    passed, total = passed_total
    return f"{100 * passed / total:5.1f}% {passed:>3}/{total:<3}" if total else "      -      "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=case_names(), help="only this case (repeatable)")
    parser.add_argument("--extractor", action="append", choices=list(EXTRACTORS), help="only this extractor (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="list each failing test with an excerpt")
    parser.add_argument("--no-reference", action="store_true", help="skip the KD survey reference text")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its font notes would drown the table

    cases = build_set(args.case)
    names = []
    for name in args.extractor or list(EXTRACTORS):
        why = available(name)
        if why:
            print(f"{name}: skipped, {why}")
        else:
            names.append(name)
    print(f"structure set: {len(cases)} cases, {sum(c.pages for c in cases)} pages, "
          f"{sum(len(c.tests) for c in cases)} tests")
    reports = {name: evaluate(cases, EXTRACTORS[name]) for name in names}

    width = 16
    print()
    print(f"{'':<22}" + "".join(f"{n:>{width}}" for n in names))
    for kind in ("present", "absent", "order"):
        row = [_rate(reports[n]["types"].get(kind, (0, 0))) for n in names]
        print(f"{kind:<22}" + "".join(f"{r:>{width}}" for r in row))
    pooled = [f"{100 * reports[n]['pooled']:5.1f}%" for n in names]
    print(f"{'all tests (pooled)':<22}" + "".join(f"{r:>{width}}" for r in pooled))
    overall = [f"{100 * reports[n]['overall']:5.1f}%" for n in names]
    print(f"{'overall (mean of cats)':<22}" + "".join(f"{r:>{width}}" for r in overall))
    kept = [f"{100 * reports[n]['retention']:5.1f}%" for n in names]
    print(f"{'body-word retention':<22}" + "".join(f"{r:>{width}}" for r in kept))
    speed = [f"{reports[n]['pages_per_s']:.1f}" for n in names]
    print(f"{'pages/s':<22}" + "".join(f"{r:>{width}}" for r in speed))

    print("\nper category (tests passed):")
    categories = sorted({c.category for c in cases})
    below = []
    for cat in categories:
        row = [_rate(reports[n]["groups"].get(cat, (0, 0))) for n in names]
        print(f"  {cat:<20}" + "".join(f"{r:>{width}}" for r in row))
        if OURS in reports and BASELINE in reports:
            ours, base = (reports[x]["groups"].get(cat, (0, 1)) for x in (OURS, BASELINE))
            if ours[0] / max(ours[1], 1) < base[0] / max(base[1], 1):
                below.append(cat)
    if OURS in reports and BASELINE in reports:
        print(f"  categories where {OURS} scores below {BASELINE}: {', '.join(below) or 'none'}")

    print("\nper case (tests passed, body-word retention):")
    for case in cases:
        cells = []
        for n in names:
            p, t, r = reports[n]["per_case"][case.name]
            cells.append(f"{p:>2}/{t:<2} {100 * r:5.1f}%")
        print(f"  {case.name:<24}" + "".join(f"{c:>{width}}" for c in cells))

    for n in names:
        for error in reports[n]["errors"]:
            print(f"\n{n} failed on {error}")

    if not args.no_reference and not args.case and REFERENCE.is_file():
        reference_report()

    if args.verbose:
        for n in names:
            failing = [r for r in reports[n]["results"] if not r.passed]
            print(f"\n{n}: {len(failing)} failing tests")
            for r in failing:
                print(f"  {r.test.id} [{r.test.type}] {r.explanation[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
