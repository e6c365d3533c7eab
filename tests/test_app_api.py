"""The web app through its API: gradio_client against the real server, launched in-process.

Real parts only: the Gradio server on 127.0.0.1, the bundled model with a small
max_new_tokens, generated PDFs. The tests that load the model and generate are slow (run
with --slow); the podcast options are checked fast, on the page launched without a model
(rules-only runs).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.pdf_factory import encrypted_pdf, image_only_pdf, not_pdf_bytes, paper  # noqa: E402
from tests.page_outputs import named, rows  # noqa: E402

slow = pytest.mark.slow

# Small runs: a two-page paper cut by the character budget into a few 600-character chunks,
# each cleaned to its end (the engine copies: a chunk takes a few forward passes); the runs
# to stop take them two at a time.
SMALL = dict(max_chars=2400, chunk_size=600, max_new_tokens=256, batch_size=0, seed=0)
STOPPABLE = dict(max_chars=3600, chunk_size=600, max_new_tokens=256, batch_size=2, seed=0)



@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdfs")
    files = {
        "paper.pdf": paper(2).pdf,
        "secret.pdf": encrypted_pdf(user_password="s3cret"),
        "notes.pdf": not_pdf_bytes("html"),  # an HTML page saved as .pdf
        "scan.pdf": image_only_pdf(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return SimpleNamespace(**{name.removesuffix(".pdf"): str(folder / name) for name in files})


@pytest.fixture
def client(server):
    """A fresh client: its own session, as a new browser tab would have."""
    return Client(server.url, verbose=False)


def file_named(files, suffix: str) -> Path:
    """The downloaded file whose name ends with `suffix` (e.g. ".clean.txt")."""
    paths = [Path(f if isinstance(f, str) else f["path"]) for f in files or []]
    matches = [p for p in paths if p.name.endswith(suffix)]
    assert matches, f"no *{suffix} among {[p.name for p in paths]}"
    return matches[0]


def wait_for(job, condition, timeout=180.0):
    """The first streamed output of `job` for which condition(named output) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for values in job.outputs():
            out = named(values)
            if condition(out):
                return out
        if job.done():
            break
        time.sleep(0.05)
    raise AssertionError(f"condition never met; last progress: {named(job.outputs()[-1])['progress'] if job.outputs() else None}")


def chunks_done(out) -> int:
    return sum(1 for row in rows(out["table"]) if row[2] in ("cleaned", "input kept (guard)", "failed"))


@slow
def test_extract_gives_metadata_and_raw_text(client, pdfs):
    document, raw = client.predict(handle_file(pdfs.paper), "", "", 2400, api_name="/extract")
    assert "pages: 2" in document
    assert "title: A Survey on Knowledge Distillation of Large Language Models" in document
    assert "producer: pdfTeX-1.40.25" in document
    assert "budget: reached on page 1" in document
    assert "pages that failed: none" in document
    assert raw.startswith("A Survey on Knowledge Distillation")
    assert 2000 < len(raw) <= 2400


@pytest.fixture(scope="module")
def small_run(server, pdfs):
    """One finished small run, streamed: its client (session), every update, how long it took."""
    client = Client(server.url, verbose=False)
    started = time.monotonic()
    job = client.submit(handle_file(pdfs.paper), api_name="/clean", **SMALL)
    outputs = [named(values) for values in job]
    return SimpleNamespace(client=client, outputs=outputs, elapsed=time.monotonic() - started)


@slow
def test_clean_streams_tokens_and_finishes(small_run):
    outputs, elapsed = small_run.outputs, small_run.elapsed
    final = outputs[-1]
    table = rows(final["table"])
    total = len(table)
    assert total >= 3, final["progress"]
    assert final["progress"].startswith(f"done: {total}/{total} chunks"), final["progress"]
    assert all(row[2] in ("cleaned", "input kept (guard)") for row in table), table
    assert all(0 < row[4] <= SMALL["max_new_tokens"] for row in table), table
    # Tokens were streamed: some update shows a chunk being written, with partial text.
    writing = [o for o in outputs if any(row[2] == "writing…" for row in rows(o["table"]))]
    assert writing, "no update while a chunk was being written"
    assert any(o["cleaned"] for o in writing)
    # Throttled: not one update per token (about 7 a second, plus one per finished chunk).
    assert len(outputs) <= elapsed / 0.15 + 2 * total + 10, (len(outputs), elapsed)
    # The downloads: the cleaned text is the page's text; the report has a line per chunk.
    clean = file_named(final["files"], ".clean.txt")
    assert clean.name == "paper.clean.txt"
    assert clean.read_text(encoding="utf-8").strip() == final["cleaned"].strip()
    assert file_named(final["files"], ".raw.txt").read_text(encoding="utf-8").strip() == final["raw"].strip()
    report = read_report(final["files"])
    assert [r["index"] for r in report[1:-1]] == list(range(total))
    assert report[-1]["summary"] and report[-1]["partial"] is False
    assert all(r["verdict"] in ("ok", "suspicious", "rejected") for r in report[1:-1])


