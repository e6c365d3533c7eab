"""Many PDFs in one command: `python -m pipeline FOLDER -o OUTDIR` (or several PDFs).

A folder stands for every *.pdf in it and its subfolders, in sorted order. Each document gets
OUTDIR/NAME.clean.txt, NAME.removed.txt and NAME.report.jsonl, NAME being the PDF's name
without ".pdf"; two PDFs of the same name from different folders get their folders in it
(`a/paper.pdf` -> `a__paper`, `b/paper.pdf` -> `b__paper`), so neither overwrites the other.
Every document resumes on its own (pipeline.resume): run the same command again after a
crash or Ctrl-C and only the chunks not in the reports are cleaned.

Reading overlaps the model: while document k is cleaned in the main thread, document k+1 is
read (its run() driven up to and including its ChunkPlan) in a background thread, so the
model waits for no reading but the first. The main thread then takes over that same
generator. That is safe because a generator is only ever run by one thread at a time: the
background thread stops touching it once it has the plan, and the main thread joins that
thread before its first next(), which makes everything the thread did visible to it. (Were
both to run it at once, Python would raise "generator already executing", not mix them.)
Nothing is written for a document before its plan is taken over in the main thread, so a
document read ahead and then dropped (Ctrl-C) leaves no files.

A PDF that cannot be cleaned (a PipelineError: not a PDF, encrypted, scanned without OCR...)
is named on stderr with the reason and skipped; the others go on. Ctrl-C stops at once: the
document being cleaned keeps its finished chunks (marked gaps, as with one PDF), later ones
are not touched. At the end a table goes to stderr and to OUTDIR/summary.csv: per document
its pages, chunks, chunks cleaned by the model, kept as normalized input (fallback), failed
and resumed, the seconds the command spent on it, and its status.

`run_batch` returns the exit code: 0 every document was cleaned, 2 at least one was skipped,
130 interrupted with Ctrl-C. A bug is not caught here: it surfaces with its traceback (1).

This module drives runs and renders their progress; it does not decide what a document's
text is (pipeline.runner) or how one PDF is shown (pipeline.__main__).
"""

from __future__ import annotations

import csv
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipeline.errors import PipelineError
from pipeline.events import ChunkDone, ChunkPlan, Event, Notice, PageRead, RunFinished
from pipeline.output import write_removed
from pipeline.runner import run
from pipeline.settings import Settings

SUMMARY_COLUMNS = ("file", "output", "pages", "chunks", "cleaned by model", "fallback", "failed", "resumed",
                   "seconds", "status")


def find_pdfs(inputs: Sequence[Path]) -> list[Path]:
    """The PDFs the inputs name: a file as given, a folder as every *.pdf under it (sorted);
    each file once, in that order."""
    found: list[Path] = []
    for given in inputs:
        if given.is_dir():
            found += sorted(p for p in given.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
        elif given.is_file():
            found.append(given)
        else:
            raise PipelineError(f"no such file or folder: {given}")
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    if not unique:
        raise PipelineError(f"no PDF files in {', '.join(map(str, inputs))}")
    return unique


def output_names(paths: Sequence[Path]) -> list[str]:
    """One output name per PDF, distinct even where file systems ignore case. A name shared
    by several PDFs gets their folders below the common one:

        output_names([Path("a/paper.pdf"), Path("b/paper.pdf"), Path("b/notes.pdf")])
        -> ["a__paper", "b__paper", "notes"]
    """
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath([p.parent for p in resolved]))
    shared = Counter(p.stem.lower() for p in paths)
    names, taken = [], set()
    for path in resolved:
        name = path.stem
        if shared[name.lower()] > 1:
            name = "__".join(path.relative_to(root).with_suffix("").parts)
        base, n = name, 2
        while name.lower() in taken:  # still the same (e.g. "a__b/c.pdf" and "a/b__c.pdf"): number it
            name, n = f"{base}-{n}", n + 1
        taken.add(name.lower())
        names.append(name)
    return names


