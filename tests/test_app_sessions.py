"""Several visitors at once, and the limits that keep the web app serving them.

What is proved here: sessions (and tabs) never share or clobber files; a new run, a new
file or a closed tab stops the run it replaces (and its reading process); old session
folders are swept; past QUEUE_SIZE waiting runs a visitor gets the app's busy message; a file
over the upload limit is refused in words that name the limit; a stopped run's cleaned text
is downloadable and named partial.

Real parts only: the Gradio server launched in-process (the `server` fixture, bundled model),
a second server started as `python app.py` with a 1 MB upload limit, gradio_client sessions,
Playwright on Debian's chromium for what only a browser does, generated PDFs
(tests/pdf_factory.py). The registry and line tests at the top need no server and are fast;
the rest are slow (run with --slow). Nothing here asserts on wall time: waits are bounded
only so that a hang fails instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pipeline import RunFinished, Settings  # noqa: E402
from pipeline import run  # noqa: E402
from webapp.sessions import Line, LineFull, Sessions  # noqa: E402
from tests.pdf_factory import paper, simple_pdf, with_slow_page  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ("document", "progress", "cleaned", "table", "picker", "raw", "files")
CHROMIUM = os.environ.get("PDF_CLEANER_CHROMIUM", "/usr/bin/chromium")
# A run that keeps the model busy until it is stopped: many chunks, two at a time, long outputs.
LONG = dict(max_chars=6000, chunk_size=600, max_new_tokens=256, batch_size=2, seed=0)
RULES = dict(rules_only=True, max_chars=2400)
BOUND = 180  # seconds: any wait longer than this is a hang


def wait_until(condition, what: str, timeout: float = BOUND):
    """Poll `condition()` until it is true; fail (naming `what`) if it never becomes so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def set_back(path: Path, seconds: float) -> None:
    """Make `path` and everything in it look `seconds` older."""
    when = time.time() - seconds
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.utime(os.path.join(folder, name), (when, when))
    os.utime(path, (when, when))


# --------------------------------------------------------------------------------------------
# the registry and the line, without a server


def test_sweep_removes_old_folders_that_no_running_run_uses(tmp_path):
    sessions = Sessions(tmp_path, max_age=3600)
    old = tmp_path / "gone-tab" / "run-1"
    old.mkdir(parents=True)
    (old / "paper.clean.txt").write_text("old", encoding="utf-8")
    set_back(tmp_path / "gone-tab", 2 * 3600)
    (tmp_path / "fresh-tab").mkdir()
    running = sessions.new_run("running-tab", "paper.pdf", Settings())  # busy until it ends
    idle = sessions.new_run("idle-tab", "paper.pdf", Settings())
    idle.end()
    set_back(tmp_path / "running-tab", 2 * 3600)
    set_back(tmp_path / "idle-tab", 2 * 3600)

    removed = sessions.sweep()

    assert sorted(p.name for p in removed) == ["gone-tab", "idle-tab"]
    assert not (tmp_path / "gone-tab").exists() and not (tmp_path / "idle-tab").exists()
    assert (tmp_path / "fresh-tab").is_dir()
    assert running.folder.is_dir() and sessions.current("running-tab") is running
    assert sessions.current("idle-tab") is None  # forgotten with its files
    # Once the run is over, its old folder goes with the next sweep.
    running.end()
    assert [p.name for p in sessions.sweep()] == ["running-tab"]


def test_the_sweep_runs_by_itself(tmp_path):
    sessions = Sessions(tmp_path, max_age=3600)
    (tmp_path / "gone-tab").mkdir()
    set_back(tmp_path / "gone-tab", 2 * 3600)
    sessions.start_sweeper(interval=0.05)
    try:
        wait_until(lambda: not (tmp_path / "gone-tab").exists(), "the sweeper removed the old folder", 30)
    finally:
        sessions.stop_sweeper()


