"""PDF Cleaner's web page (Gradio Blocks): layout, event wiring, ZeroGPU and launch flags.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--model bundled] [--models a,b]
                  [--api-base http://127.0.0.1:8000/v1] ...      (python app.py --help)

The page only: every handler hands the visitor's values to the run controller
(webapp/controller.py: runs, Stop, regenerations, the line for the model) and renders what it
yields with webapp/views.py; the rest of the web app is in webapp/ too, without Gradio. Added
here: `spaces.GPU` around the generating functions (a no-op off ZeroGPU), errors (a bug's in
words) as escaped `gr.Error` toasts and handled problems as `gr.Warning`. PDF text is only
shown in plain-text components (Textbox, Dataframe "str" cells), never as Markdown or HTML.
"""

from __future__ import annotations

import spaces  # noqa: I001  first: on ZeroGPU it patches torch before anything imports it

import contextlib
import functools
import html
import logging
import os
import tempfile
from pathlib import Path

import gradio as gr

from pipeline import PipelineError, Settings
from pipeline import model as models
from pipeline.settings import MAX_COPY_BIAS
from webapp.controller import RunController, Update, Waiting, Writing
from webapp.errors import UserError, in_words
from webapp.form import CITATION_CHOICES, EDIT_CHOICES, EDIT_INFO, FIELDS, KEEP_CHOICES, MATH_CHOICES, OCR_CHOICES, READING_FIELDS
from webapp.form import default_prompt, model_choices, ocr_languages
from webapp.model_service import ModelStatus, pick_default_model
from webapp.offered import CannotOffer, OfferedModels
from webapp.sessions import Line, Sessions, private_root, session_key
from webapp.server_flags import QUEUE_SIZE, SERVED_RUNS, ServerFlags, parse_flags
from webapp.uploads import size_label, upload_path
from webapp.views import chunk_choices, chunk_view, cleaned_text, progress_line, run_document, table_rows

ROOT = Path(__file__).resolve().parent
EXAMPLES = [ROOT / "examples" / "distillation-survey.pdf", ROOT / "examples" / "spoken-summaries.pdf"]
ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
DEVICE = "cuda" if ZERO_GPU else None  # None: the best device visible (cuda, mps, cpu)
TABLE_HEADERS = ["#", "pages", "status", "verdict", "tokens", "seconds"]


# ---------------------------------------------------------------------------------------------
# errors and notices, escaped: Gradio renders toasts as HTML; a message may quote the PDF


def notice(level: str, message: str) -> None:
    (gr.Info if level == "info" else gr.Warning)(html.escape(message, quote=False))


@contextlib.contextmanager
def user_errors():
    """What a handler raises reaches the visitor as the page's error toast (a bug too: in_words)."""
    try:
        yield
    except gr.Error:
        raise
    except Exception as exc:
        raise gr.Error(html.escape(in_words(exc), quote=False), print_exception=False) from None


def on_gpu(events, duration):
    """`spaces.GPU` around a generating function (a no-op off ZeroGPU). Only a gr.Error comes back
    from ZeroGPU's worker: what is raised there crosses as one (in_words), and comes back as a
    UserError, as do ZeroGPU's own refusals (quota, no GPU)."""

    def in_worker(*args):
        try:
            yield from events(*args)
        except gr.Error:
            raise
        except Exception as exc:
            raise gr.Error(in_words(exc), print_exception=False) from exc

    scheduled = spaces.GPU(duration=duration)(in_worker)

    def here(*args):
        try:
            yield from scheduled(*args)
        except gr.Error as exc:
            raise UserError(html.unescape(str(exc.message))) from exc
    return here


# ---------------------------------------------------------------------------------------------
# the server's parts: the model, the sessions, the line, the run controller (webapp/)

MODEL = ModelStatus(device=DEVICE, zero_gpu=ZERO_GPU)
SESSIONS = Sessions(private_root(Path(tempfile.gettempdir()), "pdf-cleaner-sessions"))  # mode 0700, ours
LINE = Line(QUEUE_SIZE)
# serve() sets the limits and the offered models from its flags; until then: a local page.
CONTROLLER = RunController(
    SESSIONS, LINE, MODEL, limits=ServerFlags().limits(),
    offered=OfferedModels.from_environment(None, None, None, "127.0.0.1", share=False),
    device=DEVICE, zero_gpu=ZERO_GPU, notify=notice, on_gpu=on_gpu,
)


