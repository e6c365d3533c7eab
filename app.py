"""PDF Cleaner's web page (Gradio Blocks): layout, event wiring, ZeroGPU and launch flags.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--model bundled]
                  [--max-file-size 50mb] [--queue-size 32]

All work is done by the pipeline: `pipeline.run()` yields typed events and this module only
renders the latest state of each browser session (kept by `sessions.py`). What it adds on top:

- throttled live output (about 7 updates a second, plus every finished chunk),
- Stop (a threading.Event the pipeline checks at every decoding step, and Gradio's cancel);
  a new file or a new run in the same tab stops the tab's run as well,
- one run at a time on the model, in arrival order; past QUEUE_SIZE waiting runs a visitor
  is told the app is busy (sessions.Line), in this module's words rather than the queue's,
- per-run download files (cleaned text, raw text, JSONL report, and NAME.removed.txt: what
  the structure stage took out, piece by piece) named after the PDF; an unfinished cleaned
  text is offered as NAME.partial.clean.txt,
- the podcast options (layout-aware reading, what to keep, math, citations), checked here
  for the page and the API alike: a value a crafted API call sends that the page could not
  is refused with a message,
- an upload size limit (the server's, plus a check with a message that says how to raise it),
- one-chunk regeneration for the compare view,
- the model loaded in a background thread at start-up, so the page is up at once,
- `spaces.GPU` around the generating functions (a no-op off ZeroGPU).

PDF text is only ever shown in plain-text components (Textbox, Dataframe cells of type
"str"), never as Markdown or HTML. Problems the user can fix arrive as `gr.Error`; handled
ones (skipped pages, a limit that cut the reading, chunks the guard rejected, a partial
result) as `gr.Warning`.
"""

from __future__ import annotations

import spaces  # noqa: I001  first: on ZeroGPU it patches torch before anything imports it

import argparse
import contextvars
import html
import logging
import math
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from pipeline import (
    Chunk,
    ChunkDone,
    ChunkPlan,
    ChunkProgress,
    DocumentInfo,
    PageRead,
    PipelineError,
    RunFinished,
    Settings,
)
from pipeline import model as models
from pipeline.output import ResultWriter, gap_runs, join_result, removed_file_text
from pipeline.runner import process_chunks, run
from pipeline.settings import CITATION_MODES, MATH_MODES, MAX_COPY_BIAS, SettingsError
from sessions import Line, LineFull, RunState, Sessions, StopFile, private_root, safe_name
from webapp.model_service import MODEL_ENV, ModelStatus, model_label, pick_default_model
from webapp.offered import ModelNotOffered, OfferedModels
from views import (
    chunk_choices,
    chunk_view,
    cleaned_text,
    clock,
    document_text,
    progress_line,
    ranges_label,
    table_rows,
)

log = logging.getLogger("pdf_cleaner.app")


ROOT = Path(__file__).resolve().parent
EXAMPLES = [ROOT / "examples" / "distillation-survey.pdf", ROOT / "examples" / "spoken-summaries.pdf"]
MODEL_CHOICES = [
    "bundled",
    "meta-llama/Llama-3.2-1B-Instruct",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
]
# Which models visitors may pick (webapp/offered.py); serve() decides it from its flags, the
# environment and whether others can reach the page. Until then: a local page, free choice.
OFFERED = OfferedModels.from_environment(None, None, None, "127.0.0.1", share=False)
ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
DEVICE = "cuda" if ZERO_GPU else None  # None: the best device visible (cuda, mps, cpu)

UPDATE_INTERVAL = 0.15  # seconds between two live updates of the page (~7 per second)
STOP_WAIT = 30.0  # how long Stop waits for the run to wind down before answering
MAX_FILE_SIZE_ENV = "PDF_CLEANER_MAX_FILE_SIZE"
MAX_FILE_SIZE = os.environ.get(MAX_FILE_SIZE_ENV) or "50mb"  # uploads above this are refused
QUEUE_SIZE_ENV = "PDF_CLEANER_QUEUE_SIZE"
READ_TIMEOUT_ENV = "PDF_CLEANER_READ_TIMEOUT"  # seconds the reading process of one PDF may take
READ_MEMORY_ENV = "PDF_CLEANER_READ_MEMORY_MB"  # memory the reading process of one PDF may use
QUEUE_SIZE = 32  # runs that may wait for the model; past it a visitor is told to come back
SESSIONS_ROOT = private_root(Path(tempfile.gettempdir()), "pdf-cleaner-sessions")  # mode 0700, ours
SESSION_MAX_AGE = 24 * 3600  # session folders untouched this long are removed by the sweep
SWEEP_INTERVAL = 300  # seconds between two sweeps of SESSIONS_ROOT
BUSY_MESSAGE = "PDF Cleaner is busy: {waiting} already waiting for the model. Try again in a minute."

# "Keep in the text": (label, value); value v sets Settings.keep_<v>.
KEEP_CHOICES = [
    ("figure and table captions", "captions"),
    ("footnotes", "footnotes"),
    ("author block (names, affiliations, e-mails)", "authors"),
    ("appendix", "appendix"),
    ("references", "references"),
]
MATH_CHOICES = [("drop", "drop"), ('an "[equation]" line', "placeholder"), ("keep their text", "keep")]
CITATION_CHOICES = [("remove", "remove"), ("keep", "keep")]
assert [v for _, v in MATH_CHOICES] == list(MATH_MODES) and [v for _, v in CITATION_CHOICES] == list(CITATION_MODES)

TABLE_HEADERS = ["#", "pages", "status", "verdict", "tokens", "seconds"]
N_RUN_OUTPUTS = 7  # document, progress, cleaned, table, chunk picker, raw, downloads


def user_error(message: str) -> gr.Error:
    """A gr.Error for something the user can fix. Gradio renders toast messages as HTML and
    a message may quote the user's input or the PDF, so it is escaped."""
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def warn(message: str) -> None:
    gr.Warning(html.escape(message, quote=False))


def info(message: str) -> None:
    gr.Info(html.escape(message, quote=False))


