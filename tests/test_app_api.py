"""The web app through its API: gradio_client against the real server, launched in-process.

Real parts only: the Gradio server on 127.0.0.1, the bundled model with a small
max_new_tokens, generated PDFs. Slow (run with --slow): they load the model and generate.
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

pytestmark = pytest.mark.slow

# Small runs: a two-page paper cut by the character budget into a few 600-character chunks,
# each cleaned to its end (the engine copies: a chunk takes a few forward passes); the runs
# to stop take them two at a time.
SMALL = dict(max_chars=2400, chunk_size=600, max_new_tokens=256, batch_size=0, seed=0)
STOPPABLE = dict(max_chars=3600, chunk_size=600, max_new_tokens=256, batch_size=2, seed=0)
OUTPUTS = ("document", "progress", "cleaned", "table", "picker", "raw", "files")





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


def named(values) -> dict:
    return dict(zip(OUTPUTS, values))


def rows(table) -> list[list]:
    """The chunk table's rows, whatever wrapper the client hands back."""
    if isinstance(table, dict):
        table = table.get("value", table)
        if isinstance(table, dict):
            table = table.get("data", [])
    return table or []


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
    assert [r["index"] for r in report[:-1]] == list(range(total))
    assert report[-1]["summary"] and report[-1]["partial"] is False
    assert all(r["verdict"] in ("ok", "suspicious", "rejected") for r in report[:-1])


def read_report(files) -> list[dict]:
    return [json.loads(line) for line in file_named(files, ".report.jsonl").read_text(encoding="utf-8").splitlines()]


def test_compare_and_regenerate_one_chunk(small_run):
    client, final = small_run.client, small_run.outputs[-1]
    total = len(rows(final["table"]))
    report = read_report(final["files"])
    source, output, note = client.predict(1, api_name="/chunk")
    assert source == report[1]["input"]
    assert output == (report[1]["model_output"] or report[1]["output"])
    assert note.startswith("chunk 2 · page 1")
    assert f"verdict: {report[1]['verdict']}" in note
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(98, api_name="/chunk")
    # Regenerate chunk 2 greedily with more room: the page and the files take the new text.
    regen = client.predict(1, api_name="/regenerate", **{**SMALL, "temperature": 0, "max_new_tokens": 32})
    new_source, new_output, new_note, progress, cleaned, table, files = regen
    new_report = read_report(files)
    assert new_source == source
    assert new_output == (new_report[1]["model_output"] or new_report[1]["output"])
    assert new_report[1]["model_output"] != report[1]["model_output"]
    assert 0 < new_report[1]["tokens"] <= 32  # generated anew, within the new settings' room
    assert new_report[0] == report[0] and new_report[2:-1] == report[2:-1]  # only chunk 2 changed
    assert progress.startswith(f"done: {total}/{total}"), progress
    assert rows(table)[1][4] == new_report[1]["tokens"]
    assert file_named(files, ".clean.txt").read_text(encoding="utf-8").strip() == cleaned.strip()


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
    assert len(report) == done + 1 and report[-1]["partial"] is True
    # The run itself ends normally with the same stopped state.
    job.result(timeout=30)
    assert named(job.outputs()[-1])["progress"].startswith("stopped:")


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
    assert len(read_report(last["files"])) == len(done)  # one line per finished chunk, no summary yet
    # A new run goes through: the cancelled one no longer holds the model's slot (a held
    # slot would make this wait past the bound and fail instead of hanging the suite).
    again = client.submit(handle_file(pdfs.paper), api_name="/clean", rules_only=True, max_chars=2400)
    assert named(again.result(timeout=120))["progress"].startswith("done:")


@pytest.mark.parametrize(
    "name, password, message",
    [
        ("notes", "", "not a PDF"),
        ("secret", "", "encrypted: enter its password"),
        ("secret", "wrong", "password does not open"),
        ("scan", "", "looks scanned"),
    ],
)
def test_errors_arrive_as_errors(client, pdfs, name, password, message):
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(getattr(pdfs, name)), password, "", 2400, api_name="/extract")
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(getattr(pdfs, name)), api_name="/clean", password=password, **SMALL)


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
