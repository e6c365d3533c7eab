"""Benchmark: extraction + normalization speed on a generated paper-like PDF.

    python bench/extract.py [--pages 100] [--repeat 3]

Generates a two-column, paper-like PDF (running headers, footers, page numbers,
hyphenation) with the test PDF factory, then times, in one process and one run:

- plain pypdf extraction (open + every page's extract_text);
- layout-aware reading as the reading process does it (pypdf reads every page with its
  limits, PDFium gives the runs, pipeline.layout builds lines, blocks and reading order);
- layout analysis alone (PDFium and pipeline.layout, without pypdf);
- the alternative source of runs: pypdf's text visitor collecting every run with its
  matrix and font size (runs only, no lines or blocks: its runs carry a start point but no
  width, so spaces cannot come from gaps);
- the structure stage (pipeline.structure: labels and the podcast options) on those pages;
- normalization alone;
- `pipeline.run(..., use_llm=False)` end to end, without and with the structure stage
  (reading process start-up, extraction, structure, normalization, chunking).

Prints pages/s and chars/s for each; the best of --repeat runs is reported to damp noise
from other processes.

It measures the rules-only path; LLM throughput is bench/throughput.py.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import extract, layout, normalize, structure  # noqa: E402
from pipeline.events import ChunkPlan  # noqa: E402
from pipeline.runner import run  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from tests.pdf_factory import paper  # noqa: E402


def best_of(repeat: int, work):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    generated, pdf = best_of(1, lambda: paper(pages=args.pages).pdf)
    print(f"document: generated {args.pages}-page paper, {len(pdf):,} bytes (generated in {generated:.2f} s)")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")

    def extract_only():
        reader = extract.open_pdf(pdf)
        pages = extract.parse_page_range(None, len(reader.pages))
        return [(p.page, p.text) for p in extract.iter_pages(reader, pages, max_chars=10**9)]

    def extract_with_layout():
        reader = extract.open_pdf(pdf)
        pages = extract.parse_page_range(None, len(reader.pages))
        doc = layout.open_layout(pdf)
        return list(extract.iter_pages(reader, pages, max_chars=10**9, layout_doc=doc))

    def layout_only():
        doc = layout.open_layout(pdf)
        return [layout.read_layout(doc, n) for n in range(1, len(doc) + 1)]

    def visitor_runs():
        reader = extract.open_pdf(pdf)
        runs = []
        for page in reader.pages:
            page.extract_text(visitor_text=lambda text, cm, tm, font, size: runs.append((text, tm, size)))
        return runs

    t_extract, pages = best_of(args.repeat, extract_only)
    t_visitor, _ = best_of(args.repeat, visitor_runs)
    chars = sum(len(text) for _, text in pages)
    t_layout_read, laid = best_of(args.repeat, extract_with_layout)
    t_layout, _ = best_of(args.repeat, layout_only)
    with_layout = [(p.page, p.layout) for p in laid]
    t_structure, _ = best_of(args.repeat, lambda: structure.select(with_layout, Settings()))
    t_normalize, normalized = best_of(args.repeat, lambda: normalize.normalize_document(pages))

    def whole_run(layout_on: bool):
        plan = None
        for event in run(pdf, Settings(use_llm=False, max_chars=10**9, layout=layout_on)):
            if isinstance(event, ChunkPlan):
                plan = event
        return plan

    t_run, plan = best_of(args.repeat, lambda: whole_run(False))
    t_run_layout, _ = best_of(args.repeat, lambda: whole_run(True))

    rows = [
        ("extract (pypdf)", t_extract),
        ("extract + layout", t_layout_read),
        ("layout alone", t_layout),
        ("pypdf visitor runs", t_visitor),
        ("structure", t_structure),
        ("normalize", t_normalize),
        ("run(), no layout", t_run),
        ("run(), layout", t_run_layout),
    ]
    print(f"\ntext: {chars:,} characters extracted, {len(normalized.text):,} after normalization, "
          f"{len(plan.chunks)} chunks of <= 1000 characters\n")
    print(f"{'stage':<20} {'seconds':>8} {'pages/s':>9} {'chars/s':>12}")
    for name, seconds in rows:
        print(f"{name:<20} {seconds:>8.3f} {args.pages / seconds:>9.1f} {chars / seconds:>12,.0f}")
    print(f"\nnormalization adds {t_normalize / t_extract:.1%} to extraction time; layout-aware reading "
          f"runs at {t_extract / t_layout_read:.2f}x the speed of plain pypdf")


if __name__ == "__main__":
    main()
