"""A served model through the user-facing parts: the web app's run controller, the command
line on a folder, and the page itself.

Fast: the run controller (webapp/controller.py) with `ModelStatus(served=...)` against the
fake OpenAI-compatible server (tests/openai_fake.py): every chunk goes to the fake, nothing
is loaded in this process, no GPU wrapper runs, and a model the server does not offer is
refused before any request is sent.

Slow (--slow), against llama.cpp's server with the bundled model (tests/llama_server.py):
`python -m pipeline FOLDER -o OUT --api-base URL` cleans two generated PDFs and resumes them
without a request; `python app.py --api-base URL` serves the page, driven with gradio_client.
Budgets are small (1,500 characters a document, 96 new tokens a chunk) so that each slow test
takes a few minutes at most on two CPU cores.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline import model as models
from tests.app_process import free_port, stop_process
from tests.llama_server import ALIAS
from tests.openai_fake import MODEL, FakeServer
from tests.pdf_factory import paper, simple_pdf
from webapp.controller import EVERYTHING, RunController, Update
from webapp.errors import UserError
from webapp.form import ServedModel, ServerLimits
from webapp.model_service import ModelStatus
from webapp.offered import OfferedModels
from webapp.server_flags import SERVED_RUNS
from webapp.sessions import Line, Sessions

ROOT = Path(__file__).resolve().parent.parent

# Four chunks of 360 characters (two do not fit in one of 400); the fake echoes each back.
PARAGRAPHS = [" ".join([word] * 60) + "." for word in ("alpha", "bravo", "delta", "gamma")]
FORM = dict(model=MODEL, rules_only=False, chunk_size=400, batch_size=1, temperature=0, max_new_tokens=512,
            guard_policy="fallback", max_chars=100_000)
# What the slow tests ask of the small model: a few short chunks a document.
SMALL = dict(max_chars=1500, chunk_size=500, max_new_tokens=96)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    import pipeline.served

    monkeypatch.setattr(pipeline.served, "BACKOFF", 0.02)


# --- the run controller against the fake server (fast) -------------------------------------


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model in this process fails the test: a served run must never do it."""

    def refuse(*args, **kwargs):
        raise AssertionError("a served model must not be loaded in this process")

    monkeypatch.setattr(models, "get_model", refuse)


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / "four chunks.pdf"
    path.write_bytes(simple_pdf(["\n\n".join(PARAGRAPHS)]))
    return str(path)


@pytest.fixture
def controller(tmp_path, fake, no_model):
    """A controller as app.serve builds one for `--api-base FAKE --model fake-model` on a page
    others can reach (0.0.0.0: visitors pick from the offered models only). `gpu_calls` records
    every call of a function wrapped by `on_gpu`."""
    model = ModelStatus(served=ServedModel(api_base=fake.url, retries=1, request_timeout=10.0))
    model.start(MODEL, background=False)  # asks the fake which models it serves: no loading
    gpu_calls: list[str] = []

    def on_gpu(events, duration):
        def wrapped(*args):
            gpu_calls.append(events.__name__)
            yield from events(*args)
        return wrapped

    offered = OfferedModels.decide(MODEL, None, None, "0.0.0.0", False, False, with_bundled=False)
    made = RunController(Sessions(tmp_path / "sessions", 3600), Line(4, slots=SERVED_RUNS), model,
                         limits=ServerLimits(upload=50 * 2**20), offered=offered, on_gpu=on_gpu)
    made.gpu_calls = gpu_calls
    return made


def user_texts(fake: FakeServer) -> list[str]:
    return [next(m["content"] for m in r["messages"] if m["role"] == "user") for r in fake.requests]


def test_the_line_names_the_server_and_loads_nothing(controller, fake):
    line = controller.model.line()
    assert controller.model.error is None, controller.model.error
    assert line.startswith(f"Device: served at {fake.url} · Model: {MODEL} · the server answered in"), line
    assert fake.requests == []  # only GET /models was asked; no chunk yet