def read_report(files) -> list[dict]:
    return [json.loads(line) for line in file_named(files, ".report.jsonl").read_text(encoding="utf-8").splitlines()]


@slow
def test_compare_and_regenerate_one_chunk(small_run):
    client, final = small_run.client, small_run.outputs[-1]
    total = len(rows(final["table"]))
    report = read_report(final["files"])
    source, output, note = client.predict(1, api_name="/chunk")
    assert source == report[2]["input"]  # chunk 2, after the header
    assert output == (report[2]["model_output"] or report[2]["output"])
    assert note.startswith("chunk 2 · page 1")
    assert f"verdict: {report[2]['verdict']}" in note
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(98, api_name="/chunk")
    # Regenerate chunk 2 greedily with more room: the page and the files take the new text.
    regen = client.predict(1, api_name="/regenerate", **{**SMALL, "temperature": 0, "max_new_tokens": 32})
    new_source, new_output, new_note, progress, cleaned, table, files = regen
    new_report = read_report(files)
    assert new_source == source
    assert new_output == (new_report[2]["model_output"] or new_report[2]["output"])
    assert new_report[2]["model_output"] != report[2]["model_output"]
    assert 0 < new_report[2]["tokens"] <= 32  # generated anew, within the new settings' room
    assert new_report[:2] == report[:2] and new_report[3:-1] == report[3:-1]  # only chunk 2 changed
    assert progress.startswith(f"done: {total}/{total}"), progress
    assert rows(table)[1][4] == new_report[2]["tokens"]
    assert file_named(files, ".clean.txt").read_text(encoding="utf-8").strip() == cleaned.strip()


@slow
def test_stop_keeps_the_finished_chunks(client, pdfs):
    job = client.submit(handle_file(pdfs.paper), api_name="/clean", **STOPPABLE)
    wait_for(job, lambda o: chunks_done(o) >= 1)
    pressed = time.monotonic()
    stopped = named(client.predict(api_name="/stop"))
    stop_seconds = time.monotonic() - pressed
    print(f"\nstop answered in {stop_seconds:.2f} s")
    table = rows(stopped["table"])
    done = chunks_done(stopped)
    assert 1 <= done < len(table), stopped["progress"]
    assert stopped["progress"].startswith(f"stopped: {done}/{len(table)} chunks kept"), stopped["progress"]
    assert any(row[2] == "not done" for row in table)
    # What is on the page is what is in the file, and the report says the result is partial.
    clean = file_named(stopped["files"], ".clean.txt").read_text(encoding="utf-8")
    assert clean.strip() == stopped["cleaned"].strip() and clean.strip()
    report = read_report(stopped["files"])
    assert len(report) == done + 2 and report[-1]["partial"] is True  # header, chunks, summary
    # The run itself ends normally with the same stopped state.
    job.result(timeout=30)
    assert named(job.outputs()[-1])["progress"].startswith("stopped:")


@slow
def test_cancel_keeps_partial_file_and_frees_the_server(client, pdfs):
    job = client.submit(handle_file(pdfs.paper), api_name="/clean", **STOPPABLE)
    wait_for(job, lambda o: chunks_done(o) >= 1 and o["files"])
    job.cancel()
    deadline = time.monotonic() + 15
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.done(), "the job did not end after cancel"
    # The last files the client received (live updates that leave them unchanged carry a
    # skip marker instead) hold the chunks finished by then.
    last = [o for o in map(named, job.outputs()) if isinstance(o["files"], list) and o["files"]][-1]
    clean = file_named(last["files"], ".clean.txt").read_text(encoding="utf-8")
    done = [row for row in rows(last["table"]) if row[2] in ("cleaned", "input kept (guard)")]
    assert done and clean.strip()
    report = read_report(last["files"])
    assert "run" in report[0] and len(report) == 1 + len(done)  # the header, a line per finished chunk, no summary yet
    # A new run goes through: the cancelled one no longer holds the model's slot (a held
    # slot would make this wait past the bound and fail instead of hanging the suite).
    again = client.submit(handle_file(pdfs.paper), api_name="/clean", rules_only=True, max_chars=2400)
    assert named(again.result(timeout=120))["progress"].startswith("done:")