# ---------------------------------------------------------------------------------------------
# the model, loaded once at start-up (webapp/model_service.py)

MODEL = ModelStatus(device=DEVICE, zero_gpu=ZERO_GPU)


def device_line() -> str:
    return MODEL.line()


def watch_model():
    """Page load: show the device line, then again once the background load is over."""
    yield device_line()
    if not MODEL.ready.is_set():
        MODEL.ready.wait(timeout=600)
        yield device_line()


# ---------------------------------------------------------------------------------------------
# per-session state (kept by sessions.py), upload size

SESSIONS = Sessions(SESSIONS_ROOT, SESSION_MAX_AGE)
LINE = Line(QUEUE_SIZE)

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def parse_size(text: str | int) -> int:
    """Bytes in a size written as Gradio's max_file_size takes it, units of 1,024:
    `parse_size("50mb") -> 52428800`, `parse_size("1.5kb") -> 1536`, `parse_size(100) -> 100`."""
    if isinstance(text, int):
        return text
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a file size: {text!r} (write it like 50mb, 500kb or 2gb)")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def size_label(size: int) -> str:
    """`size_label(52428800) -> "50 MB"`, in the units of 1,024 that the limit is counted in."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


UPLOAD_LIMIT = parse_size(MAX_FILE_SIZE)  # bytes; serve() sets it from --max-file-size
# The reading process's limits are the server's to set (--read-timeout, --read-memory-mb),
# not the visitor's: they protect everyone else on the server.
READ_LIMITS = {"read_timeout": Settings().read_timeout, "read_memory_mb": Settings().read_memory_mb}


def check_size(path: str) -> None:
    """Refuse a file over the upload limit, in words that say how to raise it. The server
    refuses such uploads itself (Gradio's max_file_size); this catches the ways around its
    upload route, such as a URL a client hands over that the server fetches."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # the pipeline says what is wrong with the path
    if size > UPLOAD_LIMIT:
        raise user_error(
            f"This file is {size_label(size)} ({size:,} bytes), over this server's upload limit of "
            f"{size_label(UPLOAD_LIMIT)} ({UPLOAD_LIMIT:,} bytes). "
            f"Save the pages you need as a smaller PDF, or start PDF Cleaner with a higher limit: "
            f"python app.py --max-file-size 200mb (or {MAX_FILE_SIZE_ENV}=200mb)."
        )


def session_key(request: gr.Request | None) -> str:
    # The session hash comes from the client: keep it to a safe folder name.
    raw = getattr(request, "session_hash", None) or "anonymous"
    return safe_name(str(raw), "anonymous", limit=64)


def current(request: gr.Request | None) -> RunState | None:
    return SESSIONS.current(session_key(request))


def new_run(request: gr.Request | None, pdf_path: str, settings: Settings) -> RunState:
    """A run in a folder of its own; the session's previous run is stopped."""
    return SESSIONS.new_run(session_key(request), pdf_path, settings)


def end_session(request: gr.Request) -> None:
    """The browser tab went away: stop its run (and the run's reading process) and delete
    its files once the run has wound down."""
    SESSIONS.close(session_key(request))


def stop_session_run(request: gr.Request) -> None:
    """A new or removed file empties the page: stop the run that was filling it."""
    state = current(request)
    if state is not None:
        state.stop.set()


# ---------------------------------------------------------------------------------------------
# rendering: state -> component values (the text comes from views.py)


def removed_path(state: RunState) -> Path:
    return state.folder / f"{state.name}.removed.txt"


def apply_event(state: RunState, event) -> bool:
    """RunState.apply, and NAME.removed.txt once the plan says what was taken out (as the raw
    text is written then: both are known before any chunk is cleaned)."""
    urgent = state.apply(event)
    if isinstance(event, ChunkPlan):
        text = removed_file_text(event.removed, f"{state.name}.pdf", state.settings.layout)
        try:
            removed_path(state).write_text(text, encoding="utf-8")
        except FileNotFoundError:  # the session ended and its folder is gone: nobody will read it
            pass
    return urgent


def downloads(state: RunState | None) -> list[str]:
    """The files a visitor can download so far: cleaned text (NAME.partial.clean.txt while
    chunks are missing), raw text, report, and what was removed (NAME.removed.txt)."""
    if state is None:
        return []
    with state.lock:
        paths = state.download_paths()
        removed = removed_path(state)
        if state.plan is not None and removed.is_file():
            paths.append(removed)
        return [str(path) for path in paths]


def render(state: RunState, *, document: bool = False, plan: bool = False, files: bool = False) -> list:
    """Values for the run's outputs. Progress, text and table are always sent; the document
    panel, the chunk picker with the raw text, and the downloads only when asked, so that a
    live update stays small and does not reset the compare view's choice."""
    values = [gr.skip(), progress_line(state), cleaned_text(state), table_rows(state), gr.skip(), gr.skip(),
              gr.skip()]
    if document:
        values[0] = document_text(state.info, state.plan, f"{state.name}.pdf", state.page_errors, state.settings)
    if plan:
        # Without a value the page keeps the chunk a visitor is comparing.
        values[4] = (gr.Dropdown(choices=chunk_choices(state.plan)) if state.plan is not None
                     else gr.Dropdown(choices=[], value=None))
        values[5] = state.plan.raw_text if state.plan is not None else ""
    if files:
        values[6] = downloads(state)
    return values


def render_all(state: RunState) -> list:
    with state.lock:
        return render(state, document=True, plan=True, files=True)


def render_changes(state: RunState) -> list:
    """A live update: the parts that changed since the last one."""
    with state.lock:
        dirty = state.take_dirty()
        return render(state, document="document" in dirty, plan="plan" in dirty, files="files" in dirty)


def empty_outputs() -> list:
    return ["", "", "", [], gr.Dropdown(choices=[], value=None), "", []]


# ---------------------------------------------------------------------------------------------
# settings from the page


def model_choices() -> list[str]:
    """The dropdown's models: the offered ones, and a few suggestions when any may be typed."""
    names = list(OFFERED.names)
    return names + [n for n in MODEL_CHOICES if n not in names] if OFFERED.free else names


def make_settings(password, pages, max_chars, model, rules_only, chunk_size, batch_size,
                  temperature, top_p, max_new_tokens, seed, guard_policy, system_prompt,
                  max_pages=None, copy_bias=None, layout=None, keep=None, math=None,
                  citations=None) -> Settings:
    """One Settings object from the page's values, checked by Settings.validate (a crafted API
    call can send what the page's fields would not)."""
    defaults = Settings()

    def number(value, default, kind=int):
        return default if value is None or value == "" else kind(value)

    prompt = (system_prompt or "").strip()
    if prompt and prompt == default_prompt().strip():
        prompt = ""
    batch = number(batch_size, 0)
    seed_value = number(seed, -1)
    bias = number(copy_bias, -1.0, float)
    chosen = (model or "").strip() or (MODEL.name or models.BUNDLED)
    if not rules_only:
        try:
            OFFERED.check(chosen)  # before anything is loaded or looked up
        except ModelNotOffered as exc:
            raise user_error(str(exc)) from None
    settings = Settings(
        password=password or None,
        pages=(pages or "").strip() or None,
        max_chars=number(max_chars, defaults.max_chars),
        chunk_size=number(chunk_size, defaults.chunk_size),
        use_llm=not rules_only,
        model=chosen,
        system_prompt=prompt or None,
        temperature=number(temperature, defaults.temperature, float),
        top_p=number(top_p, defaults.top_p, float),
        max_new_tokens=number(max_new_tokens, defaults.max_new_tokens),
        batch_size=batch if batch > 0 else None,
        seed=seed_value if seed_value >= 0 else None,
        guard_policy=guard_policy,
        copy_bias=bias if bias >= 0 else None,
        **limits(max_pages),
        **podcast_options(layout, keep, math, citations),
    )
    try:
        return settings.validate()  # the CLI's rules and messages
    except SettingsError as exc:
        raise user_error(str(exc)) from None


def podcast_options(layout=None, keep=None, math=None, citations=None) -> dict:
    """The Settings fields of the structure stage from the page's values; None (an API caller
    that leaves one out) is the default. Gradio checks the choices of the keep group and of the
    radios itself, but not a checkbox's type; the keep list is checked here, the rest by
    Settings.validate, so that the page, the API, a direct call and the CLI follow one set of
    rules."""
    defaults = Settings()
    layout = defaults.layout if layout is None else layout
    keep_values = [value for _, value in KEEP_CHOICES]
    if keep is None:
        keep = [value for value in keep_values if getattr(defaults, f"keep_{value}")]
    if isinstance(keep, str) or not isinstance(keep, (list, tuple)):
        raise user_error(f"Keep in the text must be a list of some of: {', '.join(keep_values)}; "
                         f"not {keep!r}.")
    unknown = [value for value in keep if value not in keep_values]
    if unknown:
        raise user_error(f"Keep in the text: {', '.join(map(repr, unknown))} is not one of "
                         f"{', '.join(keep_values)}.")
    math = defaults.math if math is None or math == "" else math
    citations = defaults.citations if citations is None or citations == "" else citations
    # layout, math and citations are checked with every other setting (Settings.validate).
    return {"layout": layout, "math": math, "citations": citations,
            **{f"keep_{value}": value in keep for value in keep_values}}


def limits(max_pages) -> dict:
    """The Settings fields for the reading limits: the page's page limit, the upload limit as
    the pipeline's file size limit (both count MB of 2^20 bytes), and the server's time and
    memory limits for the reading process."""
    pages = Settings().max_pages if max_pages is None or max_pages == "" else int(max_pages)
    return {"max_pages": pages, "max_file_mb": UPLOAD_LIMIT / 2**20, **READ_LIMITS}


def default_prompt() -> str:
    from pipeline.prompt import default_system_prompt

    return default_system_prompt()


def _pdf_path(pdf) -> str | None:
    if pdf is None:
        return None
    return pdf if isinstance(pdf, str) else getattr(pdf, "name", None) or getattr(pdf, "path", None)


# ---------------------------------------------------------------------------------------------
# generating functions (on the GPU when there is one)


def _stop_for(run_id: str, folder: str):
    # By the run's id, not the session's: a session's next run must not lend its stop event
    # to the run it replaces. In a ZeroGPU worker process the registry is a stale copy and an
    # event does not reach it: there, the run's stop file does (sessions.StopFile).
    if ZERO_GPU:
        return StopFile(Path(folder) / ".stop")
    state = SESSIONS.by_id(run_id)
    return state.stop if state is not None else None


def run_events(pdf_path: str, settings: Settings, text_path: str, report_path: str, run_id: str):
    """The pipeline's events for one run, with user-caused failures as gr.Error."""
    stop = _stop_for(run_id, str(Path(text_path).parent))
    try:
        yield from run(pdf_path, settings, stop=stop, output_path=text_path, report_path=report_path)
    except PipelineError as exc:
        raise user_error(str(exc)) from exc


def clean_one_events(chunk: Chunk, settings: Settings, run_id: str, folder: str):
    """Clean one chunk again and judge it, as run() does for every chunk."""
    try:
        loaded = models.get_model(settings.model, device=DEVICE)
        yield from process_chunks([chunk], settings, loaded, _stop_for(run_id, folder))
    except PipelineError as exc:
        raise user_error(str(exc)) from exc


def _pages_in(pdf_path: str, settings: Settings) -> int:
    """Page count for the GPU-time estimate: read in the reading child, never in this process."""
    from pipeline import extract, sandbox

    try:
        return sandbox.read_info(extract.read_source(pdf_path, settings.max_file_mb), settings).page_count
    except PipelineError:
        return 1


# Seconds per decoding step of a ~1B model on a ZeroGPU slice, plus set-up time; measured
# loosely, rounded up: asking for too little gets the run cut, too much costs queue priority.
_STEP_SECONDS = 0.03
_SETUP_SECONDS = 20


def run_gpu_seconds(pdf_path: str, settings: Settings, *_args) -> int:
    """ZeroGPU duration for a run, from the amount of work it will do."""
    pages = min(settings.max_pages, _pages_in(pdf_path, settings))
    chars = min(settings.max_chars, pages * 4000)
    chunks = math.ceil(chars / max(1, settings.chunk_size))
    batches = math.ceil(chunks / (settings.batch_size or 16))
    return int(min(300, max(30, _SETUP_SECONDS + batches * settings.max_new_tokens * _STEP_SECONDS)))


def chunk_gpu_seconds(chunk: Chunk, settings: Settings, *_args) -> int:
    return int(min(120, max(20, _SETUP_SECONDS + settings.max_new_tokens * _STEP_SECONDS)))


run_events_gpu = spaces.GPU(duration=run_gpu_seconds)(run_events)
clean_one_events_gpu = spaces.GPU(duration=chunk_gpu_seconds)(clean_one_events)


def wait_for_startup_model(state: RunState, shape):
    """Wait for the model loaded at start-up. A generator: yields `shape(state)` while it
    waits, so the page says why nothing happens yet and Stop can end the wait. Returns False
    when Stop was pressed meanwhile."""
    waited = time.monotonic()
    while not MODEL.ready.wait(0.5):
        if state.stop.is_set():
            return False
        state.note = f"waiting for the model to finish loading ({clock(time.monotonic() - waited)})"
        yield shape(state)
    return not state.stop.is_set()


def load_model_for(settings: Settings, state: RunState) -> None:
    """Make sure the run's model is loaded (in the worker thread: a Hub download can take a
    while and must not hold up the page); a model that cannot be had is a gr.Error."""
    if settings.model != MODEL.name or MODEL.error:
        state.note = f"loading {model_label(settings.model)}"
        state.changed.set()
    try:
        loaded = models.get_model(settings.model, device=DEVICE)
    except PipelineError as exc:
        raise user_error(f"{exc} Or tick 'rules only' in the settings.") from exc
    state.note = ""
    state.model = f"{model_label(settings.model)} on {loaded.device}"


# ---------------------------------------------------------------------------------------------
# the worker thread that feeds a RunState

HEARTBEAT = 1.0  # seconds: the page is updated at least this often (the clock ticks)


def join_line() -> object:
    """A place in the line for the model, or the busy message when too many runs wait."""
    try:
        return LINE.join()
    except LineFull as full:
        runs = f"{full.waiting} run is" if full.waiting == 1 else f"{full.waiting} runs are"
        raise user_error(BUSY_MESSAGE.format(waiting=runs)) from None


def _waiting_note(state: RunState, ahead: int) -> None:
    note = f"waiting for the model: {ahead} run{'s' if ahead != 1 else ''} ahead of yours"
    if note != state.note:
        state.note = note
        state.changed.set()


def start_worker(state: RunState, make_events, apply, ticket: object) -> None:
    """Wait for the ticket's turn on the model, then iterate `make_events()` in a thread,
    applying each event to `state` under its lock.

    One run at a time: there is one model per process, and a run that was stopped or
    cancelled keeps its turn until its last decoding step is over and its files are
    finished. The Gradio handler only renders the state on a timer, so it can be closed
    (Stop, cancel, a closed tab) at once instead of waiting for the next event; the pipeline
    then stops within one decoding step and this thread closes it. The context is copied so
    that ZeroGPU sees the visitor's request.
    """

    def work() -> None:
        try:
            if not LINE.wait_turn(ticket, state.stop, report=lambda ahead: _waiting_note(state, ahead)):
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
                        urgent = apply(event)
                    if urgent:
                        state.changed.set()
                    if ZERO_GPU and state.stop.is_set():
                        # The event does not reach the GPU worker; the file does, and the
                        # run winds down there, sending every chunk it finished. Closed
                        # (the chunks not yet due then only in the files) if it does not.
                        state.stop_file.set()
                        asked = asked or time.monotonic()
                        if time.monotonic() - asked > STOP_WAIT:
                            break
            finally:
                events.close()
        except BaseException as exc:  # handed to the Gradio handler, which raises it
            state.failure = exc
        finally:
            state.end()
            LINE.leave(ticket)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="pdf-cleaner-run", daemon=True).start()


