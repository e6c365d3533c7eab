"""Resume (pipeline.resume): the run key, and a run taking up what an earlier one left.

Fast: generated PDFs and the fake engine of tests/fakes.py, whose admissions are logged, so a
test can count exactly which chunks the model was asked to clean.
"""

from __future__ import annotations

import json

import pytest

from pipeline import ChunkDone, ChunkPlan, RunFinished, Settings, run
from pipeline.resume import run_key
from tests.fakes import FakeEngine, fake_lm
from tests.pdf_factory import paper, simple_pdf

MODEL = Settings(chunk_size=400, batch_size=2, temperature=0)


@pytest.fixture(scope="module")
def paper3():
    return paper(pages=3).pdf


@pytest.fixture
def fake_engine(monkeypatch):
    from pipeline import engine

    FakeEngine.reset(per_step=8)
    monkeypatch.setattr(engine, "Engine", FakeEngine)


def admitted() -> list[int]:
    """The chunk indexes the fake model was asked to clean since the last reset."""
    return sorted(key for kind, key in ((e[0], e[1]) for e in FakeEngine.log) if kind == "admit")


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def full_run(pdf, tmp_path, settings=MODEL, resume=True):
    out, report = tmp_path / "out.txt", tmp_path / "out.report.jsonl"
    events = list(run(pdf, settings, model=fake_lm(), output_path=out, report_path=report, resume=resume))
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    return events, plan, out, report


def test_the_key_follows_the_pdf_the_settings_that_change_the_text_and_the_model(paper3):
    base = Settings()
    key = run_key(paper3, base)
    assert key == run_key(paper3, Settings())  # the same run, the same key
    assert run_key(paper3 + b"\n%", base) != key  # the PDF
    for change in ({"max_new_tokens": 100}, {"chunk_size": 800}, {"keep_references": True}, {"temperature": 0.7},
                   {"system_prompt": "Copy the text."}, {"copy_bias": 2.0}, {"use_llm": False},
                   {"model": "Qwen/Qwen2.5-0.5B-Instruct"}, {"api_base": "http://127.0.0.1:8000/v1"}):
        assert run_key(paper3, base.with_(**change)) != key, change
    # How the text is reached, not what it is: the same key.
    for change in ({"api_key": "secret"}, {"password": "x"}, {"concurrency": 16}, {"request_timeout": 5.0},
                   {"retries": 0}, {"batch_size": 2}, {"read_timeout": 60.0}, {"max_file_mb": 10}):
        assert run_key(paper3, base.with_(**change)) == key, change


def test_the_report_starts_with_the_runs_header_and_never_holds_the_api_key(paper3, tmp_path):
    report = tmp_path / "r.jsonl"
    list(run(paper3, Settings(use_llm=False, api_key="sk-very-secret"), report_path=report))
    head = lines_of(report)[0]["run"]
    assert head["key"] == run_key(paper3, Settings(use_llm=False)) and head["version"] == 1
    assert head["source"] == "" and head["chunks_total"] == len(lines_of(report)) - 2
    assert "sk-very-secret" not in report.read_text(encoding="utf-8")


