"""Folders of PDFs (pipeline.batch): outputs per document, skips, summary, read-ahead, Ctrl-C.

Fast: rules only, or the fake engine of tests/fakes.py where the model stage must take time.
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest

from pipeline import Settings
from pipeline import batch
from pipeline.events import ChunkDone
from tests.fakes import FakeEngine, fake_lm
from tests.pdf_factory import not_pdf_bytes, paper, simple_pdf


@pytest.fixture(scope="module")
def pdfs():
    return [paper(pages=2).pdf, paper(pages=3).pdf]


def folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "in"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def summary_rows(outdir: Path) -> list[dict]:
    with open(outdir / "summary.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_folder_gives_files_per_pdf_skips_a_bad_one_and_says_so(pdfs, tmp_path, capsys):
    from pipeline.__main__ import main

    root = folder_with(tmp_path, {"a/paper.pdf": pdfs[0], "b/paper.pdf": pdfs[1], "b/notes.PDF": not_pdf_bytes("html"),
                                  "b/readme.txt": b"not a pdf by name: not taken"})
    out = tmp_path / "out"
    assert main([str(root), "-o", str(out), "--no-llm"]) == 2  # one skipped
    err = capsys.readouterr().err
    assert f"error: {root / 'b' / 'notes.PDF'}: This file is not a PDF" in err and "(skipped)" in err
    # Sorted, and the two paper.pdf do not overwrite each other.
    assert sorted(p.name for p in out.iterdir()) == [
        "a__paper.clean.txt", "a__paper.removed.txt", "a__paper.report.jsonl",
        "b__paper.clean.txt", "b__paper.removed.txt", "b__paper.report.jsonl", "summary.csv"]
    rows = summary_rows(out)
    assert [(r["file"], r["output"], r["status"][:7]) for r in rows] == [
        (str(root / "a" / "paper.pdf"), "a__paper", "done"), (str(root / "b" / "notes.PDF"), "notes", "skipped"),
        (str(root / "b" / "paper.pdf"), "b__paper", "done")]
    for row, pages in ((rows[0], 2), (rows[2], 3)):
        report = [json.loads(line) for line in (out / f"{row['output']}.report.jsonl").read_text().splitlines()]
        assert int(row["pages"]) == pages and int(row["chunks"]) == len(report) - 2 > 0
        assert row["cleaned by model"] == row["fallback"] == row["failed"] == row["resumed"] == "0"
        assert (out / f"{row['output']}.clean.txt").read_text(encoding="utf-8").strip()
    assert "file" in err and "status" in err and "1 of 3 documents skipped" in err  # the table on stderr

    # Again: every document resumes from its own report; all good now: exit 0.
    (root / "b" / "notes.PDF").unlink()
    assert main([str(root), "-o", str(out), "--no-llm"]) == 0
    rows = summary_rows(out)
    assert [r["resumed"] for r in rows] == [r["chunks"] for r in rows]


def test_several_files_as_inputs_and_options_that_name_one_file_are_refused(pdfs, tmp_path, capsys, monkeypatch):
    from pipeline.__main__ import main

    root = folder_with(tmp_path, {"x/paper.pdf": pdfs[0], "y/paper.pdf": pdfs[0], "solo.pdf": pdfs[1]})
    monkeypatch.chdir(tmp_path)
    assert main([str(root / "x" / "paper.pdf"), str(root / "y" / "paper.pdf"), str(root / "solo.pdf"), "--no-llm"]) == 0
    assert sorted(p.name for p in (tmp_path / "cleaned").glob("*.clean.txt")) == [
        "solo.clean.txt", "x__paper.clean.txt", "y__paper.clean.txt"]  # ./cleaned by default
    capsys.readouterr()
    for extra in (["-o", "-"], ["--report", "r.jsonl"], ["--removed", "r.txt"]):
        assert main([str(root), "--no-llm", *extra]) == 2
        assert capsys.readouterr().err.startswith("error: ")
    assert main([str(root / "nope.pdf"), str(root / "solo.pdf"), "--no-llm"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_output_names_are_distinct_and_stable():
    names = batch.output_names([Path("a/paper.pdf"), Path("b/paper.pdf"), Path("b/notes.pdf"), Path("b/Paper.pdf")])
    assert names == ["a__paper", "b__paper", "notes", "b__Paper-2"]  # file systems that ignore case
    # Even where two relative paths flatten to the same name.
    assert batch.output_names([Path("a__b/c.pdf"), Path("a/b__c.pdf"), Path("a/b/c.pdf")]) == [
        "a__b__c", "b__c", "a__b__c-2"]


@pytest.fixture
def slow_fake_model(monkeypatch):
    from pipeline import engine

    FakeEngine.reset(per_step=4, delay=0.01)
    monkeypatch.setattr(engine, "Engine", FakeEngine)
    return fake_lm()


def test_the_next_document_is_read_while_the_model_cleans_this_one(pdfs, tmp_path, slow_fake_model):
    # The model stage of the first document (several seconds here) outlasts the reading of
    # the next one (one to three), as it does with a real model.
    FakeEngine.reset(per_step=3, delay=0.015)
    root = folder_with(tmp_path, {"one.pdf": pdfs[1], "two.pdf": pdfs[0]})
    found = batch.find_pdfs([root])
    settings = Settings(chunk_size=400, batch_size=2, temperature=0)
    reading_threads = []
    real_run = batch.run

    def watched(*args, **kwargs):  # which thread starts each document's run
        for event in real_run(*args, **kwargs):
            reading_threads.append(threading.current_thread().name)
            yield event

    batch.run, saved = watched, batch.run
    try:
        rows, interrupted = batch.clean_all(found, batch.output_names(found), tmp_path / "out", settings,
                                            model=slow_fake_model)
    finally:
        batch.run = saved
    assert not interrupted and [r.status for r in rows] == ["done"] * 2
    assert all(r.llm + r.fallback == r.chunks > 0 for r in rows)
    for before, after in zip(rows, rows[1:]):
        # The next document's plan was ready before this one's model stage ended...
        assert before.started < after.planned < before.finished
        # ...so its model stage starts at once: no reading left to wait for.
        assert after.started >= before.finished
    assert any(name.startswith("reading ") for name in reading_threads)


def test_ctrl_c_keeps_finished_chunks_and_leaves_later_documents_untouched(pdfs, tmp_path, slow_fake_model,
                                                                          monkeypatch, capsys):
    root = folder_with(tmp_path, {"a.pdf": pdfs[0], "b.pdf": pdfs[1], "c.pdf": pdfs[0]})
    real_run = batch.run

    def interrupted_in_b(pdf, *args, **kwargs):
        done = 0
        for event in real_run(pdf, *args, **kwargs):
            yield event
            done += isinstance(event, ChunkDone)
            if Path(pdf).name == "b.pdf" and done == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(batch, "run", interrupted_in_b)
    out = tmp_path / "out"
    code = batch.run_batch([root], out, Settings(chunk_size=400, batch_size=2, temperature=0), model=slow_fake_model)
    assert code == 130
    assert "interrupted: every finished chunk was kept" in capsys.readouterr().err
    rows = summary_rows(out)
    assert [r["status"] for r in rows] == ["done", "interrupted", "not started"]
    assert sorted(p.name for p in out.iterdir()) == [
        "a.clean.txt", "a.removed.txt", "a.report.jsonl", "b.clean.txt", "b.removed.txt", "b.report.jsonl",
        "summary.csv"]  # c was read ahead, never written
    report = [json.loads(line) for line in (out / "b.report.jsonl").read_text(encoding="utf-8").splitlines()]
    # Chunks 0 and 1 were taken; one the model had finished out of order may be kept too.
    assert [r["index"] for r in report[1:3]] == [0, 1] and len(report) - 2 < int(rows[1]["chunks"])
    assert report[-1]["partial"] is True
    assert "were not cleaned by the model" in (out / "b.clean.txt").read_text(encoding="utf-8")


def test_a_single_pdf_still_means_one_output_file(tmp_path):
    from pipeline.__main__ import main

    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(simple_pdf(["One page of notes, read in one go."]))
    assert main([str(pdf), "--no-llm", "-o", str(tmp_path / "n.txt")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.removed.txt", "n.report.jsonl", "n.txt", "notes.pdf"]


def test_a_notice_of_a_document_is_a_warning_naming_it(tmp_path, capsys):
    from pipeline.events import Notice

    row = batch.Row(file="a.pdf", output="a")
    batch._count(row, Notice("one request at a time from now on."), tmp_path / "a.pdf", tmp_path, Settings(), None)
    assert capsys.readouterr().err == "warning: a.pdf: one request at a time from now on.\n"