def follow(state: RunState, shape):
    """Yield `shape(state)` while the worker runs: at once after an urgent change, otherwise
    at most every UPDATE_INTERVAL when something changed, and every HEARTBEAT regardless."""
    last, seen = 0.0, -1
    while not state.finished.is_set():
        urgent = state.changed.wait(UPDATE_INTERVAL)
        state.changed.clear()
        now = time.monotonic()
        if state.finished.is_set():
            break
        if urgent or (state.version != seen and now - last >= UPDATE_INTERVAL) or now - last >= HEARTBEAT:
            last, seen = now, state.version
            yield shape(state)


def raise_failure(state: RunState) -> None:
    """Re-raise what ended the worker early: a gr.Error, or a bug as itself."""
    failure = state.failure
    if failure is None:
        return
    if isinstance(failure, gr.Error):
        state.error = html.unescape(failure.message)
    raise failure


# ---------------------------------------------------------------------------------------------
# event handlers


def extract(pdf, password: str = "", pages: str = "", max_chars: float = 100_000, max_pages: float = 500,
            layout=None, keep=None, math=None, citations=None):
    """Read a PDF without the LLM: its document panel (with what the structure stage would
    remove) and its raw extracted text."""
    path = _pdf_path(pdf)
    if not path:
        return "", ""
    check_size(path)
    settings = Settings(use_llm=False, password=password or None, pages=(pages or "").strip() or None,
                        max_chars=max(1, int(max_chars or Settings().max_chars)), **limits(max_pages),
                        **podcast_options(layout, keep, math, citations))
    document_info, plan, errors = None, None, {}
    try:
        for event in run(path, settings):
            if isinstance(event, DocumentInfo):
                document_info = event
            elif isinstance(event, PageRead) and event.error:
                errors[event.page] = event.error
            elif isinstance(event, ChunkPlan):
                plan = event
    except PipelineError as exc:
        raise user_error(str(exc)) from exc
    if plan is not None:
        _warn_plan(plan)
    name = Path(path).name
    return document_text(document_info, plan, name, errors, settings), plan.raw_text if plan else ""