@slow
@pytest.mark.parametrize(
    "name, password, message",
    [
        ("notes", "", "not a PDF"),
        ("secret", "", "encrypted: enter its password"),
        ("secret", "wrong", "password does not open"),
    ],
)
def test_errors_arrive_as_errors(client, pdfs, name, password, message):
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(getattr(pdfs, name)), password, "", 2400, api_name="/extract")
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(getattr(pdfs, name)), api_name="/clean", password=password, **SMALL)


@slow
def test_a_scan_with_no_readable_text_is_named_then_refused_in_words(client, pdfs):
    """The panel reads the text layer only and names the pages OCR will read; the run reads
    them, finds bars and strokes but no words, and says so."""
    document, raw = client.predict(handle_file(pdfs.scan), "", "", 2400, api_name="/extract")
    assert "no text layer: pages 1–2 (read by OCR when you run)" in document and raw == ""
    with pytest.raises(AppError, match="looks scanned"):
        client.predict(handle_file(pdfs.scan), api_name="/clean", **SMALL)
    with pytest.raises(AppError, match=r"looks scanned.*Turn OCR on"):
        client.predict(handle_file(pdfs.scan), "", "", 2400, 500, True, [], "drop", "remove", "never",
                       api_name="/extract")


@slow
def test_server_keeps_serving_after_errors(client, pdfs):
    for _ in range(2):
        with pytest.raises(AppError):
            client.predict(handle_file(pdfs.notes), api_name="/clean", **SMALL)
    document, raw = client.predict(handle_file(pdfs.secret), "s3cret", "", 2400, api_name="/extract")
    assert "(encrypted)" in document and "confidential report" in raw
    with pytest.raises(AppError, match="Choose a PDF"):
        client.predict(None, api_name="/clean", **SMALL)
    with pytest.raises(AppError, match="No model folder.*rules only"):
        client.predict(handle_file(pdfs.paper), api_name="/clean", **{**SMALL, "model": "./no/such/model"})
    rules = named(client.predict(handle_file(pdfs.paper), api_name="/clean", rules_only=True, max_chars=2400))
    assert rules["progress"].startswith("done:") and rules["cleaned"].startswith("A Survey")


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> str:
    from tests.fakes import damaged_model_folder

    return damaged_model_folder(tmp_path_factory.mktemp("damaged-model"))


@slow
def test_a_model_folder_that_cannot_load_ends_the_run_with_its_cause_and_the_server_keeps_serving(
        client, pdfs, damaged):
    job = client.submit(handle_file(pdfs.paper), api_name="/clean", **{**SMALL, "model": damaged})
    with pytest.raises(AppError, match=r"weight files cannot be read.*damaged.*Or tick 'rules only'"):
        job.result(timeout=120)
    # The page's last update before the error says why the run ended.
    assert named(job.outputs()[-1])["progress"].startswith("failed: The model")
    final = named(client.predict(handle_file(pdfs.paper), api_name="/clean", **SMALL))
    assert final["progress"].startswith("done:"), final["progress"]


@pytest.fixture(scope="module")
def damaged_server(damaged, tmp_path_factory):
    """`python app.py --model DAMAGED`: the model's background load fails at start-up."""
    from tests.app_process import app_process

    with app_process(["--model", damaged], log=tmp_path_factory.mktemp("damaged-server") / "server.log") as url:
        yield SimpleNamespace(url=url)


@slow
def test_a_server_model_that_fails_to_load_at_start_up_fails_each_run_in_words(damaged_server, pdfs):
    client = Client(damaged_server.url, verbose=False)
    for _ in range(2):
        with pytest.raises(AppError, match=r"weight files cannot be read"):
            client.predict(handle_file(pdfs.paper), api_name="/clean", **SMALL)
    rules = named(client.predict(handle_file(pdfs.paper), api_name="/clean", rules_only=True, max_chars=2400))
    assert rules["progress"].startswith("done:")


# --------------------------------------------------------------------------------------------
# podcast options, fast: the page launched without a model, rules-only runs