def test_a_served_run_cleans_every_chunk_through_the_server_and_never_on_a_gpu(controller, fake, pdf):
    updates = list(controller.clean(pdf, "tab", FORM))
    assert all(isinstance(u, Update) for u in updates) and updates[-1].parts == EVERYTHING
    state = updates[-1].state
    assert state.complete and not state.busy and state.failure is None
    assert len(state.done) == len(state.plan.chunks) == 4
    assert [d.source for d in state.done.values()] == ["llm"] * 4
    assert sorted(user_texts(fake)) == sorted(c.text for c in state.plan.chunks)  # one request a chunk
    assert all(r["model"] == MODEL and r["stream"] is True for r in fake.requests)
    assert state.model == f"{MODEL} served at {fake.url}"
    assert state.settings.api_base == fake.url
    assert state.clean_path.read_text(encoding="utf-8").rstrip("\n").split("\n\n") == PARAGRAPHS
    assert controller.gpu_calls == []
    assert controller.line.waiting() == 0 and not controller.line.running()


@pytest.mark.parametrize("name", ["bundled", "/etc", "Qwen/Qwen2.5-1.5B-Instruct"])
def test_a_model_the_server_does_not_offer_is_refused_before_any_request(controller, fake, pdf, name):
    with pytest.raises(UserError, match="not offered on this server") as refused:
        next(controller.clean(pdf, "tab", {**FORM, "model": name}))
    assert f"Pick one of: {MODEL}." in str(refused.value)
    assert fake.requests == [] and controller.sessions.current("tab") is None
    assert controller.gpu_calls == [] and controller.line.waiting() == 0


def test_regenerating_a_chunk_on_a_served_model_loads_nothing(controller, fake, pdf):
    state = list(controller.clean(pdf, "tab", FORM))[-1].state
    sent = len(fake.requests)
    items = list(controller.regenerate("tab", 2, FORM))
    assert items[-1].state is state and state.done[2].source == "llm"
    assert len(fake.requests) == sent + 1 and user_texts(fake)[-1] == state.plan.chunks[2].text
    assert controller.gpu_calls == []


# --- a real server: llama.cpp with the bundled model (slow) ----------------------------------


@pytest.fixture(scope="module")
def llama():
    from tests.llama_server import llama_server

    with llama_server() as url:
        yield url


def environment() -> dict:
    """The subprocesses' environment: offline, this checkout importable, no operator's choice
    of models or key from the caller's shell."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name in ("PDF_CLEANER_MODEL", "PDF_CLEANER_MODELS", "PDF_CLEANER_FREE_MODEL_CHOICE",
                 "PDF_CLEANER_API_BASE", "PDF_CLEANER_API_KEY", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        env.pop(name, None)
    return env


def read_report(path: Path) -> tuple[dict, list[dict]]:
    """A report's header (its "run" object) and its chunk records."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines[0]["run"], [line for line in lines if isinstance(line.get("index"), int)]