def _warn_plan(plan: ChunkPlan) -> None:
    """What the reading left out: failed pages, and each limit that cut it (with how to raise it)."""
    if plan.failed_pages:
        warn(f"Pages {ranges_label(plan.failed_pages)} could not be read and are skipped.")
    for note in getattr(plan, "notes", ()):
        warn(note)


def clean_pdf(pdf, password, pages, max_chars, model, rules_only, chunk_size, batch_size,
              temperature, top_p, max_new_tokens, seed, guard_policy, system_prompt, max_pages,
              copy_bias, layout, keep, math, citations, request: gr.Request):
    """Run the pipeline and stream the page: document, progress, text, table, downloads."""
    path = _pdf_path(pdf)
    if not path:
        raise user_error("Choose a PDF first (or click one of the examples).")
    check_size(path)
    settings = make_settings(password, pages, max_chars, model, rules_only, chunk_size, batch_size,
                             temperature, top_p, max_new_tokens, seed, guard_policy, system_prompt,
                             max_pages, copy_bias, layout, keep, math, citations)
    ticket = join_line()  # before anything else: a busy server changes nothing for this tab
    try:
        state = new_run(request, path, settings)  # stops this tab's previous run
    except BaseException:
        LINE.leave(ticket)
        raise
    working = False  # once the worker runs, it ends the state and leaves the line
    try:
        yield render_all(state)
        if settings.use_llm and not (yield from wait_for_startup_model(state, render_all)):
            state.end()
            if SESSIONS.is_current(state):
                yield render_all(state)
            return

        def events():
            if not settings.use_llm:
                return run_events(path, settings, str(state.clean_path), str(state.report_path), state.id)
            load_model_for(settings, state)
            return run_events_gpu(path, settings, str(state.clean_path), str(state.report_path), state.id)

        start_worker(state, events, lambda event: apply_event(state, event), ticket)
        working = True
        warned = False
        for update in follow(state, render_changes):
            if not SESSIONS.is_current(state):
                return  # a newer run of this tab owns the page now: say nothing more
            yield update
            if not warned and state.plan is not None:
                warned = True
                _warn_plan(state.plan)
        if not SESSIONS.is_current(state):
            return
        raise_failure(state)
        if not warned and state.plan is not None:
            _warn_plan(state.plan)
        _warn_about(state)
        yield render_all(state)
    except gr.Error as exc:
        state.error = html.unescape(exc.message)
        raise
    finally:
        # Closed by Stop, a cancel or a closed tab: the worker stops the pipeline and ends
        # the state itself. Nothing here may block: Gradio closes generators on its event loop.
        if not working:
            state.end()
            LINE.leave(ticket)
        elif not state.finished.is_set():
            state.stop.set()


