"""Resume: reuse the chunks an earlier run of the same PDF already cleaned.

A run that writes a report starts it with a header record, written as soon as the plan is
known, so even a run killed outright (SIGKILL, out of memory, power cut) leaves it on disk,
followed by one flushed line per finished chunk:

    {"run": {"key": "9f2c...", "version": 1, "source": "paper.pdf", "chunks_total": 42,
             "parts": {"pdf": "...", "settings": "...", "model": "..."}}}

The key is a sha256 over the PDF's bytes, the settings that change the text and the model's
identity (`run_key`). A later run with the same key takes every chunk whose record has the
same index and the same input text, unless the record says it failed (`reusable`), and
cleans only the rest. A different key starts over, and `mismatch_note` says which of the
three changed.

This module reads reports and computes keys; it writes nothing (pipeline.output does) and
decides nothing about which chunks to clean beyond "this one is already done".
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.events import Chunk, ChunkDone, Edit, GuardReport
from pipeline.settings import Settings

VERSION = 1

# Settings left out of the key, because they never change the text of a chunk that was
# cleaned:
# - password: it only opens the file; the bytes hashed are the same either way.
# - api_key, concurrency, request_timeout, retries: how a served model is reached, not what
#   it writes (a request that failed is marked "failed", and failed chunks are never reused).
# - batch_size: rows generated together. Greedy text can differ in the last bits of a logit
#   between batch shapes, but each reused chunk was judged by the guard on its own, so it
#   is a faithful cleaning either way. And a run that ran out of memory should be resumable
#   with a smaller batch, which is the commonest reason to resume at all.
# - max_file_mb, read_timeout, read_memory_mb, ocr_page_seconds: limits that decide whether
#   reading finishes, not what a page says. When they cut the reading the chunks differ,
#   and chunks are matched on their input text anyway.
# - model and api_base: not left out, but hashed as their own part (the model's identity),
#   so that the note can say "the model changed" rather than "the settings changed".
NOT_IN_KEY = frozenset({
    "password", "api_key", "concurrency", "request_timeout", "retries", "batch_size",
    "max_file_mb", "read_timeout", "read_memory_mb", "ocr_page_seconds", "model", "api_base",
})


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def key_parts(data: bytes, settings: Settings) -> dict[str, str]:
    """The three hashes a run key is made of: the PDF's bytes, the settings that change the
    text, and the model's identity ("rules only" without a model)."""
    chosen = {name: value for name, value in asdict(settings).items() if name not in NOT_IN_KEY}
    if settings.use_llm and settings.system_prompt is None:
        # The default prompt is a file that can change between versions: hash its text.
        from pipeline.prompt import default_system_prompt

        chosen["system_prompt"] = default_system_prompt()
    model = {"model": settings.model, "api_base": settings.api_base} if settings.use_llm else "rules only"
    return {
        "pdf": hashlib.sha256(data).hexdigest(),
        "settings": _digest(chosen),
        "model": _digest(model),
    }


def run_key(data: bytes, settings: Settings) -> str:
    """sha256 over the PDF's bytes, the settings that change the text and the model's identity."""
    return _digest({"version": VERSION, **key_parts(data, settings)})


def header(data: bytes, settings: Settings, source_name: str, chunks_total: int) -> dict:
    """The report's first record."""
    return {"run": {"key": run_key(data, settings), "version": VERSION, "source": source_name,
                    "chunks_total": chunks_total, "parts": key_parts(data, settings)}}


@dataclass
class Earlier:
    """What a report on disk holds: its header (None when it has none) and its chunk records by index."""

    header: dict | None
    records: dict[int, dict] = field(default_factory=dict)


def read_report(path: str | os.PathLike) -> Earlier | None:
    """The report at `path`, or None when there is none. A line that does not parse (the last
    one, cut short by a kill in the middle of a write) is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return None
    earlier = Earlier(header=None)
    for number, line in enumerate(text.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if number == 0 and isinstance(record.get("run"), dict):
            earlier.header = record["run"]
        elif isinstance(record.get("index"), int) and isinstance(record.get("input"), str):
            earlier.records[record["index"]] = record  # a chunk written twice: the later line wins
    return earlier


def mismatch_note(earlier: Earlier, data: bytes, settings: Settings) -> str | None:
    """None when the earlier report belongs to this run (same key), else why it does not."""
    head = earlier.header
    if head is not None and head.get("version") == VERSION and head.get("key") == run_key(data, settings):
        return None
    if head is None or head.get("version") != VERSION:
        return "The report on disk is not one this version can resume from: starting over."
    parts, now = head.get("parts") or {}, key_parts(data, settings)
    changed = [label for name, label in (("pdf", "the PDF"), ("settings", "the settings"), ("model", "the model"))
               if parts.get(name) != now[name]]
    what = " and ".join(changed) if changed else "the run"
    return f"The earlier run's report does not match this run ({what} changed): starting over."


def reusable(record: dict, chunk: Chunk) -> bool:
    """A chunk record can stand for `chunk`: the same place, the same input, and not failed."""
    return (record.get("index") == chunk.index and record.get("input") == chunk.text
            and record.get("source") not in (None, "failed") and isinstance(record.get("output"), str))


def chunk_done(record: dict, chunk: Chunk) -> ChunkDone:
    """The ChunkDone a chunk record stands for (pipeline.output.chunk_record, read back), marked resumed."""
    guard = None
    metrics = record.get("metrics")
    if record.get("verdict") and isinstance(metrics, dict):
        guard = GuardReport(
            kept=float(metrics.get("kept", 0.0)),
            invented=float(metrics.get("invented", 0.0)),
            length_ratio=float(metrics.get("length_ratio", 0.0)),
            repetition=float(metrics.get("repetition", 0.0)),
            verdict=record["verdict"],
            reasons=tuple(record.get("reasons") or ()),
        )
    return ChunkDone(
        index=chunk.index,
        chunk=chunk,
        output=record["output"],
        source=record["source"],
        model_output=record.get("model_output"),
        guard=guard,
        seconds=float(record.get("seconds") or 0.0),
        tokens=int(record.get("tokens") or 0),
        error=record.get("error"),
        drafted=int(record.get("drafted") or 0),
        accepted=int(record.get("accepted") or 0),
        halted=record.get("halted"),
        resumed=True,
        edits=tuple(Edit(str(e.get("kind", "")), str(e.get("before", "")), str(e.get("after", "")), bool(e.get("kept")))
                    for e in record.get("edits") or () if isinstance(e, dict)),
    )


def reuse(report_path: str | os.PathLike, data: bytes, settings: Settings,
          chunks) -> tuple[dict[int, ChunkDone], str | None]:
    """The chunks an earlier report at `report_path` already holds for this run, by index,
    and a note when it was there but could not be used."""
    earlier = read_report(report_path)
    if earlier is None or (earlier.header is None and not earlier.records):
        return {}, None  # nothing there (or an empty file): a first run, nothing to say
    note = mismatch_note(earlier, data, settings)
    if note is not None:
        return {}, note
    taken = {}
    for chunk in chunks:
        record = earlier.records.get(chunk.index)
        if record is not None and reusable(record, chunk):
            taken[chunk.index] = chunk_done(record, chunk)
    return taken, None