def test_a_replaced_or_closed_run_is_stopped_and_its_folder_removed_once_it_ended(tmp_path):
    sessions = Sessions(tmp_path, max_age=3600)
    first = sessions.new_run("tab", "paper.pdf", Settings())
    second = sessions.new_run("tab", "paper.pdf", Settings())  # the same tab runs again
    assert first.stop.is_set() and not second.stop.is_set()
    assert first.folder != second.folder and first.folder.parent == second.folder.parent == tmp_path / "tab"
    assert first.clean_path != second.clean_path
    assert first.folder.is_dir(), "removed while its worker may still write into it"
    first.end()  # its worker wound down
    assert not first.folder.exists() and second.folder.is_dir()
    sessions.close("tab")  # the tab was closed
    assert second.stop.is_set() and sessions.current("tab") is None
    assert (tmp_path / "tab").is_dir()
    second.end()
    assert not (tmp_path / "tab").exists()


def test_the_line_takes_runs_one_at_a_time_in_order_and_refuses_past_its_bound():
    line = Line(limit=1)
    never = threading.Event()
    first = line.join()
    assert line.wait_turn(first, never)
    second = line.join()  # one waiting: the bound
    with pytest.raises(LineFull) as full:
        line.join()
    assert full.value.waiting == 1
    got_turn, ahead = threading.Event(), []
    waiter = threading.Thread(target=lambda: line.wait_turn(second, never, ahead.append) and got_turn.set())
    waiter.start()
    wait_until(lambda: ahead, "the waiting run was told its place", 30)
    assert ahead[0] == 1 and not got_turn.is_set()
    line.leave(first)
    waiter.join(30)
    assert got_turn.is_set()
    # A run stopped while it waits leaves the line and frees its place.
    third, stop = line.join(), threading.Event()
    stop.set()
    assert not line.wait_turn(third, stop)
    assert line.waiting() == 0
    line.leave(second)


def test_a_stopped_result_is_offered_as_partial_with_clean_text(tmp_path):
    """The cleaned text of a run that did not do every chunk is downloaded as
    NAME.partial.clean.txt, holding exactly the finished chunks' text; a whole one as
    NAME.clean.txt."""
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(paper(2).pdf)
    settings = Settings(use_llm=False, max_chars=2400, chunk_size=600)
    for stop_after in (1, None):
        state = Sessions(tmp_path / "sessions", max_age=3600).new_run("tab", str(pdf), settings)
        for event in run(str(pdf), settings, stop=state.stop, output_path=state.clean_path,
                         report_path=state.report_path):
            with state.lock:
                state.apply(event)
            if stop_after is not None and len(state.done) == stop_after:
                state.stop.set()
        state.end()
        names = [p.name for p in state.download_paths()]
        text = state.summary.text
        if stop_after is None:
            assert names == ["paper.clean.txt", "paper.raw.txt", "paper.report.jsonl"]
        else:
            assert names == ["paper.partial.clean.txt", "paper.raw.txt", "paper.report.jsonl"]
            assert state.stopped and len(state.done) == 1 < len(state.plan.chunks)
        clean = state.download_paths()[0].read_text(encoding="utf-8")
        assert clean.strip() == text.strip() and text.strip()
        report = [json.loads(line) for line in state.report_path.read_text(encoding="utf-8").splitlines()]
        assert report[-1]["partial"] is (stop_after is not None)