def _warn_about(state: RunState) -> None:
    """Handled problems, as warnings: rejected or failed chunks, a partial result."""
    done = list(state.done.values())
    rejected = [d.index + 1 for d in done if d.source == "fallback"]
    failed = [d.index + 1 for d in done if d.source == "failed"]
    suspicious = [d.index + 1 for d in done if d.guard is not None and d.guard.verdict == "suspicious"]
    if rejected:
        warn(f"The guard rejected the model's text for chunk(s) {ranges_label(rejected)}: their "
                   "normalized input is used instead. See the table and the compare view.")
    if failed:
        warn(f"Chunk(s) {ranges_label(failed)} failed: their normalized input stands in. "
             "Regenerate them in the compare view.")
    if suspicious:
        info(f"Chunk(s) {ranges_label(suspicious)} look suspicious to the guard: check them in the compare view.")
    if state.stopped and state.plan is not None:
        warn(f"Stopped: {len(done)} of {len(state.plan.chunks)} chunks are done. The text and the download "
             f"({state.partial_path.name}) hold every one of them; the chunks not cleaned are marked "
             f"[PDF Cleaner: ...] in place, with their text as the rules left it.")


def stop_run(request: gr.Request):
    """Stop this session's run (the pipeline stops within one decoding step) and show what is done."""
    state = current(request)
    if state is None or not state.busy:
        return [gr.skip()] * N_RUN_OUTPUTS
    state.stop.set()
    state.finished.wait(STOP_WAIT)
    return render_all(state)


def show_chunk(index, request: gr.Request):
    """The compare view: one chunk's input and its cleaned text, plus what the guard said."""
    state = current(request)
    if index is None or index == "" or state is None or state.plan is None:
        return "", "", ""
    with state.lock:
        return _chunk_view(state, int(index))


def _chunk_view(state: RunState, index: int) -> tuple[str, str, str]:
    if not 0 <= index < len(state.plan.chunks):
        raise user_error(f"There is no chunk {index + 1}: this document has {len(state.plan.chunks)}.")
    return chunk_view(state, index)