PODCAST = dict(layout=False, keep=["footnotes", "references"], math="placeholder", citations="keep")
RULES = dict(rules_only=True, max_chars=2400)


@pytest.fixture(scope="module")
def rules_server():
    """The page as serve() builds it, launched in this process on a free port, with no model
    loaded (runs are rules only): seconds, not minutes."""
    import socket

    import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = app.build()
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", app=app)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def rules_client(rules_server):
    return Client(rules_server.url, verbose=False)


@pytest.fixture(scope="module")
def two_pages(tmp_path_factory):
    path = tmp_path_factory.mktemp("podcast") / "paper.pdf"
    path.write_bytes(paper(2).pdf)
    return str(path)


def run_settings(server, client):
    """The Settings of this client's latest run, as the server built them."""
    app = server.app
    return app.SESSIONS.current(app.session_key(SimpleNamespace(session_hash=client.session_hash))).settings


def test_clean_takes_the_podcast_options_by_name(rules_server, rules_client, two_pages):
    final = named(rules_client.predict(handle_file(two_pages), api_name="/clean", **RULES, **PODCAST))
    assert final["progress"].startswith("done:"), final["progress"]
    settings = run_settings(rules_server, rules_client)
    assert (settings.layout, settings.math, settings.citations) == (False, "placeholder", "keep")
    assert (settings.keep_footnotes, settings.keep_references) == (True, True)
    assert (settings.keep_captions, settings.keep_authors, settings.keep_appendix) == (False, False, False)
    # Plain reading removes nothing: the panel and the removed file say so.
    assert "removed: nothing (layout-aware reading is off)" in final["document"].splitlines()
    listed = file_named(final["files"], ".removed.txt")
    assert listed.name == "paper.removed.txt"
    assert "Layout-aware reading was off" in listed.read_text(encoding="utf-8")


def test_callers_that_leave_the_podcast_options_out_get_the_defaults(rules_server, rules_client, two_pages):
    from pipeline import Settings

    final = named(rules_client.predict(handle_file(two_pages), api_name="/clean", **RULES))
    assert final["progress"].startswith("done:"), final["progress"]
    settings, defaults = run_settings(rules_server, rules_client), Settings()
    fields = ("layout", "keep_captions", "keep_footnotes", "keep_authors", "keep_appendix", "keep_references",
              "math", "citations")
    assert [getattr(settings, f) for f in fields] == [getattr(defaults, f) for f in fields]
    assert any(line.startswith("removed: ") for line in final["document"].splitlines())
    assert file_named(final["files"], ".removed.txt").read_text(encoding="utf-8").startswith("PDF Cleaner: ")
    # /extract too: the old positional call, and one with the options.
    document, _raw = rules_client.predict(handle_file(two_pages), "", "", 2400, api_name="/extract")
    assert "pages: 2" in document
    document, _raw = rules_client.predict(handle_file(two_pages), "", "", 2400, 500, False, [], "keep", "keep",
                                          api_name="/extract")
    assert "removed: nothing (layout-aware reading is off)" in document.splitlines()


@pytest.mark.parametrize("bad, message", [
    ({"layout": "yes"}, r"layout \(--no-layout\) must be true or false, not 'yes'"),
    ({"keep": ["everything"]}, "'everything'.*not in the list of choices"),
    ({"math": "latex"}, "'latex'.*not in the list of choices"),
    ({"citations": "drop"}, "'drop'.*not in the list of choices"),
])
def test_bad_podcast_values_from_a_crafted_call_are_refused(rules_client, two_pages, bad, message):
    with pytest.raises(AppError, match=message):
        rules_client.predict(handle_file(two_pages), api_name="/clean", **RULES, **bad)