# ---------------------------------------------------------------------------------------------
# rendering: the controller's updates -> component values (the text comes from views.py)

def render(update: Update) -> list:
    state, parts, skip = update.state, update.parts, gr.skip()
    with state.lock:
        values = [skip, progress_line(state), cleaned_text(state), table_rows(state), skip, skip, skip]
        if "document" in parts:
            values[0] = run_document(state)
        if "plan" in parts:
            # Without a value the page keeps the chunk a visitor is comparing.
            values[4] = (gr.Dropdown(choices=chunk_choices(state.plan)) if state.plan is not None
                         else gr.Dropdown(choices=[], value=None))
            values[5] = state.plan.raw_text if state.plan is not None else ""
        if "files" in parts:
            values[6] = [str(path) for path in state.downloads()]
        return values


def render_regeneration(item) -> list:
    """Values for the compare view's input, output and note, then progress, text, table, downloads."""
    skip = [gr.skip()] * 4
    if isinstance(item, Waiting):
        return [gr.skip(), gr.skip(), item.note or gr.skip(), *skip]
    if isinstance(item, Writing):
        return [gr.skip(), item.text, gr.skip(), f"chunk {item.index + 1}: writing ({item.tokens} tokens)", *skip[1:]]
    state = item.state
    with state.lock:
        return [*chunk_view(state, item.index), progress_line(state), cleaned_text(state), table_rows(state),
                [str(path) for path in state.downloads()]]


def empty_outputs() -> list:
    return ["", "", "", [], gr.Dropdown(choices=[], value=None), "", []]


# ---------------------------------------------------------------------------------------------
# event handlers: the visitor's values to the controller, its answers to the page


def extract(pdf, password: str = "", pages: str = "", max_chars: float = 100_000, max_pages: float = 500,
            layout=None, keep=None, math=None, citations=None, ocr=None, ocr_language=None):
    """Read a PDF without the LLM: its document panel and its raw extracted text."""
    values = {name: value for name, value in locals().items() if name in READING_FIELDS}
    with user_errors():
        return CONTROLLER.extract(upload_path(pdf), values)


def clean_pdf(pdf, password, pages, max_chars, model, rules_only, chunk_size, batch_size, temperature, top_p,
              max_new_tokens, seed, guard_policy, system_prompt, max_pages, copy_bias, layout, keep, math,
              citations, ocr=None, ocr_language=None, model_edits=None, request: gr.Request = None):
    """Run the pipeline and stream the page: document, progress, text, table, downloads."""
    values = {name: value for name, value in locals().items() if name in FIELDS}
    with user_errors(), contextlib.closing(CONTROLLER.clean(upload_path(pdf), session_key(request), values)) as run:
        for update in run:
            yield render(update)


def stop_run(request: gr.Request):
    """Stop this session's run (the pipeline stops within a layer of the model) and show what is done."""
    state = CONTROLLER.stop(session_key(request))
    return [gr.skip()] * len(empty_outputs()) if state is None else render(Update(state))


def stop_session_run(request: gr.Request) -> None:
    CONTROLLER.stop_quietly(session_key(request))


def end_session(request: gr.Request) -> None:
    CONTROLLER.end_session(session_key(request))


def show_chunk(index, request: gr.Request):
    """The compare view: one chunk's input and its cleaned text, plus what the guard said."""
    with user_errors():
        return CONTROLLER.show_chunk(session_key(request), index)


def regenerate(index, password, pages, max_chars, model, rules_only, chunk_size, batch_size, temperature, top_p,
               max_new_tokens, seed, guard_policy, system_prompt, max_pages, copy_bias, layout, keep, math,
               citations, ocr=None, ocr_language=None, model_edits=None, request: gr.Request = None):
    """Clean one chunk again with the current settings and put it into the result."""
    values = {name: value for name, value in locals().items() if name in FIELDS}
    with user_errors(), contextlib.closing(CONTROLLER.regenerate(session_key(request), index, values)) as run:
        for item in run:
            yield render_regeneration(item)