def test_a_killed_run_is_resumed_cleaning_exactly_the_missing_chunks(paper3, tmp_path, fake_engine):
    events, plan, out, report = full_run(paper3, tmp_path)
    total = len(plan.chunks)
    assert total >= 8 and admitted() == list(range(total))
    whole = out.read_text(encoding="utf-8")
    first = [e for e in events if isinstance(e, ChunkDone)]
    # A kill after half the chunks, in the middle of writing the next line: the header, the
    # first half, then half a line (no summary).
    lines = report.read_text(encoding="utf-8").splitlines(keepends=True)
    half = total // 2
    report.write_text("".join(lines[: 1 + half]) + lines[1 + half][:40], encoding="utf-8")
    out.write_text("whatever the killed run left", encoding="utf-8")

    FakeEngine.reset(per_step=8)
    events, plan, out, report = full_run(paper3, tmp_path)
    assert plan.resumed == tuple(range(half)) and plan.resume_note is None
    assert admitted() == list(range(half, total))  # only the missing ones went to the model
    done = [e for e in events if isinstance(e, ChunkDone)]
    assert [d.index for d in done] == list(range(total))  # in document order, resumed ones in place
    assert [d.resumed for d in done] == [True] * half + [False] * (total - half)
    # The resumed chunks come first, before the model has written a token: a bar moves at once.
    after_plan = events[events.index(plan) + 1:]
    assert all(isinstance(e, ChunkDone) and e.resumed for e in after_plan[:half])
    for old, new in zip(first, done):  # the same chunk, read back from the report
        assert (new.output, new.source, new.model_output, new.tokens) == (
            old.output, old.source, old.model_output, old.tokens)
        assert (new.guard.verdict, new.guard.reasons) == (old.guard.verdict, old.guard.reasons)
        assert new.guard.length_ratio == pytest.approx(old.guard.length_ratio, abs=1e-4)  # the report rounds
    assert out.read_text(encoding="utf-8") == whole  # the text file is whole again
    records = lines_of(report)
    assert [r["index"] for r in records[1:-1]] == list(range(total))
    assert [r.get("resumed", False) for r in records[1:-1]] == [True] * half + [False] * (total - half)
    assert records[-1]["partial"] is False and events[-1].chunks_done == total

    # Once complete, running again cleans nothing (and does not even need the model stage).
    FakeEngine.reset(per_step=8)
    events, plan, out, _ = full_run(paper3, tmp_path)
    assert plan.resumed == tuple(range(total)) and admitted() == []
    assert out.read_text(encoding="utf-8") == whole


@pytest.mark.parametrize("change, why", [
    ({"max_new_tokens": 300}, "the settings changed"),
    ({"model": "another/model"}, "the model changed"),
])
def test_a_report_of_another_run_is_not_used_and_the_note_says_why(paper3, tmp_path, fake_engine, change, why):
    _, plan, _, report = full_run(paper3, tmp_path)
    FakeEngine.reset(per_step=8)
    _, plan, _, report = full_run(paper3, tmp_path, MODEL.with_(**change))
    assert plan.resumed == () and why in plan.resume_note and "starting over" in plan.resume_note
    assert admitted() == list(range(len(plan.chunks)))
    assert not any(r.get("resumed") for r in lines_of(report)[1:-1])


def test_another_pdf_under_the_same_name_starts_over(tmp_path):
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(simple_pdf(["The first version of the notes, long enough to read."]))
    rules = Settings(use_llm=False)
    list(run(pdf, rules, report_path=tmp_path / "r.jsonl", resume=True))
    pdf.write_bytes(simple_pdf(["The second version of the notes, long enough to read."]))
    plan = next(e for e in run(pdf, rules, report_path=tmp_path / "r.jsonl", resume=True) if isinstance(e, ChunkPlan))
    assert plan.resumed == () and "(the PDF changed)" in plan.resume_note


def test_failed_chunks_and_changed_inputs_are_cleaned_again(paper3, tmp_path, fake_engine):
    _, plan, _, report = full_run(paper3, tmp_path)
    records = lines_of(report)
    records[2] = {**records[2], "source": "failed", "error": "the server did not answer"}  # chunk index 1
    records[4] = {**records[4], "input": records[4]["input"] + " (another chunking)"}  # chunk index 3
    report.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    FakeEngine.reset(per_step=8)
    events, plan, _, _ = full_run(paper3, tmp_path)
    assert admitted() == [1, 3]
    assert set(plan.resumed) == set(range(len(plan.chunks))) - {1, 3}
    assert isinstance(events[-1], RunFinished) and not events[-1].stopped