def regenerate(index, password, pages, max_chars, model, rules_only, chunk_size, batch_size,
               temperature, top_p, max_new_tokens, seed, guard_policy, system_prompt, max_pages,
               copy_bias, layout, keep, math, citations, request: gr.Request):
    """Clean one chunk again with the current settings and put it into the result."""
    state = current(request)
    if state is None or state.plan is None:
        raise user_error("Run a PDF first, then pick a chunk to regenerate.")
    if index is None or index == "":
        raise user_error("Pick a chunk first.")
    index = int(index)
    if not 0 <= index < len(state.plan.chunks):
        raise user_error(f"There is no chunk {index + 1}: this document has {len(state.plan.chunks)}.")
    settings = make_settings(password, pages, max_chars, model, rules_only, chunk_size, batch_size,
                             temperature, top_p, max_new_tokens, seed, guard_policy, system_prompt,
                             max_pages, copy_bias, layout, keep, math, citations)
    if not settings.use_llm:
        raise user_error("Regenerating needs the model: untick 'rules only' in the settings.")
    chunk = state.plan.chunks[index]
    # The check and the flag under one lock: two regenerations cannot both pass the check.
    with state.lock:
        if state.busy:
            raise user_error("A run is still going: stop it or let it finish, then regenerate.")
        state.busy, state.error, state.failure = True, None, None
        state.stop, state.finished = threading.Event(), threading.Event()
    try:
        ticket = join_line()
    except BaseException:
        state.end()
        raise
    skip = [gr.skip()] * len(REGEN_OUTPUTS)

    def waiting(state: RunState) -> list:
        return [gr.skip(), gr.skip(), state.note, *skip[3:]]

    def apply(event) -> bool:
        state.version += 1
        if isinstance(event, ChunkProgress):
            state.partial[index] = event
            return False
        if isinstance(event, ChunkDone):
            state.done[index] = event
            state.partial.pop(index, None)
            _rewrite_files(state)
            return True
        return False

    def writing(state: RunState) -> list:
        with state.lock:
            partial = state.partial.get(index)
        if partial is None:
            return waiting(state) if state.note else skip
        return [gr.skip(), partial.text, f"chunk {index + 1}: writing ({partial.tokens} tokens)", *skip[3:]]

    working = False
    try:
        if not (yield from wait_for_startup_model(state, waiting)):
            return

        def events():
            load_model_for(settings, state)
            return clean_one_events_gpu(chunk, settings, state.id, str(state.folder))

        start_worker(state, events, apply, ticket)
        working = True
        yield from follow(state, writing)
        raise_failure(state)
    except gr.Error as exc:
        state.error = html.unescape(exc.message)
        raise
    finally:
        if not working:
            state.end()
            LINE.leave(ticket)
        elif not state.finished.is_set():
            state.stop.set()
    with state.lock:  # this run's chunk, even if a newer run has become the session's current one
        source, output, note = _chunk_view(state, index)
    item = state.done.get(index)
    if item is not None and item.source == "fallback":
        warn(f"The guard rejected the new text for chunk {index + 1}: its input is kept.")
    with state.lock:
        yield [source, output, note, progress_line(state), cleaned_text(state), table_rows(state), downloads(state)]


def _rewrite_files(state: RunState) -> None:
    """Write the cleaned text and the report again after one chunk changed; not when the
    run's folder is gone (the run was replaced or its session ended): it would come back and
    nothing would remove it."""
    if not state.folder.is_dir():
        return
    finished = [state.done[i] for i in sorted(state.done)]
    chunks = state.plan.chunks
    gaps = tuple((chunks[a].index, chunks[b].index) for a, b in gap_runs(chunks, state.done))
    writer = ResultWriter(state.clean_path, state.report_path, removed=state.plan.removed)
    for item in finished:
        writer.add(item)
    writer.finish(RunFinished(
        text=join_result(chunks, state.done),
        chunks_done=len(finished),
        chunks_total=len(chunks),
        stopped=len(finished) < len(chunks),
        seconds=state.summary.seconds if state.summary else 0.0,
        output_path=str(state.clean_path),
        report_path=str(state.report_path),
        notes=state.plan.notes,  # the limits that cut the reading still hold
        gaps=gaps,
    ))


def pick_row(event: gr.SelectData):
    """Clicking a row of the chunk table selects that chunk in the compare view."""
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    return gr.Dropdown(value=int(row)), gr.Accordion(open=True)


# ---------------------------------------------------------------------------------------------
# the page

REGEN_OUTPUTS: list = []  # filled by build(): compare input/output/note, progress, cleaned, table, files

INTRO = (
    "# PDF Cleaner\n"
    "Turn a PDF into clean, podcast-ready text. The text layer is read, repaired by rules, cut "
    "into chunks and cleaned by a small instruct model, chunk by chunk. Stop at any time: "
    "what is done stays here and downloadable."
)