def pick_row(event: gr.SelectData):
    """Clicking a row of the chunk table selects that chunk in the compare view."""
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    return gr.Dropdown(value=int(row)), gr.Accordion(open=True)


# ---------------------------------------------------------------------------------------------
# the page: layout and events

INTRO = ("# PDF Cleaner\nTurn a PDF into clean, podcast-ready text. The text layer is read, repaired by rules, "
         "cut into chunks and cleaned by a small instruct model, chunk by chunk. Stop at any time: what is done "
         "stays here and downloadable.")


def build() -> gr.Blocks:
    """The page and its events (no launch)."""
    defaults = Settings()
    number = functools.partial(gr.Number, precision=0)
    with gr.Blocks(title="PDF Cleaner", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(INTRO)
        device = gr.Textbox(show_label=False, interactive=False, container=False, elem_id="device-line")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                pdf = gr.File(label=f"PDF (up to {size_label(CONTROLLER.limits.upload)})", file_types=[".pdf"],
                              type="filepath", elem_id="pdf-input")
                with gr.Row():
                    password = gr.Textbox(value="", label="Password", type="password", placeholder="only if encrypted",
                                          elem_id="password")
                    pages = gr.Textbox(value="", label="Pages", placeholder="all, or e.g. 1-3,5,10-", elem_id="pages")
                with gr.Row():
                    max_chars = number(label="Max chars", value=defaults.max_chars, minimum=100, maximum=5_000_000,
                                       elem_id="max-chars", info="The character budget: reading stops at this "
                                                                 "many characters (the notebook's 100,000).")
                    max_pages = number(label="Max pages", value=defaults.max_pages, minimum=1, maximum=100_000,
                                       elem_id="max-pages", info="Reading stops after this many pages.")
                with gr.Row():
                    run_button = gr.Button("Run", variant="primary", elem_id="run")
                    stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
                shipped = [p for p in EXAMPLES if p.is_file()]
                examples = gr.Examples(examples=[[str(p)] for p in shipped], inputs=[pdf],
                                       label="Examples: click one to clean it",
                                       example_labels=[p.stem.replace("-", " ") for p in shipped])
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    free, served = CONTROLLER.offered.free, MODEL.served
                    model = gr.Dropdown(
                        choices=model_choices(CONTROLLER.offered, suggest=served is None),
                        value=MODEL.name or models.BUNDLED, allow_custom_value=free, label="Model", elem_id="model",
                        info=(f"Served at {served.api_base}." if served is not None
                              else "'bundled' needs no download; or type any Hugging Face id or local folder." if free
                              else "The models this server offers."))
                    rules_only = gr.Checkbox(label="Rules only (no LLM)", value=not MODEL.name, elem_id="rules-only")
                    with gr.Row():
                        chunk_size = number(label="Chunk size (characters)", value=defaults.chunk_size, minimum=100,
                                            maximum=20_000, elem_id="chunk-size")
                        batch_size = number(label="Batch size (0 = auto)", value=0, minimum=0, maximum=64,
                                            elem_id="batch-size")
                    with gr.Row():
                        temperature = gr.Slider(0.0, 2.0, value=defaults.temperature, step=0.05,
                                                label="Temperature (0 = greedy)", elem_id="temperature")
                        top_p = gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="top_p", elem_id="top-p")
                    with gr.Row():
                        max_new_tokens = number(label="Max new tokens per chunk", value=defaults.max_new_tokens,
                                                minimum=1, maximum=4096, elem_id="max-new-tokens")
                        seed = number(label="Seed (-1 = random)", value=-1, minimum=-1, elem_id="seed")
                    copy_bias = gr.Number(
                        label="Copy bias (-1 = the model's default)", value=-1, minimum=-1, maximum=MAX_COPY_BIAS,
                        step=0.5, elem_id="copy-bias",
                        info=f"A bonus for copying the source where the model would edit; the bundled model's "
                             f"default is {models.default_copy_bias(models.BUNDLED):g}, others' 0 (off).")
                    with gr.Group(elem_id="podcast-options"):
                        layout = gr.Checkbox(
                            label="Layout-aware reading", value=defaults.layout, elem_id="layout",
                            info="Reads each page's layout and drops running headers and footers, page numbers, "
                                 "stamps, figure and table internals and footnote marks. Off: pypdf's plain "
                                 "text, nothing removed (the choices below then do nothing).")
                        keep = gr.CheckboxGroup(
                            choices=KEEP_CHOICES, label="Keep in the text", elem_id="keep",
                            value=[v for _, v in KEEP_CHOICES if getattr(defaults, f"keep_{v}")],
                            info="Unticked parts are removed; the Document panel counts them and "
                                 "NAME.removed.txt lists them.")
                        with gr.Row():
                            math = gr.Radio(choices=MATH_CHOICES, value=defaults.math, label="Display math",
                                            elem_id="math")
                            citations = gr.Radio(
                                choices=CITATION_CHOICES, value=defaults.citations, label="Citations",
                                elem_id="citations",
                                info='"[12]", "(Smith et al., 2020)"; "Smith et al. (2020)" keeps the name.')
                    with gr.Row(elem_id="ocr-options"):
                        ocr = gr.Radio(choices=OCR_CHOICES, value=defaults.ocr, label="OCR (scanned pages)",
                                       elem_id="ocr")
                        ocr_language = gr.Dropdown(choices=ocr_languages(), value=[defaults.ocr_language],
                                                   multiselect=True, label="OCR language", elem_id="ocr-language")
                    guard_policy = gr.Radio(
                        choices=[("keep the input for a rejected chunk", "fallback"),
                                 ("keep the model's text anyway", "keep")],
                        value=defaults.guard_policy, label="Guard policy", elem_id="guard-policy")
                    model_edits = gr.Radio(choices=EDIT_CHOICES, value=defaults.model_edits, elem_id="model-edits",
                                           label="The model's edits kept", info=EDIT_INFO)
                    system_prompt = gr.Textbox(label="System prompt", value=default_prompt(), lines=12, max_lines=30,
                                               elem_id="system-prompt")
                    reset_prompt = gr.Button("Reset to default", size="sm", elem_id="reset-prompt")
                document = gr.Textbox(label="Document", lines=12, max_lines=24, interactive=False, elem_id="document")
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
                    chunk_note = gr.Textbox(label="Guard and the model's edits", lines=4, max_lines=24,
                                            interactive=False, elem_id="chunk-note")
                    regen_button = gr.Button("Regenerate this chunk", size="sm", elem_id="regenerate")
                with gr.Accordion("Extracted text (raw)", open=False, elem_id="raw-text"):
                    raw = gr.Textbox(show_label=False, lines=12, max_lines=24, interactive=False, elem_id="raw")

        # New settings come last so that callers written before they existed keep working.
        settings_inputs = [password, pages, max_chars, model, rules_only, chunk_size, batch_size, temperature, top_p,
                           max_new_tokens, seed, guard_policy, system_prompt, max_pages, copy_bias, layout, keep,
                           math, citations, ocr, ocr_language, model_edits]
        extract_inputs = [pdf, password, pages, max_chars, max_pages, layout, keep, math, citations, ocr, ocr_language]
        # The handlers take the values by these names (webapp/form.py).
        assert [c.elem_id.replace("-", "_") for c in settings_inputs] == list(FIELDS)
        assert [c.elem_id.replace("-", "_") for c in extract_inputs[1:]] == list(READING_FIELDS)
        run_outputs = [document, progress, cleaned, table, chunk_picker, raw, files]  # as render() gives them
        regen_outputs = [chunk_input, chunk_output, chunk_note, progress, cleaned, table, files]

        demo.load(MODEL.watch, None, device, api_visibility="private", concurrency_limit=None, queue=True)
        demo.unload(end_session)

        # A new file: clear the page, then show what the PDF is (no model needed).
        pdf.change(lambda: empty_outputs(), None, run_outputs, api_visibility="private", queue=False).then(
            extract, extract_inputs, [document, raw], api_name="extract", concurrency_limit=4)
        password.submit(extract, extract_inputs, [document, raw], api_visibility="private", concurrency_limit=4)

        # Runs and regenerations wait in LINE, not in Gradio's queue: there they can be
        # counted, refused with the app's own busy message, told their place, and stopped.
        run_event = run_button.click(clean_pdf, [pdf, *settings_inputs], run_outputs, api_name="clean",
                                     concurrency_limit=None, trigger_mode="once", show_progress="minimal")
        example_run = examples.load_input_event.then(clean_pdf, [pdf, *settings_inputs], run_outputs,
                                                     api_visibility="private", concurrency_limit=None,
                                                     show_progress="minimal")
        regen_event = regen_button.click(regenerate, [chunk_picker, *settings_inputs], regen_outputs,
                                         api_name="regenerate", concurrency_limit=None, trigger_mode="once",
                                         show_progress="minimal")
        run_events_on_page = [run_event, example_run, regen_event]
        stop_button.click(stop_run, None, run_outputs, api_name="stop", concurrency_limit=None,
                          cancels=run_events_on_page)
        # A new or removed file empties the page (pdf.change): the run that was filling it
        # stops. Not on .change: an example sets the file too, and starts its own run.
        for replaced in (pdf.upload, pdf.clear):
            replaced(stop_session_run, None, None, api_visibility="private", queue=False, cancels=run_events_on_page)

        chunk_picker.change(show_chunk, [chunk_picker], [chunk_input, chunk_output, chunk_note],
                            api_name="chunk", concurrency_limit=None)
        table.select(pick_row, None, [chunk_picker, compare], api_visibility="private")
        reset_prompt.click(default_prompt, None, system_prompt, api_visibility="private", queue=False)
    return demo