def test_what_was_removed_is_a_download_of_the_run_and_counted_in_its_report(tmp_path):
    """NAME.removed.txt is written when the plan arrives and offered with the other files; a
    rewrite of the files after a regeneration keeps the report's count of what was removed."""
    from pipeline.events import Chunk, ChunkDone, ChunkPlan, Removed

    removed = (Removed(1, "header", "<b>Running head</b>"), Removed(3, "footnote", "**x** a footnote"))
    chunk = Chunk(0, "Body text.", 1, 3)
    plan = ChunkPlan(chunks=(chunk,), raw_chars=60, normalized_chars=10, pages_read=(1, 2, 3), failed_pages=(),
                     budget_stopped_at=None, raw_text="Body text.", removed=removed)
    state = Sessions(tmp_path, max_age=3600).new_run("tab", "my paper.pdf", Settings(use_llm=False))
    with state.lock:
        state.apply(plan)
    assert [p.name for p in state.downloads()] == ["my_paper.raw.txt", "my_paper.removed.txt"]
    text = (state.folder / "my_paper.removed.txt").read_text(encoding="utf-8")
    assert text.startswith("PDF Cleaner: what was taken out of my_paper.pdf before cleaning")
    assert "[page 1 · header]\n<b>Running head</b>\n\n[page 3 · footnote]\n**x** a footnote\n" in text
    state.end()  # the run ended before its chunk was done; a regeneration sends it
    with state.lock:
        state.apply(ChunkDone(0, chunk, "Body text.", "rules"))
    assert [p.name for p in state.downloads()] == [
        "my_paper.clean.txt", "my_paper.raw.txt", "my_paper.report.jsonl", "my_paper.removed.txt"]
    summary = json.loads(state.report_path.read_text(encoding="utf-8").splitlines()[-1])
    assert summary["removed"] == {"pieces": 2, "chars": 35, "categories": {
        "header": {"pieces": 1, "chars": 19}, "footnote": {"pieces": 1, "chars": 16}}}


# --------------------------------------------------------------------------------------------
# the real server


slow = pytest.mark.slow


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdfs")
    two = paper(2).pdf
    four = paper(4).pdf
    for page in (1, 2, 3):  # three pages that keep the reading process busy for a while each
        four = with_slow_page(four, page)
    files = {"paper.pdf": two, "other.pdf": two, "slow.pdf": four}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return SimpleNamespace(**{name.removesuffix(".pdf"): str(folder / name) for name in files})