def test_the_page_and_a_direct_call_follow_the_same_rules():
    """What Gradio does not check for the page (a checkbox's type, a list's type), the app does,
    with the rules and messages the command line uses (Settings.validate)."""
    from webapp.errors import UserError
    from webapp.form import ServerLimits, podcast_options, settings_from_form
    from webapp.offered import OfferedModels

    assert podcast_options() == {
        "layout": True, "math": "drop", "citations": "remove", "keep_captions": False, "keep_footnotes": False,
        "keep_authors": False, "keep_appendix": False, "keep_references": False,
    }
    assert podcast_options(True, ["captions", "appendix"], "keep", "keep")["keep_appendix"] is True
    for bad in ({"keep": "captions"}, {"keep": ["all"]}):
        with pytest.raises(UserError):
            podcast_options(**bad)
    # The rest is Settings.validate's, with the command line's messages.
    page = dict(password="", pages="", max_chars=2400, model="bundled", rules_only=True, chunk_size=1000,
                batch_size=0, temperature=0, top_p=0.9, max_new_tokens=512, seed=-1, guard_policy="fallback",
                system_prompt="")
    server = dict(offered=OfferedModels.decide("bundled", None, None, "127.0.0.1", False, False),
                  server_model="bundled", limits=ServerLimits(upload=2**20))
    for bad, message in (({"layout": 1}, "layout (--no-layout) must be true or false, not 1."),
                         ({"math": "latex"}, "math (--math) must be one of drop, placeholder, keep, not 'latex'."),
                         ({"citations": "x"}, "citations (--citations) must be one of remove, keep, not 'x'.")):
        with pytest.raises(UserError) as refused:
            settings_from_form({**page, **bad}, **server)
        assert message in str(refused.value)
    for bad, flag in (({"max_chars": 0}, "--max-chars"), ({"top_p": 1.5}, "--top-p"),
                      ({"guard_policy": "ignore"}, "--guard-policy"), ({"copy_bias": 99}, "--copy-bias")):
        with pytest.raises(UserError, match=flag):
            settings_from_form({**page, **bad}, **server)
    settings = settings_from_form(page, **server)
    assert (settings.max_chars, settings.use_llm, settings.max_file_mb) == (2400, False, 1.0)


# --------------------------------------------------------------------------------------------
# offered models, fast: no model is loaded, a refused name is never looked up


def test_a_public_server_refuses_models_it_does_not_offer_and_keeps_serving(rules_server, rules_client, two_pages,
                                                                           monkeypatch, tmp_path):
    from webapp.offered import OfferedModels

    app = rules_server.app
    monkeypatch.setattr(app.CONTROLLER, "offered", OfferedModels.decide("bundled", None, None, "0.0.0.0", False, False))
    asked = []
    monkeypatch.setattr(app.models, "get_model", lambda name, **_: asked.append(name))
    messages = set()
    for name in ("/etc", str(tmp_path), "/no/such/folder", "someone/any-model"):
        with pytest.raises(AppError) as refused:
            rules_client.predict(handle_file(two_pages), api_name="/clean", **{**RULES, "rules_only": False,
                                                                                 "model": name})
        messages.add(str(refused.value))
    # One message for every name: whether a path exists is never told.
    assert len(messages) == 1 and "not offered on this server" in messages.pop()
    assert asked == []  # nothing was loaded or looked up
    final = named(rules_client.predict(handle_file(two_pages), api_name="/clean", **RULES))
    assert final["progress"].startswith("done:")


def test_a_user_error_crosses_the_gpu_boundary_and_comes_back_as_itself():
    """Off ZeroGPU spaces.GPU is a no-op, and the wrapper's two conversions meet: a UserError
    leaves as one, and a gr.Error raised there (ZeroGPU's own refusals) arrives as one."""
    import gradio as gr

    import app
    from webapp.errors import UserError

    def refuses(kind):
        yield "first"
        raise UserError("Not <that> one.") if kind == "user" else gr.Error("ZeroGPU quota exceeded &amp; more")

    wrapped = app.on_gpu(refuses, lambda *args: 30)
    for kind, message in (("user", "Not <that> one."), ("gradio", "ZeroGPU quota exceeded & more")):
        items = wrapped(kind)
        assert next(items) == "first"
        with pytest.raises(UserError) as refused:
            next(items)
        assert str(refused.value) == message


def test_a_bug_reaches_the_visitor_in_words_escaped_and_across_the_gpu_boundary():
    """Gradio shows only "Error" for an exception that is not a gr.Error, and ZeroGPU's worker
    sends back only its class name: both get the bug's own words."""
    import gradio as gr

    import app
    from webapp.errors import UserError

    with pytest.raises(gr.Error) as shown:
        with app.user_errors():
            raise KeyError("<img src=x>")
    assert str(shown.value.message).startswith("PDF Cleaner failed unexpectedly (KeyError: '&lt;img src=x&gt;')")

    def breaks():
        yield "first"
        raise RuntimeError("the engine broke")

    items = app.on_gpu(lambda: breaks(), lambda *args: 30)()
    assert next(items) == "first"
    with pytest.raises(UserError, match=r"failed unexpectedly \(RuntimeError: the engine broke\)"):
        next(items)
