"""Writes a run's results to disk as they are produced.

The cleaned text file grows chunk by chunk (flushed after each, as the notebook does), so a
run that is stopped or crashes leaves every finished chunk on disk. The optional report is
JSON Lines: one object per finished chunk, then one summary object.

This module only writes; it decides nothing about what the text is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from pipeline.events import ChunkDone, RunFinished


def join_outputs(done: list[ChunkDone]) -> str:
    """Join finished chunks in document order with their separators."""
    parts: list[str] = []
    for item in done:
        if parts:
            parts.append(item.chunk.separator)
        parts.append(item.output)
    return "".join(parts)


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
    }
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
    """Appends finished chunks to the text file (and report) as they arrive, in order."""

    def __init__(self, text_path: str | os.PathLike | None, report_path: str | os.PathLike | None = None):
        self.text_path = Path(text_path) if text_path else None
        self.report_path = Path(report_path) if report_path else None
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

    def finish(self, summary: RunFinished) -> None:
        if self._text is not None and self._written:
            self._text.write("\n")
        if self._report is not None:
            self._report.write(
                json.dumps(
                    {
                        "summary": True,
                        "chunks_done": summary.chunks_done,
                        "chunks_total": summary.chunks_total,
                        "partial": summary.stopped or summary.chunks_done < summary.chunks_total,
                        "seconds": round(summary.seconds, 3),
                        "notes": list(summary.notes),
                    }
                )
                + "\n"
            )
        self.close()

    def close(self) -> None:
        for handle in (self._text, self._report):
            if handle is not None and not handle.closed:
                handle.close()
