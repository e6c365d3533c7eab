"""The web app's run control: a visitor's run, its Stop, a one-chunk regeneration, and the
page's reading of a PDF, without Gradio.

    controller = RunController(Sessions(root, max_age), Line(32), ModelStatus(),
                               limits=ServerLimits(upload=parse_size("50mb")), offered=offered)
    for update in controller.clean(pdf_path, session_key, form_values):
        ...   # Update(state, parts): render the run's state (app.py does, with webapp/views.py)
    controller.stop(session_key)                      # the run ends within a layer of the model
    for item in controller.regenerate(session_key, chunk_index, form_values):
        ...   # Waiting(note), Writing(index, text, tokens), then Regenerated(state, index)

How a run goes: the handler joins the line for the model at once (a full line is a
UserError with the busy message, and changes nothing for the tab), gets a run of its own
from the session registry (which stops the tab's previous run), and starts a worker thread.
The worker waits for its turn on the model, iterates the pipeline's events and applies each
to the run's state (`RunState.apply`, the one event applier). The handler meanwhile only
follows the state on a timer, so it can be closed (Stop, a cancel, a closed tab) at once;
the pipeline then stops within a layer of the model and the worker closes it. Handled
problems (skipped pages, limits, rejected chunks, a partial result) and the run's notices (a
served model gone one request at a time) go to `notify`.

What it does not do: no Gradio and no `spaces` (app.py renders the updates, turns UserError
into the page's error and wraps the generating functions with `spaces.GPU`, given here as
`on_gpu`), no pipeline work of its own (pipeline.run, pipeline.runner.process_chunks).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline import Chunk, ChunkPlan, DocumentInfo, NoTextError, PageRead, PipelineError, Settings
from pipeline import model as models
from pipeline.runner import process_chunks, run
from webapp import gpu_time
from webapp.errors import UserError, unexpected
from webapp.form import ServerLimits, reading_settings, settings_from_form
from webapp.model_service import ModelStatus, model_label
from webapp.offered import OfferedModels
from webapp.sessions import Line, LineFull, RunState, Sessions, StopFile
from webapp.uploads import check_upload
from webapp.views import chunk_view, clock, document_text, ranges_label

log = logging.getLogger("pdf_cleaner.app")

UPDATE_INTERVAL = 0.15  # seconds between two live updates of the page (~7 per second)
HEARTBEAT = 1.0  # seconds: the page is updated at least this often (the clock ticks)
STOP_WAIT = 30.0  # how long Stop waits for the run to wind down before answering
BUSY_MESSAGE = "PDF Cleaner is busy: {waiting} already waiting for the model. Try again in a minute."
EVERYTHING = frozenset({"document", "plan", "files"})


# ---------------------------------------------------------------------------------------------
# what the handlers yield


@dataclass(frozen=True)
class Update:
    """Show the run's state: progress, text and table always, and the `parts` named
    ("document": the document panel, "plan": the chunk picker and the raw text, "files": the
    downloads), so that a live update stays small and keeps the compare view's choice."""

    state: RunState
    parts: frozenset = EVERYTHING


@dataclass(frozen=True)
class Waiting:
    """A regeneration waits (its turn, the model); note "" when there is nothing new to say."""

    note: str


@dataclass(frozen=True)
class Writing:
    """A regeneration's chunk so far."""

    index: int
    text: str
    tokens: int


@dataclass(frozen=True)
class Regenerated:
    """A regeneration is over: show the chunk and the run with it."""

    state: RunState
    index: int


def served_label(settings: Settings) -> str:
    """Where a run's model runs, for the page: "NAME served at URL" (empty for rules only,
    which names no model)."""
    return f"{settings.model} served at {settings.api_base}" if settings.use_llm and settings.api_base else ""


def _log_notice(level: str, message: str) -> None:
    log.info("%s: %s", level, message)


def _on_cpu(events: Callable, duration: Callable) -> Callable:
    return events


# ---------------------------------------------------------------------------------------------
# the controller


