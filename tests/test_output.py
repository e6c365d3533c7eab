"""pipeline.output: a partial result marks every gap, the files hold every finished chunk, and
what the structure stage removed is counted (report) and listed (NAME.removed.txt)."""

from __future__ import annotations

import json

from pipeline.events import Chunk, ChunkDone, Removed, RunFinished
from pipeline.output import (
    GAP_CLOSE,
    ResultWriter,
    gap_runs,
    join_outputs,
    join_result,
    removed_file_text,
    removed_lines,
    removed_record,
    write_removed,
)


def chunks(n: int) -> list[Chunk]:
    return [Chunk(index=i, text=f"Raw {i}.", first_page=i // 2 + 1, last_page=i // 2 + 1,
                  separator="\n\n" if i else "") for i in range(n)]


def done(chunk: Chunk) -> ChunkDone:
    return ChunkDone(index=chunk.index, chunk=chunk, output=f"Clean {chunk.index}.", source="llm")


def test_a_whole_result_has_no_marks():
    plan = chunks(3)
    finished = {c.index: done(c) for c in plan}
    assert join_result(plan, finished) == join_outputs(list(finished.values())) == "Clean 0.\n\nClean 1.\n\nClean 2."
    assert gap_runs(plan, finished) == []


def test_each_gap_is_marked_and_holds_the_rules_text():
    plan = chunks(7)
    finished = {i: done(plan[i]) for i in (0, 1, 4)}  # 2-3 missing, 5-6 missing
    assert gap_runs(plan, finished) == [(2, 3), (5, 6)]
    text = join_result(plan, finished)
    assert text.startswith("Clean 0.\n\nClean 1.\n\n[PDF Cleaner: chunks 3–4 (page 2) were not cleaned by the model: "
                           "the run was stopped. Their text as the rules left it follows.]\nRaw 2.\n\nRaw 3.\n"
                           + GAP_CLOSE)
    assert "Clean 4." in text and "chunks 6–7 (pages 3–4)" in text
    assert text.endswith("Raw 5.\n\nRaw 6.\n" + GAP_CLOSE)
    assert text.count(GAP_CLOSE) == 2
    one = join_result(plan[:2], {1: done(plan[1])}, "the run was interrupted")
    assert one.startswith("[PDF Cleaner: chunk 1 (page 1) was not cleaned by the model: the run was interrupted. Its text")


def test_the_writer_rewrites_the_text_with_gaps_and_reports_late_chunks(tmp_path):
    plan = chunks(4)
    text_path, report_path = tmp_path / "out.txt", tmp_path / "out.jsonl"
    writer = ResultWriter(text_path, report_path)
    writer.add(done(plan[0]))  # in order
    late = [done(plan[2])]  # finished, but chunk 1 never did
    finished = {0: done(plan[0]), 2: late[0]}
    summary = RunFinished(text=join_result(plan, finished), chunks_done=2, chunks_total=4, stopped=True,
                          seconds=1.0, gaps=((1, 1), (3, 3)))
    writer.finish(summary, late)
    assert text_path.read_text(encoding="utf-8") == summary.text + "\n"
    lines = [json.loads(line) for line in report_path.read_text(encoding="utf-8").splitlines()]
    assert [line.get("index") for line in lines[:-1]] == [0, 2]
    assert lines[-1]["partial"] is True and lines[-1]["gaps"] == [[2, 2], [4, 4]]


# --------------------------------------------------------------------------------------------
# what the structure stage removed: counts, characters, the report, NAME.removed.txt

REMOVED = (
    Removed(1, "header", "Journal of Things, Vol. 3"),
    Removed(1, "page number", "1"),
    Removed(2, "header", "Journal of Things, Vol. 3"),
    Removed(3, "footnote", "1 See <b>the appendix</b> for **x** details."),
    Removed(3, "citation", "[12]"),
)


def test_removed_counts_and_characters_per_category():
    assert removed_record(REMOVED) == {
        "pieces": 5,
        "chars": 25 + 1 + 25 + 44 + 4,
        "categories": {
            "header": {"pieces": 2, "chars": 50},
            "page number": {"pieces": 1, "chars": 1},
            "footnote": {"pieces": 1, "chars": 44},
            "citation": {"pieces": 1, "chars": 4},
        },
    }
    assert removed_lines(REMOVED) == [
        "removed: 5 pieces · 99 characters saved for the model stage",
        "  header: 2 · 50 characters",
        "  page number: 1 · 1 character",
        "  footnote: 1 · 44 characters",
        "  citation: 1 · 4 characters",
    ]
    assert removed_lines(()) == ["removed: nothing"]
    assert removed_lines((), layout=False) == ["removed: nothing (layout-aware reading is off)"]
    assert removed_record(()) == {"pieces": 0, "chars": 0, "categories": {}}


def test_the_removed_file_lists_every_piece_with_its_page_and_category(tmp_path):
    path = write_removed(tmp_path / "new" / "paper.removed.txt", REMOVED, "paper.pdf")
    text = path.read_text(encoding="utf-8")
    head, _, pieces = text.partition("\n\n[page 1 · header]\n")
    assert head.startswith("PDF Cleaner: what was taken out of paper.pdf before cleaning")
    assert "removed: 5 pieces · 99 characters saved for the model stage\n  header: 2 · 50 characters" in head
    assert pieces.startswith("Journal of Things, Vol. 3\n\n[page 1 · page number]\n1\n\n[page 2 · header]\n")
    # The text is the PDF's, as extracted: nothing escaped, nothing rendered.
    assert "[page 3 · footnote]\n1 See <b>the appendix</b> for **x** details.\n\n[page 3 · citation]\n[12]\n" in text
    assert text.endswith("[12]\n") and text.count("[page ") == 5


def test_the_removed_file_says_when_nothing_was_removed_and_why():
    assert removed_file_text((), "paper.pdf") == "PDF Cleaner: nothing was taken out of paper.pdf before cleaning.\n"
    off = removed_file_text((), "paper.pdf", layout=False)
    assert off.startswith("PDF Cleaner: nothing was taken out of paper.pdf before cleaning.")
    assert "Layout-aware reading was off" in off


def test_the_reports_summary_counts_what_was_removed(tmp_path):
    plan = chunks(2)
    report_path = tmp_path / "out.jsonl"
    writer = ResultWriter(tmp_path / "out.txt", report_path, removed=REMOVED)
    finished = {c.index: done(c) for c in plan}
    for item in finished.values():
        writer.add(item)
    writer.finish(RunFinished(text=join_result(plan, finished), chunks_done=2, chunks_total=2, stopped=False,
                              seconds=1.0))
    summary = json.loads(report_path.read_text(encoding="utf-8").splitlines()[-1])
    assert summary["summary"] is True and summary["removed"] == removed_record(REMOVED)
    assert summary["removed"]["categories"]["footnote"] == {"pieces": 1, "chars": 44}
    # A writer not told what was removed does not claim that nothing was.
    ResultWriter(None, report_path).finish(RunFinished(text="", chunks_done=0, chunks_total=0, stopped=False,
                                                       seconds=0.0))
    assert "removed" not in json.loads(report_path.read_text(encoding="utf-8"))
    ResultWriter(None, report_path, removed=()).finish(RunFinished(text="", chunks_done=0, chunks_total=0,
                                                                   stopped=False, seconds=0.0))
    assert json.loads(report_path.read_text(encoding="utf-8"))["removed"] == {"pieces": 0, "chars": 0, "categories": {}}