@pytest.mark.slow
def test_cli_cleans_a_folder_through_the_server_and_resumes_without_a_request(llama, tmp_path):
    folder, out = tmp_path / "papers", tmp_path / "out"
    folder.mkdir()
    (folder / "first.pdf").write_bytes(paper(2, seed=1).pdf)
    (folder / "second.pdf").write_bytes(paper(2, seed=2).pdf)
    command = [sys.executable, "-m", "pipeline", str(folder), "-o", str(out), "--api-base", llama, "--model", ALIAS,
               "--max-chars", str(SMALL["max_chars"]), "--chunk-size", str(SMALL["chunk_size"]),
               "--max-new-tokens", str(SMALL["max_new_tokens"])]

    def cli() -> subprocess.CompletedProcess:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment(), timeout=300)

    first = cli()
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"model: {ALIAS}: served at {llama}" in first.stderr
    with open(out / "summary.csv", encoding="utf-8", newline="") as handle:
        summary = {row["file"]: row for row in csv.DictReader(handle)}
    assert {Path(name).name for name in summary} == {"first.pdf", "second.pdf"}, summary
    keys = {}
    for name in ("first", "second"):
        header, records = read_report(out / f"{name}.report.jsonl")
        assert header["key"] and header["chunks_total"] == len(records) >= 2, (header, records)
        assert [r["index"] for r in records] == list(range(len(records)))
        assert all(r["source"] in ("llm", "fallback") for r in records), [r["source"] for r in records]
        assert all(r["model_output"] and 0 < r["tokens"] <= SMALL["max_new_tokens"] for r in records)
        assert not any(r.get("resumed") for r in records)
        assert (out / f"{name}.clean.txt").read_text(encoding="utf-8").strip()
        keys[name] = header["key"]
    assert all(row["status"] == "done" and row["failed"] == "0" and row["resumed"] == "0"
               for row in summary.values()), summary

    again = cli()
    assert again.returncode == 0, again.stderr[-3000:]
    with open(out / "summary.csv", encoding="utf-8", newline="") as handle:
        summary = {Path(row["file"]).name: row for row in csv.DictReader(handle)}
    for name in ("first", "second"):
        header, records = read_report(out / f"{name}.report.jsonl")
        assert header["key"] == keys[name]
        assert records and all(r.get("resumed") is True for r in records), [r.get("resumed") for r in records]
        row = summary[f"{name}.pdf"]
        assert row["resumed"] == row["chunks"] == str(len(records)) and row["status"] == "done", row
        assert f"{name}.pdf: resuming: {len(records)} of {len(records)} chunks already cleaned" in again.stderr


@pytest.fixture(scope="module")
def served_page(llama):
    """`python app.py --api-base LLAMA --model bundled` in a subprocess, free model choice off
    (as on a page others can reach); yields its URL and stops it at the end."""
    port = free_port()
    command = [sys.executable, "app.py", "--api-base", llama, "--model", ALIAS, "--port", str(port),
               "--host", "127.0.0.1", "--no-free-model-choice"]
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment(), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise AssertionError(f"app.py exited with {process.returncode}:\n{log.read().decode()[-3000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    assert time.monotonic() < deadline, "the page did not answer within 180 s"
                    time.sleep(0.5)
            yield url
        finally:
            stop_process(process, 15)


@pytest.mark.slow
def test_the_page_with_a_served_model_runs_and_refuses_other_models(served_page, llama, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from tests.page_outputs import named, rows
    from tests.test_app_api import file_named

    path = tmp_path / "paper.pdf"
    path.write_bytes(paper(2).pdf)
    client = Client(served_page, verbose=False)
    run = dict(api_name="/clean", model=ALIAS, rules_only=False, batch_size=0, seed=0, **SMALL)

    job = client.submit(handle_file(str(path)), **run)
    outputs = [named(values) for values in job]
    final = outputs[-1]
    table = rows(final["table"])
    assert table and final["progress"].startswith(f"done: {len(table)}/{len(table)} chunks"), final["progress"]
    assert f"{ALIAS} served at {llama}" in final["progress"], final["progress"]
    assert all(row[2] in ("cleaned", "input kept (guard)") for row in table), table
    assert final["cleaned"].strip()
    report = [json.loads(line) for line in
              file_named(final["files"], ".report.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in report[1:-1]] and all(r["source"] in ("llm", "fallback") for r in report[1:-1])

    # Free model choice is off, so the page's model field takes the served model only: Gradio's
    # dropdown refuses any other name before the run controller is called (the controller's
    # own refusal, "not offered on this server", is checked by the fast tests above).
    for name in ("/etc", "Qwen/Qwen2.5-1.5B-Instruct"):
        with pytest.raises(AppError, match=rf"Value: {name} is not in the list of choices: \['{ALIAS}'\]"):
            client.predict(handle_file(str(path)), **{**run, "model": name})

    document, raw = client.predict(handle_file(str(path)), "", "", SMALL["max_chars"], api_name="/extract")
    assert "pages: 2" in document and raw.strip()
    again = named(client.predict(handle_file(str(path)), **run))
    assert again["progress"].startswith("done:") and again["cleaned"].strip(), again["progress"]