class RunController:
    """Runs, Stop and regenerations for every session of one server.

    `limits`, `offered` and `line.limit` are the operator's (app.serve sets them from its
    flags); `notify(level, message)` shows a handled problem ("warning" or "info");
    `on_gpu(events, duration)` wraps a generating function to run on a GPU (ZeroGPU's
    `spaces.GPU`; as it is elsewhere).
    """

    def __init__(self, sessions: Sessions, line: Line, model: ModelStatus, *, limits: ServerLimits,
                 offered: OfferedModels, device: str | None = None, zero_gpu: bool = False,
                 notify: Callable[[str, str], None] = _log_notice, on_gpu: Callable = _on_cpu):
        self.sessions, self.line, self.model = sessions, line, model
        self.limits, self.offered = limits, offered
        self.device, self.zero_gpu = device, zero_gpu
        self.notify = notify
        self.run_events_gpu = on_gpu(self.run_events, gpu_time.run_seconds)
        self.clean_one_gpu = on_gpu(self.clean_one_events, gpu_time.chunk_seconds)

    # -- settings and the document panel ------------------------------------------------------

    def settings(self, values: dict) -> Settings:
        """The run's Settings from the form's values, checked (UserError when refused)."""
        return settings_from_form(values, offered=self.offered, server_model=self.model.name, limits=self.limits,
                                  served=self.model.served)

    def extract(self, path: str | None, values: dict) -> tuple[str, str]:
        """Read a PDF without the model: its document panel (with what the structure stage
        would remove) and its raw extracted text.

        Only the text layer: pages without one are named in the panel and read by OCR when
        the visitor runs (OCR costs seconds a page; done here too, a scan would be read twice).
        """
        if not path:
            return "", ""
        check_upload(path, self.limits.upload)
        settings = reading_settings(values, self.limits)
        document_info, plan, errors, textless = None, None, {}, []
        try:
            for event in run(path, settings.with_(ocr="never")):
                if isinstance(event, DocumentInfo):
                    document_info = event
                elif isinstance(event, PageRead) and event.error:
                    errors[event.page] = event.error
                elif isinstance(event, PageRead) and not event.chars:
                    textless.append(event.page)
                elif isinstance(event, ChunkPlan):
                    plan = event
        except NoTextError as exc:
            if settings.ocr == "never" or document_info is None:
                raise UserError(str(exc)) from exc
        except PipelineError as exc:
            raise UserError(str(exc)) from exc
        if plan is not None:
            self._warn_plan(plan)
        document = document_text(document_info, plan, Path(path).name, errors, settings,
                                 awaiting_ocr=textless if settings.ocr != "never" else ())
        return document, plan.raw_text if plan else ""

    # -- the generating functions (on a GPU when there is one) ---------------------------------

    def _stop_for(self, run_id: str, folder: str):
        # By the run's id, not the session's: a session's next run must not lend its stop
        # event to the run it replaces. In a ZeroGPU worker process the registry is a stale
        # copy and an event does not reach it: there, the run's stop file does.
        if self.zero_gpu:
            return StopFile(Path(folder) / ".stop")
        state = self.sessions.by_id(run_id)
        return state.stop if state is not None else None

    def run_events(self, pdf_path: str, settings: Settings, text_path: str, report_path: str, run_id: str):
        """The pipeline's events for one run, with user-caused failures as UserError."""
        stop = self._stop_for(run_id, str(Path(text_path).parent))
        try:
            yield from run(pdf_path, settings, stop=stop, output_path=text_path, report_path=report_path)
        except PipelineError as exc:
            raise UserError(str(exc)) from exc

    def clean_one_events(self, chunk: Chunk, settings: Settings, run_id: str, folder: str):
        """Clean one chunk again and judge it, as run() does for every chunk."""
        try:
            # A served model answers over its API: nothing is loaded in this process.
            loaded = None if settings.api_base else models.get_model(settings.model, device=self.device)
            yield from process_chunks([chunk], settings, loaded, self._stop_for(run_id, folder))
        except PipelineError as exc:
            raise UserError(str(exc)) from exc

    # -- a run -----------------------------------------------------------------------------------

    def clean(self, path: str | None, key: str, values: dict):
        """Run the pipeline for session `key` and yield Updates until the run is over."""
        if not path:
            raise UserError("Choose a PDF first (or click one of the examples).")
        check_upload(path, self.limits.upload)
        settings = self.settings(values)
        ticket = self._join_line()  # before anything else: a busy server changes nothing for this tab
        try:
            state = self.sessions.new_run(key, path, settings)  # stops this tab's previous run
        except BaseException:
            self.line.leave(ticket)
            raise
        working = False  # once the worker runs, it ends the state and leaves the line
        try:
            yield Update(state)
            if settings.use_llm and not (yield from self._wait_for_startup_model(state, Update)):
                state.end()
                if self.sessions.is_current(state):
                    yield Update(state)
                return

            def events():
                paths = (str(state.clean_path), str(state.report_path), state.id)
                if not settings.use_llm or settings.api_base:  # no model in this process, no GPU
                    state.model = served_label(settings)
                    return self.run_events(path, settings, *paths)
                self._load_model_for(settings, state)
                return self.run_events_gpu(path, settings, *paths)

            self._start_worker(state, events, ticket)
            working = True
            warned = False
            told = 0  # the run's notices shown so far
            for _ in self._follow(state):
                if not self.sessions.is_current(state):
                    return  # a newer run of this tab owns the page now: say nothing more
                with state.lock:
                    parts = frozenset(state.take_dirty())
                yield Update(state, parts)
                if not warned and state.plan is not None:
                    warned = True
                    self._warn_plan(state.plan)
                told = self._tell(state, told)
            if not self.sessions.is_current(state):
                return
            self._raise_failure(state)
            if not warned and state.plan is not None:
                self._warn_plan(state.plan)
            self._tell(state, told)
            self._warn_about(state)
            yield Update(state)
        except Exception as exc:
            # The page shows why the run ended (its progress line), then the error itself.
            state.error = str(exc) if isinstance(exc, UserError) else unexpected(exc)
            if self.sessions.is_current(state):
                yield Update(state)
            raise
        finally:
            self._let_go(state, ticket, working)

    def stop(self, key: str) -> RunState | None:
        """Stop session `key`'s run and wait (at most STOP_WAIT) for it to wind down; None
        when it has no run going."""
        state = self.sessions.current(key)
        if state is None or not state.busy:
            return None
        state.stop.set()
        state.finished.wait(STOP_WAIT)
        return state

    def stop_quietly(self, key: str) -> None:
        """A new or removed file empties the page: stop the run that was filling it."""
        state = self.sessions.current(key)
        if state is not None:
            state.stop.set()

    def end_session(self, key: str) -> None:
        """The tab went away: stop its run and delete its files once the run has wound down."""
        self.sessions.close(key)

    # -- the compare view ----------------------------------------------------------------------

    def show_chunk(self, key: str, index) -> tuple[str, str, str]:
        """One chunk's input, its cleaned text, and what the guard said ("" when none is picked)."""
        state = self.sessions.current(key)
        if index is None or index == "" or state is None or state.plan is None:
            return "", "", ""
        with state.lock:
            return chunk_view(state, self._chunk_index(state, index))

    @staticmethod
    def _chunk_index(state: RunState, index) -> int:
        index = int(index)
        if not 0 <= index < len(state.plan.chunks):
            raise UserError(f"There is no chunk {index + 1}: this document has {len(state.plan.chunks)}.")
        return index

    def regenerate(self, key: str, index, values: dict):
        """Clean one chunk of the session's run again with the form's settings and put it into
        the result; yields Waiting, Writing, then Regenerated."""
        state = self.sessions.current(key)
        if state is None or state.plan is None:
            raise UserError("Run a PDF first, then pick a chunk to regenerate.")
        if index is None or index == "":
            raise UserError("Pick a chunk first.")
        index = self._chunk_index(state, index)
        settings = self.settings(values)
        if not settings.use_llm:
            raise UserError("Regenerating needs the model: untick 'rules only' in the settings.")
        chunk = state.plan.chunks[index]
        if not state.begin_again():
            raise UserError("A run is still going: stop it or let it finish, then regenerate.")
        try:
            ticket = self._join_line()
        except BaseException:
            state.end()
            raise
        working = False
        try:
            if not (yield from self._wait_for_startup_model(state, lambda s: Waiting(s.note))):
                return

            def events():
                if settings.api_base:
                    state.model = served_label(settings)
                    return self.clean_one_events(chunk, settings, state.id, str(state.folder))
                self._load_model_for(settings, state)
                return self.clean_one_gpu(chunk, settings, state.id, str(state.folder))

            self._start_worker(state, events, ticket)
            working = True
            for _ in self._follow(state):
                with state.lock:
                    partial = state.partial.get(index)
                if partial is not None:
                    yield Writing(index, partial.text, partial.tokens)
                else:
                    yield Waiting(state.note)
            self._raise_failure(state)
        except UserError as exc:
            state.error = str(exc)
            raise
        finally:
            self._let_go(state, ticket, working)
        item = state.done.get(index)
        if item is not None and item.source == "fallback":
            self.notify("warning", f"The guard rejected the new text for chunk {index + 1}: its input is kept.")
        yield Regenerated(state, index)  # this run's chunk, even if a newer run is the session's now

    # -- the worker ------------------------------------------------------------------------------

    def _join_line(self) -> object:
        """A place in the line for the model, or the busy message when too many runs wait."""
        try:
            return self.line.join()
        except LineFull as full:
            runs = f"{full.waiting} run is" if full.waiting == 1 else f"{full.waiting} runs are"
            raise UserError(BUSY_MESSAGE.format(waiting=runs)) from None

    def _let_go(self, state: RunState, ticket: object, working: bool) -> None:
        """The handler is done or was closed (Stop, a cancel, a closed tab). Before the worker
        started, the run ends here; after, the worker stops the pipeline and ends the state
        itself. Nothing here may block: Gradio closes generators on its event loop."""
        if not working:
            state.end()
            self.line.leave(ticket)
        elif not state.finished.is_set():
            state.stop.set()

    def _wait_for_startup_model(self, state: RunState, shape):
        """Wait for the model loaded at start-up. A generator: yields `shape(state)` while it
        waits, so the page says why nothing happens yet and Stop can end the wait. Returns
        False when Stop was pressed meanwhile."""
        waited = time.monotonic()
        while not self.model.ready.wait(0.5):
            if state.stop.is_set():
                return False
            state.note = f"waiting for the model to finish loading ({clock(time.monotonic() - waited)})"
            yield shape(state)
        return not state.stop.is_set()

    def _load_model_for(self, settings: Settings, state: RunState) -> None:
        """Make sure the run's model is loaded (in the worker thread: a Hub download can take
        a while and must not hold up the page)."""
        if self.zero_gpu and (settings.model != self.model.name or self.model.error):
            # On ZeroGPU a model reaches the GPU only when loaded at start-up, in the thread
            # that imported `spaces` (pipeline.model.load_model): here it would fail on CUDA.
            if self.model.error:
                raise UserError(f"The model {model_label(self.model.name)} could not be loaded when this server "
                                f"started: {self.model.error} Tick 'rules only' in the settings to run without it.")
            raise UserError(f"Only {model_label(self.model.name)} runs on this server: pick it in the settings.")
        if settings.model != self.model.name or self.model.error:
            state.note = f"loading {model_label(settings.model)}"
            state.changed.set()
        try:
            loaded = models.get_model(settings.model, device=self.device)
        except PipelineError as exc:
            raise UserError(f"{exc} Or tick 'rules only' in the settings.") from exc
        state.note = ""
        state.model = f"{model_label(settings.model)} on {loaded.device}"

    @staticmethod
    def _waiting_note(state: RunState, ahead: int) -> None:
        note = f"waiting for the model: {ahead} run{'s' if ahead != 1 else ''} ahead of yours"
        if note != state.note:
            state.note = note
            state.changed.set()

    def _start_worker(self, state: RunState, make_events: Callable, ticket: object) -> None:
        """Wait for the ticket's turn on the model, then iterate `make_events()` in a thread,
        applying each event to `state` under its lock.

        One run at a time: there is one model per process, and a run that was stopped or
        cancelled keeps its turn until its last decoding step is over and its files are
        finished. The context is copied so that ZeroGPU sees the visitor's request.
        """

        def work() -> None:
            try:
                if not self.line.wait_turn(ticket, state.stop, report=lambda ahead: self._waiting_note(state, ahead)):
                    return  # stopped while waiting
                if state.note.startswith("waiting for the model:"):
                    state.note = ""
                if state.stop.is_set():
                    return
                state.stop_file.clear()  # a regeneration reuses the run's folder
                events = make_events()
                asked = None
                try:
                    for event in events:
                        with state.lock:
                            urgent = state.apply(event)
                        if urgent:
                            state.changed.set()
                        if self.zero_gpu and state.stop.is_set():
                            # The event does not reach the GPU worker; the file does, and the
                            # run winds down there, sending every chunk it finished. Closed
                            # (the chunks not yet due then only in the files) if it does not.
                            state.stop_file.set()
                            asked = asked or time.monotonic()
                            if time.monotonic() - asked > STOP_WAIT:
                                break
                finally:
                    events.close()
            except BaseException as exc:  # handed to the handler, which raises it
                state.failure = exc
            finally:
                state.end()
                self.line.leave(ticket)

        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(work,), name="pdf-cleaner-run", daemon=True).start()

    @staticmethod
    def _follow(state: RunState):
        """Yield while the worker runs: at once after an urgent change, otherwise at most every
        UPDATE_INTERVAL when something changed, and every HEARTBEAT regardless."""
        last, seen = 0.0, -1
        while not state.finished.is_set():
            urgent = state.changed.wait(UPDATE_INTERVAL)
            state.changed.clear()
            now = time.monotonic()
            if state.finished.is_set():
                break
            if urgent or (state.version != seen and now - last >= UPDATE_INTERVAL) or now - last >= HEARTBEAT:
                last, seen = now, state.version
                yield

    @staticmethod
    def _raise_failure(state: RunState) -> None:
        """Re-raise what ended the worker early: a UserError, or a bug as itself."""
        if state.failure is not None:
            raise state.failure

    # -- handled problems --------------------------------------------------------------------------

    def _warn_plan(self, plan: ChunkPlan) -> None:
        """What the reading left out: failed pages, and each limit that cut it (with how to raise it)."""
        if plan.failed_pages:
            self.notify("warning", f"Pages {ranges_label(plan.failed_pages)} could not be read and are skipped.")
        for note in getattr(plan, "notes", ()):
            self.notify("warning", note)

    def _tell(self, state: RunState, told: int) -> int:
        """Show the run's notices after the first `told` (a served model gone one request at a
        time); how many have been shown."""
        with state.lock:
            new = state.notices[told:]
        for message in new:
            self.notify("warning", message)
        return told + len(new)

    def _warn_about(self, state: RunState) -> None:
        """Handled problems of a finished run: rejected or failed chunks, a partial result."""
        done = list(state.done.values())
        rejected = [d.index + 1 for d in done if d.source == "fallback"]
        failed = [d.index + 1 for d in done if d.source == "failed"]
        suspicious = [d.index + 1 for d in done if d.guard is not None and d.guard.verdict == "suspicious"]
        if rejected:
            self.notify("warning", f"The guard rejected the model's text for chunk(s) {ranges_label(rejected)}: "
                                   "their normalized input is used instead. See the table and the compare view.")
        if failed:
            self.notify("warning", f"Chunk(s) {ranges_label(failed)} failed: their normalized input stands in. "
                                   "Regenerate them in the compare view.")
        if suspicious:
            self.notify("info", f"Chunk(s) {ranges_label(suspicious)} look suspicious to the guard: "
                                "check them in the compare view.")
        if state.stopped and state.plan is not None:
            self.notify("warning", f"Stopped: {len(done)} of {len(state.plan.chunks)} chunks are done. The text and "
                                   f"the download ({state.partial_path.name}) hold every one of them; the chunks not "
                                   "cleaned are marked [PDF Cleaner: ...] in place, with their text as the rules "
                                   "left it.")
