"""webapp.controller without Gradio or a browser: a run, Stop, a replaced run, a closed
handler, regeneration, the line and the offered models, with the fake engine (fast).

The same paths through the real server, a real browser and the real model are in
tests/test_app_api.py, tests/test_app_sessions.py and tests/test_browser.py.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from pipeline import model as models
from tests.fakes import FakeEngine, fake_lm
from tests.pdf_factory import simple_pdf
from webapp.controller import EVERYTHING, Regenerated, RunController, Update, Waiting, Writing
from webapp.errors import UserError
from webapp.form import ServerLimits
from webapp.model_service import ModelStatus
from webapp.offered import OfferedModels
from webapp.sessions import Line, Sessions

# Four chunks of 360 characters (two do not fit in one of 400); the fake engine copies each,
# two words a pass.
PARAGRAPHS = [" ".join([word] * 60) + "." for word in ("alpha", "bravo", "delta", "gamma")]
FORM = dict(rules_only=False, chunk_size=400, batch_size=1, temperature=0, max_new_tokens=512,
            guard_policy="fallback", max_chars=100_000)
BOUND = 30  # seconds a fake run may take at most


@pytest.fixture
def lm(monkeypatch):
    from pipeline import engine

    FakeEngine.reset(per_step=2, delay=0.01)
    monkeypatch.setattr(engine, "Engine", FakeEngine)
    loaded = fake_lm()
    asked = []

    def get_model(name=models.BUNDLED, **_):
        asked.append(name)
        return loaded

    monkeypatch.setattr(models, "get_model", get_model)
    return asked


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / "four chunks.pdf"
    path.write_bytes(simple_pdf(["\n\n".join(PARAGRAPHS)]))
    return str(path)


@pytest.fixture
def controller(tmp_path, lm):
    model = ModelStatus()
    model.start(models.BUNDLED, background=False)
    notices: list[tuple[str, str]] = []
    made = RunController(Sessions(tmp_path / "sessions", 3600), Line(4), model,
                         limits=ServerLimits(upload=50 * 2**20),
                         offered=OfferedModels.decide(models.BUNDLED, None, None, "0.0.0.0", False, False),
                         notify=lambda level, message: notices.append((level, message)))
    made.notices = notices
    return made


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_a_run_streams_updates_and_ends_with_every_file(controller, pdf):
    updates = list(controller.clean(pdf, "tab", FORM))
    assert all(isinstance(u, Update) for u in updates)
    assert updates[0].parts == EVERYTHING and updates[-1].parts == EVERYTHING
    state = updates[-1].state
    assert state.complete and not state.busy and len(state.done) == len(state.plan.chunks) == 4
    assert [d.source for d in state.done.values()] == ["llm"] * 4
    assert state.clean_path.read_text(encoding="utf-8").rstrip("\n").split("\n\n") == PARAGRAPHS
    assert [p.name for p in state.downloads()] == [
        "four_chunks.clean.txt", "four_chunks.raw.txt", "four_chunks.report.jsonl", "four_chunks.removed.txt"]
    assert controller.notices == []
    assert controller.line.waiting() == 0


def test_stop_keeps_the_finished_chunks_and_says_what_is_missing(controller, pdf):
    updates = controller.clean(pdf, "tab", FORM)
    first = next(updates)
    state = first.state
    finished = threading.Thread(target=lambda: list(updates))
    finished.start()
    wait_until(lambda: len(state.done) >= 1, "a chunk is done")
    assert controller.stop("tab") is state
    finished.join(BOUND)
    assert not finished.is_alive() and state.finished.is_set() and state.stopped
    assert 1 <= len(state.done) < 4
    assert [p.name for p in state.downloads()][0] == "four_chunks.partial.clean.txt"
    assert any(level == "warning" and message.startswith(f"Stopped: {len(state.done)} of 4 chunks are done")
               for level, message in controller.notices)
    assert controller.stop("tab") is None  # nothing left to stop
    assert controller.line.waiting() == 0


def test_closing_the_handler_stops_the_run_and_frees_the_line(controller, pdf):
    """Gradio closes the handler's generator on a cancel or a closed tab: the worker then
    stops the pipeline, ends the run and leaves the line."""
    updates = controller.clean(pdf, "tab", FORM)
    state = next(updates).state
    next(updates)
    updates.close()
    assert state.finished.wait(BOUND) and state.stop.is_set()
    wait_until(lambda: controller.line.waiting() == 0 and not controller.line.running(), "the line is free")


def test_a_new_run_in_the_same_tab_replaces_the_old_one(controller, pdf):
    old = controller.clean(pdf, "tab", FORM)
    old_state = next(old).state
    next(old)  # the worker has started
    wait_until(lambda: old_state.partial or old_state.done, "the old run writes")
    new = controller.clean(pdf, "tab", {**FORM, "rules_only": True})
    new_state = next(new).state
    assert old_state.finished.wait(BOUND) and old_state.stop.is_set()
    assert list(old) == []  # the old handler says nothing more: the page is the new run's
    wait_until(lambda: not old_state.folder.exists(), "the old run's folder is removed")
    rest = list(new)
    assert rest[-1].state is new_state and new_state.complete
    assert controller.sessions.current("tab") is new_state


def test_regenerate_replaces_one_chunk_and_rewrites_the_files(controller, pdf):
    state = list(controller.clean(pdf, "tab", FORM))[-1].state
    before = state.done[2]
    items = list(controller.regenerate("tab", 2, FORM))
    assert isinstance(items[-1], Regenerated) and items[-1].index == 2 and items[-1].state is state
    assert all(isinstance(i, (Waiting, Writing)) for i in items[:-1])
    assert any(isinstance(i, Writing) and i.index == 2 for i in items)
    assert state.done[2] is not before and state.done[2].output == PARAGRAPHS[2]
    report = [json.loads(line) for line in state.report_path.read_text(encoding="utf-8").splitlines()]
    assert [line["index"] for line in report[1:-1]] == [0, 1, 2, 3] and not report[-1]["partial"]
    assert not state.busy and state.complete


def test_regenerate_refuses_what_it_cannot_do(controller, pdf):
    with pytest.raises(UserError, match="Run a PDF first"):
        list(controller.regenerate("tab", 0, FORM))
    state = list(controller.clean(pdf, "tab", FORM))[-1].state
    for index, message in ((None, "Pick a chunk first"), (9, "There is no chunk 10: this document has 4")):
        with pytest.raises(UserError, match=message):
            list(controller.regenerate("tab", index, FORM))
    with pytest.raises(UserError, match="needs the model"):
        list(controller.regenerate("tab", 0, {**FORM, "rules_only": True}))
    state.busy = True  # a run or another regeneration holds it
    with pytest.raises(UserError, match="A run is still going"):
        list(controller.regenerate("tab", 0, FORM))


def test_two_regenerations_at_once_cannot_both_begin(controller, pdf):
    state = list(controller.clean(pdf, "tab", FORM))[-1].state
    barrier = threading.Barrier(8)
    began = []

    def begin():
        barrier.wait()
        began.append(state.begin_again())

    threads = [threading.Thread(target=begin) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(began) == [False] * 7 + [True]


def test_a_full_line_is_refused_with_the_busy_message_and_changes_nothing(controller, pdf):
    controller.line.limit = 0
    with pytest.raises(UserError, match=r"PDF Cleaner is busy: 0 runs are already waiting"):
        next(controller.clean(pdf, "tab", FORM))
    assert controller.sessions.current("tab") is None


def test_a_model_not_offered_is_refused_before_anything_is_looked_up(controller, pdf, lm, tmp_path):
    asked = len(lm)
    messages = set()
    for name in ("/etc", str(tmp_path), "/no/such/folder", "someone/any-model"):
        with pytest.raises(UserError) as refused:
            next(controller.clean(pdf, "tab", {**FORM, "model": name}))
        messages.add(str(refused.value))
    assert len(messages) == 1 and "not offered on this server" in messages.pop()
    assert len(lm) == asked and controller.sessions.current("tab") is None


def test_a_model_that_cannot_be_loaded_ends_the_run_with_a_message(controller, pdf, monkeypatch):
    from pipeline import ModelUnavailableError

    def unavailable(name=models.BUNDLED, **_):
        raise ModelUnavailableError(f"The model {name!r} is not here.")

    monkeypatch.setattr(models, "get_model", unavailable)
    updates = controller.clean(pdf, "tab", FORM)
    state = next(updates).state
    with pytest.raises(UserError, match=r"is not here\. Or tick 'rules only' in the settings\."):
        list(updates)
    assert state.error.endswith("Or tick 'rules only' in the settings.") and not state.busy


@pytest.fixture
def damaged(tmp_path, monkeypatch):
    """A model folder whose weights cannot be read, with the real loader in place."""
    from tests.fakes import damaged_model_folder

    monkeypatch.setattr(models, "get_model", REAL_GET_MODEL)
    return damaged_model_folder(tmp_path / "damaged")


REAL_GET_MODEL = models.get_model


def test_a_damaged_model_folder_fails_its_background_load_and_each_run_says_why(tmp_path, pdf, damaged):
    model = ModelStatus()
    model.start(damaged)  # in the background, as the page starts it
    assert model.ready.wait(BOUND)
    assert "weight files cannot be read" in model.error and "could not be loaded" in model.line()
    controller = RunController(Sessions(tmp_path / "sessions", 3600), Line(4), model,
                               limits=ServerLimits(upload=50 * 2**20),
                               offered=OfferedModels.decide(damaged, None, None, "127.0.0.1", False, False))
    for _ in range(2):  # the server keeps serving: the next run fails the same way, at once
        updates = controller.clean(pdf, "tab", {**FORM, "model": damaged})
        with pytest.raises(UserError, match=r"weight files cannot be read.*Or tick 'rules only'"):
            list(updates)
        state = controller.sessions.current("tab")
        assert not state.busy and "weight files cannot be read" in state.error
    done = list(controller.clean(pdf, "tab", {**FORM, "rules_only": True}))[-1].state
    assert done.error is None and len(done.done) == 4


def test_a_failed_run_shows_why_on_its_last_update_before_the_error(controller, pdf, damaged):
    controller.offered = OfferedModels((models.BUNDLED,), free=True)  # a local page: any folder
    updates = controller.clean(pdf, "tab", {**FORM, "model": damaged})
    seen = []
    with pytest.raises(UserError):
        for update in updates:
            seen.append(update.state.error)
    assert seen[0] is None and "weight files cannot be read" in seen[-1]


def test_a_bug_in_a_run_is_raised_as_itself_after_an_update_that_words_it(controller, pdf, monkeypatch):
    from pipeline import engine

    class Broken(FakeEngine):
        def __init__(self, *args, **kwargs):
            raise RuntimeError("the engine broke")

    monkeypatch.setattr(engine, "Engine", Broken)
    seen = []
    with pytest.raises(RuntimeError, match="the engine broke"):
        for update in controller.clean(pdf, "tab", FORM):
            seen.append(update.state.error)
    assert seen[-1].startswith("PDF Cleaner failed unexpectedly (RuntimeError: the engine broke)")
    assert not controller.sessions.current("tab").busy


def test_on_zerogpu_a_model_that_failed_at_start_up_is_not_loaded_again_in_a_run(tmp_path, pdf, monkeypatch):
    model = ModelStatus(zero_gpu=True)
    model.start(models.BUNDLED, background=False)
    model.error = "it did not fit."  # as a failed start-up leaves it
    asked = []
    monkeypatch.setattr(models, "get_model", lambda *a, **k: asked.append(a))
    controller = RunController(Sessions(tmp_path / "sessions", 3600), Line(4), model,
                               limits=ServerLimits(upload=50 * 2**20), zero_gpu=True,
                               offered=OfferedModels.decide(models.BUNDLED, None, None, "0.0.0.0", False, True))
    with pytest.raises(UserError, match="could not be loaded when this server started: it did not fit"):
        list(controller.clean(pdf, "tab", FORM))
    assert asked == []  # outside the start-up thread, a load would meet ZeroGPU's CUDA error


def test_an_upload_over_the_limit_and_no_file_are_refused(controller, pdf):
    controller.limits = ServerLimits(upload=1000)
    with pytest.raises(UserError, match=r"over this server's upload limit of 1000 bytes.*--max-file-size"):
        next(controller.clean(pdf, "tab", FORM))
    with pytest.raises(UserError, match="Choose a PDF first"):
        next(controller.clean(None, "tab", FORM))


def test_the_document_panel_reads_without_the_model(controller, pdf, lm):
    asked = len(lm)
    document, raw = controller.extract(pdf, {"max_chars": 100_000})
    assert "file: four chunks.pdf" in document and " ".join(raw.split("\n\n")[0].split()) == PARAGRAPHS[0]
    assert len(lm) == asked
    with pytest.raises(UserError, match="--max-chars"):
        controller.extract(pdf, {"max_chars": 0})
    assert controller.extract(None, {}) == ("", "")


def test_the_document_panel_names_the_pages_that_ocr_will_read_without_reading_them(controller, tmp_path):
    from tests.pdf_factory import mixed_pdf, simple_pdf

    scan = tmp_path / "mixed.pdf"
    scan.write_bytes(mixed_pdf(simple_pdf(PARAGRAPHS[:3]), scanned=[2], dpi=100))
    document, raw = controller.extract(str(scan), {})
    assert "no text layer: page 2 (read by OCR when you run)" in document
    assert "read by OCR" not in document.replace("(read by OCR when you run)", "")
    assert "alpha" in raw and "delta" in raw and "bravo" not in raw
    # OCR off: nothing is promised.
    document, _ = controller.extract(str(scan), {"ocr": "never"})
    assert "no text layer" not in document
    # A scan with no text anywhere: the panel still shows what it is, and OCR off says so.
    from tests.pdf_factory import scanned_pdf

    scan.write_bytes(scanned_pdf(simple_pdf(PARAGRAPHS[:2]), 100))
    document, raw = controller.extract(str(scan), {})
    assert "pages: 2" in document and "no text layer: pages 1–2 (read by OCR when you run)" in document and raw == ""
    with pytest.raises(UserError, match="Turn OCR on"):
        controller.extract(str(scan), {"ocr": "never"})