def test_without_resume_or_with_an_old_report_every_chunk_is_cleaned(paper3, tmp_path, fake_engine):
    full_run(paper3, tmp_path)
    FakeEngine.reset(per_step=8)
    _, plan, _, report = full_run(paper3, tmp_path, resume=False)
    assert plan.resumed == () and plan.resume_note is None and len(admitted()) == len(plan.chunks)
    # A report from before headers existed: chunk lines only.
    report.write_text("".join(json.dumps(r) + "\n" for r in lines_of(report)[1:]), encoding="utf-8")
    FakeEngine.reset(per_step=8)
    _, plan, _, _ = full_run(paper3, tmp_path)
    assert plan.resumed == () and "not one this version can resume from" in plan.resume_note
    assert len(admitted()) == len(plan.chunks)


def test_the_cli_resumes_by_default_and_fresh_starts_over(paper3, tmp_path, capsys):
    from pipeline.__main__ import main

    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(paper3)
    assert main([str(pdf), "--no-llm"]) == 0
    report = tmp_path / "paper.report.jsonl"  # written by default, next to the output
    total = len(lines_of(report)) - 2
    assert "resuming" not in capsys.readouterr().err
    assert main([str(pdf), "--no-llm"]) == 0
    assert f"resuming: {total} of {total} chunks already cleaned" in capsys.readouterr().err
    assert all(r["resumed"] for r in lines_of(report)[1:-1])
    assert main([str(pdf), "--no-llm", "--fresh"]) == 0
    assert "resuming" not in capsys.readouterr().err
    assert not any(r.get("resumed") for r in lines_of(report)[1:-1])
    assert main([str(pdf), "--no-llm", "--chunk-size", "700"]) == 0
    assert "note: The earlier run's report does not match this run (the settings changed)" in capsys.readouterr().err


def test_served_model_flags_reach_the_settings_and_the_key_only_comes_from_the_environment(monkeypatch):
    from pipeline.__main__ import build_parser, settings_from_args

    monkeypatch.setenv("PDF_CLEANER_API_BASE", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("PDF_CLEANER_API_KEY", "sk-test")
    settings = settings_from_args(build_parser().parse_args(
        ["in.pdf", "--concurrency", "8", "--request-timeout", "30", "--retries", "1"]))
    assert (settings.api_base, settings.api_key, settings.concurrency, settings.request_timeout, settings.retries) == (
        "http://127.0.0.1:8000/v1", "sk-test", 8, 30.0, 1)
    assert "--api-key" not in build_parser().format_help()
    chosen = settings_from_args(build_parser().parse_args(["in.pdf", "--api-base", "http://10.0.0.2:9000/v1"]))
    assert chosen.api_base == "http://10.0.0.2:9000/v1"


@pytest.mark.slow
def test_the_real_command_killed_halfway_resumes_without_cleaning_finished_chunks_again(tmp_path):
    """The CLI and the bundled model in a subprocess, SIGKILLed once half the chunks are in the report."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(paper(pages=2).pdf)
    report = tmp_path / "paper.report.jsonl"
    # One chunk at a time: in a batch, chunks finish together and a kill cannot land between them.
    command = [sys.executable, "-m", "pipeline", str(pdf), "--max-chars", "3000", "--chunk-size", "500",
               "--max-new-tokens", "64", "--batch-size", "1"]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def chunk_lines() -> list[dict]:
        found = []
        for line in report.read_text(encoding="utf-8").splitlines() if report.is_file() else []:
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
        return [r for r in found if "index" in r]

    try:
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            head = report.read_text(encoding="utf-8").split("\n", 1)[0] if report.is_file() else ""
            total = json.loads(head)["run"]["chunks_total"] if head.startswith('{"run"') else None
            if total and len(chunk_lines()) >= total / 2:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
    before = {r["index"]: r for r in chunk_lines()}
    assert 0 < len(before) < total
    again = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(before)} of {total} chunks already cleaned" in again.stderr
    after = chunk_lines()
    assert [r["index"] for r in after] == list(range(total))
    assert {r["index"] for r in after if r.get("resumed")} == set(before)
    assert all(r["output"] == before[r["index"]]["output"] for r in after if r.get("resumed"))