def build() -> gr.Blocks:
    """The page and its events (no launch)."""
    defaults = Settings()
    with gr.Blocks(title="PDF Cleaner", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(INTRO)
        device = gr.Textbox(show_label=False, interactive=False, container=False, elem_id="device-line")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                pdf = gr.File(label=f"PDF (up to {size_label(UPLOAD_LIMIT)})", file_types=[".pdf"], type="filepath",
                              elem_id="pdf-input")
                with gr.Row():
                    password = gr.Textbox(value="", label="Password", type="password", placeholder="only if encrypted",
                                          elem_id="password")
                    pages = gr.Textbox(value="", label="Pages", placeholder="all, or e.g. 1-3,5,10-", elem_id="pages")
                with gr.Row():
                    max_chars = gr.Number(label="Max chars", value=defaults.max_chars, precision=0,
                                          minimum=100, maximum=5_000_000, elem_id="max-chars",
                                          info="The character budget: reading stops at this many characters "
                                               "(the notebook's 100,000).")
                    max_pages = gr.Number(label="Max pages", value=defaults.max_pages, precision=0,
                                          minimum=1, maximum=100_000, elem_id="max-pages",
                                          info="Reading stops after this many pages of the selection.")
                with gr.Row():
                    run_button = gr.Button("Run", variant="primary", elem_id="run")
                    stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
                examples = gr.Examples(
                    examples=[[str(p)] for p in EXAMPLES if p.is_file()],
                    inputs=[pdf],
                    label="Examples: click one to clean it",
                    example_labels=[p.stem.replace("-", " ") for p in EXAMPLES if p.is_file()],
                )
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    model = gr.Dropdown(
                        choices=model_choices(), value=MODEL.name or models.BUNDLED,
                        allow_custom_value=OFFERED.free, label="Model", elem_id="model",
                        info=("'bundled' needs no download; or type any Hugging Face id or local folder."
                              if OFFERED.free else "The models this server offers."),
                    )
                    rules_only = gr.Checkbox(label="Rules only (no LLM)", value=MODEL.name is None,
                                             elem_id="rules-only")
                    with gr.Row():
                        chunk_size = gr.Number(label="Chunk size (characters)", value=defaults.chunk_size,
                                               precision=0, minimum=100, maximum=20_000, elem_id="chunk-size")
                        batch_size = gr.Number(label="Batch size (0 = auto)", value=0, precision=0,
                                               minimum=0, maximum=64, elem_id="batch-size")
                    with gr.Row():
                        temperature = gr.Slider(0.0, 2.0, value=defaults.temperature, step=0.05,
                                                label="Temperature (0 = greedy)", elem_id="temperature")
                        top_p = gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="top_p",
                                          elem_id="top-p")
                    with gr.Row():
                        max_new_tokens = gr.Number(label="Max new tokens per chunk", value=defaults.max_new_tokens,
                                                   precision=0, minimum=1, maximum=4096, elem_id="max-new-tokens")
                        seed = gr.Number(label="Seed (-1 = random)", value=-1, precision=0, minimum=-1,
                                         elem_id="seed")
                    copy_bias = gr.Number(
                        label="Copy bias (-1 = the model's default)", value=-1, minimum=-1,
                        maximum=MAX_COPY_BIAS, step=0.5, elem_id="copy-bias",
                        info=f"A bonus for copying the source where the model would edit; "
                             f"the bundled model's default is {models.default_copy_bias(models.BUNDLED):g}, "
                             f"others' 0 (off).",
                    )
                    with gr.Group(elem_id="podcast-options"):
                        layout = gr.Checkbox(
                            label="Layout-aware reading", value=defaults.layout, elem_id="layout",
                            info="Reads each page's layout and drops running headers and footers, page numbers, "
                                 "stamps, figure and table internals and footnote marks. Off: pypdf's plain "
                                 "text, nothing removed (the choices below then do nothing).",
                        )
                        keep = gr.CheckboxGroup(
                            choices=KEEP_CHOICES, label="Keep in the text", elem_id="keep",
                            value=[v for _, v in KEEP_CHOICES if getattr(defaults, f"keep_{v}")],
                            info="Unticked parts are removed; the Document panel counts them and "
                                 "NAME.removed.txt lists them.",
                        )
                        with gr.Row():
                            math = gr.Radio(choices=MATH_CHOICES, value=defaults.math, label="Display math",
                                            elem_id="math")
                            citations = gr.Radio(
                                choices=CITATION_CHOICES, value=defaults.citations, label="Citations",
                                elem_id="citations",
                                info='"[12]", "(Smith et al., 2020)"; "Smith et al. (2020)" keeps the name.',
                            )
                    guard_policy = gr.Radio(
                        choices=[("keep the input for a rejected chunk", "fallback"),
                                 ("keep the model's text anyway", "keep")],
                        value=defaults.guard_policy, label="Guard policy", elem_id="guard-policy",
                    )
                    system_prompt = gr.Textbox(label="System prompt", value=default_prompt(), lines=12,
                                               max_lines=30, elem_id="system-prompt")
                    reset_prompt = gr.Button("Reset to default", size="sm", elem_id="reset-prompt")
                document = gr.Textbox(label="Document", lines=12, max_lines=24, interactive=False,
                                      elem_id="document")
            with gr.Column(scale=3, min_width=400):
                progress = gr.Textbox(label="Progress", interactive=False, elem_id="progress")
                cleaned = gr.Textbox(label="Cleaned text", lines=18, max_lines=18, interactive=False,
                                     autoscroll=True, buttons=["copy"], elem_id="cleaned")
                files = gr.File(label="Downloads: cleaned text, raw text, per-chunk report (JSONL), what was removed",
                                file_count="multiple", interactive=False, elem_id="downloads")
                table = gr.Dataframe(headers=TABLE_HEADERS, value=[], interactive=False, wrap=True,
                                     datatype=["number", "str", "str", "str", "number", "number"],
                                     label="Chunks (click a row to compare)", max_height=320,
                                     column_widths=["7%", "9%", "17%", "47%", "10%", "10%"], elem_id="chunks")
                with gr.Accordion("Compare a chunk", open=False, elem_id="compare") as compare:
                    chunk_picker = gr.Dropdown(choices=[], value=None, label="Chunk", elem_id="chunk-picker")
                    with gr.Row():
                        chunk_input = gr.Textbox(label="Input (normalized text)", lines=12, max_lines=20,
                                                 interactive=False, elem_id="chunk-input")
                        chunk_output = gr.Textbox(label="Cleaned (the model's text)", lines=12, max_lines=20,
                                                  interactive=False, elem_id="chunk-output")
                    chunk_note = gr.Textbox(label="Guard", lines=3, interactive=False, elem_id="chunk-note")
                    regen_button = gr.Button("Regenerate this chunk", size="sm", elem_id="regenerate")
                with gr.Accordion("Extracted text (raw)", open=False, elem_id="raw-text"):
                    raw = gr.Textbox(show_label=False, lines=12, max_lines=24, interactive=False, elem_id="raw")

        # New settings come last so that callers written before they existed keep working.
        settings_inputs = [password, pages, max_chars, model, rules_only, chunk_size, batch_size,
                           temperature, top_p, max_new_tokens, seed, guard_policy, system_prompt, max_pages,
                           copy_bias, layout, keep, math, citations]
        extract_inputs = [pdf, password, pages, max_chars, max_pages, layout, keep, math, citations]
        run_outputs = [document, progress, cleaned, table, chunk_picker, raw, files]
        assert len(run_outputs) == N_RUN_OUTPUTS
        REGEN_OUTPUTS[:] = [chunk_input, chunk_output, chunk_note, progress, cleaned, table, files]

        demo.load(watch_model, None, device, api_visibility="private", concurrency_limit=None, queue=True)
        demo.unload(end_session)

        # A new file: clear the page, then show what the PDF is (no model needed).
        pdf.change(lambda: empty_outputs(), None, run_outputs, api_visibility="private", queue=False).then(
            extract, extract_inputs, [document, raw], api_name="extract", concurrency_limit=4,
        )
        password.submit(extract, extract_inputs, [document, raw], api_visibility="private", concurrency_limit=4)

        # Runs and regenerations wait in LINE, not in Gradio's queue: there they can be
        # counted, refused with the app's own busy message, told their place, and stopped.
        run_event = run_button.click(
            clean_pdf, [pdf, *settings_inputs], run_outputs, api_name="clean",
            concurrency_limit=None, trigger_mode="once", show_progress="minimal",
        )
        example_run = examples.load_input_event.then(
            clean_pdf, [pdf, *settings_inputs], run_outputs, api_visibility="private",
            concurrency_limit=None, show_progress="minimal",
        )
        regen_event = regen_button.click(
            regenerate, [chunk_picker, *settings_inputs], REGEN_OUTPUTS, api_name="regenerate",
            concurrency_limit=None, trigger_mode="once", show_progress="minimal",
        )
        run_events_on_page = [run_event, example_run, regen_event]
        stop_button.click(stop_run, None, run_outputs, api_name="stop", concurrency_limit=None,
                          cancels=run_events_on_page)
        # A new or removed file empties the page (pdf.change): the run that was filling it
        # stops. Not on .change: an example sets the file too, and starts its own run.
        for replaced in (pdf.upload, pdf.clear):
            replaced(stop_session_run, None, None, api_visibility="private", queue=False,
                     cancels=run_events_on_page)

        chunk_picker.change(show_chunk, [chunk_picker], [chunk_input, chunk_output, chunk_note],
                            api_name="chunk", concurrency_limit=None)
        table.select(pick_row, None, [chunk_picker, compare], api_visibility="private")
        reset_prompt.click(default_prompt, None, system_prompt, api_visibility="private", queue=False)
    return demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="PDF Cleaner web app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also create a public share link")
    parser.add_argument("--model", default=None,
                        help=f"default model: 'bundled', a Hub id or a local folder (default: ${MODEL_ENV} or bundled)")
    parser.add_argument("--max-file-size", default=MAX_FILE_SIZE, type=_size_arg,
                        help=f"largest upload, e.g. 50mb, 500kb, 2gb (default: ${MAX_FILE_SIZE_ENV} or 50mb)")
    parser.add_argument("--queue-size", type=int, default=int(os.environ.get(QUEUE_SIZE_ENV) or QUEUE_SIZE),
                        help=f"runs that may wait for the model; more are told the app is busy "
                             f"(default: ${QUEUE_SIZE_ENV} or {QUEUE_SIZE})")
    defaults = Settings()
    parser.add_argument("--read-timeout", type=float,
                        default=float(os.environ.get(READ_TIMEOUT_ENV) or defaults.read_timeout),
                        help="seconds reading one PDF may take; pages read by then are kept "
                             f"(default: ${READ_TIMEOUT_ENV} or {defaults.read_timeout:g})")
    parser.add_argument("--read-memory-mb", type=int,
                        default=int(os.environ.get(READ_MEMORY_ENV) or defaults.read_memory_mb),
                        help=f"memory the process reading one PDF may use (default: ${READ_MEMORY_ENV} "
                             f"or {defaults.read_memory_mb})")
    parser.add_argument("--models", default=None, type=lambda text: [n for n in text.split(",") if n.strip()],
                        help="comma-separated models visitors may pick (default: $PDF_CLEANER_MODELS, "
                             "or the server's model and 'bundled')")
    parser.add_argument("--free-model-choice", action=argparse.BooleanOptionalAction, default=None,
                        help="let visitors type any Hub id or local folder (default: only on a page "
                             "served on a loopback address, with no --share, no Space and no --models; "
                             "$PDF_CLEANER_FREE_MODEL_CHOICE=1/0)")
    return parser