@dataclass
class Row:
    """One document's line of the summary."""

    file: str
    output: str  # the name its files start with in OUTDIR
    pages: int = 0  # pages that gave text
    chunks: int = 0
    llm: int = 0  # chunks cleaned by the model (resumed ones included)
    fallback: int = 0  # the guard rejected the model's text: the normalized input stands
    failed: int = 0
    resumed: int = 0  # chunks taken from an earlier run's report
    seconds: float = 0.0  # wall time the command spent on it (reading that overlapped the previous one aside)
    status: str = "not started"  # "done", "partial", "interrupted", "skipped: <why>", "not started"
    # perf_counter times: when the main thread took the document up, when its reading had
    # given the plan (in the background, for all but the first), when its run ended.
    started: float | None = field(default=None, repr=False)
    planned: float | None = field(default=None, repr=False)
    finished: float | None = field(default=None, repr=False)

    def cells(self) -> list:
        return [self.file, self.output, self.pages, self.chunks, self.llm, self.fallback, self.failed, self.resumed,
                f"{self.seconds:.1f}", self.status]


class ReadAhead:
    """One document's run(), driven in a background thread up to and including its ChunkPlan.

    `events()` hands over, in the calling thread, what the thread saw and then the rest of
    the same stream; an exception the reading raised is raised there. See the module
    docstring for why handing a generator from one thread to another is safe.
    """

    def __init__(self, pdf: Path, settings: Settings, outdir: Path, name: str, *, stop: threading.Event,
                 resume: bool, model=None):
        self.stream = run(pdf, settings, stop=stop, model=model, output_path=outdir / f"{name}.clean.txt",
                          report_path=outdir / f"{name}.report.jsonl", resume=resume)
        self.seen: list[Event] = []
        self.error: BaseException | None = None
        self.planned: float | None = None
        self.thread = threading.Thread(target=self._read, name=f"reading {pdf.name}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.seen.append(event)
                if isinstance(event, ChunkPlan):
                    self.planned = time.perf_counter()
                    return  # the model stage runs in the main thread, after the previous document
        except BaseException as exc:  # handed to the main thread, which decides what it means
            self.error = exc

    def events(self) -> Iterator[Event]:
        self.thread.join()
        if self.error is not None:
            raise self.error
        yield from self.seen
        yield from self.stream

    def close(self) -> None:
        """Drop the document: wait for the reading to end (a set `stop` ends it soon), then
        close the stream, which has written nothing yet."""
        self.thread.join()
        self.stream.close()


def clean_all(pdfs: Sequence[Path], names: Sequence[str], outdir: Path, settings: Settings, *,
              resume: bool = True, model=None, stop: threading.Event | None = None) -> tuple[list[Row], bool]:
    """Clean every PDF into `outdir`, reading the next one while the model cleans this one.
    Returns the summary rows and whether Ctrl-C ended it."""
    stop = stop or threading.Event()
    outdir.mkdir(parents=True, exist_ok=True)
    rows = [Row(file=str(pdf), output=name) for pdf, name in zip(pdfs, names)]

    def read(k: int) -> ReadAhead | None:
        if k >= len(pdfs) or stop.is_set():
            return None
        return ReadAhead(pdfs[k], settings, outdir, names[k], stop=stop, resume=resume, model=model)

    documents = tqdm(total=len(pdfs), desc="documents", unit="doc", file=sys.stderr, position=0)
    chunks_bar = None
    current = coming = None
    try:
        coming = read(0)
        for k, row in enumerate(rows):
            current, coming = coming, None
            row.started = time.perf_counter()
            row.status = "reading"
            try:
                for event in current.events():
                    if isinstance(event, ChunkPlan):
                        row.planned = current.planned
                        coming = read(k + 1)  # the next document is read while this one is cleaned
                        chunks_bar = tqdm(total=len(event.chunks), desc=_short(pdfs[k].name), unit="chunk",
                                          file=sys.stderr, position=1, leave=False)
                    _count(row, event, pdfs[k], outdir, settings, chunks_bar)
            except PipelineError as exc:
                row.status = f"skipped: {exc}"
                tqdm.write(f"error: {pdfs[k]}: {exc} (skipped)", file=sys.stderr)
            except OSError as exc:  # an output file could not be written: the user can fix the folder
                row.status = f"skipped: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
                tqdm.write(f"error: {pdfs[k]}: {row.status.removeprefix('skipped: ')} (skipped)", file=sys.stderr)
            finally:
                row.seconds = time.perf_counter() - row.started
                if chunks_bar is not None:
                    chunks_bar.close()
                    chunks_bar = None
            if coming is None:
                coming = read(k + 1)  # skipped before its plan: nothing was read ahead
            current = None
            documents.update(1)
        return rows, False
    except KeyboardInterrupt:
        for row in rows:
            if row.status in ("reading", "cleaning"):
                row.status = "interrupted"
        return rows, True
    finally:
        # Left open only when something ended the loop early (Ctrl-C, a bug): stop both.
        # Closing the current stream ends its run as a Stop would: finished chunks are kept and
        # the rest marked in the files (pipeline.runner); when the interrupt came from inside
        # the run, that is already done and closing changes nothing. The one read ahead has
        # written nothing and is dropped.
        for left in (current, coming):
            if left is not None:
                stop.set()
                left.close()
        if chunks_bar is not None:
            chunks_bar.close()
        documents.close()


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _count(row: Row, event: Event, pdf: Path, outdir: Path, settings: Settings, bar) -> None:
    """Render one event of a document: its bar, its warnings, and its numbers in `row`."""
    if isinstance(event, PageRead) and event.error:
        tqdm.write(f"warning: {pdf.name}: page {event.page} skipped: {event.error}", file=sys.stderr)
    elif isinstance(event, ChunkPlan):
        row.status = "cleaning"
        row.pages, row.chunks = len(event.pages_read), len(event.chunks)
        write_removed(outdir / f"{row.output}.removed.txt", event.removed, pdf.name, settings.layout,
                      event.plain_pages)
        for note in event.notes:
            tqdm.write(f"warning: {pdf.name}: {note}", file=sys.stderr)
        if event.resume_note:
            tqdm.write(f"note: {pdf.name}: {event.resume_note}", file=sys.stderr)
        if event.resumed:
            tqdm.write(f"{pdf.name}: resuming: {len(event.resumed)} of {len(event.chunks)} chunks already cleaned",
                       file=sys.stderr)
    elif isinstance(event, ChunkDone):
        row.llm += event.source == "llm"
        row.fallback += event.source == "fallback"
        row.failed += event.source == "failed"
        row.resumed += event.resumed
        if bar is not None:
            bar.update(1)
        if event.source == "failed":
            tqdm.write(f"warning: {pdf.name}: chunk {event.index + 1} failed: {event.error or ''}", file=sys.stderr)
    elif isinstance(event, Notice):  # the run changed course by itself (a served model)
        tqdm.write(f"warning: {pdf.name}: {event.message}", file=sys.stderr)
    elif isinstance(event, RunFinished):
        row.finished = time.perf_counter()
        row.status = "partial" if event.stopped or event.gaps else "done"


def summary_table(rows: Sequence[Row]) -> str:
    """The rows as aligned plain text, header first."""
    cells = [list(SUMMARY_COLUMNS)] + [[str(c) for c in row.cells()] for row in rows]
    # The status may hold a long message; it is the last column, so it is never padded.
    widths = [max(len(line[i]) for line in cells) for i in range(len(SUMMARY_COLUMNS) - 1)]
    lines = []
    for line in cells:
        padded = [value.ljust(width) if i < 2 else value.rjust(width) for i, (value, width) in
                  enumerate(zip(line, widths))]
        lines.append("  ".join(padded + [line[-1]]))
    return "\n".join(lines)


def write_summary(path: Path, rows: Sequence[Row]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUMMARY_COLUMNS)
        writer.writerows(row.cells() for row in rows)


def run_batch(inputs: Sequence[Path], outdir: Path, settings: Settings, *, resume: bool = True,
              model=None) -> int:
    """Clean every PDF the inputs name into `outdir`, print the summary and write summary.csv;
    returns the exit code (see the module docstring)."""
    pdfs = find_pdfs(inputs)
    names = output_names(pdfs)
    print(f"{len(pdfs)} PDF{'s' if len(pdfs) != 1 else ''} -> {outdir}", file=sys.stderr)
    rows, interrupted = clean_all(pdfs, names, outdir, settings, resume=resume, model=model)
    print(summary_table(rows), file=sys.stderr)
    write_summary(outdir / "summary.csv", rows)
    print(f"wrote {outdir / 'summary.csv'}", file=sys.stderr)
    if interrupted:
        print("interrupted: every finished chunk was kept; run the same command again to resume", file=sys.stderr)
        return 130
    skipped = sum(row.status.startswith("skipped") for row in rows)
    if skipped:
        print(f"{skipped} of {len(rows)} documents skipped (see above)", file=sys.stderr)
        return 2
    return 0