def client_for(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def named(values) -> dict:
    return dict(zip(OUTPUTS, values))


def file_paths(files) -> list[Path]:
    return [Path(f if isinstance(f, str) else f["path"]) for f in files or []]


def file_named(files, suffix: str) -> Path:
    matches = [p for p in file_paths(files) if p.name.endswith(suffix)]
    assert matches, f"no *{suffix} among {[p.name for p in file_paths(files)]}"
    return matches[0]


def state_of(server, client):
    """The server's RunState for this client's session (None before its first run)."""
    app = server.app
    return app.SESSIONS.current(app.session_key(SimpleNamespace(session_hash=client.session_hash)))


def rules_text(path: str, **settings) -> str:
    """What a rules-only run gives for `path` with the page's settings (computed here)."""
    events = list(run(path, Settings(use_llm=False, **settings)))
    return next(e for e in events if isinstance(e, RunFinished)).text


def reading_children() -> list:
    """The reading processes (python -m pipeline.sandbox) this test process started."""
    import psutil

    return [p for p in psutil.Process().children(recursive=True)
            if "pipeline.sandbox" in " ".join(p.cmdline() or [])]


@slow
def test_sessions_at_once_each_get_their_own_results_and_files(server, pdfs):
    """Three sessions upload the identical file at the same moment; two ask for the same
    pages, one for another page. Each gets its own text and its own files, in its own folder."""
    from gradio_client import handle_file

    asks = [dict(pages="1"), dict(pages="1"), dict(pages="2")]
    clients = [client_for(server) for _ in asks]
    start = threading.Barrier(len(clients))
    jobs = [None] * len(clients)

    def submit(i):
        start.wait()
        jobs[i] = clients[i].submit(handle_file(pdfs.paper), api_name="/clean", **RULES, **asks[i])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finals = [named(job.result(timeout=BOUND)) for job in jobs]

    states = [state_of(server, c) for c in clients]
    assert len({s.folder for s in states}) == 3, "two sessions share a folder"
    for client, state, final, ask in zip(clients, states, finals, asks):
        expected = rules_text(pdfs.paper, max_chars=RULES["max_chars"], **ask)
        assert final["progress"].startswith("done:"), final["progress"]
        assert final["cleaned"] == expected
        clean = file_named(final["files"], ".clean.txt")
        assert clean.name == "paper.clean.txt"
        assert clean.read_text(encoding="utf-8").strip() == expected.strip()
        # On the server: the session's own folder, holding this session's text.
        assert state.folder.parent.name == server.app.session_key(SimpleNamespace(session_hash=client.session_hash))
        assert state.clean_path.read_text(encoding="utf-8").strip() == expected.strip()
    assert finals[0]["cleaned"] == finals[1]["cleaned"] != finals[2]["cleaned"]


@slow
def test_a_new_run_in_the_same_session_stops_the_old_one(server, pdfs):
    """The same session runs again while its model run is going: the old run ends (its
    worker too), its folder goes, and the new run's files hold only the new run's text."""
    from gradio_client import handle_file

    client = client_for(server)
    old_job = client.submit(handle_file(pdfs.paper), api_name="/clean", **LONG)
    old = wait_until(lambda: (s := state_of(server, client)) is not None and (s.done or s.partial) and s,
                     "the first run is writing")
    new_job = client.submit(handle_file(pdfs.other), api_name="/clean", **RULES)
    new_final = named(new_job.result(timeout=BOUND))

    assert old.stop.is_set() and old.finished.wait(BOUND), "the old run's worker did not end"
    assert old.stopped and len(old.done) < len(old.plan.chunks)
    wait_until(lambda: not old.folder.exists(), "the old run's folder was removed")
    new = state_of(server, client)
    assert new is not old and new.folder != old.folder
    expected = rules_text(pdfs.other, max_chars=RULES["max_chars"])
    assert new_final["progress"].startswith("done:") and new_final["cleaned"] == expected
    assert file_named(new_final["files"], ".clean.txt").name == "other.clean.txt"
    assert new.clean_path.read_text(encoding="utf-8").strip() == expected.strip()
    report = [json.loads(line) for line in new.report_path.read_text(encoding="utf-8").splitlines()]
    assert len(report) == len(new.plan.chunks) + 2 and report[-1]["partial"] is False  # header, chunks, summary
    old_job.result(timeout=BOUND)  # the replaced run's stream ends, without an error


@slow
def test_closing_the_tab_stops_the_run_and_its_reading_process(server, pdfs, monkeypatch):
    from gradio_client import handle_file

    # The server notices a closed session when its heartbeat stream breaks; a short
    # interval makes that quick (read by the server for each new heartbeat stream).
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.25")
    before = {p.pid for p in reading_children()}
    client = client_for(server)
    client.submit(handle_file(pdfs.slow), api_name="/clean", rules_only=True)
    state = wait_until(lambda: state_of(server, client), "the run started")
    child = wait_until(lambda: [p for p in reading_children() if p.pid not in before], "the reading process started")[0]
    session_folder = state.folder.parent
    assert state.busy and state.plan is None  # still reading

    client.close()

    assert state.finished.wait(BOUND), "the run did not end when its tab closed"
    assert state.stop.is_set()
    wait_until(lambda: not child.is_running() or child.status() == "zombie", "the reading process ended")
    assert state.plan is None or state.reading < state.selected or state.summary.stopped
    wait_until(lambda: not session_folder.exists(), "the closed tab's folder was removed")
    assert state_of(server, client) is None


@slow
def test_past_the_queue_size_a_visitor_is_told_the_app_is_busy(server, pdfs, monkeypatch):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    monkeypatch.setattr(server.app.LINE, "limit", 1)  # one run may wait
    running, waiting, refused = client_for(server), client_for(server), client_for(server)
    first = running.submit(handle_file(pdfs.paper), api_name="/clean", **LONG)
    wait_until(lambda: (s := state_of(server, running)) is not None and (s.done or s.partial),
               "the first run holds the model")
    second = waiting.submit(handle_file(pdfs.paper), api_name="/clean", **RULES)
    wait_until(lambda: any(named(o)["progress"].startswith("waiting for the model: 1 run ahead")
                           for o in second.outputs()), "the second run says it waits")

    with pytest.raises(AppError, match=r"PDF Cleaner is busy: 1 run is already waiting for the model\. Try again in a minute\."):
        refused.predict(handle_file(pdfs.paper), api_name="/clean", **RULES)

    running.predict(api_name="/stop")
    assert named(second.result(timeout=BOUND))["progress"].startswith("done:")
    first.result(timeout=BOUND)


@slow
def test_a_file_over_the_limit_that_reaches_a_handler_is_refused_in_our_words(server, pdfs, monkeypatch):
    """Gradio's own limit refuses big uploads first (next test); a file that arrives another
    way (a URL the server fetches) meets this check."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from webapp.form import ServerLimits

    # the 2-page paper is about 9 KB
    monkeypatch.setattr(server.app.CONTROLLER, "limits", ServerLimits(upload=4 * 1024))
    client = client_for(server)
    words = r"over this server's upload limit of 4 KB .*--max-file-size"
    with pytest.raises(AppError, match=words):
        client.predict(handle_file(pdfs.paper), "", "", 2400, api_name="/extract")
    with pytest.raises(AppError, match=words):
        client.predict(handle_file(pdfs.paper), api_name="/clean", **RULES)


@slow
def test_stop_leaves_a_partial_download_named_so(server, pdfs):
    from gradio_client import handle_file

    client = client_for(server)
    job = client.submit(handle_file(pdfs.paper), api_name="/clean", **LONG)
    wait_until(lambda: (s := state_of(server, client)) is not None and s.done, "a chunk is done")
    stopped = named(client.predict(api_name="/stop"))
    names = [p.name for p in file_paths(stopped["files"])]
    assert "paper.partial.clean.txt" in names and "paper.clean.txt" not in names, names
    text = file_named(stopped["files"], ".partial.clean.txt").read_text(encoding="utf-8")
    assert text.strip() == stopped["cleaned"].strip() and text.strip()
    assert "partial" not in text.lower()  # the name says it; the text stays clean
    report = file_named(stopped["files"], ".report.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(report[-1])["partial"] is True
    job.result(timeout=BOUND)


@slow
def test_the_page_limit_is_a_setting_and_its_note_is_shown(server, pdfs):
    from gradio_client import handle_file

    client = client_for(server)
    final = named(client.predict(handle_file(pdfs.paper), api_name="/clean", max_pages=1, **RULES))
    assert "note: Only the first 1 of the 2 selected pages are read (page limit: 1)" in final["document"]
    assert final["cleaned"] == rules_text(pdfs.paper, max_chars=RULES["max_chars"], max_pages=1)
    document, _raw = client.predict(handle_file(pdfs.paper), "", "", 100_000, 1, api_name="/extract")
    assert "note: Only the first 1 of the 2 selected pages" in document


# --------------------------------------------------------------------------------------------
# a second server with a 1 MB upload limit, as an operator starts it


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    """`python app.py --max-file-size 1mb --read-timeout 2` (no model: runs are rules only)."""
    from tests.app_process import app_process

    log = tmp_path_factory.mktemp("small-server") / "server.log"
    env = {"PDF_CLEANER_MODEL": str(ROOT / "no-such-model")}
    with app_process(["--max-file-size", "1mb", "--read-timeout", "2"], log=log, env=env) as url:
        yield SimpleNamespace(url=url, limit=1024 * 1024)


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory):
    """A real PDF just over 1 MB (a page of many text operators)."""
    path = tmp_path_factory.mktemp("big") / "big.pdf"
    path.write_bytes(with_slow_page(paper(2).pdf, 2, operators=140_000))
    assert 1024 * 1024 < path.stat().st_size < 1.3 * 1024 * 1024, path.stat().st_size
    return str(path)


@slow
def test_the_server_refuses_an_upload_over_its_limit(small_server, big_pdf, pdfs):
    import httpx
    from gradio_client import Client, handle_file

    client = Client(small_server.url, verbose=False)
    # gradio_client checks the server's limit before uploading (Gradio's words).
    with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):
        client.predict(handle_file(big_pdf), "", "", 2400, api_name="/extract")
    # The server refuses it too when a client does not check.
    with open(big_pdf, "rb") as fh:
        answer = httpx.post(small_server.url + "gradio_api/upload", files=[("files", ("big.pdf", fh))], timeout=60)
    assert answer.status_code == 413
    assert "maximum allowed size of 1048576 bytes" in answer.text
    # A file under the limit goes through.
    document, _raw = client.predict(handle_file(pdfs.paper), "", "", 2400, api_name="/extract")
    assert "pages: 2" in document


@slow
def test_the_servers_reading_time_limit_keeps_the_pages_read_before_it(small_server, tmp_path):
    from gradio_client import Client, handle_file

    texts = ["The first page explains how the garden was planned over the winter.",
             "The second page tells which seeds were sown in the spring and why.",
             "The third page is slow to read.", "The fourth page closes the account."]
    path = tmp_path / "slow.pdf"
    path.write_bytes(with_slow_page(simple_pdf(texts), 3, compressed=True))  # page 3 takes several seconds
    client = Client(small_server.url, verbose=False)
    document, raw = client.predict(handle_file(str(path)), "", "", 2400, api_name="/extract")
    assert "seeds were sown" in raw and "fourth page" not in raw
    assert "Reading stopped at page 3: the 2 s time limit was reached" in document
    assert "--read-timeout" in document


@slow
def test_the_browser_names_the_limit_of_an_oversize_upload(small_server, big_pdf):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_default_timeout(BOUND * 1000)
            page.goto(small_server.url)
            page.get_by_text("PDF (up to 1 MB)").first.wait_for()  # the limit, before any upload
            page.locator("#pdf-input input[type=file]").set_input_files(big_pdf)
            toast = page.locator("[data-testid=toast-body]").filter(has_text="exceed the maximum allowed size")
            toast.first.wait_for()
            assert "1.0 Mb" in toast.first.inner_text()
        finally:
            browser.close()


# --------------------------------------------------------------------------------------------
# tabs of one browser


@pytest.fixture
def browser_context(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        context.set_default_timeout(BOUND * 1000)
        try:
            yield context
        finally:
            context.close()
            browser.close()


def textarea(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea").input_value()


def wait_value(page, elem_id: str, predicate: str) -> None:
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('#{elem_id} textarea'); const v = e ? e.value : ''; return {predicate}; }}",
        timeout=BOUND * 1000,
    )


def open_tab(context, server, path: str):
    page = context.new_page()
    page.goto(server.url)
    page.locator("#pdf-input input[type=file]").set_input_files(path)
    wait_value(page, "document", "v.includes('pages: 2')")
    return page


@slow
def test_two_tabs_of_one_browser_keep_their_own_results(browser_context, server, pdfs):
    """Each tab is a session of its own (Gradio gives every page load its own session hash):
    the same file in two tabs, one limited to its first page, gives two results."""
    keys_before = set(server.app.SESSIONS._states)
    tabs = [open_tab(browser_context, server, pdfs.paper) for _ in range(2)]
    for tab, max_pages in zip(tabs, ("500", "1")):  # the default budget: both pages fit
        tab.fill("#max-pages input", max_pages)
        tab.locator("#settings").get_by_text("Settings", exact=True).click()
        tab.get_by_label("Rules only (no LLM)").check()
    for tab in tabs:
        tab.click("#run")
    for tab in tabs:
        wait_value(tab, "progress", "v.startsWith('done:')")
    # The page limit's note, as a warning and in the document panel.
    tabs[1].locator("[data-testid=toast-body]").filter(has_text="Only the first 1 of the 2 selected pages").first.wait_for()
    assert "note: Only the first 1 of the 2" in textarea(tabs[1], "document")
    texts = []
    for tab, max_pages in zip(tabs, (500, 1)):
        expected = rules_text(pdfs.paper, max_pages=max_pages)
        assert textarea(tab, "cleaned") == expected
        with tab.expect_download() as download:
            tab.locator("#downloads a[download='paper.clean.txt']").click()
        texts.append(Path(download.value.path()).read_text(encoding="utf-8"))
        assert texts[-1].strip() == expected.strip()
    assert texts[0] != texts[1]
    assert len(set(server.app.SESSIONS._states) - keys_before) == 2


@slow
def test_a_new_file_in_the_browser_stops_the_running_run(browser_context, server, pdfs):
    """With a file loaded, the page offers only Clear; then a new file can be dropped. Clear
    stops the run that was filling the page, and the new file's panel stays its own."""
    keys_before = set(server.app.SESSIONS._states)
    tab = open_tab(browser_context, server, pdfs.paper)
    tab.fill("#max-chars input", str(LONG["max_chars"]))
    tab.locator("#settings").get_by_text("Settings", exact=True).click()
    tab.fill("#chunk-size input", str(LONG["chunk_size"]))
    tab.fill("#batch-size input", str(LONG["batch_size"]))
    tab.fill("#max-new-tokens input", str(LONG["max_new_tokens"]))
    tab.click("#run")
    tab.wait_for_function(
        "() => /^\\d+\\/\\d+ chunks/.test(document.querySelector('#progress textarea').value)",
        timeout=BOUND * 1000,
    )
    (key,) = set(server.app.SESSIONS._states) - keys_before
    state = server.app.SESSIONS.current(key)
    assert state.busy

    tab.locator("#pdf-input button[aria-label=Clear]").click()

    assert state.finished.wait(BOUND), "the run went on after its file was removed"
    assert state.stop.is_set() and state.stopped
    tab.locator("#pdf-input input[type=file]").set_input_files(pdfs.other)
    wait_value(tab, "document", "v.includes('file: other.pdf')")
    assert textarea(tab, "progress") == "" and textarea(tab, "cleaned") == ""


def test_gpu_time_estimate_reads_the_page_count_in_the_reading_process(tmp_path):
    from webapp.gpu_time import run_seconds

    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(paper(pages=6).pdf)
    long = run_seconds(str(pdf), Settings(max_new_tokens=512, chunk_size=500, batch_size=1))
    short = run_seconds(str(pdf), Settings(max_new_tokens=512, chunk_size=500, batch_size=1, max_pages=1))
    assert 30 <= short < long <= 300  # fewer pages read, less GPU time asked for
    # A file that cannot be read still gets an estimate (the run itself then says what is wrong).
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    assert 30 <= run_seconds(str(bad), Settings()) <= 300


def test_the_session_root_is_private_and_never_one_planted_by_someone_else(tmp_path):
    import os
    import stat

    from webapp.sessions import private_root

    root = private_root(tmp_path, "pdf-cleaner-sessions")
    assert root == tmp_path / f"pdf-cleaner-sessions-{os.getuid()}"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert private_root(tmp_path, "pdf-cleaner-sessions") == root  # reused after a restart

    # A symlink planted at the predictable name, or a folder others can enter, is not used.
    target = tmp_path / "victim"
    (target / "old-session").mkdir(parents=True)
    planted = tmp_path / "other"
    planted.mkdir()
    (planted / f"pdf-cleaner-sessions-{os.getuid()}").symlink_to(target)
    chosen = private_root(planted, "pdf-cleaner-sessions")
    assert not chosen.is_symlink() and chosen.parent == planted and chosen.name != f"pdf-cleaner-sessions-{os.getuid()}"
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o700 and (target / "old-session").is_dir()
    shared = tmp_path / "shared"
    (shared / f"pdf-cleaner-sessions-{os.getuid()}").mkdir(parents=True, mode=0o777)
    os.chmod(shared / f"pdf-cleaner-sessions-{os.getuid()}", 0o777)
    assert private_root(shared, "pdf-cleaner-sessions").name != f"pdf-cleaner-sessions-{os.getuid()}"


def test_the_sweep_does_not_follow_a_symlinked_root(tmp_path):
    target = tmp_path / "victim"
    (target / "old-session").mkdir(parents=True)
    os.utime(target / "old-session", (0, 0))
    link = tmp_path / "root"
    link.symlink_to(target)
    assert Sessions(link, max_age=1).sweep() == []
    assert (target / "old-session").is_dir()


def test_downloads_are_refreshed_at_most_every_few_seconds_and_always_at_the_end(tmp_path):
    from webapp.sessions import FILES_EVERY

    state = Sessions(tmp_path, max_age=3600).new_run("tab", "paper.pdf", Settings(use_llm=False))
    state.dirty = {"files", "plan"}
    assert state.take_dirty(100.0) == {"files", "plan"}  # the first: at once
    state.done[0] = object()  # the first finished chunk: offered at once too
    state.dirty.add("files")
    assert state.take_dirty(100.5) == {"files"}
    state.done[1] = object()
    state.dirty.add("files")
    assert state.take_dirty(100.5 + FILES_EVERY / 2) == set()  # too soon: kept for later
    assert state.dirty == {"files"}
    assert state.take_dirty(100.5 + FILES_EVERY) == {"files"}
    state.dirty.add("files")
    state.finished.set()
    assert state.take_dirty(100.5 + FILES_EVERY + 0.1) == {"files"}  # the run is over: always


def test_rewriting_after_a_regeneration_keeps_the_limit_notes_and_never_revives_a_removed_folder(tmp_path):
    import shutil

    from pipeline.events import Chunk, ChunkDone, ChunkPlan

    chunk = Chunk(0, "Body text.", 1, 1)
    note = "The character budget of 10 characters was reached on page 1: later pages are not read."
    plan = ChunkPlan(chunks=(chunk,), raw_chars=10, normalized_chars=10, pages_read=(1,), failed_pages=(),
                     budget_stopped_at=1, raw_text="Body text.", notes=(note,))
    state = Sessions(tmp_path, max_age=3600).new_run("tab", "paper.pdf", Settings(use_llm=False))
    with state.lock:
        state.apply(plan)
    state.end()
    with state.lock:
        state.apply(ChunkDone(0, chunk, "Body text.", "rules"))  # regenerated: the files are written again
    summary = json.loads(state.report_path.read_text(encoding="utf-8").splitlines()[-1])
    assert note in json.dumps(summary)
    shutil.rmtree(state.folder)  # the run was replaced, or its tab closed
    with state.lock:
        state.apply(ChunkDone(0, chunk, "Body text again.", "rules"))
    assert not state.folder.exists()


def test_a_line_with_several_slots_lets_that_many_runs_go_at_once_in_order():
    line = Line(limit=4, slots=2)
    never = threading.Event()
    first, second, third = line.join(), line.join(), line.join()
    assert line.wait_turn(first, never) and line.wait_turn(second, never)
    got_turn = threading.Event()
    waiter = threading.Thread(target=lambda: line.wait_turn(third, never) and got_turn.set())
    waiter.start()
    assert not got_turn.wait(0.5)  # both slots are taken
    line.leave(second)
    waiter.join(30)
    assert got_turn.is_set() and line.waiting() == 0
