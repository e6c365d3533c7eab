"""`run()`, the one generator that turns a PDF into events, wiring the stages together.

    extract (with layout) -> structure -> normalize -> chunk -> (clean with the LLM -> guard) -> result

It yields, in order: DocumentInfo, one PageRead per selected page, ChunkPlan, then (LLM
only) ChunkProgress events while chunks are generated, one ChunkDone per chunk in document
order, a Notice among them when the served model stage changed course by itself (pipeline.served),
and RunFinished last. Stage logic lives in the stage modules; this module only
orders them, maps chunks back to pages, and writes finished chunks as they come.

Errors the user can fix are raised as PipelineError subclasses before or during the stream;
anything else is a bug and propagates unchanged. Closing the generator (or setting `stop`)
ends the run. Nothing finished is lost: every chunk the model stage finished, even one that
was not yet due in document order, is judged and written before the generator ends (closed,
interrupted or failed included), and a partial result marks each run of missing chunks
(pipeline.output.join_result).

With `resume=True` and a report from an earlier run of the same PDF, settings and model at
`report_path`, the chunks it holds are yielded from it (ChunkDone.resumed) in their places
instead of being cleaned again (pipeline.resume); the files are written whole as usual.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import replace

from pipeline import chunk as chunking
from pipeline import extract, normalize, ocr, sandbox, structure
from pipeline import resume as resuming
from pipeline.events import (
    Chunk,
    ChunkDone,
    ChunkPlan,
    ChunkProgress,
    DocumentInfo,
    Event,
    Notice,
    OcrProgress,
    PageRead,
    Removed,
    RunFinished,
)
from pipeline.choose_model import AUTO, resolve_model
from pipeline.output import ResultWriter, gap_runs, join_result
from pipeline.settings import Settings


def run(
    source: str | os.PathLike | bytes,
    settings: Settings | None = None,
    *,
    stop: threading.Event | None = None,
    model=None,
    output_path: str | os.PathLike | None = None,
    report_path: str | os.PathLike | None = None,
    resume: bool = False,
) -> Iterator[Event]:
    """Run the pipeline on a PDF (path or bytes) and yield its events.

    `model` is a loaded model (pipeline.model.LoadedModel) or None to use the one named by
    settings.model, loaded once per process. `stop` ends the run early when set. `resume`:
    take the chunks an earlier run already wrote to `report_path` (see the module docstring).
    """
    settings = settings or Settings()
    if settings.use_llm and model is None and settings.model == AUTO:
        # The model "auto" names, decided once: the run key (resume) and the report name it.
        settings = settings.with_(model=resolve_model(settings).name)
    stop = stop or threading.Event()
    started = time.perf_counter()

    data = extract.read_source(source, settings.max_file_mb)
    pages: list[extract.PageText] = []
    notes: list[str] = []
    stats: list[sandbox.ReadStats] = []
    selection: sandbox.Selection | None = None
    # Reading happens in a child process with time and memory limits (pipeline.sandbox);
    # closing `reading` kills it, so a run closed while reading leaves no work behind.
    reading = sandbox.read_pdf(data, settings, stop, stats)
    try:
        for item in reading:
            if isinstance(item, DocumentInfo):
                yield item
            elif isinstance(item, sandbox.Selection):
                selection = item
                if item.requested > len(item.pages):
                    notes.append(page_limit_note(item, settings))
            elif isinstance(item, sandbox.ReadLimit):
                notes.append(item.message)
            elif isinstance(item, sandbox.OcrStarted):
                position = selection.pages.index(item.page) + 1 if item.page in selection.pages else 0
                yield OcrProgress(page=item.page, position=position, selected=len(selection.pages))
            else:
                pages.append(item)
                yield PageRead(
                    page=item.page,
                    position=len(pages),
                    selected=len(selection.pages),
                    chars=len(item.text),
                    error=item.error,
                    budget_reached=item.budget_reached,
                    ocr_confidence=item.ocr_confidence,
                )
                if item.budget_reached:
                    notes.append(budget_note(item.page, settings))
                if stop.is_set():
                    break
    finally:
        reading.close()
    incomplete = [p for p in pages if p.incomplete]
    if incomplete:
        notes.append(incomplete_note(incomplete))
    doubtful = [p.page for p in pages if p.ocr_confidence is not None and p.ocr_confidence < ocr.LOW_CONFIDENCE]
    if doubtful:
        notes.append(low_confidence_note(doubtful))
    # Stopped while reading (between pages, or inside one: the child was killed).
    unread = selection is None or (len(pages) < len(selection.pages) and not any(p.budget_reached for p in pages))
    interrupted = stop.is_set() and unread

    plan = plan_chunks(pages, settings, notes, stats[0] if stats else None)
    header, resumed = None, {}
    if report_path is not None:
        name = os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else ""
        header = resuming.header(data, settings, name, len(plan.chunks))
        if resume:  # read before the writer below empties the file
            resumed, note = resuming.reuse(report_path, data, settings, plan.chunks)
            plan = replace(plan, resumed=tuple(sorted(resumed)), resume_note=note)
    yield plan

    writer = ResultWriter(output_path, report_path, removed=plan.removed, ocr_pages=plan.ocr_pages, header=header)
    written: dict[int, ChunkDone] = {}  # yielded in document order, and written as they came
    # Every chunk the stage finished, judged, in any order; the resumed ones from the start,
    # so that a run stopped again keeps them too.
    finished: dict[int, ChunkDone] = dict(resumed)
    todo = [c for c in plan.chunks if c.index not in resumed]
    why = "the run was stopped"
    try:
        # Nothing left to clean: the model is not even loaded.
        stage = process_chunks(todo, settings, model, stop, finished=finished) if todo else iter(())
        for event in _in_place(stage, [resumed[c.index] for c in plan.chunks if c.index in resumed],
                               [c.index for c in todo]):
            if isinstance(event, ChunkDone):
                written[event.index] = event
                writer.add(event)
            yield event
    except KeyboardInterrupt:
        why = "the run was interrupted"
        raise
    except GeneratorExit:
        raise
    except BaseException:
        why = "the run failed"
        raise
    finally:
        # Runs on normal end, on stop, when the consumer closes the generator and when an
        # exception ends it: every finished chunk goes into the files, gaps are marked.
        done = {**finished, **written}
        gaps = tuple((plan.chunks[a].index, plan.chunks[b].index) for a, b in gap_runs(plan.chunks, done))
        summary = RunFinished(
            text=join_result(plan.chunks, done, why),
            chunks_done=len(done),
            chunks_total=len(plan.chunks),
            stopped=interrupted or len(done) < len(plan.chunks),
            seconds=time.perf_counter() - started,
            output_path=str(output_path) if output_path else None,
            report_path=str(report_path) if report_path else None,
            notes=plan.notes,
            gaps=gaps,
        )
        writer.finish(summary, late=[done[i] for i in sorted(done) if i not in written])
    yield summary


def _in_place(stage, resumed: list[ChunkDone], todo: list[int]) -> Iterator[Event]:
    """The stage's events with the resumed chunks yielded in their places, each as soon as
    every chunk before it is done, so that ChunkDone events stay in document order.
    `resumed` and `todo` (the indexes the stage cleans) are in document order."""
    waiting, left = deque(resumed), deque(todo)

    def due() -> Iterator[ChunkDone]:
        while waiting and (not left or waiting[0].index < left[0]):
            yield waiting.popleft()

    yield from due()
    for event in stage:
        yield event
        if isinstance(event, ChunkDone):
            if event.index in left:
                left.remove(event.index)
            yield from due()
    yield from waiting  # the stage stopped early: the rest after it (the files mark the gap)


def page_limit_note(selection: sandbox.Selection, settings: Settings) -> str:
    return (
        f"Only the first {len(selection.pages):,} of the {selection.requested:,} selected pages are read "
        f"(page limit: {settings.max_pages:,}). Select a page range to read others, or raise the limit "
        "(max_pages; --max-pages on the command line, 'max pages' in the web app's settings)."
    )


def incomplete_note(pages: list[extract.PageText]) -> str:
    numbers = ", ".join(str(p.page) for p in pages[:10]) + (", ..." if len(pages) > 10 else "")
    return f"The text of page(s) {numbers} may be incomplete: {pages[0].incomplete}."


def low_confidence_note(pages: list[int]) -> str:
    numbers = ", ".join(str(page) for page in pages[:10]) + (", ..." if len(pages) > 10 else "")
    return (
        f"Page(s) {numbers} were read by OCR with low confidence (mean word confidence below "
        f"{ocr.LOW_CONFIDENCE:g}%): their text is kept, but check it. A higher resolution (ocr_dpi; --ocr-dpi) "
        "or the document's language (ocr_language; --ocr-language) may read them better."
    )


def budget_note(page: int, settings: Settings) -> str:
    return (
        f"The character budget of {settings.max_chars:,} characters was reached on page {page}: later pages "
        "are not read. Raise it (max_chars; --max-chars on the command line, 'max chars' in the web app's "
        "settings) or select a page range."
    )


def plan_chunks(
    pages: list[extract.PageText],
    settings: Settings,
    notes: list[str] | tuple[str, ...] = (),
    stats: sandbox.ReadStats | None = None,
) -> ChunkPlan:
    """Keep what the settings ask for (structure stage), normalize, and cut into chunks that know their pages."""
    removed: tuple[Removed, ...] = ()
    glue_evidence = 0.0  # pypdf's text: glued words are split at any rate
    if settings.layout and any(p.layout is not None for p in pages):
        glue_evidence = normalize.GLUE_EVIDENCE
        laid_out = [(p.page, p.layout) for p in pages if p.layout is not None and p.text.strip()]
        selected = structure.select(laid_out, settings)
        kept = dict(selected.pages)
        removed = selected.removed
        # A page PDFium could not lay out keeps pypdf's plain text.
        with_text = [(p.page, kept[p.page] if p.layout is not None else p.text) for p in pages if p.text.strip()]
        with_text = [(number, text) for number, text in with_text if text.strip()]
    else:
        with_text = [(p.page, p.text) for p in pages if p.text.strip()]
    normalized = normalize.normalize_document(with_text, glue_evidence)
    text = normalized.text
    spans = chunking.chunk_spans(
        text,
        settings.chunk_size,
        **_token_budget(settings),
    )
    offsets = [offset for offset, _ in normalized.page_starts]
    numbers = [number for _, number in normalized.page_starts]

    def page_at(offset: int) -> int:
        if not numbers:
            return 0
        return numbers[max(0, bisect.bisect_right(offsets, offset) - 1)]

    chunks = []
    previous_end = None
    for index, (start, end) in enumerate(spans):
        gap = text[previous_end:start] if previous_end is not None else ""
        # A word longer than the chunk size is split with no gap: nothing joins its pieces.
        separator = "" if not gap else ("\n\n" if "\n\n" in gap else " ")
        chunks.append(
            Chunk(
                index=index,
                text=text[start:end],
                first_page=page_at(start),
                last_page=page_at(end - 1),
                separator=separator,
            )
        )
        previous_end = end

    budget_page = next((p.page for p in pages if p.budget_reached), None)
    plain_pages = tuple((p.page, p.layout.doubt) for p in pages if settings.layout and p.layout is not None
                        and p.layout.doubt)
    if plain_pages:
        notes = [*notes, plain_order_note(plain_pages)]
    return ChunkPlan(
        chunks=tuple(chunks),
        raw_chars=sum(len(p.text) for p in pages),
        normalized_chars=len(text),
        pages_read=tuple(p.page for p in pages if p.text.strip()),
        failed_pages=tuple(p.page for p in pages if p.error),
        budget_stopped_at=budget_page,
        raw_text="\n".join(p.text for p in pages if p.text),
        notes=tuple(notes),
        read_seconds=stats.seconds if stats else None,
        read_peak_mb=stats.peak_mb if stats else None,
        removed=removed,
        ocr_pages=tuple((p.page, p.ocr_confidence) for p in pages if p.ocr_confidence is not None),
        plain_pages=plain_pages,
    )


def plain_order_note(plain_pages: tuple[tuple[int, str], ...]) -> str:
    shown = "; ".join(f"page {page}: {why}" for page, why in plain_pages[:5])
    more = f"; and {len(plain_pages) - 5} more" if len(plain_pages) > 5 else ""
    return (f"{len(plain_pages)} page(s) were read in plain order, their layout not trusted ({shown}{more}). "
            "Their running heads, page numbers, stamps, tables and figures were still removed, nothing else.")


def _token_budget(settings: Settings) -> dict:
    """Arguments for a token budget per chunk, when one is set (needs the model's tokenizer)."""
    if not settings.chunk_tokens:
        return {}
    from pipeline.model import get_model

    tokenizer = get_model(settings.model).tokenizer
    return {
        "count_tokens": lambda s: len(tokenizer(s, add_special_tokens=False)["input_ids"]),
        "max_tokens": settings.chunk_tokens,
    }


def process_chunks(
    chunks, settings: Settings, model=None, stop: threading.Event | None = None,
    finished: dict[int, ChunkDone] | None = None,
) -> Iterator[ChunkProgress | ChunkDone | Notice]:
    """Turn planned chunks into finished ones: by rules only, or by the model stage plus the guard.

    Every finished chunk is judged and put into `finished` (by index) the moment the stage
    has it, in any order, so the caller keeps it even when the stream ends before it is due.
    run() calls this for the whole plan; the web page calls it for one chunk to regenerate.
    """
    stop = stop or threading.Event()
    finished = finished if finished is not None else {}
    if not settings.use_llm:
        for item in chunks:
            if stop.is_set():
                return
            done = ChunkDone(index=item.index, chunk=item, output=item.text, source="rules")
            finished[item.index] = done
            yield done
        return

    from pipeline import edits, guard
    from pipeline.model import get_model
    from pipeline.prompt import default_system_prompt
    from pipeline.schedule import EngineStage

    if settings.api_base:  # a served model: nothing is loaded in this process
        from pipeline.served import ServedStage

        stage = ServedStage()
    else:
        stage = EngineStage(model if model is not None else get_model(settings.model))
    instructions = settings.system_prompt or default_system_prompt()

    def judged(event: ChunkDone) -> ChunkDone:
        if event.source != "llm":
            return event
        report = guard.check(event.chunk.text, event.output, halted=event.halted, instructions=instructions)
        text, label = guard.apply_policy(report, event.chunk.text, event.output, settings.guard_policy)
        found: tuple = ()
        if label == "llm":  # the chunk as a whole is a cleaning: now each of its edits
            judged_edits = edits.judge_edits(event.chunk.text, text, allow_content=settings.model_edits == "all")
            text, found = judged_edits.text, judged_edits.edits
        return replace(event, output=text, source=label, guard=report, edits=found,
                       model_output=event.model_output if event.model_output is not None else event.output)

    def keep(event: ChunkDone) -> None:
        finished[event.index] = judged(event)

    for event in stage.clean(chunks, settings, stop=stop, keep=keep):
        if isinstance(event, ChunkDone):
            event = finished.get(event.index) or judged(event)
        yield event
