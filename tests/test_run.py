"""pipeline.run(): the order of events, chunk-to-page mapping, stop, output files (rules only)."""

from __future__ import annotations

import json
import threading

import pytest

from pipeline import (
    ChunkDone,
    ChunkPlan,
    DocumentInfo,
    NoTextError,
    PageRead,
    PasswordRequiredError,
    RunFinished,
    Settings,
    run,
)
from pipeline.events import ChunkProgress
from pipeline.normalize import normalize_document
from pipeline.output import GAP_CLOSE
from tests.fakes import FakeEngine, fake_lm
from tests.pdf_factory import encrypted_pdf, image_only_pdf, paper, simple_pdf

RULES = Settings(use_llm=False)


@pytest.fixture(scope="module")
def paper8():
    return paper(pages=8)


def test_events_come_in_the_documented_order(paper8):
    events = list(run(paper8.pdf, RULES))
    kinds = [type(e) for e in events]
    assert kinds[0] is DocumentInfo
    assert kinds[-1] is RunFinished
    plan_at = kinds.index(ChunkPlan)
    assert kinds[1:plan_at] == [PageRead] * 8
    assert set(kinds[plan_at + 1 : -1]) == {ChunkDone}
    done = [e for e in events if isinstance(e, ChunkDone)]
    assert [d.index for d in done] == list(range(len(events[plan_at].chunks)))
    assert all(d.source == "rules" and d.output == d.chunk.text for d in done)
    assert [e.page for e in events if isinstance(e, PageRead)] == list(range(1, 9))


def test_rules_only_result_is_the_normalized_text(paper8):
    # pypdf's plain text (no structure stage), so that the pages can be rebuilt here.
    events = list(run(paper8.pdf, RULES.with_(layout=False)))
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    finished = events[-1]
    from pipeline import extract

    reader = extract.open_pdf(paper8.pdf)
    pages = [(p.page, p.text) for p in extract.iter_pages(reader, list(range(1, 9)))]
    # Joining the chunks with their separators gives back exactly the normalized text:
    # chunking loses nothing and invents no paragraph breaks.
    assert finished.text == normalize_document(pages).text
    assert finished.chunks_done == finished.chunks_total == len(plan.chunks)
    assert not finished.stopped
    assert all(len(c.text) <= RULES.chunk_size for c in plan.chunks)


def test_chunks_know_the_pages_they_came_from():
    texts = [f"Page {word} talks about {word} only. " * 30 for word in ("alpha", "bravo", "charlie", "delta")]
    plan = next(e for e in run(simple_pdf(texts), RULES.with_(chunk_size=300)) if isinstance(e, ChunkPlan))
    for chunk in plan.chunks:
        found = {n + 1 for n, word in enumerate(("alpha", "bravo", "charlie", "delta")) if word in chunk.text}
        assert found, chunk.text
        assert chunk.first_page == min(found) and chunk.last_page == max(found)
    assert [c.first_page for c in plan.chunks] == sorted(c.first_page for c in plan.chunks)


def test_page_range_and_budget_are_reported(paper8):
    events = list(run(paper8.pdf, RULES.with_(pages="2-4,7", max_chars=3000)))
    pages = [e for e in events if isinstance(e, PageRead)]
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    assert pages[0].page == 2 and pages[0].selected == 4
    assert pages[-1].budget_reached
    assert plan.budget_stopped_at == pages[-1].page
    assert plan.raw_chars <= 3000


def test_a_failing_page_is_skipped_and_reported(paper8):
    from tests.pdf_factory import with_unreadable_page

    pdf = with_unreadable_page(paper8.pdf, 3)
    events = list(run(pdf, RULES))
    failed = [e for e in events if isinstance(e, PageRead) and e.error]
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    assert [e.page for e in failed] == [3]
    assert failed[0].error.startswith("too complex to read: a stream has too many stacked filters")
    assert plan.failed_pages == (3,)
    assert 3 not in plan.pages_read and len(plan.pages_read) == 7
    assert events[-1].chunks_done == len(plan.chunks) > 0


def test_stop_during_reading_gives_a_partial_result(paper8):
    stop = threading.Event()
    events = []
    for event in run(paper8.pdf, RULES, stop=stop):
        events.append(event)
        if isinstance(event, PageRead) and event.position == 3:
            stop.set()
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    assert plan.pages_read == (1, 2, 3)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.stopped


def test_closing_the_stream_keeps_finished_chunks_on_disk_and_marks_the_rest(paper8, tmp_path):
    out, report = tmp_path / "out.txt", tmp_path / "report.jsonl"
    stream = run(paper8.pdf, RULES.with_(chunk_size=400), output_path=out, report_path=report)
    done, plan = [], None
    for event in stream:
        plan = event if isinstance(event, ChunkPlan) else plan
        if isinstance(event, ChunkDone):
            done.append(event)
            if len(done) == 3:
                break
    stream.close()
    written = out.read_text(encoding="utf-8")
    finished = "".join((d.chunk.separator if i else "") + d.output for i, d in enumerate(done))
    assert written.startswith(finished + "\n\n[PDF Cleaner: chunks 4–")
    assert f"{len(plan.chunks)} " in written.split("\n\n[PDF Cleaner: ")[1]  # the gap runs to the end
    assert written.rstrip().endswith(GAP_CLOSE)
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["run"]["chunks_total"] == len(plan.chunks)  # the header comes first (pipeline.resume)
    assert [line["index"] for line in lines[1:-1]] == [0, 1, 2]
    assert lines[-1]["summary"] and lines[-1]["partial"] is True
    assert lines[-1]["gaps"] == [[4, len(plan.chunks)]]


