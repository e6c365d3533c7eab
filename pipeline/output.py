"""Writes a run's results to disk as they are produced, and joins a partial result honestly.

The cleaned text file grows chunk by chunk (flushed after each, as the notebook does), so a
run that is stopped or crashes leaves every finished chunk on disk. The optional report is
JSON Lines: a header object that identifies the run (pipeline.resume; first, when the caller
gives one), one object per finished chunk, then one summary object.

A partial result (stopped, interrupted, failed) never reads as continuous text with pieces
missing. `join_result` keeps every finished chunk in its place and replaces each run of
missing chunks by a marked block that holds their rule-cleaned text:

    [PDF Cleaner: chunks 5–37 (pages 3–9) were not cleaned by the model: the run was stopped.
    Their text as the rules left it follows.]
    ...
    [PDF Cleaner: end of the text the model did not clean.]

so the text is whole and every gap is visible, in the file as on the page. When the run ends
with gaps or with chunks that finished out of order, `ResultWriter.finish` rewrites the text
file in that form.

What the structure stage took out of the text (`ChunkPlan.removed`) is told three ways, all
from the functions here: `removed_lines` (a few plain lines: pieces and characters per
category, for the CLI and the page's document panel), `removed_record` (the same numbers in
the report's summary object) and `removed_file_text` (NAME.removed.txt: every piece with its
page and category, as extracted).

This module only writes and joins; it decides nothing about what the text is or what is
removed from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from pipeline.events import REMOVED_CATEGORIES, Chunk, ChunkDone, Removed, RunFinished, removed_counts

GAP_OPEN = (
    "[PDF Cleaner: {what} ({pages}) {were} not cleaned by the model: {why}. "
    "{their} text as the rules left it follows.]"
)
GAP_CLOSE = "[PDF Cleaner: end of the text the model did not clean.]"


def join_outputs(done: list[ChunkDone]) -> str:
    """Join finished chunks in document order with their separators."""
    parts: list[str] = []
    for item in done:
        if parts:
            parts.append(item.chunk.separator)
        parts.append(item.output)
    return "".join(parts)


def gap_runs(chunks: Sequence[Chunk], done: Mapping[int, ChunkDone]) -> list[tuple[int, int]]:
    """(first, last) positions in `chunks` of each run of chunks that are not in `done`."""
    runs: list[tuple[int, int]] = []
    start = None
    for k, chunk in enumerate(chunks):
        if chunk.index in done:
            if start is not None:
                runs.append((start, k - 1))
                start = None
        elif start is None:
            start = k
    if start is not None:
        runs.append((start, len(chunks) - 1))
    return runs


def _pages(first: Chunk, last: Chunk) -> str:
    a, b = first.first_page, last.last_page
    return f"page {a}" if a == b else f"pages {a}–{b}"


def join_result(chunks: Sequence[Chunk], done: Mapping[int, ChunkDone], why: str = "the run was stopped") -> str:
    """The run's text: finished chunks in document order, each run of missing ones marked
    and filled with its rule-cleaned (normalized) text. With nothing missing it is
    `join_outputs` of the finished chunks."""
    parts: list[str] = []
    gaps = dict(gap_runs(chunks, done))
    k, after_gap = 0, False
    while k < len(chunks):
        chunk = chunks[k]
        if k in gaps:
            span = chunks[k : gaps[k] + 1]
            one = len(span) == 1
            what = f"chunk {chunk.index + 1}" if one else f"chunks {chunk.index + 1}–{span[-1].index + 1}"
            opening = GAP_OPEN.format(what=what, pages=_pages(chunk, span[-1]), were="was" if one else "were",
                                      why=why, their="Its" if one else "Their")
            body = "".join((c.separator if i else "") + c.text for i, c in enumerate(span))
            parts.append(("\n\n" if parts else "") + f"{opening}\n{body}\n{GAP_CLOSE}")
            k, after_gap = gaps[k] + 1, True
            continue
        separator = ("\n\n" if after_gap else chunk.separator) if parts else ""
        parts.append(separator + done[chunk.index].output)
        k, after_gap = k + 1, False
    return "".join(parts)


def removed_chars(removed: Sequence[Removed]) -> dict[str, int]:
    """{category: characters} in REMOVED_CATEGORIES order, categories with none left out."""
    chars = {category: 0 for category in REMOVED_CATEGORIES}
    for piece in removed:
        chars[piece.category] += len(piece.text)
    return {category: chars[category] for category in removed_counts(removed)}


def removed_record(removed: Sequence[Removed]) -> dict:
    """The report's account of what was removed (plain JSON types only):
    `{"pieces": 7, "chars": 812, "categories": {"header": {"pieces": 2, "chars": 60}, ...}}`."""
    chars = removed_chars(removed)
    return {
        "pieces": len(removed),
        "chars": sum(chars.values()),
        "categories": {category: {"pieces": n, "chars": chars[category]}
                       for category, n in removed_counts(removed).items()},
    }


def removed_lines(removed: Sequence[Removed], layout: bool = True) -> list[str]:
    """What was removed, as plain lines for a person: a total, then one line per category.

        removed: 7 pieces · 812 characters saved for the model stage
          header: 2 · 60 characters
          footnote: 1 · 640 characters
    """
    if not layout:
        return ["removed: nothing (layout-aware reading is off)"]
    if not removed:
        return ["removed: nothing"]
    chars = removed_chars(removed)
    total = f"{_plural(len(removed), 'piece')} · {_plural(sum(chars.values()), 'character')}"
    lines = [f"removed: {total} saved for the model stage"]
    lines += [f"  {category}: {n:,} · {_plural(chars[category], 'character')}"
              for category, n in removed_counts(removed).items()]
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def removed_file_text(removed: Sequence[Removed], source_name: str = "", layout: bool = True,
                      plain_pages: Sequence[tuple[int, str]] = ()) -> str:
    """NAME.removed.txt: a header, the summary lines, the pages read in plain order (their
    layout not trusted: only their furniture was removed) and why, then every removed piece
    in order as

        [page 3 · footnote]
        <its text as extracted>

    With nothing removed, the file says so (and why, when layout-aware reading was off)."""
    of = f" of {source_name}" if source_name else ""
    plain = [f"page {page} read in plain order, only its furniture removed: {why}" for page, why in plain_pages]
    if not removed:
        why = (" Layout-aware reading was off, so nothing is removed: the text is pypdf's plain text."
               if not layout else "")
        return f"PDF Cleaner: nothing was taken out{of} before cleaning.{why}\n" + "".join(f"{line}\n" for line in plain)
    head = [
        f"PDF Cleaner: what was taken out{of} before cleaning, so that the model and the listener do not get it.",
        "Each piece below: its page and category in brackets, then its text as extracted.",
        "",
        *removed_lines(removed, layout),
        *plain,
        "",
    ]
    blocks = [f"[page {piece.page} · {piece.category}]\n{piece.text}\n" for piece in removed]
    return "\n".join(head) + "\n" + "\n".join(blocks)


def write_removed(path: str | os.PathLike, removed: Sequence[Removed], source_name: str = "",
                  layout: bool = True, plain_pages: Sequence[tuple[int, str]] = ()) -> Path:
    """Write NAME.removed.txt (removed_file_text) to `path`; its folder is made if needed."""
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(removed_file_text(removed, source_name, layout, plain_pages), encoding="utf-8")
    return path


def chunk_record(item: ChunkDone) -> dict:
    """The report line for one chunk (plain JSON types only)."""
    record = {
        "index": item.index,
        "pages": [item.chunk.first_page, item.chunk.last_page],
        "source": item.source,
        "input": item.chunk.text,
        "output": item.output,
        "model_output": item.model_output,
        "seconds": round(item.seconds, 3),
        "tokens": item.tokens,
        "error": item.error,
        "drafted": item.drafted,
        "accepted": item.accepted,
    }
    if item.halted:
        record["halted"] = item.halted
    if item.resumed:  # taken from an earlier run's report (pipeline.resume), not cleaned again
        record["resumed"] = True
    if item.edits:  # the model's edits, each kept or reverted (pipeline.edits)
        record["edits"] = [{"kind": e.kind, "before": e.before, "after": e.after, "kept": e.kept} for e in item.edits]
    if item.guard is not None:
        record.update(
            verdict=item.guard.verdict,
            reasons=list(item.guard.reasons),
            metrics={
                "kept": round(item.guard.kept, 4),
                "invented": round(item.guard.invented, 4),
                "length_ratio": round(item.guard.length_ratio, 4),
                "repetition": round(item.guard.repetition, 4),
            },
        )
    return record


class ResultWriter:
    """Appends finished chunks to the text file (and report) as they arrive, in order.

    `removed`: what the structure stage took out (ChunkPlan.removed); the report's summary
    counts it per category (removed_record). Left out (None), the summary has no "removed"
    key rather than a count of nothing that nobody made. `ocr_pages`: (page, confidence) of
    the pages read by OCR (ChunkPlan.ocr_pages), listed in the summary as "ocr". `header`:
    the report's first record (pipeline.resume.header), written and flushed at once, so that
    a run killed before its first chunk still says which run the report belongs to."""

    def __init__(self, text_path: str | os.PathLike | None, report_path: str | os.PathLike | None = None,
                 removed: Sequence[Removed] | None = None, ocr_pages: Sequence[tuple[int, float]] = (),
                 header: dict | None = None):
        self.text_path = Path(text_path) if text_path else None
        self.report_path = Path(report_path) if report_path else None
        self.removed = tuple(removed) if removed is not None else None
        self.ocr_pages = tuple(ocr_pages)
        self._text: TextIO | None = None
        self._report: TextIO | None = None
        self._written = 0
        # Open both up front so an unwritable path fails before any work is done.
        for path in (self.text_path, self.report_path):
            if path is not None and path.parent != Path(""):
                path.parent.mkdir(parents=True, exist_ok=True)
        if self.text_path is not None:
            self._text = open(self.text_path, "w", encoding="utf-8")
        if self.report_path is not None:
            self._report = open(self.report_path, "w", encoding="utf-8")
            if header is not None:
                self._report.write(json.dumps(header, ensure_ascii=False) + "\n")
                self._report.flush()

    def add(self, item: ChunkDone) -> None:
        if self._text is not None:
            if self._written:
                self._text.write(item.chunk.separator)
            self._text.write(item.output)
            self._text.flush()
        if self._report is not None:
            self._report.write(json.dumps(chunk_record(item), ensure_ascii=False) + "\n")
            self._report.flush()
        self._written += 1

    def finish(self, summary: RunFinished, late: Sequence[ChunkDone] = ()) -> None:
        """Close the files. `late`: chunks finished but not written in order (the run ended
        before the chunks before them); with those, or with gaps, the text file is rewritten
        as `summary.text` (gaps marked)."""
        for item in late:
            if self._report is not None:
                self._report.write(json.dumps(chunk_record(item), ensure_ascii=False) + "\n")
        if self._text is not None and (late or summary.gaps):
            self._text.close()
            partial = self.text_path.with_name(self.text_path.name + ".tmp")
            partial.write_text(summary.text + "\n", encoding="utf-8")
            os.replace(partial, self.text_path)
        elif self._text is not None and self._written:
            self._text.write("\n")
        if self._report is not None:
            record = {
                "summary": True,
                "chunks_done": summary.chunks_done,
                "chunks_total": summary.chunks_total,
                "partial": summary.stopped or summary.chunks_done < summary.chunks_total,
                "gaps": [[first + 1, last + 1] for first, last in summary.gaps],
                "seconds": round(summary.seconds, 3),
                "notes": list(summary.notes),
            }
            if self.removed is not None:
                record["removed"] = removed_record(self.removed)
            if self.ocr_pages:  # pages read by OCR, with their mean word confidence (0-100)
                record["ocr"] = [{"page": page, "confidence": confidence} for page, confidence in self.ocr_pages]
            self._report.write(json.dumps(record) + "\n")
        self.close()

    def close(self) -> None:
        for handle in (self._text, self._report):
            if handle is not None and not handle.closed:
                handle.close()
