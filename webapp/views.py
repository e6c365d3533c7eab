"""What a run looks like as text: the document panel, the progress line, the chunk table,
the cleaned text so far and the compare view, all computed from a sessions.RunState.

Plain strings and lists only, for plain-text components: PDF text is never turned into
Markdown or HTML here or anywhere. It does not import gradio (app.py puts these values into
components) and changes no state.
"""

from __future__ import annotations

import time

from pipeline import ChunkDone, ChunkPlan, ChunkProgress, DocumentInfo, Settings
from pipeline.events import document_fields
from pipeline.edits import summary as edits_summary
from pipeline.output import join_outputs, join_result, removed_lines
from webapp.sessions import RunState


def pages_label(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


def ranges_label(numbers) -> str:
    """`ranges_label([1, 2, 3, 5]) -> "1–3, 5"`."""
    numbers = sorted(set(numbers))
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(pages_label(start, n))
            start = None
    return ", ".join(parts)


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def document_text(info: DocumentInfo | None, plan: ChunkPlan | None, file_name: str = "",
                  page_errors: dict[int, str] | None = None, settings: Settings | None = None,
                  awaiting_ocr=(), edits=()) -> str:
    """The document panel: one `key: value` per line (what was removed: one indented line per
    category under its total). `awaiting_ocr`: pages without a text layer, to be read by
    OCR when the run starts (the panel before a run reads the text layer only). `edits`:
    the model's edits so far (pipeline.edits), counted by kind."""
    if info is None:
        return ""
    lines = []
    if file_name:
        lines.append(f"file: {file_name}")
    lines.append(f"size: {info.file_size:,} bytes" + ("   (encrypted)" if info.encrypted else ""))
    lines.append(f"pages: {info.page_count}")
    for label, value in document_fields(info):
        lines.append(f"{label}: {value or '—'}")
    if awaiting_ocr:
        lines.append(f"no text layer: page{'s' if len(awaiting_ocr) != 1 else ''} {ranges_label(awaiting_ocr)} "
                     "(read by OCR when you run)")
    if plan is not None:
        lines.append(f"pages read: {ranges_label(plan.pages_read) or 'none'}")
        lines.append(f"characters read: {plan.raw_chars:,} ({plan.normalized_chars:,} after the rules)")
        if plan.budget_stopped_at:
            budget = f" of {settings.max_chars:,} characters" if settings else ""
            lines.append(f"budget: reached on page {plan.budget_stopped_at}{budget}; later pages were not read")
        else:
            lines.append("budget: not reached")
        if plan.ocr_pages:
            lines.append(f"read by OCR: {ocr_label(plan.ocr_pages)}")
        failed = plan.failed_pages
        if failed:
            reasons = "; ".join(f"{p}: {(page_errors or {}).get(p, 'unreadable')}" for p in failed)
            lines.append(f"pages that failed: {reasons}")
        else:
            lines.append("pages that failed: none")
        lines.append(f"chunks: {len(plan.chunks)}")
        # What the structure stage took out, per category, with the characters the model
        # stage is spared; the pieces themselves are in NAME.removed.txt.
        lines.extend(removed_lines(plan.removed, settings.layout if settings else True))
        # One note per limit that cut the reading (budget, pages, time, memory), with how
        # to raise it: the visitor must see why text is missing.
        lines.extend(f"note: {note}" for note in plan.notes)
    if said := edits_summary(edits):
        lines.append(f"model edits: {said}")
    return "\n".join(lines)


def run_document(state: RunState) -> str:
    """The document panel of a run: document_text with the run's file name, failed pages,
    settings and the model's edits so far."""
    edits = [edit for item in state.done.values() for edit in item.edits]
    return document_text(state.info, state.plan, f"{state.name}.pdf", state.page_errors, state.settings, edits=edits)


def ocr_label(ocr_pages) -> str:
    """`ocr_label(((1, 91.0), (2, 55.5))) -> "pages 1–2, mean confidence 73.2%; low confidence (check them): 2"`."""
    from pipeline.ocr import LOW_CONFIDENCE

    pages = [page for page, _ in ocr_pages]
    mean = sum(confidence for _, confidence in ocr_pages) / len(ocr_pages)
    low = [page for page, confidence in ocr_pages if confidence < LOW_CONFIDENCE]
    label = f"page{'s' if len(pages) != 1 else ''} {ranges_label(pages)}, mean confidence {mean:.1f}%"
    return label + (f"; low confidence (check them): {ranges_label(low)}" if low else "")


def progress_line(state: RunState) -> str:
    now = state.ended_at or time.monotonic()
    elapsed = clock(now - state.started)
    if state.plan is None:
        if state.error:
            return f"failed: {state.error}"
        if state.note:
            return state.note
        if state.ocr_page and state.ocr_page[0] > state.reading:
            return f"OCR page {state.ocr_page[0]}/{state.ocr_page[1]} · {elapsed}"
        if state.selected:
            return f"reading page {state.reading}/{state.selected} · {elapsed}"
        return "stopped" if state.ended_at else "opening the PDF…"
    total = len(state.plan.chunks)
    done = len(state.done)
    tokens = sum(d.tokens for d in state.done.values()) + sum(p.tokens for p in state.partial.values())
    working = max(1e-6, now - (state.plan_at or state.started))  # since the chunks were planned
    speed = f" · {tokens / working:.0f} tok/s" if state.settings.use_llm and tokens else ""
    where = f" · {state.model}" if state.model else ""
    if state.busy:
        if 0 < done < total:
            eta = f" · ETA {clock(working / done * (total - done))}"
        elif state.partial and not done:
            eta = " · ETA after the first chunk"
        else:
            eta = ""
        head = f"{done}/{total} chunks{speed} · {elapsed} elapsed{eta}{where}"
        return f"{state.note} · {head}" if state.note else head
    if state.error:
        return f"failed after {done}/{total} chunks: {state.error}"
    if state.stopped:
        return f"stopped: {done}/{total} chunks kept{speed} · {elapsed}{where}"
    return f"done: {done}/{total} chunks{speed} · {elapsed}{where}"


def cleaned_text(state: RunState) -> str:
    """The text a visitor reads. While the run goes: the finished chunks up to the first one
    not finished, then that chunk's text as the model writes it (chunks further on are in
    the table, not here: pieces of them would read as if the text between were gone). Once
    over with chunks missing: every finished chunk, each gap marked (pipeline.output)."""
    if state.plan is None:
        return ""
    chunks = state.plan.chunks
    if not state.busy and state.done and len(state.done) < len(chunks):
        why = "the run failed" if state.error else "the run was stopped"
        return join_result(chunks, state.done, why)
    prefix = []
    for chunk in chunks:
        if chunk.index not in state.done:
            break
        prefix.append(state.done[chunk.index])
    text = join_outputs(prefix)
    if len(prefix) < len(chunks):
        writing = state.partial.get(chunks[len(prefix)].index)
        if writing is not None and writing.text:
            text += (chunks[len(prefix)].separator if text else "") + writing.text
    return text


def _verdict(item: ChunkDone | None) -> str:
    if item is None or item.guard is None:
        return "—"
    if not item.guard.reasons:
        return item.guard.verdict
    return f"{item.guard.verdict}: {'; '.join(item.guard.reasons)}"


def _status(item: ChunkDone | None, partial: ChunkProgress | None, busy: bool) -> str:
    if item is not None:
        return {
            "llm": "cleaned",
            "rules": "rules only",
            "fallback": "input kept (guard)",
            "failed": f"failed: {item.error or 'error'}",
        }.get(item.source, item.source)
    if partial is not None:
        return "writing…"
    return "waiting" if busy else "not done"


def table_rows(state: RunState) -> list[list]:
    if state.plan is None:
        return []
    rows = []
    for chunk in state.plan.chunks:
        item = state.done.get(chunk.index)
        partial = state.partial.get(chunk.index)
        tokens = item.tokens if item is not None else (partial.tokens if partial is not None else 0)
        rows.append([
            chunk.index + 1,
            pages_label(chunk.first_page, chunk.last_page),
            _status(item, partial, state.busy),
            _verdict(item),
            tokens,
            round(item.seconds, 1) if item is not None else None,
        ])
    return rows


def chunk_choices(plan: ChunkPlan | None) -> list[tuple[str, int]]:
    if plan is None:
        return []
    return [(f"chunk {c.index + 1} · page {pages_label(c.first_page, c.last_page)}", c.index) for c in plan.chunks]


_EDITS_SHOWN = 60  # edits listed in the compare view at most


def edit_lines(edits) -> str:
    """The compare view's list of the model's edits: one line each, kept or reverted, its
    kind, and the input's words -> the model's (plain text: never rendered as markup)."""
    if not edits:
        return ""
    kept = sum(edit.kept for edit in edits)
    lines = [f"\nedits: {kept} kept, {len(edits) - kept} reverted"]
    for edit in edits[:_EDITS_SHOWN]:
        lines.append(f"  {'kept' if edit.kept else 'REVERTED':8} {edit.kind:11} "
                     f"{_quoted(edit.before)} -> {_quoted(edit.after)}")
    if len(edits) > _EDITS_SHOWN:
        lines.append(f"  ... and {len(edits) - _EDITS_SHOWN} more (all in the report)")
    return "\n".join(lines)


def _quoted(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f'"{text[:limit]}{"…" if len(text) > limit else ""}"' if text else "(nothing)"


def chunk_view(state: RunState, index: int) -> tuple[str, str, str]:
    """The compare view of chunk `index` (in range): its input, the model's text, a note."""
    chunk = state.plan.chunks[index]
    item = state.done.get(index)
    partial = state.partial.get(index)
    if item is not None:
        output = item.model_output if item.model_output is not None else item.output
        used = {"llm": "the model's text", "fallback": "the input (the guard rejected the model's text)",
                "rules": "the normalized input (rules only)", "failed": "the normalized input (the chunk failed)"}
        note = (f"chunk {index + 1} · page {pages_label(chunk.first_page, chunk.last_page)} · "
                f"{len(chunk.text):,} → {len(output):,} characters · {item.tokens} tokens in {item.seconds:.1f} s\n"
                f"verdict: {_verdict(item)}")
        if item.guard is not None:
            g = item.guard
            note += (f"\nkept {g.kept:.0%} of the input's words · {g.invented:.0%} new words · "
                     f"length ×{g.length_ratio:.2f} · repetition {g.repetition:.0%}")
        reverted = any(not edit.kept for edit in item.edits)
        note += f"\nthe result uses: {used.get(item.source, item.source)}"
        note += ", with the edits marked 'reverted' undone" if reverted else ""
        if item.error:
            note += f"\nerror: {item.error}"
        note += edit_lines(item.edits)
    elif partial is not None:
        output, note = partial.text, f"chunk {index + 1}: being written ({partial.tokens} tokens so far)"
    else:
        output, note = "", f"chunk {index + 1}: not cleaned yet"
    return chunk.text, output, note