def _size_arg(text: str) -> str:
    try:
        parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def serve(host: str = "127.0.0.1", port: int | None = 7860, *, share: bool = False, model: str | None = None,
          max_file_size: str | int = MAX_FILE_SIZE, queue_size: int = QUEUE_SIZE,
          read_timeout: float | None = None, read_memory_mb: int | None = None,
          models_offered: list[str] | None = None, free_model_choice: bool | None = None,
          prevent_thread_lock: bool = False, quiet: bool = False) -> gr.Blocks:
    """Start loading the model, build the page and launch the server."""
    global UPLOAD_LIMIT, OFFERED
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # skipped pages are reported on the page
    UPLOAD_LIMIT = parse_size(max_file_size)
    if read_timeout is not None:
        READ_LIMITS["read_timeout"] = read_timeout
    if read_memory_mb is not None:
        READ_LIMITS["read_memory_mb"] = read_memory_mb
    LINE.limit = queue_size
    SESSIONS.sweep()  # what earlier processes left behind
    SESSIONS.start_sweeper(SWEEP_INTERVAL)
    name, note = pick_default_model(model)
    OFFERED = OfferedModels.from_environment(name, models_offered, free_model_choice, host, share)
    # On ZeroGPU the model must be in memory before the first GPU worker is forked.
    MODEL.start(name, note, background=not ZERO_GPU)
    demo = build()
    # Runs wait in LINE; Gradio's queue bound is left for the other events (the document
    # panel's reading, at most 4 at a time), whose overflow Gradio reports in its own words.
    demo.queue(max_size=queue_size, default_concurrency_limit=2)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=UPLOAD_LIMIT,
        # A run waiting in LINE holds a worker thread between two page updates: room for
        # every waiting run on top of Gradio's default 40.
        max_threads=40 + queue_size,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
    )
    return demo


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not args.read_timeout > 0 or args.read_memory_mb < 256:
        raise SystemExit("--read-timeout must be more than 0 and --read-memory-mb at least 256")
    serve(args.host, args.port, share=args.share, model=args.model, max_file_size=args.max_file_size,
          queue_size=args.queue_size, read_timeout=args.read_timeout, read_memory_mb=args.read_memory_mb,
          models_offered=args.models, free_model_choice=args.free_model_choice)


if __name__ == "__main__":
    main()