@pytest.fixture
def fake_engine(monkeypatch):
    from pipeline import engine

    FakeEngine.reset(per_step=1, delay=0.005)
    monkeypatch.setattr(engine, "Engine", FakeEngine)


@pytest.mark.parametrize("how", ["close", "interrupt"])
def test_chunks_finished_out_of_order_survive_a_close_or_ctrl_c(fake_engine, tmp_path, how):
    # Chunk 0 runs alone first. Then chunk 1 is long and chunk 2 short: chunk 2 finishes first
    # and waits for chunk 1 in document order. Closing the stream (Stop on ZeroGPU) or Ctrl-C
    # must not lose it. The fake engine writes a word a pass: 200 one-letter words take ten
    # times as long as twenty 19-letter ones, in chunks of the same 400 characters.
    short = " ".join(["abcdefghijklmnopqrs"] * 20) + "."  # each paragraph is 400 characters
    first = " ".join(["opening"] * 50) + "."
    pdf = simple_pdf([first + "\n\n" + " ".join(["a"] * 199) + " a.\n\n" + short + "\n\n"
                      + " ".join(["b"] * 199) + " b."])
    out, report = tmp_path / "out.txt", tmp_path / "report.jsonl"
    settings = Settings(chunk_size=400, batch_size=3, temperature=0)
    stream = run(pdf, settings, model=fake_lm(), output_path=out, report_path=report)
    for event in stream:
        if isinstance(event, ChunkPlan):
            assert [len(c.text.split()) for c in event.chunks] == [50, 200, 20, 200]
        if isinstance(event, ChunkProgress) and event.index == 1 and event.tokens > 60:
            break  # chunk 2 (20 words) is done by now; chunk 1 is not
    if how == "close":
        stream.close()
    else:
        with pytest.raises(KeyboardInterrupt):
            stream.throw(KeyboardInterrupt)
    written = out.read_text(encoding="utf-8")
    why = "the run was stopped" if how == "close" else "the run was interrupted"
    assert written.startswith(first + "\n\n[PDF Cleaner: chunk 2 (page 1) was not cleaned by the model: " + why)
    assert f"{GAP_CLOSE}\n\n{short}\n\n[PDF Cleaner: chunk 4 (page 1) was not cleaned" in written
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [line["index"] for line in lines[1:-1]] == [0, 2]
    assert lines[2]["source"] == "llm" and lines[2]["output"] == short
    assert lines[-1]["gaps"] == [[2, 2], [4, 4]]


def test_full_run_writes_text_and_report(paper8, tmp_path):
    out, report = tmp_path / "out.txt", tmp_path / "report.jsonl"
    events = list(run(paper8.pdf, RULES, output_path=out, report_path=report))
    finished = events[-1]
    assert out.read_text(encoding="utf-8") == finished.text + "\n"
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == finished.chunks_total + 2  # header, chunks, summary
    assert lines[0]["run"]["source"] == "" and lines[0]["run"]["chunks_total"] == finished.chunks_total
    assert lines[1]["input"] == lines[1]["output"] and lines[1]["source"] == "rules"
    assert lines[-1] == {**lines[-1], "summary": True, "partial": False}


def test_errors_are_raised_before_any_work():
    with pytest.raises(PasswordRequiredError):
        list(run(encrypted_pdf("AES-256", user_password="secret"), RULES))
    with pytest.raises(NoTextError):
        list(run(image_only_pdf(), RULES))


def test_password_opens_an_encrypted_pdf():
    events = list(run(encrypted_pdf("AES-128", user_password="secret"), RULES.with_(password="secret")))
    assert events[0].encrypted
    assert events[-1].text.strip()


def test_pipeline_run_is_the_function_and_no_module_shadows_it():
    import importlib

    import pipeline

    assert callable(pipeline.run) and pipeline.run.__module__ == "pipeline.runner"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("pipeline.run")


def test_guard_verdicts_and_fallbacks_reach_the_text_and_the_report(fake_engine, tmp_path):
    # Fast, with the fake engine: a chunk whose model output loops is stopped while written,
    # judged rejected, and its input stands in; the report line says all of it.
    good = " ".join(["steady"] * 40) + "."  # 280 characters: one chunk each
    loop = "loopme " + " ".join(["again"] * 50) + "."
    pdf = simple_pdf([good + "\n\n" + loop])
    out, report = tmp_path / "out.txt", tmp_path / "report.jsonl"
    events = list(run(pdf, Settings(chunk_size=400, batch_size=2, temperature=0), model=fake_lm(),
                      output_path=out, report_path=report))
    done = [e for e in events if isinstance(e, ChunkDone)]
    assert [d.source for d in done] == ["llm", "fallback"]
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    _, first, second, summary = lines
    assert first["source"] == "llm" and first["verdict"] == "ok" and set(first["metrics"]) == {
        "kept", "invented", "length_ratio", "repetition"}
    assert second["source"] == "fallback" and second["verdict"] == "rejected"
    assert second["halted"] == "a loop" and second["reasons"][0] == "stopped while writing: a loop"
    assert second["input"] == loop and second["output"] == loop and second["model_output"] != loop
    assert out.read_text(encoding="utf-8").rstrip("\n").endswith(second["input"])
    assert summary["chunks_done"] == 2 and not summary["partial"]