def serve(host: str = "127.0.0.1", port: int | None = 7860, *, prevent_thread_lock: bool = False,
          quiet: bool = False, **options) -> gr.Blocks:
    """Start loading the model, build the page and launch the server; `options` are the other
    ServerFlags (webapp/server_flags.py)."""
    flags = ServerFlags(host=host, port=port, **options)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # skipped pages are reported on the page
    CONTROLLER.limits = flags.limits()
    LINE.limit = flags.queue_size
    SESSIONS.sweep()  # what earlier processes left behind
    SESSIONS.start_sweeper()
    MODEL.served = flags.served()  # a served model: its server batches, so several runs go at once
    name, note = pick_default_model(flags.model, MODEL.served, DEVICE)
    LINE.slots = SERVED_RUNS if MODEL.served else 1
    here = MODEL.served is None  # the model runs in this process: `bundled` too; on ZeroGPU, it only
    CONTROLLER.offered = OfferedModels.from_environment(name, flags.models, flags.free_model_choice, host, flags.share,
                                                        with_bundled=here, preloaded_only=ZERO_GPU and here)
    MODEL.start(name, note, background=not ZERO_GPU)  # on ZeroGPU: in memory before a GPU worker is forked
    demo = build()
    # Runs wait in LINE; Gradio's queue bound is left for the other events (the document
    # panel's reading, at most 4 at a time), whose overflow Gradio reports in its own words.
    demo.queue(max_size=flags.queue_size, default_concurrency_limit=2)
    # A run waiting in LINE holds a worker thread between two page updates: room for every
    # waiting run on top of Gradio's default 40.
    demo.launch(server_name=host, server_port=port, share=flags.share, max_file_size=CONTROLLER.limits.upload,
                max_threads=40 + flags.queue_size, prevent_thread_lock=prevent_thread_lock, quiet=quiet)
    return demo


def main(argv: list[str] | None = None) -> None:
    try:
        serve(**vars(parse_flags(argv)))
    except (PipelineError, CannotOffer) as exc:  # a served model's server names no model; ZeroGPU and models
        raise SystemExit(f"python app.py: error: {exc}") from None


if __name__ == "__main__":
    main()
